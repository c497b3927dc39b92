// judge_continuity (ribbon/continuity.hpp): the four verdicts, which key is
// "the previous one", the 60-day renewal window to the second, and the
// sentences people read.
#include <gtest/gtest.h>

#include "ribbon/continuity.hpp"

namespace ribbon {
namespace {

constexpr UnixTime kDay = 86400;
// 2026-12-07T00:00:00Z
constexpr UnixTime kNow = 1796601600;
// 2026-03-01T00:00:00Z, 2026-12-06T00:00:00Z
constexpr UnixTime kMarch = 1772323200;
constexpr UnixTime kYesterday = kNow - kDay;

std::string spki(char c) { return std::string(64, c); }

SeenCertificate certificate(char c, const std::string& subject, const std::string& issuer,
                            UnixTime not_after) {
    SeenCertificate s;
    s.sha256 = std::string(64, c);
    s.subject = subject;
    s.issuer = issuer;
    s.serial_hex = "0A";
    s.not_before = not_after - 365 * kDay;
    s.not_after = not_after;
    return s;
}

KeyHistory key(char c, UnixTime first, UnixTime last, std::uint64_t messages,
               std::vector<SeenCertificate> certs) {
    KeyHistory k;
    k.spki_sha256 = spki(c);
    k.first_seen = first;
    k.last_seen = last;
    k.messages = messages;
    k.certificates = std::move(certs);
    return k;
}

constexpr const char* kSubject = "emailAddress=alice@customer.example,CN=Alice";
constexpr const char* kIssuer = "CN=Customer CA,O=Customer";

KeySighting sighting(char key_char, SeenCertificate cert) {
    KeySighting s;
    s.address = "alice@customer.example";
    s.spki_sha256 = spki(key_char);
    s.certificate = std::move(cert);
    s.message_key = "<m1@customer.example> 00ff";
    s.time = kNow;
    return s;
}

// The old key (a), seen 57 times, its certificate ending at `not_after`.
std::vector<KeyHistory> old_key_ending(UnixTime not_after) {
    return {key('a', kMarch, kYesterday, 57, {certificate('1', kSubject, kIssuer, not_after)})};
}

TEST(Continuity, Names) {
    EXPECT_EQ(continuity_name(Continuity::first), "first");
    EXPECT_EQ(continuity_name(Continuity::known), "known");
    EXPECT_EQ(continuity_name(Continuity::renewed), "renewed");
    EXPECT_EQ(continuity_name(Continuity::changed), "changed");
}

TEST(Continuity, NoHistoryIsFirst) {
    const auto r =
        judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow + 300 * kDay)), {}, kNow);
    EXPECT_EQ(r.verdict, Continuity::first);
    EXPECT_EQ(r.key.spki_sha256, spki('b'));
    EXPECT_EQ(r.key.messages, 0u);
    EXPECT_EQ(r.key.first_seen, 0);
    EXPECT_TRUE(r.key.certificates.empty());
    EXPECT_FALSE(r.previous.has_value());
    EXPECT_FALSE(r.recorded);
    EXPECT_EQ(r.detail, "First key seen for this address: no signed message from it was seen before.");
}

TEST(Continuity, SameKeyIsKnownWithItsHistory) {
    auto history = old_key_ending(kNow + 300 * kDay);
    history.push_back(key('c', kMarch - 100 * kDay, kMarch - kDay, 3, {}));
    const auto r =
        judge_continuity(sighting('a', certificate('1', kSubject, kIssuer, kNow + 300 * kDay)), history, kNow);
    EXPECT_EQ(r.verdict, Continuity::known);
    EXPECT_EQ(r.key.spki_sha256, spki('a'));
    EXPECT_EQ(r.key.messages, 57u);
    EXPECT_EQ(r.key.first_seen, kMarch);
    EXPECT_EQ(r.key.last_seen, kYesterday);
    ASSERT_EQ(r.key.certificates.size(), 1u);
    EXPECT_FALSE(r.previous.has_value());
    EXPECT_EQ(r.detail, "Known key: seen 57 times before, since 2026-03-01, last on 2026-12-06.");
}

TEST(Continuity, KnownKeyUnderANewCertificateIsStillKnown) {
    // Renewed over the same key: another issuer even; the key decides.
    const auto r = judge_continuity(
        sighting('a', certificate('9', "CN=Someone else", "CN=Other CA", kNow + 700 * kDay)),
        old_key_ending(kNow - 5 * kDay), kNow);
    EXPECT_EQ(r.verdict, Continuity::known);
}

TEST(Continuity, KnownOnceSaysOnce) {
    const auto r = judge_continuity(sighting('a', certificate('1', kSubject, kIssuer, kNow)),
                                    {key('a', kYesterday, kYesterday, 1, {})}, kNow);
    EXPECT_EQ(r.detail, "Known key: seen once before, since 2026-12-06, last on 2026-12-06.");
}

TEST(Continuity, NewKeyWhileTheOldCertificateIsGoodIsChanged) {
    const auto r = judge_continuity(
        sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)),
        old_key_ending(kNow + 200 * kDay), kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
    EXPECT_EQ(r.key.spki_sha256, spki('b'));
    EXPECT_EQ(r.key.messages, 0u);
    ASSERT_TRUE(r.previous.has_value());
    EXPECT_EQ(r.previous->spki_sha256, spki('a'));
    EXPECT_EQ(r.previous->messages, 57u);
    EXPECT_EQ(r.previous->last_seen, kYesterday);
    EXPECT_EQ(r.detail,
              "Changed key: this address signed with another key before (seen 57 times since "
              "2026-03-01, last on 2026-12-06), and its certificate is valid until 2027-06-25.");
}

TEST(Continuity, ExpiredOldCertificateSameIssuerAndSubjectIsRenewed) {
    const auto r = judge_continuity(
        sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)),
        old_key_ending(kNow - 10 * kDay), kNow);
    EXPECT_EQ(r.verdict, Continuity::renewed);
    ASSERT_TRUE(r.previous.has_value());
    EXPECT_EQ(r.previous->messages, 57u);
    EXPECT_EQ(r.detail,
              "Renewed key: a new certificate from the same issuer for the same subject; the "
              "previous key was seen 57 times since 2026-03-01, last on 2026-12-06, and its "
              "certificate expired on 2026-11-27.");
}

TEST(Continuity, RenewalWindowIsSixtyDaysToTheSecond) {
    const auto judge = [](UnixTime old_not_after) {
        return judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)),
                                old_key_ending(old_not_after), kNow)
            .verdict;
    };
    EXPECT_EQ(kRenewalWindow, 60 * kDay);
    EXPECT_EQ(judge(kNow + 60 * kDay), Continuity::renewed);      // exactly in its last 60 days
    EXPECT_EQ(judge(kNow + 60 * kDay + 1), Continuity::changed);  // one second before them
    EXPECT_EQ(judge(kNow + 59 * kDay), Continuity::renewed);
    EXPECT_EQ(judge(kNow), Continuity::renewed);  // expiring this second
    EXPECT_EQ(judge(kNow - 1), Continuity::renewed);
    EXPECT_EQ(judge(kNow - 3 * 365 * kDay), Continuity::renewed);  // long expired
    const auto expires = judge_continuity(
        sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)),
        old_key_ending(kNow + 60 * kDay), kNow);
    EXPECT_NE(expires.detail.find("its certificate expires on 2027-02-05."), std::string::npos)
        << expires.detail;
}

TEST(Continuity, NearExpiryButAnotherIssuerOrSubjectIsChanged) {
    auto r = judge_continuity(sighting('b', certificate('2', kSubject, "CN=Other CA", kNow + 365 * kDay)),
                              old_key_ending(kNow + 10 * kDay), kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
    EXPECT_NE(r.detail.find("the new certificate is from another issuer."), std::string::npos)
        << r.detail;
    r = judge_continuity(
        sighting('b', certificate('2', "emailAddress=mallory@customer.example,CN=Alice", kIssuer,
                                  kNow + 365 * kDay)),
        old_key_ending(kNow + 10 * kDay), kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
    EXPECT_NE(r.detail.find("the new certificate names another subject."), std::string::npos)
        << r.detail;
    // Octet for octet: case or spacing is another subject.
    r = judge_continuity(sighting('b', certificate('2', "emailAddress=alice@customer.example, CN=Alice",
                                                   kIssuer, kNow + 365 * kDay)),
                         old_key_ending(kNow + 10 * kDay), kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
}

TEST(Continuity, PreviousKeyIsTheOneSeenMostRecently) {
    // c: seen long ago, its certificate expired; a: seen yesterday, valid.
    const std::vector<KeyHistory> history = {
        key('c', kMarch - 400 * kDay, kMarch - kDay, 300,
            {certificate('3', kSubject, kIssuer, kMarch)}),
        key('a', kMarch, kYesterday, 57, {certificate('1', kSubject, kIssuer, kNow + 200 * kDay)}),
    };
    const auto r = judge_continuity(
        sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)), history, kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
    EXPECT_EQ(r.previous->spki_sha256, spki('a'));
    // The other way round, the most recent one's certificate is expiring.
    const std::vector<KeyHistory> other = {
        key('c', kMarch - 400 * kDay, kMarch - kDay, 300,
            {certificate('3', kSubject, kIssuer, kNow + 300 * kDay)}),
        key('a', kMarch, kYesterday, 57, {certificate('1', kSubject, kIssuer, kNow + 20 * kDay)}),
    };
    const auto r2 = judge_continuity(
        sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)), other, kNow);
    EXPECT_EQ(r2.verdict, Continuity::renewed);
    EXPECT_EQ(r2.previous->spki_sha256, spki('a'));
    EXPECT_EQ(r2.previous->messages, 57u);
}

TEST(Continuity, TiesOnLastSeenGoToMoreMessagesThenTheSmallerDigest) {
    std::vector<KeyHistory> history = {key('d', kMarch, kYesterday, 5, {}),
                                       key('c', kMarch, kYesterday, 9, {})};
    auto r = judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow)), history, kNow);
    EXPECT_EQ(r.previous->spki_sha256, spki('c'));
    history = {key('d', kMarch, kYesterday, 9, {}), key('c', kMarch, kYesterday, 9, {})};
    r = judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow)), history, kNow);
    EXPECT_EQ(r.previous->spki_sha256, spki('c'));
    std::swap(history[0], history[1]);
    r = judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow)), history, kNow);
    EXPECT_EQ(r.previous->spki_sha256, spki('c'));
}

TEST(Continuity, ThePreviousKeysLongestLivedCertificateCounts) {
    // Key a was re-certified: its old certificate expired, its new one is
    // good for 300 days. A new key now is a change, not a renewal.
    std::vector<KeyHistory> history = {
        key('a', kMarch, kYesterday, 57,
            {certificate('1', kSubject, kIssuer, kNow + 300 * kDay),
             certificate('0', kSubject, kIssuer, kNow - 30 * kDay)})};
    auto r = judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)),
                              history, kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
    // And it is that certificate's issuer and subject the new one must have.
    history = {key('a', kMarch, kYesterday, 57,
                   {certificate('1', kSubject, "CN=New CA", kNow + 30 * kDay),
                    certificate('0', kSubject, kIssuer, kNow - 30 * kDay)})};
    r = judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow + 365 * kDay)), history,
                         kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
    r = judge_continuity(sighting('b', certificate('2', kSubject, "CN=New CA", kNow + 365 * kDay)),
                         history, kNow);
    EXPECT_EQ(r.verdict, Continuity::renewed);
}

TEST(Continuity, PreviousKeyWithoutACertificateIsChanged) {
    const auto r = judge_continuity(sighting('b', certificate('2', kSubject, kIssuer, kNow)),
                                    {key('a', kMarch, kYesterday, 2, {})}, kNow);
    EXPECT_EQ(r.verdict, Continuity::changed);
    EXPECT_EQ(r.detail,
              "Changed key: this address signed with another key before (seen 2 times since "
              "2026-03-01, last on 2026-12-06), and no certificate of it was kept.");
}

}  // namespace
}  // namespace ribbon
