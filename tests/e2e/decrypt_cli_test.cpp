// decrypt_cli_test.cpp — `ribbon decrypt` against mail sealed by other
// implementations (tests/data/corpus: NSS cmsutil, OpenSSL, CryptoSys,
// gpgsm/KMail, the RFC 4134 authors) and by NSS cmsutil and gpgsm here,
// with the exact exit code, JSON result and, where the source gives it,
// the exact plaintext; and the output file: written whole on success, not
// at all otherwise.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/sign.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

fs::path corpus_dir() { return source_dir() / "tests" / "data" / "corpus"; }

// A corpus key as --key/--cert PEM files in `dir`.
enum class KeyName { tb_bob, fran, fran_ec, rfc4134_bob, lamps_bob, lamps_dana, autocrypt_bob, kde, smec3 };

void run_ok(const std::vector<std::string>& argv) {
    const ProcessResult r = run_process(argv);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
}

std::pair<fs::path, fs::path> key_files(const TempDir& dir, KeyName k) {
    const fs::path key = dir / "key.pem";
    const fs::path cert = dir / "cert.pem";
    const fs::path c = corpus_dir();
    auto from_p12 = [&](const fs::path& p12, const char* pass) {
        run_ok({"openssl", "pkcs12", "-in", p12.string(), "-passin", std::string("pass:") + pass, "-nodes",
                "-nocerts", "-out", key.string()});
        run_ok({"openssl", "pkcs12", "-in", p12.string(), "-passin", std::string("pass:") + pass, "-nokeys",
                "-clcerts", "-out", cert.string()});
    };
    switch (k) {
        case KeyName::tb_bob: from_p12(c / "thunderbird/smime/Bob.p12", "nss"); break;
        case KeyName::fran: from_p12(c / "thunderbird/smime-interop/Fran.p12", "nss"); break;
        case KeyName::fran_ec: from_p12(c / "thunderbird/smime-interop/Fran-ec.p12", "nss"); break;
        case KeyName::autocrypt_bob: {
            // A PEM-armoured PKCS#12 (the corpus README says so).
            std::string text = read_file(c / "autocrypt-protected-headers/bob.p12");
            write_file(dir / "armoured", text);
            run_ok({"openssl", "base64", "-d", "-in", (dir / "armoured").string(), "-out", (dir / "bob.der").string()});
            from_p12(dir / "bob.der", "bob");
            break;
        }
        case KeyName::rfc4134_bob:
            run_ok({"openssl", "pkey", "-inform", "DER", "-in", (c / "rfc4134/BobPrivRSAEncrypt.pri").string(), "-out", key.string()});
            run_ok({"openssl", "x509", "-inform", "DER", "-in", (c / "rfc4134/BobRSASignByCarl.cer").string(), "-out", cert.string()});
            break;
        case KeyName::lamps_bob:
            return {c / "ireland-examples-cms/certs-and-keys/lamps-bob.decrypt.p8.pem",
                    c / "ireland-examples-cms/certs-and-keys/lamps-bob.encrypt.crt"};
        case KeyName::lamps_dana:
            return {c / "ireland-examples-cms/certs-and-keys/lamps-dana.decrypt.p8.pem",
                    c / "ireland-examples-cms/certs-and-keys/lamps-dana.encrypt.crt"};
        case KeyName::kde:
            return {c / "kde-mimetreeparser/derived/unittest-key-cert.pem", c / "kde-mimetreeparser/derived/unittest-key-cert.pem"};
        case KeyName::smec3:
            return {c / "openssl/smime-certs/smec3.pem", c / "openssl/smime-certs/smec3.pem"};
    }
    return {key, cert};
}

struct Case {
    const char* name;
    const char* message;
    KeyName key;
    int exit_code;        // 0 opened, 1 opened but the signature inside not valid, 2.. errors
    const char* result;   // "opened" or the error code
    const char* inner;    // the inner verdict ("valid", "invalid"), nullptr: not signed / not opened
    const char* mention = nullptr;  // in the error message, or the plaintext's end
    std::vector<std::string> extra = {};
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

constexpr const char* kTbCa = "thunderbird/smime/TestCA.pem";
const std::string kFranText = "This is a test message to Fran.";
const std::string kRfc4134Text = "This is some sample content.";

std::vector<std::string> ca(const char* file) { return {"--ca", (corpus_dir() / file).string()}; }
std::vector<std::string> tb() { return ca(kTbCa); }
std::vector<std::string> tb_sha1() { return {"--ca", (corpus_dir() / kTbCa).string(), "--accept-sha1"}; }
std::vector<std::string> kde_at(const char* at, bool sha1 = false) {
    std::vector<std::string> v = {"--ca", (corpus_dir() / "kde-mimetreeparser/derived/all-certs.pem").string(), "--at", at};
    if (sha1) v.push_back("--accept-sha1");
    return v;
}

// clang-format off
const std::vector<Case>& cases() {
    static const std::vector<Case> all = {
        // Thunderbird / NSS cmsutil: sealed to Bob (RSA PKCS#1 v1.5).
        {"TbEnveloped", "thunderbird/smime/alice.env.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbDetachedSha256Inside", "thunderbird/smime/alice.dsig.SHA256.multipart.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbDetachedSha384Inside", "thunderbird/smime/alice.dsig.SHA384.multipart.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbDetachedSha512Inside", "thunderbird/smime/alice.dsig.SHA512.multipart.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        // [policy:sha1]: weak_algorithm by default (docs/VERIFY.md), valid when accepted.
        {"TbDetachedSha1Inside", "thunderbird/smime/alice.dsig.SHA1.multipart.env.eml", KeyName::tb_bob, 1, "opened", "invalid", nullptr, tb()},
        {"TbDetachedSha1InsideAccepted", "thunderbird/smime/alice.dsig.SHA1.multipart.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb_sha1()},
        {"TbOpaqueSha256Inside", "thunderbird/smime/alice.sig.SHA256.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbOpaqueSha384Inside", "thunderbird/smime/alice.sig.SHA384.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbOpaqueSha512Inside", "thunderbird/smime/alice.sig.SHA512.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbOpaqueSha1Inside", "thunderbird/smime/alice.sig.SHA1.opaque.env.eml", KeyName::tb_bob, 1, "opened", "invalid", nullptr, tb()},
        {"TbOpaqueSha1InsideAccepted", "thunderbird/smime/alice.sig.SHA1.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb_sha1()},
        {"TbHtmlSha256Inside", "thunderbird/smime/alice.html.sig.SHA256.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbHtmlSha384Inside", "thunderbird/smime/alice.html.sig.SHA384.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbHtmlSha512Inside", "thunderbird/smime/alice.html.sig.SHA512.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb()},
        {"TbHtmlSha1InsideAccepted", "thunderbird/smime/alice.html.sig.SHA1.opaque.env.eml", KeyName::tb_bob, 0, "opened", "valid", nullptr, tb_sha1()},
        // A signature around the sealed part (expected.tsv: decrypt-ok): taken
        // off, the sealed part opened; the plaintext inside is not signed.
        {"TbOpaqueAroundSealedSha256", "thunderbird/smime/alice.env.sig.SHA256.opaque.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbOpaqueAroundSealedSha1", "thunderbird/smime/alice.env.sig.SHA1.opaque.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbOpaqueAroundSealedSha384", "thunderbird/smime/alice.env.sig.SHA384.opaque.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbOpaqueAroundSealedSha512", "thunderbird/smime/alice.env.sig.SHA512.opaque.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbDetachedAroundSealedSha256", "thunderbird/smime/alice.env.dsig.SHA256.multipart.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbDetachedAroundSealedSha1", "thunderbird/smime/alice.env.dsig.SHA1.multipart.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbDetachedAroundSealedSha384", "thunderbird/smime/alice.env.dsig.SHA384.multipart.eml", KeyName::tb_bob, 0, "opened", nullptr},
        {"TbDetachedAroundSealedSha512", "thunderbird/smime/alice.env.dsig.SHA512.multipart.eml", KeyName::tb_bob, 0, "opened", nullptr},
        // Thunderbird's smime-interop: OpenSSL-made, RSA-OAEP variants and ECDH.
        {"FranOaep3Des", "thunderbird/smime-interop/fran-oaep_ossl.env", KeyName::fran, 0, "opened", nullptr, "This is a test message to Fran."},
        {"FranOaepLabel", "thunderbird/smime-interop/fran-oaep-label_ossl.env", KeyName::fran, 0, "opened", nullptr, "This is a test message to Fran."},
        {"FranOaepSha256", "thunderbird/smime-interop/fran-oaep-sha256hash_ossl.env", KeyName::fran, 0, "opened", nullptr, "This is a test message to Fran."},
        {"FranOaepSha256Mgf", "thunderbird/smime-interop/fran-oaep-sha256hash-sha256mgf_ossl.env", KeyName::fran, 0, "opened", nullptr, "This is a test message to Fran."},
        {"FranEcAes128", "thunderbird/smime-interop/fran-ec_ossl-aes128-sha256.env", KeyName::fran_ec, 0, "opened", nullptr, "This is a test message to Fran."},
        {"FranEcAes256", "thunderbird/smime-interop/fran-ec_ossl-aes256-sha512.env", KeyName::fran_ec, 0, "opened", nullptr, "This is a test message to Fran."},
        // RFC 4134.
        {"Rfc4134_5_1", "rfc4134/5.1.bin", KeyName::rfc4134_bob, 0, "opened", nullptr, "This is some sample content."},
        {"Rfc4134_5_3", "rfc4134/5.3.eml", KeyName::rfc4134_bob, 0, "opened", nullptr, "This is some sample content."},
        // RC2 is in OpenSSL 3's legacy provider, which ribbon does not load.
        {"Rfc4134_5_2Rc2", "rfc4134/5.2.bin", KeyName::rfc4134_bob, 6, "unsupported_algorithm", nullptr, "RC2-CBC"},
        // draft-ireland-examples-cms (CryptoSys).
        {"IrelandOaep", "ireland-examples-cms/binary-files/encryptedForBobRSAOaep.p7m", KeyName::lamps_bob, 0, "opened", nullptr, "This is some sample content."},
        {"IrelandOaepPem", "ireland-examples-cms/pem-encoded/encryptedForBobRSAOaep.pem", KeyName::lamps_bob, 0, "opened", nullptr, "This is some sample content."},
        {"IrelandBobAndDana", "ireland-examples-cms/binary-files/encryptedForBobAndDana.p7m", KeyName::lamps_bob, 0, "opened", nullptr, "This is some sample content."},
        {"IrelandBobAndDanaPem", "ireland-examples-cms/pem-encoded/encryptedForBobAndDana.pem", KeyName::lamps_bob, 0, "opened", nullptr, "This is some sample content."},
        {"IrelandDanaX25519", "ireland-examples-cms/binary-files/encryptedForBobAndDana.p7m", KeyName::lamps_dana, 6, "unsupported_algorithm", nullptr, "X25519"},
        {"IrelandChaCha20", "ireland-examples-cms/binary-files/authEnvelopedForBobChaCha20Poly1305.p7m", KeyName::lamps_bob, 6, "unsupported_algorithm", nullptr, "ChaCha20-Poly1305"},
        {"IrelandChaCha20Pem", "ireland-examples-cms/pem-encoded/authEnvelopedForBobChaCha20Poly1305.pem", KeyName::lamps_bob, 6, "unsupported_algorithm", nullptr, "ChaCha20-Poly1305"},
        {"IrelandX25519Hkdf", "ireland-examples-cms/binary-files/authEnvelopedForDanaX25519HKDF.p7m", KeyName::lamps_dana, 6, "unsupported_algorithm", nullptr, "X25519"},
        {"IrelandX25519HkdfPem", "ireland-examples-cms/pem-encoded/authEnvelopedForDanaX25519HKDF.pem", KeyName::lamps_dana, 6, "unsupported_algorithm", nullptr, "X25519"},
        {"IrelandX25519NotBob", "ireland-examples-cms/binary-files/authEnvelopedForDanaX25519HKDF.p7m", KeyName::lamps_bob, 4, "not_for_us", nullptr, "Sample LAMPS Ed25519 Certification Authority"},
        {"IrelandKekri", "ireland-examples-cms/binary-files/encryptedKekri.p7m", KeyName::lamps_bob, 4, "not_for_us", nullptr, "KEKRecipientInfo"},
        // autocrypt protected-headers (header protection's predecessor).
        {"AutocryptEncLegacyDisplay", "autocrypt-protected-headers/smime-enc+legacy-disp.eml", KeyName::autocrypt_bob, 0, "opened", nullptr},
        {"AutocryptSignEnc", "autocrypt-protected-headers/smime-sign+enc.eml", KeyName::autocrypt_bob, 0, "opened", "valid", nullptr, ca("autocrypt-protected-headers/sample-ca.pem")},
        {"AutocryptSignEncLegacyDisplay", "autocrypt-protected-headers/smime-sign+enc+legacy-disp.eml", KeyName::autocrypt_bob, 0, "opened", "valid", nullptr, ca("autocrypt-protected-headers/sample-ca.pem")},
        // KDE mimetreeparser (gpgsm).
        {"KdeEncrypted", "kde-mimetreeparser/testdata/smime-encrypted.mbox", KeyName::kde, 0, "opened", nullptr, "The quick brown fox"},
        {"KdeEncryptedOctetStream", "kde-mimetreeparser/testdata/smime-encrypted-octet-stream.mbox", KeyName::kde, 0, "opened", nullptr, "The quick brown fox"},
        // Signed in 2013 under a 2015 Date: invalid (date_mismatch) by ribbon's
        // Date rule, as KdeOpaqueAtSigningTime in corpus_verify_test.cpp.
        {"KdeOpaqueEncSign", "kde-mimetreeparser/testdata/smime-opaque-enc+sign.mbox", KeyName::kde, 1, "opened", "invalid", nullptr, kde_at("@1357832892", true)},
        {"KdeSignedEncrypted", "kde-mimetreeparser/testdata/smime-signed-encrypted.mbox", KeyName::kde, 0, "opened", "valid", nullptr, kde_at("@1283961092", true)},
        {"KdeSignedAfterExpiry", "kde-mimetreeparser/testdata/smime-opaque-signed-encrypted-attachment.mbox", KeyName::kde, 1, "opened", "invalid", nullptr, kde_at("@1466964726", true)},
        // The sealed part is part 2 of a multipart/mixed, opened in place. Its
        // signer is test@example.com, the From firstname.lastname@example.com:
        // invalid (from_not_in_certificate, RFC 8550 §3) where expected.tsv says valid.
        {"KdeAmbiguous", "kde-mimetreeparser/testdata/smime-encrypted-ambiguous-mime.mbox", KeyName::kde, 1, "opened", "invalid", nullptr, kde_at("@1357832892", true)},
        {"KdeNotSoAmbiguous", "kde-mimetreeparser/testdata/smime-encrypted-not-so-ambiguous-mime.mbox", KeyName::kde, 1, "opened", "invalid", nullptr, kde_at("@1357832892", true)},
        {"KdeP7mForSomeoneElse", "kde-mimetreeparser/testdata/smime.p7m", KeyName::kde, 4, "not_for_us", nullptr, "g10 Code"},
        // OpenSSL's test data.
        {"OpenSsl111Ecdh", "openssl/80-test_cms_data/ciphertext_from_1_1_1.cms", KeyName::smec3, 0, "opened", nullptr, "Somewhat longer test content for OpenSSL CMS utility"},
        {"OpenSslSignedAndEnvelopedPkcs7", "openssl/80-test_cms_data/pkcs7-md4-encrypted.pem", KeyName::smec3, 2, "not_sealed", nullptr},
    };
    return all;
}
// clang-format on

class CorpusDecrypt : public ::testing::TestWithParam<Case> {};

TEST_P(CorpusDecrypt, ExitCodeResultAndPlaintext) {
    const Case& c = GetParam();
    TempDir dir;
    const auto [key, cert] = key_files(dir, c.key);
    const fs::path out = dir / "opened.eml";
    std::vector<std::string> argv = {ribbon_binary(), "decrypt", "--json", "--key", key.string(), "--cert",
                                     cert.string(), "-o", out.string()};
    argv.insert(argv.end(), c.extra.begin(), c.extra.end());
    argv.push_back((corpus_dir() / c.message).string());
    const ProcessResult r = run_process(argv);
    ASSERT_EQ(r.exit_code, c.exit_code) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("result"), c.result) << j.dump(2);
    if (c.exit_code >= 2) {
        EXPECT_FALSE(fs::exists(out)) << "output written for " << c.result;
        if (c.mention != nullptr) {
            EXPECT_NE(j.at("error").at("message").get<std::string>().find(c.mention), std::string::npos) << j.dump(2);
        }
        return;
    }
    ASSERT_TRUE(fs::exists(out));
    const std::string opened = read_file(out);
    if (c.inner == nullptr) {
        EXPECT_TRUE(j.at("inner").is_null()) << j.dump(2);
    } else {
        EXPECT_EQ(j.at("inner").at("verdict"), c.inner) << j.dump(2);
    }
    if (c.mention != nullptr) {
        EXPECT_NE(opened.find(c.mention), std::string::npos) << opened;
    }
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusDecrypt, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// autocrypt's smime-enc+legacy-disp: the protected Subject replaces the
// outer "...", and the legacy-display part is gone; the rest is the
// source's own decrypted payload (*.inner, LF line ends like the input).
TEST(DecryptCli, ProtectedSubjectRestoredAndLegacyDisplayRemoved) {
    TempDir dir;
    const auto [key, cert] = key_files(dir, KeyName::autocrypt_bob);
    const ProcessResult r = run_process({ribbon_binary(), "decrypt", "--key", key.string(), "--cert", cert.string(),
                                         (corpus_dir() / "autocrypt-protected-headers/smime-enc+legacy-disp.eml").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\nSubject: BarCorp contract signed, let's go!\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Subject: ..."), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("protected-headers=\"v1\"\nContent-Disposition: inline"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Hi Bob!"), std::string::npos);
    EXPECT_NE(r.err.find("header protection: restored (legacy display part removed)"), std::string::npos) << r.err;
}

// RFC 4134 §5.1: the decrypted bytes are exactly ExContent.bin.
TEST(DecryptCli, Rfc4134PlaintextIsExact) {
    TempDir dir;
    const auto [key, cert] = key_files(dir, KeyName::rfc4134_bob);
    const ProcessResult r = run_process({ribbon_binary(), "decrypt", "--key", key.string(), "--cert", cert.string(),
                                         "-o", (dir / "out").string(), (corpus_dir() / "rfc4134/5.1.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(read_file(dir / "out"), read_file(corpus_dir() / "rfc4134/ExContent.bin"));
    EXPECT_NE(r.out.find("layer 1: enveloped-data, DES-EDE3-CBC, RSA PKCS#1 v1.5: opened with"), std::string::npos) << r.out;
}

// Nothing is written, and an existing OUT is left as it was, unless the
// message opened.
TEST(DecryptCli, FailureWritesNothing) {
    TempDir dir;
    const auto [key, cert] = key_files(dir, KeyName::lamps_bob);
    write_file(dir / "garbage.p7m", std::string("\x30\x82\x01\x00garbage", 8));
    write_file(dir / "kept", "earlier output\n");
    struct Bad {
        fs::path input;
        int exit_code;
        const char* code;
    };
    const Bad bad[] = {
        {dir / "garbage.p7m", 5, "damaged"},
        {corpus_dir() / "ireland-examples-cms/binary-files/encryptedKekri.p7m", 4, "not_for_us"},
        {corpus_dir() / "ireland-examples-cms/binary-files/authEnvelopedForBobChaCha20Poly1305.p7m", 6, "unsupported_algorithm"},
        {corpus_dir() / "thunderbird/smime/alice.dsig.SHA256.multipart.eml", 2, "not_sealed"},
        {dir / "missing.p7m", 3, "io_error"},
    };
    for (const Bad& b : bad) {
        const ProcessResult r = run_process({ribbon_binary(), "decrypt", "--json", "--key", key.string(), "--cert",
                                             cert.string(), "-o", (dir / "kept").string(), b.input.string()});
        EXPECT_EQ(r.exit_code, b.exit_code) << r.describe();
        EXPECT_EQ(nlohmann::json::parse(r.out).at("error").at("code"), b.code) << r.out;
        EXPECT_NE(r.err.find(std::string("[") + b.code + "]"), std::string::npos) << r.err;
        EXPECT_EQ(read_file(dir / "kept"), "earlier output\n");
    }
    for (const auto& e : fs::directory_iterator(dir.path())) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    }
}

TEST(DecryptCli, OversizeMessageIsRefused) {
    TempDir dir;
    const auto [key, cert] = key_files(dir, KeyName::lamps_bob);
    const fs::path in = corpus_dir() / "ireland-examples-cms/binary-files/encryptedForBobRSAOaep.p7m";
    const ProcessResult r = run_process({ribbon_binary(), "decrypt", "--key", key.string(), "--cert", cert.string(),
                                         "--max-message-size", "100", "-o", (dir / "out").string(), in.string()});
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    EXPECT_NE(r.err.find("[limit_exceeded]"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(DecryptCli, NoUsableKeyIsSeven) {
    TempDir dir;
    const ProcessResult r = run_process({ribbon_binary(), "decrypt", "--key", pki().mismatched.key.string(), "--cert",
                                         pki().mismatched.cert.string(), (corpus_dir() / "rfc4134/5.1.bin").string()});
    EXPECT_EQ(r.exit_code, 7) << r.describe();
    EXPECT_NE(r.err.find("[key_mismatch]"), std::string::npos) << r.err;
}

// NSS cmsutil seals (RSA PKCS#1 v1.5, its default cipher); ribbon opens
// to the exact bytes.
TEST(DecryptCli, OpensWhatNssCmsutilSeals) {
    TempDir dir;
    const fs::path db = dir / "nssdb";
    fs::create_directories(db);
    run_ok({"certutil", "-N", "-d", "sql:" + db.string(), "--empty-password"});
    run_ok({"certutil", "-A", "-d", "sql:" + db.string(), "-n", "customer", "-t", ",,", "-i", pki().rsa.cert.string()});
    const std::string plain = "Content-Type: text/plain\r\n\r\nSealed by NSS.\r\n";
    write_file(dir / "plain", plain);
    run_ok({"cmsutil", "-E", "-d", "sql:" + db.string(), "-r", "customer", "-i", (dir / "plain").string(), "-o",
            (dir / "sealed.p7m").string()});
    const ProcessResult r = run_process({ribbon_binary(), "decrypt", "--key", pki().rsa.key.string(), "--cert",
                                         pki().rsa.cert.string(), "-o", (dir / "out").string(),
                                         (dir / "sealed.p7m").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(read_file(dir / "out"), plain);
}

// Signed by ribbon (RFC 9788 protected Subject, hp="clear"), then sealed
// with the outer Subject obscured, as RFC 9788 senders of encrypted mail
// do: opening restores the protected Subject outside, and the signature
// inside verifies with it.
TEST(DecryptCli, SignedThenSealedWithObscuredSubjectVerifies) {
    const std::string message = "From: " + pki().address + "\r\nTo: customer@example.com\r\n"
                                "Subject: Your November statement\r\nDate: " + rfc5322_date(std::time(nullptr)) +
                                "\r\nMessage-ID: <stmt-1@bank.example>\r\nContent-Type: text/plain\r\n\r\n"
                                "Balance: 1,234.56\r\n";
    std::string signed_message;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message, {}, signed_message));
    // The signed entity: the signed message's Content-* fields and body.
    const std::size_t body = signed_message.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos);
    std::string entity;
    bool content_field = false;
    std::size_t at = 0;
    while (at < body + 2) {
        const std::size_t eol = signed_message.find("\r\n", at) + 2;
        const std::string line = signed_message.substr(at, eol - at);
        if (line[0] != ' ' && line[0] != '\t') content_field = line.rfind("Content-", 0) == 0;
        if (content_field) entity += line;
        at = eol;
    }
    entity += signed_message.substr(body + 2);
    const std::string sealed = openssl_sealed_message(
        entity, "From: " + pki().address + "\r\nTo: customer@example.com\r\nSubject: [...]\r\nDate: " +
                    rfc5322_date(std::time(nullptr)) + "\r\nMessage-ID: <stmt-1@bank.example>\r\n");
    TempDir dir;
    write_file(dir / "sealed.eml", sealed);
    const ProcessResult r = run_process({ribbon_binary(), "decrypt", "--json", "--key", pki().rsa.key.string(),
                                         "--cert", pki().rsa.cert.string(), "--ca", pki().root_cert.string(), "-o",
                                         (dir / "out.eml").string(), (dir / "sealed.eml").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("inner").at("verdict"), "valid") << j.dump(2);
    EXPECT_TRUE(j.at("header_protection").get<bool>());
    const std::string opened = read_file(dir / "out.eml");
    EXPECT_NE(opened.find("\r\nSubject: Your November statement\r\n"), std::string::npos) << opened;
    EXPECT_EQ(opened.find("Subject: [...]"), std::string::npos) << opened;
}

}  // namespace
}  // namespace ribbon::test
