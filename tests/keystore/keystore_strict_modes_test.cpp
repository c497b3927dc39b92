// The keystore's StrictModes (issue 13, defects 5 and 6): `ribbon sign`
// and `ribbon keys check` apply the same rules to the same files, because
// check loads each Digital ID with the call signing makes — a key file
// others may read, a symbolic link out of the keystore or to a file that is
// not a key, a directory others may write in or another user owns. Each
// case is asserted on both commands with its exact words and exit codes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ribbon/keystore.hpp"
#include "support/keystore_util.hpp"
#include "support/nobody.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAddress = "no-reply@bank.example";

// A keystore with the dev CA's Digital ID for kAddress, made by the command.
struct Strict {
    TempDir tmp{"ribbon-strict"};
    fs::path dir = tmp.path() / "ids";
    fs::path cert;
    fs::path key;

    Strict() {
        EXPECT_EQ(keys({"dev-ca", "init"}).exit_code, 0);
        ProcessResult r = keys({"dev-ca", "issue", kAddress});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        cert = r.out.substr(0, r.out.find('\n'));
        for (const auto& e : fs::directory_iterator(cert.parent_path())) {
            if (e.path().extension() == ".key") key = e.path();
        }
        EXPECT_FALSE(key.empty());
    }
    ProcessResult keys(std::vector<std::string> args, std::vector<std::string> prefix = {}) const {
        std::vector<std::string> argv = prefix;
        argv.insert(argv.end(), {ribbon_binary(), "keys", "--keystore", dir.string()});
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }
    ProcessResult sign(std::vector<std::string> prefix = {}) const {
        std::vector<std::string> argv = prefix;
        argv.insert(argv.end(), {ribbon_binary(), "sign", "--keystore", dir.string()});
        return run_process(argv, message_from(kAddress));
    }
    // Signing is refused with `message` [code], exit 78, and `keys check`
    // says CRITICAL with the same words, exit 2.
    void expect_refused(const std::string& message, const std::string& code) const {
        ProcessResult s = sign();
        EXPECT_EQ(s.exit_code, 78) << s.describe();
        EXPECT_EQ(s.out, "");
        EXPECT_EQ(s.err, "ribbon sign: <stdin>: " + message + " [" + code + "]\n");
        ProcessResult c = keys({"check"});
        EXPECT_EQ(c.exit_code, 2) << c.describe();
        EXPECT_EQ(c.out, "CRITICAL - " + std::string(kAddress) + ": cannot sign: " + message +
                             " [" + code + "]\n");
    }
    void expect_signs() const {
        ProcessResult s = sign();
        ASSERT_EQ(s.exit_code, 0) << s.describe();
        EXPECT_TRUE(verify_openssl(s.out, dir / "dev-ca/ca.pem").ok);
        ProcessResult c = keys({"check"});
        EXPECT_EQ(c.exit_code, 0) << c.describe();
        EXPECT_EQ(c.out.rfind("OK - " + std::string(kAddress) + ": serial ", 0), 0u) << c.out;
    }
};

// Defect 5: mode 0640 was refused by sign (78) while check said OK.
TEST(KeystoreStrictModes, KeyReadableByGroupIsCriticalAsSigningRefusesIt) {
    Strict s;
    s.expect_signs();
    ASSERT_EQ(::chmod(s.key.c_str(), 0640), 0);
    s.expect_refused("key file " + s.key.string() +
                         " has mode 0640: group or others may use it; refused (chmod 600 it)",
                     "unsafe_key_permissions");
}

// Defect 5: a key that is a link, within the keystore, to a file that is
// not a key: followed (it is inside), then refused as signing refuses it.
TEST(KeystoreStrictModes, KeyLinkedToAFileThatIsNotAKeyIsCritical) {
    Strict s;
    const fs::path other = s.dir / "not-a-key.pem";
    write_file(other, "hello\n");
    ASSERT_EQ(::chmod(other.c_str(), 0600), 0);
    fs::remove(s.key);
    fs::create_symlink("../not-a-key.pem", s.key);
    ProcessResult r = s.sign();
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("[bad_key]\n"), std::string::npos) << r.err;
    ProcessResult c = s.keys({"check"});
    EXPECT_EQ(c.exit_code, 2) << c.describe();
    // The same words as signing's, after "cannot sign: ".
    const std::string why = r.err.substr(std::string("ribbon sign: <stdin>: ").size());
    EXPECT_EQ(c.out, "CRITICAL - " + std::string(kAddress) + ": cannot sign: " + why) << r.err;
}

// A renewed or shared key linked in from elsewhere in the keystore is
// followed, relative or absolute; its real directory obeys the same rules.
TEST(KeystoreStrictModes, LinkWithinTheKeystoreIsFollowed) {
    Strict s;
    const fs::path shared = s.dir / "shared";
    fs::create_directory(shared);
    ASSERT_EQ(::chmod(shared.c_str(), 0700), 0);
    const fs::path moved = shared / s.key.filename();
    fs::rename(s.key, moved);
    fs::create_symlink(fs::path("..") / "shared" / s.key.filename(), s.key);
    s.expect_signs();
    fs::remove(s.key);
    fs::create_symlink(moved, s.key);
    s.expect_signs();

    ASSERT_EQ(::chmod(shared.c_str(), 0777), 0);
    s.expect_refused("directory " + shared.string() +
                         " has mode 0777: group or others may write in it and plant a key or a "
                         "certificate; refused (chmod go-w it)",
                     "unsafe_key_permissions");
    ASSERT_EQ(::chmod(shared.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(moved.c_str(), 0644), 0);
    s.expect_refused("key file " + s.key.string() + " (a link to " + moved.string() +
                         ") has mode 0644: group or others may use it; refused (chmod 600 it)",
                     "unsafe_key_permissions");
}

// A link out of the keystore is refused even to a good key of mode 0600:
// nothing protects the file it leads to, and a planted link must not make
// ribbon read any file on the machine.
TEST(KeystoreStrictModes, LinkOutOfTheKeystoreIsRefused) {
    Strict s;
    const fs::path outside = s.tmp / "elsewhere.key";
    fs::copy_file(s.key, outside);
    ASSERT_EQ(::chmod(outside.c_str(), 0600), 0);
    fs::remove(s.key);
    fs::create_symlink(outside, s.key);
    s.expect_refused("key file " + s.key.string() + " leads to " + outside.string() +
                         ", outside the keystore " + s.dir.string() +
                         ": ribbon follows symbolic links only within the keystore; refused "
                         "(copy the key in, mode 0600)",
                     "unsafe_key_permissions");
    // Through ".." too: the real path decides.
    fs::remove(s.key);
    fs::create_symlink("../../elsewhere.key", s.key);
    s.expect_refused("key file " + s.key.string() + " leads to " + outside.string() +
                         ", outside the keystore " + s.dir.string() +
                         ": ribbon follows symbolic links only within the keystore; refused "
                         "(copy the key in, mode 0600)",
                     "unsafe_key_permissions");
}

// Defect 6: chmod 777 on the keystore or an address directory lets anyone
// plant a certificate and a key; both commands refuse it. 0755 (readable,
// not writable by others) stays fine.
TEST(KeystoreStrictModes, DirectoryOthersMayWriteInIsRefused) {
    Strict s;
    const fs::path address_dir = s.cert.parent_path();
    for (const fs::path& d : {s.dir, address_dir}) {
        for (unsigned mode : {0777u, 0770u, 0702u}) {
            ASSERT_EQ(::chmod(d.c_str(), mode), 0);
            char text[8];
            std::snprintf(text, sizeof text, "%04o", mode);
            s.expect_refused("directory " + d.string() + " has mode " + text +
                                 ": group or others may write in it and plant a key or a "
                                 "certificate; refused (chmod go-w it)",
                             "unsafe_key_permissions");
        }
        ASSERT_EQ(::chmod(d.c_str(), 0755), 0);
        s.expect_signs();
        ASSERT_EQ(::chmod(d.c_str(), 0700), 0);
    }
    // The sticky bit does not make a shared directory safe for keys.
    ASSERT_EQ(::chmod(s.dir.c_str(), 01777), 0);
    s.expect_refused("directory " + s.dir.string() +
                         " has mode 1777: group or others may write in it and plant a key or a "
                         "certificate; refused (chmod go-w it)",
                     "unsafe_key_permissions");
}

// Ownership, as ssh's StrictModes: a directory or key of another non-root
// user is refused (that user could change them back at will). Run as root
// (CI), ribbon trusts the keystore's owner: the daemons' keystore belongs
// to their user and `sudo ribbon keys check` must see what they see.
TEST(KeystoreStrictModes, DirectoryOrKeyOfAnotherUserIsRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
    const std::string who = "uid " + std::to_string(nobody->pw_uid) + " (nobody)";
    Strict s;
    const fs::path address_dir = s.cert.parent_path();
    give_to_nobody(address_dir);
    s.expect_refused("directory " + address_dir.string() + " is owned by " + who +
                         ", not by root or the keystore's user uid 0 (root): that user could "
                         "change what ribbon signs with; refused (chown it)",
                     "unsafe_key_permissions");
    ASSERT_EQ(::chown(address_dir.c_str(), 0, 0), 0);
    give_to_nobody(s.key);
    s.expect_refused("key file " + s.key.string() + " is owned by " + who +
                         ", not by root or the keystore's user uid 0 (root): that user could "
                         "change what ribbon signs with; refused (chown it)",
                     "unsafe_key_permissions");

    // The whole keystore given to nobody (as make run and the daemons do):
    // root trusts it, and so does nobody itself.
    for (const auto& e : fs::recursive_directory_iterator(s.dir)) give_to_nobody(e.path());
    give_to_nobody(s.dir);
    ASSERT_EQ(::chmod(s.tmp.path().c_str(), 0755), 0);
    s.expect_signs();
    ProcessResult c = s.keys({"check"}, as_nobody_prefix());
    EXPECT_EQ(c.exit_code, 0) << c.describe();
    ProcessResult r = s.sign(as_nobody_prefix());
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    // A root-owned address directory in nobody's keystore is fine: root
    // can change anything anyway.
    ASSERT_EQ(::chown(address_dir.c_str(), 0, 0), 0);
    ASSERT_EQ(::chmod(address_dir.c_str(), 0755), 0);
    EXPECT_EQ(s.sign(as_nobody_prefix()).exit_code, 0);
}

// A key that others may read is refused by install and by the dev CA too:
// every reader of a key goes through the same rules.
TEST(KeystoreStrictModes, DevCaKeyObeysTheSameRules) {
    Strict s;
    const fs::path ca_key = s.dir / "dev-ca" / "ca.key";
    const fs::path outside = s.tmp / "ca.key";
    fs::rename(ca_key, outside);
    fs::create_symlink(outside, ca_key);
    ProcessResult r = s.keys({"dev-ca", "issue", "other@bank.example"});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon keys dev-ca issue: other@bank.example: key file " + ca_key.string() +
                         " leads to " + outside.string() + ", outside the keystore " +
                         s.dir.string() +
                         ": ribbon follows symbolic links only within the keystore; refused "
                         "(copy the key in, mode 0600) [unsafe_key_permissions]\n");
}

// An encrypted key: check needs the passphrase signing gets (--password-file
// or RIBBON_KEY_PASSWORD); without it signing fails, so check is CRITICAL.
TEST(KeystoreStrictModes, EncryptedKeyIsCheckedWithSigningsPassphrase) {
    Strict s;
    const fs::path encrypted = s.tmp / "encrypted.key";
    ProcessResult r = run_process({"openssl", "pkey", "-in", s.key.string(), "-aes256", "-passout",
                                   "pass:statement run 42", "-out", encrypted.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    fs::copy_file(encrypted, s.key, fs::copy_options::overwrite_existing);
    ASSERT_EQ(::chmod(s.key.c_str(), 0600), 0);
    r = s.keys({"check"});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_EQ(r.out, "CRITICAL - " + std::string(kAddress) +
                         ": cannot sign: the private key is encrypted and no password was given "
                         "[wrong_password]\n");
    write_file(s.tmp / "pw", "statement run 42\n");
    r = s.keys({"check", "--password-file", (s.tmp / "pw").string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out.rfind("OK - " + std::string(kAddress) + ": serial ", 0), 0u) << r.out;
    r = s.keys({"check", "--password-file", (s.tmp / "missing").string()});
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    EXPECT_EQ(r.out.rfind("UNKNOWN - ", 0), 0u) << r.out;
}

// The library call both commands use.
TEST(KeystoreStrictModes, DigitalIdForAppliesTheRules) {
    Strict s;
    Keystore ks(s.dir);
    auto now = std::chrono::system_clock::now();
    ASSERT_TRUE(ks.digital_id_for(kAddress, now).ok());
    ASSERT_EQ(::chmod(s.dir.c_str(), 0775), 0);
    auto refused = ks.digital_id_for(kAddress, now);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), Errc::unsafe_key_permissions);
    EXPECT_EQ(refused.error().kind(), ErrorKind::permanent);
}

}  // namespace
}  // namespace ribbon::test
