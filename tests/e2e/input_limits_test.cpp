// How messages are read, on every input path (issue 13, items 2 and 9):
// the maximum message size (ribbon/io.hpp kDefaultMaxMessageSize, the
// --max-message-size options, ribbon.toml max_message_size) stops `ribbon
// sign`, `verify`, `sendmail` and `learn` and the library's Spool with
// limit_exceeded instead of filling the disk, and special files (a FIFO,
// /dev/fd/N, /dev/zero, a directory) are read as streams or named for what
// they are. Headers-only messages are in headers_only_test.cpp.
//
// The endless inputs are real: /dev/zero through bash, bounded by a small
// --max-message-size so each test reads about 1 MiB.
#include <dirent.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "ribbon/config.hpp"
#include "ribbon/io.hpp"
#include "support/messages.hpp"
#include "support/milter_rig.hpp"
#include "support/mta.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/sign.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr int kRefused = 65;        // `ribbon sign`: EX_DATAERR
constexpr int kNoInput = 66;        // `ribbon sign`: EX_NOINPUT
constexpr int kVerifyUnreadable = 3;
constexpr const char* kOneMiB = "1048576";

std::string too_large(const std::string& command, const std::string& input) {
    return "ribbon " + command + ": " + input +
           ": the message is larger than the maximum message size (1048576 bytes) [limit_exceeded]\n";
}

// A valid message of about `size` bytes (short lines of text).
std::string message_of(std::size_t size) {
    std::string m =
        "From: Bank <no-reply@bank.example>\r\nTo: alice@customer.example\r\n"
        "Subject: statement\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n";
    while (m.size() < size) m += "a line of the statement, repeated to make it large\r\n";
    return m;
}

std::vector<std::string> sign_argv() {
    return {ribbon_binary(), "sign", "--key", pki().rsa.key.string(), "--cert", pki().rsa.cert.string(),
            "--chain", pki().chain.string()};
}

// `bash -c script` with $RIBBON, $KEY, $CERT, $CHAIN, $CA set.
ProcessResult bash(const std::string& script) {
    ProcessOptions o;
    o.env = {{"RIBBON", ribbon_binary()},
             {"KEY", pki().rsa.key.string()},
             {"CERT", pki().rsa.cert.string()},
             {"CHAIN", pki().chain.string()},
             {"CA", pki().root_cert.string()}};
    o.timeout = std::chrono::seconds(60);
    return run_process({"bash", "-c", script}, o);
}

// Descriptors of this process open on files in `dir` (an O_TMPFILE spool
// shows as "dir/#inode (deleted)").
int open_files_in(const fs::path& dir) {
    int count = 0;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        fs::path target = fs::read_symlink(e.path(), ec);
        if (!ec && target.string().starts_with(dir.string() + "/")) ++count;
    }
    return count;
}

TEST(InputLimits, SpoolStopsAtItsMaximumAndDropsItsFile) {
    TempDir tmp("ribbon-spool-limit");
    Spool spool(4096, tmp.path(), 64 * 1024);
    const std::string chunk(16 * 1024, 'x');
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(spool.write(chunk).ok()) << i;  // exactly 64 KiB fits
    EXPECT_FALSE(spool.in_memory());
    EXPECT_EQ(open_files_in(tmp.path()), 1);
    auto r = spool.write("y");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::limit_exceeded);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(), "the message is larger than the maximum message size (65536 bytes)");
    // The file is gone at once, not when the spool is destroyed, and a
    // later write cannot bring the message back.
    EXPECT_EQ(open_files_in(tmp.path()), 0);
    EXPECT_EQ(spool.size(), 0u);
    EXPECT_FALSE(spool.write("z").ok());
    EXPECT_EQ(spool.input().max_size(), 64u * 1024);
}

TEST(InputLimits, TheDefaultIs256MiBAndTheOptionsSayIt) {
    EXPECT_EQ(kDefaultMaxMessageSize, 256u * 1024 * 1024);
    EXPECT_EQ(Spool().max_size(), kDefaultMaxMessageSize);
    EXPECT_EQ(MessageInput::from_fd(0).max_size(), kDefaultMaxMessageSize);
    EXPECT_EQ(MessageInput::from_file("m.eml").max_size(), kDefaultMaxMessageSize);
    Config c;
    EXPECT_EQ(c.milter.max_message_size, kDefaultMaxMessageSize);
    EXPECT_EQ(c.sendmail.max_message_size, kDefaultMaxMessageSize);
    EXPECT_EQ(c.learn.max_message_size, kDefaultMaxMessageSize);
    for (const char* cmd : {"sign", "verify", "sendmail", "learn"}) {
        ProcessResult r = run_process({ribbon_binary(), cmd, "--help"});
        EXPECT_EQ(r.exit_code, 0) << cmd;
        EXPECT_NE(r.out.find("--max-message-size"), std::string::npos) << cmd << ": " << r.out;
        EXPECT_NE(r.out.find("268435456"), std::string::npos) << cmd << ": " << r.out;
    }
    // Every key is documented.
    const std::string doc = read_file(source_dir() / "docs/CONFIGURATION.md");
    EXPECT_NE(doc.find("| `max_message_size` | `268435456` |"), std::string::npos);
}

TEST(InputLimits, ConfigurationKeysAreReadAndWrittenBack) {
    auto c = Config::parse("[milter]\nmax_message_size = 2048\n[sendmail]\nmax_message_size = 4096\n"
                           "[learn]\nmax_message_size = 8192\n");
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->milter.max_message_size, 2048u);
    EXPECT_EQ(c->sendmail.max_message_size, 4096u);
    EXPECT_EQ(c->learn.max_message_size, 8192u);
    auto again = Config::parse(c->to_toml());
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ(again->milter.max_message_size, 2048u);
    EXPECT_EQ(again->sendmail.max_message_size, 4096u);
    EXPECT_EQ(again->learn.max_message_size, 8192u);
    auto bad = Config::parse("[sendmail]\nmax_message_size = 10\n", "ribbon.toml");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code(), Errc::bad_config);
    EXPECT_NE(bad.error().message().find("sendmail.max_message_size must be between 1024 and"),
              std::string::npos)
        << bad.error().message();
}

TEST(InputLimits, SignFromStdinPastTheLimitIsRefusedWithNothingWritten) {
    SignOptions so;
    so.extra = {"--max-message-size", kOneMiB};
    ProcessResult r = ribbon_sign(message_of(2 * 1024 * 1024), so);
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, too_large("sign", "<stdin>"));
    EXPECT_EQ(r.out, "");
    // Just under the limit is signed.
    r = ribbon_sign(message_of(1000 * 1024), so);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    VerifyResult v = verify_openssl(r.out);
    EXPECT_TRUE(v.ok) << v.details;
}

TEST(InputLimits, SignFileArgumentPastTheLimitLeavesNoOutputFile) {
    TempDir tmp("ribbon-limit-file");
    write_file(tmp / "big.eml", message_of(2 * 1024 * 1024));
    SignOptions so;
    so.out = tmp / "out.eml";
    so.extra = {"--max-message-size", kOneMiB, (tmp / "big.eml").string()};
    ProcessResult r = ribbon_sign("", so);
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, too_large("sign", (tmp / "big.eml").string()));
    EXPECT_EQ(r.out, "");
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(tmp.path())) left.push_back(e.path().filename());
    EXPECT_EQ(left, std::vector<std::string>{"big.eml"});
}

TEST(InputLimits, SignStopsReadingDevZero) {
    // stdin, a file argument, and through the keystore path's head reader.
    ProcessResult r = bash("exec \"$RIBBON\" sign --key \"$KEY\" --cert \"$CERT\" --max-message-size 1048576 "
                           "< /dev/zero");
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, too_large("sign", "<stdin>"));
    EXPECT_EQ(r.out, "");
    r = bash("exec \"$RIBBON\" sign --key \"$KEY\" --cert \"$CERT\" --max-message-size 1048576 /dev/zero");
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, too_large("sign", "/dev/zero"));
    EXPECT_EQ(r.out, "");
}

TEST(InputLimits, BatchRefusesTheLargeFileAndSignsTheRest) {
    TempDir tmp("ribbon-limit-batch");
    fs::create_directories(tmp / "in");
    write_file(tmp / "in/1-small.eml", message_of(4096));
    write_file(tmp / "in/2-big.eml", message_of(2 * 1024 * 1024));
    std::vector<std::string> argv = sign_argv();
    argv.insert(argv.end(), {"--max-message-size", kOneMiB, "--batch", (tmp / "in").string(), "--out-dir",
                             (tmp / "out").string()});
    ProcessResult r = run_process(argv);
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_NE(r.err.find(too_large("sign", (tmp / "in/2-big.eml").string())), std::string::npos) << r.err;
    EXPECT_TRUE(fs::exists(tmp / "out/1-small.eml"));
    EXPECT_FALSE(fs::exists(tmp / "out/2-big.eml"));
}

TEST(InputLimits, VerifyPastTheLimitIsUnreadable) {
    ProcessResult r = run_process({ribbon_binary(), "verify", "--max-message-size", kOneMiB},
                                  message_of(2 * 1024 * 1024));
    EXPECT_EQ(r.exit_code, kVerifyUnreadable) << r.describe();
    EXPECT_EQ(r.err, too_large("verify", "<stdin>"));
    EXPECT_EQ(r.out, "");
    r = bash("exec \"$RIBBON\" verify --max-message-size 1048576 < /dev/zero");
    EXPECT_EQ(r.exit_code, kVerifyUnreadable) << r.describe();
    EXPECT_EQ(r.err, too_large("verify", "<stdin>"));
    r = bash("exec \"$RIBBON\" verify --max-message-size 1048576 /dev/zero");
    EXPECT_EQ(r.exit_code, kVerifyUnreadable) << r.describe();
    EXPECT_EQ(r.err, too_large("verify", "/dev/zero"));
}

TEST(InputLimits, SendmailPastTheLimitSendsNothing) {
    TempDir tmp("ribbon-limit-sendmail");
    // A sendmail that records being run: it must not be.
    write_file(tmp / "sendmail", "#!/bin/sh\ntouch \"$0.ran\"\ncat > /dev/null\n");
    fs::permissions(tmp / "sendmail", fs::perms::owner_all);
    write_file(tmp / "ribbon.toml", "[sendmail]\npath = \"" + (tmp / "sendmail").string() +
                                        "\"\nmax_message_size = 1048576\n");
    const std::string config = (tmp / "ribbon.toml").string();
    ProcessResult r = run_process({ribbon_binary(), "sendmail", "--config", config, "-i", "alice@customer.example"},
                                  message_of(2 * 1024 * 1024));
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, too_large("sendmail", "<stdin>"));
    r = bash("exec \"$RIBBON\" sendmail --config '" + config + "' -i alice@customer.example < /dev/zero");
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, too_large("sendmail", "<stdin>"));
    EXPECT_FALSE(fs::exists(tmp / "sendmail.ran"));
    // The option overrides the file; under the limit the message goes on.
    r = run_process({ribbon_binary(), "sendmail", "--config", config, "--max-message-size", "4194304", "-i",
                     "alice@customer.example"},
                    message_of(2 * 1024 * 1024));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(fs::exists(tmp / "sendmail.ran"));
}

TEST(InputLimits, LearnRefusesLargeMessagesAndEndlessFiles) {
    TempDir tmp("ribbon-limit-learn");
    write_file(tmp / "ribbon.toml", "[learn]\nmax_message_size = 1048576\n");
    write_file(tmp / "big.eml", message_of(2 * 1024 * 1024));
    const std::vector<std::string> learn = {ribbon_binary(), "learn", "-c", (tmp / "ribbon.toml").string(),
                                            "--store", "sqlite://" + (tmp / "ribbon.db").string()};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> argv = learn;
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run_process(argv);
    };
    ProcessResult r = with({(tmp / "big.eml").string(), "/dev/zero"});
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, too_large("learn", (tmp / "big.eml").string()) + too_large("learn", "/dev/zero"));
    EXPECT_EQ(r.out, "learned 0 of 2 messages (0 skipped, 2 unreadable)\n");
    // The option overrides [learn] max_message_size.
    r = with({"--max-message-size", "4194304", (tmp / "big.eml").string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "learned 1 of 1 messages (0 skipped, 0 unreadable); unknown 1\n");
    // An mbox without line ends cannot be split into messages: it stops.
    r = with({"--mbox", "/dev/zero"});
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err,
              "ribbon learn: /dev/zero:1: a line longer than the maximum message size (1048576 bytes) "
              "[limit_exceeded]\n");
}

// [milter] max_message_size: a larger message is a bad message (rejected
// by default, on_bad_message), a smaller one is still signed.
TEST(InputLimits, MilterRejectsAMessageOverItsMaximum) {
    SKIP_WITHOUT_MTA();
    MilterRig rig;
    rig.write_config("max_message_size = 1048576\n");
    ASSERT_EQ(rig.start_milter(), "");
    ASSERT_EQ(rig.start_mta(), "") << rig.describe();
    const std::string sender = "no-reply@bank.example";
    std::string big = set_header(large_attachment_message(), "From", "Bank <no-reply@bank.example>");
    ASSERT_GT(big.size(), 1048576u);
    auto refused = rig.postfix().submit_smtp(big, sender, {"c@example.org"});
    EXPECT_EQ(refused.final_code, 554) << refused.transcript;
    EXPECT_NE(rig.milter_log().find("the message is larger than the maximum message size (1048576 bytes)"),
              std::string::npos)
        << rig.milter_log();
    ASSERT_EQ(rig.postfix().submit_smtp(notice_from(sender, "small-1"), sender, {"c@example.org"}).final_code, 250);
    ASSERT_TRUE(rig.sink().wait_for(1, std::chrono::seconds(30))) << rig.describe();
    EXPECT_EQ(rig.sink().count(), 1u);
    EXPECT_TRUE(verify_openssl(strip_received(rig.sink().messages()[0].data)).ok);
}

// Special files as the message argument (issue 13, item 9).

TEST(SpecialFiles, SignReadsAFifoAndDevFdAsStreams) {
    TempDir tmp("ribbon-fifo");
    write_file(tmp / "m.eml", message_of(300 * 1024));  // more than one pipe buffer
    ASSERT_EQ(::mkfifo((tmp / "fifo").c_str(), 0600), 0);
    const std::string dir = tmp.path().string();
    for (const std::string& script :
         {"timeout 30 cat '" + dir + "/m.eml' > '" + dir + "/fifo' & exec \"$RIBBON\" sign --key \"$KEY\" --cert "
          "\"$CERT\" --chain \"$CHAIN\" '" + dir + "/fifo'",
          "exec \"$RIBBON\" sign --key \"$KEY\" --cert \"$CERT\" --chain \"$CHAIN\" <(cat '" + dir + "/m.eml')"}) {
        SCOPED_TRACE(script);
        ProcessResult r = bash(script);
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        VerifyResult v = verify_openssl(r.out);
        EXPECT_TRUE(v.ok) << v.details;
        EXPECT_TRUE(v.content.ends_with("a line of the statement, repeated to make it large\r\n"));
    }
}

TEST(SpecialFiles, AKeystorePicksTheDigitalIdFromAFifoReadOnce) {
    // Without --id the From address picks the Digital ID: the header
    // section is read first, then the rest, from the one stream.
    TempDir tmp("ribbon-fifo-keystore");
    const std::string ks = (tmp / "ks").string();
    for (std::vector<std::string> a : {std::vector<std::string>{"dev-ca", "init"},
                                       std::vector<std::string>{"dev-ca", "issue", "no-reply@bank.example"}}) {
        a.insert(a.begin(), {ribbon_binary(), "keys", "--keystore", ks});
        ProcessResult r = run_process(a);
        ASSERT_EQ(r.exit_code, 0) << r.describe();
    }
    write_file(tmp / "m.eml", message_of(300 * 1024));
    ASSERT_EQ(::mkfifo((tmp / "fifo").c_str(), 0600), 0);
    const std::string dir = tmp.path().string();
    for (const std::string& script :
         {"timeout 30 cat '" + dir + "/m.eml' > '" + dir + "/fifo' & exec \"$RIBBON\" sign --keystore '" + ks + "' '" +
              dir + "/fifo'",
          "exec \"$RIBBON\" sign --keystore '" + ks + "' <(cat '" + dir + "/m.eml')"}) {
        SCOPED_TRACE(script);
        ProcessResult r = bash(script);
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        VerifyResult v = verify_openssl(r.out, ks + "/dev-ca/ca.pem");
        EXPECT_TRUE(v.ok) << v.details;
        EXPECT_TRUE(v.content.ends_with("a line of the statement, repeated to make it large\r\n"));
    }
    // Its header reader stops at the limit too, and names the file.
    ProcessResult r = bash("exec \"$RIBBON\" sign --keystore '" + ks + "' --max-message-size 1048576 /dev/zero");
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err,
              "ribbon sign: /dev/zero: the header section is longer than 1048576 bytes (no empty line ends it) "
              "[limit_exceeded]\n");
    EXPECT_EQ(r.out, "");
}

TEST(SpecialFiles, ADirectoryIsNamedAsSuch) {
    TempDir tmp("ribbon-dir-input");
    const std::string dir = tmp.path().string();
    std::vector<std::string> argv = sign_argv();
    argv.push_back(dir);
    ProcessResult r = run_process(argv);
    EXPECT_EQ(r.exit_code, kNoInput) << r.describe();
    EXPECT_EQ(r.err, "ribbon sign: " + dir + ": " + dir + " is a directory, not a message [io_error]\n");
    EXPECT_EQ(r.out, "");
    r = run_process({ribbon_binary(), "verify", dir});
    EXPECT_EQ(r.exit_code, kVerifyUnreadable) << r.describe();
    EXPECT_EQ(r.err, "ribbon verify: " + dir + ": " + dir + " is a directory, not a message [io_error]\n");
    EXPECT_EQ(r.out, "");
}

TEST(SpecialFiles, VerifyReadsAFifoAndDevFd) {
    TempDir tmp("ribbon-verify-fifo");
    std::string signed_message;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message_of(100 * 1024), {}, signed_message));
    write_file(tmp / "s.eml", signed_message);
    ASSERT_EQ(::mkfifo((tmp / "fifo").c_str(), 0600), 0);
    const std::string dir = tmp.path().string();
    for (const std::string& script :
         {"timeout 30 cat '" + dir + "/s.eml' > '" + dir + "/fifo' & exec \"$RIBBON\" verify --ca \"$CA\" '" + dir +
              "/fifo'",
          "exec \"$RIBBON\" verify --ca \"$CA\" <(cat '" + dir + "/s.eml')"}) {
        SCOPED_TRACE(script);
        ProcessResult r = bash(script);
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_NE(r.out.find("valid"), std::string::npos) << r.out;
    }
}

// Keys, certificates and chains are read with read_small_file(): a file
// named by mistake that never ends (or a FIFO that does not) stops at
// kMaxSmallFile (16 MiB) instead of filling memory.
TEST(SmallFiles, AnEndlessKeyOrChainFileIsRefusedAtTheLimit) {
    for (const char* option : {"--key", "--chain"}) {
        std::vector<std::string> argv = sign_argv();
        auto at = std::find(argv.begin(), argv.end(), option);
        ASSERT_NE(at, argv.end());
        *(at + 1) = "/dev/zero";
        ProcessResult r = run_process(argv, message_of(200));
        EXPECT_EQ(r.exit_code, kNoInput) << option << ": " << r.describe();
        const std::string what = std::string(option) == "--key" ? "key file" : "chain file";
        EXPECT_EQ(r.err, "ribbon sign: cannot read " + what +
                             " /dev/zero: it is larger than 16777216 bytes [io_error]\n");
        EXPECT_EQ(r.out, "");
    }
}

}  // namespace
}  // namespace ribbon::test
