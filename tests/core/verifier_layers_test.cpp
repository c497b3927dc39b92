// verifier_layers_test.cpp — ribbon::Verifier on messages with more than
// one signature layer, signed parts inside multipart/mixed, and the
// Date-versus-signingTime rule. Every signature is made by the openssl CLI
// with the test PKI (tests/support/pki.hpp); the messages are built here.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "core/verify_judge.hpp"
#include "ribbon/verifier.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/sign.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

std::string base64_lines(std::string_view der) {
    std::string out;
    for (std::size_t pos = 0; pos < der.size(); pos += 57) {
        const std::size_t n = std::min<std::size_t>(57, der.size() - pos);
        std::string line(4 * ((n + 2) / 3) + 1, '\0');
        const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(line.data()),
                                        reinterpret_cast<const unsigned char*>(der.data() + pos),
                                        static_cast<int>(n));
        line.resize(static_cast<std::size_t>(len));
        out += line + "\r\n";
    }
    return out;
}

const std::string kText =
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nYour statement for May is ready.\r\n";

std::string outer_headers(const std::string& date,
                          const std::string& from = "no-reply@bank.example") {
    std::string h = "From: " + from + "\r\nTo: customer@example.net\r\nSubject: Statement\r\n";
    if (!date.empty()) h += "Date: " + date + "\r\n";
    return h + "Message-ID: <layers-1@bank.example>\r\nMIME-Version: 1.0\r\n";
}

std::string now_date() { return rfc5322_date(std::time(nullptr)); }

// The entity that signs `content` in the multipart/signed form, with
// boundary `b` (no header section of a message: a MIME entity).
std::string multipart_entity(const std::string& content, const std::string& der,
                             const std::string& b) {
    std::string sig = base64_lines(der);
    sig.resize(sig.size() - 2);
    return "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
           "micalg=sha-256; boundary=\"" +
           b + "\"\r\n\r\n--" + b + "\r\n" + content + "\r\n--" + b +
           "\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" +
           sig + "\r\n--" + b + "--\r\n";
}

std::string opaque_entity(const std::string& der) {
    return "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" +
           base64_lines(der);
}

class LayersTest : public ::testing::Test {
  protected:
    const Pki& p = pki();
    TempDir tmp{"ribbon-layers-test"};
    Verifier verifier{*TrustStore::from_files({p.root_cert})};

    // `openssl cms -sign` over `content`; opaque with -nodetach.
    std::string sign(const Leaf& leaf, const std::string& content, bool opaque,
                     std::vector<std::string> extra = {}) {
        return openssl_cms_sign(leaf, content, opaque, "sha256", extra);
    }
    std::string wrap_multipart(const Leaf& leaf, const std::string& content, const std::string& b) {
        return multipart_entity(content, sign(leaf, content, false), b);
    }
    std::string wrap_opaque(const Leaf& leaf, const std::string& content) {
        return opaque_entity(sign(leaf, content, true));
    }
    VerifyResult verify(const std::string& message, const VerifyOptions& o = {}) {
        auto r = verifier.verify(MessageInput::from_memory(message), o);
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
        return r.ok() ? *r : VerifyResult{};
    }
    Error verify_error(const std::string& message) {
        auto r = verifier.verify(MessageInput::from_memory(message));
        EXPECT_FALSE(r.ok()) << "verdict " << static_cast<int>(r->verdict);
        return r.ok() ? Error(Errc::internal_error, ErrorKind::permanent, "verified") : r.error();
    }
};

std::vector<std::string> parts_of(const VerifyResult& r) {
    std::vector<std::string> out;
    for (const auto& l : r.layers)
        out.push_back(std::string(layer_kind_name(l.kind)) + "@" + l.part);
    return out;
}

// ---- nested signatures ------------------------------------------------------

TEST_F(LayersTest, OpaqueInsideOpaqueBothVerified) {
    const std::string inner = wrap_opaque(p.rsa, kText);
    const VerifyResult r = verify(outer_headers(now_date()) + wrap_opaque(p.ecdsa, inner));
    EXPECT_EQ(r.verdict, Verdict::valid) << r.detail;
    EXPECT_EQ(parts_of(r), (std::vector<std::string>{"opaque@", "opaque@"}));
    ASSERT_EQ(r.layers.size(), 2u);
    EXPECT_EQ(r.layers[0].signer->certificate.key_description, "ECDSA P-256");
    EXPECT_EQ(r.layers[1].signer->certificate.key_description, "RSA-2048");
    EXPECT_EQ(r.signer->certificate.key_description, "ECDSA P-256");  // the outermost
    EXPECT_EQ(r.detail,
              "every signature layer (2) verified: signature, certificate chain and "
              "From address verified");
    EXPECT_TRUE(r.coverage.whole);
    EXPECT_EQ(r.coverage.description, "the whole message");
}

TEST_F(LayersTest, InnerSignerNotVouchingForFromMakesMessageInvalid) {
    // Signed by other@, then signed again by the From address's owner: the
    // inner signer does not vouch for From (RFC 8550 §3), as Thunderbird judges.
    const std::string inner = wrap_multipart(p.other, kText, "inner-b");
    const VerifyResult r = verify(outer_headers(now_date()) + wrap_opaque(p.rsa, inner));
    EXPECT_EQ(r.verdict, Verdict::invalid);
    EXPECT_EQ(r.reason, VerifyReason::from_not_in_certificate);
    EXPECT_EQ(r.detail,
              "layer 2: the From address is not in the signer's certificate (RFC 8550 §3)");
    ASSERT_EQ(r.layers.size(), 2u);
    EXPECT_EQ(r.layers[0].verdict, Verdict::valid);
    EXPECT_EQ(r.layers[1].verdict, Verdict::invalid);
    EXPECT_EQ(r.layers[1].kind, LayerKind::multipart_signed);
    EXPECT_EQ(r.layers[1].part, "");  // an opaque signature's content keeps its number
    EXPECT_EQ(r.layers[1].signer->certificate.addresses,
              std::vector<std::string>{"other@bank.example"});
    EXPECT_TRUE(r.from_in_certificate);  // the outermost layer's
}

TEST_F(LayersTest, MultipartSignedWhoseFirstPartIsSigned) {
    const std::string inner = wrap_multipart(p.rsa, kText, "inner-b");
    const std::string m = outer_headers(now_date()) + wrap_multipart(p.rsa, inner, "outer-b");
    const VerifyResult r = verify(m);
    EXPECT_EQ(r.verdict, Verdict::valid) << r.detail;
    EXPECT_EQ(parts_of(r), (std::vector<std::string>{"multipart-signed@", "multipart-signed@1"}));
    // Tampering with the innermost text breaks both layers; the outer is reported.
    std::string bad = m;
    bad.replace(bad.find("May"), 3, "Jun");
    const VerifyResult b = verify(bad);
    EXPECT_EQ(b.reason, VerifyReason::digest_mismatch);
    EXPECT_EQ(b.layers.at(0).reason, VerifyReason::digest_mismatch);
    EXPECT_EQ(b.layers.at(1).reason, VerifyReason::digest_mismatch);
    EXPECT_EQ(b.detail.rfind("layer 1: ", 0), 0u) << b.detail;
}

TEST_F(LayersTest, SealedLayerEndsTheWalkAndIsNoVerdict) {
    write_file(tmp / "plain", kText);
    const ProcessResult e = run_process({"openssl", "cms", "-encrypt", "-binary", "-aes-256-cbc",
                                         "-in", (tmp / "plain").string(), "-outform", "DER", "-out",
                                         (tmp / "env.der").string(), p.rsa.cert.string()});
    ASSERT_EQ(e.exit_code, 0) << e.describe();
    const std::string sealed =
        "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        base64_lines(read_file(tmp / "env.der"));
    const VerifyResult r = verify(outer_headers(now_date()) + wrap_opaque(p.rsa, sealed));
    EXPECT_EQ(r.verdict, Verdict::valid) << r.detail;
    EXPECT_EQ(parts_of(r), (std::vector<std::string>{"opaque@", "sealed@"}));
    EXPECT_EQ(r.layers[1].verdict, Verdict::not_signed);
    EXPECT_EQ(
        r.layers[1].detail,
        "sealed (enveloped-data (RFC 8551 §3.3)), not opened: ribbon cannot open sealed mail");
    // Sealed at the top: not signed, the layer still reported.
    const VerifyResult top = verify(outer_headers(now_date()) + sealed);
    EXPECT_EQ(top.verdict, Verdict::not_signed);
    EXPECT_EQ(parts_of(top), (std::vector<std::string>{"sealed@"}));
}

TEST_F(LayersTest, EightLayersVerifiedNineRefused) {
    std::string entity = kText;
    for (int i = 0; i < kMaxSignatureLayers; ++i) entity = wrap_opaque(p.rsa, entity);
    const VerifyResult r = verify(outer_headers(now_date()) + entity);
    EXPECT_EQ(r.verdict, Verdict::valid) << r.detail;
    EXPECT_EQ(r.layers.size(), 8u);
    const Error e = verify_error(outer_headers(now_date()) + wrap_opaque(p.rsa, entity));
    EXPECT_EQ(e.code(), Errc::limit_exceeded);
    EXPECT_EQ(e.message(), "more than 8 signature layers: the message is refused, not verified");
}

TEST_F(LayersTest, TenThousandNestedLayersAreRefusedQuickly) {
    // One real detached signature (over other content, without
    // certificates to keep it small) in every layer: each layer is invalid,
    // and the walk must stop at the bound.
    const std::string der = sign(p.rsa, "something else\r\n", false, {"-nocerts"});
    std::string sig = base64_lines(der);
    sig.resize(sig.size() - 2);
    constexpr int kLevels = 10000;
    std::string message = outer_headers(now_date());
    std::vector<std::string> closings;
    for (int i = 0; i < kLevels; ++i) {
        std::string b(1, 'b');  // not "b" + ...: GCC 12's -Wrestrict false positive
        b += std::to_string(i);
        message +=
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
            "boundary=\"" +
            b + "\"\r\n\r\n--" + b + "\r\n";
        closings.push_back("\r\n--" + b +
                           "\r\nContent-Type: application/pkcs7-signature\r\n"
                           "Content-Transfer-Encoding: base64\r\n\r\n" +
                           sig + "\r\n--" + b + "--");
    }
    message += kText;
    for (auto it = closings.rbegin(); it != closings.rend(); ++it) message += *it;
    message += "\r\n";
    const auto start = std::chrono::steady_clock::now();
    const Error e = verify_error(message);
    EXPECT_EQ(e.code(), Errc::limit_exceeded) << e.message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST_F(LayersTest, TenThousandNestedMixedPartsAreRefused) {
    std::string message = outer_headers(now_date());
    std::vector<std::string> closings;
    for (int i = 0; i < 10000; ++i) {
        std::string b(1, 'm');
        b += std::to_string(i);
        message += "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b + "\r\n";
        closings.push_back("\r\n--" + b + "--");
    }
    message += kText;
    for (auto it = closings.rbegin(); it != closings.rend(); ++it) message += *it;
    message += "\r\n";
    const Error e = verify_error(message);
    EXPECT_EQ(e.code(), Errc::limit_exceeded) << e.message();
}

TEST_F(LayersTest, TruncatedInnerLayerIsNamed) {
    std::string inner = wrap_multipart(p.rsa, kText, "inner-b");
    inner.resize(inner.rfind("--inner-b--"));  // the inner layer never ends
    const Error e = verify_error(outer_headers(now_date()) + wrap_opaque(p.rsa, inner));
    EXPECT_EQ(e.code(), Errc::malformed_message);
    EXPECT_EQ(e.message(),
              "signature layer 2: malformed MIME: multipart/signed has no closing "
              "boundary (the message is truncated)");
}

// ---- Date versus signingTime ---------------------------------------------

TEST_F(LayersTest, DateWithinAnHourOfSigningTime) {
    const std::string body = wrap_opaque(p.rsa, kText);
    const std::time_t now = std::time(nullptr);
    EXPECT_EQ(verify(outer_headers(rfc5322_date(now + 50 * 60)) + body).verdict, Verdict::valid);
    EXPECT_EQ(verify(outer_headers(rfc5322_date(now - 50 * 60)) + body).verdict, Verdict::valid);
    const VerifyResult late = verify(outer_headers(rfc5322_date(now + 6 * 3600 + 30)) + body);
    EXPECT_EQ(late.reason, VerifyReason::date_mismatch);
    EXPECT_NE(late.detail.find(" is 6 h 0 min after the signer's signingTime"), std::string::npos)
        << late.detail;
    EXPECT_EQ(verify(outer_headers(rfc5322_date(now - 2 * 3600)) + body).reason,
              VerifyReason::date_mismatch);
    const VerifyResult none = verify(outer_headers("") + body);
    EXPECT_EQ(none.reason, VerifyReason::date_mismatch);
    EXPECT_EQ(none.detail.rfind("the message has no Date header", 0), 0u) << none.detail;
    EXPECT_EQ(verify(outer_headers("the day after tomorrow") + body).reason,
              VerifyReason::date_mismatch);
}

TEST_F(LayersTest, NoSigningTimeNoDateCheck) {
    // -noattr: no signed attributes at all, so no signingTime.
    const std::string body = opaque_entity(sign(p.rsa, kText, true, {"-noattr"}));
    const VerifyResult r = verify(outer_headers("Wed, 01 May 2024 12:00:00 +0000") + body);
    EXPECT_EQ(r.verdict, Verdict::valid) << r.detail;
    EXPECT_FALSE(r.signer->signing_time.has_value());
}

TEST_F(LayersTest, DateCheckedAfterChainAndFrom) {
    const std::string body = wrap_opaque(p.other, kText);
    EXPECT_EQ(verify(outer_headers("") + body).reason, VerifyReason::from_not_in_certificate);
}

TEST(CheckDate, Rule) {
    const TimePoint signed_at = time_from_unix(1769438410);  // 2026-01-26T14:40:10Z
    EXPECT_TRUE(verify::check_date(std::nullopt, std::nullopt).ok());
    EXPECT_TRUE(verify::check_date(signed_at, "Mon, 26 Jan 2026 15:40:10 +0000").ok());
    EXPECT_TRUE(verify::check_date(signed_at, "Mon, 26 Jan 2026 16:40:10 +0100").ok());
    const verify::Check c = verify::check_date(signed_at, "Mon, 26 Jan 2026 15:40:11 +0000");
    EXPECT_EQ(c.reason, VerifyReason::date_mismatch);
    EXPECT_EQ(c.detail,
              "the Date header (Mon, 26 Jan 2026 15:40:11 +0000) is 1 h 0 min after the "
              "signer's signingTime (2026-01-26T14:40:10Z); more than an hour apart, "
              "the message may have been re-dated");
    EXPECT_EQ(verify::check_date(signed_at, "garbage").reason, VerifyReason::date_mismatch);
    EXPECT_EQ(verify::check_date(signed_at, std::nullopt).reason, VerifyReason::date_mismatch);
}

// ---- signed parts inside multipart/mixed ---------------------------------------

const std::string kFooter =
    "Content-Type: text/plain; charset=us-ascii\r\nContent-Description: footer\r\n\r\n"
    "list mailing list\r\n";

std::string mixed(const std::vector<std::string>& parts, const std::string& b = "mix") {
    std::string out = "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n";
    for (const auto& part : parts) out += "--" + b + "\r\n" + part + "\r\n";
    return out + "--" + b + "--\r\n";
}

TEST_F(LayersTest, SignedPartWithFooterIsValidWithCoverage) {
    const std::string m =
        outer_headers(now_date()) + mixed({wrap_multipart(p.rsa, kText, "sig-b"), kFooter});
    const VerifyResult r = verify(m);
    EXPECT_EQ(r.verdict, Verdict::valid) << r.detail;
    EXPECT_EQ(parts_of(r), (std::vector<std::string>{"multipart-signed@1"}));
    EXPECT_FALSE(r.coverage.whole);
    EXPECT_EQ(r.coverage.signed_parts, std::vector<std::string>{"1"});
    ASSERT_EQ(r.coverage.unsigned_parts.size(), 1u);
    EXPECT_EQ(r.coverage.unsigned_parts[0].part, "2");
    EXPECT_EQ(r.coverage.unsigned_parts[0].content_type, "text/plain");
    EXPECT_EQ(r.coverage.unsigned_parts[0].size, kFooter.size());
    EXPECT_EQ(r.coverage.description, "MIME part 1 of 2; part 2, text/plain, " +
                                          std::to_string(kFooter.size()) + " bytes, is not signed");
    VerifyOptions whole;
    whole.require_whole = true;
    const VerifyResult w = verify(m, whole);
    EXPECT_EQ(w.verdict, Verdict::invalid);
    EXPECT_EQ(w.reason, VerifyReason::partial_coverage);
    EXPECT_EQ(w.layers.at(0).verdict, Verdict::valid);
}

TEST_F(LayersTest, EverySignedPartIsVerifiedAndAttachedMessagesAreNot) {
    const std::string attached = "Content-Type: message/rfc822\r\n\r\n" +
                                 outer_headers(now_date()) + wrap_opaque(p.rsa, kText);
    const std::string inner_mixed = mixed({kFooter, wrap_opaque(p.other, kText)}, "inner-mix");
    const std::string m = outer_headers(now_date()) +
                          mixed({wrap_multipart(p.rsa, kText, "s1"), inner_mixed, attached});
    const VerifyResult r = verify(m);
    EXPECT_EQ(parts_of(r), (std::vector<std::string>{"multipart-signed@1", "opaque@2.2"}));
    EXPECT_EQ(r.verdict, Verdict::invalid);  // other@ does not vouch for From
    EXPECT_EQ(r.reason, VerifyReason::from_not_in_certificate);
    EXPECT_EQ(r.detail.rfind("layer 2 (part 2.2): ", 0), 0u) << r.detail;
    EXPECT_EQ(r.coverage.signed_parts, (std::vector<std::string>{"1", "2.2"}));
    ASSERT_EQ(r.coverage.unsigned_parts.size(), 2u);
    EXPECT_EQ(r.coverage.unsigned_parts[0].part, "2.1");
    EXPECT_EQ(r.coverage.unsigned_parts[1].part, "3");
    EXPECT_EQ(r.coverage.unsigned_parts[1].content_type, "message/rfc822");
}

TEST_F(LayersTest, MixedWithoutSignedPartsIsNotSigned) {
    const VerifyResult r = verify(outer_headers(now_date()) + mixed({kText, kFooter}));
    EXPECT_EQ(r.verdict, Verdict::not_signed);
    EXPECT_TRUE(r.layers.empty());
    EXPECT_FALSE(r.coverage.whole);
    EXPECT_TRUE(r.coverage.unsigned_parts.empty());
}

// ---- identity for key continuity -------------------------------------------

std::string sha256_file_hex(const std::string& bytes, TempDir& tmp) {
    write_file(tmp / "hash-in", bytes);
    const ProcessResult r =
        run_process({"openssl", "dgst", "-sha256", "-r", (tmp / "hash-in").string()});
    return r.out.substr(0, 64);
}

TEST_F(LayersTest, KeyDigestsAndMessageIdentityMatchOpenssl) {
    const VerifyResult r = verify(outer_headers(now_date()) + wrap_opaque(p.rsa, kText));
    ASSERT_TRUE(r.signer.has_value());
    const ProcessResult der = run_process({"openssl", "x509", "-in", p.rsa.cert.string(),
                                           "-outform", "DER", "-out", (tmp / "cert.der").string()});
    ASSERT_EQ(der.exit_code, 0) << der.describe();
    EXPECT_EQ(r.signer->certificate_sha256, sha256_file_hex(read_file(tmp / "cert.der"), tmp));
    const ProcessResult spki = run_process({"openssl", "x509", "-in", p.rsa.cert.string(), "-noout",
                                            "-pubkey", "-out", (tmp / "pub.pem").string()});
    ASSERT_EQ(spki.exit_code, 0) << spki.describe();
    ASSERT_EQ(run_process({"openssl", "pkey", "-pubin", "-in", (tmp / "pub.pem").string(),
                           "-outform", "DER", "-out", (tmp / "pub.der").string()})
                  .exit_code,
              0);
    EXPECT_EQ(r.signer->spki_sha256, sha256_file_hex(read_file(tmp / "pub.der"), tmp));
    EXPECT_EQ(r.message_id, "layers-1@bank.example");
    EXPECT_EQ(r.content_sha256, sha256_file_hex(kText, tmp));
    EXPECT_EQ(r.layers.at(0).signer->spki_sha256, r.signer->spki_sha256);
}

}  // namespace
}  // namespace ribbon::test
