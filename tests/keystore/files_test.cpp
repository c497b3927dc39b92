// Unit tests of src/keystore/files.hpp, the keystore's file rules, called
// directly: the address rule's exact verdicts (the commands that use it
// have their own test, tests/keystore_address_test.cpp), the key id and
// public key checked against the openssl command, atomic and exclusive
// writes, private directories, and read_key_file()'s refusals by their
// exact Errc and message. The StrictModes cases through the Keystore and
// the CLI are tests/keystore_strict_modes_test.cpp.
#include "keystore/files.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/openssl_util.hpp"
#include "support/keystore_util.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::ks {
namespace {

namespace fs = std::filesystem;
using test::pki;

ossl::PkeyPtr load_private_key(const fs::path& pem_file) {
    const std::string pem = test::read_file(pem_file);
    ossl::BioPtr bio = ossl::mem_bio(pem);
    return ossl::PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// `openssl pkey -pubout` of a key file, as PEM or DER.
std::string openssl_public_key(const fs::path& key_file, const char* form) {
    auto r = test::run_process(
        {"openssl", "pkey", "-in", key_file.string(), "-pubout", "-outform", form});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return r.out;
}

// ---- addresses ------------------------------------------------------------------

TEST(KeystoreFiles, NormaliseAddressLowersAndUsesALabels) {
    EXPECT_EQ(*normalise_address("No-Reply@Bank.Example"), "no-reply@bank.example");
    // RFC 8398 §3: the domain as certificates carry it.
    EXPECT_EQ(*normalise_address("info@B\xC3\xBC"
                                 "cher.example"),
              "info@xn--bcher-kva.example");
    EXPECT_EQ(*normalise_address("info@xn--bcher-kva.example"), "info@xn--bcher-kva.example");
    // RFC 5321 §4.5.3.1.3: 254 octets at most; DNS labels of 61 here.
    const std::string label = std::string(61, 'b') + ".";
    const std::string longest = std::string(64, 'a') + "@" + label + label + label + "tst";
    ASSERT_EQ(longest.size(), 254u);
    EXPECT_TRUE(normalise_address(longest).ok());
}

TEST(KeystoreFiles, NormaliseAddressRefusesWhatIsNoSafeDirectoryName) {
    struct Case {
        std::string address;
        std::string message;
    };
    const std::string label = std::string(61, 'b') + ".";
    const std::string too_long = std::string(64, 'a') + "@" + label + label + label + "test";
    const Case cases[] = {
        {"", "\"\" is not a usable mail address (length)"},
        {too_long, "\"" + too_long + "\" is not a usable mail address (length)"},
        {"no-at.example",
         "\"no-at.example\" is not a usable mail address (it needs exactly one @ with text on both "
         "sides)"},
        {"a@b@c.example",
         "\"a@b@c.example\" is not a usable mail address (it needs exactly one @ with text on "
         "both sides)"},
        {"@bank.example",
         "\"@bank.example\" is not a usable mail address (it needs exactly one @ with text on "
         "both sides)"},
        {"a/b@bank.example",
         "\"a/b@bank.example\" is not a usable mail address (it contains a space, control "
         "character, slash, comma or quote)"},
        {"a\tb@bank.example",
         "\"a\\x09b@bank.example\" is not a usable mail address (it contains a space, "
         "control character, slash, comma or quote)"},
        {"a@bank.example\xFF",
         "\"a@bank.example\\xFF\" is not a usable mail address (it is not valid UTF-8)"},
        {".a@bank.example",
         "\".a@bank.example\" is not a usable mail address (the local part starts or ends with "
         "a dot, or has two in a row)"},
        {"a@..",
         "\"a@..\" is not a usable mail address (the domain starts or ends with a dot, or has two "
         "in a "
         "row)"},
        {"a@bank..example",
         "\"a@bank..example\" is not a usable mail address (the domain starts or ends with a "
         "dot, or has two in a row)"},
    };
    for (const Case& c : cases) {
        auto r = normalise_address(c.address);
        ASSERT_FALSE(r.ok()) << c.address;
        EXPECT_EQ(r.error().code(), Errc::malformed_message) << c.address;
        EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
        EXPECT_EQ(r.error().message(), c.message);
    }
}

// ---- key ids and public keys ---------------------------------------------------

TEST(KeystoreFiles, KeyIdIsSha256OfTheSpkiCutTo160Bits) {
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        // The reference: openssl's DER SubjectPublicKeyInfo through sha256sum.
        test::TempDir dir("ribbon-files");
        test::write_file(dir / "spki.der", openssl_public_key(leaf->key, "DER"));
        auto sum = test::run_process({"sha256sum", (dir / "spki.der").string()});
        ASSERT_EQ(sum.exit_code, 0);
        ossl::PkeyPtr key = load_private_key(leaf->key);
        ASSERT_TRUE(key);
        EXPECT_EQ(key_id(key.get()), sum.out.substr(0, 40));
        // The public key alone gives the same id: a certificate finds its key.
        const std::string cert_pem = test::read_file(leaf->cert);
        ossl::BioPtr bio = ossl::mem_bio(cert_pem);
        ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        ASSERT_TRUE(cert);
        EXPECT_EQ(key_id(X509_get0_pubkey(cert.get())), key_id(key.get()));
    }
    EXPECT_NE(key_id(load_private_key(pki().rsa.key).get()),
              key_id(load_private_key(pki().ecdsa.key).get()));
}

TEST(KeystoreFiles, PublicKeyPemIsOpensslsPubout) {
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        ossl::PkeyPtr key = load_private_key(leaf->key);
        ASSERT_TRUE(key);
        auto pem = public_key_pem(key.get());
        ASSERT_TRUE(pem.ok()) << pem.error().message();
        EXPECT_EQ(*pem, openssl_public_key(leaf->key, "PEM"));
        EXPECT_EQ(pem->find("PRIVATE"), std::string::npos);
    }
}

// ---- writing ---------------------------------------------------------------------

TEST(KeystoreFiles, WriteFileAtomicWritesTheModeAndLeavesNoTemporary) {
    test::TempDir dir("ribbon-files");
    const fs::path file = dir / "k.key";
    ASSERT_TRUE(write_file_atomic(file, "first", 0600, true).ok());
    EXPECT_EQ(test::read_file(file), "first");
    EXPECT_EQ(test::mode_of(file), 0600u);
    // Not exclusive: replaced, with the new mode.
    ASSERT_TRUE(write_file_atomic(file, "second", 0644, false).ok());
    EXPECT_EQ(test::read_file(file), "second");
    EXPECT_EQ(test::mode_of(file), 0644u);
    int entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
    EXPECT_EQ(entries, 1);
}

TEST(KeystoreFiles, WriteFileAtomicExclusiveNeverReplaces) {
    test::TempDir dir("ribbon-files");
    const fs::path file = dir / "k.key";
    test::write_file(file, "kept");
    auto r = write_file_atomic(file, "new", 0600, true);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(), "will not overwrite " + file.string() + ": File exists");
    EXPECT_EQ(test::read_file(file), "kept");
    // A dangling link in the way is not followed or replaced either.
    const fs::path link = dir / "l.key";
    fs::create_symlink(dir / "nowhere", link);
    auto through_link = write_file_atomic(link, "new", 0600, true);
    ASSERT_FALSE(through_link.ok());
    EXPECT_EQ(through_link.error().message(), "cannot create " + link.string() + ": File exists");
    EXPECT_FALSE(fs::exists(dir / "nowhere"));
    int entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
    EXPECT_EQ(entries, 2);
}

TEST(KeystoreFiles, WriteFileAtomicInAMissingDirectoryIsAPermanentIoError) {
    test::TempDir dir("ribbon-files");
    const fs::path file = dir / "missing" / "k.key";
    auto r = write_file_atomic(file, "x", 0600, false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(),
              "cannot create a file next to " + file.string() + ": No such file or directory");
}

TEST(KeystoreFiles, MakePrivateDirCreatesMissingLevels0700AndLeavesOthers) {
    test::TempDir dir("ribbon-files");
    ::chmod(dir.path().c_str(), 0755);
    const fs::path deep = dir / "a" / "b" / "c";
    ASSERT_TRUE(make_private_dir(deep).ok());
    EXPECT_EQ(test::mode_of(dir / "a"), 0700u);
    EXPECT_EQ(test::mode_of(dir / "a" / "b"), 0700u);
    EXPECT_EQ(test::mode_of(deep), 0700u);
    EXPECT_EQ(test::mode_of(dir.path()), 0755u);  // existing: not changed
    EXPECT_TRUE(make_private_dir(deep).ok());     // again: nothing to do
    test::write_file(dir / "file", "");
    // A file where the directory should be is no directory made.
    auto file = make_private_dir(dir / "file");
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.error().code(), Errc::io_error);
    EXPECT_EQ(file.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(file.error().message(),
              "cannot create directory " + (dir / "file").string() + ": File exists");
    auto r = make_private_dir(dir / "file" / "sub");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().message(),
              "cannot create directory " + (dir / "file").string() + ": File exists");
}

// ---- reading keys -----------------------------------------------------------------

struct KeyDir {
    test::TempDir tmp{"ribbon-files"};
    fs::path root = tmp.path() / "ids";
    Keystore store{root};
    KeyDir() {
        EXPECT_TRUE(make_private_dir(root / "a@bank.example").ok());
        ::chmod(tmp.path().c_str(), 0700);
    }
    fs::path key(const std::string& name, const std::string& bytes, unsigned mode = 0600) const {
        const fs::path p = root / "a@bank.example" / name;
        test::write_file(p, bytes);
        ::chmod(p.c_str(), mode);
        return p;
    }
};

void expect_unsafe(const Result<void>& r, const std::string& message) {
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.error().code(), Errc::unsafe_key_permissions);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(), message);
}

TEST(KeystoreFiles, ReadKeyFileReadsASafeKeyWhole) {
    KeyDir k;
    const std::string pem = test::read_file(pki().ecdsa.key);
    const fs::path file = k.key("1.key", pem);
    SecretString out;
    ASSERT_TRUE(read_key_file(k.store, file, out).ok());
    EXPECT_EQ(out.bytes, pem);
}

TEST(KeystoreFiles, ReadKeyFileRefusesModesOthersCouldUse) {
    KeyDir k;
    for (unsigned mode : {0640u, 0604u, 0610u}) {
        const fs::path file = k.key("1.key", "key", mode);
        SecretString out;
        char octal[8];
        std::snprintf(octal, sizeof octal, "%04o", mode);
        expect_unsafe(read_key_file(k.store, file, out),
                      "key file " + file.string() + " has mode " + octal +
                          ": group or others may use it; refused "
                          "(chmod 600 it)");
        EXPECT_EQ(out.bytes, "");
    }
    const fs::path dir = k.root / "a@bank.example";
    ::chmod(dir.c_str(), 0770);
    const fs::path file = k.key("1.key", "key");
    SecretString out;
    expect_unsafe(read_key_file(k.store, file, out),
                  "directory " + dir.string() +
                      " has mode 0770: group or others may write in it and plant a key or "
                      "a certificate; refused (chmod go-w it)");
}

TEST(KeystoreFiles, ReadKeyFileRefusesWhatIsNoRegularFileWithinTheKeystore) {
    KeyDir k;
    const fs::path dir = k.root / "a@bank.example";
    // A FIFO must not hang signing (O_NONBLOCK) and is no key.
    const fs::path fifo = dir / "2.key";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    SecretString out;
    expect_unsafe(read_key_file(k.store, fifo, out),
                  "key file " + fifo.string() + " is not a regular file; refused");
    // A link out of the keystore.
    const fs::path outside = k.tmp / "outside.key";
    test::write_file(outside, "key");
    const fs::path link = dir / "3.key";
    fs::create_symlink(outside, link);
    expect_unsafe(read_key_file(k.store, link, out),
                  "key file " + link.string() + " leads to " + outside.string() +
                      ", outside the keystore " + k.root.string() +
                      ": ribbon follows symbolic links only within the keystore; refused (copy the "
                      "key in, mode "
                      "0600)");
    // Missing: an I/O error, not a permission one.
    const fs::path missing = dir / "4.key";
    auto r = read_key_file(k.store, missing, out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(),
              "cannot read key file " + missing.string() + ": No such file or directory");
}

TEST(KeystoreFiles, ReadKeyFileRefusesAFileOverOneMiB) {
    KeyDir k;
    const fs::path file = k.key("1.key", std::string((1 << 20) + 1, 'k'));
    SecretString out;
    auto r = read_key_file(k.store, file, out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::bad_key);
    EXPECT_EQ(r.error().message(), "key file " + file.string() + " is over 1 MiB: not a key");
    EXPECT_TRUE(out.bytes.empty());
    const fs::path fits = k.key("2.key", std::string(1 << 20, 'k'));
    EXPECT_TRUE(read_key_file(k.store, fits, out).ok());
    EXPECT_EQ(out.bytes.size(), std::size_t{1} << 20);
}

}  // namespace
}  // namespace ribbon::ks
