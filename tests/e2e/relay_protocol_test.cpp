// `ribbon relay` facing clients that get SMTP wrong, hit its limits, or use
// STARTTLS and AUTH; and the relay as a TLS client of a next hop that needs
// STARTTLS, a verified certificate and AUTH. Every case has the exact reply
// (RFC 5321 §4.2.2, RFC 3463 enhanced codes) and the relay keeps serving
// others.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <thread>

#include "support/daemon.hpp"
#include "support/messages.hpp"
#include "support/milter_rig.hpp"
#include "support/relay_rig.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kSender = "no-reply@bank.example";

struct Started {
    RelayRig rig;
    explicit Started(const std::string& relay_extra = {}, const SmtpSinkOptions& sink = {}) {
        EXPECT_EQ(rig.sink().start(sink), "");
        rig.write_config(relay_extra);
        EXPECT_EQ(rig.start_relay(), "");
    }
};

// A client that said EHLO.
void hello(SmtpClient& c, int port) {
    ASSERT_EQ(reply_code(c.connect(port)), 220);
    ASSERT_EQ(reply_code(c.command("EHLO client.test")), 250);
}

// A client that said EHLO, MAIL, RCPT and DATA and may send the message.
void at_data(SmtpClient& c, int port) {
    hello(c, port);
    ASSERT_EQ(reply_code(c.command("MAIL FROM:<no-reply@bank.example>")), 250);
    ASSERT_EQ(reply_code(c.command("RCPT TO:<customer@example.org>")), 250);
    ASSERT_EQ(reply_code(c.command("DATA")), 354);
}

// Whether the relay still takes a whole message.
bool still_serving(RelayRig& rig) {
    auto sub = rig.send(notice_from(kSender, "still"), kSender, {"c@example.org"});
    return sub.final_code == 250;
}

TEST(RelayProtocol, CommandsOutOfOrderAndUnknownCommands) {
    SKIP_WITHOUT_MTA();
    Started s;
    SmtpClient c;
    ASSERT_EQ(reply_code(c.connect(s.rig.port())), 220);
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example>"), "503 5.5.1 Send HELO or EHLO first\r\n");
    EXPECT_EQ(c.command("EHLO"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    EXPECT_EQ(reply_code(c.command("EHLO client.test")), 250);
    EXPECT_EQ(c.command("RCPT TO:<a@example.org>"), "503 5.5.1 Need MAIL command\r\n");
    EXPECT_EQ(c.command("DATA"), "503 5.5.1 Need MAIL command\r\n");
    EXPECT_EQ(c.command("XYZZY"), "500 5.5.2 Error: command not recognized\r\n");
    EXPECT_EQ(c.command("BDAT 10 LAST"), "502 5.5.1 CHUNKING is not offered\r\n");
    EXPECT_EQ(c.command("MAIL FROM:no-reply@bank.example"),
              "501 5.5.4 Syntax: the address must be in angle brackets, as <user@domain>\r\n");
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example> FOO=1"), "555 5.5.4 Unsupported parameter FOO\r\n");
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example>"), "250 2.1.0 Ok\r\n");  // smtp-sink's reply
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example>"), "503 5.5.1 Nested MAIL command\r\n");
    EXPECT_EQ(c.command("DATA"), "554 5.5.1 No valid recipients\r\n");
    EXPECT_EQ(c.command("DATA extra"), "501 5.5.4 Syntax: DATA takes no argument\r\n");
    EXPECT_EQ(c.command("RSET"), "250 2.0.0 Ok\r\n");
    EXPECT_EQ(c.command("VRFY someone"), "252 2.5.0 Cannot VRFY user, but will accept message\r\n");
    EXPECT_EQ(c.command("QUIT"), "221 2.0.0 Bye\r\n");
    EXPECT_TRUE(c.closed_by_server(seconds(2)));
}

TEST(RelayProtocol, OverlongCommandLineAndTooManyErrors) {
    SKIP_WITHOUT_MTA();
    Started s;
    SmtpClient c;
    hello(c, s.rig.port());
    // RFC 5321 §4.2.2: 500 covers "command line too long".
    EXPECT_EQ(c.command("NOOP " + std::string(5000, 'x')), "500 5.5.2 Error: line too long\r\n");
    EXPECT_EQ(c.command("NOOP"), "250 2.0.0 Ok\r\n");
    // Postfix's smtpd_hard_error_limit: 20 errors and the client is dropped.
    std::string last;
    for (int i = 0; i < 18; ++i) last = c.command("XYZZY");  // errors 2 to 19
    EXPECT_EQ(last, "500 5.5.2 Error: command not recognized\r\n");
    EXPECT_EQ(c.command("XYZZY"), "500 5.5.2 Error: command not recognized\r\n");
    EXPECT_EQ(c.reply(), "421 4.7.0 relay.test Error: too many errors\r\n");
    EXPECT_TRUE(c.closed_by_server(seconds(2)));
    EXPECT_TRUE(still_serving(s.rig));
}

TEST(RelayProtocol, TenThousandPipelinedRecipientsGetOneReplyEach) {
    SKIP_WITHOUT_MTA();
    Started s;
    SmtpClient c;
    hello(c, s.rig.port());
    std::string batch = "MAIL FROM:<no-reply@bank.example>\r\n";
    for (int i = 0; i < 10000; ++i) batch += "RCPT TO:<customer" + std::to_string(i) + "@example.org>\r\n";
    batch += "RSET\r\n";
    ASSERT_TRUE(c.send(batch));
    EXPECT_EQ(c.reply(), "250 2.1.0 Ok\r\n");
    int ok = 0, too_many = 0;
    for (int i = 0; i < 10000; ++i) {
        std::string r = c.reply(seconds(30));
        if (r == "250 2.1.5 Ok\r\n") ++ok;
        else if (r == "452 4.5.3 Too many recipients\r\n") ++too_many;
        else ADD_FAILURE() << i << ": " << r;
    }
    EXPECT_EQ(ok, 1000);  // relay.max_recipients' default
    EXPECT_EQ(too_many, 9000);
    EXPECT_EQ(c.reply(), "250 2.0.0 Ok\r\n");  // RSET
    EXPECT_EQ(s.rig.sink().count(), 0u);
    EXPECT_TRUE(still_serving(s.rig));
}

TEST(RelayProtocol, BareLfIsNormalisedAndCannotSmuggleASecondMessage) {
    SKIP_WITHOUT_MTA();
    Started s;
    SmtpClient c;
    ASSERT_NO_FATAL_FAILURE(at_data(c, s.rig.port()));
    // A next hop that took "\n.\r\n" as the end would see a second message
    // from evil@example.com (the 2023 "SMTP smuggling" attacks).
    std::string data = "From: <no-reply@bank.example>\nTo: <customer@example.org>\nSubject: bare LF\n"
                       "Date: " + rfc5322_date(std::time(nullptr)) + "\n\nhello\n.\r\n"
                       "MAIL FROM:<evil@example.com>\r\nRCPT TO:<customer@example.org>\r\nDATA\r\n"
                       "From: <evil@example.com>\r\n\r\nsmuggled\r\n.\r\n";
    ASSERT_TRUE(c.send(data));
    EXPECT_EQ(reply_code(c.reply()), 250);
    EXPECT_EQ(c.command("QUIT"), "221 2.0.0 Bye\r\n");
    ASSERT_EQ(s.rig.sink().count(), 1u) << s.rig.describe();
    SinkMessage m = s.rig.sink().messages()[0];
    EXPECT_EQ(m.mail_from, kSender);
    auto verified = verify_openssl(strip_received(m.data));
    EXPECT_TRUE(verified.ok) << verified.details;
    EXPECT_NE(verified.content.find("MAIL FROM:<evil@example.com>"), std::string::npos) << verified.content;
    EXPECT_NE(s.rig.relay_log().find("signed: from=<"), std::string::npos);
}

TEST(RelayProtocol, ClientThatStopsMidDataDeliversNothing) {
    SKIP_WITHOUT_MTA();
    Started s;
    {
        SmtpClient c;
        ASSERT_NO_FATAL_FAILURE(at_data(c, s.rig.port()));
        c.send(notice_from(kSender, "cut").substr(0, 100));
    }
    EXPECT_TRUE(still_serving(s.rig));
    ASSERT_EQ(s.rig.sink().count(), 1u);
    EXPECT_NE(s.rig.sink().messages()[0].data.find("Subject: Your statement still"), std::string::npos);
    EXPECT_NE(s.rig.relay_log().find("went away during DATA"), std::string::npos) << s.rig.relay_log();
}

TEST(RelayProtocol, ClientThatNeverReadsRepliesIsDroppedAndOthersAreServed) {
    SKIP_WITHOUT_MTA();
    Started s("idle_timeout = 2\n");
    SmtpClient flood;
    hello(flood, s.rig.port());
    std::atomic<bool> sent_all{false}, done{false};
    std::string noops;
    for (int i = 0; i < 2000000; ++i) noops += "NOOP\r\n";  // replies: 28 MB, more than socket buffers hold
    std::thread writer([&] {
        sent_all = flood.send(noops);
        done = true;
    });
    EXPECT_TRUE(still_serving(s.rig));
    // The relay's writes block, idle_timeout passes, it closes: send fails.
    for (int i = 0; i < 150 && !done; ++i) std::this_thread::sleep_for(milliseconds(100));
    bool dropped = done.load();
    flood.abort();
    writer.join();
    EXPECT_TRUE(dropped) << "the relay kept a client that does not read its replies";
    EXPECT_FALSE(sent_all) << "the relay read 12 MB of commands without anyone reading its replies";
    EXPECT_TRUE(still_serving(s.rig));
}

TEST(RelayProtocol, SizeLineConnectionAndIdleLimits) {
    SKIP_WITHOUT_MTA();
    Started s("max_message_size = 2048\nmax_line_length = 1000\nmax_connections = 2\nidle_timeout = 1\n");
    SmtpClient c;
    hello(c, s.rig.port());
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example> SIZE=5000"),
              "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    ASSERT_EQ(reply_code(c.command("MAIL FROM:<no-reply@bank.example> SIZE=1000")), 250);
    ASSERT_EQ(reply_code(c.command("RCPT TO:<customer@example.org>")), 250);
    ASSERT_EQ(reply_code(c.command("DATA")), 354);
    std::string lines;
    for (int i = 0; i < 40; ++i) lines += std::string(75, 'x') + "\r\n";
    c.send(notice_from(kSender, "big", lines) + ".\r\n");
    EXPECT_EQ(c.reply(), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    ASSERT_EQ(reply_code(c.command("MAIL FROM:<no-reply@bank.example>")), 250);
    ASSERT_EQ(reply_code(c.command("RCPT TO:<customer@example.org>")), 250);
    ASSERT_EQ(reply_code(c.command("DATA")), 354);
    c.send(notice_from(kSender, "long", std::string(1200, 'y')) + ".\r\n");
    EXPECT_EQ(c.reply(), "554 5.6.0 Message has a line longer than 1000 octets\r\n");

    SmtpClient second, third;
    EXPECT_EQ(reply_code(second.connect(s.rig.port())), 220);
    EXPECT_EQ(third.connect(s.rig.port()), "421 4.7.0 relay.test Too many connections, try again later\r\n");
    EXPECT_TRUE(third.closed_by_server(seconds(2)));
    // RFC 5321 §4.5.3.2.7: a server may close an idle connection, saying so.
    EXPECT_EQ(c.reply(seconds(3)), "421 4.4.2 relay.test Error: timeout exceeded\r\n");
    EXPECT_TRUE(c.closed_by_server(seconds(2)));
    EXPECT_EQ(s.rig.sink().count(), 0u);
}

// The idle limit counts from the client's last command, not from the
// connection's start: the relay's deadline timer is armed once and moved
// lazily (src/relay/stream.cpp), so it fires while this client is still
// active, and must then wait again rather than time the client out.
TEST(RelayProtocol, IdleLimitCountsFromTheLastCommand) {
    SKIP_WITHOUT_MTA();
    Started s("idle_timeout = 1\n");
    SmtpClient c;
    hello(c, s.rig.port());
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) {
        std::this_thread::sleep_for(milliseconds(600));
        ASSERT_EQ(c.command("NOOP"), "250 2.0.0 Ok\r\n") << "NOOP " << i;
    }
    EXPECT_GE(std::chrono::steady_clock::now() - start, seconds(3));
    const auto quiet = std::chrono::steady_clock::now();
    EXPECT_EQ(c.reply(seconds(4)), "421 4.4.2 relay.test Error: timeout exceeded\r\n");
    const auto waited = std::chrono::steady_clock::now() - quiet;
    EXPECT_GE(waited, milliseconds(900));
    EXPECT_LT(waited, milliseconds(2500));
    EXPECT_TRUE(c.closed_by_server(seconds(2)));
}

TEST(RelayProtocol, NonAsciiAddressesNeedSmtputf8) {
    SKIP_WITHOUT_MTA();
    Started s;
    SmtpClient c;
    hello(c, s.rig.port());
    EXPECT_EQ(c.command("MAIL FROM:<kundenbüro@bank.example>"), "553 5.6.7 Non-ASCII address without SMTPUTF8\r\n");
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example>"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(c.command("RCPT TO:<jürgen@example.org>"), "553 5.6.7 Non-ASCII address without SMTPUTF8\r\n");
    EXPECT_EQ(c.command("RSET"), "250 2.0.0 Ok\r\n");
    // smtp-sink does not announce SMTPUTF8, so such mail cannot go on
    // (RFC 6531 §3.5), and the relay says so at MAIL.
    EXPECT_EQ(c.command("MAIL FROM:<kundenbüro@bank.example> SMTPUTF8"),
              "553 5.6.7 the next hop does not support SMTPUTF8 addresses\r\n");
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example> SMTPUTF8"),
              "553 5.6.7 the next hop does not support SMTPUTF8 addresses\r\n");
}

// [relay] lines for STARTTLS with a certificate from the test root, and
// AUTH for "app" / "s3cret" (hash made by openssl, as the docs say).
std::string tls_and_auth(const fs::path& dir, const Leaf& leaf) {
    auto hash = run_process({"openssl", "passwd", "-6", "-salt", "ribbontest", "s3cret"});
    if (hash.exit_code != 0) throw std::runtime_error(hash.describe());
    write_file(dir / "users", "# relay clients\napp:" + hash.out);
    return "tls_cert_file = \"" + leaf.cert.string() + "\"\ntls_key_file = \"" + leaf.key.string() +
           "\"\nauth_users_file = \"" + (dir / "users").string() + "\"\nmynetworks = []\n";
}

TEST(RelayProtocol, StartTlsAndAuthForClientsOutsideMynetworks) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    rig.write_config(tls_and_auth(rig.dir(), tls_server_leaf(rig.dir())));
    ASSERT_EQ(rig.start_relay(), "");

    SmtpClient c;
    ASSERT_EQ(reply_code(c.connect(rig.port())), 220);
    std::string ehlo = c.command("EHLO client.test");
    EXPECT_NE(ehlo.find("250 STARTTLS\r\n"), std::string::npos) << ehlo;
    EXPECT_EQ(ehlo.find("AUTH"), std::string::npos) << "RFC 4954 §4: no AUTH before TLS";
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example>"), "530 5.7.0 Authentication required\r\n");
    EXPECT_EQ(c.command("AUTH PLAIN AGFwcABzM2NyZXQ="),
              "538 5.7.11 Encryption required for requested authentication mechanism\r\n");

    std::string message = notice_from(kSender, "tls-auth");
    auto good = rig.send(message, kSender, {"customer@example.org"},
                         {"-tls", "--tls-verify", "--tls-ca-path", pki().root_cert.string(), "-a", "PLAIN", "-au",
                          "app", "-ap", "s3cret"});
    ASSERT_EQ(good.final_code, 250) << good.transcript << rig.describe();
    auto bad = rig.send(message, kSender, {"customer@example.org"}, {"-tls", "-a", "LOGIN", "-au", "app", "-ap", "wrong"});
    EXPECT_NE(bad.transcript.find("535 5.7.8 Authentication credentials invalid"), std::string::npos) << bad.transcript;
    // smtplib, with AUTH LOGIN.
    std::string script =
        "import smtplib, ssl, sys\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
        "with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:\n"
        "    s.starttls(context=ctx)\n"
        "    s.ehlo('python.test')\n"
        "    s.user, s.password = 'app', 's3cret'\n"
        "    print(s.auth('LOGIN', s.auth_login))\n"
        "    s.sendmail('no-reply@bank.example', ['customer@example.org'], open(sys.argv[3], 'rb').read())\n";
    write_file(rig.dir() / "msg.eml", message);
    auto py = run_process({"python3", "-c", script, std::to_string(rig.port()), pki().root_cert.string(),
                           (rig.dir() / "msg.eml").string()});
    EXPECT_EQ(py.exit_code, 0) << py.describe() << rig.describe();
    EXPECT_EQ(py.out, "(235, b'2.7.0 Authentication successful')\n");

    ASSERT_EQ(rig.sink().count(), 2u) << rig.describe();
    for (const SinkMessage& m : rig.sink().messages()) {
        EXPECT_NE(m.data.find(" with ESMTPSA id R"), std::string::npos) << m.data.substr(0, 200);
        EXPECT_TRUE(verify_openssl(strip_received(m.data)).ok);
    }
}

// Relay A signs and hands on to relay B over STARTTLS with AUTH; B passes
// the signed message (already signed) on to its sink.
struct Chain {
    RelayRig a, b;
    std::string start(const Leaf& b_leaf, const std::string& a_next_hop_extra) {
        if (auto e = b.sink().start(); !e.empty()) return e;
        b.write_config(tls_and_auth(b.dir(), b_leaf));
        if (auto e = b.start_relay(); !e.empty()) return e;
        write_file(a.dir() / "password", "s3cret\n");
        a.write_config({}, "url = \"smtp://127.0.0.1:" + std::to_string(b.port()) + "\"\nauth_user = \"app\"\n" +
                               "auth_password_file = \"" + (a.dir() / "password").string() + "\"\n" +
                               a_next_hop_extra);
        return a.start_relay();
    }
};

TEST(RelayProtocol, NextHopOverVerifiedStartTlsWithAuth) {
    SKIP_WITHOUT_MTA();
    Chain chain;
    ASSERT_EQ(chain.start(tls_server_leaf(chain.b.dir()), "ca_file = \"" + pki().root_cert.string() + "\"\n"), "");
    auto sub = chain.a.send(notice_from(kSender, "chain"), kSender, {"customer@example.org"});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript << chain.a.describe() << chain.b.describe();
    ASSERT_EQ(chain.b.sink().count(), 1u);
    std::string delivered = chain.b.sink().messages()[0].data;
    EXPECT_NE(delivered.find(" with ESMTPSA id R"), std::string::npos) << "B's Received: A came with TLS and AUTH";
    expect_verified_everywhere(strip_received(delivered));
    EXPECT_NE(chain.b.relay_log().find("is already S/MIME, passed unchanged"), std::string::npos) << chain.b.relay_log();
}

TEST(RelayProtocol, ImplicitTlsOnBothSides) {
    SKIP_WITHOUT_MTA();
    // B takes TLS from the first byte (RFC 8314) on a second port; A hands
    // on to it with smtps://; swaks talks to B's TLS port directly too.
    RelayRig a, b;
    int b_tls_port = pick_free_port();
    ASSERT_EQ(b.sink().start(), "");
    b.write_config(tls_and_auth(b.dir(), tls_server_leaf(b.dir())) + "listen_tls = [\"127.0.0.1:" +
                   std::to_string(b_tls_port) + "\"]\n");
    ASSERT_EQ(b.start_relay(), "");
    write_file(a.dir() / "password", "s3cret\n");
    a.write_config({}, "url = \"smtps://127.0.0.1:" + std::to_string(b_tls_port) + "\"\nca_file = \"" +
                           pki().root_cert.string() + "\"\nauth_user = \"app\"\nauth_password_file = \"" +
                           (a.dir() / "password").string() + "\"\n");
    ASSERT_EQ(a.start_relay(), "");
    auto via_a = a.send(notice_from(kSender, "smtps"), kSender, {"customer@example.org"});
    EXPECT_EQ(via_a.final_code, 250) << via_a.transcript << a.describe() << b.describe();
    auto direct = swaks_submit(b_tls_port, notice_from("alice@example.org", "tls-on-connect"), "alice@example.org",
                               {"customer@example.org"}, {"--tls-on-connect", "-a", "PLAIN", "-au", "app", "-ap", "s3cret"});
    EXPECT_EQ(direct.final_code, 250) << direct.transcript << b.describe();
    ASSERT_EQ(b.sink().count(), 2u) << b.describe();
    expect_verified_everywhere(strip_received(b.sink().messages()[0].data));
}

TEST(RelayProtocol, NextHopWithAnUntrustedCertificateIsRefusedWhileVerifying) {
    SKIP_WITHOUT_MTA();
    Chain chain;
    ASSERT_EQ(chain.start(tls_server_leaf(chain.b.dir(), true), "ca_file = \"" + pki().root_cert.string() + "\"\n"), "");
    SmtpClient c;
    hello(c, chain.a.port());
    std::string r = c.command("MAIL FROM:<no-reply@bank.example>");
    EXPECT_TRUE(r.starts_with("451 4.7.5 TLS with next hop 127.0.0.1:" + std::to_string(chain.b.port()) +
                              " failed: certificate verify failed"))
        << r;
    EXPECT_EQ(chain.b.sink().count(), 0u);
}

TEST(RelayProtocol, NextHopCertificateUncheckedWhenVerifyIsOffAndWrongPasswordDefers) {
    SKIP_WITHOUT_MTA();
    Chain chain;
    ASSERT_EQ(chain.start(tls_server_leaf(chain.b.dir(), true), "verify = false\n"), "");
    auto sub = chain.a.send(notice_from(kSender, "noverify"), kSender, {"customer@example.org"});
    EXPECT_EQ(sub.final_code, 250) << sub.transcript << chain.a.describe();
    EXPECT_NE(chain.a.relay_log().find("relay.next_hop.verify = false"), std::string::npos);

    write_file(chain.a.dir() / "password", "wrong\n");
    chain.a.stop_relay();
    ASSERT_EQ(chain.a.start_relay(), "");
    SmtpClient c;
    hello(c, chain.a.port());
    std::string r = c.command("MAIL FROM:<no-reply@bank.example>");
    EXPECT_TRUE(r.starts_with("451 4.7.0 next hop 127.0.0.1:" + std::to_string(chain.b.port()) +
                              " refused ribbon's credentials: 535 5.7.8"))
        << r;
    EXPECT_EQ(chain.b.sink().count(), 1u);
}

// A TCP forwarder between the relay and smtp-sink that writes down each
// chunk the relay sends, as Python's repr of the bytes, one per line: what
// the next hop received in which reads; and all those bytes as they came
// (stream()). Nothing is changed on the way.
class Recorder {
public:
    explicit Recorder(const fs::path& dir, int sink_port) : m_chunks(dir / "chunks.txt"), m_stream(dir / "stream.bin") {
        const fs::path script = dir / "recorder.py", port_file = dir / "recorder.port";
        write_file(script,
                   "import socket, sys, threading\n"
                   "sink, log = int(sys.argv[1]), open(sys.argv[2], 'a', buffering=1)\n"
                   "raw = open(sys.argv[4], 'ab', buffering=0)\n"
                   "ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(8)\n"
                   "open(sys.argv[3] + '.tmp', 'w').write(str(ls.getsockname()[1]))\n"
                   "import os; os.rename(sys.argv[3] + '.tmp', sys.argv[3])\n"
                   "def pump(a, b, record):\n"
                   "    while True:\n"
                   "        d = a.recv(65536)\n"
                   "        if not d: break\n"
                   "        if record: log.write(repr(d) + '\\n'); raw.write(d)\n"
                   "        b.sendall(d)\n"
                   "    try: b.shutdown(socket.SHUT_WR)\n"
                   "    except OSError: pass\n"
                   "while True:\n"
                   "    c, _ = ls.accept()\n"
                   "    s = socket.create_connection(('127.0.0.1', sink))\n"
                   "    threading.Thread(target=pump, args=(c, s, True), daemon=True).start()\n"
                   "    threading.Thread(target=pump, args=(s, c, False), daemon=True).start()\n");
        daemon::SpawnSpec spec;
        spec.argv = {"/usr/bin/python3", script.string(), std::to_string(sink_port), m_chunks.string(),
                     port_file.string(), m_stream.string()};
        spec.output = dir / "recorder.log";
        m_error = m_daemon.start(spec);
        for (int i = 0; m_error.empty() && i < 200 && !fs::exists(port_file); ++i) {
            std::this_thread::sleep_for(milliseconds(25));
        }
        if (m_error.empty() && fs::exists(port_file)) m_port = std::stoi(read_file(port_file));
    }
    ~Recorder() { m_daemon.stop(seconds(2)); }
    int port() const { return m_port; }
    std::vector<std::string> chunks() const {
        std::vector<std::string> out;
        std::istringstream in(fs::exists(m_chunks) ? read_file(m_chunks) : "");
        for (std::string line; std::getline(in, line);) out.push_back(line);
        return out;
    }

    std::string stream() const { return fs::exists(m_stream) ? read_file(m_stream) : std::string(); }

private:
    fs::path m_chunks;
    fs::path m_stream;
    daemon::Daemon m_daemon;
    std::string m_error;
    int m_port = 0;
};

// RFC 2920 towards the next hop: a pipelining client's RCPTs go on in one
// write when the next hop offers PIPELINING, one by one when it does not;
// either way each reply reaches the client in the order of its commands,
// a locally refused RCPT among them included.
TEST(RelayProtocol, PipelinedRecipientsGoToTheNextHopInOneBatch) {
    SKIP_WITHOUT_MTA();
    const std::string batch =
        "MAIL FROM:<no-reply@bank.example>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
        "RCPT TO:<a b>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n";
    for (bool offered : {true, false}) {
        SCOPED_TRACE(offered ? "next hop offers PIPELINING" : "next hop without PIPELINING");
        RelayRig rig;
        SmtpSinkOptions sink;
        // smtp-sink turns PIPELINING off (-p) whenever it refuses a command.
        if (!offered) sink.soft_reject = {"VRFY"};
        ASSERT_EQ(rig.sink().start(sink), "");
        Recorder recorder(rig.dir(), rig.sink().port());
        ASSERT_NE(recorder.port(), 0);
        rig.write_config({}, "url = \"smtp://127.0.0.1:" + std::to_string(recorder.port()) + "\"\ntls = \"none\"\n");
        ASSERT_EQ(rig.start_relay(), "");

        SmtpClient c;
        hello(c, rig.port());
        ASSERT_TRUE(c.send(batch));
        EXPECT_EQ(c.reply(), "250 2.1.0 Ok\r\n");
        EXPECT_EQ(c.reply(), "250 2.1.5 Ok\r\n");
        EXPECT_EQ(c.reply(), "250 2.1.5 Ok\r\n");
        EXPECT_EQ(reply_code(c.reply()), 501);
        EXPECT_EQ(c.reply(), "250 2.1.5 Ok\r\n");
        EXPECT_EQ(reply_code(c.reply()), 354);
        ASSERT_TRUE(c.send(notice_from(kSender, "pipelined") + ".\r\n"));
        EXPECT_EQ(reply_code(c.reply(seconds(30))), 250);
        ASSERT_EQ(rig.sink().count(), 1u) << rig.describe();
        EXPECT_EQ(rig.sink().messages()[0].rcpts,
                  (std::vector<std::string>{"a@example.org", "b@example.org", "c@example.org"}));

        const std::string together = "b'RCPT TO:<a@example.org>\\r\\nRCPT TO:<b@example.org>\\r\\n"
                                     "RCPT TO:<c@example.org>\\r\\n'";
        auto chunks = recorder.chunks();
        const bool batched = std::find(chunks.begin(), chunks.end(), together) != chunks.end();
        EXPECT_EQ(batched, offered) << ::testing::PrintToString(chunks);
        if (!offered) {
            for (const char* one : {"a", "b", "c"}) {
                std::string alone = std::string("b'RCPT TO:<") + one + "@example.org>\\r\\n'";
                EXPECT_NE(std::find(chunks.begin(), chunks.end(), alone), chunks.end()) << alone;
            }
        }
    }
}


// The bytes the relay sent as each message after DATA, up to and with the
// terminator, in order.
std::vector<std::string> data_payloads(const std::string& wire) {
    std::vector<std::string> out;
    for (std::size_t at = wire.find("DATA\r\n"); at != std::string::npos; at = wire.find("DATA\r\n", at)) {
        std::size_t start = at + 6, end = wire.find("\r\n.\r\n", start);
        if (end == std::string::npos) break;
        out.push_back(wire.substr(start, end + 5 - start));
        at = end + 5;
    }
    return out;
}

// RFC 5321 §2.3.8: a bare CR or LF is never sent on. The relay takes either
// as a line end and sends CRLF, for signed and unsigned mail alike; a "."
// between bare line ends is a line of content (dot-stuffed on the way), so
// none of the smuggling forms makes a second message at the next hop.
TEST(RelayProtocol, BareCrAndLfReachTheNextHopAsCrlfSignedOrNot) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    Recorder recorder(rig.dir(), rig.sink().port());
    ASSERT_NE(recorder.port(), 0);
    rig.write_config({}, "url = \"smtp://127.0.0.1:" + std::to_string(recorder.port()) + "\"\ntls = \"none\"\n");
    ASSERT_EQ(rig.start_relay(), "");
    const std::string body_in = "line1\r.\rMAIL FROM:<evil@example.com>\r\n"
                                "line2\n.\nMAIL FROM:<evil@example.com>\r\n"
                                "line3\n.\r\nMAIL FROM:<evil@example.com>\r\n"
                                "last\r\n";
    const std::string body_out = "line1\r\n..\r\nMAIL FROM:<evil@example.com>\r\n"
                                 "line2\r\n..\r\nMAIL FROM:<evil@example.com>\r\n"
                                 "line3\r\n..\r\nMAIL FROM:<evil@example.com>\r\n"
                                 "last\r\n.\r\n";
    const std::vector<std::string> senders = {"alice@example.org", kSender};
    std::vector<std::string> heads;
    for (const std::string& from : senders) {
        heads.push_back("From: <" + from + ">\r\nTo: <customer@example.org>\r\nSubject: bare line ends\r\nDate: " +
                        rfc5322_date(std::time(nullptr)) + "\r\n\r\n");
        SmtpClient c;
        hello(c, rig.port());
        ASSERT_EQ(reply_code(c.command("MAIL FROM:<" + from + ">")), 250);
        ASSERT_EQ(reply_code(c.command("RCPT TO:<customer@example.org>")), 250);
        ASSERT_EQ(reply_code(c.command("DATA")), 354);
        ASSERT_TRUE(c.send(heads.back() + body_in + ".\r\n"));
        EXPECT_EQ(reply_code(c.reply(seconds(30))), 250) << rig.describe();
        EXPECT_EQ(c.command("QUIT"), "221 2.0.0 Bye\r\n");
    }
    ASSERT_EQ(rig.sink().count(), 2u) << rig.describe();  // and no smuggled third one
    // The sink orders its dumps by write time, which cannot tell apart two
    // written within the file system's timestamp granularity: find the
    // signed one by its envelope sender instead.
    const auto sunk = rig.sink().messages();
    const auto signed_dump = std::find_if(sunk.begin(), sunk.end(), [&](const auto& m) { return m.mail_from == senders[1]; });
    ASSERT_NE(signed_dump, sunk.end());
    EXPECT_TRUE(std::any_of(sunk.begin(), sunk.end(), [&](const auto& m) { return m.mail_from == senders[0]; }));

    auto payloads = data_payloads(recorder.stream());
    ASSERT_EQ(payloads.size(), 2u) << ::testing::PrintToString(recorder.stream());
    for (const std::string& p : payloads) {
        for (std::size_t i = 0; i < p.size(); ++i) {
            ASSERT_FALSE(p[i] == '\r' && (i + 1 == p.size() || p[i + 1] != '\n')) << "bare CR at " << i << " in "
                                                                                  << ::testing::PrintToString(p);
            ASSERT_FALSE(p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) << "bare LF at " << i << " in "
                                                                       << ::testing::PrintToString(p);
        }
    }
    // Unsigned: exactly what the client sent, line ends made CRLF, below
    // the relay's Received: header.
    const std::string& unsigned_payload = payloads[0];
    ASSERT_TRUE(unsigned_payload.starts_with("Received: from client.test ([127.0.0.1])\r\n"))
        << ::testing::PrintToString(unsigned_payload);
    EXPECT_EQ(unsigned_payload.substr(unsigned_payload.find("\r\nFrom: <") + 2), heads[0] + body_out);
    // Signed: verifies, with the smuggled lines as content.
    auto verified = verify_openssl(strip_received(signed_dump->data));
    EXPECT_TRUE(verified.ok) << verified.details;
    EXPECT_NE(verified.content.find("line3"), std::string::npos) << verified.content;
    EXPECT_NE(verified.content.find("MAIL FROM:<evil@example.com>"), std::string::npos) << verified.content;
}

// A message over relay.max_message_size is refused with 552 and logged
// like any other refusal: the client, the sender, the size seen, the limit.
TEST(RelayProtocol, OversizedMessagesAreRefusedAndLogged) {
    SKIP_WITHOUT_MTA();
    Started s("max_message_size = 2048\n");
    SmtpClient c;
    hello(c, s.rig.port());
    const std::string too_big = "552 5.3.4 Message size exceeds fixed maximum message size\r\n";
    EXPECT_EQ(c.command("MAIL FROM:<no-reply@bank.example> SIZE=5000"), too_big);
    ASSERT_EQ(reply_code(c.command("MAIL FROM:<no-reply@bank.example>")), 250);
    ASSERT_EQ(reply_code(c.command("RCPT TO:<customer@example.org>")), 250);
    ASSERT_EQ(reply_code(c.command("DATA")), 354);
    std::string message = "Subject: big\r\n\r\n";
    for (int i = 0; i < 40; ++i) message += std::string(75, 'x') + "\r\n";
    ASSERT_EQ(message.size(), 3096u);
    ASSERT_TRUE(c.send(message + ".\r\n"));
    EXPECT_EQ(c.reply(), too_big);
    EXPECT_EQ(c.command("QUIT"), "221 2.0.0 Bye\r\n");
    EXPECT_TRUE(c.closed_by_server(seconds(2)));
    const std::string log = s.rig.relay_log();
    EXPECT_NE(log.find(": client=[127.0.0.1] from=<no-reply@bank.example> declared size=5000 refused: "
                       "relay.max_message_size is 2048; reply=552 5.3.4 Message size exceeds fixed maximum message size\n"),
              std::string::npos) << log;
    EXPECT_NE(log.find(": client=[127.0.0.1] from=<no-reply@bank.example> nrcpt=1 size=3096 refused: "
                       "relay.max_message_size is 2048; reply=552 5.3.4 Message size exceeds fixed maximum message size\n"),
              std::string::npos) << log;
    EXPECT_EQ(s.rig.sink().count(), 0u);
}

// As Postfix's connection cache (smtp_connection_cache_time_limit = 2s): a
// connection to the next hop that finished a transaction is kept for 2 s
// for the next one, then QUIT and closed, whether or not more mail comes.
TEST(RelayProtocol, IdleNextHopConnectionIsClosedWithQuitAfterTwoSeconds) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    Recorder recorder(rig.dir(), rig.sink().port());
    ASSERT_NE(recorder.port(), 0);
    rig.write_config({}, "url = \"smtp://127.0.0.1:" + std::to_string(recorder.port()) + "\"\ntls = \"none\"\n");
    ASSERT_EQ(rig.start_relay(), "");
    SmtpClient c;
    ASSERT_NO_FATAL_FAILURE(at_data(c, rig.port()));
    ASSERT_TRUE(c.send(notice_from(kSender, "cached") + ".\r\n"));
    ASSERT_EQ(reply_code(c.reply(seconds(30))), 250);
    const auto replied = std::chrono::steady_clock::now();
    EXPECT_EQ(c.command("QUIT"), "221 2.0.0 Bye\r\n");
    auto quit_sent = [&] { return recorder.stream().ends_with("QUIT\r\n"); };
    // Kept for the next transaction: still open a second later.
    std::this_thread::sleep_until(replied + seconds(1));
    EXPECT_EQ(established_to(recorder.port()), 1);
    EXPECT_FALSE(quit_sent());
    // Closed after QUIT once 2 s have passed; 5 s leaves room for a loaded
    // machine, while the old cache kept it until the next message.
    while (std::chrono::steady_clock::now() < replied + seconds(5) &&
           (established_to(recorder.port()) != 0 || !quit_sent())) {
        std::this_thread::sleep_for(milliseconds(20));
    }
    EXPECT_TRUE(quit_sent()) << ::testing::PrintToString(recorder.chunks());
    EXPECT_EQ(established_to(recorder.port()), 0);
}

}  // namespace
}  // namespace ribbon::test
