// Unit tests of src/core/openssl_util.hpp: OpenSSL's error queue turned into
// ribbon errors, the small text helpers, and what describe_certificate()
// reads from a certificate — addresses by RFC 8550 §3 (subjectAltName
// rfc822Name, RFC 8398 SmtpUTF8Mailbox, else the subject's emailAddress),
// key descriptions, serial, validity, names in RFC 2253 form with UTF-8
// kept. Certificates are made in process for the cases the test PKI does
// not have (no key material leaves the test); the test PKI's are compared
// with `openssl x509`.
#include "core/openssl_util.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "support/cert_maker.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::ossl {
namespace {

using test::pki;

X509Ptr read_cert(const std::filesystem::path& pem_file) {
    const std::string pem = test::read_file(pem_file);
    BioPtr bio = mem_bio(pem);
    return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string openssl_x509(const std::filesystem::path& cert, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"openssl", "x509", "-in", cert.string(), "-noout"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = test::run_process(argv);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    std::string out = r.out.substr(r.out.find('=') + 1);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// A self-signed certificate of `spec`, as an owned X509.
X509Ptr make_cert(const test::CertSpec& spec) {
    test::MadeCert made = test::make_self_signed(spec);
    return X509Ptr(X509_dup(made.cert));
}

// ---- errors ----------------------------------------------------------------------

TEST(OpensslUtil, DrainErrorsEmptiesTheQueueInOrder) {
    ERR_clear_error();
    EXPECT_EQ(drain_errors(), "");
    ERR_raise(ERR_LIB_X509, X509_R_CERT_ALREADY_IN_HASH_TABLE);
    ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
    const std::string drained = drain_errors();
    EXPECT_EQ(drained,
              "error:05800065:x509 certificate routines::cert already in hash table; "
              "error:0480006C:PEM routines::no start line");
    EXPECT_EQ(ERR_peek_error(), 0ul);
    EXPECT_EQ(drain_errors(), "");
}

TEST(OpensslUtil, CryptoErrorIsInternalWithOpensslsReasons) {
    ERR_clear_error();
    Error bare = crypto_error("cannot do it");
    EXPECT_EQ(bare.code(), Errc::crypto_failure);
    EXPECT_EQ(bare.kind(), ErrorKind::internal);
    EXPECT_EQ(bare.message(), "cannot do it");
    ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
    Error with = crypto_error("cannot read the key");
    EXPECT_EQ(with.message(), "cannot read the key (error:0480006C:PEM routines::no start line)");
    EXPECT_EQ(ERR_peek_error(), 0ul);
}

// ---- text helpers ----------------------------------------------------------------

TEST(OpensslUtil, HexIsLowerCaseTwoDigitsPerOctet) {
    const unsigned char bytes[] = {0x00, 0x0f, 0xa0, 0xff, 0x5a};
    EXPECT_EQ(hex(bytes, sizeof bytes), "000fa0ff5a");
    EXPECT_EQ(hex(bytes, 0), "");
}

TEST(OpensslUtil, MemBioReadsTheBytesBack) {
    const std::string data("a\0b", 3);
    BioPtr bio = mem_bio(data);
    char buf[8] = {};
    EXPECT_EQ(BIO_read(bio.get(), buf, sizeof buf), 3);
    EXPECT_EQ(std::string(buf, 3), data);
}

// ---- times -----------------------------------------------------------------------

TEST(OpensslUtil, Asn1TimesAreUtcSeconds) {
    using std::chrono::system_clock;
    auto parsed = [](const char* text) {
        std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>> t(ASN1_TIME_new());
        EXPECT_EQ(ASN1_TIME_set_string(t.get(), text), 1) << text;
        return asn1_time_to_timepoint(t.get());
    };
    EXPECT_EQ(parsed("261206102030Z"), system_clock::from_time_t(1796552430));    // UTCTime
    EXPECT_EQ(parsed("20500101000000Z"), system_clock::from_time_t(2524608000));  // GeneralizedTime
    EXPECT_EQ(parsed("500101000000Z"), system_clock::from_time_t(-631152000));    // UTCTime 1950
    // "Until 9999" saturates where system_clock ends (2262) rather than wrapping.
    EXPECT_EQ(parsed("99991231235959Z"), TimePoint::max());
    EXPECT_EQ(asn1_time_to_timepoint(nullptr), TimePoint{});
}

TEST(OpensslUtil, TimeFromUnixSaturatesAndFormatUtcIsIso8601) {
    EXPECT_EQ(time_from_unix(0), TimePoint{});
    EXPECT_EQ(time_from_unix(INT64_MAX), TimePoint::max());
    EXPECT_EQ(time_from_unix(INT64_MIN), TimePoint::min());
    EXPECT_EQ(format_utc(time_from_unix(1796552430)), "2026-12-06T10:20:30Z");
    EXPECT_EQ(format_utc(time_from_unix(0)), "1970-01-01T00:00:00Z");
}

// ---- certificates ----------------------------------------------------------------

TEST(OpensslUtil, DescribeTheTestPkisCertificatesAsOpensslDoes) {
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        X509Ptr cert = read_cert(leaf->cert);
        ASSERT_TRUE(cert);
        CertificateInfo info = describe_certificate(cert.get());
        EXPECT_EQ(info.subject, openssl_x509(leaf->cert, {"-subject", "-nameopt", "RFC2253"}));
        EXPECT_EQ(info.issuer, openssl_x509(leaf->cert, {"-issuer", "-nameopt", "RFC2253"}));
        EXPECT_EQ(info.serial_hex, openssl_x509(leaf->cert, {"-serial"}));
        EXPECT_EQ(info.addresses, std::vector<std::string>{"no-reply@bank.example"});
        // Validity to the second, as `openssl x509 -dates` prints it.
        auto epoch = [](const std::string& date) {
            std::tm tm{};
            strptime(date.c_str(), "%b %d %H:%M:%S %Y GMT", &tm);
            return std::chrono::system_clock::from_time_t(timegm(&tm));
        };
        EXPECT_EQ(info.not_before, epoch(openssl_x509(leaf->cert, {"-startdate"})));
        EXPECT_EQ(info.not_after, epoch(openssl_x509(leaf->cert, {"-enddate"})));
    }
    CertificateInfo rsa = describe_certificate(read_cert(pki().rsa.cert).get());
    EXPECT_EQ(rsa.key_type, KeyType::rsa);
    EXPECT_EQ(rsa.key_bits, 2048);
    EXPECT_EQ(rsa.key_description, "RSA-2048");
    CertificateInfo ec = describe_certificate(read_cert(pki().ecdsa.cert).get());
    EXPECT_EQ(ec.key_type, KeyType::ecdsa);
    EXPECT_EQ(ec.key_bits, 256);
    EXPECT_EQ(ec.key_description, "ECDSA P-256");
}

TEST(OpensslUtil, EcdsaCurvesAreNamed) {
    const std::pair<const char*, const char*> curves[] = {
        {"P-256", "ECDSA P-256"}, {"P-384", "ECDSA P-384"}, {"P-521", "ECDSA secp521r1"}};
    for (const auto& [curve, description] : curves) {
        test::CertSpec spec;
        spec.key = std::string("EC:") + curve;
        spec.subject = {{"CN", "x"}};
        X509Ptr cert = make_cert(spec);
        ASSERT_TRUE(cert) << curve;
        EXPECT_EQ(describe_certificate(cert.get()).key_description, description);
    }
}

TEST(OpensslUtil, AddressesComeFromSubjectAltNameFirst) {
    // RFC 8550 §3: rfc822Name entries, and RFC 8398 SmtpUTF8Mailbox
    // otherNames (a UTF8String, U-labels allowed); other names ignored.
    test::CertSpec spec;
    spec.subject = {{"CN", "Bank"}, {"emailAddress", "legacy@bank.example"}};
    spec.san = {{GEN_EMAIL, "one@bank.example"},
                {GEN_DNS, "bank.example"},
                {GEN_OTHERNAME,
                 "j\xC3\xB6rg@b\xC3\xBC"
                 "cher.example"},
                {GEN_EMAIL, "two@bank.example"}};
    X509Ptr cert = make_cert(spec);
    ASSERT_TRUE(cert) << drain_errors();
    EXPECT_EQ(describe_certificate(cert.get()).addresses,
              (std::vector<std::string>{"one@bank.example",
                                        "j\xC3\xB6rg@b\xC3\xBC"
                                        "cher.example",
                                        "two@bank.example"}));
}

TEST(OpensslUtil, WithoutSanAddressesTheSubjectsEmailAddressIsTheFallback) {
    test::CertSpec spec;
    spec.subject = {
        {"CN", "Bank"}, {"emailAddress", "a@bank.example"}, {"emailAddress", "b@bank.example"}};
    X509Ptr plain = make_cert(spec);
    ASSERT_TRUE(plain);
    EXPECT_EQ(describe_certificate(plain.get()).addresses,
              (std::vector<std::string>{"a@bank.example", "b@bank.example"}));
    // A subjectAltName without any address does not hide the fallback.
    spec.san = {{GEN_DNS, "bank.example"}};
    X509Ptr dns_only = make_cert(spec);
    ASSERT_TRUE(dns_only);
    EXPECT_EQ(describe_certificate(dns_only.get()).addresses,
              (std::vector<std::string>{"a@bank.example", "b@bank.example"}));
    spec.subject = {{"CN", "Nobody"}};
    X509Ptr none = make_cert(spec);
    ASSERT_TRUE(none);
    EXPECT_TRUE(describe_certificate(none.get()).addresses.empty());
}

TEST(OpensslUtil, NamesAreRfc2253WithUtf8KeptAndSerialsUpperHex) {
    test::CertSpec spec;
    spec.subject = {{"O",
                     "B\xC3\xBC"
                     "cher, Inc."},
                    {"CN", "Caf\xC3\xA9+Bar"}};
    spec.serial = 0xABCDEF;
    X509Ptr cert = make_cert(spec);
    ASSERT_TRUE(cert);
    CertificateInfo info = describe_certificate(cert.get());
    // RFC 2253: most specific first, ',' and '+' escaped; UTF-8 left as is
    // so that a person can read it.
    EXPECT_EQ(info.subject,
              "CN=Caf\xC3\xA9\\+Bar,O=B\xC3\xBC"
              "cher\\, Inc.");
    EXPECT_EQ(info.issuer, info.subject);
    EXPECT_EQ(info.serial_hex, "ABCDEF");
    EXPECT_EQ(info.not_before, std::chrono::system_clock::from_time_t(1796552430));
    EXPECT_EQ(info.not_after, std::chrono::system_clock::from_time_t(2556144000));
}

}  // namespace
}  // namespace ribbon::ossl
