// Unit tests of src/core/trust_store.cpp (TrustStore, ribbon/verifier.hpp):
// roots from named files — PEM with any number of certificates, or one
// DER certificate — with a file that holds none refused, so a typo never
// means "trust nothing"; the system's roots; and what the resulting store
// builds chains to, checked with OpenSSL's X509_verify_cert.
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <filesystem>
#include <string>

#include "core/trust_store_impl.hpp"
#include "support/cms_inspect.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon {
namespace {

namespace fs = std::filesystem;
using test::pki;

ossl::X509Ptr read_cert(const fs::path& pem_file) {
    const std::string pem = test::read_file(pem_file);
    ossl::BioPtr bio = ossl::mem_bio(pem);
    return ossl::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// Whether `store` builds a path from the RSA leaf, with the intermediate
// offered as untrusted, to a root it holds.
bool builds_path(const TrustStore& store) {
    ossl::X509Ptr leaf = read_cert(pki().rsa.cert);
    ossl::X509Ptr intermediate = read_cert(pki().intermediate_cert);
    ossl::X509StackPtr untrusted(sk_X509_new_null());
    sk_X509_push(untrusted.get(), X509_dup(intermediate.get()));
    ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.impl().store.get(), leaf.get(), untrusted.get());
    const bool ok = X509_verify_cert(ctx.get()) == 1;
    ossl::drain_errors();
    return ok;
}

void expect_error(const Result<TrustStore>& r, Errc code, ErrorKind kind,
                  const std::string& message) {
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(errc_name(r.error().code()), errc_name(code));
    EXPECT_EQ(r.error().kind(), kind);
    EXPECT_EQ(r.error().message(), message);
}

TEST(TrustStore, PemFilesAreTheOnlyRoots) {
    auto trust = TrustStore::from_files({pki().root_cert});
    ASSERT_TRUE(trust.ok()) << trust.error().message();
    EXPECT_TRUE(builds_path(*trust));
    EXPECT_EQ(trust->impl().description, pki().root_cert.string());
    EXPECT_EQ(sk_X509_num(trust->impl().anchors.get()), 1);
    auto wrong = TrustStore::from_files({pki().wrong_root_cert});
    ASSERT_TRUE(wrong.ok());
    EXPECT_FALSE(builds_path(*wrong));
}

TEST(TrustStore, SeveralFilesAndSeveralCertificatesPerFile) {
    test::TempDir dir("ribbon-trust");
    const fs::path both = dir / "both.pem";
    test::write_file(both,
                     test::read_file(pki().wrong_root_cert) + test::read_file(pki().root_cert));
    auto bundle = TrustStore::from_files({both});
    ASSERT_TRUE(bundle.ok());
    EXPECT_EQ(sk_X509_num(bundle->impl().anchors.get()), 2);
    EXPECT_TRUE(builds_path(*bundle));
    auto two = TrustStore::from_files({pki().wrong_root_cert, pki().root_cert});
    ASSERT_TRUE(two.ok());
    EXPECT_TRUE(builds_path(*two));
    EXPECT_EQ(two->impl().description,
              pki().wrong_root_cert.string() + ", " + pki().root_cert.string());
}

TEST(TrustStore, ADerCertificateIsAccepted) {
    test::TempDir dir("ribbon-trust");
    const fs::path der = dir / "root.cer";
    test::write_file(der, test::cert_der(pki().root_cert));
    auto trust = TrustStore::from_files({der});
    ASSERT_TRUE(trust.ok()) << trust.error().message();
    EXPECT_TRUE(builds_path(*trust));
}

TEST(TrustStore, FilesWithoutACertificateAreRefused) {
    expect_error(TrustStore::from_files({}), Errc::bad_certificate, ErrorKind::permanent,
                 "no trust anchor file given");
    test::TempDir dir("ribbon-trust");
    const fs::path missing = dir / "missing.pem";
    expect_error(
        TrustStore::from_files({pki().root_cert, missing}), Errc::io_error, ErrorKind::permanent,
        "cannot read trust anchor file " + missing.string() + ": No such file or directory");
    const fs::path empty = dir / "empty.pem";
    test::write_file(empty, "");
    expect_error(TrustStore::from_files({empty}), Errc::bad_certificate, ErrorKind::permanent,
                 "no certificate (PEM or DER) in trust anchor file " + empty.string());
    // A private key is no certificate either.
    expect_error(TrustStore::from_files({pki().root_key}), Errc::bad_certificate,
                 ErrorKind::permanent,
                 "no certificate (PEM or DER) in trust anchor file " + pki().root_key.string());
}

TEST(TrustStore, SystemRootsAreTheSystemsAndNoAnchors) {
    auto system = TrustStore::system();
    ASSERT_TRUE(system.ok()) << system.error().message();
    EXPECT_EQ(system->impl().description, "/etc/ssl/certs");
    EXPECT_EQ(sk_X509_num(system->impl().anchors.get()), 0);
    // The test root is nobody's system root.
    EXPECT_FALSE(builds_path(*system));
}

}  // namespace
}  // namespace ribbon
