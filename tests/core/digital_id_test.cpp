// Unit tests of src/core/digital_id.cpp (ribbon/digital_id.hpp): what
// loading a Digital ID checks without a clock — the key opens (encrypted
// keys with their password), belongs to the certificate, is a type S/MIME
// signers may use (RSA >= 2048, ECDSA P-256/P-384), and the certificate
// allows digitalSignature and emailProtection (RFC 8550 §4.4) — each
// refusal by exact Errc and message; the chain kept without roots (RFC 8551
// §2.4.1); and covers_address() (RFC 8550 §3). Encrypted keys are made at
// run time with `openssl pkey`; other shapes with support/cert_maker.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/digital_id_impl.hpp"
#include "support/cert_maker.hpp"
#include "support/cms_inspect.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon {
namespace {

namespace fs = std::filesystem;
using test::pki;

void expect_error(const Result<DigitalId>& r, Errc code, const std::string& message) {
    ASSERT_FALSE(r.ok()) << "expected: " << message;
    EXPECT_EQ(errc_name(r.error().code()), errc_name(code));
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(), message);
}

std::string der_of(X509* cert) {
    unsigned char* out = nullptr;
    int len = i2d_X509(cert, &out);
    std::string der(reinterpret_cast<char*>(out), static_cast<std::size_t>(len > 0 ? len : 0));
    OPENSSL_free(out);
    return der;
}

// ---- what loads ---------------------------------------------------------------

TEST(DigitalId, LoadsTheTestPkisIdsWithTheIntermediateOnly) {
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        auto id = DigitalId::load(leaf->key, leaf->cert, pki().chain);
        ASSERT_TRUE(id.ok()) << id.error().message();
        EXPECT_EQ(id->certificate().addresses, std::vector<std::string>{"no-reply@bank.example"});
        ASSERT_EQ(id->impl().chain.size(), 1u);
        EXPECT_EQ(der_of(id->impl().chain[0].get()), test::cert_der(pki().intermediate_cert));
        EXPECT_EQ(der_of(id->impl().cert.get()), test::cert_der(leaf->cert));
    }
    EXPECT_EQ(DigitalId::load(pki().rsa.key, pki().rsa.cert)->certificate().key_description,
              "RSA-2048");
    EXPECT_EQ(DigitalId::load(pki().ecdsa.key, pki().ecdsa.cert)->certificate().key_description,
              "ECDSA P-256");
    EXPECT_TRUE(DigitalId::load(pki().rsa.key, pki().rsa.cert)->impl().chain.empty());
}

TEST(DigitalId, RootsAreLeftOutOfTheChainAndExtraCertificatesJoinIt) {
    const std::string key = test::read_file(pki().rsa.key);
    const std::string leaf = test::read_file(pki().rsa.cert);
    const std::string intermediate = test::read_file(pki().intermediate_cert);
    const std::string root = test::read_file(pki().root_cert);
    // RFC 8551 §2.4.1: the receiver has the root; sending it adds bytes only.
    auto with_root = DigitalId::from_pem(key, leaf, intermediate + root);
    ASSERT_TRUE(with_root.ok());
    ASSERT_EQ(with_root->impl().chain.size(), 1u);
    EXPECT_EQ(der_of(with_root->impl().chain[0].get()), test::cert_der(pki().intermediate_cert));
    // A certificate file with the chain after the leaf (a "full chain" file).
    auto full = DigitalId::from_pem(key, leaf + intermediate + root);
    ASSERT_TRUE(full.ok());
    ASSERT_EQ(full->impl().chain.size(), 1u);
    EXPECT_EQ(der_of(full->impl().cert.get()), test::cert_der(pki().rsa.cert));
}

TEST(DigitalId, AnExpiredCertificateLoadsBecauseTheClockIsTheSigners) {
    auto expired = DigitalId::load(pki().expired.key, pki().expired.cert, pki().chain);
    ASSERT_TRUE(expired.ok()) << expired.error().message();
    EXPECT_LT(expired->certificate().not_after, std::chrono::system_clock::now());
    EXPECT_TRUE(DigitalId::load(pki().not_yet_valid.key, pki().not_yet_valid.cert).ok());
}

TEST(DigitalId, EncryptedKeysNeedTheirPassword) {
    test::TempDir dir("ribbon-id");
    const fs::path encrypted = dir / "enc.key";
    auto r = test::run_process({"openssl", "pkey", "-in", pki().ecdsa.key.string(), "-aes256",
                                "-passout", "pass:s3cret", "-out", encrypted.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    expect_error(DigitalId::load(encrypted, pki().ecdsa.cert), Errc::wrong_password,
                 "the private key is encrypted and no password was given");
    expect_error(DigitalId::load(encrypted, pki().ecdsa.cert, std::nullopt, "wrong"),
                 Errc::wrong_password, "wrong password for the encrypted private key");
    EXPECT_TRUE(DigitalId::load(encrypted, pki().ecdsa.cert, std::nullopt, "s3cret").ok());
    // The traditional "Proc-Type: 4,ENCRYPTED" form too.
    const fs::path traditional = dir / "trad.key";
    auto t =
        test::run_process({"openssl", "pkey", "-in", pki().rsa.key.string(), "-traditional",
                           "-aes128", "-passout", "pass:s3cret", "-out", traditional.string()});
    ASSERT_EQ(t.exit_code, 0) << t.describe();
    ASSERT_NE(test::read_file(traditional).find("Proc-Type: 4,ENCRYPTED"), std::string::npos);
    expect_error(DigitalId::load(traditional, pki().rsa.cert), Errc::wrong_password,
                 "the private key is encrypted and no password was given");
    EXPECT_TRUE(DigitalId::load(traditional, pki().rsa.cert, std::nullopt, "s3cret").ok());
}

// ---- refusals -------------------------------------------------------------------

TEST(DigitalId, UnreadableInputsAreRefusedByWhatTheyAre) {
    test::TempDir dir("ribbon-id");
    const std::string cert = test::read_file(pki().rsa.cert);
    const std::string key = test::read_file(pki().rsa.key);
    auto bad_key = DigitalId::from_pem("not a key", cert);
    ASSERT_FALSE(bad_key.ok());
    EXPECT_EQ(bad_key.error().code(), Errc::bad_key);
    EXPECT_EQ(bad_key.error().message().rfind("the private key is not a readable PEM key (", 0), 0u)
        << bad_key.error().message();
    expect_error(DigitalId::from_pem(key, ""), Errc::bad_certificate,
                 "the certificate file holds no certificate");
    expect_error(DigitalId::from_pem(key, "just text\n"), Errc::bad_certificate,
                 "the certificate file holds no certificate");
    auto damaged =
        DigitalId::from_pem(key, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    ASSERT_FALSE(damaged.ok());
    EXPECT_EQ(damaged.error().code(), Errc::bad_certificate);
    EXPECT_EQ(damaged.error().message().rfind("the certificate file is not valid PEM (", 0), 0u);
    auto bad_chain = DigitalId::from_pem(
        key, cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    ASSERT_FALSE(bad_chain.ok());
    EXPECT_EQ(bad_chain.error().message().rfind("the chain file is not valid PEM (", 0), 0u);
    const fs::path missing = dir / "missing.pem";
    auto no_file = DigitalId::load(missing, pki().rsa.cert);
    ASSERT_FALSE(no_file.ok());
    EXPECT_EQ(no_file.error().code(), Errc::io_error);
    EXPECT_EQ(no_file.error().message(),
              "cannot read key file " + missing.string() + ": No such file or directory");
    auto no_chain = DigitalId::load(pki().rsa.key, pki().rsa.cert, missing);
    ASSERT_FALSE(no_chain.ok());
    EXPECT_EQ(no_chain.error().message(),
              "cannot read chain file " + missing.string() + ": No such file or directory");
}

TEST(DigitalId, AKeyOfAnotherCertificateIsAMismatch) {
    auto info = DigitalId::load(pki().rsa.key, pki().rsa.cert)->certificate();
    expect_error(DigitalId::load(pki().mismatched.key, pki().mismatched.cert), Errc::key_mismatch,
                 "the private key does not belong to certificate " + info.subject);
    expect_error(DigitalId::load(pki().ecdsa.key, pki().rsa.cert), Errc::key_mismatch,
                 "the private key does not belong to certificate " + info.subject);
}

TEST(DigitalId, OnlySmimeKeyTypesAreAccepted) {
    struct Case {
        const char* key;
        std::string error;  // empty: accepted
    };
    const Case cases[] = {
        {"RSA:1024", "RSA-1024 is too weak for S/MIME (RSA >= 2048)"},
        {"RSA:2047", "RSA-2047 is too weak for S/MIME (RSA >= 2048)"},
        {"RSA:2048", ""},
        {"EC:P-256", ""},
        {"EC:P-384", ""},
        {"EC:P-521", "ECDSA secp521r1 is not an S/MIME curve (P-256, P-384)"},
    };
    for (const Case& c : cases) {
        test::CertSpec spec;
        spec.key = c.key;
        test::MadeCert made = test::make_self_signed(spec);
        auto id = DigitalId::from_pem(made.key_pem, made.cert_pem);
        if (c.error.empty()) {
            EXPECT_TRUE(id.ok()) << c.key << ": " << id.error().message();
        } else {
            expect_error(id, Errc::unsupported_key, c.error);
        }
    }
}

TEST(DigitalId, TheCertificateMustAllowMailSigning) {
    struct Case {
        std::string key_usage;
        std::string extended;
        std::string error;  // empty: accepted
    };
    const std::string subject = "CN=Usage";
    const Case cases[] = {
        // RFC 5280 §4.2.1.3 / §4.2.1.12: an absent extension allows any use.
        {"", "", ""},
        {"critical,digitalSignature", "emailProtection", ""},
        {"critical,nonRepudiation", "", ""},
        {"", "anyExtendedKeyUsage", ""},
        {"critical,keyEncipherment", "",
         "certificate " + subject + " does not allow digitalSignature (keyUsage)"},
        {"digitalSignature", "clientAuth,serverAuth",
         "certificate " + subject + " does not allow emailProtection (extendedKeyUsage)"},
    };
    for (const Case& c : cases) {
        test::CertSpec spec;
        spec.subject = {{"CN", "Usage"}};
        spec.key_usage = c.key_usage;
        spec.extended_key_usage = c.extended;
        test::MadeCert made = test::make_self_signed(spec);
        auto id = DigitalId::from_pem(made.key_pem, made.cert_pem);
        if (c.error.empty()) {
            EXPECT_TRUE(id.ok()) << c.key_usage << "/" << c.extended << ": "
                                 << id.error().message();
        } else {
            expect_error(id, Errc::certificate_usage, c.error);
        }
    }
    auto pki_case = DigitalId::load(pki().no_email_eku.key, pki().no_email_eku.cert);
    ASSERT_FALSE(pki_case.ok());
    EXPECT_EQ(pki_case.error().code(), Errc::certificate_usage);
}

// ---- addresses ------------------------------------------------------------------

TEST(DigitalId, CoversAddressComparesAsMailClientsDo) {
    test::CertSpec spec;
    spec.san = {{GEN_EMAIL, "Statements@Bank.example"}, {GEN_EMAIL, "info@xn--bcher-kva.example"}};
    test::MadeCert made = test::make_self_signed(spec);
    auto id = DigitalId::from_pem(made.key_pem, made.cert_pem);
    ASSERT_TRUE(id.ok()) << id.error().message();
    EXPECT_TRUE(id->covers_address("statements@bank.example"));
    EXPECT_TRUE(id->covers_address("STATEMENTS@BANK.EXAMPLE"));
    EXPECT_TRUE(
        id->covers_address("info@b\xC3\xBC"
                           "cher.example"));  // U-label = A-label
    EXPECT_FALSE(id->covers_address("statement@bank.example"));
    EXPECT_FALSE(id->covers_address("statements@bank.example.evil"));
    EXPECT_FALSE(id->covers_address(""));
    test::CertSpec none;
    test::MadeCert bare = test::make_self_signed(none);
    auto anonymous = DigitalId::from_pem(bare.key_pem, bare.cert_pem);
    ASSERT_TRUE(anonymous.ok());
    EXPECT_FALSE(anonymous->covers_address("statements@bank.example"));
}

}  // namespace
}  // namespace ribbon
