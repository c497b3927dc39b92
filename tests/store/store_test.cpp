// The recipients store (ribbon/recipients.hpp, docs/STORE.md): one suite
// run against both backends — SQLite in a TempDir and a private PostgreSQL
// (support/postgres.hpp) — then what only one backend has: a damaged or
// read-only SQLite file, a PostgreSQL server that goes away mid-run, and
// the URLs. What is stored is checked through the API and, where the API
// cannot show it (migrations, erased child rows), in the tables directly.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include "ribbon/recipients.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kAlice = "alice@customer.example";

// A DER-looking blob with NULs and high bytes: it must come back exactly.
std::string fake_der(char tag) {
    std::string d("\x30\x82\x00\x05\x00\xff\x00", 7);
    d += tag;
    d += std::string("\x00\x01\x80\xfe", 4);
    return d;
}

std::string sha(char c) { return std::string(64, c); }

HarvestedCertificate certificate(char c, std::vector<std::string> caps) {
    HarvestedCertificate h;
    h.sha256 = sha(c);
    h.subject = std::string("CN=Alice ") + c;
    h.issuer = "CN=Customer CA";
    h.serial = "0a1b2c";
    h.not_after = 1900000000;
    h.capabilities = std::move(caps);
    h.der = fake_der(c);
    return h;
}

Observation observe(const std::string& address, UnixTime t) {
    Observation o;
    o.address = address;
    o.time = t;
    return o;
}

Observation with_client(Observation o, const std::string& name, const std::string& version,
                        SmimeSupport smime = SmimeSupport::supported) {
    o.client = ClientSighting{name, version, "User-Agent: " + name + "/" + version, smime};
    return o;
}

Observation with_capability(Observation o, SmimeSupport s, double confidence,
                            const std::string& evidence) {
    o.capability = s;
    o.confidence = confidence;
    o.capability_evidence = evidence;
    return o;
}

// ---- the suite over both backends --------------------------------------------

enum class Backend { sqlite, postgresql };

class StoreTest : public ::testing::TestWithParam<Backend> {
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

    RecipientRecord must_find(const std::string& address) {
        auto r = store->find(address);
        EXPECT_TRUE(r.ok()) << describe(r.error());
        EXPECT_TRUE(r.ok() && r->has_value()) << address << " not found";
        return r.ok() && r->has_value() ? **r : RecipientRecord{};
    }

    std::int64_t count(const std::string& sql) { return std::stoll(raw_sql(url, sql)); }

    static SuitePostgres s_pg;
    TempDir tmp{"ribbon-store"};
    std::string url;
    std::unique_ptr<RecipientStore> store;
};

SuitePostgres StoreTest::s_pg;

TEST_P(StoreTest, OpensAndMigratesToTheCurrentVersion) {
    EXPECT_EQ(store->schema_version(), 5);
    EXPECT_EQ(count("SELECT COUNT(*) FROM ribbon_schema"), 5);
    EXPECT_EQ(count("SELECT MAX(version) FROM ribbon_schema"), 5);
    EXPECT_EQ(count("SELECT COUNT(*) FROM recipients"), 0);
}

TEST_P(StoreTest, FirstObservationIsFoundWithEveryField) {
    Observation o =
        with_client(observe("Alice@Customer.Example", 1700000000), "Thunderbird", "115.3.1");
    o = with_capability(o, SmimeSupport::supported, 1.0, "signed message");
    o.certificates.push_back(certificate('a', {"aes256-cbc", "aes128-gcm", "1.2.840.113549.3.7"}));
    ASSERT_OK(store->record(o));

    const RecipientRecord r = must_find(kAlice);
    EXPECT_EQ(r.address, kAlice);
    EXPECT_EQ(r.first_seen, 1700000000);
    EXPECT_EQ(r.last_seen, 1700000000);
    EXPECT_EQ(r.message_count, 1u);
    EXPECT_EQ(r.capability, SmimeSupport::supported);
    EXPECT_EQ(r.capability_evidence, "signed message");
    EXPECT_EQ(r.confidence, 1.0);
    EXPECT_EQ(r.override_, RecipientOverride::none);
    EXPECT_FALSE(r.opted_out);
    ASSERT_EQ(r.clients.size(), 1u);
    const ClientSighting& c = r.clients[0];
    EXPECT_EQ(c.name, "Thunderbird");
    EXPECT_EQ(c.version, "115.3.1");
    EXPECT_EQ(c.evidence, "User-Agent: Thunderbird/115.3.1");
    EXPECT_EQ(c.smime, SmimeSupport::supported);
    EXPECT_EQ(c.first_seen, 1700000000);
    EXPECT_EQ(c.last_seen, 1700000000);
    EXPECT_EQ(c.count, 1u);
    ASSERT_EQ(r.certificates.size(), 1u);
    const HarvestedCertificate& k = r.certificates[0];
    EXPECT_EQ(k.sha256, sha('a'));
    EXPECT_EQ(k.subject, "CN=Alice a");
    EXPECT_EQ(k.issuer, "CN=Customer CA");
    EXPECT_EQ(k.serial, "0a1b2c");
    EXPECT_EQ(k.not_after, 1900000000);
    EXPECT_EQ(k.capabilities,
              (std::vector<std::string>{"aes256-cbc", "aes128-gcm", "1.2.840.113549.3.7"}));
    EXPECT_EQ(k.der, fake_der('a'));
    EXPECT_EQ(k.first_seen, 1700000000);
    EXPECT_EQ(k.last_seen, 1700000000);

    auto st = store->standing(kAlice);
    ASSERT_OK(st);
    ASSERT_TRUE(st->has_value());
    EXPECT_EQ((*st)->capability, SmimeSupport::supported);
    EXPECT_EQ((*st)->override_, RecipientOverride::none);
    EXPECT_FALSE((*st)->opted_out);

    auto none = store->find("bob@customer.example");
    ASSERT_OK(none);
    EXPECT_FALSE(none->has_value());
    auto no_standing = store->standing("bob@customer.example");
    ASSERT_OK(no_standing);
    EXPECT_FALSE(no_standing->has_value());
}

TEST_P(StoreTest, CountsAndTimesAddUp) {
    // Out of order on purpose: first/last seen are the extremes, not the
    // first and last recorded.
    const std::vector<UnixTime> times = {1000, 5000, 200, 3000, 4000, 100, 2500};
    for (UnixTime t : times) ASSERT_OK(store->record(observe(kAlice, t)));
    const RecipientRecord r = must_find(kAlice);
    EXPECT_EQ(r.message_count, times.size());
    EXPECT_EQ(r.first_seen, 100);
    EXPECT_EQ(r.last_seen, 5000);
    EXPECT_EQ(r.capability, SmimeSupport::unknown);
    EXPECT_TRUE(r.clients.empty());
}

TEST_P(StoreTest, ClientsAreKeyedByNameAndVersion) {
    ASSERT_OK(store->record(with_client(observe(kAlice, 100), "Thunderbird", "115.3.1")));
    ASSERT_OK(store->record(with_client(observe(kAlice, 200), "Thunderbird", "115.3.1")));
    ASSERT_OK(store->record(
        with_client(observe(kAlice, 300), "Outlook (desktop)", "", SmimeSupport::supported)));
    ASSERT_OK(store->record(with_client(observe(kAlice, 400), "Thunderbird", "128.0")));
    ASSERT_OK(store->record(with_client(observe(kAlice, 150), "Thunderbird", "115.3.1")));
    ASSERT_OK(store->record(observe(kAlice, 500)));  // no client recognised

    const RecipientRecord r = must_find(kAlice);
    EXPECT_EQ(r.message_count, 6u);
    ASSERT_EQ(r.clients.size(), 3u);
    // Most recently seen first.
    EXPECT_EQ(r.clients[0].name, "Thunderbird");
    EXPECT_EQ(r.clients[0].version, "128.0");
    EXPECT_EQ(r.clients[0].count, 1u);
    EXPECT_EQ(r.clients[1].name, "Outlook (desktop)");
    EXPECT_EQ(r.clients[1].version, "");
    EXPECT_EQ(r.clients[1].count, 1u);
    EXPECT_EQ(r.clients[2].version, "115.3.1");
    EXPECT_EQ(r.clients[2].count, 3u);
    EXPECT_EQ(r.clients[2].first_seen, 100);
    EXPECT_EQ(r.clients[2].last_seen, 200);
}

TEST_P(StoreTest, CertificatesAreKeyedBySha256AndKeepTheirBytes) {
    Observation o = observe(kAlice, 100);
    o.certificates = {certificate('a', {"aes256-cbc", "aes128-cbc"}), certificate('b', {})};
    ASSERT_OK(store->record(o));
    // 'a' again, upper-case fingerprint, with a new preference list.
    Observation again = observe(kAlice, 200);
    again.certificates = {certificate('a', {"aes128-gcm", "aes256-gcm", "aes256-cbc"})};
    again.certificates[0].sha256 = std::string(64, 'A');
    ASSERT_OK(store->record(again));
    // 'a' once more, without sMIMECapabilities: the list stays.
    Observation bare = observe(kAlice, 300);
    bare.certificates = {certificate('a', {})};
    ASSERT_OK(store->record(bare));

    const RecipientRecord r = must_find(kAlice);
    ASSERT_EQ(r.certificates.size(), 2u);
    const HarvestedCertificate& a = r.certificates[0];  // most recently seen first
    EXPECT_EQ(a.sha256, sha('a'));
    EXPECT_EQ(a.capabilities, (std::vector<std::string>{"aes128-gcm", "aes256-gcm", "aes256-cbc"}));
    EXPECT_EQ(a.first_seen, 100);
    EXPECT_EQ(a.last_seen, 300);
    EXPECT_EQ(a.der, fake_der('a'));
    const HarvestedCertificate& b = r.certificates[1];
    EXPECT_EQ(b.sha256, sha('b'));
    EXPECT_TRUE(b.capabilities.empty());
    EXPECT_EQ(b.der, fake_der('b'));
    EXPECT_EQ(b.der.size(), 12u);
}

TEST_P(StoreTest, CapabilityFollowsTheConfidenceRule) {
    auto cap = [&] { return must_find(kAlice); };
    // Nothing known yet.
    ASSERT_OK(store->record(observe(kAlice, 100)));
    EXPECT_EQ(cap().capability, SmimeSupport::unknown);
    // A header guess.
    ASSERT_OK(store->record(with_capability(observe(kAlice, 200), SmimeSupport::unsupported, 0.6,
                                            "X-Mailer: Webmail")));
    EXPECT_EQ(cap().capability, SmimeSupport::unsupported);
    EXPECT_EQ(cap().confidence, 0.6);
    // A weaker guess does not replace it.
    ASSERT_OK(
        store->record(with_capability(observe(kAlice, 300), SmimeSupport::supported, 0.5, "weak")));
    EXPECT_EQ(cap().capability, SmimeSupport::unsupported);
    EXPECT_EQ(cap().capability_evidence, "X-Mailer: Webmail");
    // An equal one, later: the customer moved; believed.
    ASSERT_OK(store->record(with_capability(observe(kAlice, 400), SmimeSupport::supported, 0.6,
                                            "User-Agent: Thunderbird")));
    EXPECT_EQ(cap().capability, SmimeSupport::supported);
    EXPECT_EQ(cap().capability_evidence, "User-Agent: Thunderbird");
    // An equal one from an older message (replayed late) does not.
    ASSERT_OK(store->record(
        with_capability(observe(kAlice, 350), SmimeSupport::unsupported, 0.6, "old")));
    EXPECT_EQ(cap().capability, SmimeSupport::supported);
    // Nothing recognised (unknown, 0) never overrides.
    ASSERT_OK(store->record(observe(kAlice, 500)));
    EXPECT_EQ(cap().capability, SmimeSupport::supported);
    EXPECT_EQ(cap().confidence, 0.6);
    // Proof wins, and nothing below it moves it again.
    ASSERT_OK(store->record(
        with_capability(observe(kAlice, 600), SmimeSupport::supported, 1.0, "signed message")));
    ASSERT_OK(store->record(
        with_capability(observe(kAlice, 700), SmimeSupport::unsupported, 0.9, "X-Mailer: Old")));
    const RecipientRecord r = cap();
    EXPECT_EQ(r.capability, SmimeSupport::supported);
    EXPECT_EQ(r.capability_evidence, "signed message");
    EXPECT_EQ(r.confidence, 1.0);
    EXPECT_EQ(r.message_count, 8u);
}

// Issue 18: a certificate a signature once bound stays bound; one only
// carried beside a signature never becomes bound by being seen again.
TEST_P(StoreTest, ACertificateOnceBoundStaysBound) {
    Observation o = observe(kAlice, 100);
    o.certificates = {certificate('a', {}), certificate('b', {})};
    o.certificates[0].bound = true;
    ASSERT_OK(store->record(o));
    Observation later = observe(kAlice, 200);
    later.certificates = {certificate('a', {}), certificate('b', {})};  // neither bound this time
    ASSERT_OK(store->record(later));
    const RecipientRecord r = must_find(kAlice);
    ASSERT_EQ(r.certificates.size(), 2u);
    EXPECT_EQ(r.certificates[0].sha256, sha('a'));
    EXPECT_TRUE(r.certificates[0].bound);
    EXPECT_FALSE(r.certificates[1].bound);
}

TEST_P(StoreTest, TheSealChoiceIsKeptWithItsPinnedCertificate) {
    auto none = store->find(kAlice);
    ASSERT_OK(none);
    EXPECT_FALSE(none->has_value());
    ASSERT_OK(store->set_seal("Alice@Customer.Example", SealChoice::pinned, fake_der('p'), 50));
    RecipientRecord r = must_find(kAlice);
    EXPECT_EQ(r.first_seen, 50);
    EXPECT_EQ(r.message_count, 0u);
    EXPECT_EQ(r.seal, SealChoice::pinned);
    EXPECT_EQ(r.seal_certificate, fake_der('p'));
    ASSERT_OK(store->set_seal(kAlice, SealChoice::never, "", 60));
    r = must_find(kAlice);
    EXPECT_EQ(r.seal, SealChoice::never);
    EXPECT_EQ(r.seal_certificate, "");
    ASSERT_OK(store->set_seal(kAlice, SealChoice::automatic, "", 70));
    EXPECT_EQ(must_find(kAlice).seal, SealChoice::automatic);

    auto no_cert = store->set_seal(kAlice, SealChoice::pinned, "", 80);
    ASSERT_FALSE(no_cert.ok());
    EXPECT_EQ(no_cert.error().code(), Errc::malformed_message);
    auto stray = store->set_seal(kAlice, SealChoice::never, fake_der('q'), 80);
    ASSERT_FALSE(stray.ok());
    EXPECT_EQ(stray.error().code(), Errc::malformed_message);
    auto bad = store->set_seal("not an address", SealChoice::never, "", 80);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code(), Errc::malformed_message);
    EXPECT_EQ(must_find(kAlice).seal, SealChoice::automatic);
}

// A store of schema 4 gains the columns: what it harvested is unbound (it
// was never checked for a binding signature) and every address "auto".
TEST_P(StoreTest, MigrationFiveLeavesHarvestedCertificatesUnbound) {
    Observation o = observe(kAlice, 100);
    o.certificates = {certificate('a', {})};
    o.certificates[0].bound = true;
    ASSERT_OK(store->record(o));
    ASSERT_OK(store->set_seal(kAlice, SealChoice::never, "", 100));
    store.reset();
    raw_sql(url, "ALTER TABLE recipient_certificates DROP COLUMN bound");
    raw_sql(url, "ALTER TABLE recipients DROP COLUMN seal_choice");
    raw_sql(url, "ALTER TABLE recipients DROP COLUMN seal_certificate");
    raw_sql(url, "DELETE FROM ribbon_schema WHERE version = 5");
    store = open();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->schema_version(), 5);
    EXPECT_EQ(raw_sql(url, "SELECT description FROM ribbon_schema WHERE version = 5"),
              "sealing: bound certificates, a seal choice per address");
    const RecipientRecord r = must_find(kAlice);
    ASSERT_EQ(r.certificates.size(), 1u);
    EXPECT_FALSE(r.certificates[0].bound);
    EXPECT_EQ(r.certificates[0].der, fake_der('a'));
    EXPECT_EQ(r.seal, SealChoice::automatic);
}

TEST_P(StoreTest, OperatorDecisionsCreateTheAddressAndShowInStanding) {
    ASSERT_OK(store->set_override("Bob@Customer.Example", RecipientOverride::no_sign, 1234));
    RecipientRecord bob = must_find("bob@customer.example");
    EXPECT_EQ(bob.message_count, 0u);
    EXPECT_EQ(bob.first_seen, 1234);
    EXPECT_EQ(bob.override_, RecipientOverride::no_sign);
    EXPECT_FALSE(bob.opted_out);

    ASSERT_OK(store->set_opt_out("carol@customer.example", true, 99));
    ASSERT_OK(store->record(with_capability(observe("carol@customer.example", 100),
                                            SmimeSupport::supported, 1.0, "signed")));
    for (RecipientOverride o : {RecipientOverride::sign, RecipientOverride::opaque,
                                RecipientOverride::none, RecipientOverride::no_sign}) {
        ASSERT_OK(store->set_override("carol@customer.example", o, 200));
        auto st = store->standing("CAROL@customer.example");
        ASSERT_OK(st);
        ASSERT_TRUE(st->has_value());
        EXPECT_EQ((*st)->override_, o);
        EXPECT_TRUE((*st)->opted_out);
        EXPECT_EQ((*st)->capability, SmimeSupport::supported);
    }
    ASSERT_OK(store->set_opt_out("carol@customer.example", false, 300));
    const RecipientRecord carol = must_find("carol@customer.example");
    EXPECT_FALSE(carol.opted_out);
    EXPECT_EQ(carol.message_count, 1u);
    EXPECT_EQ(carol.first_seen, 99);  // set_override/opt-out later do not move it
}

TEST_P(StoreTest, ForgetErasesEverything) {
    Observation o = with_client(observe(kAlice, 100), "Thunderbird", "115");
    o.certificates = {certificate('a', {"aes256-cbc"})};
    ASSERT_OK(store->record(o));
    ASSERT_OK(
        store->record(with_client(observe("bob@customer.example", 100), "Thunderbird", "115")));
    ASSERT_OK(store->set_override(kAlice, RecipientOverride::sign, 200));

    auto gone = store->forget("ALICE@customer.example");
    ASSERT_OK(gone);
    EXPECT_TRUE(*gone);
    auto r = store->find(kAlice);
    ASSERT_OK(r);
    EXPECT_FALSE(r->has_value());
    EXPECT_EQ(
        count("SELECT COUNT(*) FROM recipient_clients WHERE address = 'alice@customer.example'"),
        0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM recipient_certificates"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM recipient_clients"), 1);  // bob's
    auto s = store->stats();
    ASSERT_OK(s);
    EXPECT_EQ(s->total, 1u);
    EXPECT_EQ(s->overridden, 0u);

    auto again = store->forget(kAlice);
    ASSERT_OK(again);
    EXPECT_FALSE(*again);
}

TEST_P(StoreTest, ForEachVisitsInAddressOrderPageByPage) {
    // More than one page (500), inserted in random order; some with children.
    std::vector<std::string> addresses;
    for (int i = 0; i < 1203; ++i) addresses.push_back("user" + std::to_string(i) + "@example.org");
    std::shuffle(addresses.begin(), addresses.end(), std::mt19937(42));
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        if (i % 100 == 0) {
            Observation o = with_client(observe(addresses[i], 10), "Mutt", std::to_string(i));
            o.certificates = {certificate('c', {std::to_string(i)})};
            ASSERT_OK(store->record(o));
        } else {
            ASSERT_OK(store->set_opt_out(addresses[i], i % 2 == 0, 5));
        }
    }
    std::sort(addresses.begin(), addresses.end());

    std::vector<std::string> seen;
    int with_children = 0;
    auto r = store->for_each([&](const RecipientRecord& rec) {
        seen.push_back(rec.address);
        if (!rec.clients.empty()) {
            ++with_children;
            // Each record carries its own children, not a neighbour's.
            EXPECT_EQ(rec.clients.size(), 1u) << rec.address;
            EXPECT_EQ(rec.certificates.size(), 1u) << rec.address;
            EXPECT_EQ(rec.clients[0].version, rec.certificates[0].capabilities.at(0))
                << rec.address;
        } else {
            EXPECT_TRUE(rec.certificates.empty()) << rec.address;
        }
        return true;
    });
    ASSERT_OK(r);
    EXPECT_EQ(seen, addresses);
    EXPECT_EQ(with_children, 13);

    int visited = 0;
    ASSERT_OK(store->for_each([&](const RecipientRecord&) { return ++visited < 3; }));
    EXPECT_EQ(visited, 3);
}

TEST_P(StoreTest, StatsCountAddressesAndClients) {
    ASSERT_OK(
        store->record(with_capability(with_client(observe("a@x.example", 1), "Thunderbird", "115"),
                                      SmimeSupport::supported, 1.0, "signed")));
    ASSERT_OK(store->record(with_client(observe("a@x.example", 2), "Outlook (desktop)", "16")));
    ASSERT_OK(
        store->record(with_capability(with_client(observe("b@x.example", 1), "Thunderbird", "128"),
                                      SmimeSupport::supported, 0.8, "UA")));
    ASSERT_OK(store->record(with_capability(
        with_client(observe("c@x.example", 1), "Webmail", "", SmimeSupport::unsupported),
        SmimeSupport::unsupported, 0.7, "X-Mailer")));
    ASSERT_OK(store->record(observe("d@x.example", 1)));
    ASSERT_OK(store->set_opt_out("e@x.example", true, 1));
    ASSERT_OK(store->set_override("d@x.example", RecipientOverride::opaque, 1));

    auto s = store->stats();
    ASSERT_OK(s);
    EXPECT_EQ(s->total, 5u);
    EXPECT_EQ(s->supported, 2u);
    EXPECT_EQ(s->unsupported, 1u);
    EXPECT_EQ(s->unknown, 2u);
    EXPECT_EQ(s->opted_out, 1u);
    EXPECT_EQ(s->overridden, 1u);
    ASSERT_EQ(s->clients.size(), 3u);
    EXPECT_EQ(s->clients[0].name, "Thunderbird");  // two addresses
    EXPECT_EQ(s->clients[0].addresses, 2u);
    EXPECT_EQ(s->clients[0].smime, SmimeSupport::supported);
    EXPECT_EQ(s->clients[1].name, "Outlook (desktop)");  // then by name
    EXPECT_EQ(s->clients[1].addresses, 1u);
    EXPECT_EQ(s->clients[2].name, "Webmail");
    EXPECT_EQ(s->clients[2].smime, SmimeSupport::unsupported);
}

TEST_P(StoreTest, AddressesAreCaseInsensitiveAndChecked) {
    ASSERT_OK(store->record(observe("  Alice@CUSTOMER.example\t", 1)));
    ASSERT_OK(store->record(observe("alice@customer.EXAMPLE", 2)));
    EXPECT_EQ(must_find("ALICE@customer.example").message_count, 2u);
    EXPECT_EQ(raw_sql(url, "SELECT address FROM recipients"), kAlice);

    for (const char* bad : {"", "   ", "no-at-sign", "@customer.example", "alice@", "a b@c.example",
                            "alice@customer.example\x01", "\xff@customer.example"}) {
        SCOPED_TRACE(std::string("address \"") + bad + "\"");
        auto r = store->record(observe(bad, 1));
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code(), Errc::malformed_message);
        EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
        auto o = store->set_override(bad, RecipientOverride::sign, 1);
        ASSERT_FALSE(o.ok());
        EXPECT_EQ(o.error().code(), Errc::malformed_message);
        auto st = store->standing(bad);
        ASSERT_OK(st);
        EXPECT_FALSE(st->has_value());
        auto f = store->forget(bad);
        ASSERT_OK(f);
        EXPECT_FALSE(*f);
    }
    auto s = store->stats();
    ASSERT_OK(s);
    EXPECT_EQ(s->total, 1u);
}

TEST_P(StoreTest, TextFromMailIsStoredAsUtf8) {
    // A Latin-1 byte, a NUL and a stray continuation byte in header text:
    // both backends store the same cleaned text.
    Observation o = with_capability(observe(kAlice, 1), SmimeSupport::supported, 0.5,
                                    std::string("X-Mailer: Caf\xe9 \x00mail \x80 \xc3\xa9", 25));
    o = with_client(o, "Caf\xe9", "1");
    ASSERT_OK(store->record(o));
    const RecipientRecord r = must_find(kAlice);
    EXPECT_EQ(r.capability_evidence,
              "X-Mailer: Caf\xef\xbf\xbd \xef\xbf\xbdmail \xef\xbf\xbd \xc3\xa9");
    ASSERT_EQ(r.clients.size(), 1u);
    EXPECT_EQ(r.clients[0].name, "Caf\xef\xbf\xbd");

    Observation bad = observe(kAlice, 2);
    bad.confidence = 1.5;
    auto b = store->record(bad);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().code(), Errc::malformed_message);
    bad = observe(kAlice, 2);
    bad.certificates = {certificate('a', {"aes256 cbc"})};
    EXPECT_FALSE(store->record(bad).ok());
    bad.certificates = {certificate('a', {})};
    bad.certificates[0].sha256 = "abc";
    EXPECT_FALSE(store->record(bad).ok());
    EXPECT_EQ(must_find(kAlice).message_count, 1u);  // refused ones left no trace
}

TEST_P(StoreTest, ReopenKeepsTheDataAndDoesNotMigrateAgain) {
    ASSERT_OK(store->record(with_client(observe(kAlice, 1), "Mutt", "2.2")));
    const std::string applied = raw_sql(url, "SELECT SUM(applied_at) FROM ribbon_schema");
    store.reset();
    store = open();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->schema_version(), 5);
    EXPECT_EQ(count("SELECT COUNT(*) FROM ribbon_schema"), 5);
    EXPECT_EQ(raw_sql(url, "SELECT SUM(applied_at) FROM ribbon_schema"), applied);
    const RecipientRecord r = must_find(kAlice);
    EXPECT_EQ(r.message_count, 1u);
    ASSERT_EQ(r.clients.size(), 1u);
    // Two stores on one database at once.
    auto second = RecipientStore::open(url);
    ASSERT_OK(second);
    ASSERT_OK((*second)->record(observe(kAlice, 2)));
    EXPECT_EQ(must_find(kAlice).message_count, 2u);
}

TEST_P(StoreTest, NewerSchemaIsRefused) {
    store.reset();
    raw_sql(url,
            "INSERT INTO ribbon_schema (version, applied_at, description) VALUES (7, 0, 'future')");
    auto r = RecipientStore::open(url);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::store_corrupt);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_NE(r.error().message().find("schema version 7 is newer than this ribbon (5)"),
              std::string::npos)
        << r.error().message();
}

// Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "x" + string.
std::string shared_address(int n) {
    std::string a = std::to_string(n);
    a.insert(0, 1, 'c');
    return a.append("@example.org");
}

// Two processes, each with its own store on one database, record for the
// same ten addresses at once; they start on a database nobody has opened
// yet, so they also race to migrate it.
TEST_P(StoreTest, TwoProcessesAtOnceLoseNoUpdate) {
    store.reset();  // a child must not inherit a live connection it could use
    if (GetParam() == Backend::postgresql)
        url = s_pg.fresh_url();
    else
        url = "sqlite://" + (tmp / "fresh.db").string();
    constexpr int kPerChild = 200;
    const auto start = Clock::now();
    const auto results = run_children(2, [&](int index, std::string& say) {
        auto s = RecipientStore::open(url);
        if (!s) {
            say = "open: " + describe(s.error());
            return 1;
        }
        for (int i = 0; i < kPerChild; ++i) {
            const std::string address = shared_address(i % 10);
            auto r =
                (*s)->record(with_client(observe(address, i), index ? "Mutt" : "Thunderbird", "1"));
            if (!r) {
                say = "record " + std::to_string(i) + ": " + describe(r.error());
                return 1;
            }
        }
        return 0;
    });
    for (const auto& c : results) {
        EXPECT_EQ(c.exit_code, 0) << c.output << (c.timed_out ? " (timed out)" : "");
    }
    RecordProperty(
        "two_process_ms",
        static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
    store = open();
    ASSERT_TRUE(store);
    EXPECT_EQ(count("SELECT SUM(message_count) FROM recipients"), 2 * kPerChild);
    EXPECT_EQ(count("SELECT SUM(message_count) FROM recipient_clients"), 2 * kPerChild);
    EXPECT_EQ(count("SELECT COUNT(*) FROM ribbon_schema"), 5);
    for (int a = 0; a < 10; ++a) {
        const RecipientRecord r = must_find(shared_address(a));
        EXPECT_EQ(r.message_count, 40u);
        EXPECT_EQ(r.clients.size(), 2u);
    }
}

// Not a benchmark: a rough figure for docs/STORE.md (printed), and a bound
// far above it that only a broken build would cross.
TEST_P(StoreTest, StandingIsCheap) {
    ASSERT_OK(store->record(observe(kAlice, 1)));
    ASSERT_OK(store->set_override("bob@customer.example", RecipientOverride::sign, 1));
    constexpr int kCalls = 2000;
    for (int i = 0; i < 100; ++i) ASSERT_OK(store->standing(kAlice));  // warm
    const auto start = Clock::now();
    for (int i = 0; i < kCalls; ++i) {
        auto r = store->standing(i % 2 ? kAlice : "bob@customer.example");
        ASSERT_TRUE(r.ok() && r->has_value());
    }
    const double us =
        std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kCalls;
    std::printf("[ standing ] %s: %.1f us per call\n",
                GetParam() == Backend::sqlite ? "sqlite" : "postgresql", us);
    RecordProperty("standing_us", static_cast<int>(us));
    EXPECT_LT(us, 5000.0);
}

INSTANTIATE_TEST_SUITE_P(Store, StoreTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return info.param == Backend::sqlite ? "sqlite" : "postgresql";
                         });

}  // namespace
}  // namespace ribbon::test
