// inbound::SenderMemory (src/inbound/sender_memory.cpp): key continuity
// judged and recorded in a real SQLite store, the lookalike check against
// the organisation's own domains and the recorded ones, and the store's
// failures turned into temperror without touching the verification.
#include "inbound/sender_memory.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>

#include "support/process.hpp"

namespace ribbon::inbound {
namespace {

using std::chrono::hours;

const TimePoint kNow = time_from_unix(1'796'000'000);  // 2026-11-30

// A valid result for `from`, signed with the key whose digest is `spki`
// (64 hex digits made from one character), in message `message_id`.
Assessment valid(const std::string& from, char spki, const std::string& message_id) {
    VerifyResult v;
    v.verdict = Verdict::valid;
    v.reason = VerifyReason::none;
    SignerDetails s;
    s.certificate.subject = "CN=" + from;
    s.certificate.issuer = "CN=Customer CA";
    s.certificate.serial_hex = "0A";
    s.certificate.not_before = kNow - hours(24 * 30);
    s.certificate.not_after = kNow + hours(24 * 365);
    s.certificate.addresses = {from};
    s.spki_sha256 = std::string(64, spki);
    s.certificate_sha256 = std::string(64, spki == 'f' ? 'e' : 'f');
    v.signer = s;
    v.from_addresses = {from};
    v.from_in_certificate = true;
    v.message_id = message_id;
    v.content_sha256 = std::string(64, '0');
    Assessment a;
    a.verified = v;
    return a;
}

struct Memory {
    test::TempDir dir{"ribbon-sender-memory"};
    std::string url = "sqlite://" + (dir / "ribbon.db").string();
    SenderMemory make(KeyRecording recording = KeyRecording::record) {
        return SenderMemory({url, {"bank.example"}, recording, std::chrono::seconds(600)});
    }
};

Assessment considered(SenderMemory& m, Assessment a, TimePoint now = kNow) {
    m.consider(a, now);
    return a;
}

TEST(SenderMemory, FirstThenKnownAndAMessageCountedOnce) {
    Memory f;
    SenderMemory m = f.make();
    Assessment first = considered(m, valid("alice@customer.example", 'a', "m1@customer.example"));
    ASSERT_TRUE(first.continuity);
    EXPECT_FALSE(first.temperror) << first.temperror_reason;
    EXPECT_EQ(first.continuity->verdict, Continuity::first);
    EXPECT_EQ(first.continuity->key.messages, 1u);
    EXPECT_TRUE(first.continuity->recorded);
    EXPECT_FALSE(first.lookalike);

    Assessment second = considered(m, valid("alice@customer.example", 'a', "m2@customer.example"), kNow + hours(1));
    ASSERT_TRUE(second.continuity);
    EXPECT_EQ(second.continuity->verdict, Continuity::known);
    EXPECT_EQ(second.continuity->key.messages, 2u);

    Assessment again = considered(m, valid("alice@customer.example", 'a', "m2@customer.example"), kNow + hours(2));
    ASSERT_TRUE(again.continuity);
    EXPECT_TRUE(again.continuity->already_counted);
    EXPECT_FALSE(again.continuity->recorded);
    EXPECT_EQ(again.continuity->key.messages, 2u);
}

TEST(SenderMemory, ANewKeyWhileTheOldIsGoodIsChanged) {
    Memory f;
    SenderMemory m = f.make();
    considered(m, valid("alice@customer.example", 'a', "m1@customer.example"));
    Assessment other = considered(m, valid("alice@customer.example", 'b', "m2@customer.example"), kNow + hours(1));
    ASSERT_TRUE(other.continuity);
    EXPECT_EQ(other.continuity->verdict, Continuity::changed);
    ASSERT_TRUE(other.continuity->previous);
    EXPECT_EQ(other.continuity->previous->messages, 1u);
    EXPECT_EQ(other.continuity->previous->spki_sha256, std::string(64, 'a'));
}

TEST(SenderMemory, ALookalikeOfAnOwnDomainIsReported) {
    Memory f;
    SenderMemory m = f.make();
    Assessment a = considered(m, valid("ceo@bnak.example", 'c', "p1@bnak.example"));
    ASSERT_TRUE(a.continuity);
    EXPECT_EQ(a.continuity->verdict, Continuity::first);
    ASSERT_TRUE(a.lookalike);
    EXPECT_EQ(a.lookalike->domain, "bnak.example");
    EXPECT_EQ(a.lookalike->resembles.domain, "bank.example");
    EXPECT_TRUE(a.lookalike->resembles.own);
    EXPECT_EQ(a.lookalike->kind, LookalikeKind::edit_distance);
}

// A lookalike's domain is recorded (its key history is kept) but never
// becomes a known domain: the next address there, and the next process,
// still see a lookalike.
TEST(SenderMemory, ALookalikeStaysALookalike) {
    Memory f;
    {
        SenderMemory m = f.make();
        considered(m, valid("ceo@bnak.example", 'c', "p1@bnak.example"));
        Assessment second = considered(m, valid("cfo@bnak.example", 'd', "p2@bnak.example"), kNow + hours(1));
        ASSERT_TRUE(second.lookalike);
        EXPECT_EQ(second.lookalike->resembles.domain, "bank.example");
    }
    SenderMemory fresh = f.make();
    Assessment third = considered(fresh, valid("ceo@bnak.example", 'c', "p3@bnak.example"), kNow + hours(2));
    ASSERT_TRUE(third.continuity);
    EXPECT_EQ(third.continuity->verdict, Continuity::known);
    ASSERT_TRUE(third.lookalike);
    EXPECT_EQ(third.lookalike->resembles.domain, "bank.example");
}

// A recorded sender's domain is known at once in this process, and to a
// process started later from the store: its lookalikes are reported, its
// own new addresses are not.
TEST(SenderMemory, ARecordedDomainBecomesKnown) {
    Memory f;
    SenderMemory m = f.make();
    considered(m, valid("alice@customer.example", 'a', "m1@customer.example"));
    Assessment fake = considered(m, valid("alice@cust0mer.example", 'b', "f1@cust0mer.example"), kNow + hours(1));
    ASSERT_TRUE(fake.lookalike);
    EXPECT_EQ(fake.lookalike->resembles.domain, "customer.example");
    EXPECT_FALSE(fake.lookalike->resembles.own);
    EXPECT_EQ(fake.lookalike->kind, LookalikeKind::confusable);

    SenderMemory later = f.make();
    Assessment colleague = considered(later, valid("bob@customer.example", 'e', "m2@customer.example"), kNow + hours(2));
    ASSERT_TRUE(colleague.continuity);
    EXPECT_EQ(colleague.continuity->verdict, Continuity::first);
    EXPECT_FALSE(colleague.lookalike);
}

// Each verification in a process of its own (as `ribbon verify` runs), a
// lookalike first seen in the same second as the domain it imitates:
// "cust0mer.example" sorts before "customer.example", yet it is the
// lookalike. The first time because the index is read before the message
// is recorded; later because, of two domains first seen in one second,
// the one with more messages (2 to 1) is taken as the known one (with
// equal counts it would be a guess).
TEST(SenderMemory, ALookalikeInTheSameSecondAsItsTargetIsReported) {
    Memory f;
    for (int i = 0; i < 2; ++i) {
        SenderMemory m = f.make();
        Assessment a = considered(m, valid("alice@customer.example", 'a', "m" + std::to_string(i) + "@customer.example"));
        ASSERT_TRUE(a.continuity) << a.temperror_reason;
        EXPECT_FALSE(a.lookalike);
    }
    for (int i = 0; i < 2; ++i) {
        SenderMemory m = f.make();
        Assessment a = considered(m, valid("x@cust0mer.example", 'b', "m@cust0mer.example"));
        ASSERT_TRUE(a.continuity) << a.temperror_reason;
        EXPECT_EQ(a.continuity->verdict, i == 0 ? Continuity::first : Continuity::known);
        ASSERT_TRUE(a.lookalike) << i;
        EXPECT_EQ(a.lookalike->domain, "cust0mer.example");
        EXPECT_EQ(a.lookalike->resembles.domain, "customer.example");
        EXPECT_EQ(a.lookalike->kind, LookalikeKind::confusable);
        EXPECT_FALSE(a.temperror);
    }
}

TEST(SenderMemory, ReadOnlyJudgesWithoutRecording) {
    Memory f;
    {
        SenderMemory m = f.make();
        considered(m, valid("alice@customer.example", 'a', "m1@customer.example"));
    }
    SenderMemory reader = f.make(KeyRecording::read_only);
    Assessment a = considered(reader, valid("alice@customer.example", 'a', "m2@customer.example"), kNow + hours(1));
    ASSERT_TRUE(a.continuity) << a.temperror_reason;
    EXPECT_EQ(a.continuity->verdict, Continuity::known);
    EXPECT_FALSE(a.continuity->recorded);
    Assessment b = considered(reader, valid("alice@customer.example", 'a', "m3@customer.example"), kNow + hours(2));
    ASSERT_TRUE(b.continuity);
    EXPECT_EQ(b.continuity->key.messages, 1u);  // m2 was not counted
}

// Only a valid signature by the single From address's key is judged.
TEST(SenderMemory, OnlyAValidSignatureForOneAddressIsJudged) {
    Memory f;
    SenderMemory m = f.make();
    Assessment invalid = valid("alice@customer.example", 'a', "m1@customer.example");
    invalid.verified->verdict = Verdict::invalid;
    m.consider(invalid, kNow);
    EXPECT_FALSE(invalid.continuity);
    Assessment two = valid("alice@customer.example", 'a', "m2@customer.example");
    two.verified->from_addresses.push_back("bob@customer.example");
    m.consider(two, kNow);
    EXPECT_FALSE(two.continuity);
    Assessment none;
    m.consider(none, kNow);
    EXPECT_FALSE(none.continuity);
    EXPECT_FALSE(none.temperror);
}

// The store cannot be opened: temperror for the log, the verification
// untouched, nothing thrown.
TEST(SenderMemory, AnUnreachableStoreIsTemperror) {
    Memory f;
    SenderMemory m({"sqlite://" + (f.dir / "missing" / "ribbon.db").string(), {"bank.example"}, KeyRecording::record,
                    std::chrono::seconds(600)});
    Assessment a = considered(m, valid("alice@customer.example", 'a', "m1@customer.example"));
    EXPECT_TRUE(a.temperror);
    EXPECT_NE(a.temperror_reason.find("key continuity: "), std::string::npos) << a.temperror_reason;
    EXPECT_FALSE(a.continuity);
    ASSERT_TRUE(a.verified);
    EXPECT_EQ(a.verified->verdict, Verdict::valid);
}

TEST(SenderMemory, SignerDomainsComeFromTheFromPatterns) {
    SignerRule a, b, c;
    a.from = "*@statements.bank.example";
    b.from = "no-reply@Bank.Example";
    c.from = "*@statements.bank.example";
    EXPECT_EQ(signer_domains({a, b, c}), (std::vector<std::string>{"statements.bank.example", "bank.example"}));
}

}  // namespace
}  // namespace ribbon::inbound
