// Unit tests of src/core/verify_strength.hpp, the verifier's algorithm and
// key policy (docs/VERIFY.md "Weak algorithms and keys") on its own: CMS
// made by `openssl cms -sign` with the digest and signer key each case
// needs, and certificate chains made in process, judged with the exact
// reason, detail and warnings. The same policy through the whole verifier,
// with messages from OpenSSL and NSS, is tests/verify_weak_test.cpp.
#include "core/verify_strength.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/openssl_util.hpp"
#include "support/cert_maker.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::verify {
namespace {

namespace fs = std::filesystem;
using test::pki;

struct Signer {
    fs::path key;
    fs::path cert;
};

// `openssl cms -sign` over a short content with each signer and `md`,
// parsed, with each SignerInfo's certificate set as the verifier sets it.
ossl::CmsPtr signed_by(const std::vector<Signer>& signers, const std::string& md) {
    test::TempDir dir("ribbon-strength");
    test::write_file(dir / "content", "hello\r\n");
    std::vector<std::string> argv = {
        "openssl",  "cms", "-sign", "-binary", "-in",  (dir / "content").string(),
        "-outform", "DER", "-md",   md,        "-out", (dir / "sig.der").string()};
    for (const Signer& s : signers) {
        argv.insert(argv.end(), {"-signer", s.cert.string(), "-inkey", s.key.string()});
    }
    auto r = test::run_process(argv);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    const std::string der = test::read_file(dir / "sig.der");
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ossl::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
    EXPECT_TRUE(cms);
    if (cms) {
        EXPECT_EQ(CMS_set1_signers_certs(cms.get(), nullptr, 0), static_cast<int>(signers.size()));
    }
    return cms;
}

// A self-signed signer of `key_spec` written to `dir` (removed with it).
Signer made_signer(const test::TempDir& dir, const std::string& key_spec, const std::string& name) {
    test::CertSpec spec;
    spec.key = key_spec;
    spec.subject = {{"CN", name}};
    test::MadeCert made = test::make_self_signed(spec);
    Signer s{dir / (name + ".key"), dir / (name + ".pem")};
    test::write_file(s.key, made.key_pem);
    test::write_file(s.cert, made.cert_pem);
    return s;
}

struct Warned {
    VerifyReason reason;
    std::string detail;
    bool operator==(const Warned&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Warned& w) {
    return os << static_cast<int>(w.reason) << ": " << w.detail;
}
std::vector<Warned> warnings_of(const Strength& s) {
    std::vector<Warned> out;
    for (const auto& w : s.warnings) out.push_back({w.code, w.detail});
    return out;
}

const Signer kRsa{pki().rsa.key, pki().rsa.cert};
const Signer kEcdsa{pki().ecdsa.key, pki().ecdsa.cert};

const std::string kSha1Refused =
    "the digest algorithm is SHA-1, which is no longer safe for signatures (collisions are "
    "practical); accept it with --accept-sha1";
const std::string kSha1Accepted =
    "the digest algorithm is SHA-1, accepted because SHA-1 signatures were allowed; SHA-1 "
    "collisions are practical";

// ---- digests ------------------------------------------------------------------------

TEST(VerifyStrength, Sha256WithCurrentKeysPassesWithoutWarnings) {
    for (const Signer& s : {kRsa, kEcdsa}) {
        for (const char* md : {"sha256", "sha384", "sha512"}) {
            ossl::CmsPtr cms = signed_by({s}, md);
            ASSERT_TRUE(cms);
            Strength st = check_strength(cms.get(), false);
            EXPECT_TRUE(st.ok()) << md << ": " << st.detail;
            EXPECT_EQ(st.detail, "");
            EXPECT_TRUE(st.warnings.empty());
        }
    }
}

TEST(VerifyStrength, Sha1IsRefusedUnlessAcceptedAndThenWarnedOnce) {
    for (const Signer& s : {kRsa, kEcdsa}) {
        ossl::CmsPtr cms = signed_by({s}, "sha1");
        ASSERT_TRUE(cms);
        Strength refused = check_strength(cms.get(), false);
        EXPECT_EQ(refused.reason, VerifyReason::weak_algorithm);
        EXPECT_EQ(refused.detail, kSha1Refused);
        EXPECT_FALSE(refused.uncomputable);
        Strength accepted = check_strength(cms.get(), true);
        EXPECT_TRUE(accepted.ok()) << accepted.detail;
        // ECDSA names SHA-1 a second time (ecdsa-with-SHA1): still one warning.
        EXPECT_EQ(warnings_of(accepted),
                  (std::vector<Warned>{{VerifyReason::weak_algorithm, kSha1Accepted}}));
    }
}

TEST(VerifyStrength, Md5IsNeverAccepted) {
    ossl::CmsPtr cms = signed_by({kRsa}, "md5");
    ASSERT_TRUE(cms);
    for (bool accept_sha1 : {false, true}) {
        Strength st = check_strength(cms.get(), accept_sha1);
        EXPECT_EQ(st.reason, VerifyReason::weak_algorithm);
        EXPECT_EQ(st.detail,
                  "the digest algorithm is MD5, which is broken (RFC 6151) and never accepted for "
                  "signatures");
        EXPECT_FALSE(st.uncomputable);  // OpenSSL's default provider computes MD5
    }
}

// ---- keys ---------------------------------------------------------------------------

TEST(VerifyStrength, SignerKeySizesAreRefusedOrWarned) {
    test::TempDir dir("ribbon-strength");
    struct Case {
        std::string key;
        VerifyReason reason;  // none: accepted
        std::string text;     // the detail, or the one warning
    };
    const Case cases[] = {
        {"RSA:1024", VerifyReason::none,
         "the signer's RSA key has 1024 bits, below the 2048 bits current S/MIME certificates "
         "must have"},
        {"RSA:1023", VerifyReason::weak_key,
         "the signer's RSA key has 1023 bits, below the 1024-bit minimum: signatures with it "
         "can be forged"},
        {"EC:P-224", VerifyReason::none,
         "the signer's EC key has 224 bits, below the 256 bits current S/MIME certificates must "
         "have"},
        {"EC:secp112r1", VerifyReason::weak_key,
         "the signer's EC key has 112 bits, below the 160-bit minimum: signatures with it can be "
         "forged"},
        {"EC:P-384", VerifyReason::none, ""},
    };
    int n = 0;
    for (const Case& c : cases) {
        std::string name = "k";  // appended: GCC 12 warns falsely on "k" + string
        name += std::to_string(n++);
        Signer s = made_signer(dir, c.key, name);
        ossl::CmsPtr cms = signed_by({s}, "sha256");
        ASSERT_TRUE(cms) << c.key;
        Strength st = check_strength(cms.get(), false);
        EXPECT_EQ(st.reason, c.reason) << c.key;
        if (c.reason != VerifyReason::none) {
            EXPECT_EQ(st.detail, c.text) << c.key;
            EXPECT_TRUE(st.warnings.empty()) << c.key;
        } else if (!c.text.empty()) {
            EXPECT_EQ(warnings_of(st), (std::vector<Warned>{{VerifyReason::weak_key, c.text}}));
        } else {
            EXPECT_TRUE(st.warnings.empty()) << c.key;
        }
    }
}

TEST(VerifyStrength, SeveralSignersArePrefixedAndTheFirstFailureReported) {
    test::TempDir dir("ribbon-strength");
    Signer weak = made_signer(dir, "RSA:1023", "weak");
    Signer small = made_signer(dir, "RSA:1024", "small");
    ossl::CmsPtr cms = signed_by({kEcdsa, small, weak}, "sha256");
    ASSERT_TRUE(cms);
    // SignerInfos is a SET OF, in DER order, not the command line's: the
    // numbers are the positions in the SignerInfos.
    auto position = [&](const fs::path& cert_file) {
        const std::string pem = test::read_file(cert_file);
        ossl::BioPtr bio = ossl::mem_bio(pem);
        ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms.get());
        for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
            if (CMS_SignerInfo_cert_cmp(sk_CMS_SignerInfo_value(infos, i), cert.get()) == 0) {
                return std::to_string(i + 1);
            }
        }
        return std::string("?");
    };
    Strength st = check_strength(cms.get(), false);
    EXPECT_EQ(st.reason, VerifyReason::weak_key);
    EXPECT_EQ(st.detail, "signer " + position(weak.cert) +
                             ": the signer's RSA key has 1023 bits, below the 1024-bit minimum: "
                             "signatures with it can be forged");
    EXPECT_EQ(warnings_of(st),
              (std::vector<Warned>{{VerifyReason::weak_key,
                                    "signer " + position(small.cert) +
                                        ": the signer's RSA key has 1024 bits, below the 2048 "
                                        "bits current S/MIME certificates must have"}}));
}

// ---- certificate chains -----------------------------------------------------------

struct Chain {
    std::vector<test::MadeCert> made;
    ossl::X509StackPtr stack{sk_X509_new_null()};
    void add(const std::string& name, const std::string& digest) {
        test::CertSpec spec;
        spec.key = "RSA:2048";  // ECDSA has no MD5 signature OID
        spec.subject = {{"CN", name}};
        spec.digest = digest;
        made.push_back(test::make_self_signed(spec));
        sk_X509_push(stack.get(), X509_dup(made.back().cert));
    }
};

TEST(VerifyStrength, ChainSignaturesFollowTheDigestPolicyExceptTheAnchors) {
    Chain good;
    good.add("leaf", "SHA256");
    good.add("anchor", "MD5");  // the trust anchor's own signature is not judged
    EXPECT_TRUE(check_chain_strength(good.stack.get(), false).ok());

    Chain sha1;
    sha1.add("leaf", "SHA256");
    sha1.add("intermediate", "SHA1");
    sha1.add("anchor", "SHA256");
    Strength refused = check_chain_strength(sha1.stack.get(), false);
    EXPECT_EQ(refused.reason, VerifyReason::weak_algorithm);
    EXPECT_EQ(refused.detail,
              "the signature on the certificate of CN=intermediate is SHA-1, which is no longer "
              "safe for signatures (collisions are practical); accept it with --accept-sha1");
    Strength accepted = check_chain_strength(sha1.stack.get(), true);
    EXPECT_TRUE(accepted.ok());
    EXPECT_EQ(warnings_of(accepted),
              (std::vector<Warned>{{VerifyReason::weak_algorithm,
                                    "the signature on the certificate of CN=intermediate is "
                                    "SHA-1, accepted because SHA-1 signatures were allowed; "
                                    "SHA-1 collisions are practical"}}));

    Chain md5;
    md5.add("leaf", "MD5");
    md5.add("anchor", "SHA256");
    Strength broken = check_chain_strength(md5.stack.get(), true);
    EXPECT_EQ(broken.reason, VerifyReason::weak_algorithm);
    EXPECT_EQ(broken.detail,
              "the signature on the certificate of CN=leaf is MD5, which is broken (RFC 6151) and "
              "never accepted for signatures");
    EXPECT_TRUE(check_chain_strength(nullptr, false).ok());
}

TEST(VerifyStrength, TheTestPkisChainPasses) {
    Chain pki_chain;
    for (const fs::path& p : {pki().rsa.cert, pki().intermediate_cert, pki().root_cert}) {
        const std::string pem = test::read_file(p);
        ossl::BioPtr bio = ossl::mem_bio(pem);
        sk_X509_push(pki_chain.stack.get(),
                     PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    }
    Strength st = check_chain_strength(pki_chain.stack.get(), false);
    EXPECT_TRUE(st.ok()) << st.detail;
    EXPECT_TRUE(st.warnings.empty());
}

}  // namespace
}  // namespace ribbon::verify
