// corpus_verify_test.cpp — `ribbon verify` against signed mail made by other
// implementations (tests/data/corpus, see its README.md for sources and for
// why some verdicts differ from the source's own).
//
// Each row is one message with its trust anchors, verification time, the
// exact exit code and reason, and facts of the JSON report that must hold.
#include <gtest/gtest.h>

#include <cstdint>
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
        {"TbDateAfterSigningTime", "thunderbird/smime/alice.future.dsig.SHA256.multipart.eml", {kTbCa}, nullptr, 1, "date_mismatch"},
        {"TbOpaqueAroundEncrypted", "thunderbird/smime/alice.env.sig.SHA256.opaque.eml", {kTbCa}, nullptr, 0, "none", true},
        {"TbDetachedSha384", "thunderbird/smime/alice.dsig.SHA384.multipart.eml", {kTbCa}, nullptr, 0, "none", false, "sha384"},
        {"TbDetachedSha384Bad", "thunderbird/smime/alice.dsig.SHA384.multipart.bad.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbDetachedSha512Bad", "thunderbird/smime/alice.dsig.SHA512.multipart.bad.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbMismatchEcontentSha1", "thunderbird/smime/alice.dsig.SHA1.multipart.mismatch-econtent.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbMismatchEcontentSha384", "thunderbird/smime/alice.dsig.SHA384.multipart.mismatch-econtent.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbMismatchEcontentSha512", "thunderbird/smime/alice.dsig.SHA512.multipart.mismatch-econtent.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbOpaqueSha384", "thunderbird/smime/alice.sig.SHA384.opaque.eml", {kTbCa}, nullptr, 0, "none", true, "sha384"},
        {"TbOpaqueSha512", "thunderbird/smime/alice.sig.SHA512.opaque.eml", {kTbCa}, nullptr, 0, "none", true, "sha512"},
        {"TbOpaqueHtmlSha1", "thunderbird/smime/alice.html.sig.SHA1.opaque.eml", {kTbCa}, nullptr, 1, "weak_algorithm", true, "sha1"},
        {"TbOpaqueHtmlSha256", "thunderbird/smime/alice.html.sig.SHA256.opaque.eml", {kTbCa}, nullptr, 0, "none", true, "sha256"},
        {"TbOpaqueHtmlSha512", "thunderbird/smime/alice.html.sig.SHA512.opaque.eml", {kTbCa}, nullptr, 0, "none", true, "sha512"},
        // Signed, then sealed: ribbon cannot open the sealed layer (exit 2).
        {"TbEncryptedOutsideSha1", "thunderbird/smime/alice.dsig.SHA1.multipart.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedOutsideSha384", "thunderbird/smime/alice.dsig.SHA384.multipart.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedOutsideSha512", "thunderbird/smime/alice.dsig.SHA512.multipart.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedOpaqueSha1", "thunderbird/smime/alice.sig.SHA1.opaque.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedOpaqueSha384", "thunderbird/smime/alice.sig.SHA384.opaque.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedOpaqueSha512", "thunderbird/smime/alice.sig.SHA512.opaque.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedHtmlSha1", "thunderbird/smime/alice.html.sig.SHA1.opaque.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedHtmlSha256", "thunderbird/smime/alice.html.sig.SHA256.opaque.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedHtmlSha384", "thunderbird/smime/alice.html.sig.SHA384.opaque.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbEncryptedHtmlSha512", "thunderbird/smime/alice.html.sig.SHA512.opaque.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbNssSignedLfForm", "thunderbird/smime/alice.env.dsig.SHA256.multipart.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        {"TbEncryptedOutside", "thunderbird/smime/alice.dsig.SHA256.multipart.env.eml", {kTbCa}, nullptr, 2, "not_signed"},
        {"TbStaleCa", "thunderbird/browser-smime-data/alice.html.sig.SHA256.opaque.eml", {kTbCa}, nullptr, 1, "untrusted", true},
        {"TbSignatureFromAnotherMessage", "thunderbird/smime-manual/alice.env.mixed.dsig.SHA256.multipart.eml", {kTbCa}, nullptr, 1, "digest_mismatch"},
        // GnuTLS certtool, header protection (RFC 9788's predecessor draft).
        {"AutocryptDetachedProtected", "autocrypt-protected-headers/smime-multipart-signed.eml", {"autocrypt-protected-headers/sample-ca.pem"}, nullptr, 0, "none", false, "sha256", true},
        {"AutocryptOpaqueProtected", "autocrypt-protected-headers/smime-onepart-signed.eml", {"autocrypt-protected-headers/sample-ca.pem"}, nullptr, 0, "none", true, nullptr, true},
        {"AutocryptSignedThenSealed", "autocrypt-protected-headers/smime-sign+enc.eml", {"autocrypt-protected-headers/sample-ca.pem"}, nullptr, 2, "not_signed"},
        {"AutocryptSignedThenSealedLegacyDisplay", "autocrypt-protected-headers/smime-sign+enc+legacy-disp.eml", {"autocrypt-protected-headers/sample-ca.pem"}, nullptr, 2, "not_signed"},
        // KMail / gpgsm: the signer certificate is not in the message, only
        // among the anchors, and it expired in 2013.
        // KDE's test message reuses a 2013 signature under a 2015 Date.
        {"KdeOpaqueAtSigningTime", "kde-mimetreeparser/testdata/smime-opaque-sign.mbox", {kKdeCa}, "@1357832892", 1, "date_mismatch", true, "sha1", false, true},
        {"KdeOpaqueSha1", "kde-mimetreeparser/testdata/smime-opaque-sign.mbox", {kKdeCa}, "@1357832892", 1, "weak_algorithm", true, "sha1"},
        {"KdeOpaqueNow", "kde-mimetreeparser/testdata/smime-opaque-sign.mbox", {kKdeCa}, nullptr, 1, "certificate_expired", true, "sha1", false, true},
        {"KdeAppleAnonymised", "kde-mimetreeparser/testdata/smime-signed-apple.mbox", {kKdeCa}, nullptr, 1, "digest_mismatch"},
        {"KdeSignerCertMissing", "kde-mimetreeparser/testdata/smime-signed-charset.mbox", {kKdeCa}, nullptr, 1, "untrusted"},
        {"KdeEnveloped", "kde-mimetreeparser/testdata/smime-encrypted.mbox", {kKdeCa}, nullptr, 2, "not_signed"},
        {"KdeCertsOnly", "kde-mimetreeparser/testdata/smime-cert.mbox", {kKdeCa}, nullptr, 2, "not_signed"},
        // Signed, then sealed (the last two with an unsigned part first).
        {"KdeSealedOpaqueEncSign", "kde-mimetreeparser/testdata/smime-opaque-enc+sign.mbox", {kKdeCa}, "@1357832892", 2, "not_signed"},
        {"KdeSealedSignedEncrypted", "kde-mimetreeparser/testdata/smime-signed-encrypted.mbox", {kKdeCa}, "@1283961092", 2, "not_signed"},
        {"KdeSealedAttachment", "kde-mimetreeparser/testdata/smime-opaque-signed-encrypted-attachment.mbox", {kKdeCa}, nullptr, 2, "not_signed"},
        {"KdeSealedAmbiguous", "kde-mimetreeparser/testdata/smime-encrypted-ambiguous-mime.mbox", {kKdeCa}, "@1357832892", 2, "not_signed"},
        {"KdeSealedNotSoAmbiguous", "kde-mimetreeparser/testdata/smime-encrypted-not-so-ambiguous-mime.mbox", {kKdeCa}, "@1357832892", 2, "not_signed"},
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
    if (c.exit_code == 2) {
        // Nothing verified: at most a sealed layer ribbon cannot open.
        for (const auto& l : j.at("layers")) EXPECT_EQ(l.at("kind"), "sealed");
        EXPECT_EQ(j.at("coverage").at("whole"), false);
        return;
    }
    // Every row here is signed as a whole, outermost layer first.
    ASSERT_GE(j.at("layers").size(), 1u);
    EXPECT_EQ(j.at("layers").at(0).at("kind"), c.opaque ? "opaque" : "multipart-signed");
    EXPECT_EQ(j.at("coverage").at("whole"), true);
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

// ---- layers and coverage -------------------------------------------------------

// One expected layer of the JSON report.
struct LayerExp {
    const char* kind;
    const char* part;
    const char* verdict;
    const char* reason;
    const char* signer;  // the certificate's addresses, joined by ","; "*": not checked
};

struct UnsignedExp {
    const char* part;
    const char* content_type;
    std::uint64_t size;
};

struct LayeredCase {
    const char* name;
    const char* message;  // trust anchor: Thunderbird's TestCA
    bool accept_sha1;
    bool require_whole;
    int exit_code;
    const char* reason;
    std::vector<LayerExp> layers;
    bool whole;
    std::vector<std::string> signed_parts;
    std::vector<UnsignedExp> unsigned_parts;
};

void PrintTo(const LayeredCase& c, std::ostream* os) { *os << c.name << " (" << c.message << ")"; }

// Every doubly-signed Thunderbird message is invalid: Alice's inner
// signature does not vouch for From: Dave (RFC 8550 §3), as current
// Thunderbird judges them (README.md). The SHA-1 ones are weak_algorithm in
// both layers, and from_not_in_certificate with --accept-sha1.
// clang-format off
const std::vector<LayeredCase>& layered_cases() {
    static const std::vector<LayeredCase> all = {
        {"TbPlainDsigDaveDsigSHA256", "thunderbird/smime/alice.plain.dsig.SHA256.multipart.dave.dsig.SHA256.multipart.eml", false, false, 1, "from_not_in_certificate", {{"multipart-signed", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "1", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainDsigDaveSigSHA256", "thunderbird/smime/alice.plain.dsig.SHA256.multipart.dave.sig.SHA256.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveDsigSHA256", "thunderbird/smime/alice.plain.sig.SHA256.opaque.dave.dsig.SHA256.multipart.eml", false, false, 1, "from_not_in_certificate", {{"multipart-signed", "", "valid", "none", "Dave@example.com"}, {"opaque", "1", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveSigSHA256", "thunderbird/smime/alice.plain.sig.SHA256.opaque.dave.sig.SHA256.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"opaque", "", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbEnvDsigDaveSigSHA256", "thunderbird/smime/alice.env.dsig.SHA256.multipart.dave.sig.SHA256.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "", "invalid", "from_not_in_certificate", "Alice@example.com"}, {"sealed", "1", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbEnvSigDaveSigSHA256", "thunderbird/smime/alice.env.sig.SHA256.opaque.dave.sig.SHA256.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"opaque", "", "invalid", "from_not_in_certificate", "Alice@example.com"}, {"sealed", "", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbPlainDsigDaveDsigSHA384", "thunderbird/smime/alice.plain.dsig.SHA384.multipart.dave.dsig.SHA384.multipart.eml", false, false, 1, "from_not_in_certificate", {{"multipart-signed", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "1", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainDsigDaveSigSHA384", "thunderbird/smime/alice.plain.dsig.SHA384.multipart.dave.sig.SHA384.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveDsigSHA384", "thunderbird/smime/alice.plain.sig.SHA384.opaque.dave.dsig.SHA384.multipart.eml", false, false, 1, "from_not_in_certificate", {{"multipart-signed", "", "valid", "none", "Dave@example.com"}, {"opaque", "1", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveSigSHA384", "thunderbird/smime/alice.plain.sig.SHA384.opaque.dave.sig.SHA384.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"opaque", "", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbEnvDsigDaveSigSHA384", "thunderbird/smime/alice.env.dsig.SHA384.multipart.dave.sig.SHA384.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "", "invalid", "from_not_in_certificate", "Alice@example.com"}, {"sealed", "1", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbEnvSigDaveSigSHA384", "thunderbird/smime/alice.env.sig.SHA384.opaque.dave.sig.SHA384.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"opaque", "", "invalid", "from_not_in_certificate", "Alice@example.com"}, {"sealed", "", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbPlainDsigDaveDsigSHA512", "thunderbird/smime/alice.plain.dsig.SHA512.multipart.dave.dsig.SHA512.multipart.eml", false, false, 1, "from_not_in_certificate", {{"multipart-signed", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "1", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainDsigDaveSigSHA512", "thunderbird/smime/alice.plain.dsig.SHA512.multipart.dave.sig.SHA512.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveDsigSHA512", "thunderbird/smime/alice.plain.sig.SHA512.opaque.dave.dsig.SHA512.multipart.eml", false, false, 1, "from_not_in_certificate", {{"multipart-signed", "", "valid", "none", "Dave@example.com"}, {"opaque", "1", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveSigSHA512", "thunderbird/smime/alice.plain.sig.SHA512.opaque.dave.sig.SHA512.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"opaque", "", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbEnvDsigDaveSigSHA512", "thunderbird/smime/alice.env.dsig.SHA512.multipart.dave.sig.SHA512.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "", "invalid", "from_not_in_certificate", "Alice@example.com"}, {"sealed", "1", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbEnvSigDaveSigSHA512", "thunderbird/smime/alice.env.sig.SHA512.opaque.dave.sig.SHA512.opaque.eml", false, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"opaque", "", "invalid", "from_not_in_certificate", "Alice@example.com"}, {"sealed", "", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbPlainDsigDaveDsigSHA1", "thunderbird/smime/alice.plain.dsig.SHA1.multipart.dave.dsig.SHA1.multipart.eml", false, false, 1, "weak_algorithm", {{"multipart-signed", "", "invalid", "weak_algorithm", "Dave@example.com"}, {"multipart-signed", "1", "invalid", "weak_algorithm", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainDsigDaveSigSHA1", "thunderbird/smime/alice.plain.dsig.SHA1.multipart.dave.sig.SHA1.opaque.eml", false, false, 1, "weak_algorithm", {{"opaque", "", "invalid", "weak_algorithm", "Dave@example.com"}, {"multipart-signed", "", "invalid", "weak_algorithm", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveDsigSHA1", "thunderbird/smime/alice.plain.sig.SHA1.opaque.dave.dsig.SHA1.multipart.eml", false, false, 1, "weak_algorithm", {{"multipart-signed", "", "invalid", "weak_algorithm", "Dave@example.com"}, {"opaque", "1", "invalid", "weak_algorithm", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainSigDaveSigSHA1", "thunderbird/smime/alice.plain.sig.SHA1.opaque.dave.sig.SHA1.opaque.eml", false, false, 1, "weak_algorithm", {{"opaque", "", "invalid", "weak_algorithm", "Dave@example.com"}, {"opaque", "", "invalid", "weak_algorithm", "Alice@example.com"}}, true, {""}, {}},
        {"TbEnvDsigDaveSigSHA1", "thunderbird/smime/alice.env.dsig.SHA1.multipart.dave.sig.SHA1.opaque.eml", false, false, 1, "weak_algorithm", {{"opaque", "", "invalid", "weak_algorithm", "Dave@example.com"}, {"multipart-signed", "", "invalid", "weak_algorithm", "Alice@example.com"}, {"sealed", "1", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbEnvSigDaveSigSHA1", "thunderbird/smime/alice.env.sig.SHA1.opaque.dave.sig.SHA1.opaque.eml", false, false, 1, "weak_algorithm", {{"opaque", "", "invalid", "weak_algorithm", "Dave@example.com"}, {"opaque", "", "invalid", "weak_algorithm", "Alice@example.com"}, {"sealed", "", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbPlainSigDaveSigSha1Accepted", "thunderbird/smime/alice.plain.sig.SHA1.opaque.dave.sig.SHA1.opaque.eml", true, false, 1, "from_not_in_certificate", {{"opaque", "", "valid", "none", "Dave@example.com"}, {"opaque", "", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbPlainDsigDaveDsigSha1Accepted", "thunderbird/smime/alice.plain.dsig.SHA1.multipart.dave.dsig.SHA1.multipart.eml", true, false, 1, "from_not_in_certificate", {{"multipart-signed", "", "valid", "none", "Dave@example.com"}, {"multipart-signed", "1", "invalid", "from_not_in_certificate", "Alice@example.com"}}, true, {""}, {}},
        {"TbOpaqueAroundEncrypted", "thunderbird/smime/alice.env.sig.SHA256.opaque.eml", false, false, 0, "none", {{"opaque", "", "valid", "none", "Alice@example.com"}, {"sealed", "", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbSignedInsideMixed", "thunderbird/browser-smime-data/alice.dsig.SHA256.multipart.in.mixed.eml", false, false, 0, "none", {{"multipart-signed", "1", "valid", "none", "Alice@example.com"}}, false, {"1"}, {{"2", "text/plain", 172}}},
        {"TbSignedInsideMixedRequireWhole", "thunderbird/browser-smime-data/alice.dsig.SHA256.multipart.in.mixed.eml", false, true, 1, "partial_coverage", {{"multipart-signed", "1", "valid", "none", "Alice@example.com"}}, false, {"1"}, {{"2", "text/plain", 172}}},
        {"TbSignedPart2InsideMixed", "thunderbird/browser-smime-data/alice.dsig.SHA256.multipart.in.mixed.with.header.eml", false, false, 0, "none", {{"multipart-signed", "2", "valid", "none", "Alice@example.com"}}, false, {"2"}, {{"1", "text/plain", 163}, {"3", "text/plain", 172}}},
        {"TbNestedSigsAttachedMessageNotVerified", "thunderbird/browser-smime-data/nested-sigs.eml", false, false, 1, "digest_mismatch", {{"multipart-signed", "", "invalid", "digest_mismatch", "*"}}, true, {""}, {}},
        {"TbSignatureAroundSealedManual", "thunderbird/smime-manual/alice.dsig.SHA256.multipart.env.dsig.eml", false, false, 1, "digest_mismatch", {{"multipart-signed", "", "invalid", "digest_mismatch", "Alice@example.com"}, {"sealed", "1", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbBadSignatureAroundSealedManual", "thunderbird/smime-manual/outer-smime-bad-sig-inner-smime-enc-sig.eml", false, false, 1, "digest_mismatch", {{"multipart-signed", "", "invalid", "digest_mismatch", "Alice@example.com"}, {"sealed", "1", "not_signed", "none", ""}}, true, {""}, {}},
        {"TbSealedOnly", "thunderbird/smime/alice.sig.SHA256.opaque.env.eml", false, false, 2, "not_signed", {{"sealed", "", "not_signed", "none", ""}}, false, {}, {}},
    };
    return all;
}
// clang-format on

std::string joined(const nlohmann::json& addresses) {
    std::string out;
    for (const auto& a : addresses) {
        if (!out.empty()) out.push_back(',');
        out.append(a.get<std::string>());
    }
    return out;
}

class CorpusLayers : public ::testing::TestWithParam<LayeredCase> {};

TEST_P(CorpusLayers, EveryLayerAndCoverage) {
    const LayeredCase& c = GetParam();
    std::vector<std::string> argv = {ribbon_binary(), "verify", "--json", "--ca",
                                     (corpus_dir() / kTbCa).string()};
    if (c.accept_sha1) argv.push_back("--accept-sha1");
    if (c.require_whole) argv.push_back("--require-whole");
    argv.push_back((corpus_dir() / c.message).string());
    const ProcessResult r = run_process(argv);
    ASSERT_EQ(r.exit_code, c.exit_code) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("reason"), c.reason) << j.dump(2);
    const auto& layers = j.at("layers");
    ASSERT_EQ(layers.size(), c.layers.size()) << layers.dump(2);
    for (std::size_t i = 0; i < c.layers.size(); ++i) {
        const LayerExp& e = c.layers[i];
        const auto& l = layers.at(i);
        SCOPED_TRACE("layer " + std::to_string(i + 1));
        EXPECT_EQ(l.at("kind"), e.kind);
        EXPECT_EQ(l.at("part"), e.part);
        EXPECT_EQ(l.at("verdict"), e.verdict);
        EXPECT_EQ(l.at("reason"), e.reason);
        if (std::string(e.signer) == "*") continue;
        const std::string signer =
            l.at("signer").is_null() ? std::string() : joined(l.at("signer").at("addresses"));
        EXPECT_EQ(signer, e.signer);
    }
    const auto& coverage = j.at("coverage");
    EXPECT_EQ(coverage.at("whole"), c.whole);
    EXPECT_EQ(coverage.at("signed_parts").get<std::vector<std::string>>(), c.signed_parts);
    ASSERT_EQ(coverage.at("unsigned_parts").size(), c.unsigned_parts.size());
    for (std::size_t i = 0; i < c.unsigned_parts.size(); ++i) {
        const auto& u = coverage.at("unsigned_parts").at(i);
        EXPECT_EQ(u.at("part"), c.unsigned_parts[i].part);
        EXPECT_EQ(u.at("content_type"), c.unsigned_parts[i].content_type);
        EXPECT_EQ(u.at("size"), c.unsigned_parts[i].size);
    }
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusLayers, ::testing::ValuesIn(layered_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// The footer case as a person reads it, and with --require-whole.
TEST(CorpusVerifyDetails, SignedPartInsideMixedCoverageText) {
    const std::string message =
        (corpus_dir() / "thunderbird/browser-smime-data/alice.dsig.SHA256.multipart.in.mixed.eml")
            .string();
    const std::string ca = (corpus_dir() / kTbCa).string();
    const ProcessResult r = run_process({ribbon_binary(), "verify", "--ca", ca, message});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("layer 1: multipart-signed, part 1: valid, signed by Alice@example.com\n"
                         "coverage: MIME part 1 of 2; part 2, text/plain, 172 bytes, is not "
                         "signed\n"),
              std::string::npos)
        << r.out;
    const ProcessResult w =
        run_process({ribbon_binary(), "verify", "--require-whole", "--ca", ca, message});
    ASSERT_EQ(w.exit_code, 1) << w.describe();
    EXPECT_NE(w.out.find("reason: partial_coverage\ndetail: only part of the message is signed "
                         "(MIME part 1 of 2; part 2, text/plain, 172 bytes, is not signed)\n"),
              std::string::npos)
        << w.out;
}

// Dave's opaque layer around Alice's: OpenSSL peels both layers and finds
// both signatures good (ribbon's verdict on Alice's layer is the From rule,
// not the signature), and names the same certificate as ribbon's layer 2.
TEST(CorpusVerifyDetails, InnerLayerAgreesWithOpenssl) {
    TempDir tmp("ribbon-corpus-layers");
    const std::string ca = (corpus_dir() / kTbCa).string();
    const std::string message =
        (corpus_dir() / "thunderbird/smime/alice.plain.sig.SHA256.opaque.dave.sig.SHA256.opaque.eml")
            .string();
    const ProcessResult outer = run_process(
        {"openssl", "cms", "-verify", "-CAfile", ca, "-in", message, "-out",
         (tmp / "inner.eml").string(), "-signer", (tmp / "dave.pem").string()});
    ASSERT_EQ(outer.exit_code, 0) << outer.describe();
    const ProcessResult inner = run_process(
        {"openssl", "cms", "-verify", "-CAfile", ca, "-in", (tmp / "inner.eml").string(), "-out",
         (tmp / "text").string(), "-signer", (tmp / "alice.pem").string()});
    ASSERT_EQ(inner.exit_code, 0) << inner.describe();
    const ProcessResult der = run_process({"openssl", "x509", "-in", (tmp / "alice.pem").string(),
                                           "-outform", "DER", "-out", (tmp / "alice.der").string()});
    ASSERT_EQ(der.exit_code, 0) << der.describe();
    const ProcessResult digest =
        run_process({"openssl", "dgst", "-sha256", "-r", (tmp / "alice.der").string()});
    ASSERT_EQ(digest.exit_code, 0) << digest.describe();

    const ProcessResult r = run_process({ribbon_binary(), "verify", "--json", "--ca", ca, message});
    ASSERT_EQ(r.exit_code, 1) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.at("layers").size(), 2u);
    EXPECT_EQ(j.at("layers").at(1).at("signer").at("certificate_sha256"), digest.out.substr(0, 64));
    EXPECT_EQ(j.at("layers").at(1).at("reason"), "from_not_in_certificate");
    EXPECT_NE(read_file(tmp / "text").find("This is a test message from Alice to Bob."),
              std::string::npos);
}

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
