// The recipient policy (ribbon/recipient_policy.hpp) over a real store:
// the order opt-out > override > recipients mode, opaque per domain, the
// milter's one-answer rule, the cache, and what happens when the database
// goes away (PostgreSQL started by the test and stopped under it).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "ribbon/recipient_policy.hpp"
#include "support/pki.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

constexpr UnixTime kNow = 1'790'000'000;

Observation seen(const std::string& address, SmimeSupport capability, double confidence) {
    Observation o;
    o.address = address;
    o.time = kNow;
    o.capability = capability;
    o.capability_evidence = "test";
    o.confidence = confidence;
    return o;
}

// capable, incapable, unknown (seen, nothing recognised), opted out
// (capable), and overrides on incapable addresses.
void seed(RecipientStore& store) {
    ASSERT_TRUE(store.record(seen("capable@cust.example", SmimeSupport::supported, 1.0)));
    ASSERT_TRUE(store.record(seen("incapable@cust.example", SmimeSupport::unsupported, 0.8)));
    ASSERT_TRUE(store.record(seen("unknown@cust.example", SmimeSupport::unknown, 0)));
    ASSERT_TRUE(store.record(seen("optout@cust.example", SmimeSupport::supported, 1.0)));
    ASSERT_TRUE(store.set_opt_out("optout@cust.example", true, kNow));
    ASSERT_TRUE(store.record(seen("forced@cust.example", SmimeSupport::unsupported, 0.8)));
    ASSERT_TRUE(store.set_override("forced@cust.example", RecipientOverride::sign, kNow));
    ASSERT_TRUE(store.set_override("never@cust.example", RecipientOverride::no_sign, kNow));
    ASSERT_TRUE(store.set_override("sealed@cust.example", RecipientOverride::opaque, kNow));
    ASSERT_TRUE(store.record(seen("alwaysout@cust.example", SmimeSupport::supported, 1.0)));
    ASSERT_TRUE(store.set_override("alwaysout@cust.example", RecipientOverride::sign, kNow));
    ASSERT_TRUE(store.set_opt_out("alwaysout@cust.example", true, kNow));
}

class RecipientPolicyTest : public ::testing::Test {
protected:
    void SetUp() override {
        settings.url = "sqlite://" + (tmp.path() / "ribbon.db").string();
        auto store = RecipientStore::open(settings.url);
        ASSERT_TRUE(store) << store.error().message();
        seed(**store);
        policy = std::make_unique<RecipientPolicy>(std::move(*store), settings);
    }

    Treatment treatment(RecipientsMode mode, const std::string& rcpt, const std::vector<std::string>& opaque_for = {},
                        SignMode sign_mode = SignMode::detached) {
        SignerRule rule;
        rule.from = "no-reply@bank.example";
        rule.recipients = mode;
        rule.mode = sign_mode;
        auto d = policy->decide(rule, rcpt, opaque_for);
        EXPECT_TRUE(d) << d.error().message();
        return d ? d->treatment : Treatment::sign;
    }

    TempDir tmp{"ribbon-policy"};
    StoreSettings settings;
    std::unique_ptr<RecipientPolicy> policy;
};

TEST_F(RecipientPolicyTest, UnlessIncapableSignsAllButKnownIncapable) {
    using enum Treatment;
    const auto m = RecipientsMode::unless_incapable;
    EXPECT_EQ(treatment(m, "capable@cust.example"), sign);
    EXPECT_EQ(treatment(m, "incapable@cust.example"), plain);
    EXPECT_EQ(treatment(m, "unknown@cust.example"), sign);
    EXPECT_EQ(treatment(m, "never-seen@cust.example"), sign);
    EXPECT_EQ(treatment(m, "optout@cust.example"), plain);
    EXPECT_EQ(treatment(m, "Capable@CUST.example"), sign);  // addresses compare in lower case
}

TEST_F(RecipientPolicyTest, CapableOnlySignsOnlyKnownCapable) {
    using enum Treatment;
    const auto m = RecipientsMode::capable_only;
    EXPECT_EQ(treatment(m, "capable@cust.example"), sign);
    EXPECT_EQ(treatment(m, "incapable@cust.example"), plain);
    EXPECT_EQ(treatment(m, "unknown@cust.example"), plain);
    EXPECT_EQ(treatment(m, "never-seen@cust.example"), plain);
    EXPECT_EQ(treatment(m, "optout@cust.example"), plain);
}

TEST_F(RecipientPolicyTest, AlwaysStillHonoursOptOutsAndOverrides) {
    using enum Treatment;
    const auto m = RecipientsMode::always;
    EXPECT_EQ(treatment(m, "incapable@cust.example"), sign);
    EXPECT_EQ(treatment(m, "optout@cust.example"), plain);
    EXPECT_EQ(treatment(m, "never@cust.example"), plain);
}

TEST_F(RecipientPolicyTest, OverridesBeatTheModeAndOptOutBeatsOverrides) {
    using enum Treatment;
    for (auto m : {RecipientsMode::always, RecipientsMode::unless_incapable, RecipientsMode::capable_only}) {
        EXPECT_EQ(treatment(m, "forced@cust.example"), sign) << recipients_mode_name(m);
        EXPECT_EQ(treatment(m, "never@cust.example"), plain) << recipients_mode_name(m);
        EXPECT_EQ(treatment(m, "sealed@cust.example"), sign_opaque) << recipients_mode_name(m);
        EXPECT_EQ(treatment(m, "alwaysout@cust.example"), plain) << recipients_mode_name(m);
    }
    SignerRule rule;
    auto d = policy->decide(rule, "alwaysout@cust.example", {});
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->opted_out);
    EXPECT_EQ(d->reason, "opted out");
}

TEST_F(RecipientPolicyTest, OpaqueForDomainsAndOpaqueSigners) {
    using enum Treatment;
    const auto m = RecipientsMode::unless_incapable;
    EXPECT_EQ(treatment(m, "capable@cust.example", {"cust.example"}), sign_opaque);
    EXPECT_EQ(treatment(m, "capable@cust.example", {"other.example"}), sign);
    EXPECT_EQ(treatment(m, "capable@cust.example", {}, SignMode::opaque), sign_opaque);
    EXPECT_EQ(treatment(m, "incapable@cust.example", {"cust.example"}), plain);
}

TEST(CombineTreatments, OneAnswerForAMessageTheMilterCannotSplit) {
    using enum Treatment;
    auto d = [](Treatment t, bool opted_out = false) { return RecipientDecision{t, "", opted_out}; };
    EXPECT_EQ(combine_treatments({d(sign), d(sign)}, MixedAnswer::sign), sign);
    EXPECT_EQ(combine_treatments({d(plain), d(plain)}, MixedAnswer::sign), plain);
    EXPECT_EQ(combine_treatments({d(sign), d(plain)}, MixedAnswer::sign), sign);
    EXPECT_EQ(combine_treatments({d(sign), d(plain)}, MixedAnswer::unsigned_), plain);
    EXPECT_EQ(combine_treatments({d(sign), d(sign_opaque), d(plain)}, MixedAnswer::sign), sign_opaque);
    // An opt-out is the customer's own request: it wins over "sign".
    EXPECT_EQ(combine_treatments({d(sign), d(plain, true)}, MixedAnswer::sign), plain);
    EXPECT_EQ(combine_treatments({}, MixedAnswer::sign), sign);
}

TEST(RecipientPolicyNoStore, EveryoneIsUnknown) {
    StoreSettings settings;
    settings.url = "";
    RecipientPolicy policy(settings);
    ASSERT_TRUE(policy.connect());
    SignerRule rule;
    rule.recipients = RecipientsMode::unless_incapable;
    EXPECT_EQ(policy.decide(rule, "a@b.example", {})->treatment, Treatment::sign);
    rule.recipients = RecipientsMode::capable_only;
    EXPECT_EQ(policy.decide(rule, "a@b.example", {})->treatment, Treatment::plain);
}

TEST(RecipientPolicyConnect, BadAndMissingStoresAreTold) {
    TempDir tmp{"ribbon-policy"};
    StoreSettings settings;
    settings.url = "sqlite://" + (tmp.path() / "missing-dir" / "ribbon.db").string();
    RecipientPolicy missing(settings);
    auto r = missing.connect();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::bad_config) << r.error().message();

    write_file(tmp.path() / "garbage.db", std::string(4096, 'x'));
    settings.url = "sqlite://" + (tmp.path() / "garbage.db").string();
    RecipientPolicy garbage(settings);
    r = garbage.connect();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::store_corrupt) << r.error().message();
    // A lookup against it fails too, with the same kind: the daemons map
    // it to on_internal_error (tempfail by default), never to "unsigned".
    SignerRule rule;
    auto d = garbage.decide(rule, "a@b.example", {});
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code(), Errc::store_corrupt);
}

// The observer hears every store operation (for the daemons' metrics): a
// cache miss is one "standing", a hit none; a store that cannot be opened
// is an "open" that failed, then the pause before the next try asks nothing.
TEST_F(RecipientPolicyTest, TheStoreObserverHearsEachOperation) {
    std::vector<std::pair<std::string, bool>> calls;
    auto record = [&calls](const StoreCall& c) {
        EXPECT_GE(c.took.count(), 0);
        calls.emplace_back(std::string(c.operation), c.ok);
    };
    RecipientPolicy fresh(settings);
    fresh.set_store_observer(record);
    ASSERT_TRUE(fresh.connect());
    SignerRule rule;
    ASSERT_TRUE(fresh.decide(rule, "capable@cust.example", {}));
    ASSERT_TRUE(fresh.decide(rule, "capable@cust.example", {}));
    ASSERT_TRUE(fresh.decide(rule, "new@cust.example", {}));
    EXPECT_EQ(calls, (std::vector<std::pair<std::string, bool>>{{"open", true}, {"standing", true}, {"standing", true}}));

    calls.clear();
    StoreSettings missing = settings;
    missing.url = "sqlite://" + (tmp.path() / "missing-dir" / "ribbon.db").string();
    RecipientPolicy down(missing);
    down.set_store_observer(record);
    EXPECT_FALSE(down.connect());
    EXPECT_FALSE(down.decide(rule, "capable@cust.example", {}));
    EXPECT_EQ(calls, (std::vector<std::pair<std::string, bool>>{{"open", false}}));
}

// A changed record is seen once its cached answer expires, not before.
TEST_F(RecipientPolicyTest, CachedAnswersExpireAfterTheTtl) {
    settings.cache_ttl = std::chrono::seconds(1);
    auto store = RecipientStore::open(settings.url);
    ASSERT_TRUE(store);
    RecipientPolicy cached(std::move(*store), settings);
    SignerRule rule;
    EXPECT_EQ(cached.decide(rule, "capable@cust.example", {})->treatment, Treatment::sign);
    auto writer = RecipientStore::open(settings.url);
    ASSERT_TRUE(writer);
    ASSERT_TRUE((*writer)->set_opt_out("capable@cust.example", true, kNow));
    EXPECT_EQ(cached.decide(rule, "capable@cust.example", {})->treatment, Treatment::sign);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(cached.decide(rule, "capable@cust.example", {})->treatment, Treatment::plain);
}

// PostgreSQL goes away under a running policy: answers known before are
// still used (even expired), an address never asked about is an error of
// kind store_unavailable, and once the server is back everything works.
TEST(RecipientPolicyPostgres, DatabaseGoingAwayUsesStaleAnswersThenRecovers) {
    SKIP_WITHOUT_POSTGRES();
    PostgresServer pg;
    ASSERT_EQ(pg.start(), "");
    ASSERT_EQ(pg.create_database("policy"), "");
    StoreSettings settings;
    settings.url = pg.url("policy");
    settings.cache_ttl = std::chrono::seconds(0);  // every answer is already stale
    {
        auto store = RecipientStore::open(settings.url);
        ASSERT_TRUE(store) << store.error().message();
        seed(**store);
    }
    RecipientPolicy policy(settings);
    ASSERT_TRUE(policy.connect());
    SignerRule rule;
    EXPECT_EQ(policy.decide(rule, "incapable@cust.example", {})->treatment, Treatment::plain);

    pg.stop();
    const auto started = std::chrono::steady_clock::now();
    auto stale = policy.decide(rule, "incapable@cust.example", {});
    ASSERT_TRUE(stale) << stale.error().message();
    EXPECT_EQ(stale->treatment, Treatment::plain);
    auto unknown = policy.decide(rule, "capable@cust.example", {});
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code(), Errc::store_unavailable) << unknown.error().message();
    EXPECT_EQ(unknown.error().kind(), ErrorKind::transient);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));

    ASSERT_EQ(pg.start(), "");
    // The policy reopens at most every few seconds.
    Result<RecipientDecision> back = transient_error(Errc::store_unavailable, "not yet");
    for (int i = 0; i < 40 && !back; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        back = policy.decide(rule, "capable@cust.example", {});
    }
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->treatment, Treatment::sign);
}

}  // namespace
}  // namespace ribbon::test

namespace ribbon::test {
namespace {

// `ribbon sign --for`: the policy decides before any key is used; an
// incapable customer's message comes out unchanged with exit 0, a store
// that cannot be opened is exit 65/78 with nothing written.
TEST(SignFor, SignsForTheCapableAndPassesTheIncapableUnchanged) {
    TempDir tmp{"ribbon-sign-for"};
    const std::string url = "sqlite://" + (tmp.path() / "ribbon.db").string();
    {
        auto store = RecipientStore::open(url);
        ASSERT_TRUE(store) << store.error().message();
        seed(**store);
    }
    const std::string message =
        "From: no-reply@bank.example\r\nTo: x@cust.example\r\nSubject: s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        "\r\nbody\r\n";
    auto sign_for = [&](const std::string& rcpt, const std::string& store_url) {
        return run_process({ribbon_binary(), "sign", "--key", pki().rsa.key.string(), "--cert",
                            pki().rsa.cert.string(), "--chain", pki().chain.string(), "--for", rcpt, "--store",
                            store_url},
                           message);
    };
    ProcessResult capable = sign_for("capable@cust.example", url);
    ASSERT_EQ(capable.exit_code, 0) << capable.describe();
    EXPECT_NE(capable.out.find("application/pkcs7-signature"), std::string::npos);
    ProcessResult sealed = sign_for("sealed@cust.example", url);
    ASSERT_EQ(sealed.exit_code, 0) << sealed.describe();
    EXPECT_NE(sealed.out.find("smime-type=signed-data"), std::string::npos);
    ProcessResult incapable = sign_for("incapable@cust.example", url);
    ASSERT_EQ(incapable.exit_code, 0) << incapable.describe();
    EXPECT_EQ(incapable.out, message);
    EXPECT_EQ(incapable.err,
              "ribbon sign: not signed for incapable@cust.example: capability unsupported, recipients = "
              "unless-incapable; the message is written unchanged\n");

    write_file(tmp.path() / "garbage.db", std::string(4096, 'x'));
    ProcessResult corrupt = sign_for("capable@cust.example", "sqlite://" + (tmp.path() / "garbage.db").string());
    EXPECT_EQ(corrupt.exit_code, 65) << corrupt.describe();
    EXPECT_EQ(corrupt.out, "");
    ProcessResult missing = sign_for("capable@cust.example", "sqlite://" + (tmp.path() / "no" / "r.db").string());
    EXPECT_EQ(missing.exit_code, 78) << missing.describe();
    EXPECT_EQ(missing.out, "");
}

}  // namespace
}  // namespace ribbon::test
