// `ribbon sendmail` in front of a real Postfix's sendmail (relaying to
// smtp-sink): what an application hands it arrives signed when its sender
// is in [[signer]], untouched otherwise, and a failure is the sendmail exit
// code the application expects, with nothing sent. It decides as the
// daemons do: the recipient policy over [store] (one message, so [sendmail]
// mixed settles differing answers), with -t over To/Cc/Bcc, and the trace
// header.
#include <gtest/gtest.h>

#include <algorithm>

#include "ribbon/recipients.hpp"
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
    EXPECT_NE(p.err.find("ribbon sendmail: tempfail (on_no_key = \"tempfail\"): "), std::string::npos) << p.err;
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
    EXPECT_NE(p.err.find("ribbon sendmail: passed on unsigned (on_no_key = \"accept\"): "), std::string::npos) << p.err;
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
    EXPECT_NE(p.err.find("ribbon sendmail: rejected (on_bad_message = \"reject\"): "), std::string::npos) << p.err;
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

// ---- the submission core's decisions, as the daemons make them --------------

constexpr const char* kCapable = "capable@cust.example";
constexpr const char* kIncapable = "incapable@cust.example";
constexpr const char* kOptedOut = "optout@cust.example";
constexpr const char* kSealed = "sealed@cust.example";

// Fills the rig's store ([store] url of MilterRig::write_config).
void seed_customers(const fs::path& dir) {
    auto store = RecipientStore::open("sqlite://" + (dir / "state" / "ribbon.db").string());
    ASSERT_TRUE(store) << store.error().message();
    auto record = [&](const char* address, SmimeSupport s) {
        Observation o;
        o.address = address;
        o.time = 1'790'000'000;
        o.capability = s;
        o.confidence = 1.0;
        o.capability_evidence = "seeded by the test";
        ASSERT_TRUE((*store)->record(o));
    };
    record(kCapable, SmimeSupport::supported);
    record(kIncapable, SmimeSupport::unsupported);
    record(kOptedOut, SmimeSupport::supported);
    ASSERT_TRUE((*store)->set_opt_out(kOptedOut, true, 1'790'000'000));
    ASSERT_TRUE((*store)->set_override(kSealed, RecipientOverride::opaque, 1'790'000'000));
}

// A Rig over a seeded store; `signer_extra` goes into the [[signer]] entry.
struct PolicyRig : Rig {
    explicit PolicyRig(const std::string& sendmail_extra = {}, const std::string& signer_extra = {})
        : Rig(sendmail_extra) {
        if (!ok) return;
        seed_customers(rig.dir());
        std::string cfg = read_file(rig.config_file());
        const std::string entry = "from = \"no-reply@bank.example\"\n";
        cfg.replace(cfg.find(entry), entry.size(), entry + signer_extra);
        write_file(rig.config_file(), cfg);
    }
    // The one message delivered, without Postfix's Received:.
    std::string delivered(std::vector<std::string> rcpts) {
        EXPECT_TRUE(rig.sink().wait_for(1, seconds(30))) << rig.describe();
        if (rig.sink().count() != 1) return {};
        SinkMessage m = rig.sink().messages()[0];
        std::sort(m.rcpts.begin(), m.rcpts.end());
        std::sort(rcpts.begin(), rcpts.end());
        EXPECT_EQ(m.rcpts, rcpts);
        return strip_received(m.data);
    }
};

std::string with_recipients(const std::string& message, const std::string& to, const std::string& cc) {
    std::string out = set_header(message, "To", to);
    return cc.empty() ? out : set_header(out, "Cc", cc);
}

TEST(SendmailCommand, TheRecipientPolicyDecidesPerMessage) {
    SKIP_WITHOUT_MTA();
    PolicyRig r;
    ASSERT_TRUE(r.ok);
    // Known not to show S/MIME: passed on byte for byte.
    std::string msg = notice_from(kSender, "sm-policy-1");
    auto p = r.send(lf(msg), {"-i", kIncapable});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    EXPECT_EQ(p.err, "");
    EXPECT_EQ(r.delivered({kIncapable}), msg);
}

TEST(SendmailCommand, MixedAnswersSignForAllByDefault) {
    SKIP_WITHOUT_MTA();
    PolicyRig r;
    ASSERT_TRUE(r.ok);
    auto p = r.send(lf(notice_from(kSender, "sm-policy-2")), {"-i", kCapable, kIncapable});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    std::string delivered = r.delivered({kCapable, kIncapable});
    auto parts = split_smime(delivered);
    ASSERT_EQ(parts.error, "") << delivered;
    EXPECT_FALSE(parts.opaque);
    EXPECT_TRUE(verify_openssl(delivered).ok);
    EXPECT_EQ(delivered.find("Ribbon-Signer"), std::string::npos) << "trace_header is off by default";
}

TEST(SendmailCommand, MixedUnsignedAndOptOutsSendItUnsigned) {
    SKIP_WITHOUT_MTA();
    {
        PolicyRig r("mixed = \"unsigned\"\n");
        ASSERT_TRUE(r.ok);
        std::string msg = notice_from(kSender, "sm-policy-3");
        auto p = r.send(lf(msg), {"-i", kCapable, kIncapable});
        ASSERT_EQ(p.exit_code, 0) << p.describe();
        EXPECT_EQ(r.delivered({kCapable, kIncapable}), msg);
    }
    // An opt-out wins whatever `mixed` says; with -t the addresses come
    // from To and Cc (parsed as GMime reads them: display names, groups).
    PolicyRig r;
    ASSERT_TRUE(r.ok);
    std::string msg = with_recipients(notice_from(kSender, "sm-policy-4"), std::string("\"Capable, C.\" <") + kCapable + ">",
                                      std::string("Friends: ") + kOptedOut + ";");
    auto p = r.send(lf(msg), {"-t", "-i"});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    EXPECT_EQ(r.delivered({kCapable, kOptedOut}), msg);
}

TEST(SendmailCommand, AnOpaqueOverrideAndTheTraceHeader) {
    SKIP_WITHOUT_MTA();
    PolicyRig r({}, "trace_header = true\n");
    ASSERT_TRUE(r.ok);
    std::string msg = with_recipients(notice_from(kSender, "sm-policy-5"), kCapable, kSealed);
    auto p = r.send(lf(msg), {"-t", "-i"});
    ASSERT_EQ(p.exit_code, 0) << p.describe();
    std::string delivered = r.delivered({kCapable, kSealed});
    auto parts = split_smime(delivered);
    ASSERT_EQ(parts.error, "") << delivered;
    EXPECT_TRUE(parts.opaque) << "opaque for all: one recipient's override says so";
    expect_verified_everywhere(delivered);
    // "Ribbon-Signer: address; serial=HEX" on top, naming the certificate used.
    auto serial = run_process({"openssl", "x509", "-noout", "-serial", "-in", pki().rsa.cert.string()});
    ASSERT_EQ(serial.exit_code, 0) << serial.describe();
    ASSERT_EQ(serial.out.rfind("serial=", 0), 0u);
    std::string hex = serial.out.substr(7, serial.out.find('\n') - 7);
    EXPECT_EQ(delivered.rfind("Ribbon-Signer: no-reply@bank.example; serial=" + hex + "\r\n", 0), 0u)
        << delivered.substr(0, 300);
}

TEST(SendmailCommand, AStoreThatCannotBeOpenedIsTempfailWithNothingSent) {
    SKIP_WITHOUT_MTA();
    Rig r;
    ASSERT_TRUE(r.ok);
    std::string cfg = read_file(r.rig.config_file());
    const std::string url = "sqlite://" + (r.rig.dir() / "state" / "ribbon.db").string();
    cfg.replace(cfg.find(url), url.size(), "sqlite://" + (r.rig.dir() / "no-such-dir" / "ribbon.db").string());
    write_file(r.rig.config_file(), cfg);
    auto p = r.send(lf(notice_from(kSender, "sm-policy-6")), {"-i", kCapable});
    EXPECT_EQ(p.exit_code, 75) << p.describe();
    EXPECT_EQ(p.err.rfind("ribbon sendmail: tempfail (on_internal_error = \"tempfail\"): ", 0), 0u) << p.err;
    EXPECT_NE(p.err.find("no-such-dir does not exist (ribbon creates the file, not its directory) [bad_config]\n"),
              std::string::npos)
        << p.err;
    EXPECT_EQ(r.rig.postfix().queue_size(), 0);
    EXPECT_EQ(r.rig.sink().count(), 0u);
}

}  // namespace
}  // namespace ribbon::test
