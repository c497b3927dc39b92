// The recipient policy and inbound learning in the daemons, end to end:
// `ribbon relay` (smtp-sink as next hop) and `ribbon milter` inside a real
// Postfix, over a recipients store the test fills. A capable customer gets
// signed mail, an incapable one unsigned (unless-incapable), an opted-out
// one never signed; the relay splits a mixed message, the milter follows
// [milter] mixed; inbound mail is learned and never changed, even when the
// store fails.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "ribbon/recipients.hpp"
#include "support/milter_rig.hpp"
#include "support/postgres.hpp"
#include "support/relay_rig.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr const char* kSender = "no-reply@bank.example";
constexpr const char* kCapable = "capable@cust.example";
constexpr const char* kIncapable = "incapable@cust.example";
constexpr const char* kOptedOut = "optout@cust.example";
constexpr const char* kUnknown = "unknown@cust.example";

std::string store_url(const fs::path& daemon_dir) { return "sqlite://" + (daemon_dir / "state" / "ribbon.db").string(); }

// Fills the daemon's store (make_daemon_dir's state/) and hands it to
// nobody, the user the daemons run as.
void seed_customers(const fs::path& daemon_dir) {
    auto store = RecipientStore::open(store_url(daemon_dir));
    ASSERT_TRUE(store) << store.error().message();
    auto record = [&](const char* address, SmimeSupport s, double confidence) {
        Observation o;
        o.address = address;
        o.time = 1'790'000'000;
        o.capability = s;
        o.confidence = confidence;
        o.capability_evidence = "seeded by the test";
        ASSERT_TRUE((*store)->record(o));
    };
    record(kCapable, SmimeSupport::supported, 1.0);
    record(kIncapable, SmimeSupport::unsupported, 0.8);
    record(kOptedOut, SmimeSupport::supported, 1.0);
    ASSERT_TRUE((*store)->set_opt_out(kOptedOut, true, 1'790'000'000));
    store->reset();
    const passwd* nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    for (const auto& e : fs::directory_iterator(daemon_dir / "state")) {
        ASSERT_EQ(::chown(e.path().c_str(), nobody->pw_uid, nobody->pw_gid), 0);
    }
}

bool is_signed(const std::string& delivered) { return split_smime(delivered).error.empty(); }

// ---- ribbon relay -------------------------------------------------------------

struct PolicyRelay {
    RelayRig rig;
    explicit PolicyRelay(const std::string& signer_extra = {}) {
        EXPECT_EQ(rig.sink().start(), "");
        rig.write_config();
        seed_customers(rig.dir());
        if (!signer_extra.empty()) {
            std::string cfg = read_file(rig.config_file());
            cfg.replace(cfg.find("from = \"no-reply@bank.example\"\n"), 31,
                        "from = \"no-reply@bank.example\"\n" + signer_extra);
            write_file(rig.config_file(), cfg);
        }
        EXPECT_EQ(rig.start_relay(), "");
    }
};

TEST(RelayPolicy, EachCustomerGetsWhatTheirClientCanShow) {
    SKIP_WITHOUT_MTA();
    PolicyRelay s;
    RelayRig& rig = s.rig;
    const char* order[] = {kCapable, kIncapable, kOptedOut, kUnknown};
    std::vector<std::string> sent;
    for (const char* rcpt : order) {
        sent.push_back(notice_from(kSender, std::string("policy-") + rcpt));
        auto sub = rig.send(sent.back(), kSender, {rcpt});
        ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    }
    auto got = rig.sink().messages();
    ASSERT_EQ(got.size(), 4u) << rig.describe();
    for (std::size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].rcpts, std::vector<std::string>{order[i]});
        std::string delivered = strip_received(got[i].data);
        const bool want_signed = order[i] == kCapable || order[i] == kUnknown;
        EXPECT_EQ(is_signed(delivered), want_signed) << order[i];
        if (want_signed) {
            EXPECT_TRUE(verify_openssl(delivered).ok) << order[i];
        } else {
            EXPECT_EQ(delivered, to_crlf(sent[i])) << order[i];  // byte for byte
        }
    }
    EXPECT_NE(rig.relay_log().find("not signed: from=<" + std::string(kSender) + "> by the recipient policy (" + std::string(kOptedOut) + ": opted out)"), std::string::npos) << rig.relay_log();
    EXPECT_NE(rig.relay_log().find("by the recipient policy (" + std::string(kIncapable) + ": capability unsupported, recipients = unless-incapable)"),
              std::string::npos)
        << rig.relay_log();
}

TEST(RelayPolicy, MixedRecipientsGoInOneDownstreamTransactionPerAnswer) {
    SKIP_WITHOUT_MTA();
    PolicyRelay s;
    RelayRig& rig = s.rig;
    std::string message = notice_from(kSender, "policy-mixed");
    auto sub = rig.send(message, kSender, {kIncapable, kCapable, kOptedOut, kUnknown});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    EXPECT_NE(sub.final_reply.find("250 2.0.0 Ok: delivered in 2 transactions"), std::string::npos) << sub.final_reply;
    auto got = rig.sink().messages();
    ASSERT_EQ(got.size(), 2u) << rig.describe();
    // The sink's files do not tell which of two messages in one second came
    // first: put the signed one first. Recipients keep the client's order.
    if (got[0].rcpts.front() != kCapable) std::swap(got[0], got[1]);
    EXPECT_EQ(got[0].rcpts, (std::vector<std::string>{kCapable, kUnknown}));
    std::string signed_copy = strip_received(got[0].data);
    ASSERT_TRUE(is_signed(signed_copy));
    EXPECT_TRUE(verify_openssl(signed_copy).ok);
    EXPECT_EQ(got[1].rcpts, (std::vector<std::string>{kIncapable, kOptedOut}));
    EXPECT_EQ(strip_received(got[1].data), to_crlf(message));
}

TEST(RelayPolicy, CapableOnlySignsOnlyForKnownCapableClients) {
    SKIP_WITHOUT_MTA();
    PolicyRelay s("recipients = \"capable-only\"\n");
    RelayRig& rig = s.rig;
    auto sub = rig.send(notice_from(kSender, "capable-only"), kSender, {kUnknown, kCapable});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    auto got = rig.sink().messages();
    ASSERT_EQ(got.size(), 2u) << rig.describe();
    if (got[0].rcpts.front() != kCapable) std::swap(got[0], got[1]);
    EXPECT_EQ(got[0].rcpts, std::vector<std::string>{kCapable});
    EXPECT_TRUE(is_signed(strip_received(got[0].data)));
    EXPECT_EQ(got[1].rcpts, std::vector<std::string>{kUnknown});
    EXPECT_FALSE(is_signed(strip_received(got[1].data)));
}

TEST(RelayPolicy, ACorruptStoreIsRefusedAtStartNamingTheFile) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    rig.write_config();
    const fs::path db = rig.dir() / "state" / "ribbon.db";
    write_file(db, std::string(8192, 'x'));
    // The store is opened once the relay runs as nobody, after it bound its
    // socket: it may be seen listening for a moment before it exits.
    if (rig.start_relay().empty()) {
        for (int i = 0; i < 100 && rig.relay_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_FALSE(rig.relay_running());
    EXPECT_NE(rig.relay_log().find(db.string()), std::string::npos) << rig.relay_log();
    EXPECT_NE(rig.relay_log().find("[store_corrupt]"), std::string::npos) << rig.relay_log();
}

// Started as root with a SQLite store in a directory that does not exist
// yet: the relay makes it, gives it to nobody, and learns nothing is wrong.
TEST(RelayPolicy, MakesTheSqliteDirectoryAndGivesItToTheDaemonUser) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    const fs::path dir = rig.dir() / "var-lib-ribbon" / "store";
    rig.write_config({}, {}, "[store]\nurl = \"sqlite://" + (dir / "ribbon.db").string() + "\"\n");
    ASSERT_EQ(rig.start_relay(), "");
    ASSERT_EQ(rig.send(notice_from(kSender, "new-dir"), kSender, {kCapable}).final_code, 250) << rig.describe();
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, ::getpwnam("nobody")->pw_uid);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    EXPECT_TRUE(fs::exists(dir / "ribbon.db"));
}

// PostgreSQL goes away under a running relay: a customer whose answer is
// cached still gets signed mail; one never looked up is deferred (451
// 4.3.0, on_internal_error = tempfail), never sent unsigned; once the
// database is back, mail to them goes out signed.
TEST(RelayPolicy, ADatabaseGoingAwayDefersOnlyWhatItMustAndRecovers) {
    SKIP_WITHOUT_MTA();
    SKIP_WITHOUT_POSTGRES();
    PostgresServer pg;
    ASSERT_EQ(pg.start(), "");
    ASSERT_EQ(pg.create_database("relay"), "");
    {
        auto store = RecipientStore::open(pg.url("relay"));
        ASSERT_TRUE(store) << store.error().message();
        Observation o;
        o.address = kCapable;
        o.time = 1'790'000'000;
        o.capability = SmimeSupport::supported;
        o.confidence = 1;
        ASSERT_TRUE((*store)->record(o));
    }
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    rig.write_config({}, {}, "[store]\nurl = \"" + pg.url("relay") + "\"\n");
    ASSERT_EQ(rig.start_relay(), "");
    ASSERT_EQ(rig.send(notice_from(kSender, "pg-1"), kSender, {kCapable}).final_code, 250) << rig.describe();

    pg.stop();
    auto cached = rig.send(notice_from(kSender, "pg-2"), kSender, {kCapable});
    EXPECT_EQ(cached.final_code, 250) << cached.transcript;
    auto deferred = rig.send(notice_from(kSender, "pg-3"), kSender, {"never-seen@cust.example"});
    EXPECT_EQ(deferred.final_code, 451) << deferred.transcript;
    EXPECT_NE(deferred.final_reply.find("4.3.0"), std::string::npos) << deferred.final_reply;
    ASSERT_EQ(rig.sink().count(), 2u);
    for (const auto& m : rig.sink().messages()) EXPECT_TRUE(is_signed(strip_received(m.data)));

    ASSERT_EQ(pg.start(), "");
    int code = 0;
    for (int i = 0; i < 40 && code != 250; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        code = rig.send(notice_from(kSender, "pg-4"), kSender, {"never-seen@cust.example"}).final_code;
    }
    EXPECT_EQ(code, 250) << rig.relay_log();
    ASSERT_EQ(rig.sink().count(), 3u);
    EXPECT_TRUE(is_signed(strip_received(rig.sink().messages()[2].data)));
    EXPECT_TRUE(rig.relay_running());
}

// ---- ribbon milter ------------------------------------------------------------

struct PolicyMilter {
    MilterRig rig;
    explicit PolicyMilter(const std::string& milter_extra = {}, const std::string& extra = {}) {
        rig.write_config(milter_extra, extra);
        seed_customers(rig.dir());
        EXPECT_EQ(rig.start_milter(), "");
        EXPECT_EQ(rig.start_mta(), "") << rig.describe();
    }
    // Sends one message through Postfix and returns it as delivered.
    std::string deliver(const std::string& message, const std::vector<std::string>& rcpts) {
        const std::size_t before = rig.sink().count();
        auto sub = rig.postfix().submit_smtp(message, kSender, rcpts);
        EXPECT_EQ(sub.final_code, 250) << sub.transcript;
        EXPECT_TRUE(rig.sink().wait_for(before + 1, seconds(30))) << rig.describe();
        auto got = rig.sink().messages();
        return got.size() > before ? strip_received(got[before].data) : std::string();
    }
};

TEST(MilterPolicy, CapableSignedIncapableAndOptedOutUnsignedMixedFollowsTheRule) {
    SKIP_WITHOUT_MTA();
    PolicyMilter s;
    std::string capable = s.deliver(notice_from(kSender, "m-capable"), {kCapable});
    EXPECT_TRUE(is_signed(capable));
    EXPECT_TRUE(verify_openssl(capable).ok);
    const std::string incapable_msg = notice_from(kSender, "m-incapable");
    EXPECT_EQ(s.deliver(incapable_msg, {kIncapable}), to_crlf(incapable_msg));
    EXPECT_FALSE(is_signed(s.deliver(notice_from(kSender, "m-optout"), {kOptedOut})));
    EXPECT_TRUE(is_signed(s.deliver(notice_from(kSender, "m-unknown"), {kUnknown})));
    // The milter cannot split: mixed = "sign" (the default) signs for all...
    EXPECT_TRUE(is_signed(s.deliver(notice_from(kSender, "m-mixed"), {kCapable, kIncapable})));
    // ...but an opt-out among the recipients makes the message unsigned.
    EXPECT_FALSE(is_signed(s.deliver(notice_from(kSender, "m-mixed-optout"), {kCapable, kOptedOut})));
    EXPECT_NE(s.rig.milter_log().find("by the recipient policy (" + std::string(kOptedOut) + ": opted out)"),
              std::string::npos)
        << s.rig.milter_log();
}

TEST(MilterPolicy, MixedUnsignedSendsAMixedMessageUnsigned) {
    SKIP_WITHOUT_MTA();
    PolicyMilter s("mixed = \"unsigned\"\n");
    EXPECT_FALSE(is_signed(s.deliver(notice_from(kSender, "m-mixed-u"), {kCapable, kIncapable})));
    EXPECT_TRUE(is_signed(s.deliver(notice_from(kSender, "m-capable-u"), {kCapable, kUnknown})));
}

// A customer writing to the bank, through the same milter in role "both":
// learned (Thunderbird, supported) and delivered byte for byte; the bank's
// own mail to that customer is still signed.
TEST(MilterInbound, LearnsFromCustomerMailWithoutChangingIt) {
    SKIP_WITHOUT_MTA();
    PolicyMilter s("role = \"both\"\n", "[learn]\ndomains = [\"bank.example\"]\n");
    const std::string inbound =
        "From: New Customer <new@cust.example>\r\nTo: support@bank.example\r\nSubject: Card question\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <q1@cust.example>\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nHello, is my card ready?\r\n";
    const std::size_t before = s.rig.sink().count();
    auto sub = s.rig.postfix().submit_smtp(inbound, "new@cust.example", {"support@bank.example"});
    ASSERT_EQ(sub.final_code, 250) << sub.transcript;
    ASSERT_TRUE(s.rig.sink().wait_for(before + 1, seconds(30))) << s.rig.describe();
    EXPECT_EQ(strip_received(s.rig.sink().messages()[before].data), inbound);

    std::optional<RecipientRecord> found;
    for (int i = 0; i < 100 && !found; ++i) {
        auto store = RecipientStore::open(store_url(s.rig.dir()));
        ASSERT_TRUE(store) << store.error().message();
        auto r = (*store)->find("new@cust.example");
        ASSERT_TRUE(r) << r.error().message();
        found = *r;
        if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(found) << s.rig.milter_log();
    EXPECT_EQ(found->message_count, 1u);
    EXPECT_EQ(found->capability, SmimeSupport::supported);
    ASSERT_EQ(found->clients.size(), 1u);
    EXPECT_EQ(found->clients[0].name, "Thunderbird");
    EXPECT_EQ(found->clients[0].version, "115.3.1");

    EXPECT_TRUE(is_signed(s.deliver(notice_from(kSender, "to-new"), {"new@cust.example"})));
}

// The store turns read-only under a running milter (the learning thread
// opens its connection at the first message): inbound mail is delivered
// unchanged all the same and the failure is logged.
TEST(MilterInbound, AStoreThatFailsNeitherBlocksNorChangesMail) {
    SKIP_WITHOUT_MTA();
    MilterRig rig;
    rig.write_config("role = \"inbound\"\n");
    ASSERT_EQ(rig.start_milter(), "");
    ASSERT_EQ(rig.start_mta(), "") << rig.describe();
    const fs::path db = rig.dir() / "state" / "ribbon.db";
    ASSERT_TRUE(fs::exists(db));
    ASSERT_EQ(::chmod(db.c_str(), 0444), 0);
    const std::string inbound =
        "From: c@cust.example\r\nTo: support@bank.example\r\nSubject: hi\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        "Message-ID: <q2@cust.example>\r\nX-Mailer: Evolution 3.46.4\r\n\r\nhi\r\n";
    for (int i = 0; i < 3; ++i) {
        auto sub = rig.postfix().submit_smtp(inbound, "c@cust.example", {"support@bank.example"});
        ASSERT_EQ(sub.final_code, 250) << sub.transcript;
    }
    ASSERT_TRUE(rig.sink().wait_for(3, seconds(30))) << rig.describe();
    for (const auto& m : rig.sink().messages()) EXPECT_EQ(strip_received(m.data), inbound);
    for (int i = 0; i < 50 && rig.milter_log().find("not learned, the store failed") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(rig.milter_log().find("not learned, the store failed"), std::string::npos) << rig.milter_log();
    EXPECT_TRUE(rig.milter_running());
}

}  // namespace
}  // namespace ribbon::test
