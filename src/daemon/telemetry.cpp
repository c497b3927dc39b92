// telemetry.cpp — see telemetry.hpp. The metrics are prometheus-cpp's
// (Debian's prometheus-cpp-dev, core library only: the daemons serve them
// through ribbon's own HTTP server, src/http, not civetweb).
#include "daemon/telemetry.hpp"

#include <openssl/crypto.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>

#include "inbound/stamp.hpp"
#include "ribbon/continuity.hpp"
#include "ribbon_version.hpp"

namespace ribbon::daemon {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Signing one message takes about a millisecond for RSA-2048 and more for
// large messages or a PKCS#11 token (docs/BENCHMARKS.md): 0.1 ms to 100 ms,
// about three buckets a decade.
const prometheus::Histogram::BucketBoundaries kSigningBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                                 0.01,   0.025,   0.05,   0.1,   0.25};
// A store lookup is a fraction of a millisecond on SQLite and a network
// round trip on PostgreSQL; an outage shows as connect timeouts.
const prometheus::Histogram::BucketBoundaries kStoreBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                               0.025,  0.05,    0.1,    0.25,  0.5,   1,     2.5, 5};

constexpr std::string_view kResults[] = {"signed", "unsigned", "tempfail", "rejected"};
constexpr std::string_view kStoreOperations[] = {"open", "standing", "record"};

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string_view result_of(FailureAction action) {
    switch (action) {
        case FailureAction::tempfail: return "tempfail";
        case FailureAction::reject: return "rejected";
        case FailureAction::accept: return "unsigned";
    }
    return "tempfail";
}

// "2xx" … "5xx" by the first digit (RFC 5321 §4.2.1); "error" for no reply.
std::string_view reply_class(int code) {
    if (code >= 200 && code < 300) return "2xx";
    if (code >= 300 && code < 400) return "3xx";
    if (code >= 400 && code < 500) return "4xx";
    if (code >= 500 && code < 600) return "5xx";
    return "error";
}

std::string_view decision_name(Treatment t) {
    switch (t) {
        case Treatment::sign: return "sign";
        case Treatment::sign_opaque: return "sign_opaque";
        case Treatment::plain: return "unsigned";
    }
    return "sign";
}

// Orders (result, reason) label pairs held as strings and looked up as
// string_views, without building strings per message.
struct LabelPairLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
        using View = std::pair<std::string_view, std::string_view>;
        return View(a.first, a.second) < View(b.first, b.second);
    }
};

}  // namespace

std::string_view front_end_name(FrontEndKind f) noexcept { return f == FrontEndKind::milter ? "milter" : "relay"; }

struct Telemetry::Metrics {
    prometheus::Family<prometheus::Counter>& messages;
    prometheus::Family<prometheus::Histogram>& signing;
    prometheus::Family<prometheus::Counter>& next_hop;
    prometheus::Family<prometheus::Counter>& connections;
    prometheus::Family<prometheus::Gauge>& open;
    prometheus::Family<prometheus::Counter>& decisions;
    prometheus::Family<prometheus::Counter>& store_errors;
    prometheus::Family<prometheus::Histogram>& store_duration;
    prometheus::Family<prometheus::Counter>& learn_dropped;
    prometheus::Family<prometheus::Counter>& inbound;
    prometheus::Family<prometheus::Gauge>& not_after;
    prometheus::Family<prometheus::Gauge>& build_info;
    std::map<std::string, prometheus::Gauge*> certificates;  // by serial
    // The series whose labels are this daemon's alone, looked up once
    // rather than per message or connection (Family::Add hashes the labels
    // under a lock).
    prometheus::Histogram* signing_time = nullptr;
    prometheus::Counter* connections_accepted = nullptr;
    prometheus::Gauge* connections_open = nullptr;
    // The message counters by (result, reason) and the decision counters by
    // name that exist from the start, filled in by the constructor and only
    // read afterwards: per message, a lookup here instead of Family::Add.
    std::map<std::pair<std::string, std::string>, prometheus::Counter*, LabelPairLess> message_counts;
    std::map<std::string, prometheus::Counter*, std::less<>> decision_counts;
};

Telemetry::Telemetry(FrontEndKind front_end)
    : m_front_end(front_end), m_registry(std::make_shared<prometheus::Registry>()) {
    auto& r = *m_registry;
    m_metrics.reset(new Metrics{
        BuildCounter().Name("ribbon_messages_total").Help("Outgoing messages by what ribbon did with them").Register(r),
        BuildHistogram().Name("ribbon_signing_duration_seconds").Help("Time to sign one message").Register(r),
        BuildCounter().Name("ribbon_next_hop_replies_total").Help("The next hop's replies to messages, by class").Register(r),
        BuildCounter().Name("ribbon_connections_total").Help("Connections accepted from the MTA or clients").Register(r),
        BuildGauge().Name("ribbon_connections_open").Help("Connections open now").Register(r),
        BuildCounter().Name("ribbon_policy_decisions_total").Help("Recipient policy answers, one per recipient").Register(r),
        BuildCounter().Name("ribbon_store_errors_total").Help("Recipients store operations that failed").Register(r),
        BuildHistogram().Name("ribbon_store_duration_seconds").Help("Time of one recipients store operation").Register(r),
        BuildCounter().Name("ribbon_learn_queue_dropped_total").Help("Inbound messages not learned: the queue was full").Register(r),
        BuildCounter().Name("ribbon_inbound_messages_total").Help("Inbound messages stamped, by their results").Register(r),
        BuildGauge().Name("ribbon_certificate_not_after_seconds").Help("Unix time a Digital ID's certificate expires").Register(r),
        BuildGauge().Name("ribbon_build_info").Help("The ribbon build running (always 1)").Register(r),
        {}});
    Metrics& m = *m_metrics;
    const std::string fe(front_end_name(front_end));
    // Every series an alert rule reads exists from the start, at 0: rate()
    // over a series that appears only with its first event misses that event.
    auto add_messages = [&](std::string_view result, std::string_view reason) {
        m.message_counts[{std::string(result), std::string(reason)}] =
            &m.messages.Add({{"front_end", fe}, {"result", std::string(result)}, {"reason", std::string(reason)}});
    };
    add_messages("signed", "none");
    for (submit::Unsigned why : {submit::Unsigned::no_from, submit::Unsigned::no_signer, submit::Unsigned::already_signed,
                                 submit::Unsigned::recipient_policy}) {
        add_messages("unsigned", submit::unsigned_name(why));
    }
    for (std::string_view result : {kResults[1], kResults[2], kResults[3]}) {
        for (FailureKind k : {FailureKind::internal_error, FailureKind::no_key, FailureKind::bad_message}) {
            add_messages(result, submit::failure_kind_name(k));
        }
    }
    m.signing_time = &m.signing.Add({{"front_end", fe}}, kSigningBuckets);
    m.connections_accepted = &m.connections.Add({{"front_end", fe}});
    m.connections_open = &m.open.Add({{"front_end", fe}});
    if (front_end == FrontEndKind::relay) {
        for (const char* c : {"2xx", "4xx", "5xx", "error"}) m.next_hop.Add({{"class", c}});
    }
    for (const char* d : {"sign", "sign_opaque", "unsigned", "error"}) {
        m.decision_counts[d] = &m.decisions.Add({{"decision", d}});
    }
    for (std::string_view op : kStoreOperations) {
        m.store_errors.Add({{"operation", std::string(op)}});
        m.store_duration.Add({{"operation", std::string(op)}}, kStoreBuckets);
    }
    m.learn_dropped.Add({});
    m.build_info.Add({{"version", RIBBON_VERSION_STRING}, {"openssl", OpenSSL_version(OPENSSL_VERSION_STRING)}}).Set(1);
}

Telemetry::~Telemetry() = default;

void Telemetry::count(std::string_view result, std::string_view reason) {
    const auto& counts = m_metrics->message_counts;
    if (auto it = counts.find(std::pair<std::string_view, std::string_view>(result, reason)); it != counts.end()) {
        it->second->Increment();
    } else {
        const std::string fe(front_end_name(m_front_end));
        m_metrics->messages.Add({{"front_end", fe}, {"result", std::string(result)}, {"reason", std::string(reason)}})
            .Increment();
    }
    const std::int64_t hour = unix_now() / 3600 * 3600;
    std::lock_guard lock(m_mutex);
    ++m_hourly[{hour, std::string(result), std::string(reason)}];
    if (m_hourly.size() > kMaxHourlyCounts) m_hourly.erase(m_hourly.begin());  // the oldest hour's
}

void Telemetry::remember_failure(std::string_view result, std::string_view kind, const std::string& detail) {
    std::lock_guard lock(m_mutex);
    if (m_failures.size() >= kMaxRecentFailures) m_failures.erase(m_failures.begin());
    m_failures.push_back(RecentFailure{unix_now(), std::string(front_end_name(m_front_end)), std::string(result),
                                       std::string(kind), detail});
}

void Telemetry::planned(const submit::Plan& plan) {
    const auto& counts = m_metrics->decision_counts;
    for (const RecipientDecision& d : plan.decisions) counts.find(decision_name(d.treatment))->second->Increment();
    // A plan fails only when the recipient policy could not answer.
    if (plan.rule != nullptr && plan.failure) counts.find("error")->second->Increment();
}

void Telemetry::signed_message(std::chrono::steady_clock::duration took) {
    m_metrics->signing_time->Observe(seconds(took));
    count("signed", "none");
}

void Telemetry::unsigned_message(submit::Unsigned why) { count("unsigned", submit::unsigned_name(why)); }

void Telemetry::failed_message(const submit::Failure& failure) {
    refused_message(failure.action, failure.kind, failure.log);
}

void Telemetry::refused_message(FailureAction action, FailureKind kind, const std::string& detail) {
    const std::string_view result = result_of(action);
    const std::string_view reason = submit::failure_kind_name(kind);
    count(result, reason);
    remember_failure(result, reason, detail);
}

void Telemetry::connection_opened() {
    m_metrics->connections_accepted->Increment();
    m_metrics->connections_open->Increment();
}

void Telemetry::connection_closed() { m_metrics->connections_open->Decrement(); }

void Telemetry::next_hop_reply(int code) {
    m_metrics->next_hop.Add({{"class", std::string(reply_class(code))}}).Increment();
}

void Telemetry::store_call(const StoreCall& call) {
    const std::string op(call.operation);
    m_metrics->store_duration.Add({{"operation", op}}, kStoreBuckets).Observe(seconds(call.took));
    if (!call.ok) m_metrics->store_errors.Add({{"operation", op}}).Increment();
}

StoreObserver Telemetry::observer(const std::shared_ptr<Telemetry>& telemetry) {
    return [telemetry](const StoreCall& call) { telemetry->store_call(call); };
}

void Telemetry::learn_dropped() { m_metrics->learn_dropped.Add({}).Increment(); }

void Telemetry::inbound_message(const inbound::Assessment& a) {
    const std::string_view continuity =
        a.continuity ? continuity_name(a.continuity->verdict) : (a.temperror ? "temperror" : "none");
    m_metrics->inbound
        .Add({{"smime", std::string(inbound::smime_result_name(inbound::smime_result(a)))},
              {"continuity", std::string(continuity)}})
        .Increment();
}

void Telemetry::set_pool(std::shared_ptr<const SignerPool> pool) {
    std::lock_guard lock(m_mutex);
    m_pool = std::move(pool);
}

// The gauges follow the pool: a certificate no longer in use (renewed,
// removed, or its [[signer]] entry gone with a reload) loses its series.
void Telemetry::update_certificates() {
    std::shared_ptr<const SignerPool> pool;
    {
        std::lock_guard lock(m_mutex);
        pool = m_pool;
    }
    std::map<std::string, double> now;
    if (pool) {
        for (const CertificateInfo& c : pool->certificates()) {
            now[c.serial_hex] = static_cast<double>(
                std::chrono::duration_cast<std::chrono::seconds>(c.not_after.time_since_epoch()).count());
        }
    }
    std::lock_guard lock(m_mutex);  // one scrape at a time changes the map
    auto& gauges = m_metrics->certificates;
    for (auto it = gauges.begin(); it != gauges.end();) {
        if (now.contains(it->first)) {
            ++it;
        } else {
            m_metrics->not_after.Remove(it->second);
            it = gauges.erase(it);
        }
    }
    for (const auto& [serial, not_after] : now) {
        auto [it, added] = gauges.try_emplace(serial, nullptr);
        if (added) it->second = &m_metrics->not_after.Add({{"id", serial}});
        it->second->Set(not_after);
    }
}

std::string Telemetry::scrape() {
    update_certificates();
    return prometheus::TextSerializer().Serialize(m_registry->Collect());
}

std::pair<std::vector<HourlyCount>, std::vector<RecentFailure>> Telemetry::drain_history() {
    std::lock_guard lock(m_mutex);
    std::vector<HourlyCount> hourly;
    hourly.reserve(m_hourly.size());
    const std::string fe(front_end_name(m_front_end));
    for (const auto& [key, messages] : m_hourly) {
        hourly.push_back(HourlyCount{std::get<0>(key), fe, std::get<1>(key), std::get<2>(key), messages});
    }
    m_hourly.clear();
    return {std::move(hourly), std::exchange(m_failures, {})};
}

}  // namespace ribbon::daemon
