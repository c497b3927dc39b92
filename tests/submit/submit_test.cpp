// The submission core (src/submit/submit.*): the plan made
// from the header section (From, [[signer]], already S/MIME, the recipient
// policy over a real SQLite store, split or combined per front end), and
// the signing step into a caller's sink with the trace header.
#include <gtest/gtest.h>

#include "ribbon/keystore.hpp"
#include "ribbon/recipients.hpp"
#include "submit/submit.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

using submit::Part;
using submit::Plan;
using submit::Signed;

constexpr const char* kSender = "no-reply@bank.example";
constexpr const char* kCapable = "capable@cust.example";
constexpr const char* kIncapable = "incapable@cust.example";
constexpr const char* kOptedOut = "optout@cust.example";
constexpr const char* kSealed = "sealed@cust.example";

std::string header(const std::string& from, const std::string& extra = {}) {
    return "From: Bank <" + from + ">\r\nTo: " + kCapable + "\r\nSubject: statement\r\nMIME-Version: 1.0\r\n" + extra +
           "\r\n";
}

std::string message(const std::string& from, const std::string& extra = {}) {
    return header(from, extra + "Content-Type: text/plain; charset=utf-8\r\n") + "Ready.\r\n";
}

class Submit : public ::testing::Test {
protected:
    void SetUp() override {
        Keystore ks(tmp.path() / "ids");
        ASSERT_TRUE(DevCa::init(ks).ok());
        auto cert = DevCa::issue(ks, kSender);
        ASSERT_TRUE(cert.ok()) << cert.error().message();
        config.keystore = ks.dir();
        config.signers.push_back(SignerRule{kSender, "", SignMode::detached, true, true});
        config.store.url = "sqlite://" + (tmp.path() / "ribbon.db").string();
        auto store = RecipientStore::open(config.store.url);
        ASSERT_TRUE(store) << store.error().message();
        seed(**store);
        policy = std::make_unique<RecipientPolicy>(std::move(*store), config.store);
        auto p = SignerPool::create(config.keystore_settings(), config.signers, std::chrono::system_clock::now());
        ASSERT_TRUE(p) << p.error().message();
        pool = std::move(*p);
    }

    static void seed(RecipientStore& store) {
        auto seen = [&](const char* address, SmimeSupport s) {
            Observation o;
            o.address = address;
            o.time = 1'790'000'000;
            o.capability = s;
            o.capability_evidence = "test";
            o.confidence = 1.0;
            ASSERT_TRUE(store.record(o));
        };
        seen(kCapable, SmimeSupport::supported);
        seen(kIncapable, SmimeSupport::unsupported);
        seen(kOptedOut, SmimeSupport::supported);
        ASSERT_TRUE(store.set_opt_out(kOptedOut, true, 1'790'000'000));
        ASSERT_TRUE(store.set_override(kSealed, RecipientOverride::opaque, 1'790'000'000));
    }

    submit::Snapshot snapshot() const { return {config, pool.get(), *policy}; }
    submit::Submission submission(const submit::FrontEnd& front) const { return {snapshot(), front}; }

    TempDir tmp{"ribbon-submit"};
    Config config;
    std::unique_ptr<RecipientPolicy> policy;
    std::shared_ptr<SignerPool> pool;
};

submit::FrontEnd splitting() { return submit::relay_front_end(RelaySettings{}); }
submit::FrontEnd single(MixedAnswer mixed) {
    MilterSettings ms;
    ms.mixed = mixed;
    return submit::milter_front_end(ms);
}

TEST_F(Submit, MailThatIsNotRibbonsGoesOnAsOnePlainPart) {
    auto s = submission(splitting());
    const Plan& none = s.plan({kCapable}, "Subject: no sender\r\n\r\n");
    ASSERT_EQ(none.parts.size(), 1u);
    EXPECT_EQ(none.parts[0].treatment, Treatment::plain);
    EXPECT_EQ(none.parts[0].log.rfind("not signed: ", 0), 0u) << none.parts[0].log;
    EXPECT_EQ(none.parts[0].why, submit::Unsigned::no_from);
    EXPECT_FALSE(none.failure);

    const Plan& other = s.plan({kCapable, kIncapable}, header("news@shop.example"));
    ASSERT_EQ(other.parts.size(), 1u);
    EXPECT_EQ(other.parts[0].recipients, (std::vector<std::string>{kCapable, kIncapable}));
    EXPECT_EQ(other.parts[0].log, "not signed: from=<news@shop.example> has no [[signer]] entry");
    EXPECT_EQ(other.rule, nullptr);
    EXPECT_EQ(other.parts[0].why, submit::Unsigned::no_signer);
    EXPECT_TRUE(other.decisions.empty());  // the policy was not asked

    for (const char* type : {"multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b",
                             "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
                             "application/x-pkcs7-mime"}) {
        const Plan& smime = s.plan({kCapable}, header(kSender, std::string("Content-Type: ") + type + "\r\n"));
        ASSERT_EQ(smime.parts.size(), 1u) << type;
        EXPECT_EQ(smime.parts[0].log, "not signed: from=<no-reply@bank.example> is already S/MIME, passed unchanged");
        EXPECT_FALSE(smime.signs());
        EXPECT_EQ(smime.parts[0].why, submit::Unsigned::already_signed);
    }
    // The words metrics label them with (docs/MONITORING.md).
    EXPECT_EQ(submit::unsigned_name(submit::Unsigned::no_from), "no_from");
    EXPECT_EQ(submit::unsigned_name(submit::Unsigned::no_signer), "no_signer");
    EXPECT_EQ(submit::unsigned_name(submit::Unsigned::already_signed), "already_signed");
    EXPECT_EQ(submit::unsigned_name(submit::Unsigned::recipient_policy), "recipient_policy");
    EXPECT_EQ(submit::failure_kind_name(FailureKind::internal_error), "internal_error");
    EXPECT_EQ(submit::failure_kind_name(FailureKind::no_key), "no_key");
    EXPECT_EQ(submit::failure_kind_name(FailureKind::bad_message), "bad_message");
}

TEST_F(Submit, ASplittingFrontEndGetsOnePartPerAnswer) {
    auto s = submission(splitting());
    const Plan& plan = s.plan({kCapable, kIncapable, kSealed, kOptedOut, "new@cust.example"}, header(kSender));
    EXPECT_EQ(plan.from, kSender);
    ASSERT_EQ(plan.parts.size(), 3u);
    EXPECT_EQ(plan.parts[0].treatment, Treatment::sign);
    EXPECT_EQ(plan.parts[0].recipients, (std::vector<std::string>{kCapable, "new@cust.example"}));
    EXPECT_EQ(plan.parts[1].treatment, Treatment::sign_opaque);
    EXPECT_EQ(plan.parts[1].recipients, std::vector<std::string>{kSealed});
    EXPECT_EQ(plan.parts[2].treatment, Treatment::plain);
    EXPECT_EQ(plan.parts[2].recipients, (std::vector<std::string>{kIncapable, kOptedOut}));
    EXPECT_EQ(plan.parts[2].why, submit::Unsigned::recipient_policy);
    // One decision per recipient, in order (the daemons count them).
    ASSERT_EQ(plan.decisions.size(), 5u);
    EXPECT_EQ(plan.decisions[0].treatment, Treatment::sign);
    EXPECT_EQ(plan.decisions[1].treatment, Treatment::plain);
    EXPECT_EQ(plan.decisions[2].treatment, Treatment::sign_opaque);
    EXPECT_TRUE(plan.decisions[3].opted_out);
    EXPECT_EQ(plan.decisions[4].treatment, Treatment::sign);
    EXPECT_EQ(plan.parts[2].log,
              "not signed: from=<no-reply@bank.example> by the recipient policy (incapable@cust.example: capability "
              "unsupported, recipients = unless-incapable, optout@cust.example: opted out)");
}

TEST_F(Submit, AFrontEndThatCannotSplitCombinesTheAnswers) {
    const std::vector<std::string> mixed = {kCapable, kIncapable};
    auto signing = submission(single(MixedAnswer::sign));
    const Plan& sign = signing.plan(mixed, header(kSender));
    ASSERT_EQ(sign.parts.size(), 1u);
    EXPECT_EQ(sign.parts[0].treatment, Treatment::sign);
    EXPECT_EQ(sign.parts[0].recipients, mixed);

    auto s = submission(single(MixedAnswer::unsigned_));
    const Plan& plain = s.plan(mixed, header(kSender));
    ASSERT_EQ(plain.parts.size(), 1u);
    EXPECT_EQ(plain.parts[0].treatment, Treatment::plain);
    EXPECT_EQ(plain.parts[0].log, "not signed: from=<no-reply@bank.example> by the recipient policy "
                                  "(incapable@cust.example: capability unsupported, recipients = unless-incapable)");
    // Opaque wins among signed; an opt-out makes it unsigned for all.
    EXPECT_EQ(s.plan({kCapable, kSealed}, header(kSender)).parts[0].treatment, Treatment::sign_opaque);
    EXPECT_EQ(signing.plan({kCapable, kOptedOut}, header(kSender)).parts[0].treatment, Treatment::plain);
}

TEST_F(Submit, AStoreThatFailsIsAnInternalError) {
    config.store.url = "sqlite://" + (tmp.path() / "missing" / "ribbon.db").string();
    RecipientPolicy down(config.store);
    submit::Snapshot snap{config, pool.get(), down};
    submit::Submission tempfail(snap, splitting());
    const Plan& refused = tempfail.plan({kCapable}, header(kSender));
    EXPECT_TRUE(refused.refused());
    EXPECT_TRUE(refused.parts.empty());
    ASSERT_TRUE(refused.failure);
    EXPECT_EQ(refused.failure->kind, FailureKind::internal_error);
    EXPECT_EQ(refused.failure->reply.code, 451);
    EXPECT_EQ(refused.failure->reply.enhanced, "4.3.0");

    RelaySettings accepting;
    accepting.on_internal_error = FailureAction::accept;
    submit::Submission passes(snap, submit::relay_front_end(accepting));
    const Plan& plan = passes.plan({kCapable, kIncapable}, header(kSender));
    EXPECT_FALSE(plan.refused());
    ASSERT_EQ(plan.parts.size(), 1u);
    EXPECT_EQ(plan.parts[0].treatment, Treatment::plain);
    EXPECT_EQ(plan.parts[0].recipients, (std::vector<std::string>{kCapable, kIncapable}));
    EXPECT_EQ(plan.parts[0].log.rfind("passed on unsigned (on_internal_error = \"accept\"): ", 0), 0u);
}

TEST_F(Submit, SignsIntoTheSinkWithTheTraceHeaderOnTop) {
    auto s = submission(splitting());
    const std::string msg = message(kSender);
    const Plan& plan = s.plan({kCapable, kSealed}, msg);
    ASSERT_EQ(plan.parts.size(), 2u);
    const std::string serial = (*pool->get(config.signers[0], kSender, std::chrono::system_clock::now()))
                                   ->entry.certificate.serial_hex;
    const std::string trace = "Ribbon-Signer: no-reply@bank.example; serial=" + serial + "\r\n";
    StringSink detached, opaque;
    Signed d = s.sign(plan.parts[0], MessageInput::from_memory(msg), submit::Target{detached});
    ASSERT_EQ(d.outcome, Signed::Outcome::signed_) << (d.failure ? d.failure->log : "");
    EXPECT_EQ(d.warnings.size(), 1u) << "the dev CA, said once";
    EXPECT_EQ(detached.str().rfind(trace, 0), 0u) << detached.str().substr(0, 200);
    EXPECT_EQ(d.report.bytes_out, detached.str().size() - trace.size());
    EXPECT_TRUE(d.report.date_added) << "the message has no Date";
    EXPECT_NE(detached.str().find("Content-Type: multipart/signed;"), std::string::npos);
    EXPECT_EQ(d.log, "signed: from=<no-reply@bank.example> id=no-reply@bank.example serial=" + serial +
                         " mode=detached size=" + std::to_string(d.report.bytes_out) + " date=added");
    Signed o = s.sign(plan.parts[1], MessageInput::from_memory(msg), submit::Target{opaque});
    ASSERT_EQ(o.outcome, Signed::Outcome::signed_);
    EXPECT_TRUE(o.warnings.empty());
    EXPECT_NE(o.log.find(" mode=opaque size="), std::string::npos) << o.log;
    EXPECT_NE(opaque.str().find("smime-type=signed-data"), std::string::npos);

    // The milter edits the header itself: the trace comes back as a value.
    auto m = submission(single(MixedAnswer::sign));
    StringSink out;
    Signed edited = m.sign(m.plan({kCapable}, msg).parts[0], MessageInput::from_memory(msg), submit::Target{out, false});
    ASSERT_EQ(edited.outcome, Signed::Outcome::signed_);
    EXPECT_EQ(edited.trace, " no-reply@bank.example; serial=" + serial);
    EXPECT_EQ(out.str().find("Ribbon-Signer"), std::string::npos);
}

TEST_F(Submit, NoDigitalIdAndABadMessageAreAnsweredByTheTable) {
    const std::string msg = message(kSender);
    submit::Snapshot no_pool{config, nullptr, *policy, permanent_error(Errc::no_digital_id, "no Digital ID")};
    submit::Submission s(no_pool, single(MixedAnswer::sign));
    StringSink sink;
    Signed none = s.sign(s.plan({kCapable}, msg).parts[0], MessageInput::from_memory(msg), submit::Target{sink});
    EXPECT_EQ(none.outcome, Signed::Outcome::refused);
    ASSERT_TRUE(none.failure);
    EXPECT_EQ(none.failure->reply.code, 451);
    EXPECT_EQ(none.failure->reply.enhanced, "4.7.5");
    EXPECT_EQ(none.failure->exit_code, 75);
    EXPECT_EQ(none.failure->log, "tempfail (on_no_key = \"tempfail\"): no Digital ID");

    const std::string bad = header(kSender, "Content-Type: multipart/mixed; boundary=\"b\"\r\n") +
                            "--b\r\nContent-Type: text/plain\r\n\r\nno end\r\n";
    auto r = submission(single(MixedAnswer::sign));
    Signed refused = r.sign(r.plan({kCapable}, bad).parts[0], MessageInput::from_memory(bad), submit::Target{sink});
    EXPECT_EQ(refused.outcome, Signed::Outcome::refused);
    ASSERT_TRUE(refused.failure);
    EXPECT_EQ(refused.failure->kind, FailureKind::bad_message);
    EXPECT_EQ(refused.failure->reply.code, 554);
    EXPECT_EQ(refused.failure->reply.enhanced, "5.6.0");
    EXPECT_EQ(refused.failure->exit_code, 65);

    MilterSettings accepting;
    accepting.on_bad_message = FailureAction::accept;
    submit::Submission a(snapshot(), submit::milter_front_end(accepting));
    Signed passed = a.sign(a.plan({kCapable}, bad).parts[0], MessageInput::from_memory(bad), submit::Target{sink});
    EXPECT_EQ(passed.outcome, Signed::Outcome::unchanged);
    ASSERT_TRUE(passed.failure);
    EXPECT_TRUE(passed.failure->passes());
}

TEST_F(Submit, SignForAsksThePolicyTheSameWay) {
    SignerRule rule;
    auto answers = submit::ask_policy(*policy, rule, {kIncapable}, submit::FrontEnd{}, {});
    ASSERT_TRUE(answers) << answers.error().message();
    ASSERT_EQ(answers->decisions.size(), 1u);
    EXPECT_EQ(answers->decisions[0].reason, "capability unsupported, recipients = unless-incapable");
    EXPECT_EQ(answers->parts[0].treatment, Treatment::plain);
    EXPECT_EQ(submit::ask_policy(*policy, rule, {kSealed}, submit::FrontEnd{}, {})->parts[0].treatment,
              Treatment::sign_opaque);
}

}  // namespace
}  // namespace ribbon::test
