// `ribbon sendmail` in front of a real Postfix's sendmail (relaying to
// smtp-sink): what an application hands it arrives signed when its sender
// is in [[signer]], untouched otherwise, and a failure is the sendmail exit
// code the application expects, with nothing sent.
#include <gtest/gtest.h>

#include "support/messages.hpp"
#include "support/milter_rig.hpp"
#include "support/pki.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr const char* kSender = "no-reply@bank.example";

// Postfix without the milter: ribbon sendmail does the signing.
struct Rig {
    MilterRig rig;
    bool ok = false;
    explicit Rig(const std::string& sendmail_extra = {}) {
        if (!mta_unavailable_reason().empty()) return;
        EXPECT_EQ(rig.start_mta({}, {}, false), "") << rig.describe();
        rig.write_config({}, "[sendmail]\npath = \"/usr/sbin/sendmail\"\nargs = [\"-C\", \"" +
                                 rig.postfix().config_dir().string() + "\"]\n" + sendmail_extra);
        ok = true;
    }
    ProcessResult send(const std::string& message, std::vector<std::string> args) {
        std::vector<std::string> argv = {ribbon_binary(), "sendmail", "--config", rig.config_file().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, message);
    }
};

// What applications hand to sendmail: LF line ends.
std::string lf(const std::string& crlf) {
    std::string out;
    for (char c : crlf) {
        if (c != '\r') out += c;
    }
    return out;
}

TEST(SendmailCommand, SignsForASignerAndHandsOverWithTheEnvelope) {
    SKIP_WITHOUT_MTA();
    Rig r;
    ASSERT_TRUE(r.ok);
    std::string msg = lf(notice_from(kSender, "sm-1", "Grüße — your statement is ready."));
    auto p = r.send(msg, {"-i", "-f", kSender, "customer@example.org", "second@example.org"});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    ASSERT_TRUE(r.rig.sink().wait_for(1, seconds(30))) << r.rig.describe();
    SinkMessage m = r.rig.sink().messages()[0];
    EXPECT_EQ(m.mail_from, kSender);
    EXPECT_EQ(m.rcpts, (std::vector<std::string>{"customer@example.org", "second@example.org"}));
    expect_verified_everywhere(strip_received(m.data));
}

TEST(SendmailCommand, DashTTakesRecipientsFromHeadersAndALoneDotEndsTheMessage) {
    SKIP_WITHOUT_MTA();
    Rig r;
    ASSERT_TRUE(r.ok);
    std::string msg = lf(notice_from(kSender, "sm-2"));
    // Without -i, "." alone on a line ends the input, as with sendmail(8).
    auto p = r.send(msg + ".\nnot part of the message\n", {"-t", "-oem"});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    ASSERT_TRUE(r.rig.sink().wait_for(1, seconds(30))) << r.rig.describe();
    SinkMessage m = r.rig.sink().messages()[0];
    EXPECT_EQ(m.rcpts, std::vector<std::string>{"customer@example.org"});
    auto v = verify_openssl(strip_received(m.data));
    ASSERT_TRUE(v.ok) << v.details;
    EXPECT_EQ(v.content.find("not part of the message"), std::string::npos);
}

TEST(SendmailCommand, OtherSendersPassUntouched) {
    SKIP_WITHOUT_MTA();
    Rig r;
    ASSERT_TRUE(r.ok);
    std::string msg = notice_from("news@shop.example", "sm-3");
    auto p = r.send(lf(msg), {"-oi", "-f", "news@shop.example", "c@example.org"});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    ASSERT_TRUE(r.rig.sink().wait_for(1, seconds(30))) << r.rig.describe();
    EXPECT_EQ(strip_received(r.rig.sink().messages()[0].data), msg);
}

TEST(SendmailCommand, NoKeyIsTempfailAndNothingIsSent) {
    SKIP_WITHOUT_MTA();
    Rig r;
    ASSERT_TRUE(r.ok);
    fs::remove(r.rig.key_file());
    auto p = r.send(lf(notice_from(kSender, "sm-4")), {"-i", "c@example.org"});
    EXPECT_EQ(p.exit_code, 75) << p.describe();
    EXPECT_NE(p.err.find("message not sent, try again later (on_no_key = \"tempfail\")"), std::string::npos) << p.err;
    EXPECT_EQ(r.rig.postfix().queue_size(), 0);
    EXPECT_EQ(r.rig.sink().count(), 0u);
}

TEST(SendmailCommand, NoKeyWithAcceptPassesUnsignedAndSaysSo) {
    SKIP_WITHOUT_MTA();
    Rig r("on_no_key = \"accept\"\n");
    ASSERT_TRUE(r.ok);
    fs::remove(r.rig.key_file());
    std::string msg = notice_from(kSender, "sm-5");
    auto p = r.send(lf(msg), {"-i", "c@example.org"});
    EXPECT_EQ(p.exit_code, 0) << p.describe();
    EXPECT_NE(p.err.find("passing the message on unsigned (on_no_key = \"accept\")"), std::string::npos) << p.err;
    ASSERT_TRUE(r.rig.sink().wait_for(1, seconds(30))) << r.rig.describe();
    EXPECT_EQ(strip_received(r.rig.sink().messages()[0].data), msg);
}

TEST(SendmailCommand, BadMessageIsRefusedWithExDataErr) {
    SKIP_WITHOUT_MTA();
    Rig r;
    ASSERT_TRUE(r.ok);
    std::string bad = "From: Bank <no-reply@bank.example>\nTo: c@example.org\nSubject: x\nMIME-Version: 1.0\n"
                      "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nno end\n";
    auto p = r.send(bad, {"-i", "c@example.org"});
    EXPECT_EQ(p.exit_code, 65) << p.describe();
    EXPECT_NE(p.err.find("message refused, not sent (on_bad_message = \"reject\")"), std::string::npos) << p.err;
    EXPECT_EQ(r.rig.sink().count(), 0u);
}

TEST(SendmailCommand, UsageAndConfigurationErrors) {
    TempDir tmp("ribbon-sendmail");
    write_file(tmp / "ok.toml", "[sendmail]\npath = \"/nonexistent/sendmail\"\n");
    write_file(tmp / "bad.toml", "[sendmail]\npaht = \"/usr/sbin/sendmail\"\n");
    auto run = [&](std::vector<std::string> args) {
        std::vector<std::string> argv = {ribbon_binary(), "sendmail"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, "From: a@b.example\n\nx\n");
    };
    EXPECT_EQ(run({"--config", (tmp / "ok.toml").string()}).exit_code, 64) << "no recipients";
    EXPECT_EQ(run({"--config", (tmp / "ok.toml").string(), "-bs", "x@y.example"}).exit_code, 64);
    auto bad = run({"--config", (tmp / "bad.toml").string(), "x@y.example"});
    EXPECT_EQ(bad.exit_code, 78) << bad.describe();
    EXPECT_NE(bad.err.find("unknown key sendmail.paht"), std::string::npos) << bad.err;
    auto missing = run({"--config", (tmp / "ok.toml").string(), "x@y.example"});
    EXPECT_EQ(missing.exit_code, 78) << missing.describe();
    EXPECT_NE(missing.err.find("sendmail.path /nonexistent/sendmail cannot be run"), std::string::npos)
        << missing.err;
}

}  // namespace
}  // namespace ribbon::test
