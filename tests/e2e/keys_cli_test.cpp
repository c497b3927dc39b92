// `ribbon keys` and `ribbon sign --keystore` as an operator runs them: the
// dev CA, signing picked by From or --id (checked by openssl against the dev
// CA root), refused keys, usage errors, `keys list --json` and the
// monitoring exit codes of `keys check`.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "ribbon/keystore.hpp"
#include "support/keystore_util.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

constexpr const char* kAddress = "no-reply@bank.example";

// A fresh keystore per test, with a dev CA made by the command.
struct CliStore {
    TempDir tmp{"ribbon-keys-cli"};
    fs::path dir = tmp.path() / "ids";
    CliStore() {
        ProcessResult r = keys({"dev-ca", "init"});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_EQ(r.out, (dir / "dev-ca/ca.pem").string() + "\n");
    }
    ProcessResult keys(std::vector<std::string> args) const {
        std::vector<std::string> argv = {ribbon_binary(), "keys", "--keystore", dir.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }
    ProcessResult sign(const std::string& message, std::vector<std::string> args) const {
        std::vector<std::string> argv = {ribbon_binary(), "sign", "--keystore", dir.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, message);
    }
    fs::path issue(const std::string& address, std::vector<std::string> extra = {}) const {
        std::vector<std::string> args = {"dev-ca", "issue", address};
        args.insert(args.end(), extra.begin(), extra.end());
        ProcessResult r = keys(args);
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        std::string path = r.out.substr(0, r.out.find('\n'));
        EXPECT_TRUE(fs::exists(path)) << r.describe();
        return path;
    }
    fs::path root() const { return dir / "dev-ca/ca.pem"; }
};

TEST(KeysCli, DevCaIdSignsByFromAndOpensslVerifiesIt) {
    CliStore s;
    for (const char* type : {"ec-p256", "rsa2048", "rsa3072"}) {
        std::string address = std::string("sender-") + type + "@bank.example";
        s.issue(address, {"--type", type, "--days", "90"});
        ProcessResult r = s.sign(message_from(address), {});
        ASSERT_EQ(r.exit_code, 0) << type << ": " << r.describe();
        VerifyResult v = verify_openssl(r.out, s.root());
        EXPECT_TRUE(v.ok) << type << ": " << v.details;
        EXPECT_NE(r.err.find("comes from ribbon's dev CA"), std::string::npos) << r.err;
    }
}

// Issue 3: a passphrase-protected key in the keystore is read with
// --password-file or RIBBON_KEY_PASSWORD, never from the command line.
TEST(KeysCli, PassphraseProtectedKeyInTheKeystore) {
    CliStore s;
    const fs::path cert = s.issue(kAddress, {"--type", "ec-p256"});
    fs::path key;
    for (const auto& e : fs::directory_iterator(cert.parent_path())) {
        if (e.path().extension() == ".key") key = e.path();
    }
    ASSERT_FALSE(key.empty());
    const fs::path encrypted = s.tmp / "encrypted.key";
    ProcessResult r = run_process({"openssl", "pkey", "-in", key.string(), "-aes256", "-passout",
                                   "pass:statement run 42", "-out", encrypted.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    fs::copy_file(encrypted, key, fs::copy_options::overwrite_existing);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);

    r = s.sign(message_from(kAddress), {});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("the private key is encrypted and no password was given [wrong_password]"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.out, "");

    write_file(s.tmp / "pw", "statement run 42\n");
    r = s.sign(message_from(kAddress), {"--password-file", (s.tmp / "pw").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    VerifyResult v = verify_openssl(r.out, s.root());
    EXPECT_TRUE(v.ok) << v.details;

    ProcessOptions po;
    po.stdin_data = message_from(kAddress);
    po.env = {{"RIBBON_KEY_PASSWORD", "wrong"}};
    r = run_process({ribbon_binary(), "sign", "--keystore", s.dir.string(), "--id", kAddress}, po);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("[wrong_password]"), std::string::npos) << r.err;
}

TEST(KeysCli, IdOverridesFromAndBatchPicksPerMessage) {
    CliStore s;
    s.issue("a@bank.example");
    s.issue("b@bank.example");
    ProcessResult r = s.sign(message_from("a@bank.example"), {"--id", "A@bank.example"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(verify_openssl(r.out, s.root()).ok);
    // --id names the Digital ID; the From check still applies (RFC 8550 §3).
    r = s.sign(message_from("a@bank.example"), {"--id", "b@bank.example"});
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("[from_not_in_certificate]"), std::string::npos) << r.err;

    fs::path in = s.tmp / "new";
    fs::create_directories(in);
    write_file(in / "1.eml", message_from("a@bank.example"));
    write_file(in / "2.eml", message_from("b@bank.example"));
    write_file(in / "3.eml", message_from("c@bank.example"));
    r = s.sign("", {"--batch", in.string(), "--out-dir", (s.tmp / "out").string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    for (const char* name : {"1.eml", "2.eml"}) {
        VerifyResult v = verify_openssl(read_file(s.tmp / "out" / name), s.root());
        EXPECT_TRUE(v.ok) << name << ": " << v.details;
    }
    EXPECT_FALSE(fs::exists(s.tmp / "out/3.eml"));
    EXPECT_NE(r.err.find("ribbon sign: " + (in / "3.eml").string() +
                         ": no Digital ID for c@bank.example in the keystore " + s.dir.string() +
                         " [no_digital_id]\n"),
              std::string::npos)
        << r.err;
}

TEST(KeysCli, AddressWithoutDigitalIdIsAClearError) {
    CliStore s;
    s.issue(kAddress);
    ProcessResult r = s.sign(message_from("nobody@bank.example"), {});
    EXPECT_EQ(r.exit_code, 78);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              "ribbon sign: <stdin>: no Digital ID for nobody@bank.example in the keystore " +
                  s.dir.string() + " [no_digital_id]\n");
    r = s.sign(message_from(kAddress), {"--id", "nobody@bank.example"});
    EXPECT_EQ(r.exit_code, 78);
    EXPECT_EQ(r.err,
              "ribbon sign: nobody@bank.example: no Digital ID for nobody@bank.example in the "
              "keystore " +
                  s.dir.string() + " [no_digital_id]\n");
    r = s.sign("To: c@example.org\r\n\r\nno sender\r\n", {});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_EQ(r.err, "ribbon sign: <stdin>: the message has no From header [no_from]\n");
}

// Issue 3: picking the Digital ID by From reads only the header section of
// a piped message, then streams the rest into the signer: a 64 MiB message
// costs ribbon a fraction of its size in memory (measured: about 22 MiB,
// the same as with --id; when stdin was read whole first, a 50 MB message
// cost 75 MB), and it verifies.
TEST(KeysCli, PickingByFromStreamsALargePipedMessage) {
    CliStore s;
    s.issue(kAddress);
    const std::size_t kSize = 64 * 1024 * 1024;
    std::string message = message_from(kAddress);
    message.resize(message.size() - std::string("Ready.\r\n").size());
    const std::string line = std::string(70, 'x') + "\r\n";
    message.reserve(kSize + line.size());
    while (message.size() < kSize) message += line;

    // Measured by time(1), not getrusage(RUSAGE_CHILDREN) here: a child
    // forked from this test process starts with the test's own memory
    // (the message) resident until it execs.
    ProcessResult r = run_process(
        {"/usr/bin/time", "-f", "%M", ribbon_binary(), "sign", "--keystore", s.dir.string()},
        message);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    std::string err = r.err.substr(0, r.err.size() - 1);  // time's line ends the output
    const std::size_t peak_kib = std::stoul(err.substr(err.rfind('\n') + 1));
    EXPECT_LT(peak_kib * 1024, kSize / 2)
        << "peak RSS " << peak_kib << " KiB for a " << kSize / 1024 << " KiB message";
    VerifyResult v = verify_openssl(r.out, s.root());
    ASSERT_TRUE(v.ok) << v.details;
    EXPECT_TRUE(v.content.ends_with("\r\n\r\n" + message.substr(message.find("\r\n\r\n") + 4)));
}

// A header section without end is refused before it fills memory.
TEST(KeysCli, PickingByFromRefusesAnEndlessHeaderSection) {
    CliStore s;
    s.issue(kAddress);
    std::string message = "From: Bank <no-reply@bank.example>\r\n";
    while (message.size() <= 2 * 1024 * 1024)
        message += "X-Filler: " + std::string(60, 'y') + "\r\n";
    ProcessResult r = s.sign(message, {});
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              "ribbon sign: <stdin>: the header section is longer than 1048576 bytes "
              "(no empty line ends it) [limit_exceeded]\n");
}

TEST(KeysCli, KeyReadableByOthersIsRefusedWithExit78) {
    CliStore s;
    fs::path cert = s.issue(kAddress);
    for (const auto& f : fs::directory_iterator(cert.parent_path())) {
        if (f.path().extension() == ".key") {
            ASSERT_EQ(::chmod(f.path().c_str(), 0644), 0);
        }
    }
    ProcessResult r = s.sign(message_from(kAddress), {});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("has mode 0644: group or others may use it; refused (chmod 600 it) "
                         "[unsafe_key_permissions]\n"),
              std::string::npos)
        << r.err;
}

TEST(KeysCli, SignNeedsExactlyOneWayToADigitalId) {
    CliStore s;
    s.issue(kAddress);
    const Pki& p = pki();
    std::string msg = message_from(kAddress);
    ProcessResult r = run_process({ribbon_binary(), "sign"}, msg);
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    EXPECT_EQ(r.err, "ribbon sign: give --key and --cert, or --keystore (and --id)\n");
    r = run_process({ribbon_binary(), "sign", "--key", p.rsa.key.string()}, msg);
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    r = s.sign(msg, {"--key", p.rsa.key.string(), "--cert", p.rsa.cert.string()});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    r = s.sign(msg, {"--chain", p.chain.string()});  // the keystore files chains itself
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    r = run_process({ribbon_binary(), "sign", "--id", kAddress, "--cert", p.rsa.cert.string()},
                    msg);
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    // --id without --keystore takes RIBBON_KEYSTORE.
    ProcessOptions o;
    o.stdin_data = msg;
    o.env = {{"RIBBON_KEYSTORE", s.dir.string()}};
    r = run_process({ribbon_binary(), "sign", "--id", kAddress}, o);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(verify_openssl(r.out, s.root()).ok);
}

TEST(KeysCli, ListJsonHasEveryField) {
    CliStore s;
    fs::path cert = s.issue(kAddress, {"--days", "100", "--type", "rsa2048"});
    ProcessResult r = s.keys({"list", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    std::string serial = cert.stem().string();
    for (const std::string& field :
         {std::string("\"address\": \"no-reply@bank.example\""),
          std::string("\"subject\": \"CN=no-reply@bank.example\""),
          std::string("\"issuer\": \"CN=ribbon dev CA (TEST ONLY)\""),
          "\"serial\": \"" + serial + "\"", std::string("\"not_before\": \"20"),
          std::string("\"not_after\": \"20"), std::string("\"days_left\": 99"),
          std::string("\"key_type\": \"RSA-2048\""), std::string("\"key_location\": \"file\""),
          std::string("\"key_present\": true"), std::string("\"status\": \"current\""),
          std::string("\"dev_ca\": true"), "\"cert_file\": \"" + cert.string() + "\"",
          std::string("\"chain_file\": null")}) {
        EXPECT_NE(r.out.find(field), std::string::npos) << field << "\n" << r.out;
    }
    EXPECT_EQ(r.out.front(), '[');
    r = s.keys({"list"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out.rfind("no-reply@bank.example  current  serial " + serial, 0), 0u) << r.out;
}

TEST(KeysCli, CheckExitCodesFollowTheMonitoringConvention) {
    {
        TempDir empty("ribbon-keys-empty");
        ProcessResult r =
            run_process({ribbon_binary(), "keys", "--keystore", empty.path().string(), "check"});
        EXPECT_EQ(r.exit_code, 3) << r.describe();
        EXPECT_EQ(r.out,
                  "UNKNOWN - no Digital IDs in the keystore " + empty.path().string() + "\n");
        r = run_process(
            {ribbon_binary(), "keys", "--keystore", (empty / "missing").string(), "check"});
        EXPECT_EQ(r.exit_code, 3) << r.describe();
        EXPECT_EQ(r.out,
                  "UNKNOWN - the keystore " + (empty / "missing").string() + " does not exist\n");
    }
    CliStore s;
    s.issue("ok@bank.example", {"--days", "100"});
    ProcessResult r = s.keys({"check"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out.rfind("OK - ok@bank.example: serial ", 0), 0u) << r.out;

    s.issue("soon@bank.example", {"--days", "20"});
    EXPECT_EQ(s.keys({"check"}).exit_code, 1);
    EXPECT_EQ(s.keys({"check", "--warn-days", "10"}).exit_code, 0);

    s.issue("urgent@bank.example", {"--days", "5"});
    r = s.keys({"check"});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.out.find("CRITICAL - urgent@bank.example: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("WARNING - soon@bank.example: "), std::string::npos) << r.out;
    EXPECT_EQ(s.keys({"check", "--critical-days", "3"}).exit_code, 1);
    EXPECT_EQ(s.keys({"check", "--critical-days", "3", "--warn-days", "4"}).exit_code, 0);

    // Expired (made through the library: the command only issues from now).
    Keystore ks(s.dir);
    DevCaIssueOptions o;
    auto now = std::chrono::system_clock::now();
    o.not_before = now - hours(24 * 30);
    o.not_after = now - hours(24);
    ASSERT_TRUE(DevCa::issue(ks, "expired@bank.example", o).ok());
    r = s.keys({"check", "--critical-days", "0", "--warn-days", "0"});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.out.find("CRITICAL - expired@bank.example: expired on "), std::string::npos)
        << r.out;

    // An unreadable certificate makes the check UNKNOWN, not OK.
    TempDir t("ribbon-keys-unknown");
    fs::create_directories(t / "x@bank.example");
    write_file(t / "x@bank.example/00.pem", "not a certificate\n");
    r = run_process({ribbon_binary(), "keys", "--keystore", t.path().string(), "check"});
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    EXPECT_EQ(r.out.rfind("UNKNOWN - x@bank.example: certificate file ", 0), 0u) << r.out;
}

// Issue 3: a keystore directory that cannot be written is a clear error
// naming it. /proc/self is a directory no one, root included, can create
// files in (permission bits would not stop root, which runs CI).
TEST(KeysCli, KeystoreThatCannotBeWrittenIsAClearError) {
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"dev-ca", "init"},
          std::vector<std::string>{"generate", "no-reply@bank.example", "--type", "ec-p256"}}) {
        std::vector<std::string> argv = {ribbon_binary(), "keys", "--keystore", "/proc/self"};
        argv.insert(argv.end(), cmd.begin(), cmd.end());
        ProcessResult r = run_process(argv);
        EXPECT_EQ(r.exit_code, 66) << r.describe();
        EXPECT_NE(r.err.find("cannot create directory /proc/self/"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("[io_error]"), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "");
    }
}

}  // namespace
}  // namespace ribbon::test
