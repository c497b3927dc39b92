// history_writer.cpp — see history_writer.hpp.
#include "daemon/history_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>

namespace ribbon::daemon {

std::string host_name() {
    char name[HOST_NAME_MAX + 1] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

MessageCount HistoryWriter::stored(const HourlyCount& c, const std::string& host) {
    MessageCount m;
    m.hour = c.hour;
    m.host = host;
    m.front_end = c.front_end;
    m.result = c.result == "rejected" ? "reject" : c.result;
    m.reason = c.result == "signed" ? "" : c.reason;
    m.messages = c.messages;
    return m;
}

FailureRecord HistoryWriter::stored(const RecentFailure& f, const std::string& host) {
    FailureRecord r;
    r.time = f.time;
    r.host = host;
    r.front_end = f.front_end;
    r.result = f.result == "rejected" ? "reject" : f.result;
    r.kind = f.kind;
    r.detail = f.detail;
    return r;
}

HistoryWriter::HistoryWriter(std::string store_url, std::string host, std::shared_ptr<Telemetry> telemetry,
                             std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds interval)
    : m_store_url(std::move(store_url)),
      m_host(std::move(host)),
      m_telemetry(std::move(telemetry)),
      m_log(std::move(log)),
      m_interval(interval) {
    m_thread = std::thread([this] { run(); });
}

HistoryWriter::~HistoryWriter() {
    {
        std::lock_guard lock(m_stop_mutex);
        m_stopping = true;
    }
    m_stop_cv.notify_one();
    m_thread.join();
    flush();
}

void HistoryWriter::run() {
    std::unique_lock lock(m_stop_mutex);
    while (!m_stop_cv.wait_for(lock, m_interval, [&] { return m_stopping; })) {
        lock.unlock();
        flush();
        lock.lock();
    }
}

bool HistoryWriter::flush() {
    std::lock_guard lock(m_flush_mutex);
    auto [hourly, failures] = m_telemetry->drain_history();
    for (const HourlyCount& c : hourly) m_counts.push_back(stored(c, m_host));
    for (const RecentFailure& f : failures) m_failures.push_back(stored(f, m_host));
    if (m_counts.size() > kMaxPending) {
        // The oldest hours go first (drain_history gives them in order).
        const std::size_t dropped = m_counts.size() - kMaxPending;
        m_counts.erase(m_counts.begin(), m_counts.begin() + static_cast<long>(dropped));
        m_log->warn("message history: the store has been unwritable too long; {} hourly counts dropped",
                    dropped);
    }
    if (m_failures.size() > kFailuresKept) {
        m_failures.erase(m_failures.begin(), m_failures.end() - static_cast<long>(kFailuresKept));
    }
    if (m_counts.empty() && m_failures.empty()) return true;
    auto r = write_pending();
    if (!r) {
        if (!m_failing) m_log->warn("message history: not written, kept for the next try: {}", r.error().message());
        m_failing = true;
        m_store.reset();
        return false;
    }
    if (m_failing) m_log->info("message history: written again");
    m_failing = false;
    return true;
}

Result<void> HistoryWriter::write_pending() {
    if (!m_store) {
        auto opened = RecipientStore::open(m_store_url);
        if (!opened) return std::move(opened).error();
        m_store = std::move(*opened);
    }
    // Each list is forgotten once written, so that a failure of the second
    // does not count the first twice. A list the store refuses as such
    // (malformed_message) would be refused again: it is dropped, and said.
    auto forget_if_written = [&](auto& rows, Result<void> r, const char* what) -> Result<void> {
        if (!r && r.error().code() == Errc::malformed_message) {
            m_log->error("message history: the store refused the {}: {}", what, r.error().message());
            rows.clear();
            return {};
        }
        if (r) rows.clear();
        return r;
    };
    if (!m_counts.empty()) {
        auto r = forget_if_written(m_counts, m_store->add_message_counts(m_counts), "hourly counts");
        if (!r) return r;
    }
    if (!m_failures.empty()) {
        return forget_if_written(m_failures, m_store->add_failures(m_failures), "failures");
    }
    return {};
}

}  // namespace ribbon::daemon
