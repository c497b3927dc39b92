// `ribbon sign --seal-to`: sign, then seal, checked by opening the output
// with OpenSSL, NSS cmsutil and gpgsm (each a program of its own, with the
// recipient's key), verifying what they opened with OpenSSL and ribbon, and
// the refusals' exit codes (docs/SEALED-FORMAT.md).
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "support/cert_maker.hpp"
#include "support/openers.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

struct Recipient {
    fs::path key, cert;
};

Recipient make_recipient(const TempDir& dir, const std::string& name, const std::string& key) {
    CertSpec s;
    s.key = key;
    s.subject = {{"CN", name}};
    s.san = {{GEN_EMAIL, name + "@example.org"}};
    s.key_usage = key.rfind("EC:", 0) == 0 ? "critical,digitalSignature,keyAgreement"
                                             : "critical,digitalSignature,keyEncipherment";
    s.extended_key_usage = "emailProtection";
    MadeCert made = make_self_signed(s);
    Recipient r{dir / (name + ".key"), dir / (name + ".pem")};
    write_file(r.key, made.key_pem);
    write_file(r.cert, made.cert_pem);
    return r;
}

const std::string kStatement =
    "From: Bank <no-reply@bank.example>\r\nTo: customer@example.org\r\nSubject: Your statement\r\n"
    "Message-ID: <seal-1@bank.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Your statement for November is ready.\r\n";

ProcessResult sign_sealed(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {ribbon_binary(),        "sign", "--key", pki().rsa.key.string(), "--cert",
                                     pki().rsa.cert.string(), "--chain", pki().chain.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, kStatement);
}

// What a receiver shows after opening: the outer fields, then the entity.
std::string received(const std::string& sealed, const std::string& opened) {
    const std::string outer = header_section(sealed);
    return outer.substr(0, outer.find("MIME-Version: ")) + "MIME-Version: 1.0\r\n" + opened;
}

void expect_opened_and_verified(const std::string& sealed, const OpenResult& opened, const char* who) {
    SCOPED_TRACE(who);
    ASSERT_TRUE(opened.ok) << opened.details;
    EXPECT_NE(opened.content.find("hp=\"cipher\""), std::string::npos);
    const std::string message = received(sealed, opened.content);
    const VerifyResult by_openssl = verify_openssl(message);
    EXPECT_TRUE(by_openssl.ok) << by_openssl.details;
    const VerifyResult by_ribbon = verify_ribbon(message);
    EXPECT_TRUE(by_ribbon.ok) << by_ribbon.details;
}

// Every opener on one variant; `nss_opens` / `gpgsm_opens` say what that
// implementation does with it (asserted exactly either way).
void check_variant(const std::string& key, const std::string& caps, const char* smime_type, bool nss_opens,
                   bool gpgsm_opens) {
    SCOPED_TRACE(key + " " + caps);
    TempDir dir("ribbon-seal-cli");
    const Recipient r = make_recipient(dir, "customer", key);
    std::vector<std::string> extra = {"--seal-to", r.cert.string()};
    if (!caps.empty()) extra.insert(extra.end(), {"--seal-capabilities", caps});
    const ProcessResult p = sign_sealed(extra);
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    EXPECT_NE(p.out.find(std::string("smime-type=") + smime_type + ";"), std::string::npos);
    EXPECT_NE(p.out.find("\r\nSubject: Your statement\r\n"), std::string::npos);  // no header confidentiality
    const OpenResult by_openssl = open_openssl(p.out, r.key, r.cert);
    expect_opened_and_verified(p.out, by_openssl, "openssl");
    const OpenResult by_nss = open_nss(p.out, r.key, r.cert);
    EXPECT_EQ(by_nss.ok, nss_opens) << by_nss.details;
    if (nss_opens) {
        expect_opened_and_verified(p.out, by_nss, "nss");
        EXPECT_EQ(by_nss.content, by_openssl.content);
    }
    const OpenResult by_gpgsm = open_gpgsm(p.out, r.key, r.cert);
    EXPECT_EQ(by_gpgsm.ok, gpgsm_opens) << by_gpgsm.details;
    if (gpgsm_opens) {
        expect_opened_and_verified(p.out, by_gpgsm, "gpgsm");
        EXPECT_EQ(by_gpgsm.content, by_openssl.content);
    }
}

// The baseline every client opens (RFC 8551 §2.4.2, §2.7 MUSTs).
TEST(SealCli, RsaPkcs1AesCbcOpensEverywhere) { check_variant("RSA:2048", "", "enveloped-data", true, true); }
// What the others cannot open (docs/SEALED-FORMAT.md): NSS 3.87 cmsutil
// says SEC_ERROR_UNSUPPORTED_KEYALG for RSA-OAEP, SEC_ERROR_BAD_DER for
// ECDH key agreement (as for `openssl cms -encrypt` to an EC key) and
// SEC_ERROR_UNRECOGNIZED_OID for AuthEnvelopedData; gpgsm 2.2.40 fails to
// get the session key from RSA-OAEP, cannot read the GCM parameters
// ("error getting IV"), and crashes importing an EC PKCS#12, so it never
// gets an EC key. ribbon chooses these only when the recipient's own client
// listed them in its sMIMECapabilities.
TEST(SealCli, RsaOaepOpensWithOpensslOnly) {
    check_variant("RSA:2048", "rsaes-oaep", "enveloped-data", false, false);
}
TEST(SealCli, RsaOaepSha256OpensWithOpensslOnly) {
    check_variant("RSA:2048", "rsaes-oaep-sha256", "enveloped-data", false, false);
}
TEST(SealCli, EcP256OpensWithOpensslOnly) { check_variant("EC:P-256", "", "enveloped-data", false, false); }
TEST(SealCli, AesGcmOpensWithOpensslOnly) {
    check_variant("RSA:2048", "id-aes256-gcm", "authEnveloped-data", false, false);
}

TEST(SealCli, SeveralRecipientsEachOpen) {
    TempDir dir("ribbon-seal-cli-many");
    const Recipient a = make_recipient(dir, "alice", "RSA:2048");
    const Recipient b = make_recipient(dir, "bob", "EC:P-256");
    const ProcessResult p = sign_sealed({"--seal-to", a.cert.string(), "--seal-to", b.cert.string()});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    expect_opened_and_verified(p.out, open_openssl(p.out, a.key, a.cert), "openssl alice");
    expect_opened_and_verified(p.out, open_openssl(p.out, b.key, b.cert), "openssl bob");
    // NSS 3.87 refuses the whole message once any RecipientInfo is a key
    // agreement one (SEC_ERROR_BAD_DER), even for the RSA recipient
    // (docs/SEALED-FORMAT.md).
    const OpenResult nss_alice = open_nss(p.out, a.key, a.cert);
    EXPECT_FALSE(nss_alice.ok) << nss_alice.details;
    EXPECT_NE(nss_alice.details.find("SEC_ERROR_BAD_DER"), std::string::npos) << nss_alice.details;
    expect_opened_and_verified(p.out, open_gpgsm(p.out, a.key, a.cert), "gpgsm alice");
}

// --seal-to takes one FILE: the message file after it stays the input.
TEST(SealCli, MessageFileAfterSealToIsTheInput) {
    TempDir dir("ribbon-seal-cli-file");
    const Recipient a = make_recipient(dir, "alice", "RSA:2048");
    write_file(dir / "msg.eml", kStatement);
    const ProcessResult p = run_process({ribbon_binary(), "sign", "--key", pki().rsa.key.string(), "--cert",
                                         pki().rsa.cert.string(), "--chain", pki().chain.string(), "--seal-to",
                                         a.cert.string(),
                                         (dir / "msg.eml").string()});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    expect_opened_and_verified(p.out, open_openssl(p.out, a.key, a.cert), "openssl");
}

TEST(SealCli, RefusedCertificateWritesNothing) {
    TempDir dir("ribbon-seal-cli-refused");
    CertSpec s;
    s.key = "RSA:2048";
    s.key_usage = "critical,digitalSignature";
    MadeCert made = make_self_signed(s);
    write_file(dir / "sign-only.pem", made.cert_pem);
    const fs::path out = dir / "out.eml";
    const ProcessResult p = sign_sealed({"--seal-to", (dir / "sign-only.pem").string(), "-o", out.string()});
    EXPECT_EQ(p.exit_code, 65) << p.describe();
    EXPECT_NE(p.err.find("[seal_key_usage]"), std::string::npos) << p.err;
    EXPECT_EQ(p.out, "");
    EXPECT_FALSE(fs::exists(out));
    const ProcessResult caps_alone = sign_sealed({"--seal-capabilities", "id-aes256-gcm"});
    EXPECT_NE(caps_alone.exit_code, 0);
    EXPECT_EQ(caps_alone.out, "");
}

}  // namespace
}  // namespace ribbon::test
