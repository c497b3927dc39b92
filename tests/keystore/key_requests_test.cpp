// The CA request life cycle (issue 3, docs/KEYSTORE.md): `ribbon keys
// generate` makes a key and a CSR that openssl accepts, a CA (the test
// PKI's intermediate, driven by `openssl ca`) issues from it, `keys install`
// files the result next to its key, and the Digital ID signs mail that
// openssl verifies; refusals file nothing; `keys renew` and the rollover to
// the renewed certificate at its notBefore.
#include "ribbon/key_requests.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include "ribbon/keystore.hpp"
#include "support/keystore_util.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/request_ca.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

constexpr const char* kAddress = "no-reply@bank.example";
const hours kDay{24};

std::set<std::string> files_in(const fs::path& dir) {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.insert(e.path().filename().string());
    return out;
}

ProcessResult must_run(const std::vector<std::string>& argv, const ProcessOptions& o = {}) {
    ProcessResult r = run_process(argv, o);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return r;
}

struct Fixture {
    TempDir tmp{"ribbon-key-requests"};
    fs::path dir = tmp.path() / "ids";
    RequestCa ca{tmp.path() / "ca"};
    Keystore ks{dir};
    TimePoint now = std::chrono::system_clock::now();
    ProcessResult keys(std::vector<std::string> args) const {
        std::vector<std::string> argv = {ribbon_binary(), "keys", "--keystore", dir.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }
    // `keys generate`/`renew`: the printed CSR path.
    fs::path request(std::vector<std::string> args) const {
        ProcessResult r = keys(args);
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_EQ(r.err, "");
        std::string path = r.out.substr(0, r.out.find('\n'));
        EXPECT_EQ(r.out, path + "\n");
        EXPECT_TRUE(fs::exists(path)) << r.describe();
        return path;
    }
    fs::path issue(const fs::path& csr, TimePoint start, TimePoint end,
                   const std::string& section = "v3_copy") {
        return ca.issue(csr, start, end, section);
    }
    fs::path issue(const fs::path& csr, const std::string& section = "v3_copy") {
        return issue(csr, now - hours(1), now + 30 * kDay, section);
    }
    ProcessResult install(const fs::path& cert, bool chain = true) const {
        std::vector<std::string> args = {"install", cert.string()};
        if (chain) args.insert(args.end(), {"--chain", pki().chain.string()});
        return keys(args);
    }
};

fs::path key_of(const fs::path& csr) { return fs::path(csr).replace_extension(".key"); }
// The key's public key, recorded next to it for matching certificates.
fs::path pub_of(const fs::path& csr) { return fs::path(csr).replace_extension(".pub.pem"); }

TEST(KeyRequests, GenerateMakesASafeKeyAndAVerifiableCsrForEachType) {
    Fixture f;
    for (const char* type : {"rsa2048", "rsa3072", "ec-p256"}) {
        std::string address = std::string("sender-") + type + "@Bank.example";
        std::string lower = std::string("sender-") + type + "@bank.example";
        fs::path csr = f.request({"generate", address, "--type", type, "--org", "Bank AG"});
        fs::path key = key_of(csr);
        EXPECT_EQ(csr.parent_path(), f.dir / lower) << type;
        EXPECT_EQ(mode_of(key), 0600u) << type;
        EXPECT_EQ(mode_of(csr), 0644u) << type;
        EXPECT_EQ(mode_of(f.dir / lower), 0700u) << type;
        EXPECT_EQ(mode_of(pub_of(csr)), 0644u) << type;
        EXPECT_EQ(files_in(f.dir / lower),
                  (std::set<std::string>{key.filename().string(), pub_of(csr).filename().string(),
                                         csr.filename().string()}));
        ProcessResult v = must_run({"openssl", "req", "-in", csr.string(), "-verify", "-noout"});
        EXPECT_NE(v.err.find("verify OK"), std::string::npos) << type << v.describe();
        std::string text = must_run({"openssl", "req", "-in", csr.string(), "-text", "-noout"}).out;
        EXPECT_NE(text.find("Subject: O = Bank AG, CN = " + lower), std::string::npos) << text;
        EXPECT_NE(text.find("email:" + lower), std::string::npos) << text;
        EXPECT_NE(text.find("X509v3 Key Usage: critical\n                    Digital Signature\n"),
                  std::string::npos)
            << text;
        EXPECT_NE(text.find("X509v3 Extended Key Usage: \n                    E-mail Protection\n"),
                  std::string::npos)
            << text;
        std::string csr_pub =
            must_run({"openssl", "req", "-in", csr.string(), "-pubkey", "-noout"}).out;
        std::string key_pub = must_run({"openssl", "pkey", "-in", key.string(), "-pubout"}).out;
        EXPECT_EQ(csr_pub, key_pub) << type;
        EXPECT_EQ(read_file(pub_of(csr)), key_pub) << type;
        EXPECT_NE(csr_pub, "");
    }
    // Default type rsa3072, no O=.
    fs::path csr = f.request({"generate", kAddress});
    std::string text = must_run({"openssl", "req", "-in", csr.string(), "-text", "-noout"}).out;
    EXPECT_NE(text.find("Public-Key: (3072 bit)"), std::string::npos) << text;
    EXPECT_NE(text.find("Subject: CN = no-reply@bank.example\n"), std::string::npos) << text;
}

TEST(KeyRequests, GenerateRefusesAnAddressUnfitForADirectoryName) {
    Fixture f;
    ProcessResult r = f.keys({"generate", "../x@bank.example"});
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("[malformed_message]"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(f.dir));
}

TEST(KeyRequests, GenerateIssueInstallSignVerifiesWithOpenssl) {
    Fixture f;
    fs::path csr = f.request({"generate", kAddress, "--type", "ec-p256", "--org", "Bank AG"});
    fs::path cert = f.issue(csr);
    ProcessResult r = f.install(cert);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    fs::path filed = r.out.substr(0, r.out.find('\n'));
    EXPECT_EQ(filed.parent_path(), f.dir / kAddress);
    EXPECT_EQ(read_file(filed), read_file(cert));
    std::string chain_name = filed.stem().string() + ".chain.pem";
    EXPECT_EQ(read_file(f.dir / kAddress / chain_name), read_file(pki().chain));
    // The request is answered: the .csr is gone, the key stays.
    EXPECT_EQ(
        files_in(f.dir / kAddress),
        (std::set<std::string>{key_of(csr).filename().string(), pub_of(csr).filename().string(),
                               filed.filename().string(), chain_name}));

    ProcessResult s = run_process({ribbon_binary(), "sign", "--keystore", f.dir.string()},
                                  "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\n"
                                  "Subject: statement\r\n\r\nReady.\r\n");
    ASSERT_EQ(s.exit_code, 0) << s.describe();
    VerifyResult v = verify_openssl(s.out, pki().root_cert);
    EXPECT_TRUE(v.ok) << v.details;

    ProcessResult list = f.keys({"list"});
    EXPECT_EQ(list.exit_code, 0) << list.describe();
    EXPECT_NE(list.out.find("no-reply@bank.example  current  serial " + filed.stem().string()),
              std::string::npos)
        << list.out;
}

// Issue 3: a chain that does not lead to a trust anchor is filed with a
// warning naming the missing link.
TEST(KeyRequests, InstallWarnsWhenTheChainDoesNotReachATrustedRoot) {
    const std::string warning = "ribbon keys install: warning: ";
    {
        // Intermediate given and the test root trusted: no warning.
        Fixture f;
        fs::path cert = f.issue(f.request({"generate", kAddress, "--type", "ec-p256"}));
        ProcessResult r = f.keys({"install", cert.string(), "--chain", pki().chain.string(),
                                  "--ca", pki().root_cert.string()});
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_EQ(r.err.find(warning), std::string::npos) << r.err;
    }
    {
        // No intermediate: the chain stops at the leaf, whose issuer is missing.
        Fixture f;
        fs::path cert = f.issue(f.request({"generate", kAddress, "--type", "ec-p256"}));
        ProcessResult r = f.keys({"install", cert.string(), "--ca", pki().root_cert.string()});
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(": its issuer CN=Ribbon Test Mail CA,O=Ribbon Test is neither in the "
                             "chain nor a trusted root"),
                  std::string::npos)
            << r.err;
    }
    {
        // The whole chain, but its root is not among the system's roots.
        Fixture f;
        fs::path cert = f.issue(f.request({"generate", kAddress, "--type", "ec-p256"}));
        ProcessResult r = f.install(cert);
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_NE(r.err.find("the chain stops at CN=Ribbon Test Mail CA,O=Ribbon Test: its issuer "
                             "CN=Ribbon Test Root CA,O=Ribbon Test"),
                  std::string::npos)
            << r.err;
    }
}

TEST(KeyRequests, InstallRefusesAndFilesNothing) {
    Fixture f;
    fs::path csr = f.request({"generate", kAddress, "--type", "ec-p256"});
    const std::set<std::string> before = files_in(f.dir / kAddress);

    // A certificate whose key is not in the keystore.
    ProcessResult r = f.install(pki().rsa.cert);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(r.err.starts_with("ribbon keys install: " + pki().rsa.cert.string() +
                                  ": no key in the keystore " + f.dir.string() +
                                  " matches the certificate "))
        << r.err;
    EXPECT_TRUE(r.err.ends_with("[no_matching_key]\n")) << r.err;
    EXPECT_EQ(files_in(f.dir / kAddress), before);

    // Issued for our key, but for TLS clients only: no emailProtection.
    fs::path client = f.issue(csr, "v3_client");
    r = f.install(client);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon keys install: " + client.string() +
                         ": certificate CN=no-reply@bank.example does not allow emailProtection "
                         "(extendedKeyUsage) [certificate_usage]\n");
    EXPECT_EQ(files_in(f.dir / kAddress), before);

    // Issued for our key, but for another address than its directory.
    fs::path other = f.issue(csr, "v3_other");
    r = f.install(other, false);
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.err, "ribbon keys install: " + other.string() +
                         ": the certificate CN=no-reply@bank.example is not for "
                         "no-reply@bank.example [from_not_in_certificate]\n");
    EXPECT_EQ(files_in(f.dir / kAddress), before);

    // Truncated and corrupt PEM.
    fs::path good = f.issue(csr);
    std::string pem = read_file(good);
    fs::path truncated = f.tmp / "truncated.pem";
    write_file(truncated, pem.substr(0, pem.size() / 2));
    fs::path garbage = f.tmp / "garbage.pem";
    write_file(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
    for (const fs::path& bad : {truncated, garbage}) {
        r = f.install(bad);
        EXPECT_EQ(r.exit_code, 78) << r.describe();
        EXPECT_EQ(r.out, "");
        EXPECT_TRUE(r.err.starts_with("ribbon keys install: " + bad.string() +
                                      ": not a PEM certificate ("))
            << r.err;
        EXPECT_TRUE(r.err.ends_with("[bad_certificate]\n")) << r.err;
        EXPECT_EQ(files_in(f.dir / kAddress), before);
    }
    // The genuine one still installs afterwards.
    r = f.install(good);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

TEST(KeyRequests, RenewalTakesOverAtTheNewNotBeforeAndTheOldOneStays) {
    Fixture f;
    fs::path csr1 = f.request({"generate", kAddress, "--type", "ec-p256"});
    fs::path cert1 = f.issue(csr1, f.now - 2 * kDay, f.now + 30 * kDay);
    auto filed1 = install_certificate(f.ks, cert1, pki().chain);
    ASSERT_TRUE(filed1.ok()) << filed1.error().message();

    fs::path csr2 = f.request({"renew", kAddress, "--type", "ec-p256", "--org", "Bank AG"});
    EXPECT_NE(key_of(csr2), key_of(csr1));
    EXPECT_EQ(mode_of(key_of(csr2)), 0600u);
    must_run({"openssl", "req", "-in", csr2.string(), "-verify", "-noout"});
    const TimePoint start2 = f.now + 10 * kDay;
    fs::path cert2 = f.issue(csr2, start2, f.now + 400 * kDay);
    auto filed2 = install_certificate(f.ks, cert2, pki().chain);
    ASSERT_TRUE(filed2.ok()) << filed2.error().message();
    EXPECT_FALSE(fs::exists(csr2));

    auto before = f.ks.digital_id_for(kAddress, start2 - hours(1));
    ASSERT_TRUE(before.ok()) << before.error().message();
    EXPECT_EQ(before->entry.cert_file, *filed1);
    auto after = f.ks.digital_id_for(kAddress, start2 + hours(1));
    ASSERT_TRUE(after.ok()) << after.error().message();
    EXPECT_EQ(after->entry.cert_file, *filed2);
    EXPECT_EQ(after->entry.key_file, key_of(csr2));

    auto list = f.ks.list(f.now);
    ASSERT_TRUE(list.ok()) << list.error().message();
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].cert_file, *filed1);
    EXPECT_EQ((*list)[0].status, IdStatus::current);
    EXPECT_EQ((*list)[1].cert_file, *filed2);
    EXPECT_EQ((*list)[1].status, IdStatus::next);
}

TEST(KeyRequests, RenewWithoutACurrentCertificateIsAClearError) {
    Fixture f;
    fs::create_directories(f.dir);
    ProcessResult r = f.keys({"renew", kAddress});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "ribbon keys renew: no-reply@bank.example: renewal needs a certificate for "
                     "no-reply@bank.example that is valid now (use `ribbon keys generate` "
                     "otherwise): no Digital ID for no-reply@bank.example in the keystore " +
                         f.dir.string() + " [no_digital_id]\n");
    EXPECT_FALSE(fs::exists(f.dir / kAddress));

    // Only an expired certificate: refused too, and no new key is made.
    fs::path csr = f.request({"generate", kAddress, "--type", "ec-p256"});
    auto filed = install_certificate(f.ks, f.issue(csr, f.now - 40 * kDay, f.now - kDay));
    ASSERT_TRUE(filed.ok()) << filed.error().message();
    const std::set<std::string> before = files_in(f.dir / kAddress);
    auto renewed = renew_key_request(f.ks, kAddress, f.now);
    ASSERT_FALSE(renewed.ok());
    EXPECT_EQ(renewed.error().code(), Errc::certificate_expired);
    EXPECT_TRUE(renewed.error().message().starts_with(
        "renewal needs a certificate for no-reply@bank.example that is valid now"))
        << renewed.error().message();
    EXPECT_EQ(files_in(f.dir / kAddress), before);
}

// ---- passphrase-protected keys ----------------------------------------------

constexpr const char* kPassphrase = "statement run 42";

// Re-encrypts a key file in place, as an operator who wants the key
// protected does after `keys generate` (ribbon writes keys unencrypted).
void encrypt_in_place(const fs::path& key) {
    fs::path tmp = key.string() + ".enc";
    must_run({"openssl", "pkey", "-in", key.string(), "-aes256", "-passout",
              std::string("pass:") + kPassphrase, "-out", tmp.string()});
    fs::rename(tmp, key);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    ASSERT_NE(read_file(key).find("-----BEGIN ENCRYPTED PRIVATE KEY-----"), std::string::npos);
}

ProcessResult keys_with_env(const Fixture& f, std::vector<std::string> args,
                            std::vector<std::pair<std::string, std::string>> env) {
    std::vector<std::string> argv = {ribbon_binary(), "keys", "--keystore", f.dir.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.env = std::move(env);
    return run_process(argv, o);
}

// Issue 3: a certificate finds an encrypted key by the public key recorded
// next to it; the passphrase is needed to sign, not to install.
TEST(KeyRequests, InstallForAnEncryptedKeyNeedsNoPassphraseAndSignsWithOne) {
    Fixture f;
    fs::path csr = f.request({"generate", kAddress, "--type", "rsa2048"});
    const std::string encrypted_before = [&] {
        encrypt_in_place(key_of(csr));
        return read_file(key_of(csr));
    }();
    fs::path cert = f.issue(csr);
    ProcessResult r = f.install(cert);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    fs::path filed = r.out.substr(0, r.out.find('\n'));
    EXPECT_EQ(
        files_in(f.dir / kAddress),
        (std::set<std::string>{key_of(csr).filename().string(), pub_of(csr).filename().string(),
                               filed.filename().string(), filed.stem().string() + ".chain.pem"}));
    // The key file is untouched: still encrypted, still 0600.
    EXPECT_EQ(read_file(key_of(csr)), encrypted_before);
    EXPECT_EQ(mode_of(key_of(csr)), 0600u);
    // The public key file is not mistaken for a certificate.
    auto listed = f.ks.list(f.now);
    ASSERT_TRUE(listed.ok()) << listed.error().message();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front().cert_file, filed);
    EXPECT_EQ(listed->front().problem, "");
    EXPECT_EQ(listed->front().key_file, key_of(csr));

    const std::string message = message_from(kAddress);
    ProcessResult s = run_process({ribbon_binary(), "sign", "--keystore", f.dir.string()}, message);
    EXPECT_EQ(s.exit_code, 78) << s.describe();
    EXPECT_NE(s.err.find("the private key is encrypted and no password was given [wrong_password]"),
              std::string::npos)
        << s.err;
    write_file(f.tmp / "pw", std::string(kPassphrase) + "\n");
    s = run_process({ribbon_binary(), "sign", "--keystore", f.dir.string(), "--password-file",
                     (f.tmp / "pw").string()},
                    message);
    ASSERT_EQ(s.exit_code, 0) << s.describe();
    VerifyResult v = verify_openssl(s.out, pki().root_cert);
    EXPECT_TRUE(v.ok) << v.details;

    // The yearly renewal does not need the old key, so no passphrase either.
    auto renewed = renew_key_request(f.ks, kAddress, f.now);
    ASSERT_TRUE(renewed.ok()) << renewed.error().message();
    EXPECT_TRUE(fs::exists(renewed->csr_file));
}

// A keystore from before file keys had a .pub.pem: the request filed at
// generate time gives the public key, and install records it.
TEST(KeyRequests, InstallForAnEncryptedKeyInAnOlderKeystoreMatchesTheRequest) {
    Fixture f;
    fs::path csr = f.request({"generate", kAddress, "--type", "ec-p256"});
    const std::string csr_pub =
        must_run({"openssl", "req", "-in", csr.string(), "-pubkey", "-noout"}).out;
    fs::remove(pub_of(csr));
    encrypt_in_place(key_of(csr));
    ProcessResult r = f.install(f.issue(csr));
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_FALSE(fs::exists(csr));
    EXPECT_EQ(read_file(pub_of(csr)), csr_pub);
    EXPECT_EQ(mode_of(pub_of(csr)), 0644u);
}

// A key with no public key on record (filed by hand, or its request
// answered in an older keystore) is read to match it: with the passphrase.
TEST(KeyRequests, InstallForAnEncryptedKeyWithNothingOnRecordNeedsThePassphrase) {
    Fixture f;
    fs::path csr = f.request({"generate", kAddress, "--type", "ec-p256"});
    fs::path saved_csr = f.tmp / "request.csr";
    fs::copy_file(csr, saved_csr);
    fs::remove(csr);
    fs::remove(pub_of(csr));
    encrypt_in_place(key_of(csr));
    const std::set<std::string> before = files_in(f.dir / kAddress);
    fs::path cert = f.issue(saved_csr);

    ProcessResult r = f.install(cert);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "ribbon keys install: " + cert.string() +
                         ": the private key is encrypted and no password was given: " +
                         key_of(csr).string() +
                         " has no public key on record (.pub.pem or .csr) to match without it; "
                         "give --password-file or set RIBBON_KEY_PASSWORD [wrong_password]\n");
    EXPECT_EQ(files_in(f.dir / kAddress), before);

    r = keys_with_env(f, {"install", cert.string()}, {{"RIBBON_KEY_PASSWORD", "not it"}});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon keys install: " + cert.string() +
                         ": wrong password for the encrypted private key [wrong_password]\n");
    EXPECT_EQ(files_in(f.dir / kAddress), before);

    r = keys_with_env(f, {"install", cert.string()}, {{"RIBBON_KEY_PASSWORD", kPassphrase}});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    // Now on record: the next certificate for this key needs no passphrase.
    EXPECT_EQ(read_file(pub_of(csr)),
              must_run({"openssl", "req", "-in", saved_csr.string(), "-pubkey", "-noout"}).out);
    fs::path reissued = f.issue(saved_csr, f.now - hours(1), f.now + 60 * kDay);
    r = f.install(reissued);
    EXPECT_EQ(r.exit_code, 0) << r.describe();

    // --password-file works as RIBBON_KEY_PASSWORD does.
    fs::remove(pub_of(csr));
    write_file(f.tmp / "pw", std::string(kPassphrase) + "\n");
    r = f.keys(
        {"install", f.issue(saved_csr).string(), "--password-file", (f.tmp / "pw").string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

TEST(KeyRequests, InstallForAnEncryptedKeyRefusesWithTheRightErrors) {
    Fixture f;
    fs::path csr = f.request({"generate", kAddress, "--type", "ec-p256"});
    fs::path saved_csr = f.tmp / "request.csr";
    fs::copy_file(csr, saved_csr);
    encrypt_in_place(key_of(csr));
    const std::set<std::string> before = files_in(f.dir / kAddress);

    ProcessResult r = f.install(pki().rsa.cert);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_TRUE(r.err.ends_with("[no_matching_key]\n")) << r.err;

    fs::path client = f.issue(csr, "v3_client");
    r = f.install(client);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon keys install: " + client.string() +
                         ": certificate CN=no-reply@bank.example does not allow emailProtection "
                         "(extendedKeyUsage) [certificate_usage]\n");

    fs::path other = f.issue(csr, "v3_other");
    r = f.install(other, false);
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.err, "ribbon keys install: " + other.string() +
                         ": the certificate CN=no-reply@bank.example is not for "
                         "no-reply@bank.example [from_not_in_certificate]\n");
    EXPECT_EQ(files_in(f.dir / kAddress), before);

    // A public key on record that is not the certificate's: refused, not
    // trusted because of the file name.
    fs::path good = f.issue(csr);
    const std::string recorded = read_file(pub_of(csr));
    write_file(pub_of(csr),
               must_run({"openssl", "pkey", "-in", pki().ecdsa.key.string(), "-pubout"}).out);
    r = f.install(good);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    std::string stem = fs::path(csr).replace_extension().string();
    EXPECT_EQ(r.err, "ribbon keys install: " + good.string() +
                         ": the public key recorded for the key " + stem +
                         ".* is not the certificate's [no_matching_key]\n");
    write_file(pub_of(csr), recorded);

    // A key others can read is refused before anything is matched.
    fs::permissions(key_of(csr),
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    r = f.install(good);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon keys install: " + good.string() + ": key file " +
                         key_of(csr).string() +
                         " has mode 0640: group or others may use it; refused (chmod 600 it) "
                         "[unsafe_key_permissions]\n");
    EXPECT_EQ(files_in(f.dir / kAddress), before);

    fs::permissions(key_of(csr), fs::perms::owner_read | fs::perms::owner_write);
    r = f.install(good);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

}  // namespace
}  // namespace ribbon::test
