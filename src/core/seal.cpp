// seal.cpp — Sealer: the message's header section split into what stays
// outside and the Content-* fields that go in, the CMS EnvelopedData or
// AuthEnvelopedData made by OpenSSL as a stream, the S/MIME message around
// it (RFC 8551 §3.3, §3.4). Nothing reaches the caller's Sink unless the
// whole message was sealed, except into sinks that discard uncommitted
// output (ribbon/io.hpp), which receive it as it is made.
#include "ribbon/seal.hpp"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/ascii.hpp"
#include "core/counting_sink.hpp"
#include "core/header_scan.hpp"
#include "core/seal_impl.hpp"
#include "core/seal_stream.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon {

class Sealer::Impl {
public:
    std::vector<SealRecipient> recipients;  // copy_to last
    SealAlgorithms algorithms;
};

namespace {

// A descriptor this file opened, closed when done.
class OwnedFd {
public:
    explicit OwnedFd(int fd = -1) : m_fd(fd) {}
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    ~OwnedFd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    void reset(int fd) noexcept {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = fd;
    }

private:
    int m_fd;
};

// The message as the sealer reads it: the header section, the body bytes
// read with it, and the descriptor the rest comes from (or none).
struct Opened {
    std::string head_storage;
    std::string_view head;
    std::string_view body_start;
    int fd = -1;
};

Error no_header_section() {
    return permanent_error(Errc::malformed_message, "the message to seal has no complete header section");
}

// The header section from `fd`, after the bytes the caller read already
// (MessageInput::bytes()): read until the scan finds its end, at most
// kMaxHeaderSection bytes.
Result<void> read_head(int fd, std::string_view already_read, Opened& o) {
    o.head_storage.assign(already_read);
    for (;;) {
        mime::HeaderScan scan = mime::scan_header_section(o.head_storage);
        if (scan.outcome == mime::HeaderScan::Outcome::complete) {
            o.head = std::string_view(o.head_storage).substr(0, scan.offset);
            o.body_start = std::string_view(o.head_storage).substr(scan.offset);
            o.fd = fd;
            return {};
        }
        if (scan.outcome != mime::HeaderScan::Outcome::unterminated) return no_header_section();
        if (o.head_storage.size() >= kMaxHeaderSection) {
            return permanent_error(Errc::limit_exceeded, "the header section of the message to seal is longer than " +
                                                             std::to_string(kMaxHeaderSection) + " bytes");
        }
        char buffer[64 * 1024];
        ssize_t n;
        do {
            n = ::read(fd, buffer, sizeof buffer);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return transient_error(Errc::io_error, std::string("cannot read the message: ") + std::strerror(errno));
        if (n == 0) return no_header_section();
        o.head_storage.append(buffer, static_cast<std::size_t>(n));
    }
}

Result<Opened> open_message(const MessageInput& in, OwnedFd& owner) {
    Opened o;
    if (in.source() == MessageInput::Source::memory) {
        if (in.bytes().size() > in.max_size()) return message_too_large(in.max_size());
        mime::HeaderScan scan = mime::scan_header_section(in.bytes());
        if (scan.outcome != mime::HeaderScan::Outcome::complete) return no_header_section();
        o.head = in.bytes().substr(0, scan.offset);
        o.body_start = in.bytes().substr(scan.offset);
        return o;
    }
    int fd = in.fd();
    if (in.source() == MessageInput::Source::file) {
        auto file = open_message_file(in.path());
        if (!file) return std::move(file).error();
        owner.reset(file->fd);
        if (file->regular && file->size > in.max_size()) return message_too_large(in.max_size());
        fd = file->fd;
    }
    if (auto r = read_head(fd, in.bytes(), o); !r) return std::move(r).error();
    return o;
}

// The raw field as the message had it ("Name:" and the raw value), line
// ends made CRLF.
void append_field(std::string& out, const mime::HeaderField& f) {
    out.append(f.name);
    out.push_back(':');
    char prev = 0;
    for (char c : f.raw_value) {
        if (c == '\n' && prev != '\r') out.push_back('\r');
        out.push_back(c);
        prev = c;
    }
}

bool is_content_field(std::string_view name) { return name.size() > 8 && ascii_istarts_with(name, "Content-"); }

struct Split {
    std::string outer;  // the header section of the sealed message
    std::string inner;  // the enveloped entity's header section, with its empty line
};

// RFC 8551 §3.3: the Content-* fields describe the entity that is sealed;
// every other field (From, To, Subject, Date, Message-ID, trace fields...)
// stays outside, as written. MIME-Version is the sealed message's own.
Result<Split> split_header(std::string_view head, SealContentCipher cipher) {
    mime::HeaderScan scan = mime::scan_header_section(head);
    if (scan.outcome != mime::HeaderScan::Outcome::complete) {
        return permanent_error(Errc::malformed_message, "the message to seal has a malformed header section");
    }
    Split s;
    s.outer.reserve(head.size() + 256);
    for (const mime::HeaderField& f : scan.fields) {
        if (ascii_iequals(f.name, "MIME-Version")) continue;
        append_field(is_content_field(f.name) ? s.inner : s.outer, f);
    }
    s.inner += "\r\n";
    s.outer += "MIME-Version: 1.0\r\n";
    // RFC 8551 §3.3 (enveloped-data), §3.4 / RFC 5083 §3 (authEnveloped-data).
    s.outer += cipher == SealContentCipher::aes256_gcm
                   ? "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data;\r\n name=\"smime.p7m\"\r\n"
                   : "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n name=\"smime.p7m\"\r\n";
    s.outer += "Content-Transfer-Encoding: base64\r\n"
               "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n";
    return s;
}

Result<void> set_key_transport(CMS_RecipientInfo* ri, SealKeyTransport how) {
    EVP_PKEY_CTX* pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
    if (pctx == nullptr) return ossl::crypto_error("cannot set the key transport parameters");
    switch (how) {
        case SealKeyTransport::rsa_pkcs1_v15:
            return {};  // OpenSSL's default for key transport
        case SealKeyTransport::rsa_oaep_sha1:
        case SealKeyTransport::rsa_oaep_sha256: {
            // RFC 3560 §2.1: the hash and the MGF1 hash are the same.
            const EVP_MD* md = how == SealKeyTransport::rsa_oaep_sha256 ? EVP_sha256() : EVP_sha1();
            if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
                EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0) {
                return ossl::crypto_error("cannot set RSA-OAEP");
            }
            return {};
        }
        case SealKeyTransport::ecdh_sha256_aes256: {
            // RFC 5753 §7.2: dhSinglePass-stdDH-sha256kdf-scheme, the KEK
            // wrapped with id-aes256-wrap (§7.1.4 / RFC 3565).
            EVP_CIPHER_CTX* wrap = CMS_RecipientInfo_kari_get0_ctx(ri);
            if (EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0 || wrap == nullptr ||
                EVP_EncryptInit_ex(wrap, EVP_aes_256_wrap(), nullptr, nullptr, nullptr) <= 0) {
                return ossl::crypto_error("cannot set the ECDH key agreement parameters");
            }
            return {};
        }
    }
    return internal_error("unknown key transport");
}

// The CMS structure before its content: the content cipher and one
// RecipientInfo per recipient (RFC 5652 §6.2), content streamed later.
Result<ossl::CmsPtr> make_cms(const Sealer::Impl& impl) {
    const EVP_CIPHER* cipher =
        impl.algorithms.content == SealContentCipher::aes256_gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
    // OpenSSL 3 makes AuthEnvelopedData for an AEAD cipher (CMS_encrypt(3)).
    ossl::CmsPtr cms(CMS_encrypt(nullptr, nullptr, cipher, CMS_BINARY | CMS_PARTIAL | CMS_STREAM));
    if (!cms) return ossl::crypto_error("cannot start the enveloped data");
    for (std::size_t i = 0; i < impl.recipients.size(); ++i) {
        X509* cert = impl.recipients[i].impl().cert.get();
        CMS_RecipientInfo* ri = CMS_add1_recipient_cert(cms.get(), cert, CMS_KEY_PARAM);
        if (ri == nullptr) {
            return ossl::crypto_error("cannot add the recipient " +
                                      terminal_safe(impl.recipients[i].certificate().subject));
        }
        if (auto r = set_key_transport(ri, impl.algorithms.key_transport[i]); !r) return std::move(r).error();
    }
    return cms;
}

// Writes the sealed message to `out`: the outer header, then the CMS
// object streamed through base64.
Result<std::uint64_t> write_sealed(const Sealer::Impl& impl, const Opened& msg, std::string inner_head,
                                   const std::string& outer_head, std::uint64_t max_size, Sink& out) {
    auto cms = make_cms(impl);
    if (!cms) return std::move(cms).error();
    seal::ContentSource source(std::move(inner_head), msg.body_start, msg.fd, max_size);
    seal::Base64Target target(out);
    ossl::BioPtr in = seal::source_bio(source);
    ossl::BioPtr to = seal::target_bio(target);
    if (!in || !to) return ossl::crypto_error("cannot set up the sealing stream");
    if (auto r = out.write(outer_head); !r) return std::move(r).error();
    ERR_clear_error();
    const int ok = i2d_CMS_bio_stream(to.get(), cms->get(), in.get(), CMS_BINARY | CMS_STREAM);
    // A read or write failure ends OpenSSL's stream early: the output is
    // then incomplete whatever OpenSSL says, and is never used. OpenSSL 3.0
    // does not report every failure while finishing the stream (the GCM
    // tag, the closing octets) in its return value, only in its error
    // queue: an error there is a failed seal too.
    if (source.error()) return *source.error();
    if (target.error()) return *target.error();
    if (ok != 1 || ERR_peek_error() != 0) return ossl::crypto_error("sealing failed");
    if (auto r = target.finish(); !r) return std::move(r).error();
    return source.bytes();
}

}  // namespace

Result<Sealer> Sealer::create(std::vector<SealRecipient> recipients, std::optional<SealRecipient> copy_to) {
    if (copy_to) recipients.push_back(std::move(*copy_to));
    if (recipients.empty()) {
        return permanent_error(Errc::seal_no_recipients, "no recipient certificate to seal the message to");
    }
    auto impl = std::make_shared<Impl>();
    std::vector<SealProfile> profiles;
    profiles.reserve(recipients.size());
    for (const SealRecipient& r : recipients) profiles.push_back(r.profile());
    impl->algorithms = choose_seal_algorithms(profiles);
    impl->recipients = std::move(recipients);
    return Sealer(std::move(impl));
}

const SealAlgorithms& Sealer::algorithms() const noexcept { return m_impl->algorithms; }
const std::vector<SealRecipient>& Sealer::recipients() const noexcept { return m_impl->recipients; }

Result<SealReport> Sealer::seal(const MessageInput& in, Sink& sink, const SealOptions& options) const {
    const Impl& impl = *m_impl;
    const TimePoint now = options.now.value_or(std::chrono::system_clock::now());
    for (const SealRecipient& r : impl.recipients) {
        if (auto v = r.check_valid(now); !v) return std::move(v).error();
    }
    OwnedFd owner;
    auto msg = open_message(in, owner);
    if (!msg) return std::move(msg).error();
    auto split = split_header(msg->head, impl.algorithms.content);
    if (!split) return std::move(split).error();

    CountingSink out(sink);
    SealReport report;
    report.algorithms = impl.algorithms;
    if (out.discards_uncommitted()) {
        auto n = write_sealed(impl, *msg, std::move(split->inner), split->outer, in.max_size(), out);
        if (!n) return std::move(n).error();
        report.bytes_in = *n;
    } else {
        // Base64 of the entity plus the RecipientInfos: 4/3 and some.
        Spool spool(Spool::kDefaultMemoryLimit, {}, in.max_size() / 3 * 4 + 2 * in.max_size() / 76 + 1024 * 1024);
        auto n = write_sealed(impl, *msg, std::move(split->inner), split->outer, in.max_size(), spool);
        if (!n) return std::move(n).error();
        report.bytes_in = *n;
        if (auto r = spool.replay(out); !r) return std::move(r).error();
    }
    report.bytes_out = out.count();
    return report;
}

Result<SignSealReport> sign_and_seal(const Signer& signer, const Sealer& sealer, const MessageInput& in, Sink& out,
                                     SignOptions sign_options, const SealOptions& seal_options) {
    sign_options.will_be_sealed = true;
    // One clock for both steps: a test's (or the caller's) moved clock.
    SealOptions seal_at = seal_options;
    if (!seal_at.now) seal_at.now = sign_options.now.value_or(std::chrono::system_clock::now());
    // The recipients first: a certificate that expired since it was
    // loaded costs no signature.
    for (const auto& r : sealer.recipients()) {
        if (auto v = r.check_valid(*seal_at.now); !v) return std::move(v).error();
    }
    Spool signed_message(Spool::kDefaultMemoryLimit, {}, max_signed_size(in.max_size()));
    auto signed_report = signer.sign(in, signed_message, sign_options);
    if (!signed_report) return std::move(signed_report).error();
    auto sealed = sealer.seal(signed_message.input(), out, seal_at);
    if (!sealed) return std::move(sealed).error();
    return SignSealReport{*signed_report, *sealed};
}

}  // namespace ribbon
