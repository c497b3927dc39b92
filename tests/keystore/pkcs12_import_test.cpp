// `ribbon keys import FILE.p12`: PKCS#12 bundles (RFC 7292) as CAs, NSS and
// `openssl pkcs12 -export` make them — modern (PBES2/AES) and legacy
// (RC2/3DES) — filed in the keystore and used to sign mail that openssl
// verifies; and every bad bundle refused with its exit code and error code,
// leaving the keystore untouched.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <random>
#include <sstream>

#include "ribbon/pkcs12.hpp"
#include "support/keystore_util.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPassword = "correct horse 7";

// A fresh keystore directory (not created: import must create it) and the
// files a test makes.
struct ImportStore {
    TempDir tmp{"ribbon-p12"};
    fs::path dir = tmp.path() / "ids";
    fs::path password_file = tmp.path() / "p12.pass";
    ImportStore() { write_file(password_file, std::string(kPassword) + "\n"); }

    ProcessResult keys(std::vector<std::string> args,
                       std::vector<std::pair<std::string, std::string>> env = {}) const {
        std::vector<std::string> argv = {ribbon_binary(), "keys", "--keystore", dir.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        ProcessOptions o;
        o.env = std::move(env);
        return run_process(argv, o);
    }
    ProcessResult import(const fs::path& p12, std::vector<std::string> extra = {}) const {
        std::vector<std::string> args = {"import", p12.string(), "--password-file",
                                         password_file.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return keys(args);
    }
    ProcessResult sign(const std::string& message) const {
        return run_process({ribbon_binary(), "sign", "--keystore", dir.string()}, message);
    }
    // `openssl pkcs12 -export` of a key and certificate with the test
    // PKI's intermediate, plus `extra` options (-legacy, -nokeys, ...).
    fs::path export_p12(const fs::path& key, const fs::path& cert, const std::string& name,
                        std::vector<std::string> extra = {}) const {
        fs::path out = tmp.path() / name;
        std::vector<std::string> argv = {"openssl",
                                         "pkcs12",
                                         "-export",
                                         "-in",
                                         cert.string(),
                                         "-certfile",
                                         pki().chain.string(),
                                         "-passout",
                                         std::string("pass:") + kPassword,
                                         "-out",
                                         out.string()};
        if (!key.empty()) argv.insert(argv.end(), {"-inkey", key.string()});
        argv.insert(argv.end(), extra.begin(), extra.end());
        ProcessResult r = run_process(argv);
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        return out;
    }
    // Nothing filed: no address directory in the keystore (or no keystore).
    bool nothing_filed() const {
        std::error_code ec;
        if (!fs::exists(dir, ec)) return true;
        for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
            if (e.is_regular_file(ec)) return false;
        }
        return true;
    }
};

// The single filed key of `address` (its name is the key id).
fs::path only_key_file(const fs::path& address_dir) {
    fs::path found;
    int keys = 0;
    for (const auto& e : fs::directory_iterator(address_dir)) {
        if (e.path().extension() == ".key") {
            found = e.path();
            ++keys;
        }
    }
    EXPECT_EQ(keys, 1) << address_dir;
    return found;
}

// Imported, listed, signs, and openssl accepts what it signed.
void expect_usable(const ImportStore& s, const ProcessResult& imported, const std::string& address,
                   const fs::path& anchor) {
    ASSERT_EQ(imported.exit_code, 0) << imported.describe();
    fs::path address_dir = s.dir / address;
    std::string cert_file = imported.out.substr(0, imported.out.find('\n'));
    EXPECT_EQ(fs::path(cert_file).parent_path(), address_dir) << imported.out;
    EXPECT_TRUE(fs::exists(cert_file)) << cert_file;
    EXPECT_EQ(mode_of(s.dir), 0700u);
    EXPECT_EQ(mode_of(address_dir), 0700u);
    EXPECT_EQ(mode_of(only_key_file(address_dir)), 0600u);

    ProcessResult list = s.keys({"list"});
    ASSERT_EQ(list.exit_code, 0) << list.describe();
    EXPECT_EQ(list.out.rfind(address + "  current  serial ", 0), 0u) << list.out;

    ProcessResult signed_msg = s.sign(message_from(address));
    ASSERT_EQ(signed_msg.exit_code, 0) << signed_msg.describe();
    VerifyResult v = verify_openssl(signed_msg.out, anchor);
    EXPECT_TRUE(v.ok) << v.details;
}

void expect_refused(const ImportStore& s, const ProcessResult& r, int exit_code,
                    const std::string& code, const std::string& text) {
    EXPECT_EQ(r.exit_code, exit_code) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("[" + code + "]"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
    EXPECT_TRUE(s.nothing_filed()) << s.dir;
}

TEST(Pkcs12Import, ModernOpensslBundleIsFiledWithItsChainAndSigns) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().rsa.key, pki().rsa.cert, "modern.p12");
    ProcessResult r = s.import(p12);
    expect_usable(s, r, pki().address, pki().root_cert);
    EXPECT_NE(r.err.find("1 intermediate)"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("legacy"), std::string::npos) << r.err;
    // The intermediate is filed as the chain; the root is not.
    std::string cert_file = r.out.substr(0, r.out.find('\n'));
    fs::path chain = cert_file.substr(0, cert_file.size() - 4) + ".chain.pem";
    EXPECT_EQ(read_file(chain), read_file(pki().intermediate_cert));
}

TEST(Pkcs12Import, LegacyRc2TripleDesBundleLoadsTheLegacyProvider) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().rsa.key, pki().rsa.cert, "legacy.p12", {"-legacy"});
    ProcessResult info = run_process({"openssl", "pkcs12", "-info", "-noout", "-legacy", "-in",
                                      p12.string(), "-passin", std::string("pass:") + kPassword});
    ASSERT_NE(info.err.find("pbeWithSHA1And40BitRC2-CBC"), std::string::npos) << info.describe();
    ProcessResult r = s.import(p12);
    expect_usable(s, r, pki().address, pki().root_cert);
    EXPECT_NE(r.err.find("uses legacy encryption (RC2/3DES)"), std::string::npos) << r.err;
}

// NSS-made (pk12util) bundle from Thunderbird's test data: Alice's
// certificate has no extensions at all — no keyUsage or extendedKeyUsage,
// which RFC 5280 reads as "any use", and no subjectAltName, so her address
// comes from the subject's emailAddress (RFC 8550 §3). It is valid
// 2026-01-26 .. 2031-01-26; after that the import must refuse it as expired.
TEST(Pkcs12Import, NssBundleFromThunderbirdImportsAlice) {
    ImportStore s;
    fs::path p12 = source_dir() / "tests/data/keystore/Alice.p12";
    ProcessResult r = s.keys({"import", p12.string()}, {{"RIBBON_P12_PASSWORD", "nss"}});
    if (std::chrono::system_clock::now() > time_from_unix(1927204715)) {  // 2031-01-26T14:38:35Z
        expect_refused(s, r, 78, "certificate_expired", "expired on 2031-01-26T14:38:35Z");
        return;
    }
    expect_usable(s, r, "alice@example.com", source_dir() / "tests/data/keystore/NSS-TestCA.pem");
    // The bundle's only CA certificate is the root: no chain file.
    EXPECT_NE(r.err.find("0 intermediates)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("for alice@example.com (serial "), std::string::npos) << r.err;
}

TEST(Pkcs12Import, LibraryReportsWhatItFiled) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().ecdsa.key, pki().ecdsa.cert, "ec.p12");
    Pkcs12ImportOptions o;
    o.password = kPassword;
    o.address = "No-Reply@Bank.Example";
    auto imported = import_pkcs12(Keystore(s.dir), p12, o);
    ASSERT_TRUE(imported.ok()) << imported.error().message();
    EXPECT_EQ(imported->address, "no-reply@bank.example");
    EXPECT_EQ(imported->chain_certificates, 1u);
    EXPECT_EQ(imported->certificate.key_description, "ECDSA P-256");
    EXPECT_EQ(imported->cert_file,
              s.dir / "no-reply@bank.example" / (imported->certificate.serial_hex + ".pem"));
}

// Exporters encode "no password" either as an empty BMPString or as none
// at all; both are tried when no password is given.
TEST(Pkcs12Import, BundleWithEmptyPasswordNeedsNone) {
    ImportStore s;
    fs::path p12 = s.tmp / "empty.p12";
    ProcessResult made =
        run_process({"openssl", "pkcs12", "-export", "-in", pki().rsa.cert.string(), "-inkey",
                     pki().rsa.key.string(), "-certfile", pki().chain.string(), "-passout",
                     "pass:", "-out", p12.string()});
    ASSERT_EQ(made.exit_code, 0) << made.describe();
    expect_usable(s, s.keys({"import", p12.string()}), pki().address, pki().root_cert);
}

TEST(Pkcs12Import, WrongPasswordIsRefusedAndNothingFiled) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().rsa.key, pki().rsa.cert, "modern.p12");
    write_file(s.password_file, "not the password\n");
    ProcessResult r = s.import(p12);
    expect_refused(s, r, 78, "wrong_password", "");
    EXPECT_EQ(r.err, "ribbon keys import: " + p12.string() +
                         ": wrong password for the PKCS#12 bundle, or the file is damaged: its "
                         "integrity MAC does not verify and the password decrypts none of its "
                         "contents [wrong_password]\n");
    // No password at all: the same code, and where to give one.
    r = s.keys({"import", p12.string()});
    expect_refused(s, r, 78, "wrong_password", "");
    EXPECT_EQ(r.err, "ribbon keys import: " + p12.string() +
                         ": the PKCS#12 bundle needs a password (--password-file or "
                         "RIBBON_P12_PASSWORD), or it is damaged: its integrity MAC does not "
                         "verify without one [wrong_password]\n");
}

// Where `openssl asn1parse` (run on `der_file`, inside the string at
// `strparse` when non-zero) puts the first item of `kind` ("cont [ 0 ]",
// "OCTET STRING") at depth `depth` after a line containing `after`: the
// offset of its contents.
std::size_t asn1_contents_at(const fs::path& der_file, std::size_t strparse,
                             const std::string& after, int depth, const std::string& kind) {
    std::vector<std::string> argv = {"openssl", "asn1parse", "-inform", "DER", "-in",
                                     der_file.string()};
    if (strparse != 0) argv.insert(argv.end(), {"-strparse", std::to_string(strparse)});
    ProcessResult r = run_process(argv);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    bool seen = false;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        if (!seen) {
            seen = line.find(after) != std::string::npos;
            continue;
        }
        unsigned long offset = 0, header = 0;
        int d = 0;
        if (std::sscanf(line.c_str(), " %lu:d=%d hl=%lu", &offset, &d, &header) == 3 &&
            d == depth && line.find(kind) != std::string::npos) {
            return offset + header;
        }
    }
    ADD_FAILURE() << "no " << kind << " after " << after << " in\n" << r.out;
    return 0;
}

fs::path with_byte_flipped(const ImportStore& s, const fs::path& p12, std::size_t offset,
                           const std::string& name) {
    std::string bytes = read_file(p12);
    EXPECT_LT(offset, bytes.size());
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x01);
    fs::path out = s.tmp / name;
    write_file(out, bytes);
    return out;
}

// Issue 13 (10d): a MAC that does not verify was always "wrong password".
// A right password still decrypts the intact parts of a damaged bundle
// (RFC 7292 §4.1), a wrong one none: one bit flipped in the encrypted
// certificates or in the MAC itself is damage; only the wrong password
// (or no password) keeps the wrong_password answer. openssl itself calls
// all three "Mac verify error: invalid password?".
TEST(Pkcs12Import, DamagedBundleIsToldFromAWrongPassword) {
    ImportStore s;
    const fs::path p12 = s.export_p12(pki().rsa.key, pki().rsa.cert, "modern.p12");
    // The authSafe's OCTET STRING, then inside it the encryptedData's
    // encryptedContent ([0] IMPLICIT, RFC 5652 §8): openssl's default
    // export encrypts the certificates there (PBES2, AES-256-CBC).
    const std::size_t auth_safe = asn1_contents_at(p12, 0, ":pkcs7-data", 3, "OCTET STRING");
    const std::size_t encrypted =
        auth_safe +
        asn1_contents_at(p12, auth_safe - 4, ":pkcs7-encryptedData", 5, "prim: cont [ 0 ]");
    // MacData's digest: the OCTET STRING after the digest algorithm.
    const std::size_t mac = asn1_contents_at(p12, 0, ":sha256", 3, "OCTET STRING");
    const std::string damaged_text =
        ": the PKCS#12 bundle is damaged: its integrity MAC does not verify, although the "
        "password decrypts its contents [bad_certificate]\n";
    for (const auto& [offset, name] :
         {std::pair{encrypted + 100, std::string("content.p12")}, std::pair{mac + 5, std::string("mac.p12")}}) {
        const fs::path bad = with_byte_flipped(s, p12, offset, name);
        ProcessResult check = run_process({"openssl", "pkcs12", "-in", bad.string(), "-noout",
                                           "-passin", std::string("pass:") + kPassword});
        EXPECT_NE(check.exit_code, 0) << check.describe();
        EXPECT_NE(check.err.find("Mac verify error"), std::string::npos) << check.describe();
        ProcessResult r = s.import(bad);
        expect_refused(s, r, 78, "bad_certificate", "");
        EXPECT_EQ(r.err, "ribbon keys import: " + bad.string() + damaged_text) << name;
    }
    // Damaged and the wrong password: nothing decrypts, so it stays the
    // ambiguous answer.
    write_file(s.password_file, "not the password\n");
    const fs::path bad = with_byte_flipped(s, p12, mac + 5, "mac-wrong.p12");
    ProcessResult r = s.import(bad);
    expect_refused(s, r, 78, "wrong_password", "or the file is damaged");
}

TEST(Pkcs12Import, TruncatedBundleIsNotPkcs12) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().rsa.key, pki().rsa.cert, "modern.p12");
    std::string whole = read_file(p12);
    fs::path cut = s.tmp / "cut.p12";
    write_file(cut, whole.substr(0, whole.size() / 2));
    expect_refused(s, s.import(cut), 78, "bad_certificate",
                   cut.string() + " is not a PKCS#12 bundle");
}

TEST(Pkcs12Import, RandomBytesAreNotPkcs12) {
    ImportStore s;
    std::mt19937 rng(7292);
    std::string noise(4096, '\0');
    for (char& c : noise) c = static_cast<char>(rng() & 0xff);
    fs::path junk = s.tmp / "junk.p12";
    write_file(junk, noise);
    expect_refused(s, s.import(junk), 78, "bad_certificate",
                   junk.string() + " is not a PKCS#12 bundle");
    // A PEM certificate handed over by mistake: the same.
    expect_refused(s, s.import(pki().rsa.cert), 78, "bad_certificate",
                   pki().rsa.cert.string() + " is not a PKCS#12 bundle");
}

TEST(Pkcs12Import, CertificateWithoutEmailProtectionIsRefused) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().no_email_eku.key, pki().no_email_eku.cert, "eku.p12");
    expect_refused(s, s.import(p12), 78, "certificate_usage",
                   "does not allow emailProtection (extendedKeyUsage)");
}

TEST(Pkcs12Import, BundleWithoutKeyIsRefused) {
    ImportStore s;
    fs::path p12 = s.export_p12({}, pki().rsa.cert, "nokey.p12", {"-nokeys"});
    expect_refused(s, s.import(p12), 78, "bad_key", p12.string() + " holds no private key");
}

TEST(Pkcs12Import, ExpiredCertificateIsRefused) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().expired.key, pki().expired.cert, "expired.p12");
    expect_refused(s, s.import(p12), 78, "certificate_expired", "; not imported");
}

// A certificate for two addresses, issued by the test PKI's intermediate.
struct TwoAddressBundle {
    fs::path p12;
    explicit TwoAddressBundle(const ImportStore& s) {
        fs::path key = s.tmp / "two.key", csr = s.tmp / "two.csr", cert = s.tmp / "two.pem",
                 ext = s.tmp / "two.ext";
        write_file(ext,
                   "subjectAltName=email:alerts@bank.example,email:no-reply@bank.example\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n");
        ProcessResult r =
            run_process({"openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                         key.string(), "-subj", "/CN=Bank alerts", "-out", csr.string()});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        r = run_process({"openssl", "x509", "-req", "-in", csr.string(), "-CA",
                         pki().intermediate_cert.string(), "-CAkey",
                         pki().intermediate_key.string(), "-set_serial", "0x7292", "-days", "30",
                         "-sha256", "-extfile", ext.string(), "-out", cert.string()});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        p12 = s.export_p12(key, cert, "two.p12");
    }
};

TEST(Pkcs12Import, TwoAddressesNeedAddress) {
    ImportStore s;
    TwoAddressBundle b(s);
    expect_refused(s, s.import(b.p12), 65, "from_not_in_certificate",
                   "is for several addresses (alerts@bank.example, no-reply@bank.example); "
                   "choose one with --address");
    expect_refused(s, s.import(b.p12, {"--address", "other@bank.example"}), 65,
                   "from_not_in_certificate", "is not for other@bank.example");
    ProcessResult r = s.import(b.p12, {"--address", "Alerts@bank.example"});
    expect_usable(s, r, "alerts@bank.example", pki().root_cert);
    EXPECT_EQ(r.out, (s.dir / "alerts@bank.example/7292.pem").string() + "\n");
}

TEST(Pkcs12Import, MissingBundleOrPasswordFileIsNoInput) {
    ImportStore s;
    fs::path missing = s.tmp / "missing.p12";
    expect_refused(s, s.import(missing), 66, "io_error",
                   "cannot read PKCS#12 bundle " + missing.string());
    fs::path p12 = s.export_p12(pki().rsa.key, pki().rsa.cert, "modern.p12");
    fs::remove(s.password_file);
    expect_refused(s, s.import(p12), 66, "io_error",
                   "cannot read password file " + s.password_file.string());
}

TEST(Pkcs12Import, SameBundleTwiceIsRefusedTheSecondTime) {
    ImportStore s;
    fs::path p12 = s.export_p12(pki().rsa.key, pki().rsa.cert, "modern.p12");
    ASSERT_EQ(s.import(p12).exit_code, 0);
    ProcessResult r = s.import(p12);
    EXPECT_EQ(r.exit_code, 66) << r.describe();
    EXPECT_NE(r.err.find("will not overwrite"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("[io_error]"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ribbon::test
