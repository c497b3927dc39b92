// The daemons' telemetry (src/daemon/telemetry.*): exact counter values in
// the Prometheus text it serves for what was reported, the series that
// exist from the start, the Digital IDs' expiry gauges following the pool,
// and the history drained for the dashboard.
#include <gtest/gtest.h>

#include <openssl/crypto.h>

#include <chrono>
#include <map>
#include <regex>
#include <sstream>

#include "daemon/learn_queue.hpp"
#include "daemon/telemetry.hpp"
#include "ribbon/client_rules.hpp"
#include "ribbon/keystore.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

using daemon::FrontEndKind;
using daemon::Telemetry;

// "name{labels} value" lines of a scrape, by "name{labels}" (comments and
// the histograms' _bucket lines are kept too).
std::map<std::string, double> samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        const auto space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

double value(const std::map<std::string, double>& s, const std::string& series) {
    auto it = s.find(series);
    EXPECT_NE(it, s.end()) << series;
    return it == s.end() ? -1 : it->second;
}

std::string messages(const char* fe, const char* result, const char* reason) {
    return std::string("ribbon_messages_total{front_end=\"") + fe + "\",reason=\"" + reason + "\",result=\"" + result +
           "\"}";
}

submit::Failure failure(FailureKind kind, FailureAction action, const std::string& why) {
    return submit::failure_for(kind, action, transient_error(Errc::io_error, why));
}

TEST(Telemetry, EverySeriesAnAlertReadsStartsAtZero) {
    Telemetry t(FrontEndKind::relay);
    const auto s = samples(t.scrape());
    EXPECT_EQ(value(s, messages("relay", "signed", "none")), 0);
    for (const char* why : {"no_from", "no_signer", "already_signed", "recipient_policy"}) {
        EXPECT_EQ(value(s, messages("relay", "unsigned", why)), 0) << why;
    }
    for (const char* result : {"unsigned", "tempfail", "rejected"}) {
        for (const char* kind : {"internal_error", "no_key", "bad_message"}) {
            EXPECT_EQ(value(s, messages("relay", result, kind)), 0) << result << " " << kind;
        }
    }
    for (const char* c : {"2xx", "4xx", "5xx", "error"}) {
        EXPECT_EQ(value(s, std::string("ribbon_next_hop_replies_total{class=\"") + c + "\"}"), 0);
    }
    for (const char* op : {"open", "standing", "record"}) {
        EXPECT_EQ(value(s, std::string("ribbon_store_errors_total{operation=\"") + op + "\"}"), 0);
    }
    EXPECT_EQ(value(s, "ribbon_learn_queue_dropped_total"), 0);
    EXPECT_EQ(value(s, "ribbon_connections_open{front_end=\"relay\"}"), 0);
    // The milter has no next hop.
    EXPECT_EQ(samples(Telemetry(FrontEndKind::milter).scrape()).count("ribbon_next_hop_replies_total{class=\"2xx\"}"), 0u);
}

TEST(Telemetry, CountsExactlyWhatWasReported) {
    Telemetry t(FrontEndKind::milter);
    for (int i = 0; i < 3; ++i) t.signed_message(std::chrono::microseconds(700));  // ≤ 0.001 s bucket
    t.signed_message(std::chrono::milliseconds(30));                                 // ≤ 0.05 s bucket
    t.unsigned_message(submit::Unsigned::no_signer);
    t.unsigned_message(submit::Unsigned::no_signer);
    t.unsigned_message(submit::Unsigned::already_signed);
    t.failed_message(failure(FailureKind::no_key, FailureAction::tempfail, "no Digital ID"));
    t.failed_message(failure(FailureKind::internal_error, FailureAction::accept, "disk"));
    t.failed_message(failure(FailureKind::bad_message, FailureAction::reject, "malformed"));
    t.refused_message(FailureAction::reject, FailureKind::bad_message, "too big");
    const auto s = samples(t.scrape());
    EXPECT_EQ(value(s, messages("milter", "signed", "none")), 4);
    EXPECT_EQ(value(s, messages("milter", "unsigned", "no_signer")), 2);
    EXPECT_EQ(value(s, messages("milter", "unsigned", "already_signed")), 1);
    EXPECT_EQ(value(s, messages("milter", "unsigned", "recipient_policy")), 0);
    EXPECT_EQ(value(s, messages("milter", "tempfail", "no_key")), 1);
    EXPECT_EQ(value(s, messages("milter", "unsigned", "internal_error")), 1);
    EXPECT_EQ(value(s, messages("milter", "rejected", "bad_message")), 2);
    EXPECT_EQ(value(s, "ribbon_signing_duration_seconds_count{front_end=\"milter\"}"), 4);
    EXPECT_NEAR(value(s, "ribbon_signing_duration_seconds_sum{front_end=\"milter\"}"), 0.0321, 1e-9);
    EXPECT_EQ(value(s, "ribbon_signing_duration_seconds_bucket{front_end=\"milter\",le=\"0.0005\"}"), 0);
    EXPECT_EQ(value(s, "ribbon_signing_duration_seconds_bucket{front_end=\"milter\",le=\"0.001\"}"), 3);
    EXPECT_EQ(value(s, "ribbon_signing_duration_seconds_bucket{front_end=\"milter\",le=\"0.05\"}"), 4);
}

TEST(Telemetry, ConnectionsNextHopStoreLearningAndPolicy) {
    Telemetry t(FrontEndKind::relay);
    t.connection_opened();
    t.connection_opened();
    t.connection_opened();
    t.connection_closed();
    for (int code : {250, 250, 451, 554, 0, 354}) t.next_hop_reply(code);
    t.store_call(StoreCall{"standing", std::chrono::milliseconds(2), true});
    t.store_call(StoreCall{"standing", std::chrono::seconds(3), false});
    t.store_call(StoreCall{"open", std::chrono::milliseconds(1), false});
    t.learn_dropped();
    submit::Plan plan;
    plan.decisions = {RecipientDecision{Treatment::sign, "", false}, RecipientDecision{Treatment::plain, "", true},
                      RecipientDecision{Treatment::sign_opaque, "", false}, RecipientDecision{Treatment::sign, "", false}};
    t.planned(plan);
    const SignerRule rule{"a@bank.example"};
    submit::Plan down;
    down.rule = &rule;
    down.failure = failure(FailureKind::internal_error, FailureAction::tempfail, "store down");
    t.planned(down);
    const auto s = samples(t.scrape());
    EXPECT_EQ(value(s, "ribbon_connections_total{front_end=\"relay\"}"), 3);
    EXPECT_EQ(value(s, "ribbon_connections_open{front_end=\"relay\"}"), 2);
    EXPECT_EQ(value(s, "ribbon_next_hop_replies_total{class=\"2xx\"}"), 2);
    EXPECT_EQ(value(s, "ribbon_next_hop_replies_total{class=\"3xx\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_next_hop_replies_total{class=\"4xx\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_next_hop_replies_total{class=\"5xx\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_next_hop_replies_total{class=\"error\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_store_errors_total{operation=\"standing\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_store_errors_total{operation=\"open\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_store_errors_total{operation=\"record\"}"), 0);
    EXPECT_EQ(value(s, "ribbon_store_duration_seconds_count{operation=\"standing\"}"), 2);
    EXPECT_EQ(value(s, "ribbon_store_duration_seconds_bucket{operation=\"standing\",le=\"0.0025\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_store_duration_seconds_bucket{operation=\"standing\",le=\"+Inf\"}"), 2);
    EXPECT_EQ(value(s, "ribbon_learn_queue_dropped_total"), 1);
    EXPECT_EQ(value(s, "ribbon_policy_decisions_total{decision=\"sign\"}"), 2);
    EXPECT_EQ(value(s, "ribbon_policy_decisions_total{decision=\"sign_opaque\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_policy_decisions_total{decision=\"unsigned\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_policy_decisions_total{decision=\"error\"}"), 1);
}

TEST(Telemetry, InboundStampingByResult) {
    Telemetry t(FrontEndKind::milter);
    t.inbound_message(inbound::Assessment::internal_failure("the spool failed"));
    t.inbound_message(inbound::Assessment::internal_failure("the spool failed"));
    const auto s = samples(t.scrape());
    EXPECT_EQ(value(s, "ribbon_inbound_messages_total{continuity=\"temperror\",smime=\"temperror\"}"), 2);
}

TEST(Telemetry, BuildInfo) {
    const std::string text = Telemetry(FrontEndKind::relay).scrape();
    const std::string head = "# TYPE ribbon_build_info gauge\nribbon_build_info{openssl=\"" +
                             std::string(OpenSSL_version(OPENSSL_VERSION_STRING)) + "\",version=\"";
    const auto at = text.find(head);
    ASSERT_NE(at, std::string::npos) << text;
    const auto end = text.find('\n', at + head.size());
    // "0.1.0"} 1: the project's version, three numbers.
    EXPECT_TRUE(std::regex_match(text.substr(at + head.size(), end - at - head.size()),
                                 std::regex(R"([0-9]+\.[0-9]+\.[0-9]+"\} 1)")))
        << text.substr(at, end - at);
}

TEST(Telemetry, CertificateExpiryFollowsThePool) {
    TempDir tmp;
    Keystore ks(tmp.path() / "ids");
    ASSERT_TRUE(DevCa::init(ks).ok());
    ASSERT_TRUE(DevCa::issue(ks, "a@bank.example").ok());
    ASSERT_TRUE(DevCa::issue(ks, "b@bank.example").ok());
    const auto now = std::chrono::system_clock::now();
    auto entries = ks.list(now);
    ASSERT_TRUE(entries);
    std::map<std::string, CertificateInfo> cert;
    for (const KeystoreEntry& e : *entries) cert[e.address] = e.certificate;
    ASSERT_TRUE(cert.contains("a@bank.example") && cert.contains("b@bank.example"));
    const CertificateInfo* a = &cert["a@bank.example"];
    const CertificateInfo* b = &cert["b@bank.example"];
    auto both = SignerPool::create({ks.dir(), {}}, {SignerRule{"a@bank.example"}, SignerRule{"b@bank.example"}}, now);
    auto only_a = SignerPool::create({ks.dir(), {}}, {SignerRule{"a@bank.example"}}, now);
    ASSERT_TRUE(both && only_a);
    auto unix_time = [](TimePoint t) {
        return static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
    };
    const std::string series_a = "ribbon_certificate_not_after_seconds{id=\"" + a->serial_hex + "\"}";
    const std::string series_b = "ribbon_certificate_not_after_seconds{id=\"" + b->serial_hex + "\"}";

    Telemetry t(FrontEndKind::milter);
    EXPECT_EQ(samples(t.scrape()).count(series_a), 0u);
    t.set_pool(*both);
    auto s = samples(t.scrape());
    EXPECT_EQ(value(s, series_a), unix_time(a->not_after));
    EXPECT_EQ(value(s, series_b), unix_time(b->not_after));
    // A reload without b's [[signer]]: b's series goes.
    t.set_pool(*only_a);
    s = samples(t.scrape());
    EXPECT_EQ(value(s, series_a), unix_time(a->not_after));
    EXPECT_EQ(s.count(series_b), 0u);
    // Never the address as a label.
    EXPECT_EQ(t.scrape().find("bank.example"), std::string::npos);
}

TEST(Telemetry, DrainHistoryByHourAndLatestFailures) {
    Telemetry t(FrontEndKind::relay);
    const std::int64_t before = std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count();
    t.signed_message(std::chrono::milliseconds(1));
    t.signed_message(std::chrono::milliseconds(1));
    t.unsigned_message(submit::Unsigned::no_signer);
    const submit::Failure no_key = failure(FailureKind::no_key, FailureAction::tempfail, "no Digital ID for x");
    t.failed_message(no_key);
    auto [hourly, failures] = t.drain_history();
    const std::int64_t after = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count();
    ASSERT_EQ(hourly.size(), 3u);
    std::map<std::string, std::uint64_t> by;
    for (const auto& h : hourly) {
        EXPECT_EQ(h.hour % 3600, 0);
        EXPECT_TRUE(h.hour == before / 3600 * 3600 || h.hour == after / 3600 * 3600) << h.hour;
        EXPECT_EQ(h.front_end, "relay");
        by[h.result + "/" + h.reason] += h.messages;
    }
    EXPECT_EQ(by, (std::map<std::string, std::uint64_t>{{"signed/none", 2}, {"unsigned/no_signer", 1},
                                                        {"tempfail/no_key", 1}}));
    ASSERT_EQ(failures.size(), 1u);
    EXPECT_EQ(failures[0].front_end, "relay");
    EXPECT_EQ(failures[0].result, "tempfail");
    EXPECT_EQ(failures[0].kind, "no_key");
    EXPECT_EQ(failures[0].detail, no_key.log);
    EXPECT_EQ(failures[0].detail, "tempfail (on_no_key = \"tempfail\"): no Digital ID for x");
    EXPECT_GE(failures[0].time, before);
    EXPECT_LE(failures[0].time, after);

    // Drained: nothing until the next message; the counters stay.
    auto [none, no_failures] = t.drain_history();
    EXPECT_TRUE(none.empty());
    EXPECT_TRUE(no_failures.empty());
    EXPECT_EQ(value(samples(t.scrape()), messages("relay", "signed", "none")), 2);

    // At most kMaxRecentFailures between drains: the newest.
    for (std::size_t i = 0; i < Telemetry::kMaxRecentFailures + 5; ++i) {
        t.refused_message(FailureAction::reject, FailureKind::bad_message, "failure " + std::to_string(i));
    }
    auto [many, kept] = t.drain_history();
    ASSERT_EQ(many.size(), 1u);
    EXPECT_EQ(many[0].messages, Telemetry::kMaxRecentFailures + 5);
    ASSERT_EQ(kept.size(), Telemetry::kMaxRecentFailures);
    EXPECT_EQ(kept.front().detail, "failure 5");
    EXPECT_EQ(kept.back().detail, "failure " + std::to_string(Telemetry::kMaxRecentFailures + 4));
}

// The learning queue reports its drops and its store's calls: a message
// learned into a SQLite store is one "open" and one "record"; each message
// a full queue drops is counted.
TEST(Telemetry, LearnQueueReportsDropsAndStoreCalls) {
    TempDir tmp;
    auto rules = ClientRules::load({});
    auto trust = TrustStore::system();
    ASSERT_TRUE(rules && trust);
    auto learner = std::make_shared<const Learner>(std::move(*rules), std::move(*trust));
    auto telemetry = std::make_shared<Telemetry>(FrontEndKind::milter);
    auto log = std::make_shared<spdlog::logger>("test");
    const std::string url = "sqlite://" + (tmp.path() / "ribbon.db").string();
    {
        daemon::LearnQueue queue(learner, url, 1, log, telemetry);
        ASSERT_TRUE(queue.offer("q1", "From: Customer <c@cust.example>\r\nTo: s@bank.example\r\nUser-Agent: "
                                      "Thunderbird/115.0\r\nSubject: hi\r\n\r\nHello\r\n"));
        queue.drain();
        ASSERT_EQ(queue.counts().learned, 1u);
    }
    auto s = samples(telemetry->scrape());
    EXPECT_EQ(value(s, "ribbon_store_duration_seconds_count{operation=\"open\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_store_duration_seconds_count{operation=\"record\"}"), 1);
    EXPECT_EQ(value(s, "ribbon_store_errors_total{operation=\"record\"}"), 0);
    EXPECT_EQ(value(s, "ribbon_learn_queue_dropped_total"), 0);
    {
        // Capacity 0: every offer is dropped.
        daemon::LearnQueue full(learner, url, 0, log, telemetry);
        EXPECT_FALSE(full.offer("q2", "From: c@cust.example\r\n\r\nx\r\n"));
        EXPECT_FALSE(full.offer("q3", "From: c@cust.example\r\n\r\nx\r\n"));
    }
    s = samples(telemetry->scrape());
    EXPECT_EQ(value(s, "ribbon_learn_queue_dropped_total"), 2);
}

}  // namespace
}  // namespace ribbon::test
