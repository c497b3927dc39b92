// The shape of what `ribbon sign` writes (docs/SIGNED-FORMAT.md): MIME structure, damage-proof signed part, header
// protection, CMS contents, and the Date/signingTime rule.
#include "support/cms_inspect.hpp"
#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/sign.hpp"
#include "support/verifiers.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include <algorithm>
#include <cctype>

namespace ribbon::test {
namespace {

const std::vector<std::string> kProtected = {"From", "To", "Cc", "Reply-To", "Subject", "Date",
                                             "Message-ID"};

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Unfolded value with runs of white space collapsed.
std::string norm(const std::string& v) {
    std::string o;
    for (char c : v) {
        if (c == ' ' || c == '\t') {
            if (!o.empty() && o.back() != ' ') o += ' ';
        } else {
            o += c;
        }
    }
    while (!o.empty() && o.back() == ' ') o.pop_back();
    return o;
}

bool is_content_header(const std::string& name) {
    return lower(name).rfind("content-", 0) == 0;
}

struct Signed {
    std::string raw;
    mime::Entity top;
    mime::ContentType ct;
    std::optional<mime::Multipart> mp;
    mime::Entity part;  // signed part
    mime::Entity sig;   // signature part
};

void parse_signed(const std::string& raw, Signed& s) {
    s.raw = raw;
    s.top = mime::parse_entity(raw);
    s.ct = mime::content_type_of(s.top);
    ASSERT_EQ(s.ct.type, "multipart/signed");
    s.mp = mime::split_multipart(s.top.body, s.ct.param("boundary"));
    ASSERT_TRUE(s.mp.has_value()) << "boundary '" << s.ct.param("boundary") << "' not found";
    ASSERT_TRUE(s.mp->closed) << "no close delimiter";
    ASSERT_EQ(s.mp->parts.size(), 2u);
    s.part = mime::parse_entity(s.mp->parts[0]);
    s.sig = mime::parse_entity(s.mp->parts[1]);
}

void expect_whole_crlf(const std::string& out) {
    size_t bare_lf = 0, bare_cr = 0;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) ++bare_lf;
        if (out[i] == '\r' && (i + 1 == out.size() || out[i + 1] != '\n')) ++bare_cr;
    }
    EXPECT_EQ(bare_lf, 0u) << "bare LF in output";
    EXPECT_EQ(bare_cr, 0u) << "bare CR in output";
    EXPECT_TRUE(out.ends_with("\r\n"));
}

// RFC 8551 §3.1 damage-proof text.
void expect_damage_proof(const std::string& part) {
    const auto lines = mime::lines_of(part);
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string& l = lines[i];
        EXPECT_LE(l.size(), 76u) << "signed line " << i + 1 << " too long: " << l.substr(0, 90);
        EXPECT_TRUE(std::all_of(l.begin(), l.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u < 0x80 && (u >= 0x20 || u == '\t');
        })) << "signed line " << i + 1 << " not 7-bit printable: " << l.substr(0, 90);
        EXPECT_FALSE(!l.empty() && (l.back() == ' ' || l.back() == '\t'))
            << "trailing white space on signed line " << i + 1 << ": '" << l << "'";
        EXPECT_NE(l.rfind("From ", 0), 0u) << "signed line " << i + 1 << " starts with From";
    }
}

class SignedFormat : public ::testing::TestWithParam<std::string> {};

TEST_P(SignedFormat, DetachedWithHeaderProtection) {
    const std::string input = message(GetParam()).data;
    const mime::Entity in = mime::parse_entity(input);
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(input, {}, out));
    expect_whole_crlf(out);
    Signed s;
    ASSERT_NO_FATAL_FAILURE(parse_signed(out, s));

    // Top level.
    EXPECT_EQ(s.ct.param("protocol"), "application/pkcs7-signature");
    EXPECT_EQ(lower(s.ct.param("micalg")), "sha-256");
    EXPECT_FALSE(s.ct.param("boundary").empty());
    EXPECT_EQ(s.top.count("Content-Type"), 1u);
    EXPECT_EQ(s.top.count("MIME-Version"), 1u);
    EXPECT_EQ(s.top.count("Content-Transfer-Encoding"), 0u);

    // Every non-Content header of the input stays outside, unchanged.
    for (const auto& f : in.fields) {
        if (is_content_header(f.name) || lower(f.name) == "mime-version") continue;
        const auto v = s.top.get(f.name);
        ASSERT_TRUE(v.has_value()) << f.name << " missing from the outer header";
        EXPECT_EQ(norm(*v), norm(f.value())) << f.name;
        EXPECT_EQ(s.top.count(f.name), in.count(f.name)) << f.name;
    }
    // The signed part: Content-* plus copies of the protected headers.
    for (const auto& f : s.part.fields) {
        const bool allowed =
            is_content_header(f.name) ||
            std::any_of(kProtected.begin(), kProtected.end(),
                        [&](const std::string& h) { return lower(h) == lower(f.name); });
        EXPECT_TRUE(allowed) << "header " << f.name << " inside the signed part";
    }
    for (const auto& h : kProtected) {
        const auto outer = s.top.get(h);
        const auto inner = s.part.get(h);
        EXPECT_EQ(outer.has_value(), inner.has_value()) << h << ": copy iff present outside";
        if (outer && inner) {
            EXPECT_EQ(norm(*inner), norm(*outer)) << h;
        }
        EXPECT_LE(s.part.count(h), 1u) << h;
    }
    const auto part_ct = mime::content_type_of(s.part);
    EXPECT_EQ(part_ct.param("hp"), "clear");
    EXPECT_EQ(part_ct.type, mime::content_type_of(in).type);
    expect_damage_proof(s.mp->parts[0]);

    // Signature part.
    const auto sig_ct = mime::content_type_of(s.sig);
    EXPECT_EQ(sig_ct.type, "application/pkcs7-signature");
    EXPECT_EQ(sig_ct.param("name"), "smime.p7s");
    EXPECT_EQ(mime::transfer_encoding_of(s.sig), "base64");
    const CmsInfo cms = inspect_cms(mime::base64_decode(s.sig.body));
    EXPECT_TRUE(cms.error.empty()) << cms.error;
    EXPECT_TRUE(cms.detached);
}

INSTANTIATE_TEST_SUITE_P(Messages, SignedFormat, ::testing::ValuesIn(all_message_names()),
                         [](const auto& info) { return info.param; });

TEST(SignedFormatOptions, NoHeaderProtection) {
    const std::string input = message("alternative_lf").data;
    SignOptions so;
    so.header_protection = false;
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(input, so, out));
    Signed s;
    ASSERT_NO_FATAL_FAILURE(parse_signed(out, s));
    for (const auto& f : s.part.fields) EXPECT_TRUE(is_content_header(f.name)) << f.name;
    EXPECT_EQ(mime::content_type_of(s.part).param("hp"), "");
    EXPECT_EQ(mime::content_type_of(s.part).params.count("hp"), 0u);
    for (const auto& h : kProtected) EXPECT_TRUE(s.top.get(h).has_value()) << h;
    expect_damage_proof(s.mp->parts[0]);
    EXPECT_TRUE(verify_openssl(out).ok);
}

TEST(SignedFormatOptions, Opaque) {
    const std::string input = message("utf8_8bit_lf").data;
    const mime::Entity in = mime::parse_entity(input);
    SignOptions so;
    so.opaque = true;
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(input, so, out));
    expect_whole_crlf(out);
    const mime::Entity top = mime::parse_entity(out);
    const auto ct = mime::content_type_of(top);
    EXPECT_EQ(ct.type, "application/pkcs7-mime");
    EXPECT_EQ(ct.param("smime-type"), "signed-data");
    EXPECT_EQ(ct.param("name"), "smime.p7m");
    EXPECT_EQ(mime::transfer_encoding_of(top), "base64");
    for (const auto& l : mime::lines_of(top.body)) EXPECT_LE(l.size(), 76u);
    for (const auto& f : in.fields) {
        if (is_content_header(f.name) || lower(f.name) == "mime-version") continue;
        const auto v = top.get(f.name);
        ASSERT_TRUE(v.has_value()) << f.name << " missing from the outer header";
        EXPECT_EQ(norm(*v), norm(f.value())) << f.name;
    }
    const CmsInfo cms = inspect_cms(mime::base64_decode(top.body));
    ASSERT_TRUE(cms.error.empty()) << cms.error;
    EXPECT_FALSE(cms.detached);
    const mime::Entity inner = mime::parse_entity(cms.econtent);
    EXPECT_EQ(mime::content_type_of(inner).param("hp"), "clear");
    EXPECT_EQ(norm(inner.get("Subject").value_or("")), norm(in.get("Subject").value_or("-")));
    expect_damage_proof(cms.econtent);
}

void expect_cms_profile(KeyKind key) {
    SignOptions so;
    so.key = key;
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message("plain_ascii_lf").data, so, out));
    const SmimeParts parts = split_smime(out);
    ASSERT_TRUE(parts.error.empty()) << parts.error;
    const CmsInfo cms = inspect_cms(parts.der);
    ASSERT_TRUE(cms.error.empty()) << cms.error;
    EXPECT_EQ(cms.signer_count, 1);
    EXPECT_EQ(cms.digest_nid, NID_sha256) << OBJ_nid2sn(cms.digest_nid);
    EXPECT_EQ(cms.signer_key_type, key == KeyKind::Ecdsa ? EVP_PKEY_EC : EVP_PKEY_RSA);
    if (key == KeyKind::Ecdsa) {
        EXPECT_EQ(cms.signature_nid, NID_ecdsa_with_SHA256) << OBJ_nid2sn(cms.signature_nid);
    } else {
        EXPECT_TRUE(cms.signature_nid == NID_rsaEncryption ||
                    cms.signature_nid == NID_sha256WithRSAEncryption)
            << OBJ_nid2sn(cms.signature_nid);
    }
    const std::set<int> want = {NID_pkcs9_contentType, NID_pkcs9_messageDigest,
                                NID_pkcs9_signingTime, NID_SMIMECapabilities};
    for (int n : want) EXPECT_EQ(cms.signed_attrs.count(n), 1u) << "missing " << OBJ_nid2ln(n);
    for (int n : {NID_aes_256_gcm, NID_aes_128_gcm, NID_aes_256_cbc, NID_aes_128_cbc})
        EXPECT_NE(std::find(cms.capabilities.begin(), cms.capabilities.end(), n),
                  cms.capabilities.end()) << "sMIMECapabilities lacks " << OBJ_nid2sn(n);
    // Signer and intermediate embedded, root not.
    const Pki& p = pki();
    const std::string leaf = cert_der(key == KeyKind::Ecdsa ? p.ecdsa.cert : p.rsa.cert);
    const auto has = [&](const std::string& der) {
        return std::find(cms.certificates_der.begin(), cms.certificates_der.end(), der) !=
               cms.certificates_der.end();
    };
    EXPECT_TRUE(has(leaf)) << "signer certificate not embedded";
    EXPECT_TRUE(has(cert_der(p.intermediate_cert))) << "intermediate not embedded";
    EXPECT_FALSE(has(cert_der(p.root_cert))) << "root embedded";
    EXPECT_EQ(cms.certificates_der.size(), 2u);
    const std::time_t now = std::time(nullptr);
    EXPECT_LE(std::llabs(static_cast<long long>(cms.signing_time - now)), 300LL);
}

TEST(SignedFormatCms, RsaProfile) { expect_cms_profile(KeyKind::Rsa); }
TEST(SignedFormatCms, EcdsaProfile) { expect_cms_profile(KeyKind::Ecdsa); }

// ---------------------------------------------------------------------------
// Date rules (Thunderbird compares Date with signingTime; docs/FIELD-NOTES.md).

std::time_t signing_time_of(const std::string& out) {
    const SmimeParts parts = split_smime(out);
    return inspect_cms(parts.der).signing_time;
}

TEST(SignedFormatDate, MissingDateIsAdded) {
    const std::string input = remove_header(message("plain_ascii_crlf").data, "Date");
    ASSERT_EQ(mime::parse_entity(input).count("Date"), 0u);
    const std::time_t before = std::time(nullptr);
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(input, {}, out));
    const std::time_t after = std::time(nullptr);
    Signed s;
    ASSERT_NO_FATAL_FAILURE(parse_signed(out, s));
    ASSERT_EQ(s.top.count("Date"), 1u);
    const std::time_t date = parse_rfc5322_date(*s.top.get("Date"));
    ASSERT_NE(date, -1) << "unparsable Date: " << *s.top.get("Date");
    EXPECT_GE(date, before - 1);
    EXPECT_LE(date, after + 1);
    const std::time_t st = signing_time_of(out);
    EXPECT_LE(std::llabs(static_cast<long long>(st - date)), 60LL)
        << "signingTime " << st << " vs Date " << date;
    // With header protection the added Date is copied too.
    ASSERT_TRUE(s.part.get("Date").has_value());
    EXPECT_EQ(norm(*s.part.get("Date")), norm(*s.top.get("Date")));
    EXPECT_TRUE(verify_openssl(out).ok);
}

TEST(SignedFormatDate, HoursOldDateBecomesSigningTime) {
    const std::time_t five_hours_ago = std::time(nullptr) - 5 * 3600;
    static_assert(Pki::kLeafBackdateSeconds > 5 * 3600);
    const std::string date = rfc5322_date(five_hours_ago);
    const std::string input = set_header(message("plain_ascii_crlf").data, "Date", date);
    for (KeyKind key : {KeyKind::Rsa, KeyKind::Ecdsa}) {
        SignOptions so;
        so.key = key;
        std::string out;
        ASSERT_NO_FATAL_FAILURE(sign_ok(input, so, out));
        const mime::Entity top = mime::parse_entity(out);
        ASSERT_TRUE(top.get("Date").has_value());
        EXPECT_EQ(norm(*top.get("Date")), date) << "Date changed";
        EXPECT_EQ(signing_time_of(out), five_hours_ago) << "signingTime != Date (" << date << ")";
        const VerifyResult g = verify_gpgsm(out);
        EXPECT_TRUE(g.ok) << g.details;
    }
}

TEST(SignedFormatDate, DateWithZoneOffsetIsHonoured) {
    const std::time_t t = std::time(nullptr) - 3 * 3600;
    std::tm tm{};
    const std::time_t shifted = t + 2 * 3600;  // +0200 local time
    ::gmtime_r(&shifted, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0200", &tm);
    ASSERT_EQ(parse_rfc5322_date(buf), t);
    const std::string input = set_header(message("plain_ascii_lf").data, "Date", buf);
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(input, {}, out));
    EXPECT_EQ(signing_time_of(out), t) << "Date: " << buf;
}

// ---------------------------------------------------------------------------
// Mixed line ends (docs/SIGNED-FORMAT.md): the line break before a delimiter
// line belongs to the delimiter (RFC 2046 §5.1.1), whatever either line ends
// in, so no content octet is lost or added. GMime 3.2 alone turned "Total:
// 100 EUR\n" before "--b\r\n" into "Total: 100 EU", under a valid signature.

// Every leaf ends in "Total: 100 EUR" and a bare LF before a CRLF
// delimiter: before a delimiter, before a close delimiter, in a nested
// multipart; one ends in CRLF before a bare-LF delimiter. `filler` lines
// go into the first part (to make the message file large).
std::string mixed_line_end_message(const std::string& filler) {
    return "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: invoice\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\n" + filler + "Total: 100 EUR\n"
           "--b\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\n"
           "--i\r\nContent-Type: text/plain\r\n\r\nTotal: 100 EUR\n"
           "--i\r\nContent-Type: text/html\r\n\r\n<p>Total: 100 EUR</p>\r\n--i--\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nTotal: 100 EUR\n--b--\r\n";
}

TEST(SignedFormatLineEnds, MixedLineEndsBeforeDelimitersLoseNoOctet) {
    std::string filler;
    while (filler.size() < 1100 * 1024) filler += std::string(70, 'x') + "\n";
    for (bool from_file : {false, true}) {
        // stdin is read into memory; a file over 1 MiB is parsed in place.
        SCOPED_TRACE(from_file ? "a file over 1 MiB" : "stdin");
        const std::string input = mixed_line_end_message(from_file ? filler : "");
        TempDir dir("ribbon-lineends");
        SignOptions so;
        std::string out;
        if (from_file) {
            write_file(dir / "in.eml", input);
            so.extra = {(dir / "in.eml").string()};
            ASSERT_NO_FATAL_FAILURE(sign_ok("", so, out));
        } else {
            ASSERT_NO_FATAL_FAILURE(sign_ok(input, so, out));
        }
        const VerifyResult o = verify_openssl(out);
        ASSERT_TRUE(o.ok) << o.details;
        const VerifyResult r = verify_ribbon(out);
        EXPECT_TRUE(r.ok) << r.details;

        // The signed leaves say what the input's say, octet for octet
        // (after LF -> CRLF); a test-side MIME split, not GMime's.
        const auto want = mime::decoded_leaves(input);
        const auto got = mime::decoded_leaves(o.content);
        ASSERT_EQ(got.size(), 4u);
        ASSERT_EQ(want.size(), got.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].type, want[i].type) << "leaf " << i;
            const std::string& text = got[i].data;
            const std::string expected = mime::to_crlf(want[i].data);
            // Not EXPECT_EQ: a diff of the 1 MiB leaf takes gtest a minute.
            EXPECT_TRUE(text == expected) << "leaf " << i << " (" << text.size() << " octets, not "
                                          << expected.size() << ") ends \""
                                          << text.substr(text.size() - std::min<std::size_t>(text.size(), 20))
                                          << "\"";
            EXPECT_TRUE(text.ends_with("Total: 100 EUR") || text.ends_with("Total: 100 EUR</p>"))
                << "leaf " << i;
        }
        EXPECT_EQ(got[0].data.size(), mime::to_crlf(from_file ? filler : "").size() + 14);
        EXPECT_EQ(got[1].data, "Total: 100 EUR");
        EXPECT_EQ(got[2].data, "<p>Total: 100 EUR</p>");
        EXPECT_EQ(got[3].data, "Total: 100 EUR");
    }
}

}  // namespace
}  // namespace ribbon::test
