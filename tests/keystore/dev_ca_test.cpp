// Unit tests of src/keystore/dev_ca.cpp (DevCa, parse_new_key_type in
// ribbon/keystore.hpp): the certificates the throw-away CA makes, read back
// with `openssl x509` and checked with `openssl verify` — the root's CA
// profile (RFC 5280 §4.2.1.9, §4.2.1.3), the S/MIME leaf profile (RFC 8550
// §4.4: rfc822Name, digitalSignature, emailProtection), 16-octet positive
// serials (RFC 5280 §4.1.2.2), validity defaults and options — and its
// refusals by exact Errc and message. Filing and StrictModes are
// tests/keystore_test.cpp's and tests/keystore_strict_modes_test.cpp's.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "ribbon/keystore.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

struct Store {
    test::TempDir tmp{"ribbon-devca"};
    Keystore ks{tmp.path() / "ids"};
};

std::string x509_text(const fs::path& cert) {
    auto r = test::run_process(
        {"openssl", "x509", "-in", cert.string(), "-noout", "-text", "-certopt", "no_sigdump"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return r.out;
}

std::string x509_field(const fs::path& cert, const char* option) {
    auto r = test::run_process({"openssl", "x509", "-in", cert.string(), "-noout", option});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    std::string out = r.out.substr(r.out.find('=') + 1);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::time_t x509_time(const fs::path& cert, const char* option) {
    std::tm tm{};
    strptime(x509_field(cert, option).c_str(), "%b %d %H:%M:%S %Y GMT", &tm);
    return timegm(&tm);
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

void expect_error(const Error& e, Errc code, const std::string& message) {
    EXPECT_EQ(errc_name(e.code()), errc_name(code));
    EXPECT_EQ(e.kind(), ErrorKind::permanent);
    EXPECT_EQ(e.message(), message);
}

TEST(DevCa, ParseNewKeyTypeKnowsThreeNames) {
    EXPECT_EQ(parse_new_key_type("rsa2048"), NewKeyType::rsa2048);
    EXPECT_EQ(parse_new_key_type("rsa3072"), NewKeyType::rsa3072);
    EXPECT_EQ(parse_new_key_type("ec-p256"), NewKeyType::ec_p256);
    for (const char* other : {"", "RSA2048", "ec-p384", "ec_p256", "rsa4096"}) {
        EXPECT_EQ(parse_new_key_type(other), std::nullopt) << other;
    }
}

TEST(DevCa, RootIsACaForCertificatesOnlyAndSaysTestOnly) {
    Store s;
    const auto before = std::chrono::system_clock::now();
    auto root = DevCa::init(s.ks);
    ASSERT_TRUE(root.ok()) << root.error().message();
    EXPECT_EQ(*root, DevCa::cert_file(s.ks));
    EXPECT_EQ(*root, s.ks.dir() / "dev-ca" / "ca.pem");
    EXPECT_EQ(DevCa::key_file(s.ks), s.ks.dir() / "dev-ca" / "ca.key");
    const std::string text = x509_text(*root);
    EXPECT_TRUE(contains(text, "Subject: CN = ribbon dev CA (TEST ONLY)")) << text;
    EXPECT_TRUE(contains(text, "Issuer: CN = ribbon dev CA (TEST ONLY)")) << text;
    EXPECT_TRUE(
        contains(text, "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0"))
        << text;
    EXPECT_TRUE(
        contains(text, "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"))
        << text;
    EXPECT_TRUE(contains(text, "X509v3 Subject Key Identifier")) << text;
    EXPECT_TRUE(contains(text, "Public Key Algorithm: id-ecPublicKey")) << text;
    EXPECT_TRUE(contains(text, "ASN1 OID: prime256v1")) << text;
    EXPECT_TRUE(contains(text, "Signature Algorithm: ecdsa-with-SHA256")) << text;
    // Ten years from an hour ago.
    const std::time_t start = x509_time(*root, "-startdate");
    const std::time_t end = x509_time(*root, "-enddate");
    const std::time_t t0 = std::chrono::system_clock::to_time_t(before);
    EXPECT_NEAR(static_cast<double>(start), static_cast<double>(t0 - 3600), 5);
    EXPECT_EQ(end - start, 3650L * 24 * 3600 + 3600);
}

TEST(DevCa, InitRefusesRsa2048AndASecondCa) {
    Store s;
    auto rsa2048 = DevCa::init(s.ks, NewKeyType::rsa2048);
    ASSERT_FALSE(rsa2048.ok());
    expect_error(rsa2048.error(), Errc::unsupported_key, "the dev CA's root is ec-p256 or rsa3072");
    EXPECT_FALSE(fs::exists(s.ks.dir() / "dev-ca"));
    ASSERT_TRUE(DevCa::init(s.ks).ok());
    const std::string first = test::read_file(DevCa::cert_file(s.ks));
    auto again = DevCa::init(s.ks);
    ASSERT_FALSE(again.ok());
    expect_error(again.error(), Errc::io_error,
                 "a dev CA already exists in " + (s.ks.dir() / "dev-ca").string());
    EXPECT_EQ(test::read_file(DevCa::cert_file(s.ks)), first);
}

TEST(DevCa, IssuedCertificateHasTheSmimeProfileAndVerifies) {
    Store s;
    ASSERT_TRUE(DevCa::init(s.ks).ok());
    const auto before = std::chrono::system_clock::now();
    auto cert = DevCa::issue(s.ks, "No-Reply@Bank.Example");
    ASSERT_TRUE(cert.ok()) << cert.error().message();
    const std::string text = x509_text(*cert);
    // The address in its normal form, as the subject CN and rfc822Name.
    EXPECT_TRUE(contains(text, "Subject: CN = no-reply@bank.example")) << text;
    EXPECT_TRUE(contains(text, "Issuer: CN = ribbon dev CA (TEST ONLY)")) << text;
    EXPECT_TRUE(contains(text, "X509v3 Basic Constraints: critical\n                CA:FALSE"))
        << text;
    EXPECT_TRUE(contains(text, "X509v3 Key Usage: critical\n                Digital Signature\n"))
        << text;
    EXPECT_TRUE(contains(text, "X509v3 Extended Key Usage: \n                E-mail Protection\n"))
        << text;
    EXPECT_TRUE(contains(
        text, "X509v3 Subject Alternative Name: \n                email:no-reply@bank.example\n"))
        << text;
    EXPECT_TRUE(contains(text, "X509v3 Authority Key Identifier")) << text;
    // RFC 5280 §4.1.2.2: positive, at most 20 octets; here always 16.
    const std::string serial = x509_field(*cert, "-serial");
    EXPECT_EQ(serial.size(), 32u) << serial;
    EXPECT_TRUE(serial[0] >= '4' && serial[0] <= '7') << serial;
    // A year from an hour ago by default.
    const std::time_t start = x509_time(*cert, "-startdate");
    const std::time_t t0 = std::chrono::system_clock::to_time_t(before);
    EXPECT_NEAR(static_cast<double>(start), static_cast<double>(t0 - 3600), 5);
    EXPECT_NEAR(static_cast<double>(x509_time(*cert, "-enddate")),
                static_cast<double>(t0 + 365L * 24 * 3600), 5);
    // openssl verify accepts it for S/MIME signing under the dev CA.
    auto verify =
        test::run_process({"openssl", "verify", "-CAfile", DevCa::cert_file(s.ks).string(),
                           "-purpose", "smimesign", cert->string()});
    EXPECT_EQ(verify.exit_code, 0) << verify.describe();
    // Two certificates never share a serial.
    auto second = DevCa::issue(s.ks, "other@bank.example");
    ASSERT_TRUE(second.ok());
    EXPECT_NE(x509_field(*second, "-serial"), serial);
}

TEST(DevCa, IssueHonoursKeyTypeAndValidity) {
    Store s;
    ASSERT_TRUE(DevCa::init(s.ks).ok());
    DevCaIssueOptions o;
    o.type = NewKeyType::rsa2048;
    o.not_before = std::chrono::system_clock::from_time_t(1796552430);
    o.not_after = std::chrono::system_clock::from_time_t(2556144000);  // 2051: GeneralizedTime
    auto cert = DevCa::issue(s.ks, "rsa@bank.example", o);
    ASSERT_TRUE(cert.ok()) << cert.error().message();
    const std::string text = x509_text(*cert);
    EXPECT_TRUE(contains(text, "Public Key Algorithm: rsaEncryption")) << text;
    EXPECT_TRUE(contains(text, "Public-Key: (2048 bit)")) << text;
    // Signed by the CA's EC key whatever the leaf's type.
    EXPECT_TRUE(contains(text, "Signature Algorithm: ecdsa-with-SHA256")) << text;
    EXPECT_EQ(x509_time(*cert, "-startdate"), 1796552430);
    EXPECT_EQ(x509_time(*cert, "-enddate"), 2556144000);
    // `days` when no end is given.
    DevCaIssueOptions days;
    days.not_before = std::chrono::system_clock::from_time_t(1796552430);
    days.days = 2;
    auto short_lived = DevCa::issue(s.ks, "short@bank.example", days);
    ASSERT_TRUE(short_lived.ok());
    EXPECT_GT(x509_time(*short_lived, "-enddate"), std::time(nullptr) + 2 * 24 * 3600 - 60);
    EXPECT_LE(x509_time(*short_lived, "-enddate"), std::time(nullptr) + 2 * 24 * 3600);
}

TEST(DevCa, IssueRefusals) {
    Store s;
    auto no_ca = DevCa::issue(s.ks, "a@bank.example");
    ASSERT_FALSE(no_ca.ok());
    expect_error(no_ca.error(), Errc::io_error,
                 "no dev CA in " + s.ks.dir().string() + " (run `ribbon keys dev-ca init` first)");
    ASSERT_TRUE(DevCa::init(s.ks).ok());
    auto bad_address = DevCa::issue(s.ks, "a@..");
    ASSERT_FALSE(bad_address.ok());
    EXPECT_EQ(bad_address.error().code(), Errc::malformed_message);
    DevCaIssueOptions backwards;
    backwards.not_before = std::chrono::system_clock::from_time_t(1796552430);
    backwards.not_after = backwards.not_before;
    auto empty = DevCa::issue(s.ks, "a@bank.example", backwards);
    ASSERT_FALSE(empty.ok());
    expect_error(empty.error(), Errc::bad_certificate,
                 "the certificate would end before it starts");
    // A damaged CA certificate: refused as bad_key, naming the directory.
    test::write_file(DevCa::cert_file(s.ks), "garbage\n");
    auto damaged = DevCa::issue(s.ks, "a@bank.example");
    ASSERT_FALSE(damaged.ok());
    expect_error(damaged.error(), Errc::bad_key,
                 "the dev CA in " + (s.ks.dir() / "dev-ca").string() + " is damaged");
}

}  // namespace
}  // namespace ribbon
