// Key continuity and lookalike senders on the receiving side, through a
// real Postfix (docs/RECEIVING.md, "Ribbon-Continuity"): the milter in role
// "inbound" judges every valid signature against the keys its store has
// seen for the From address, counts each message once, and names a known
// domain the sender's imitates. Mail is signed by `openssl cms`, NSS
// `cmsutil` and gpgsm; the store is SQLite, and PostgreSQL stopped under
// load, where every message is still delivered, stamped temperror.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <map>
#include <regex>
#include <thread>

#include "support/inbound_rig.hpp"
#include "support/messages.hpp"
#include "support/mta.hpp"
#include "support/pki.hpp"
#include "support/postgres.hpp"

namespace ribbon::test {
namespace {

using std::chrono::seconds;

std::string signed_by(const Issued& signer, const std::string& message_id, const std::string& from = kAlice) {
    return to_crlf(openssl_signed(customer_headers(from, message_id), customer_content(), signer));
}

std::string since_today() { return "since=" + utc_date_today(); }

// Second and third messages with the same key are known, counted by
// distinct messages; the same message delivered again is counted once.
// Three signing programs, one key: continuity follows the key, not the
// program.
TEST(InboundContinuity, KnownKeyIsCountedPerMessage) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const Issued& alice = customers().alice;
    const std::string m1 = signed_by(alice, "k1@customer.example");
    EXPECT_EQ(s.deliver(m1), alice_passes() + "Ribbon-Continuity: first; seen=1; " + since_today() + "\r\n" + m1);
    const std::string m2 = to_crlf(nss_signed(customer_headers(kAlice, "k2@customer.example"), customer_content(),
                                              alice, customers().ca.root().cert, false));
    EXPECT_EQ(s.deliver(m2), alice_passes() + "Ribbon-Continuity: known; seen=2; " + since_today() + "\r\n" + m2);
    // m2 once more, byte for byte (a second delivery of the same message).
    EXPECT_EQ(s.deliver(m2), alice_passes() + "Ribbon-Continuity: known; seen=2; " + since_today() + "\r\n" + m2);
    const std::string m3 = signed_by(alice, "k3@customer.example");
    EXPECT_EQ(s.deliver(m3), alice_passes() + "Ribbon-Continuity: known; seen=3; " + since_today() + "\r\n" + m3);
    // The first message again, signed anew (another signature, the same
    // Message-ID and content): still the same message.
    const std::string m1_again = signed_by(alice, "k1@customer.example");
    EXPECT_EQ(s.deliver(m1_again),
              alice_passes() + "Ribbon-Continuity: known; seen=3; " + since_today() + "\r\n" + m1_again);
}

// A new key under the same issuer and subject while the old certificate
// is in its last 60 days (30-day certificates here): a renewal, with the
// old key's numbers.
TEST(InboundContinuity, NewKeyNearExpiryIsRenewed) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const std::string today = utc_date_today();
    for (int i = 0; i < 2; ++i) {
        const std::string m = signed_by(customers().alice, std::string("r") + std::to_string(i) + "@customer.example");
        EXPECT_EQ(continuity_of(s.deliver(m)), (i == 0 ? "first; seen=1; " : "known; seen=2; ") + since_today());
    }
    const Issued& renewed = customers().alice_renewed;
    const std::string m = signed_by(renewed, "r2@customer.example");
    EXPECT_EQ(s.deliver(m), smime_passes(renewed) + "Ribbon-Continuity: renewed; seen=1; since=" + today +
                                "; previous-seen=2;\r\n previous-since=" + today + "; previous-last=" + today +
                                "\r\n" + m);
    // The renewed key is known from now on.
    const std::string next = signed_by(renewed, "r3@customer.example");
    EXPECT_EQ(continuity_of(s.deliver(next)), "known; seen=2; " + since_today());
}

// A new key while the old certificate has a year to run: changed, the
// warning, with the old key's numbers. gpgsm cannot sign with EC keys,
// so openssl signs here.
TEST(InboundContinuity, NewKeyWhileTheOldIsGoodIsChanged) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const std::string today = utc_date_today();
    const Issued& year = customers().alice_year;
    for (int i = 0; i < 3; ++i) {
        const std::string m = signed_by(year, std::string("c") + std::to_string(i) + "@customer.example");
        EXPECT_EQ(s.deliver(m), smime_passes(year) + "Ribbon-Continuity: " +
                                    (i == 0 ? "first; seen=1; " : "known; seen=" + std::to_string(i + 1) + "; ") +
                                    since_today() + "\r\n" + m);
    }
    const std::string m = signed_by(customers().alice, "c3@customer.example");
    EXPECT_EQ(s.deliver(m), alice_passes() + "Ribbon-Continuity: changed; seen=1; since=" + today +
                                "; previous-seen=3;\r\n previous-since=" + today + "; previous-last=" + today +
                                "\r\n" + m);
}

// A new key from another CA, even while the old certificate is in its last
// 60 days: changed, not renewed. The new certificate is issued for Alice,
// same subject, by the test PKI's intermediate (trusted through its root).
TEST(InboundContinuity, NewKeyFromAnotherIssuerIsChanged) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const std::string today = utc_date_today();
    const std::string m1 = signed_by(customers().alice, "i1@customer.example");
    EXPECT_EQ(continuity_of(s.deliver(m1)), "first; seen=1; " + since_today());
    const Issued intermediate{pki().intermediate_key, pki().intermediate_cert};
    static const Issued other = customers().ca.issue("alice-other-ca", "/C=DE/O=Customer GmbH/CN=Alice Customer",
                                                      signing_extensions(kAlice), "0a1b2c3d4e64", &intermediate);
    const std::string m2 = to_crlf(openssl_signed(customer_headers(kAlice, "i2@customer.example"), customer_content(),
                                                  other, OpensslSign{false, {pki().intermediate_cert}}));
    EXPECT_EQ(s.deliver(m2), smime_passes(other) + "Ribbon-Continuity: changed; seen=1; since=" + today +
                                 "; previous-seen=1;\r\n previous-since=" + today + "; previous-last=" + today +
                                 "\r\n" + m2);
}

// A valid signature from a domain made to look like the bank's own (the
// rig's [[signer]] is no-reply@bank.example) or like a customer's the
// store has recorded: first, and lookalike= the domain it imitates.
TEST(InboundContinuity, LookalikeSendersAreNamed) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const Issued& hyphen = customers().bank_hyphen;
    const std::string from_hyphen = signed_by(hyphen, "l1@bank-example.com", "x@bank-example.com");
    EXPECT_EQ(s.deliver(from_hyphen), smime_passes(hyphen, "x@bank-example.com") +
                                          "Ribbon-Continuity: first; seen=1; " + since_today() +
                                          "; lookalike=bank.example\r\n" + from_hyphen);

    const std::string alice = signed_by(customers().alice, "l2@customer.example");
    EXPECT_EQ(continuity_of(s.deliver(alice)), "first; seen=1; " + since_today());
    const Issued& zero = customers().cust0mer;
    const std::string from_zero = signed_by(zero, "l3@cust0mer.example", "x@cust0mer.example");
    EXPECT_EQ(s.deliver(from_zero), smime_passes(zero, "x@cust0mer.example") + "Ribbon-Continuity: first; seen=1; " +
                                        since_today() + "; lookalike=customer.example\r\n" + from_zero);
    // Its second message is known, and still a lookalike: a domain that
    // resembled a known one when it first came never becomes known itself.
    const std::string again = signed_by(zero, "l4@cust0mer.example", "x@cust0mer.example");
    EXPECT_EQ(continuity_of(s.deliver(again)), "known; seen=2; " + since_today() + "; lookalike=customer.example");
}

// The PostgreSQL store stops while mail streams in: every message is
// delivered (none held, none lost), each stamped smime=pass with a verdict
// while the store answered and temperror after, in the order submitted.
TEST(InboundContinuity, PostgresStoppedUnderLoadLosesNoMail) {
    SKIP_WITHOUT_MTA();
    SKIP_WITHOUT_POSTGRES();
    PostgresServer pg;
    ASSERT_EQ(pg.start(), "");
    ASSERT_EQ(pg.create_database("ribbon"), "");
    StampingMilter s("\n[store]\nurl = \"" + pg.url("ribbon") + "\"\n");
    constexpr int kMessages = 30;
    constexpr int kStopAfter = 10;
    std::vector<std::string> messages;
    for (int i = 0; i < kMessages; ++i) messages.push_back(signed_by(customers().alice, std::string("p") + std::to_string(i) + "@customer.example"));

    const auto started = std::chrono::steady_clock::now();
    std::thread stopper;
    for (int i = 0; i < kMessages; ++i) {
        if (i == kStopAfter) stopper = std::thread([&pg] { pg.stop(); });
        auto sub = s.rig.postfix().submit_smtp(messages[i], kAlice, {kSupport});
        EXPECT_EQ(sub.final_code, 250) << i << sub.transcript;
    }
    stopper.join();
    ASSERT_TRUE(s.rig.sink().wait_for(kMessages, seconds(60))) << s.rig.sink().count() << s.rig.describe();
    EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(120));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    ASSERT_EQ(s.rig.sink().count(), static_cast<std::size_t>(kMessages));

    // Postfix may deliver out of order: match by Message-ID.
    std::map<int, std::string> continuity;
    const std::regex id("\r\nMessage-ID: <p([0-9]+)@customer\\.example>\r\n");
    for (const auto& m : s.rig.sink().messages()) {
        const std::string d = without_received(m.data);
        std::smatch match;
        ASSERT_TRUE(std::regex_search(d, match, id)) << d;
        const int i = std::stoi(match[1]);
        EXPECT_EQ(d, alice_passes() + "Ribbon-Continuity: " + continuity_of(d) + "\r\n" + messages[i]);
        EXPECT_TRUE(continuity.emplace(i, continuity_of(d)).second) << "delivered twice: " << i;
    }
    int judged = 0;
    while (judged < kMessages && continuity[judged] != "temperror") {
        EXPECT_EQ(continuity[judged], (judged == 0 ? "first; seen=1; " : "known; seen=" + std::to_string(judged + 1) + "; ") + since_today());
        ++judged;
    }
    RecordProperty("judged_before_stop", judged);
    EXPECT_GE(judged, kStopAfter);  // stopping began after these were stamped
    EXPECT_LT(judged, kMessages) << "no message saw the store stopped";
    for (int i = judged; i < kMessages; ++i) EXPECT_EQ(continuity[i], "temperror") << i;
    EXPECT_TRUE(s.rig.milter_running());
}


// `[inbound] continuity = false`: Ribbon-Continuity: none, never
// temperror. (No store at all cannot happen here: role "inbound" needs one
// to learn into, and refuses to start without.)
TEST(InboundContinuity, WithoutContinuityItIsNone) {
    SKIP_WITHOUT_MTA();
    StampingMilter s("continuity = false\n");
    for (int i = 0; i < 2; ++i) {
        const std::string m = signed_by(customers().alice, std::string("n") + std::to_string(i) + "@customer.example");
        EXPECT_EQ(s.deliver(m), alice_passes() + "Ribbon-Continuity: none\r\n" + m);
    }
}

// A store failure is ribbon's failure: with on_internal_error = "tempfail"
// the message is tempfailed (the sender retries), not delivered unjudged.
TEST(InboundContinuity, StoreFailureTempfailsWhenToldTo) {
    SKIP_WITHOUT_MTA();
    StampingMilter s("on_internal_error = \"tempfail\"\n");
    const std::filesystem::path db = s.rig.dir() / "state" / "ribbon.db";
    ASSERT_TRUE(std::filesystem::exists(db));
    ASSERT_EQ(::chmod(db.c_str(), 0444), 0);
    auto sub = s.rig.postfix().submit_smtp(signed_by(customers().alice, "t1@customer.example"), kAlice, {kSupport});
    EXPECT_EQ(sub.final_code, 451) << sub.transcript << s.rig.describe();
    EXPECT_NE(sub.final_reply.find("4.3.0"), std::string::npos) << sub.final_reply;
    EXPECT_EQ(s.rig.sink().count(), 0u);
    EXPECT_NE(s.rig.milter_log().find("inbound: temperror: key continuity: "), std::string::npos)
        << s.rig.milter_log();
}

}  // namespace
}  // namespace ribbon::test
