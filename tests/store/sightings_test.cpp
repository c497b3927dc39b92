// Key continuity in the recipients store (RecipientStore::observe_key and
// the senders calls, docs/STORE.md), on both backends: migration 2 of a
// schema-1 database, counting, de-duplication by message key, read-only
// judgement, certificates, erasure, expiry of message keys, refused input,
// and two processes recording into one database at once.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>

#include "ribbon/recipients.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

constexpr const char* kAlice = "alice@customer.example";
constexpr UnixTime kDay = 86400;
constexpr UnixTime kT0 = 1790000000;  // 2026-09-21
constexpr const char* kSubject = "emailAddress=alice@customer.example,CN=Alice";
constexpr const char* kIssuer = "CN=Customer CA";

std::string hex64(char c) { return std::string(64, c); }

SeenCertificate cert(char c, UnixTime not_after, const std::string& issuer = kIssuer) {
    SeenCertificate s;
    s.sha256 = hex64(c);
    s.subject = kSubject;
    s.issuer = issuer;
    s.serial_hex = std::string("0A0B") + c;
    s.not_before = not_after - 365 * kDay;
    s.not_after = not_after;
    return s;
}

KeySighting sighting(char key, const SeenCertificate& c, const std::string& message, UnixTime t,
                     const std::string& address = kAlice) {
    KeySighting s;
    s.address = address;
    s.spki_sha256 = hex64(key);
    s.certificate = c;
    s.message_key = message;
    s.time = t;
    return s;
}

enum class Backend { sqlite, postgresql };

class Sightings : public ::testing::TestWithParam<Backend> {
  protected:
    static void TearDownTestSuite() { s_pg.stop(); }

    void SetUp() override {
        if (GetParam() == Backend::postgresql) {
            SKIP_OR_FAIL_WITHOUT_POSTGRES(s_pg);
            url = s_pg.fresh_url();
        } else {
            url = "sqlite://" + (tmp / "ribbon.db").string();
        }
        store = open();
        ASSERT_TRUE(store);
    }

    std::unique_ptr<RecipientStore> open() {
        auto s = RecipientStore::open(url);
        EXPECT_TRUE(s.ok()) << describe(s.error());
        return s.ok() ? std::move(*s) : nullptr;
    }

    // A second, empty store of the same backend.
    std::unique_ptr<RecipientStore> open_another() {
        auto s = RecipientStore::open(GetParam() == Backend::postgresql
                                          ? s_pg.fresh_url()
                                          : "sqlite://" + (tmp / "another.db").string());
        EXPECT_TRUE(s.ok()) << describe(s.error());
        return s.ok() ? std::move(*s) : nullptr;
    }

    // run_children(2, ...), each child with a store of its own.
    std::vector<ChildResult> in_two_children(
        const std::function<int(RecipientStore&, int, std::string&)>& body) {
        store.reset();  // a child must not inherit a live connection
        return run_children(2, [&](int index, std::string& say) {
            auto s = RecipientStore::open(url);
            if (!s) {
                say = "open: " + describe(s.error());
                return 1;
            }
            return body(**s, index, say);
        });
    }

    ContinuityReport observe(const KeySighting& s, KeyRecording mode = KeyRecording::record) {
        auto r = store->observe_key(s, mode);
        EXPECT_TRUE(r.ok()) << describe(r.error());
        return r.ok() ? *r : ContinuityReport{};
    }

    std::int64_t count(const std::string& sql) { return std::stoll(raw_sql(url, sql)); }
    std::int64_t rows() {
        return count("SELECT (SELECT COUNT(*) FROM key_sightings) + (SELECT COUNT(*) FROM "
                     "key_certificates) + (SELECT COUNT(*) FROM key_messages)");
    }

    static SuitePostgres s_pg;
    TempDir tmp{"ribbon-sightings"};
    std::string url;
    std::unique_ptr<RecipientStore> store;
};

SuitePostgres Sightings::s_pg;

// A schema-1 database (this ribbon's migration 1 is unchanged, so dropping
// migration 2's tables and the rows of 2 and 3 gives exactly what the
// release before key continuity left; migration 4's tables go too) with
// recipients in it is migrated to 4 on open, its data kept.
TEST_P(Sightings, MigrationFromSchemaOneKeepsTheRecipients) {
    Observation o;
    o.address = kAlice;
    o.time = kT0;
    o.capability = SmimeSupport::supported;
    o.confidence = 1;
    o.capability_evidence = "signed message";
    ASSERT_OK(store->record(o));
    ASSERT_OK(store->set_override("bob@customer.example", RecipientOverride::opaque, kT0));
    store.reset();
    raw_sql(url, "DROP TABLE recent_failures");
    raw_sql(url, "DROP TABLE message_counts");
    raw_sql(url, "DROP TABLE key_messages");
    raw_sql(url, "DROP TABLE key_certificates");
    raw_sql(url, "DROP TABLE key_sightings");
    // Migration 5 (sealing) added columns to migration 1's tables.
    raw_sql(url, "ALTER TABLE recipient_certificates DROP COLUMN bound");
    raw_sql(url, "ALTER TABLE recipients DROP COLUMN seal_choice");
    raw_sql(url, "ALTER TABLE recipients DROP COLUMN seal_certificate");
    raw_sql(url, "DELETE FROM ribbon_schema WHERE version >= 2");
    ASSERT_EQ(count("SELECT MAX(version) FROM ribbon_schema"), 1);

    store = open();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->schema_version(), 5);
    EXPECT_EQ(count("SELECT COUNT(*) FROM ribbon_schema"), 5);
    EXPECT_EQ(raw_sql(url, "SELECT description FROM ribbon_schema WHERE version = 2"),
              "key continuity: key_sightings, key_certificates, key_messages");
    auto found = store->find(kAlice);
    ASSERT_OK(found);
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->message_count, 1u);
    EXPECT_EQ((*found)->capability, SmimeSupport::supported);
    EXPECT_EQ((*found)->capability_evidence, "signed message");
    auto bob = store->standing("bob@customer.example");
    ASSERT_OK(bob);
    ASSERT_TRUE(bob->has_value());
    EXPECT_EQ((*bob)->override_, RecipientOverride::opaque);
    // And the new tables work.
    EXPECT_EQ(observe(sighting('a', cert('1', kT0 + 300 * kDay), "m1", kT0)).verdict,
              Continuity::first);
    EXPECT_EQ(rows(), 3);
}

// A schema-2 database, whose key_messages held 64-hex-digit digests, is
// migrated to 3 (and 4): its message keys become 60-bit prefixes (the values below
// computed independently, with Python's hashlib), and a message counted
// before the upgrade stays counted.
TEST_P(Sightings, MigrationFromSchemaTwoKeepsTheCountedMessages) {
    const SeenCertificate c = cert('1', kT0 + 300 * kDay);
    observe(sighting('a', c, "<m1@x> d1", kT0));
    observe(sighting('a', c, "<m2@x> d2", kT0 + 1));
    store.reset();
    // Migration 2's key_messages, with what ribbon 2 stored for those two.
    raw_sql(url, "DROP TABLE key_messages");
    raw_sql(url, "CREATE TABLE key_messages (address TEXT NOT NULL, spki_sha256 TEXT NOT NULL, "
                 "message TEXT NOT NULL, counted_at BIGINT NOT NULL, PRIMARY KEY (address, "
                 "spki_sha256, message))");
    raw_sql(url, "CREATE INDEX key_messages_by_time ON key_messages (counted_at)");
    const std::string spki = hex64('a');
    raw_sql(url, "INSERT INTO key_messages VALUES ('alice@customer.example', '" + spki +
                     "', '80bf7c592a3c32c50581804f6fee9ec447297303b55809857650283c98b94c20', " +
                     std::to_string(kT0) +
                     "), ('alice@customer.example', '" + spki +
                     "', '3c4b416d811a15111c27ca7e32a43abc549586fa2aa1ca7d11b26af2ea775588', " +
                     std::to_string(kT0 + 1) + ")");
    raw_sql(url, "DROP TABLE recent_failures");
    raw_sql(url, "DROP TABLE message_counts");
    // Migration 5 (sealing) added columns to migration 1's tables.
    raw_sql(url, "ALTER TABLE recipient_certificates DROP COLUMN bound");
    raw_sql(url, "ALTER TABLE recipients DROP COLUMN seal_choice");
    raw_sql(url, "ALTER TABLE recipients DROP COLUMN seal_certificate");
    raw_sql(url, "DELETE FROM ribbon_schema WHERE version >= 3");

    store = open();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->schema_version(), 5);
    EXPECT_EQ(raw_sql(url, "SELECT description FROM ribbon_schema WHERE version = 3"),
              "key continuity: key_messages keyed by 60-bit digest prefixes");
    EXPECT_EQ(raw_sql(url, "SELECT message_prefix FROM key_messages WHERE counted_at = " +
                               std::to_string(kT0)),
              "579829404988064556");
    EXPECT_EQ(raw_sql(url, "SELECT message_prefix FROM key_messages WHERE counted_at = " +
                               std::to_string(kT0 + 1)),
              "271539887756386641");
    EXPECT_EQ(count("SELECT MIN(spki_prefix) FROM key_messages"), 768614336404564650);
    const ContinuityReport again = observe(sighting('a', c, "<m1@x> d1", kT0 + 5));
    EXPECT_TRUE(again.already_counted);
    EXPECT_EQ(again.key.messages, 2u);
    const ContinuityReport next = observe(sighting('a', c, "<m3@x> d3", kT0 + 6));
    EXPECT_TRUE(next.recorded);
    EXPECT_EQ(next.key.messages, 3u);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), 3);
    // The expiry still finds them by time.
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages WHERE counted_at <= " +
                    std::to_string(kT0 + 1)),
              2);
}

TEST_P(Sightings, FirstThenKnownWithCountsAndTimes) {
    const SeenCertificate c = cert('1', kT0 + 300 * kDay);
    ContinuityReport r = observe(sighting('a', c, "<m1@x> d1", kT0));
    EXPECT_EQ(r.verdict, Continuity::first);
    EXPECT_TRUE(r.recorded);
    EXPECT_FALSE(r.already_counted);
    EXPECT_EQ(r.key.spki_sha256, hex64('a'));
    EXPECT_EQ(r.key.messages, 1u);
    EXPECT_EQ(r.key.first_seen, kT0);
    EXPECT_EQ(r.key.last_seen, kT0);
    ASSERT_EQ(r.key.certificates.size(), 1u);
    EXPECT_EQ(r.key.certificates[0].sha256, hex64('1'));
    EXPECT_EQ(r.key.certificates[0].first_seen, kT0);
    EXPECT_FALSE(r.previous.has_value());

    r = observe(sighting('a', c, "<m2@x> d2", kT0 + kDay));
    EXPECT_EQ(r.verdict, Continuity::known);
    EXPECT_TRUE(r.recorded);
    EXPECT_EQ(r.key.messages, 2u);
    EXPECT_EQ(r.key.first_seen, kT0);
    EXPECT_EQ(r.key.last_seen, kT0 + kDay);
    // The sentence is about the history before this message.
    EXPECT_EQ(r.detail, "Known key: seen once before, since 2026-09-21, last on 2026-09-21.");
    // A message recorded late moves first_seen back, not last_seen.
    r = observe(sighting('a', c, "<m0@x> d0", kT0 - kDay));
    EXPECT_EQ(r.key.messages, 3u);
    EXPECT_EQ(r.key.first_seen, kT0 - kDay);
    EXPECT_EQ(r.key.last_seen, kT0 + kDay);

    auto s = store->find_sender("Alice@CUSTOMER.example ");
    ASSERT_OK(s);
    ASSERT_TRUE(s->has_value());
    EXPECT_EQ((*s)->address, kAlice);
    ASSERT_EQ((*s)->keys.size(), 1u);
    EXPECT_EQ((*s)->keys[0].messages, 3u);
    ASSERT_EQ((*s)->keys[0].certificates.size(), 1u);
    const SeenCertificate& got = (*s)->keys[0].certificates[0];
    EXPECT_EQ(got.subject, kSubject);
    EXPECT_EQ(got.issuer, kIssuer);
    EXPECT_EQ(got.serial_hex, "0A0B1");
    EXPECT_EQ(got.not_before, c.not_before);
    EXPECT_EQ(got.not_after, c.not_after);
    EXPECT_EQ(got.first_seen, kT0 - kDay);
    EXPECT_EQ(got.last_seen, kT0 + kDay);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), 3);
}

TEST_P(Sightings, TheSameMessageIsCountedOnce) {
    const SeenCertificate c = cert('1', kT0 + 300 * kDay);
    ASSERT_TRUE(observe(sighting('a', c, "<m1@x> d1", kT0)).recorded);
    for (int i = 1; i <= 3; ++i) {
        const ContinuityReport r = observe(sighting('a', c, "<m1@x> d1", kT0 + i));
        EXPECT_FALSE(r.recorded);
        EXPECT_TRUE(r.already_counted);
        EXPECT_EQ(r.verdict, Continuity::known);
        EXPECT_EQ(r.key.messages, 1u);
        EXPECT_EQ(r.key.last_seen, kT0);  // nothing moved
    }
    // Another message key (a resent copy with a new Message-ID) counts.
    EXPECT_EQ(observe(sighting('a', c, "<m1-resent@x> d1", kT0 + 5)).key.messages, 2u);
    // The message key is kept as 60 bits of its SHA-256, whatever its
    // length (the value computed independently, with Python's hashlib).
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), 2);
    EXPECT_EQ(count("SELECT message_prefix FROM key_messages WHERE counted_at = " +
                    std::to_string(kT0)),
              579829404988064556);
    // The same message key under another address or key is another binding.
    EXPECT_TRUE(observe(sighting('a', c, "<m1@x> d1", kT0, "bob@customer.example")).recorded);
    EXPECT_TRUE(observe(sighting('b', cert('2', kT0 + 300 * kDay), "<m1@x> d1", kT0)).recorded);
}

TEST_P(Sightings, ReadOnlyJudgesWithoutWriting) {
    const SeenCertificate c = cert('1', kT0 + 300 * kDay);
    ContinuityReport r = observe(sighting('a', c, "m1", kT0), KeyRecording::read_only);
    EXPECT_EQ(r.verdict, Continuity::first);
    EXPECT_FALSE(r.recorded);
    EXPECT_FALSE(r.already_counted);
    EXPECT_EQ(r.key.messages, 0u);
    EXPECT_EQ(rows(), 0);

    observe(sighting('a', c, "m1", kT0));
    const std::int64_t before = rows();
    r = observe(sighting('a', c, "m2", kT0 + kDay), KeyRecording::read_only);
    EXPECT_EQ(r.verdict, Continuity::known);
    EXPECT_FALSE(r.recorded);
    EXPECT_FALSE(r.already_counted);
    EXPECT_EQ(r.key.messages, 1u);
    EXPECT_EQ(r.key.last_seen, kT0);
    r = observe(sighting('a', c, "m1", kT0 + kDay), KeyRecording::read_only);
    EXPECT_TRUE(r.already_counted);
    r = observe(sighting('b', cert('2', kT0 + 300 * kDay), "m3", kT0 + kDay),
                KeyRecording::read_only);
    EXPECT_EQ(r.verdict, Continuity::changed);
    EXPECT_EQ(rows(), before);
    EXPECT_EQ(count("SELECT messages FROM key_sightings"), 1);
}

TEST_P(Sightings, RenewedAndChangedCarryThePreviousKey) {
    const UnixTime expiry = kT0 + 30 * kDay;
    for (int i = 0; i < 5; ++i) {
        observe(sighting('a', cert('1', expiry), "old" + std::to_string(i), kT0 + i * kDay));
    }
    // In the old certificate's last 60 days, same issuer and subject.
    ContinuityReport r = observe(sighting('b', cert('2', kT0 + 400 * kDay), "new1", kT0 + 10 * kDay));
    EXPECT_EQ(r.verdict, Continuity::renewed);
    ASSERT_TRUE(r.previous.has_value());
    EXPECT_EQ(r.previous->spki_sha256, hex64('a'));
    EXPECT_EQ(r.previous->messages, 5u);
    EXPECT_EQ(r.previous->last_seen, kT0 + 4 * kDay);
    EXPECT_EQ(r.key.messages, 1u);
    EXPECT_TRUE(r.recorded);
    // Now b is the previous key, valid for a year: a third key is a change.
    r = observe(sighting('c', cert('3', kT0 + 400 * kDay, "CN=Other CA"), "evil", kT0 + 11 * kDay));
    EXPECT_EQ(r.verdict, Continuity::changed);
    EXPECT_EQ(r.previous->spki_sha256, hex64('b'));
    EXPECT_EQ(r.previous->messages, 1u);
    // Going back to a, which was seen before, is known.
    EXPECT_EQ(observe(sighting('a', cert('1', expiry), "old9", kT0 + 12 * kDay)).verdict,
              Continuity::known);

    auto s = store->find_sender(kAlice);
    ASSERT_OK(s);
    ASSERT_TRUE(s->has_value());
    ASSERT_EQ((*s)->keys.size(), 3u);  // most recently seen first
    EXPECT_EQ((*s)->keys[0].spki_sha256, hex64('a'));
    EXPECT_EQ((*s)->keys[0].messages, 6u);
    EXPECT_EQ((*s)->keys[1].spki_sha256, hex64('c'));
    EXPECT_EQ((*s)->keys[2].spki_sha256, hex64('b'));
}

TEST_P(Sightings, AKeyKeepsEachCertificateNewestFirst) {
    observe(sighting('a', cert('1', kT0 + 30 * kDay), "m1", kT0));
    // The same key re-certified: the newer certificate first.
    const ContinuityReport r = observe(sighting('a', cert('2', kT0 + 395 * kDay), "m2", kT0 + kDay));
    EXPECT_EQ(r.verdict, Continuity::known);
    ASSERT_EQ(r.key.certificates.size(), 2u);
    EXPECT_EQ(r.key.certificates[0].sha256, hex64('2'));
    EXPECT_EQ(r.key.certificates[0].first_seen, kT0 + kDay);
    EXPECT_EQ(r.key.certificates[1].sha256, hex64('1'));
    auto s = store->find_sender(kAlice);
    ASSERT_OK(s);
    ASSERT_EQ((*s)->keys.at(0).certificates.size(), 2u);
    EXPECT_EQ((*s)->keys[0].certificates[0].sha256, hex64('2'));
    EXPECT_EQ((*s)->keys[0].certificates[1].sha256, hex64('1'));
}

TEST_P(Sightings, TextFromTheCertificateIsStoredAsUtf8) {
    SeenCertificate c = cert('1', kT0 + 300 * kDay);
    c.subject = std::string("CN=Al\xff") + '\0' + "ce\x1b[31m";
    observe(sighting('a', c, "m1", kT0));
    auto s = store->find_sender(kAlice);
    ASSERT_OK(s);
    EXPECT_EQ((*s)->keys.at(0).certificates.at(0).subject,
              "CN=Al\xEF\xBF\xBD\xEF\xBF\xBD" "ce\x1b[31m");
}

TEST_P(Sightings, ForgetSenderErasesItsKeysOnly) {
    observe(sighting('a', cert('1', kT0 + 300 * kDay), "m1", kT0));
    observe(sighting('b', cert('2', kT0 + 300 * kDay), "m2", kT0 + 1));
    observe(sighting('c', cert('3', kT0 + 300 * kDay), "m3", kT0, "bob@customer.example"));
    Observation o;
    o.address = kAlice;
    o.time = kT0;
    ASSERT_OK(store->record(o));

    auto gone = store->forget_sender("ALICE@customer.example");
    ASSERT_OK(gone);
    ASSERT_TRUE(gone->has_value());
    EXPECT_EQ((*gone)->address, kAlice);
    ASSERT_EQ((*gone)->keys.size(), 2u);
    EXPECT_EQ((*gone)->keys[0].spki_sha256, hex64('b'));
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_sightings WHERE address = 'alice@customer.example'"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_certificates WHERE address = 'alice@customer.example'"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages WHERE address = 'alice@customer.example'"), 0);
    EXPECT_EQ(rows(), 3);  // bob's
    auto rec = store->find(kAlice);  // the recipients side stays
    ASSERT_OK(rec);
    EXPECT_TRUE(rec->has_value());
    auto again = store->forget_sender(kAlice);
    ASSERT_OK(again);
    EXPECT_FALSE(again->has_value());
    auto bad = store->forget_sender("not an address");
    ASSERT_OK(bad);
    EXPECT_FALSE(bad->has_value());
    // The next message from alice is a first again.
    EXPECT_EQ(observe(sighting('b', cert('2', kT0 + 300 * kDay), "m2", kT0 + 2)).verdict,
              Continuity::first);
    // And recipients' forget leaves the sightings.
    ASSERT_OK(store->forget(kAlice));
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_sightings WHERE address = 'alice@customer.example'"), 1);
}

TEST_P(Sightings, ForEachSenderVisitsInAddressOrderPageByPage) {
    constexpr int kSenders = 520;  // more than one page of 500
    for (int i = kSenders - 1; i >= 0; --i) {
        char name[32];
        std::snprintf(name, sizeof name, "s%04d@example.org", i);
        observe(sighting('a', cert('1', kT0 + 300 * kDay), "m", kT0, name));
        if (i % 7 == 0) observe(sighting('b', cert('2', kT0 + 300 * kDay), "n", kT0 + 1, name));
    }
    int seen = 0;
    std::string last;
    std::size_t keys = 0;
    ASSERT_OK(store->for_each_sender([&](const SenderRecord& s) {
        EXPECT_LT(last, s.address);
        last = s.address;
        keys += s.keys.size();
        ++seen;
        return true;
    }));
    EXPECT_EQ(seen, kSenders);
    EXPECT_EQ(keys, static_cast<std::size_t>(kSenders + (kSenders + 6) / 7));
    seen = 0;
    ASSERT_OK(store->for_each_sender([&](const SenderRecord&) { return ++seen < 3; }));
    EXPECT_EQ(seen, 3);
}

TEST_P(Sightings, BadInputIsRefusedAsMalformed) {
    const SeenCertificate c = cert('1', kT0 + 300 * kDay);
    std::vector<KeySighting> bad = {
        sighting('a', c, "m", kT0, "no at sign"),
        sighting('a', c, "m", kT0, ""),
        sighting('a', c, "", kT0),
    };
    KeySighting short_spki = sighting('a', c, "m", kT0);
    short_spki.spki_sha256 = "abcd";
    bad.push_back(short_spki);
    KeySighting bad_cert = sighting('a', c, "m", kT0);
    bad_cert.certificate.sha256 = std::string(64, 'g');
    bad.push_back(bad_cert);
    for (const KeySighting& s : bad) {
        for (KeyRecording mode : {KeyRecording::record, KeyRecording::read_only}) {
            auto r = store->observe_key(s, mode);
            ASSERT_FALSE(r.ok());
            EXPECT_EQ(r.error().code(), Errc::malformed_message) << describe(r.error());
            EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
        }
    }
    EXPECT_EQ(rows(), 0);
    // Upper-case hex is the same digest.
    KeySighting upper = sighting('a', c, "m", kT0);
    upper.spki_sha256 = std::string(64, 'A');
    upper.certificate.sha256 = std::string(64, 'B');
    EXPECT_TRUE(observe(upper).recorded);
    EXPECT_EQ(raw_sql(url, "SELECT spki_sha256 FROM key_sightings"), hex64('a'));
    EXPECT_EQ(raw_sql(url, "SELECT sha256 FROM key_certificates"), hex64('b'));
    auto none = store->find_sender("not an address");
    ASSERT_OK(none);
    EXPECT_FALSE(none->has_value());
}

// Message keys older than kMessageKeyRetention are deleted by the first
// recording store of each hour; a message verified again after that is
// counted again (docs/STORE.md says so).
TEST_P(Sightings, MessageKeysExpireAfterTheRetention) {
    const SeenCertificate c = cert('1', kT0 + 900 * kDay);
    observe(sighting('a', c, "old", kT0));
    observe(sighting('a', c, "recent", kT0 + 300 * kDay));
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), 2);
    EXPECT_EQ(kMessageKeyRetention, 400 * kDay);
    store = open();  // a new store expires at its first recording
    const UnixTime later = kT0 + 400 * kDay + 1;
    observe(sighting('a', c, "another", later));
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), 2);  // "old" went, "another" came
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages WHERE counted_at = " + std::to_string(kT0)), 0);
    EXPECT_TRUE(observe(sighting('a', c, "recent", later + 1)).already_counted);
    const ContinuityReport r = observe(sighting('a', c, "old", later + 2));
    EXPECT_TRUE(r.recorded);  // counted a second time, as documented
    EXPECT_EQ(r.key.messages, 4u);
}

// Two processes, each with its own store, record into one database at
// once: N distinct messages each, and N messages both record. Every
// distinct message counts exactly once.
TEST_P(Sightings, TwoProcessesAtOnceCountEachMessageOnce) {
    constexpr int kPerChild = 150;
    const SeenCertificate c = cert('1', kT0 + 300 * kDay);
    const auto results = in_two_children([&](RecipientStore& s, int index, std::string& say) {
        for (int i = 0; i < kPerChild; ++i) {
            for (const std::string& m :
                 {"own-" + std::to_string(index) + "-" + std::to_string(i), "shared-" + std::to_string(i)}) {
                auto r = s.observe_key(sighting('a', c, m, kT0 + i), KeyRecording::record);
                if (!r) {
                    say = m + ": " + describe(r.error());
                    return 1;
                }
            }
        }
        return 0;
    });
    for (const auto& r : results) {
        EXPECT_EQ(r.exit_code, 0) << r.output << (r.timed_out ? " (timed out)" : "");
    }
    EXPECT_EQ(count("SELECT messages FROM key_sightings"), 3 * kPerChild);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), 3 * kPerChild);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_certificates"), 1);
}

// observe_keys (group commit) answers each sighting as recording them one
// at a time in that order would: in one batch, a second message under a key
// is judged with the first counted, a repeated message key is counted once,
// a new key beside a valid one is a change, and a sighting the store
// refuses spoils nothing else. Checked against the same sightings recorded
// one by one into a second store.
TEST_P(Sightings, ABatchAnswersAsRecordingOneByOneWould) {
    const SeenCertificate c1 = cert('1', kT0 + 300 * kDay);
    const std::string bob = "bob@customer.example";
    const std::vector<KeySighting> batch = {
        sighting('b', cert('2', kT0 + 300 * kDay), "<m1@x> d1", kT0, bob),
        sighting('a', c1, "<m1@x> d1", kT0),
        sighting('a', c1, "<m1@x> d1", kT0, "not an address"),
        sighting('a', c1, "<m2@x> d2", kT0 + 1),
        sighting('a', c1, "<m1@x> d1", kT0 + 2),
        sighting('c', cert('3', kT0 + 300 * kDay, "CN=Other CA"), "<m3@x> d3", kT0 + 3),
        sighting('b', cert('2', kT0 + 300 * kDay), "<m4@x> d4", kT0 + 4, bob),
    };
    const auto got = store->observe_keys(batch);
    ASSERT_EQ(got.size(), batch.size());
    ASSERT_FALSE(got[2].ok());
    EXPECT_EQ(got[2].error().code(), Errc::malformed_message);

    auto one_by_one = open_another();
    ASSERT_TRUE(one_by_one);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (i == 2) continue;
        ASSERT_OK(got[i]);
        auto want = one_by_one->observe_key(batch[i], KeyRecording::record);
        ASSERT_OK(want);
        SCOPED_TRACE(i);
        EXPECT_EQ(got[i]->verdict, want->verdict);
        EXPECT_EQ(got[i]->recorded, want->recorded);
        EXPECT_EQ(got[i]->already_counted, want->already_counted);
        EXPECT_EQ(got[i]->key.messages, want->key.messages);
        EXPECT_EQ(got[i]->key.first_seen, want->key.first_seen);
        EXPECT_EQ(got[i]->key.last_seen, want->key.last_seen);
        EXPECT_EQ(got[i]->detail, want->detail);
        EXPECT_EQ(got[i]->previous.has_value(), want->previous.has_value());
    }
    // And the verdicts themselves, so that both stores cannot be wrong alike.
    EXPECT_EQ(got[0]->verdict, Continuity::first);
    EXPECT_EQ(got[1]->verdict, Continuity::first);
    EXPECT_EQ(got[3]->verdict, Continuity::known);
    EXPECT_EQ(got[3]->key.messages, 2u);
    EXPECT_TRUE(got[4]->already_counted);
    EXPECT_FALSE(got[4]->recorded);
    EXPECT_EQ(got[5]->verdict, Continuity::changed);
    ASSERT_TRUE(got[5]->previous.has_value());
    EXPECT_EQ(got[5]->previous->messages, 2u);
    EXPECT_EQ(got[6]->verdict, Continuity::known);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), 5);
    EXPECT_EQ(count("SELECT SUM(messages) FROM key_sightings"), 5);
}

// Two processes recording batches at once, the shared messages in opposite
// orders (on PostgreSQL each batch then waits for the other's row locks):
// every distinct message is still counted exactly once.
TEST_P(Sightings, TwoProcessesRecordingBatchesCountEachMessageOnce) {
    constexpr int kBatches = 15, kPerBatch = 10;
    const SeenCertificate c = cert('1', kT0 + 300 * kDay);
    const auto results = in_two_children([&](RecipientStore& s, int index, std::string& say) {
        for (int b = 0; b < kBatches; ++b) {
            std::vector<KeySighting> batch;
            for (int j = 0; j < kPerBatch; ++j) {
                const int shared = index == 0 ? j : kPerBatch - 1 - j;
                const std::string n = std::to_string(b * kPerBatch + j);
                const std::string address =
                    std::string("s").append(std::to_string(shared)).append("@customer.example");
                const std::string own =
                    std::string("own-").append(std::to_string(index)).append("-").append(n);
                batch.push_back(
                    sighting('a', c, std::string("shared-").append(std::to_string(b)), kT0, address));
                batch.push_back(sighting('a', c, own, kT0, address));
            }
            for (const auto& r : s.observe_keys(batch)) {
                if (!r) {
                    say = describe(r.error());
                    return 1;
                }
            }
        }
        return 0;
    });
    for (const auto& r : results) {
        EXPECT_EQ(r.exit_code, 0) << r.output << (r.timed_out ? " (timed out)" : "");
    }
    // Per address: kBatches shared messages, and each child's own.
    EXPECT_EQ(count("SELECT SUM(messages) FROM key_sightings"), kPerBatch * kBatches * 3);
    EXPECT_EQ(count("SELECT COUNT(*) FROM key_messages"), kPerBatch * kBatches * 3);
}

INSTANTIATE_TEST_SUITE_P(Store, Sightings, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return info.param == Backend::sqlite ? "sqlite" : "postgresql";
                         });

}  // namespace
}  // namespace ribbon::test
