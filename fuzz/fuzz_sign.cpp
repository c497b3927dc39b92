// fuzz_sign.cpp — libFuzzer target for ribbon::Signer::sign().
//
// The input is an untrusted message, exactly what `ribbon sign` reads from
// an MTA. Its first byte picks the options (bit 0: opaque, bit 1: no header
// protection) so both output forms are explored from the same corpus; the
// rest is the message.
//
// Only the documented outcomes are accepted: success, or a permanent error
// about the message itself. A crash, a sanitizer report, any other error
// code, partial output after a failure, an empty output or an output line
// the signer made longer than RFC 5322 §2.1.1 allows aborts the run.
//
// Every input is also given to the header scanner's route on its own
// (mime::describe_leaf): whenever the scanner describes a message, GMime's
// parser must describe it the same way (fields, raw values, body, transfer
// encoding, type) and find nothing to refuse, or the run aborts. That is
// what makes the scanner's route produce the same bytes as GMime's. A
// multipart the structure scanner describes (mime::describe_multipart) must
// give, through the canonical writer, exactly the signed entity (or the
// same error) that GMime's tree of it gives, and GMime must find nothing to
// refuse in it. In the same way a Date value the signer reads itself (outer::parse_plain_date)
// must mean the same instant to GMime's date parser.
//
// The Digital ID is a throw-away EC P-256 key and self-signed certificate
// made in memory at start-up: no key material is stored in the repository.
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/canonical.hpp"
#include "core/encoders.hpp"
#include "core/mime_parse.hpp"
#include "core/outer_headers.hpp"
#include "ribbon/digital_id.hpp"
#include "ribbon/io.hpp"
#include "ribbon/signer.hpp"

namespace {

constexpr std::size_t kMaxInput = 1024 * 1024;
// RFC 5322 §2.1.1: lines MUST be no more than 998 characters, excluding CRLF.
constexpr std::size_t kMaxLine = 998;

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_sign: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// One owner per OpenSSL handle, as in the core (core/openssl_util.hpp).
struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};

void add_extension(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr || X509_add_ext(cert, ext, -1) != 1) die("cannot add extension", value);
    X509_EXTENSION_free(ext);
}

std::string bio_string(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// A Digital ID the signer accepts: P-256, SAN email no-reply@bank.example,
// keyUsage digitalSignature, extendedKeyUsage emailProtection. Validity
// 2020..2099 so that the fixed signing clock below is always inside it.
ribbon::DigitalId make_digital_id() {
    std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
    if (!key) die("cannot generate an EC key");
    std::unique_ptr<X509, X509Free> cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    ASN1_TIME_set_string(X509_getm_notBefore(cert.get()), "20200101000000Z");
    ASN1_TIME_set_string(X509_getm_notAfter(cert.get()), "20991231235959Z");
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("ribbon fuzz signer"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), NID_ext_key_usage, "emailProtection");
    add_extension(cert.get(), NID_subject_alt_name, "email:no-reply@bank.example");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) die("cannot self-sign");

    std::unique_ptr<BIO, BioFree> key_bio(BIO_new(BIO_s_mem()));
    std::unique_ptr<BIO, BioFree> cert_bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
        die("cannot PEM-encode the Digital ID");
    }
    auto id = ribbon::DigitalId::from_pem(bio_string(key_bio.get()), bio_string(cert_bio.get()));
    if (!id) die("DigitalId::from_pem refused the throw-away ID", id.error().message());
    return std::move(*id);
}

// Fixed so that a reproducer behaves the same on any day.
ribbon::TimePoint signing_clock() {
    return std::chrono::system_clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z
}

std::optional<ribbon::Signer> g_signer;

bool documented_refusal(ribbon::Errc code) {
    switch (code) {
        case ribbon::Errc::empty_message:
        case ribbon::Errc::malformed_message:
        case ribbon::Errc::limit_exceeded:
        case ribbon::Errc::no_from:
        case ribbon::Errc::already_signed:
        case ribbon::Errc::from_not_in_certificate:
            return true;
        default:
            return false;
    }
}

// The longest line of `s`, or of its header section only (up to the first
// empty line) when `header_only`.
std::size_t longest_line(std::string_view s, bool header_only = false) {
    std::size_t longest = 0;
    while (!s.empty()) {
        std::size_t lf = s.find('\n');
        std::string_view line = s.substr(0, lf);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (header_only && line.empty()) break;
        longest = std::max(longest, line.size());
        if (lf == std::string_view::npos) break;
        s.remove_prefix(lf + 1);
    }
    return longest;
}

std::string read_all(GMimeStream* stream) {
    return stream != nullptr ? ribbon::mime::read_stream(stream) : "";
}

bool same_fields(const ribbon::mime::HeaderFields& a, const ribbon::mime::HeaderFields& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].raw_value != b[i].raw_value) return false;
    }
    return true;
}

void check_scanner_agrees(std::string_view message) {
    namespace mime = ribbon::mime;
    std::optional<mime::LeafPart> leaf = mime::describe_leaf(message, mime::Limits{});
    if (!leaf) return;
    auto parsed = mime::parse_message(ribbon::MessageInput::from_memory(message), mime::ParseAs::entity);
    if (!parsed) die("the scanner described a message GMime cannot parse", parsed.error().message());
    if (auto r = parsed->check_structure(); !r) {
        die("the scanner described a message GMime refuses", r.error().message());
    }
    GMimeObject* top = parsed->top();
    if (!GMIME_IS_PART(top)) die("the scanner described a leaf GMime parses as", G_OBJECT_TYPE_NAME(top));
    GMimeContentType* type = g_mime_object_get_content_type(top);
    if (g_mime_content_type_is_type(type, "multipart", "*") ||
        g_mime_content_type_is_type(type, "application", "pkcs7-mime") ||
        g_mime_content_type_is_type(type, "application", "x-pkcs7-mime")) {
        die("the scanner described a part GMime types as", g_mime_content_type_get_mime_type(type));
    }
    mime::LeafPart gm = mime::leaf_of(GMIME_PART(top));
    if (!same_fields(leaf->fields, gm.fields)) die("the scanner and GMime see different header fields");
    if (leaf->bytes != read_all(gm.stream)) die("the scanner and GMime see different content");
    if (leaf->encoding != gm.encoding || leaf->declared_type != gm.declared_type ||
        leaf->is_text != gm.is_text) {
        die("the scanner and GMime see a different transfer encoding or type");
    }
}

// The signed entity written from `top`, or the error's text.
std::string entity_of(const ribbon::mime::TopLevel& top, bool header_protection) {
    ribbon::canon::Options options;
    options.header_protection = header_protection;
    options.protected_headers = header_protection ? "Subject: copied\r\n" : "";
    ribbon::StringSink sink;
    ribbon::enc::HashingWriter writer(nullptr, sink);
    if (auto r = ribbon::canon::write_signed_entity(top, options, writer); !r) {
        return "error " + std::string(ribbon::errc_name(r.error().code())) + ": " + r.error().message();
    }
    if (auto r = writer.finish(); !r) return "error: " + r.error().message();
    return sink.take();
}

void check_structure_scanner_agrees(std::string_view message, bool header_protection) {
    namespace mime = ribbon::mime;
    const auto in = ribbon::MessageInput::from_memory(message);
    auto fast = mime::load_top_level(in, mime::Limits{});
    if (!fast || fast->multipart() == nullptr) return;
    auto gmime = mime::load_top_level(in, mime::Limits{}, false);
    if (!gmime) die("the structure scanner described a message GMime cannot parse", gmime.error().message());
    if (auto r = gmime->check_structure(); !r) {
        die("the structure scanner described a message GMime refuses", r.error().message());
    }
    if (!same_fields(fast->fields(), gmime->fields())) die("the structure scanner and GMime see different fields");
    if (entity_of(*fast, header_protection) != entity_of(*gmime, header_protection)) {
        die("the structure scanner and GMime give different signed entities");
    }
}

// The Date rule reads plain dates itself (outer::parse_plain_date) and
// leaves the rest to GMime: whatever it reads, GMime must read the same.
void check_date_agrees(std::string_view message) {
    namespace mime = ribbon::mime;
    mime::HeaderScan scan = mime::scan_header_section(message);
    for (const mime::HeaderField& f : scan.fields) {
        if (f.name.size() != 4 || g_ascii_strncasecmp(f.name.data(), "Date", 4) != 0) continue;
        const std::string value = ribbon::enc::unfold(f.raw_value);
        std::optional<std::int64_t> plain = ribbon::outer::parse_plain_date(value);
        if (!plain) return;
        GDateTime* date = g_mime_utils_header_decode_date(value.c_str());
        if (date == nullptr) die("a plain date GMime cannot read", value);
        std::int64_t gmime = g_date_time_to_unix(date);
        g_date_time_unref(date);
        if (gmime != *plain) die("a plain date GMime reads differently", value);
        return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    auto signer = ribbon::Signer::create(make_digital_id());
    if (!signer) die("Signer::create failed", signer.error().message());
    g_signer.emplace(std::move(*signer));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > kMaxInput) return -1;  // -1: keep out of the corpus
    const std::string_view message(reinterpret_cast<const char*>(data) + 1, size - 1);
    check_scanner_agrees(message);
    check_structure_scanner_agrees(message, (data[0] & 2) == 0);
    check_date_agrees(message);

    ribbon::SignOptions options;
    options.mode = (data[0] & 1) != 0 ? ribbon::SignMode::opaque : ribbon::SignMode::detached;
    options.header_protection = (data[0] & 2) == 0;
    options.now = signing_clock();

    ribbon::StringSink sink;
    auto report = g_signer->sign(ribbon::MessageInput::from_memory(message), sink, options);
    if (!report) {
        const ribbon::Error& e = report.error();
        if (!documented_refusal(e.code()) || e.kind() != ribbon::ErrorKind::permanent) {
            die("undocumented error", std::string(ribbon::errc_name(e.code())) + ": " + e.message());
        }
        if (!sink.str().empty()) die("a refused message left partial output in the sink");
        return 0;
    }
    const std::string& out = sink.str();
    if (out.empty()) die("signing succeeded with empty output");
    if (report->bytes_out != out.size()) die("SignReport::bytes_out differs from the output size");
    // The outer header fields are passed through as the input had them, so
    // an over-long header line there is the input's fault; every line the
    // signer made (the signed part, the signature) must stay within limit.
    if (longest_line(message, true) <= kMaxLine && longest_line(out) > kMaxLine) {
        die("an output line exceeds 998 octets", std::to_string(longest_line(out)));
    }
    return 0;
}
