// corpus_verify_test.cpp — `ribbon verify` against signed mail made by other
// implementations (tests/data/corpus, see its README.md for sources and for
// why some verdicts differ from the source's own).
//
// Each row is one message with its trust anchors, verification time, the
// exact exit code and reason, and facts of the JSON report that must hold.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

struct Case {
    const char* name;  // test name suffix
    const char* message;
    std::vector<const char*> anchors;
    const char* at;      // --at, or nullptr
    int exit_code;       // 0 valid, 1 invalid, 2 not signed
    const char* reason;  // reason in the JSON report
    bool opaque = false;
    const char* digest = nullptr;  // expected digest_algorithm, if checked
    bool header_protection = false;
    bool accept_sha1 = false;  // --accept-sha1: for SHA-1 cases that test something else
};

// For ctest's test names and failure messages: the case, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " (" << c.message << ")"; }

constexpr const char* kTbCa = "thunderbird/smime/TestCA.pem";
constexpr const char* kKdeCa = "kde-mimetreeparser/derived/all-certs.pem";

// clang-format off
// One row per case: name, message, anchors, --at, exit, reason, opaque,
// digest, header protection, --accept-sha1. SHA-1 signatures are
// weak_algorithm by default (docs/VERIFY.md); cases that test another
// property of a SHA-1 message accept SHA-1.
const std::vector<Case>& cases() {
    static const std::vector<Case> all = {
        // Thunderbird / NSS cmsutil.
        {"TbDetachedSha256", "thunderbird/smime/alice.dsig.SHA256.multipart.eml", {kTbCa}, nullptr, 0, "none", false, "sha256"},
        {"TbDetachedSha256Bad", "thunderbird/smime/alice.dsig.SHA256.multipart.bad.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbMismatchEcontent", "thunderbird/smime/alice.dsig.SHA256.multipart.mismatch-econtent.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbDetachedSha1", "thunderbird/smime/alice.dsig.SHA1.multipart.eml", {kTbCa}, nullptr, 1, "weak_algorithm", false, "sha1"},
        {"TbDetachedSha1Accepted", "thunderbird/smime/alice.dsig.SHA1.multipart.eml", {kTbCa}, nullptr, 0, "none", false, "sha1", false, true},
        {"TbDetachedSha1Bad", "thunderbird/smime/alice.dsig.SHA1.multipart.bad.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbDetachedSha512", "thunderbird/smime/alice.dsig.SHA512.multipart.eml", {kTbCa}, nullptr, 0, "none", false, "sha512"},
        {"TbOpaqueSha256", "thunderbird/smime/alice.sig.SHA256.opaque.eml", {kTbCa}, nullptr, 0, "none", true, "sha256"},
        {"TbOpaqueSha1", "thunderbird/smime/alice.sig.SHA1.opaque.eml", {kTbCa}, nullptr, 1, "weak_algorithm", true, "sha1"},
        {"TbOpaqueSha1Accepted", "thunderbird/smime/alice.sig.SHA1.opaque.eml", {kTbCa}, nullptr, 0, "none", true, "sha1", false, true},
        {"TbOpaqueHtmlSha384", "thunderbird/smime/alice.html.sig.SHA384.opaque.eml", {kTbCa}, nullptr, 0, "none", true, "sha384"},
        {"TbDateAfterSigningTime", "thunderbird/smime/alice.future.dsig.SHA256.multipart.eml", {kTbCa}, nullptr, 0, "none"},
        {"TbOpaqueAroundEncrypted", "thunderbird/smime/alice.env.sig.SHA256.opaque.eml", {kTbCa}, nullptr, 0, "none", true},
        {"TbNssSignedLfForm", "thunderbird/smime/alice.env.dsig.SHA256.multipart.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbEncryptedOutside", "thunderbird/smime/alice.dsig.SHA256.multipart.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbOpaqueInOpaque", "thunderbird/smime/alice.plain.sig.SHA256.opaque.dave.sig.SHA256.opaque.eml", {kTbCa}, nullptr, 0, "none", true},
        {"TbStaleCa", "thunderbird/browser-smime-data/alice.html.sig.SHA256.opaque.eml", {kTbCa}, nullptr, 1, "untrusted", true},
        {"TbSignedInsideMixed", "thunderbird/browser-smime-data/alice.dsig.SHA256.multipart.in.mixed.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbSignatureFromAnotherMessage", "thunderbird/smime-manual/alice.env.mixed.dsig.SHA256.multipart.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        // GnuTLS certtool, header protection (RFC 9788's predecessor draft).
        {"AutocryptDetachedProtected", "autocrypt-protected-headers/smime-multipart-signed.eml", {"autocrypt-protected-headers/sample-ca.pem"}, nullptr, 0, "none", false, "sha256", true},
        {"AutocryptOpaqueProtected", "autocrypt-protected-headers/smime-onepart-signed.eml", {"autocrypt-protected-headers/sample-ca.pem"}, nullptr, 0, "none", true, nullptr, true},
        // KMail / gpgsm: the signer certificate is not in the message, only
        // among the anchors, and it expired in 2013.
        {"KdeOpaqueAtSigningTime", "kde-mimetreeparser/testdata/smime-opaque-sign.mbox", {kKdeCa}, "@1357832892", 0, "none", true, "sha1", false, true},
        {"KdeOpaqueSha1", "kde-mimetreeparser/testdata/smime-opaque-sign.mbox", {kKdeCa}, "@1357832892", 1, "weak_algorithm", true, "sha1"},
        {"KdeOpaqueNow", "kde-mimetreeparser/testdata/smime-opaque-sign.mbox", {kKdeCa}, nullptr, 1, "certificate_expired", true, "sha1", false, true},
        {"KdeAppleAnonymised", "kde-mimetreeparser/testdata/smime-signed-apple.mbox", {kKdeCa}, nullptr, 1, "digest_mismatch"},
        {"KdeSignerCertMissing", "kde-mimetreeparser/testdata/smime-signed-charset.mbox", {kKdeCa}, nullptr, 1, "untrusted"},
        {"KdeEnveloped", "kde-mimetreeparser/testdata/smime-encrypted.mbox", {kKdeCa}, nullptr, 2, "not_signed"},
        {"KdeCertsOnly", "kde-mimetreeparser/testdata/smime-cert.mbox", {kKdeCa}, nullptr, 2, "not_signed"},
        // MimeKit: real Thunderbird 2013 mail (intermediate expired 2017); an
        // AS2 message signed over raw mixed line endings.
        {"MimekitThunderbirdAtSigningTime", "mimekit/thunderbird-signed.txt", {"mimekit/StartComCertificationAuthority.crt"}, "2013-11-02T20:28:04Z", 0, "none", false, "sha1", false, true},
        {"MimekitThunderbirdSha1", "mimekit/thunderbird-signed.txt", {"mimekit/StartComCertificationAuthority.crt"}, "2013-11-02T20:28:04Z", 1, "weak_algorithm", false, "sha1"},
        {"MimekitThunderbirdNow", "mimekit/thunderbird-signed.txt", {"mimekit/StartComCertificationAuthority.crt"}, nullptr, 1, "certificate_expired", false, "sha1", false, true},
        {"MimekitAs2RawBytes", "mimekit/octet-stream-with-mixed-line-endings.dat", {"../verify/opentext-as2-signer.pem"}, "2020-04-22T12:00:00Z", 1, "from_not_in_certificate", false, "sha1", false, true},
        // OpenSSL test data and NIST PKITS.
        {"PkitsInvalidPolicyMapping", "openssl/smime-eml/SignedInvalidMappingFromanyPolicyTest7.eml", {"openssl/certs/pkitsta.pem"}, nullptr, 1, "untrusted"},
        {"OpensslEmptyDigestSet", "openssl/smime-eml/pkcs7-empty-digest-set.eml", {"openssl/certs/pkitsta.pem"}, nullptr, 1, "bad_signature"},
        // RFC 4134: DSA/SHA-1, DER anchors, no address in the certificate.
        {"Rfc4134DetachedDsa", "rfc4134/4.8.eml", {"rfc4134/CarlRSASelf.cer", "rfc4134/CarlDSSSelf.cer"}, nullptr, 1, "from_not_in_certificate", false, "sha1", false, true},
        {"Rfc4134DetachedDsaSha1", "rfc4134/4.8.eml", {"rfc4134/CarlRSASelf.cer", "rfc4134/CarlDSSSelf.cer"}, nullptr, 1, "weak_algorithm", false, "sha1"},
        {"Rfc4134OpaqueDsa", "rfc4134/4.9.eml", {"rfc4134/CarlRSASelf.cer", "rfc4134/CarlDSSSelf.cer"}, nullptr, 1, "from_not_in_certificate", true, "sha1", false, true},
    };
    return all;
}
// clang-format on

fs::path corpus_dir() { return source_dir() / "tests" / "data" / "corpus"; }

class CorpusVerify : public ::testing::TestWithParam<Case> {};

TEST_P(CorpusVerify, ExitCodeAndReason) {
    const Case& c = GetParam();
    std::vector<std::string> argv = {ribbon_binary(), "verify", "--json"};
    for (const char* anchor : c.anchors) {
        argv.push_back("--ca");
        argv.push_back((corpus_dir() / anchor).string());
    }
    if (c.at != nullptr) {
        argv.push_back("--at");
        argv.push_back(c.at);
    }
    if (c.accept_sha1) argv.push_back("--accept-sha1");
    argv.push_back((corpus_dir() / c.message).string());
    const ProcessResult r = run_process(argv);
    ASSERT_EQ(r.exit_code, c.exit_code) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("reason"), c.reason) << j.dump(2);
    const char* verdict = c.exit_code == 0 ? "valid" : c.exit_code == 1 ? "invalid" : "not_signed";
    EXPECT_EQ(j.at("verdict"), verdict);
    if (c.exit_code == 2) return;
    EXPECT_EQ(j.at("opaque"), c.opaque);
    EXPECT_EQ(j.at("header_protection"), c.header_protection);
    if (c.digest != nullptr) {
        EXPECT_EQ(j.at("signer").at("digest_algorithm"), c.digest);
    }
    if (c.exit_code == 0) {
        // A valid result has a full chain ending at an anchor and a From
        // the certificate vouches for.
        EXPECT_GE(j.at("signer").at("chain").size(), 1u);
        EXPECT_TRUE(j.at("from_in_certificate").get<bool>());
        for (const auto& h : j.at("protected_headers")) EXPECT_TRUE(h.at("matches").get<bool>());
    }
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusVerify, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// The header-protected sample: each protected copy is reported, by name.
TEST(CorpusVerifyDetails, AutocryptProtectedHeadersListed) {
    const ProcessResult r = run_process(
        {ribbon_binary(), "verify", "--json", "--ca",
         (corpus_dir() / "autocrypt-protected-headers/sample-ca.pem").string(),
         (corpus_dir() / "autocrypt-protected-headers/smime-multipart-signed.eml").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    std::vector<std::string> names;
    for (const auto& h : j.at("protected_headers")) names.push_back(h.at("name"));
    EXPECT_EQ(names, (std::vector<std::string>{"From", "To", "Subject", "Date", "Message-ID"}));
    EXPECT_EQ(j.at("protected_headers").at(2).at("inner"), "The FooCorp contract");
    EXPECT_EQ(j.at("from_addresses"), nlohmann::json::array({"alice@smime.example"}));
    EXPECT_EQ(j.at("signer").at("subject"), "CN=Alice Lovelace");
}

// The Thunderbird signer, as a person reads it.
TEST(CorpusVerifyDetails, ThunderbirdSignerDescribed) {
    const ProcessResult r = run_process(
        {ribbon_binary(), "verify", "--json", "--ca", (corpus_dir() / kTbCa).string(),
         (corpus_dir() / "thunderbird/smime/alice.dsig.SHA256.multipart.eml").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    const auto& s = j.at("signer");
    EXPECT_EQ(s.at("addresses"), nlohmann::json::array({"Alice@example.com"}));
    EXPECT_EQ(s.at("serial"), "1E");
    EXPECT_EQ(s.at("signing_time"), "2026-01-26T14:40:10Z");
    EXPECT_EQ(s.at("chain").size(), 2u);
    EXPECT_EQ(s.at("chain").at(1),
              "CN=NSS Test CA (RSA),O=BOGUS NSS,L=Mountain View,ST=California,C=US");
}

}  // namespace
}  // namespace ribbon::test
