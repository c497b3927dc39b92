// `ribbon milter` inside a real Postfix (a private instance relaying to
// smtp-sink): mail from a [[signer]] address arrives signed and verifies
// with openssl, NSS and gpgsm whether it came in over SMTP or through
// Postfix's sendmail; other mail arrives byte for byte as sent; nothing is
// lost or delivered unsigned when the milter dies or its key goes away.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <thread>

#include "support/messages.hpp"
#include "support/milter_rig.hpp"
#include "support/sign.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr const char* kSender = "no-reply@bank.example";

// The names of a message's top-level header fields, in order.
std::vector<std::string> header_names(const std::string& message) {
    std::vector<std::string> names;
    std::size_t pos = 0;
    while (pos < message.size()) {
        std::size_t eol = message.find("\r\n", pos);
        if (eol == std::string::npos || eol == pos) break;
        if (message[pos] != ' ' && message[pos] != '\t') {
            names.push_back(message.substr(pos, message.find(':', pos) - pos));
        }
        pos = eol + 2;
    }
    return names;
}

std::string header_value(const std::string& message, const std::string& name) {
    std::string key = "\r\n" + name + ":";
    std::size_t at = ("\r\n" + message).find(key);
    if (at == std::string::npos) return {};
    std::size_t start = at + key.size() - 2;
    return message.substr(start, message.find("\r\n", start) - start);
}

struct Started {
    MilterRig rig;
    explicit Started(const SmtpSinkOptions& sink = {}, PostfixOptions postfix = {},
                     const std::string& milter_extra = {}) {
        rig.write_config(milter_extra);
        std::string e = rig.start_milter();
        EXPECT_EQ(e, "");
        e = rig.start_mta(sink, std::move(postfix));
        EXPECT_EQ(e, "") << rig.describe();
    }
};

TEST(MilterPostfix, SmtpAndSendmailMailArrivesSignedAndVerifiesEverywhere) {
    SKIP_WITHOUT_MTA();
    Started s;
    MilterRig& rig = s.rig;
    std::string by_smtp = notice_from(kSender, "smtp-1", "Your balance: 12,50 € — thank you.");
    auto sub = rig.postfix().submit_smtp(by_smtp, kSender, {"customer@example.org"});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    std::string by_sendmail = notice_from(kSender, "sendmail-1");
    auto sm = rig.postfix().submit_sendmail(by_sendmail, kSender, {"customer@example.org"});
    ASSERT_EQ(sm.exit_code, 0) << sm.describe();
    ASSERT_TRUE(rig.sink().wait_for(2, seconds(30))) << rig.describe();

    for (const SinkMessage& m : rig.sink().messages()) {
        SCOPED_TRACE(m.dump_file.string());
        std::string delivered = strip_received(m.data);
        auto parts = split_smime(delivered);
        ASSERT_EQ(parts.error, "") << delivered;
        EXPECT_FALSE(parts.opaque);
        expect_verified_everywhere(delivered);
        EXPECT_EQ(m.rcpts, std::vector<std::string>{"customer@example.org"});
    }
    // The header Postfix queued is the one `ribbon sign` writes for the same
    // input (Postfix's Received headers aside).
    std::string by_cli;
    ASSERT_NO_FATAL_FAILURE(sign_ok(by_smtp, {}, by_cli));
    std::string delivered = strip_received(rig.sink().messages()[0].data);
    EXPECT_EQ(header_names(delivered), header_names(by_cli));
    EXPECT_EQ(rig.milter_log().find("NOQUEUE"), std::string::npos) << "every decision names the queue id";
    EXPECT_NE(rig.milter_log().find("signed: from=<no-reply@bank.example> id=no-reply@bank.example"),
              std::string::npos)
        << rig.milter_log();
}

TEST(MilterPostfix, OtherSendersAndSignedMailPassByteForByte) {
    SKIP_WITHOUT_MTA();
    Started s;
    MilterRig& rig = s.rig;
    std::string other = notice_from("newsletter@shop.example", "other-1");
    std::string presigned =
        openssl_signed_message("Content-Type: text/plain\r\n\r\nsigned already\r\n",
                               "From: " + std::string(kSender) + "\r\nTo: c@example.org\r\nSubject: s\r\n"
                               "Date: " + rfc5322_date(std::time(nullptr)) + "\r\nMessage-ID: <pre@x>\r\n");
    // Sealed (enveloped-data) mail is S/MIME too: passed on as the relay
    // and `ribbon sign` do (ribbon/smime_form.hpp).
    std::string sealed =
        openssl_sealed_message("Content-Type: text/plain\r\n\r\nsealed already\r\n",
                               "From: " + std::string(kSender) + "\r\nTo: c@example.org\r\nSubject: e\r\n"
                               "Date: " + rfc5322_date(std::time(nullptr)) + "\r\nMessage-ID: <sealed@x>\r\n");
    ASSERT_EQ(rig.postfix().submit_smtp(other, "newsletter@shop.example", {"c@example.org"}).final_code, 250);
    ASSERT_EQ(rig.postfix().submit_smtp(presigned, kSender, {"c@example.org"}).final_code, 250);
    ASSERT_EQ(rig.postfix().submit_smtp(sealed, kSender, {"c@example.org"}).final_code, 250);
    ASSERT_TRUE(rig.sink().wait_for(3, seconds(30))) << rig.describe();
    std::set<std::string> delivered;
    for (const auto& m : rig.sink().messages()) delivered.insert(strip_received(m.data));
    EXPECT_EQ(delivered.size(), 3u);
    EXPECT_TRUE(delivered.contains(to_crlf(other)));
    EXPECT_TRUE(delivered.contains(to_crlf(presigned)));
    EXPECT_TRUE(delivered.contains(to_crlf(sealed)));
    const std::string log = rig.milter_log();
    std::size_t passed = 0;
    for (std::size_t at = log.find("is already S/MIME, passed unchanged"); at != std::string::npos;
         at = log.find("is already S/MIME, passed unchanged", at + 1)) {
        ++passed;
    }
    EXPECT_EQ(passed, 2u) << log;
}

TEST(MilterPostfix, SignatureSurvivesMimeDowngradeTowardsTheNextHop) {
    SKIP_WITHOUT_MTA();
    SmtpSinkOptions no_8bit;
    no_8bit.announce_8bitmime = false;
    Started s(no_8bit);
    MilterRig& rig = s.rig;
    std::string utf8 = notice_from(kSender, "downgrade-1", "Grüße aus Zürich — Kontostand 1.234,56 €");
    ASSERT_EQ(rig.postfix().submit_smtp(utf8, kSender, {"c@example.org"}).final_code, 250);
    ASSERT_TRUE(rig.sink().wait_for(1, seconds(30))) << rig.describe();
    std::string delivered = strip_received(rig.sink().messages()[0].data);
    auto v = expect_verified_everywhere(delivered);
    EXPECT_NE(v.openssl.content.find("Gr=C3=BC=C3=9Fe"), std::string::npos) << v.openssl.content;
}

TEST(MilterPostfix, LargeMessageIsSpooledAndSigned) {
    SKIP_WITHOUT_MTA();
    Started s({}, {}, "spool_threshold = 65536\n");
    MilterRig& rig = s.rig;
    std::string big = set_header(large_attachment_message(), "From", "Bank <no-reply@bank.example>");
    ASSERT_EQ(rig.postfix().submit_smtp(big, kSender, {"c@example.org"}).final_code, 250) << rig.describe();
    ASSERT_TRUE(rig.sink().wait_for(1, seconds(60))) << rig.describe();
    std::string delivered = strip_received(rig.sink().messages()[0].data);
    EXPECT_GT(delivered.size(), 3'000'000u);
    EXPECT_TRUE(verify_openssl(delivered).ok);
}

// Above spool_threshold the message goes to a file in spool_dir: with a
// spool_dir that cannot take one, a large message tempfails (nothing is
// lost or sent unsigned) while a small one, held in memory, is signed.
TEST(MilterPostfix, LargeMessagesGoToSpoolDirAndItsFailureTempfails) {
    SKIP_WITHOUT_MTA();
    MilterRig rig;
    rig.write_config("spool_threshold = 65536\n");
    std::string cfg = read_file(rig.config_file());
    std::string dir = (rig.dir() / "spool").string();
    cfg.replace(cfg.find(dir), dir.size(), (rig.dir() / "no-such-dir").string());
    write_file(rig.config_file(), cfg);
    ASSERT_EQ(rig.start_milter(), "");
    ASSERT_EQ(rig.start_mta(), "") << rig.describe();
    std::string big = set_header(large_attachment_message(), "From", "Bank <no-reply@bank.example>");
    auto refused = rig.postfix().submit_smtp(big, kSender, {"c@example.org"});
    EXPECT_EQ(refused.final_code, 451) << refused.transcript;
    EXPECT_NE(rig.milter_log().find("cannot create a spool file in " + (rig.dir() / "no-such-dir").string()),
              std::string::npos)
        << rig.milter_log();
    ASSERT_EQ(rig.postfix().submit_smtp(notice_from(kSender, "small-1"), kSender, {"c@example.org"}).final_code,
              250);
    ASSERT_TRUE(rig.sink().wait_for(1, seconds(30))) << rig.describe();
    EXPECT_EQ(rig.sink().count(), 1u);
    EXPECT_TRUE(verify_openssl(strip_received(rig.sink().messages()[0].data)).ok);
}

TEST(MilterPostfix, OpaqueForRecipientDomainsAndTraceHeader) {
    SKIP_WITHOUT_MTA();
    MilterRig rig;
    rig.write_config("opaque_for = [\"broken-gateway.example\"]\n");
    // trace_header is a [[signer]] setting: rewrite the signer entry.
    std::string cfg = read_file(rig.config_file());
    cfg.replace(cfg.find("from = \"no-reply@bank.example\"\n"), 31,
                "from = \"no-reply@bank.example\"\ntrace_header = true\n");
    write_file(rig.config_file(), cfg);
    ASSERT_EQ(rig.start_milter(), "");
    ASSERT_EQ(rig.start_mta(), "") << rig.describe();
    ASSERT_EQ(rig.postfix().submit_smtp(notice_from(kSender, "opaque-1"), kSender, {"x@Broken-Gateway.example"})
                  .final_code,
              250);
    ASSERT_TRUE(rig.sink().wait_for(1, seconds(30))) << rig.describe();
    std::string delivered = strip_received(rig.sink().messages()[0].data);
    auto parts = split_smime(delivered);
    ASSERT_EQ(parts.error, "");
    EXPECT_TRUE(parts.opaque);
    EXPECT_TRUE(verify_openssl(delivered).ok);
    std::string trace = header_value(delivered, "Ribbon-Signer");
    EXPECT_EQ(trace.rfind(" no-reply@bank.example; serial=", 0), 0u) << delivered.substr(0, 800);
}

// Several messages over one SMTP session: the milter asks Postfix for no
// MAIL event (SMFIP_NOMAIL), so each message begins at its first recipient.
// A message ribbon passes on at end of header must not leak into the next
// one, nor may one message's recipients decide another's form: the first
// goes to an opaque_for domain (opaque), the third to another (detached).
TEST(MilterPostfix, MessagesOfOneSessionAreKeptApart) {
    SKIP_WITHOUT_MTA();
    Started s({}, {}, "opaque_for = [\"broken-gateway.example\"]\n");
    MilterRig& rig = s.rig;
    write_file(rig.dir() / "m1.eml", notice_from(kSender, "session-1"));
    write_file(rig.dir() / "m2.eml", notice_from("newsletter@shop.example", "session-2"));
    write_file(rig.dir() / "m3.eml", notice_from(kSender, "session-3"));
    const std::string script =
        "import smtplib, sys\n"
        "d = sys.argv[2]\n"
        "with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:\n"
        "    s.sendmail('no-reply@bank.example', ['x@broken-gateway.example'], open(d + '/m1.eml', 'rb').read())\n"
        "    s.sendmail('newsletter@shop.example', ['c@example.org'], open(d + '/m2.eml', 'rb').read())\n"
        "    s.sendmail('no-reply@bank.example', ['c@example.org'], open(d + '/m3.eml', 'rb').read())\n";
    auto r = run_process({"python3", "-c", script, std::to_string(rig.postfix().smtp_port()), rig.dir().string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe() << rig.describe();
    ASSERT_TRUE(rig.sink().wait_for(3, seconds(30))) << rig.describe();
    std::map<std::string, std::string> by_sender_and_rcpt;
    for (const SinkMessage& m : rig.sink().messages()) {
        ASSERT_EQ(m.rcpts.size(), 1u);
        by_sender_and_rcpt[m.mail_from + " " + m.rcpts[0]] = strip_received(m.data);
    }
    ASSERT_EQ(by_sender_and_rcpt.size(), 3u);
    const std::string& first = by_sender_and_rcpt[std::string(kSender) + " x@broken-gateway.example"];
    auto opaque = split_smime(first);
    ASSERT_EQ(opaque.error, "") << first;
    EXPECT_TRUE(opaque.opaque);
    EXPECT_TRUE(verify_openssl(first).ok);
    EXPECT_EQ(by_sender_and_rcpt["newsletter@shop.example c@example.org"], read_file(rig.dir() / "m2.eml"));
    const std::string& third = by_sender_and_rcpt[std::string(kSender) + " c@example.org"];
    auto detached = split_smime(third);
    ASSERT_EQ(detached.error, "") << third;
    EXPECT_FALSE(detached.opaque);
    EXPECT_NE(third.find("session-3"), std::string::npos);
    EXPECT_EQ(third.find("session-2"), std::string::npos);
    EXPECT_TRUE(verify_openssl(third).ok);
}

// A message whose key went away: tempfail (nothing unsigned reaches the
// sink), and once the key is back the client's retry goes out signed.
TEST(MilterPostfix, KeyUnreadableAtRunTimeTempfailsAndNothingLeavesUnsigned) {
    SKIP_WITHOUT_MTA();
    Started s;
    MilterRig& rig = s.rig;
    fs::path key = rig.key_file();
    ASSERT_FALSE(key.empty());
    ASSERT_EQ(::chmod(key.c_str(), 0), 0);
    std::string msg = notice_from(kSender, "nokey-1");
    auto refused = rig.postfix().submit_smtp(msg, kSender, {"c@example.org"});
    EXPECT_EQ(refused.final_code, 451) << refused.transcript;
    EXPECT_NE(refused.final_reply.find("4.7.5"), std::string::npos) << refused.final_reply;

    fs::path moved = key.string() + ".away";
    ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
    fs::rename(key, moved);
    auto removed = rig.postfix().submit_smtp(msg, kSender, {"c@example.org"});
    EXPECT_EQ(removed.final_code, 451) << removed.transcript;
    std::this_thread::sleep_for(seconds(1));
    EXPECT_EQ(rig.sink().count(), 0u) << rig.describe();

    fs::rename(moved, key);
    ASSERT_EQ(rig.postfix().submit_smtp(msg, kSender, {"c@example.org"}).final_code, 250) << rig.describe();
    ASSERT_TRUE(rig.sink().wait_for(1, seconds(30))) << rig.describe();
    EXPECT_TRUE(verify_openssl(strip_received(rig.sink().messages()[0].data)).ok);
    EXPECT_NE(rig.milter_log().find("tempfail (on_no_key = \"tempfail\")"), std::string::npos) << rig.milter_log();
}

// Passing mail on unsigned is an explicit choice per failure kind.
TEST(MilterPostfix, OnNoKeyAcceptPassesUnsignedAndSaysSo) {
    SKIP_WITHOUT_MTA();
    Started s({}, {}, "on_no_key = \"accept\"\n");
    MilterRig& rig = s.rig;
    fs::remove(rig.key_file());
    std::string msg = notice_from(kSender, "accept-1");
    ASSERT_EQ(rig.postfix().submit_smtp(msg, kSender, {"c@example.org"}).final_code, 250) << rig.describe();
    ASSERT_TRUE(rig.sink().wait_for(1, seconds(30))) << rig.describe();
    EXPECT_EQ(strip_received(rig.sink().messages()[0].data), to_crlf(msg));
    EXPECT_NE(rig.milter_log().find("passed on unsigned (on_no_key = \"accept\")"), std::string::npos)
        << rig.milter_log();
}

// SIGKILL in the middle of a batch submitted with sendmail: Postfix keeps
// what it could not filter, and after the restart every message arrives
// signed, each exactly once.
TEST(MilterPostfix, KilledMidBatchEveryMessageArrivesSignedExactlyOnce) {
    SKIP_WITHOUT_MTA();
    Started s;
    MilterRig& rig = s.rig;
    constexpr int kCount = 30;
    for (int i = 0; i < kCount; ++i) {
        if (i == kCount / 3) rig.kill_milter(SIGKILL);
        auto r = rig.postfix().submit_sendmail(notice_from(kSender, "batch-" + std::to_string(i)), kSender,
                                               {"c@example.org"});
        ASSERT_EQ(r.exit_code, 0) << r.describe();
    }
    std::this_thread::sleep_for(seconds(2));
    EXPECT_LT(rig.sink().count(), static_cast<std::size_t>(kCount)) << "the milter was down: mail must wait";
    for (const SinkMessage& m : rig.sink().messages()) {
        ASSERT_EQ(split_smime(strip_received(m.data)).error, "") << "delivered unsigned:\n" << m.data;
    }
    ASSERT_EQ(rig.start_milter(), "");
    ASSERT_TRUE(rig.postfix().flush().exit_code == 0);
    ASSERT_TRUE(rig.sink().wait_for(kCount, seconds(60))) << rig.sink().count() << rig.describe();
    std::this_thread::sleep_for(seconds(1));
    auto got = rig.sink().messages();
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount)) << "count in = count out";
    std::set<std::string> ids;
    for (const SinkMessage& m : got) {
        std::string delivered = strip_received(m.data);
        ids.insert(header_value(delivered, "Message-ID"));
        ASSERT_TRUE(verify_openssl(delivered).ok) << delivered.substr(0, 600);
    }
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(kCount)) << "every message exactly once";
    EXPECT_TRUE(rig.postfix().wait_queue_size(0, seconds(10))) << rig.describe();
}

// SIGHUP: a bad configuration is refused and the old one kept; a good one
// takes effect for the next message.
TEST(MilterPostfix, SighupReloadsAGoodConfigurationAndKeepsTheOldOneOnErrors) {
    SKIP_WITHOUT_MTA();
    Started s;
    MilterRig& rig = s.rig;
    std::string good = read_file(rig.config_file());
    write_file(rig.config_file(), good + "[milter]\n");  // a second [milter] table: invalid TOML
    rig.kill_milter(SIGHUP);
    for (int i = 0; i < 100 && rig.milter_log().find("keeping the previous") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(rig.milter_log().find("keeping the previous configuration"), std::string::npos) << rig.milter_log();
    ASSERT_TRUE(rig.milter_running());
    ASSERT_EQ(rig.postfix().submit_smtp(notice_from(kSender, "hup-1"), kSender, {"c@example.org"}).final_code, 250);

    // Now a configuration without the signer: the sender passes unsigned.
    std::string unsigned_cfg = good;
    unsigned_cfg.replace(unsigned_cfg.find("[[signer]]"), 10, "# [[signer]]");
    unsigned_cfg.replace(unsigned_cfg.find("from = \"no-reply"), 4, "# fr");
    write_file(rig.config_file(), unsigned_cfg);
    rig.kill_milter(SIGHUP);
    for (int i = 0; i < 100 && rig.milter_log().find("reload: configuration") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(rig.milter_running()) << rig.milter_log();
    std::string plain = notice_from(kSender, "hup-2");
    ASSERT_EQ(rig.postfix().submit_smtp(plain, kSender, {"c@example.org"}).final_code, 250);
    ASSERT_TRUE(rig.sink().wait_for(2, seconds(30))) << rig.describe();
    int signed_count = 0, plain_count = 0;
    for (const SinkMessage& m : rig.sink().messages()) {
        std::string d = strip_received(m.data);
        if (d == to_crlf(plain)) ++plain_count;
        else if (verify_openssl(d).ok) ++signed_count;
    }
    EXPECT_EQ(signed_count, 1);
    EXPECT_EQ(plain_count, 1);
}

}  // namespace
}  // namespace ribbon::test
