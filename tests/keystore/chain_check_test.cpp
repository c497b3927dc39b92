// Unit tests of src/keystore/chain_check.cpp, missing_chain_link()
// (ribbon/keystore.hpp): whether a certificate filed as <name>.pem, with
// its chain as <name>.chain.pem, leads to a trusted root at a given time
// (RFC 5280 §6), and the exact sentence that names the missing link when it
// does not. Certificate names are taken from `openssl x509 -nameopt
// RFC2253`, not from ribbon.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "ribbon/keystore.hpp"
#include "ribbon/verifier.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon {
namespace {

namespace fs = std::filesystem;
using test::pki;

std::string rfc2253(const fs::path& cert, const char* which) {
    auto r = test::run_process(
        {"openssl", "x509", "-in", cert.string(), "-noout", which, "-nameopt", "RFC2253"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    std::string out = r.out;
    // "subject=CN=...\n"
    out = out.substr(out.find('=') + 1);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// A certificate filed as the keystore files it, with an optional chain.
struct Filed {
    test::TempDir dir{"ribbon-chain"};
    fs::path cert = dir / "01AB.pem";
    Filed(const fs::path& leaf, const std::string& chain_pem) {
        test::write_file(cert, test::read_file(leaf));
        if (!chain_pem.empty()) test::write_file(dir / "01AB.chain.pem", chain_pem);
    }
};

TrustStore trust_of(const fs::path& root) {
    auto t = TrustStore::from_files({root});
    if (!t) throw std::runtime_error(t.error().message());
    return std::move(*t);
}

const TimePoint kNow = std::chrono::system_clock::now();

TEST(ChainCheck, ACompleteChainToATrustedRootIsFine) {
    Filed filed(pki().rsa.cert, test::read_file(pki().chain));
    EXPECT_EQ(missing_chain_link(filed.cert, trust_of(pki().root_cert), kNow), std::nullopt);
    Filed ecdsa(pki().ecdsa.cert, test::read_file(pki().chain));
    EXPECT_EQ(missing_chain_link(ecdsa.cert, trust_of(pki().root_cert), kNow), std::nullopt);
}

TEST(ChainCheck, AMissingIntermediateIsNamed) {
    Filed filed(pki().rsa.cert, "");
    EXPECT_EQ(
        missing_chain_link(filed.cert, trust_of(pki().root_cert), kNow),
        "the chain stops at " + rfc2253(pki().rsa.cert, "-subject") + ": its issuer " +
            rfc2253(pki().rsa.cert, "-issuer") + " is neither in the chain nor a trusted root (" +
            pki().root_cert.string() +
            "); install the CA's intermediate with --chain, or receivers may show the signature as "
            "untrusted");
}

TEST(ChainCheck, AnUntrustedRootIsNamed) {
    // The intermediate is there but its root is not this machine's.
    Filed filed(pki().rsa.cert, test::read_file(pki().chain));
    EXPECT_EQ(
        missing_chain_link(filed.cert, trust_of(pki().wrong_root_cert), kNow),
        "the chain stops at " + rfc2253(pki().intermediate_cert, "-subject") + ": its issuer " +
            rfc2253(pki().intermediate_cert, "-issuer") +
            " is neither in the chain nor a trusted root (" + pki().wrong_root_cert.string() +
            "); install the CA's intermediate with --chain, or receivers may show the signature as "
            "untrusted");
    // A chain file that carries the root itself: it ends at a root that is
    // not trusted.
    Filed with_root(pki().rsa.cert,
                    test::read_file(pki().chain) + test::read_file(pki().root_cert));
    EXPECT_EQ(missing_chain_link(with_root.cert, trust_of(pki().wrong_root_cert), kNow),
              "the chain ends at the root " + rfc2253(pki().root_cert, "-subject") +
                  ", which is not a trusted root (" + pki().wrong_root_cert.string() + ")");
}

TEST(ChainCheck, ValidityIsJudgedAtTheGivenTime) {
    Filed expired(pki().expired.cert, test::read_file(pki().chain));
    EXPECT_EQ(missing_chain_link(expired.cert, trust_of(pki().root_cert), kNow),
              "the chain does not verify at " + rfc2253(pki().expired.cert, "-subject") +
                  ": certificate has expired");
    Filed early(pki().not_yet_valid.cert, test::read_file(pki().chain));
    EXPECT_EQ(missing_chain_link(early.cert, trust_of(pki().root_cert), kNow),
              "the chain does not verify at " + rfc2253(pki().not_yet_valid.cert, "-subject") +
                  ": certificate is not yet valid");
    // Sixty days on, it is.
    EXPECT_EQ(missing_chain_link(early.cert, trust_of(pki().root_cert),
                                 kNow + std::chrono::hours(24 * 60)),
              std::nullopt);
}

TEST(ChainCheck, ACertificateNotForMailSigningIsNamed) {
    // RFC 8550 §4.4.4: emailProtection in extendedKeyUsage when present.
    Filed filed(pki().no_email_eku.cert, test::read_file(pki().chain));
    EXPECT_EQ(missing_chain_link(filed.cert, trust_of(pki().root_cert), kNow),
              "the chain does not verify at " + rfc2253(pki().no_email_eku.cert, "-subject") +
                  ": unsuitable certificate purpose");
}

TEST(ChainCheck, UnreadableFilesAreSaidSo) {
    test::TempDir dir("ribbon-chain");
    const fs::path missing = dir / "none.pem";
    auto r = missing_chain_link(missing, trust_of(pki().root_cert), kNow);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r,
              "cannot read certificate file " + missing.string() + ": No such file or directory");
    test::write_file(dir / "junk.pem", "not a certificate\n");
    EXPECT_EQ(missing_chain_link(dir / "junk.pem", trust_of(pki().root_cert), kNow),
              "cannot read " + (dir / "junk.pem").string());
    Filed bad_chain(pki().rsa.cert,
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    auto chain = missing_chain_link(bad_chain.cert, trust_of(pki().root_cert), kNow);
    ASSERT_TRUE(chain.has_value());
    // Errc::bad_certificate's sentence, OpenSSL's reasons after it.
    EXPECT_EQ(chain->rfind("the chain file is not valid PEM (", 0), 0u) << *chain;
}

}  // namespace
}  // namespace ribbon
