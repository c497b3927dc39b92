// history_writer.hpp — the daemons' message history into the store, for
// `ribbon dashboard` (docs/DASHBOARD.md): every minute, and once more when
// the daemon stops, what Telemetry::drain_history() gathered (messages per
// hour, result and reason; the latest failures) is added to the store's
// activity tables (RecipientStore::add_message_counts, add_failures). So
// the counts survive restarts, and hosts that share a PostgreSQL store add
// up on one page.
//
// The Prometheus counters (metrics_server.hpp) are the live view; this is
// the kept one. Writing never holds mail: it runs on a thread of its own,
// and a store that cannot be written keeps the rows for the next minute
// (at most kMaxPending; beyond that the oldest hours are dropped, and the
// log says how many).
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/telemetry.hpp"
#include "ribbon/recipients.hpp"

namespace ribbon::daemon {

class HistoryWriter {
public:
    static constexpr std::size_t kMaxPending = 20000;

    // Writes to the store at `store_url` as `host`, from the calling
    // thread's privileges on (construct it after dropping root).
    HistoryWriter(std::string store_url, std::string host, std::shared_ptr<Telemetry> telemetry,
                  std::shared_ptr<spdlog::logger> log,
                  std::chrono::milliseconds interval = std::chrono::seconds(60));
    // Writes what is left, then stops.
    ~HistoryWriter();
    HistoryWriter(const HistoryWriter&) = delete;
    HistoryWriter& operator=(const HistoryWriter&) = delete;

    // Drains and writes now; false when the store refused (the rows are
    // kept for the next try).
    bool flush();

    // The rows as the store keeps them: "rejected" is "reject", a signed
    // message has no reason.
    static MessageCount stored(const HourlyCount& c, const std::string& host);
    static FailureRecord stored(const RecentFailure& f, const std::string& host);

private:
    void run();
    // The pending rows into the store (m_flush_mutex held).
    Result<void> write_pending();

    const std::string m_store_url;
    const std::string m_host;
    const std::shared_ptr<Telemetry> m_telemetry;
    const std::shared_ptr<spdlog::logger> m_log;
    const std::chrono::milliseconds m_interval;

    std::mutex m_flush_mutex;  // one flush at a time; guards what follows
    std::unique_ptr<RecipientStore> m_store;
    std::vector<MessageCount> m_counts;   // drained, not yet written
    std::vector<FailureRecord> m_failures;
    bool m_failing = false;  // the last try failed (logged once until it works)

    std::mutex m_stop_mutex;
    std::condition_variable m_stop_cv;
    bool m_stopping = false;
    std::thread m_thread;
};

// The name this host goes by in the activity tables: gethostname(2).
std::string host_name();

}  // namespace ribbon::daemon
