// verify_weak_test.cpp — the verifier's algorithm policy (docs/VERIFY.md,
// "Weak algorithms and keys") on signatures made by other implementations:
// the openssl CLI (MD5, MD4 through the legacy provider, SHA-1, RSA-PSS,
// small RSA and EC keys) and NSS cmsutil (SHA-1). The small keys are made
// here and certified by the test PKI's intermediate; no key is stored.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ribbon/verifier.hpp"
#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/sign.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBoundary = "=-weak-test-sig";
constexpr const char* kEntity =
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "Content-Transfer-Encoding: 7bit\r\n\r\nHello,\r\n\r\nYour statement for May is ready.\r\n";
// Dated now: the signatures' signingTime is the openssl CLI's clock, and a
// Date more than an hour away is date_mismatch (docs/VERIFY.md).
std::string headers() {
    return "From: Bank Example <no-reply@bank.example>\r\nTo: customer@example.net\r\n"
           "Subject: Your statement\r\nDate: " +
           rfc5322_date(std::time(nullptr)) +
           "\r\nMessage-ID: <weak-1@bank.example>\r\nMIME-Version: 1.0\r\n";
}

std::string multipart_signed(std::string_view der) {
    std::string b64 = mime::base64_encode(std::string(der), 76, "\r\n");
    return headers() +
           "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
           "micalg=sha-256; boundary=\"" +
           kBoundary + "\"\r\n\r\n--" + kBoundary + "\r\n" + kEntity + "\r\n--" + kBoundary +
           "\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" +
           b64 + "--" + kBoundary + "--\r\n";
}

void must_run(const std::vector<std::string>& argv) {
    const ProcessResult r = run_process(argv);
    ASSERT_EQ(r.exit_code, 0) << argv[0] << " " << argv[1] << ": " << r.describe();
}

const std::string kSha1Refused =
    "the digest algorithm is SHA-1, which is no longer safe for signatures (collisions are "
    "practical); accept it with --accept-sha1";
const std::string kSha1Accepted =
    "the digest algorithm is SHA-1, accepted because SHA-1 signatures were allowed; SHA-1 "
    "collisions are practical";

class VerifyWeak : public ::testing::Test {
  protected:
    const Pki& p = pki();
    TempDir tmp{"ribbon-verify-weak"};

    // `openssl cms -sign` over kEntity; extra arguments go last, where a
    // -keyopt applies to the signer.
    std::string openssl_sign(const Leaf& leaf, const std::string& md,
                             const std::vector<std::string>& extra = {}) {
        return openssl_cms_sign(leaf, kEntity, false, md, extra);
    }

    // A leaf for no-reply@bank.example with a key made here by
    // `openssl genpkey` (RSA of `rsa_bits`, or the named EC curve),
    // certified by the test intermediate with SHA-256.
    Leaf make_leaf(const std::string& name, int rsa_bits, const std::string& curve = {},
                   const std::string& cert_md = "sha256") {
        Leaf leaf{tmp / (name + ".key"), tmp / (name + ".pem")};
        if (curve.empty()) {
            must_run({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                      "rsa_keygen_bits:" + std::to_string(rsa_bits), "-out", leaf.key.string()});
        } else {
            must_run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:" + curve, "-out", leaf.key.string()});
        }
        write_file(tmp / "leaf.ext",
                   "basicConstraints = critical, CA:FALSE\n"
                   "keyUsage = critical, digitalSignature\n"
                   "extendedKeyUsage = emailProtection\n"
                   "subjectAltName = email:no-reply@bank.example\n");
        const std::string csr = (tmp / (name + ".csr")).string();
        must_run({"openssl", "req", "-new", "-key", leaf.key.string(), "-subj",
                  "/O=Bank Example/CN=Bank Example " + name, "-out", csr});
        must_run({"openssl", "x509", "-req", "-in", csr, "-CA", p.intermediate_cert.string(),
                  "-CAkey", p.intermediate_key.string(), "-set_serial",
                  std::to_string(1000 + rsa_bits + static_cast<int>(curve.size() + 7 * cert_md.size())),
                  "-days", "30", "-" + cert_md, "-extfile", (tmp / "leaf.ext").string(), "-out", leaf.cert.string()});
        return leaf;
    }

    ProcessResult verify(const std::string& message, std::vector<std::string> args) {
        write_file(tmp / "message.eml", message);
        std::vector<std::string> argv = {ribbon_binary(), "verify", "--ca", p.root_cert.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back((tmp / "message.eml").string());
        return run_process(argv);
    }

    nlohmann::json verify_json(const std::string& message, int expected_exit,
                               std::vector<std::string> extra = {}) {
        extra.insert(extra.begin(), "--json");
        const ProcessResult r = verify(message, extra);
        EXPECT_EQ(r.exit_code, expected_exit) << r.describe();
        return nlohmann::json::parse(r.out);
    }
};

nlohmann::json warning(const char* code, const std::string& detail) {
    return nlohmann::json::array({{{"code", code}, {"detail", detail}}});
}

// ---- digests ----------------------------------------------------------------

TEST_F(VerifyWeak, Md5IsWeakAlgorithmEvenWithAcceptSha1) {
    const std::string message = multipart_signed(openssl_sign(p.rsa, "md5"));
    for (const auto& extra :
         {std::vector<std::string>{}, std::vector<std::string>{"--accept-sha1"}}) {
        const auto j = verify_json(message, 1, extra);
        EXPECT_EQ(j.at("verdict"), "invalid");
        EXPECT_EQ(j.at("reason"), "weak_algorithm");
        EXPECT_EQ(j.at("detail"),
                  "the digest algorithm is MD5, which is broken (RFC 6151) and never accepted for "
                  "signatures");
        EXPECT_EQ(j.at("signer").at("digest_algorithm"), "md5");
        EXPECT_EQ(j.at("signer").at("signature_algorithm"), "rsaencryption");
        EXPECT_EQ(j.at("warnings"), nlohmann::json::array());
        EXPECT_EQ(j.at("from_in_certificate"), true);
    }
    const ProcessResult text = verify(message, {});
    EXPECT_EQ(text.exit_code, 1);
    EXPECT_NE(text.out.find("verdict: invalid\nreason: weak_algorithm\n"), std::string::npos)
        << text.out;
}

TEST_F(VerifyWeak, TamperedMd5MessageIsDigestMismatch) {
    // The signature is checked first: a changed content says more than
    // the algorithm it was signed with.
    std::string message = multipart_signed(openssl_sign(p.rsa, "md5"));
    message.replace(message.find("is ready."), 9, "is READY.");
    EXPECT_EQ(verify_json(message, 1).at("reason"), "digest_mismatch");
}

TEST_F(VerifyWeak, Md4ThatCannotBeComputedIsWeakAlgorithm) {
    // The legacy provider signs MD4; ribbon does not load it, so OpenSSL
    // cannot even compute the digest. The verdict names the algorithm
    // rather than "the signature cannot be checked".
    const std::string der =
        openssl_sign(p.rsa, "md4", {"-provider", "legacy", "-provider", "default"});
    const auto j = verify_json(multipart_signed(der), 1);
    EXPECT_EQ(j.at("reason"), "weak_algorithm");
    EXPECT_EQ(j.at("detail"),
              "the digest algorithm is MD4, which is broken (RFC 6151) and never accepted for "
              "signatures");
}

TEST_F(VerifyWeak, OpensslSha1IsRefusedUnlessAccepted) {
    const std::string message = multipart_signed(openssl_sign(p.rsa, "sha1"));
    auto j = verify_json(message, 1);
    EXPECT_EQ(j.at("verdict"), "invalid");
    EXPECT_EQ(j.at("reason"), "weak_algorithm");
    EXPECT_EQ(j.at("detail"), kSha1Refused);
    EXPECT_EQ(j.at("signer").at("digest_algorithm"), "sha1");
    EXPECT_EQ(j.at("warnings"), nlohmann::json::array());

    j = verify_json(message, 0, {"--accept-sha1"});
    EXPECT_EQ(j.at("verdict"), "valid");
    EXPECT_EQ(j.at("reason"), "none");
    EXPECT_EQ(j.at("warnings"), warning("weak_algorithm", kSha1Accepted));
    const ProcessResult text = verify(message, {"--accept-sha1"});
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_NE(text.out.find("warning: weak_algorithm: " + kSha1Accepted + "\n"), std::string::npos)
        << text.out;
}

TEST_F(VerifyWeak, NssCmsutilSha1IsRefusedUnlessAccepted) {
    const fs::path db = tmp / "nssdb";
    fs::copy(p.nss_db, db, fs::copy_options::recursive);
    must_run({"openssl", "pkcs12", "-export", "-inkey", p.rsa.key.string(), "-in",
              p.rsa.cert.string(), "-certfile", p.chain.string(), "-name", "ribbon-signer",
              "-passout", "pass:test", "-out", (tmp / "leaf.p12").string()});
    must_run({"pk12util", "-i", (tmp / "leaf.p12").string(), "-d", "sql:" + db.string(), "-W",
              "test", "-K", ""});
    write_file(tmp / "content", kEntity);
    must_run({"cmsutil", "-S", "-T", "-G", "-Y", "NONE", "-H", "SHA1", "-N", "ribbon-signer", "-d",
              "sql:" + db.string(), "-i", (tmp / "content").string(), "-o",
              (tmp / "nss.der").string()});
    const std::string message = multipart_signed(read_file(tmp / "nss.der"));
    auto j = verify_json(message, 1);
    EXPECT_EQ(j.at("reason"), "weak_algorithm");
    EXPECT_EQ(j.at("detail"), kSha1Refused);
    j = verify_json(message, 0, {"--accept-sha1"});
    EXPECT_EQ(j.at("warnings"), warning("weak_algorithm", kSha1Accepted));
}

TEST_F(VerifyWeak, EcdsaWithSha1IsRefusedAndWarnedOnce) {
    const std::string message = multipart_signed(openssl_sign(p.ecdsa, "sha1"));
    auto j = verify_json(message, 1);
    EXPECT_EQ(j.at("reason"), "weak_algorithm");
    EXPECT_EQ(j.at("signer").at("signature_algorithm"), "ecdsa-with-sha1");
    // Accepted: one warning, though both algorithm fields say SHA-1.
    j = verify_json(message, 0, {"--accept-sha1"});
    EXPECT_EQ(j.at("warnings"), warning("weak_algorithm", kSha1Accepted));
}

TEST_F(VerifyWeak, Md5SignatureAlgorithmWithSha256DigestIsWeakAlgorithm) {
    // The SignerInfo's signatureAlgorithm is not signed (RFC 5652 §5.3):
    // rewrite OpenSSL's rsaEncryption (1.2.840.113549.1.1.1), the last one
    // in the DER after the certificates, to md5WithRSAEncryption (...1.4).
    // OpenSSL still verifies it; a careful receiver refuses the claim.
    std::string der = openssl_sign(p.rsa, "sha256");
    const std::string rsa_encryption("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", 11);
    const std::size_t pos = der.rfind(rsa_encryption);
    ASSERT_NE(pos, std::string::npos);
    der[pos + 10] = '\x04';
    const auto j = verify_json(multipart_signed(der), 1);
    EXPECT_EQ(j.at("reason"), "weak_algorithm");
    EXPECT_EQ(j.at("detail"),
              "the digest named by the signature algorithm is MD5, which is broken (RFC 6151) and "
              "never accepted for signatures");
    EXPECT_EQ(j.at("signer").at("digest_algorithm"), "sha256");
    EXPECT_EQ(j.at("signer").at("signature_algorithm"), "rsa-md5");
}

TEST_F(VerifyWeak, Md4SignatureAlgorithmDoesNotHideAChangedContent) {
    // md4WithRSAEncryption (1.2.840.113549.1.1.3) in the signatureAlgorithm
    // field: OpenSSL hashes with the SHA-256 digestAlgorithm all the same,
    // so a changed content is still found and reported first.
    std::string der = openssl_sign(p.rsa, "sha256");
    const std::string rsa_encryption("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", 11);
    const std::size_t pos = der.rfind(rsa_encryption);
    ASSERT_NE(pos, std::string::npos);
    der[pos + 10] = '\x03';
    std::string message = multipart_signed(der);
    EXPECT_EQ(verify_json(message, 1).at("reason"), "weak_algorithm");
    message.replace(message.find("is ready."), 9, "is READY.");
    EXPECT_EQ(verify_json(message, 1).at("reason"), "digest_mismatch");
}

TEST_F(VerifyWeak, RsaPssWithSha1HashIsRefused) {
    const std::string der = openssl_sign(p.rsa, "sha1", {"-keyopt", "rsa_padding_mode:pss"});
    const auto j = verify_json(multipart_signed(der), 1);
    EXPECT_EQ(j.at("reason"), "weak_algorithm");
    EXPECT_EQ(j.at("signer").at("signature_algorithm"), "rsassa-pss");
}

// ---- keys -------------------------------------------------------------------

// ---- certificates in the chain ------------------------------------------------

// A SHA-256 message signature from a certificate the intermediate signed
// with SHA-1 or MD5: a collision forges the certificate (the 2008 rogue-CA
// attack on MD5), so the policy applies to the chain's signatures too.
TEST_F(VerifyWeak, CertificateSignedWithSha1OrMd5IsWeakAlgorithm) {
    const Leaf sha1_leaf = make_leaf("cert-sha1", 2048, {}, "sha1");
    const std::string sha1_message = multipart_signed(openssl_sign(sha1_leaf, "sha256"));
    const std::string subject = "CN=Bank Example cert-sha1,O=Bank Example";
    auto j = verify_json(sha1_message, 1);
    EXPECT_EQ(j.at("reason"), "weak_algorithm");
    EXPECT_EQ(j.at("detail"), "the signature on the certificate of " + subject +
                                  " is SHA-1, which is no longer safe for signatures (collisions "
                                  "are practical); accept it with --accept-sha1");
    EXPECT_EQ(j.at("signer").at("digest_algorithm"), "sha256");
    j = verify_json(sha1_message, 0, {"--accept-sha1"});
    EXPECT_EQ(j.at("verdict"), "valid");
    EXPECT_EQ(j.at("warnings"),
              warning("weak_algorithm", "the signature on the certificate of " + subject +
                                            " is SHA-1, accepted because SHA-1 signatures were "
                                            "allowed; SHA-1 collisions are practical"));

    const Leaf md5_leaf = make_leaf("cert-md5", 2048, {}, "md5");
    const std::string md5_message = multipart_signed(openssl_sign(md5_leaf, "sha256"));
    for (const auto& extra :
         {std::vector<std::string>{}, std::vector<std::string>{"--accept-sha1"}}) {
        j = verify_json(md5_message, 1, extra);
        EXPECT_EQ(j.at("reason"), "weak_algorithm");
        EXPECT_EQ(j.at("detail"),
                  "the signature on the certificate of CN=Bank Example cert-md5,O=Bank Example "
                  "is MD5, which is broken (RFC 6151) and never accepted for signatures");
    }
    // The test PKI's own chain (SHA-256 throughout) earns no warning.
    j = verify_json(multipart_signed(openssl_sign(p.rsa, "sha256")), 0);
    EXPECT_EQ(j.at("warnings"), nlohmann::json::array());
}

TEST_F(VerifyWeak, Rsa1024IsValidWithWeakKeyWarning) {
    const Leaf leaf = make_leaf("rsa1024", 1024);
    const std::string message = multipart_signed(openssl_sign(leaf, "sha256"));
    const std::string detail =
        "the signer's RSA key has 1024 bits, below the 2048 bits current S/MIME certificates "
        "must have";
    const auto j = verify_json(message, 0);
    EXPECT_EQ(j.at("verdict"), "valid");
    EXPECT_EQ(j.at("reason"), "none");
    EXPECT_EQ(j.at("signer").at("key"), "RSA-1024");
    EXPECT_EQ(j.at("warnings"), warning("weak_key", detail));
    const ProcessResult text = verify(message, {});
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_NE(text.out.find("verdict: valid\n"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("warning: weak_key: " + detail + "\n"), std::string::npos) << text.out;
    // With SHA-1 as well: invalid for the digest, and the key still warned of.
    const auto sha1 = verify_json(multipart_signed(openssl_sign(leaf, "sha1")), 1);
    EXPECT_EQ(sha1.at("reason"), "weak_algorithm");
    EXPECT_EQ(sha1.at("warnings"), warning("weak_key", detail));
}

TEST_F(VerifyWeak, RsaBelow1024IsWeakKey) {
    for (const int bits : {768, 512}) {
        const Leaf leaf = make_leaf("rsa" + std::to_string(bits), bits);
        const auto j = verify_json(multipart_signed(openssl_sign(leaf, "sha256")), 1);
        EXPECT_EQ(j.at("verdict"), "invalid");
        EXPECT_EQ(j.at("reason"), "weak_key");
        EXPECT_EQ(j.at("detail"), "the signer's RSA key has " + std::to_string(bits) +
                                      " bits, below the 1024-bit minimum: signatures with it can "
                                      "be forged");
        EXPECT_EQ(j.at("warnings"), nlohmann::json::array());
    }
}

TEST_F(VerifyWeak, EcBelowP256IsWarnedAndBelow160Refused) {
    const Leaf p224 = make_leaf("p224", 0, "P-224");
    auto j = verify_json(multipart_signed(openssl_sign(p224, "sha256")), 0);
    EXPECT_EQ(j.at("warnings"),
              warning("weak_key",
                      "the signer's EC key has 224 bits, below the 256 bits current S/MIME "
                      "certificates must have"));
    const Leaf small = make_leaf("secp112r1", 0, "secp112r1");
    j = verify_json(multipart_signed(openssl_sign(small, "sha256")), 1);
    EXPECT_EQ(j.at("reason"), "weak_key");
    EXPECT_EQ(j.at("detail"),
              "the signer's EC key has 112 bits, below the 160-bit minimum: signatures with it "
              "can be forged");
}

TEST_F(VerifyWeak, SecondSignerIsJudgedToo) {
    // RFC 5652 §5.1: several SignerInfos, each judged and named when
    // weak. SignerInfos is a DER SET OF, sorted by encoding: the leaf made
    // here has the short serial, so it comes first.
    const Leaf leaf = make_leaf("rsa1024", 1024);
    write_file(tmp / "content", kEntity);
    must_run({"openssl",   "cms",
              "-sign",     "-binary",
              "-md",       "sha256",
              "-in",       (tmp / "content").string(),
              "-signer",   p.rsa.cert.string(),
              "-inkey",    p.rsa.key.string(),
              "-signer",   leaf.cert.string(),
              "-inkey",    leaf.key.string(),
              "-certfile", p.chain.string(),
              "-outform",  "DER",
              "-out",      (tmp / "two.der").string()});
    const auto j = verify_json(multipart_signed(read_file(tmp / "two.der")), 0);
    EXPECT_EQ(j.at("warnings"),
              warning("weak_key",
                      "signer 1: the signer's RSA key has 1024 bits, below the 2048 bits current "
                      "S/MIME certificates must have"));
}

// ---- what stays valid, without a warning -------------------------------------

TEST_F(VerifyWeak, StrongSignaturesHaveNoWarning) {
    struct Row {
        const Leaf* leaf;
        const char* md;
        std::vector<std::string> extra;
        const char* key;
        const char* signature_algorithm;
    };
    const std::vector<Row> rows = {
        {&p.rsa, "sha256", {}, "RSA-2048", "rsaencryption"},
        {&p.rsa, "sha512", {}, "RSA-2048", "rsaencryption"},
        {&p.rsa, "sha256", {"-keyopt", "rsa_padding_mode:pss"}, "RSA-2048", "rsassa-pss"},
        {&p.ecdsa, "sha256", {}, "ECDSA P-256", "ecdsa-with-sha256"},
        {&p.ecdsa, "sha384", {}, "ECDSA P-256", "ecdsa-with-sha384"},
    };
    for (const Row& row : rows) {
        SCOPED_TRACE(std::string(row.key) + " " + row.md + " " + row.signature_algorithm);
        const std::string message = multipart_signed(openssl_sign(*row.leaf, row.md, row.extra));
        const auto j = verify_json(message, 0);
        EXPECT_EQ(j.at("verdict"), "valid");
        EXPECT_EQ(j.at("reason"), "none");
        EXPECT_EQ(j.at("warnings"), nlohmann::json::array());
        EXPECT_EQ(j.at("signer").at("key"), row.key);
        EXPECT_EQ(j.at("signer").at("digest_algorithm"), row.md);
        EXPECT_EQ(j.at("signer").at("signature_algorithm"), row.signature_algorithm);
        const ProcessResult text = verify(message, {});
        EXPECT_EQ(text.exit_code, 0);
        EXPECT_EQ(text.out.find("warning:"), std::string::npos) << text.out;
    }
}

// ---- the library ------------------------------------------------------------

TEST_F(VerifyWeak, LibraryAcceptSha1Option) {
    auto trust = TrustStore::from_files({p.root_cert});
    ASSERT_TRUE(trust.ok()) << trust.error().message();
    const Verifier verifier(std::move(*trust));
    const std::string message = multipart_signed(openssl_sign(p.rsa, "sha1"));
    EXPECT_FALSE(VerifyOptions{}.accept_sha1);
    auto refused = verifier.verify(MessageInput::from_memory(message));
    ASSERT_TRUE(refused.ok());
    EXPECT_EQ(refused->verdict, Verdict::invalid);
    EXPECT_EQ(refused->reason, VerifyReason::weak_algorithm);
    EXPECT_TRUE(refused->warnings.empty());
    VerifyOptions options;
    options.accept_sha1 = true;
    auto accepted = verifier.verify(MessageInput::from_memory(message), options);
    ASSERT_TRUE(accepted.ok());
    EXPECT_EQ(accepted->verdict, Verdict::valid);
    ASSERT_EQ(accepted->warnings.size(), 1u);
    EXPECT_EQ(accepted->warnings[0].code, VerifyReason::weak_algorithm);
    EXPECT_EQ(accepted->warnings[0].detail, kSha1Accepted);
}

TEST(VerifyWeakNames, StableNames) {
    EXPECT_EQ(verify_reason_name(VerifyReason::weak_algorithm), "weak_algorithm");
    EXPECT_EQ(verify_reason_name(VerifyReason::weak_key), "weak_key");
}

}  // namespace
}  // namespace ribbon::test
