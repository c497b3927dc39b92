// telemetry.hpp — what the daemons tell about themselves while running:
// Prometheus metrics (docs/MONITORING.md), served by [metrics] listen, and
// per-hour counts and the latest failures for the dashboard.
//
// One Telemetry lives as long as the daemon: it outlives every Runtime a
// reload replaces, so counters never go back. The front ends call it where
// an outcome is decided (the submission core's plan and sign answers, the
// relay's next-hop replies, the milter's stamping); the learning queue and
// the recipient policy's store calls report here too.
//
// Every label value comes from a fixed set named in this file or by the
// layer below (submit::unsigned_name, submit::failure_kind_name, the
// inbound stamp's result words): never an address, a domain or text from
// mail. The one label not from a fixed set is a certificate's serial, which
// identifies a Digital ID without naming its address.
//
// Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "inbound/assessment.hpp"
#include "ribbon/recipient_policy.hpp"
#include "ribbon/signer_pool.hpp"
#include "submit/submit.hpp"

namespace prometheus {
class Registry;
}

namespace ribbon::daemon {

// Which daemon counts: the `front_end` label.
enum class FrontEndKind { milter, relay };
std::string_view front_end_name() noexcept;  // "milter" | "relay"

// Messages of one hour, front end, result and reason (drain_history).
struct HourlyCount {
    std::int64_t hour;  // unix time truncated to the hour
    std::string front_end, result, reason;
    std::uint64_t messages;
};

// One failure as the log line said it (drain_history).
struct RecentFailure {
    std::int64_t time;  // unix time
    std::string front_end, result, kind, detail;
};

class Telemetry {
public:
    // The history keeps at most this many failures between two drains (the
    // newest ones).
    static constexpr std::size_t kMaxRecentFailures = 200;
    // And at most this many hourly counts (about four weeks of every
    // result and reason): the oldest go first when nobody drains them.
    static constexpr std::size_t kMaxHourlyCounts = 10000;

    // For one daemon: its messages and connections carry its front_end label.
    explicit Telemetry(FrontEndKind front_end);
    ~Telemetry();
    FrontEndKind front_end() const noexcept { return m_front_end; }
    Telemetry(const Telemetry&) = delete;
    Telemetry& operator=(const Telemetry&) = delete;

    // ---- messages (ribbon_messages_total, ribbon_signing_duration_seconds)
    // The submission core's plan: the recipient policy's decisions, and
    // whether asking it failed.
    void planned(const submit::Plan& plan);
    // A message signed (every signing part of it), `took` to sign.
    void signed_message(std::chrono::steady_clock::duration took);
    // A message that went on unsigned, nothing having failed.
    void unsigned_message(submit::Unsigned why);
    // A failure as the core answered it: tempfail, rejected, or unsigned
    // (action "accept"); the reason label is its kind.
    void failed_message(const submit::Failure& failure);
    // A refusal the front end words itself (the relay's size and line
    // limits, its spool): counted like a failure of `kind`.
    void refused_message(FailureAction action, FailureKind kind, const std::string& detail);

    // ---- connections (ribbon_connections_total, ribbon_connections_open)
    void connection_opened();
    void connection_closed();

    // ---- the relay's next hop (ribbon_next_hop_replies_total): an SMTP
    // reply code, or 0 when there was no reply (connection, TLS, timeout).
    void next_hop_reply(int code);

    // ---- the store (ribbon_store_errors_total, ribbon_store_duration_seconds)
    void store_call(const StoreCall& call);
    // An observer for RecipientPolicy::set_store_observer that reports here
    // (it keeps this Telemetry alive).
    static StoreObserver observer(const std::shared_ptr<Telemetry>& telemetry);

    // ---- learning and stamping
    void learn_dropped();
    void inbound_message(const inbound::Assessment& assessment);

    // ---- Digital IDs (ribbon_certificate_not_after_seconds): the pool in
    // effect, read at each scrape (a reload sets the new one).
    void set_pool(std::shared_ptr<const SignerPool> pool);

    // The Prometheus text format (version 0.0.4) of every metric now.
    std::string scrape();

    // The per-hour counts and failures since the last drain, and forgets
    // them (the dashboard's writer stores them).
    std::pair<std::vector<HourlyCount>, std::vector<RecentFailure>> drain_history();

    struct Metrics;

private:
    void count(std::string_view result, std::string_view reason);
    void remember_failure(std::string_view result, std::string_view kind, const std::string& detail);
    void update_certificates();

    const FrontEndKind m_front_end;
    std::shared_ptr<prometheus::Registry> m_registry;
    std::unique_ptr<Metrics> m_metrics;

    std::mutex m_mutex;  // guards what follows
    std::shared_ptr<const SignerPool> m_pool;
    std::map<std::tuple<std::int64_t, std::string, std::string>, std::uint64_t> m_hourly;  // hour, result, reason
    std::vector<RecentFailure> m_failures;
};

}  // namespace ribbon::daemon
