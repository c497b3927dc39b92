// `ribbon relay` between real SMTP clients (swaks, Python's smtplib) and
// Postfix's smtp-sink as the next hop: mail from a [[signer]] address
// arrives signed and verifies with openssl, NSS and gpgsm; other mail
// arrives as sent; every failure of the next hop reaches the client as the
// matching 4xx/5xx, and the client hears 250 exactly for the messages the
// sink took.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>

#include <random>
#include <thread>

#include "support/messages.hpp"
#include "support/milter_rig.hpp"
#include "support/relay_rig.hpp"
#include "support/sign.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr const char* kSender = "no-reply@bank.example";

struct Started {
    RelayRig rig;
    explicit Started(const SmtpSinkOptions& sink = {}, const std::string& relay_extra = {}) {
        EXPECT_EQ(rig.sink().start(sink), "");
        rig.write_config(relay_extra);
        EXPECT_EQ(rig.start_relay(), "");
    }
};

// One whole transaction over a raw connection; the reply to the final ".".
std::string transact(int port, const std::string& from, const std::string& to, const std::string& data) {
    SmtpClient c;
    if (reply_code(c.connect(port)) != 220) return "no greeting";
    c.command("EHLO client.test");
    std::string r = c.command("MAIL FROM:<" + from + ">");
    if (reply_code(r) != 250) return r;
    r = c.command("RCPT TO:<" + to + ">");
    if (reply_code(r) != 250) return r;
    r = c.command("DATA");
    if (reply_code(r) != 354) return r;
    c.send(data + ".\r\n");
    r = c.reply(seconds(30));
    c.command("QUIT");
    return r;
}

TEST(Relay, SignedMailArrivesAndVerifiesEverywhere) {
    SKIP_WITHOUT_MTA();
    Started s;
    RelayRig& rig = s.rig;
    std::string message = notice_from(kSender, "relay-1", "Your balance: 12,50 € — thank you.");
    auto sub = rig.send(message, kSender, {"customer@example.org"});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    ASSERT_EQ(rig.sink().count(), 1u) << rig.describe();

    SinkMessage m = rig.sink().messages()[0];
    EXPECT_EQ(m.mail_from, kSender);
    EXPECT_EQ(m.rcpts, std::vector<std::string>{"customer@example.org"});
    // RFC 5321 §4.4: the relay's own trace header goes on top.
    EXPECT_TRUE(m.data.starts_with("Received: from ribbon-test-client ([127.0.0.1])\r\n\tby relay.test (ribbon) "
                                   "with ESMTP id R"))
        << m.data.substr(0, 200);
    EXPECT_NE(m.data.find("\tfor <customer@example.org>; "), std::string::npos);
    std::string delivered = strip_received(m.data);
    auto parts = split_smime(delivered);
    ASSERT_EQ(parts.error, "") << delivered;
    EXPECT_FALSE(parts.opaque);
    expect_verified_everywhere(delivered);
    // The client's reply is the next hop's ("250 2.0.0 Ok: queued as ..." from smtp-sink).
    EXPECT_NE(sub.final_reply.find("250 2.0.0 Ok"), std::string::npos) << sub.final_reply;
    // The decision in the milter's words (one line from the submission
    // core), then the transaction.
    const std::string log = rig.relay_log();
    const auto line = log.find(": signed: from=<no-reply@bank.example> id=no-reply@bank.example serial=");
    ASSERT_NE(line, std::string::npos) << log;
    const std::string rest = log.substr(line, log.find('\n', line) - line);
    EXPECT_NE(rest.find(" mode=detached size="), std::string::npos) << rest;
    EXPECT_NE(rest.find(" nrcpt=1 relay=smtp://127.0.0.1:"), std::string::npos) << rest;
    EXPECT_EQ(rest.find("signed_size="), std::string::npos) << rest;
}

TEST(Relay, PythonSmtplibClientWithPipeliningAndSeveralRecipients) {
    SKIP_WITHOUT_MTA();
    Started s;
    RelayRig& rig = s.rig;
    std::string message = notice_from(kSender, "relay-py");
    write_file(rig.dir() / "msg.eml", message);
    // smtplib sends MAIL, the RCPTs and DATA one by one; sendmail() raises
    // unless every recipient was taken, and returns the refused ones.
    std::string script =
        "import smtplib, sys\n"
        "msg = open(sys.argv[2], 'rb').read()\n"
        "with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:\n"
        "    s.ehlo('python.test')\n"
        "    assert s.has_extn('pipelining') and s.has_extn('8bitmime') and s.has_extn('smtputf8')\n"
        "    assert s.has_extn('enhancedstatuscodes') and int(s.esmtp_features['size']) == 52428800\n"
        "    refused = s.sendmail('no-reply@bank.example', ['a@example.org', 'b@example.net'], msg)\n"
        "    print('refused', refused)\n";
    auto r = run_process({"python3", "-c", script, std::to_string(rig.port()), (rig.dir() / "msg.eml").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe() << rig.describe();
    EXPECT_EQ(r.out, "refused {}\n");
    ASSERT_EQ(rig.sink().count(), 1u) << rig.describe();
    SinkMessage m = rig.sink().messages()[0];
    EXPECT_EQ(m.rcpts, (std::vector<std::string>{"a@example.org", "b@example.net"}));
    EXPECT_EQ(m.data.find("\tfor <"), std::string::npos) << "no 'for' clause with several recipients";
    EXPECT_TRUE(verify_openssl(strip_received(m.data)).ok);
}

TEST(Relay, OtherSendersArriveUnchanged) {
    SKIP_WITHOUT_MTA();
    Started s;
    RelayRig& rig = s.rig;
    std::string message = notice_from("alice@example.org", "unsigned-1", "Hello.\r\n.leading dot\r\n..two dots");
    auto sub = rig.send(message, "alice@example.org", {"customer@example.org"});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    ASSERT_EQ(rig.sink().count(), 1u);
    EXPECT_EQ(strip_received(rig.sink().messages()[0].data), message);
    EXPECT_NE(rig.relay_log().find("not signed: from=<alice@example.org> has no [[signer]] entry nrcpt=1"), std::string::npos)
        << rig.relay_log();
}

// Mail already S/MIME from a sender with a Digital ID, signed or sealed,
// goes on as it came: the same treatment as in the milter and `ribbon sign`
// (ribbon/smime_form.hpp). Before, the relay signed sealed mail again.
TEST(Relay, SealedAndSignedMailFromASignerArriveUnchanged) {
    SKIP_WITHOUT_MTA();
    Started s;
    RelayRig& rig = s.rig;
    const std::string headers = "From: " + std::string(kSender) +
                                "\r\nTo: customer@example.org\r\nSubject: s\r\nDate: " +
                                rfc5322_date(std::time(nullptr)) + "\r\nMessage-ID: <smime@x>\r\n";
    const std::string entity = "Content-Type: text/plain\r\n\r\nalready S/MIME\r\n";
    const std::vector<std::string> messages = {openssl_sealed_message(entity, headers),
                                               openssl_signed_message(entity, headers, true)};
    for (const std::string& message : messages) {
        auto sub = rig.send(message, kSender, {"customer@example.org"});
        ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    }
    ASSERT_EQ(rig.sink().count(), 2u);
    for (std::size_t i = 0; i < messages.size(); ++i) {
        EXPECT_EQ(strip_received(rig.sink().messages()[i].data), messages[i]) << i;
    }
    const std::string log = rig.relay_log();
    const auto first = log.find("is already S/MIME, passed unchanged");
    ASSERT_NE(first, std::string::npos) << log;
    EXPECT_NE(log.find("is already S/MIME, passed unchanged", first + 1), std::string::npos) << log;
}

TEST(Relay, NextHopRecipientRepliesArePassedBackPerRecipient) {
    SKIP_WITHOUT_MTA();
    SmtpSinkOptions sink;
    sink.hard_reject = {"RCPT"};
    Started s(sink, "max_recipients = 3\n");
    SmtpClient c;
    ASSERT_EQ(reply_code(c.connect(s.rig.port())), 220);
    c.command("EHLO client.test");
    ASSERT_EQ(reply_code(c.command("MAIL FROM:<no-reply@bank.example>")), 250);
    // smtp-sink -f RCPT: "500 5.3.0 Error: command failed", passed on as is.
    EXPECT_EQ(c.command("RCPT TO:<a@example.org>"), "500 5.3.0 Error: command failed\r\n");
    EXPECT_EQ(c.command("RCPT TO:<b@example.org>"), "500 5.3.0 Error: command failed\r\n");
    EXPECT_EQ(c.command("RCPT TO:<c@example.org>"), "500 5.3.0 Error: command failed\r\n");
    // The relay's own limit answers without asking the next hop.
    EXPECT_EQ(c.command("RCPT TO:<d@example.org>"), "452 4.5.3 Too many recipients\r\n");
    EXPECT_EQ(c.command("DATA"), "554 5.5.1 No valid recipients\r\n");
    EXPECT_EQ(s.rig.sink().count(), 0u);
}

// Each way the next hop can fail, and the reply the client must get.
struct Failure {
    const char* name;
    SmtpSinkOptions sink;
    bool sink_down = false;
    std::string relay_extra;
    std::string next_hop_extra;
    std::string expect;  // the reply to MAIL (when it fails there) or to "."
};

std::vector<Failure> failures() {
    std::vector<Failure> f;
    f.push_back({"refused connection", {}, true, "", "", "451 4.4.1 next hop 127.0.0.1:"});
    SmtpSinkOptions o;
    o.soft_reject = {"MAIL"};
    f.push_back({"4xx to MAIL", o, false, "", "", "450 4.3.0 Error: command failed"});
    o = {};
    o.hard_reject = {"MAIL"};
    f.push_back({"5xx to MAIL", o, false, "", "", "500 5.3.0 Error: command failed"});
    o = {};
    o.soft_reject = {"."};
    f.push_back({"4xx at end of data", o, false, "", "", "450 4.3.0 Error: command failed"});
    // DATA goes to the next hop while the message is signed; its reply
    // is read afterwards and still reaches the client.
    o = {};
    o.soft_reject = {"DATA"};
    f.push_back({"4xx to DATA", o, false, "", "", "450 4.3.0 Error: command failed"});
    o = {};
    o.hard_reject = {"DATA"};
    f.push_back({"5xx to DATA", o, false, "", "", "500 5.3.0 Error: command failed"});
    o = {};
    o.disconnect = {"DATA"};
    f.push_back({"lost at DATA", o, false, "", "", "451 4.4.2 next hop 127.0.0.1:"});
    o = {};
    o.hard_reject = {"."};
    f.push_back({"5xx at end of data", o, false, "", "", "500 5.3.0 Error: command failed"});
    o = {};
    o.disconnect = {"."};
    f.push_back({"lost mid-DATA", o, false, "", "", "451 4.4.2 next hop 127.0.0.1:"});
    o = {};
    o.disconnect_421 = {"."};
    f.push_back({"421 at end of data", o, false, "", "", "451 4.4.2 next hop 127.0.0.1:"});
    o = {};
    o.disconnect = {"CONNECT"};
    f.push_back({"no greeting", o, false, "", "", "451 4.4.2 next hop 127.0.0.1:"});
    o = {};
    o.data_delay_seconds = 4;
    f.push_back({"timeout", o, false, "", "timeout = 1\n", "451 4.4.2 next hop 127.0.0.1:"});
    o = {};
    f.push_back({"STARTTLS required, not offered", o, false, "", "", "451 4.7.5 next hop 127.0.0.1:"});
    return f;
}

TEST(Relay, EveryNextHopFailureGivesTheClientTheMatchingReplyAndNo250) {
    SKIP_WITHOUT_MTA();
    for (const Failure& f : failures()) {
        SCOPED_TRACE(f.name);
        RelayRig rig;
        ASSERT_EQ(rig.sink().start(f.sink), "");
        if (f.sink_down) rig.sink().stop();
        std::string hop = "url = \"smtp://127.0.0.1:" + std::to_string(rig.sink().port()) + "\"\n";
        hop += std::string(f.name) == "STARTTLS required, not offered" ? "tls = \"required\"\n" : "tls = \"none\"\n";
        rig.write_config(f.relay_extra, hop + f.next_hop_extra);
        ASSERT_EQ(rig.start_relay(), "");
        std::string r = transact(rig.port(), kSender, "customer@example.org", notice_from(kSender, "fail"));
        EXPECT_TRUE(r.starts_with(f.expect)) << r << rig.describe();
        EXPECT_NE(reply_code(r), 250);
        EXPECT_EQ(rig.sink().count(), 0u);
        // The relay keeps serving.
        EXPECT_TRUE(rig.relay_running());
    }
}

TEST(Relay, RandomNextHopFailuresNeverLoseAMessageOrClaimOne) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    rig.write_config();
    ASSERT_EQ(rig.start_relay(), "");
    std::mt19937 random(20261123);
    std::vector<SmtpSinkOptions> modes(8);
    modes[1].soft_reject = {"MAIL"};
    modes[2].hard_reject = {"RCPT"};
    modes[3].disconnect = {"DATA"};
    modes[4].disconnect = {"."};
    modes[5].disconnect_421 = {"."};
    modes[6].soft_reject = {"."};
    modes[7].disconnect = {"RCPT"};
    int accepted = 0, refused = 0;
    for (int round = 0; round < 12; ++round) {
        // Every other round a working next hop, the others a random failure.
        ASSERT_EQ(rig.sink().restart(round % 2 == 0 ? modes[0] : modes[1 + random() % (modes.size() - 1)]), "");
        for (int i = 0; i < 4; ++i) {
            // Appended piece by piece: GCC 12 warns (-Wrestrict, a false
            // positive) on the chain of operator+ here.
            std::string tag = "r";
            tag += std::to_string(round);
            tag += '-';
            tag += std::to_string(i);
            std::string r = transact(rig.port(), kSender, "customer@example.org", notice_from(kSender, tag));
            ASSERT_NE(reply_code(r), 0) << "no reply: " << rig.describe();
            (reply_code(r) == 250 ? accepted : refused)++;
        }
    }
    ASSERT_EQ(rig.sink().restart(), "");
    EXPECT_EQ(static_cast<int>(rig.sink().count()), accepted) << rig.describe();
    EXPECT_GT(accepted, 0);
    EXPECT_GT(refused, 0);
    for (const SinkMessage& m : rig.sink().messages()) {
        EXPECT_TRUE(verify_openssl(strip_received(m.data)).ok) << m.dump_file;
    }
}

TEST(Relay, MissingKeyDefersAndOnNoKeyAcceptPassesUnsigned) {
    SKIP_WITHOUT_MTA();
    Started s;
    RelayRig& rig = s.rig;
    fs::path ids = rig.dir() / "ids" / kSender;
    fs::path key;
    for (const auto& e : fs::directory_iterator(ids)) {
        if (e.path().extension() == ".key") key = e.path();
    }
    ASSERT_FALSE(key.empty());
    fs::rename(key, rig.dir() / "moved.key");
    std::string r = transact(rig.port(), kSender, "customer@example.org", notice_from(kSender, "nokey"));
    EXPECT_TRUE(r.starts_with("451 4.7.5 ribbon cannot sign this message now, try again later: ")) << r;
    EXPECT_EQ(rig.sink().count(), 0u);
    // DATA had gone ahead to the next hop: the relay closed that
    // connection without a final ".", so the sink kept nothing, and the
    // next message goes on a new connection.
    fs::rename(rig.dir() / "moved.key", key);
    std::string retried = notice_from(kSender, "nokey-retried");
    r = transact(rig.port(), kSender, "customer@example.org", retried);
    EXPECT_EQ(reply_code(r), 250) << r << rig.describe();
    // smtp-sink may close its dump just after its 250 reached the relay.
    ASSERT_TRUE(rig.sink().wait_for(1, std::chrono::seconds(5))) << rig.describe();
    ASSERT_EQ(rig.sink().count(), 1u);
    EXPECT_TRUE(verify_openssl(strip_received(rig.sink().messages()[0].data)).ok);

    fs::rename(key, rig.dir() / "moved.key");
    rig.stop_relay();
    rig.write_config("on_no_key = \"accept\"\n");
    // The relay refuses to start without the key of a fixed [[signer]];
    // a wildcard entry loads on use, so the failure comes per message.
    std::string config = read_file(rig.config_file());
    config.replace(config.find("from = \"no-reply@bank.example\""), 30, "from = \"*@bank.example\"");
    write_file(rig.config_file(), config);
    ASSERT_EQ(rig.start_relay(), "");
    std::string message = notice_from(kSender, "nokey-accept");
    r = transact(rig.port(), kSender, "customer@example.org", message);
    EXPECT_EQ(reply_code(r), 250) << r << rig.describe();
    ASSERT_TRUE(rig.sink().wait_for(2, std::chrono::seconds(5))) << rig.describe();
    ASSERT_EQ(rig.sink().count(), 2u);
    auto held = rig.sink().messages();
    EXPECT_TRUE(std::any_of(held.begin(), held.end(),
                            [&](const SinkMessage& m) { return strip_received(m.data) == message; }));
    EXPECT_NE(rig.relay_log().find("passed on unsigned (on_no_key = \"accept\")"), std::string::npos) << rig.relay_log();
}

TEST(Relay, MaildirNextHopHoldsEachSignedMessageBefore250) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    rig.write_config({}, "url = \"maildir:" + (rig.dir() / "outbox").string() + "\"\n");
    ASSERT_EQ(rig.start_relay(), "");
    auto sub = rig.send(notice_from(kSender, "maildir-1"), kSender, {"customer@example.org", "x@example.net"});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(rig.dir() / "outbox" / "new")) files.push_back(e.path());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_NE(sub.final_reply.find("delivered to maildir as " + files[0].filename().string()), std::string::npos)
        << sub.final_reply;
    std::string stored = read_file(files[0]);
    EXPECT_TRUE(stored.starts_with("Return-Path: <no-reply@bank.example>\r\nX-Original-To: customer@example.org\r\n"
                                   "X-Original-To: x@example.net\r\nReceived: from "))
        << stored.substr(0, 300);
    expect_verified_everywhere(stored);
    EXPECT_TRUE(fs::is_empty(rig.dir() / "outbox" / "tmp"));
}

TEST(Relay, SighupReloadsAndABadFileKeepsThePreviousConfiguration) {
    SKIP_WITHOUT_MTA();
    Started s;
    RelayRig& rig = s.rig;
    write_file(rig.config_file(), read_file(rig.config_file()) + "\n[relay.bogus]\n");
    ::kill(rig.relay_pid(), SIGHUP);
    for (int i = 0; i < 100 && rig.relay_log().find("keeping the previous") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(rig.relay_log().find("keeping the previous configuration"), std::string::npos) << rig.relay_log();
    EXPECT_EQ(reply_code(transact(rig.port(), kSender, "c@example.org", notice_from(kSender, "hup-1"))), 250);

    // Now sign opaque: the next message after the reload follows the new rule.
    rig.write_config();
    std::string config = read_file(rig.config_file());
    config.replace(config.find("from = \"no-reply@bank.example\"\n"), 31,
                   "from = \"no-reply@bank.example\"\nmode = \"opaque\"\n");
    write_file(rig.config_file(), config);
    ::kill(rig.relay_pid(), SIGHUP);
    for (int i = 0; i < 100 && rig.relay_log().find("reload: configuration") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(reply_code(transact(rig.port(), kSender, "c@example.org", notice_from(kSender, "hup-2"))), 250);
    ASSERT_EQ(rig.sink().count(), 2u);
    EXPECT_FALSE(split_smime(strip_received(rig.sink().messages()[0].data)).opaque);
    EXPECT_TRUE(split_smime(strip_received(rig.sink().messages()[1].data)).opaque);
}

TEST(Relay, SigtermEndsIdleSessionsAtOnceAndFinishesTransactions) {
    SKIP_WITHOUT_MTA();
    Started s;
    RelayRig& rig = s.rig;
    SmtpClient idle, busy;
    ASSERT_EQ(reply_code(idle.connect(rig.port())), 220);
    ASSERT_EQ(reply_code(idle.command("EHLO idle.test")), 250);
    ASSERT_EQ(reply_code(busy.connect(rig.port())), 220);
    ASSERT_EQ(reply_code(busy.command("EHLO busy.test")), 250);
    ASSERT_EQ(reply_code(busy.command("MAIL FROM:<no-reply@bank.example>")), 250);
    ASSERT_EQ(reply_code(busy.command("RCPT TO:<customer@example.org>")), 250);
    auto start = std::chrono::steady_clock::now();
    ::kill(rig.relay_pid(), SIGTERM);
    EXPECT_EQ(idle.reply(seconds(5)), "421 4.3.2 relay.test Service shutting down, try again later\r\n");
    EXPECT_TRUE(idle.closed_by_server(seconds(2)));
    // The transaction in progress still completes, then the session ends.
    ASSERT_EQ(reply_code(busy.command("DATA")), 354);
    busy.send(notice_from(kSender, "at-stop") + ".\r\n");
    EXPECT_EQ(reply_code(busy.reply(seconds(10))), 250);
    EXPECT_EQ(busy.reply(seconds(5)), "421 4.3.2 relay.test Service shutting down, try again later\r\n");
    EXPECT_EQ(rig.stop_relay(), "exited with status 0");
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
    EXPECT_EQ(rig.sink().count(), 1u);
    EXPECT_NE(rig.relay_log().find("info: stopped"), std::string::npos) << rig.relay_log();
}

constexpr const char* kShuttingDown = "421 4.3.2 relay.test Service shutting down, try again later\r\n";

// Waits for the relay to exit by itself (after SIGTERM); how it ended.
std::string wait_for_exit(RelayRig& rig, std::chrono::milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (rig.relay_running() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return rig.relay_running() ? "still running" : rig.stop_relay();
}

// A client with an open transaction that sends nothing more, and one that
// stopped halfway through its message: at the end of relay.stop_grace each
// hears 421 4.3.2 (RFC 5321 §3.8) and the connection closes; nothing goes
// on; the relay exits 0 (issue 13: it used to die of a double free, the
// client seeing EOF).
TEST(Relay, SigtermEndsAnIdleTransactionWith421WhenTheGraceEnds) {
    SKIP_WITHOUT_MTA();
    Started s({}, "stop_grace = 2\n");
    RelayRig& rig = s.rig;
    SmtpClient c;
    ASSERT_EQ(reply_code(c.connect(rig.port())), 220);
    ASSERT_EQ(reply_code(c.command("EHLO client.test")), 250);
    ASSERT_EQ(reply_code(c.command("MAIL FROM:<no-reply@bank.example>")), 250);
    ASSERT_EQ(reply_code(c.command("RCPT TO:<customer@example.org>")), 250);
    SmtpClient mid_data;
    ASSERT_EQ(reply_code(mid_data.connect(rig.port())), 220);
    ASSERT_EQ(reply_code(mid_data.command("EHLO client.test")), 250);
    ASSERT_EQ(reply_code(mid_data.command("MAIL FROM:<no-reply@bank.example>")), 250);
    ASSERT_EQ(reply_code(mid_data.command("RCPT TO:<customer@example.org>")), 250);
    ASSERT_EQ(reply_code(mid_data.command("DATA")), 354);
    ASSERT_TRUE(mid_data.send(notice_from(kSender, "halfway").substr(0, 100)));
    auto start = std::chrono::steady_clock::now();
    ::kill(rig.relay_pid(), SIGTERM);
    // Nothing before the grace is over: the transaction may still finish.
    EXPECT_EQ(c.reply(std::chrono::milliseconds(1500)), "");
    EXPECT_EQ(c.reply(seconds(8)), kShuttingDown);
    auto said = std::chrono::steady_clock::now() - start;
    EXPECT_GE(said, std::chrono::milliseconds(1900));
    EXPECT_EQ(mid_data.reply(seconds(2)), kShuttingDown);
    for (SmtpClient* client : {&c, &mid_data}) {
        EXPECT_TRUE(client->closed_by_server(seconds(2)));
        EXPECT_EQ(client->reply(std::chrono::milliseconds(100)), "") << "nothing after the 421";
    }
    EXPECT_EQ(wait_for_exit(rig, seconds(8)), "exited with status 0") << rig.relay_log();
    const std::string log = rig.relay_log();
    EXPECT_NE(log.find("stop: 2 sessions still open after relay.stop_grace (2 s): ending them with 421 4.3.2"),
              std::string::npos) << log;
    EXPECT_NE(log.find("was stopped during DATA (interrupted: the relay is stopping); nothing was passed on"),
              std::string::npos) << log;
    EXPECT_NE(log.find("info: stopped"), std::string::npos) << log;
    EXPECT_EQ(log.find("double free"), std::string::npos) << log;
    EXPECT_EQ(rig.sink().count(), 0u);
}

// The final dot went to the next hop, which takes a while to answer it. A
// reply within the grace reaches the client (then 421); one that comes
// too late does not: the client hears 421 4.3.2 and will send again, so
// the next hop may get the message twice (RFC 1047) but never loses it.
TEST(Relay, SigtermRelaysTheNextHopsAnswerToTheFinalDotWithinTheGrace) {
    SKIP_WITHOUT_MTA();
    for (int dot_delay : {1, 6}) {
        SCOPED_TRACE("the next hop answers the final dot after " + std::to_string(dot_delay) + " s");
        SmtpSinkOptions sink;
        sink.waits = {".:" + std::to_string(dot_delay)};
        Started s(sink, "stop_grace = 3\n");
        RelayRig& rig = s.rig;
        SmtpClient c;
        ASSERT_EQ(reply_code(c.connect(rig.port())), 220);
        ASSERT_EQ(reply_code(c.command("EHLO client.test")), 250);
        // Not a [[signer]] address: nothing to sign, the dot goes at once.
        ASSERT_EQ(reply_code(c.command("MAIL FROM:<alice@example.org>")), 250);
        ASSERT_EQ(reply_code(c.command("RCPT TO:<customer@example.org>")), 250);
        ASSERT_EQ(reply_code(c.command("DATA")), 354);
        ASSERT_TRUE(c.send(notice_from("alice@example.org", "slow-dot") + ".\r\n"));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the dot is at the next hop
        auto start = std::chrono::steady_clock::now();
        ::kill(rig.relay_pid(), SIGTERM);
        if (dot_delay == 1) {
            // smtp-sink's answer to a dot it waited for (-W).
            EXPECT_EQ(c.reply(seconds(5)), "250 2.0.0 Ok\r\n") << rig.describe();
            EXPECT_EQ(c.reply(seconds(5)), kShuttingDown);
            EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3)) << "the 421 came at once after the 250";
            EXPECT_TRUE(rig.sink().wait_for(1, seconds(5)));
        } else {
            EXPECT_EQ(c.reply(seconds(8)), kShuttingDown) << rig.describe();
            EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2900));
            EXPECT_NE(rig.relay_log().find("stopped before the next hop's reply to the message"), std::string::npos)
                << rig.relay_log();
        }
        EXPECT_TRUE(c.closed_by_server(seconds(2)));
        EXPECT_EQ(wait_for_exit(rig, seconds(8)), "exited with status 0") << rig.relay_log();
        EXPECT_NE(rig.relay_log().find("info: stopped"), std::string::npos) << rig.relay_log();
    }
}

// A command waiting for the next hop when the grace ends (here an RCPT the
// next hop takes 10 s to answer) gets 421 4.3.2, not the failure of the
// interrupted wait.
TEST(Relay, SigtermAnswersACommandWaitingForTheNextHopWith421) {
    SKIP_WITHOUT_MTA();
    SmtpSinkOptions sink;
    sink.waits = {"RCPT:10"};
    Started s(sink, "stop_grace = 1\n");
    RelayRig& rig = s.rig;
    SmtpClient c;
    ASSERT_EQ(reply_code(c.connect(rig.port())), 220);
    ASSERT_EQ(reply_code(c.command("EHLO client.test")), 250);
    ASSERT_EQ(reply_code(c.command("MAIL FROM:<no-reply@bank.example>")), 250);
    ASSERT_TRUE(c.send("RCPT TO:<customer@example.org>\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(rig.relay_pid(), SIGTERM);
    EXPECT_EQ(c.reply(seconds(5)), kShuttingDown) << rig.describe();
    EXPECT_TRUE(c.closed_by_server(seconds(2)));
    EXPECT_EQ(c.reply(std::chrono::milliseconds(100)), "");
    EXPECT_EQ(wait_for_exit(rig, seconds(8)), "exited with status 0") << rig.relay_log();
}

// A relay that may run on one CPU only signs on its I/O thread (issue 17):
// the same answers as with a worker pool — 250 only for a signed message
// the next hop took, the next hop's refusal of the final dot reaching the
// client, other senders' mail unchanged — and the log says which it is.
TEST(Relay, OnOneCpuMessagesAreSignedOnTheIoThreadWithTheSameAnswers) {
    SKIP_WITHOUT_MTA();
    cpu_set_t before;
    ASSERT_EQ(::sched_getaffinity(0, sizeof before, &before), 0);
    if (CPU_COUNT(&before) < 2) GTEST_SKIP() << "needs 2 CPUs to tell the two cases apart";
    int first = 0;
    while (!CPU_ISSET(first, &before)) ++first;
    const std::string inline_line = "one CPU available: messages are signed on the I/O thread";
    {
        Started both;  // every CPU: the worker pool signs
        EXPECT_EQ(reply_code(transact(both.rig.port(), kSender, "customer@example.org", notice_from(kSender, "both"))),
                  250);
        EXPECT_NE(both.rig.relay_log().find(": signed: from=<"), std::string::npos) << both.rig.relay_log();
        EXPECT_EQ(both.rig.relay_log().find(inline_line), std::string::npos) << both.rig.relay_log();
    }
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    rig.write_config();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);  // the relay inherits it
    std::string started = rig.start_relay();
    ASSERT_EQ(::sched_setaffinity(0, sizeof before, &before), 0);
    ASSERT_EQ(started, "");
    std::string r = transact(rig.port(), kSender, "customer@example.org", notice_from(kSender, "one-cpu-1"));
    EXPECT_EQ(reply_code(r), 250) << r << rig.describe();
    r = transact(rig.port(), "alerts@other.example", "customer@example.org",
                 notice_from("alerts@other.example", "one-cpu-2"));
    EXPECT_EQ(reply_code(r), 250) << r << rig.describe();
    SmtpSinkOptions refuse_dot;
    refuse_dot.soft_reject = {"."};
    ASSERT_EQ(rig.sink().restart(refuse_dot), "");
    r = transact(rig.port(), kSender, "customer@example.org", notice_from(kSender, "one-cpu-3"));
    EXPECT_EQ(reply_code(r), 450) << r << rig.describe();
    ASSERT_EQ(rig.sink().restart(), "");

    // Logged once the I/O thread runs, after the port is open: read last.
    EXPECT_NE(rig.relay_log().find(inline_line), std::string::npos) << rig.relay_log();
    auto messages = rig.sink().messages();
    ASSERT_EQ(messages.size(), 2u) << rig.describe();
    if (messages[0].data.find("one-cpu-2") != std::string::npos) std::swap(messages[0], messages[1]);
    std::string signed_copy = strip_received(messages[0].data);
    EXPECT_NE(signed_copy.find("one-cpu-1"), std::string::npos) << signed_copy;
    EXPECT_TRUE(verify_openssl(signed_copy).ok) << signed_copy;
    EXPECT_NE(messages[1].data.find("one-cpu-2"), std::string::npos);
    EXPECT_EQ(messages[1].data.find("application/pkcs7-signature"), std::string::npos);
}

}  // namespace
}  // namespace ribbon::test
