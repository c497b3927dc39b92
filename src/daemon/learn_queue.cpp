// learn_queue.cpp — see learn_queue.hpp.
#include "daemon/learn_queue.hpp"

namespace ribbon::daemon {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kReopenPause{5};
constexpr std::chrono::seconds kComplaintInterval{60};

}  // namespace

LearnQueue::LearnQueue(std::shared_ptr<const Learner> learner, std::string store_url, std::size_t capacity,
                       std::shared_ptr<spdlog::logger> log, std::shared_ptr<Telemetry> telemetry)
    : m_learner(std::move(learner)),
      m_url(std::move(store_url)),
      m_capacity(capacity),
      m_log(std::move(log)),
      m_telemetry(std::move(telemetry)),
      m_thread([this] { run(); }) {}

LearnQueue::~LearnQueue() {
    std::size_t left = 0;
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        left = m_queue.size();
        m_queue.clear();
    }
    m_wake.notify_all();
    m_thread.join();
    const Counts c = counts();
    m_log->info("learning stopped: {} learned, {} skipped, {} unreadable, {} dropped ({} left in the queue), {} store "
                "failures",
                c.learned, c.skipped, c.unreadable, c.dropped + left, left, c.store_failures);
}

bool LearnQueue::offer(std::string id, std::string message) {
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping || m_queue.size() >= m_capacity) {
            ++m_counts.dropped;
            if (m_telemetry) m_telemetry->learn_dropped();
            // Every 100th drop is logged: a full queue means the store is
            // slower than the mail, which the operator needs to hear once.
            if (m_counts.dropped % 100 == 1) {
                m_log->warn("{}: not learned: the learning queue is full ({} messages; {} dropped so far)", id,
                            m_capacity, m_counts.dropped);
            }
            return false;
        }
        m_queue.push_back(Item{std::move(id), std::move(message)});
    }
    m_wake.notify_one();
    return true;
}

LearnQueue::Counts LearnQueue::counts() const {
    std::lock_guard lock(m_mutex);
    return m_counts;
}

void LearnQueue::drain() {
    std::unique_lock lock(m_mutex);
    m_idle.wait(lock, [this] { return m_queue.empty() && !m_busy; });
}

void LearnQueue::run() {
    for (;;) {
        Item item;
        {
            std::unique_lock lock(m_mutex);
            m_busy = false;
            m_idle.notify_all();
            m_wake.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            if (m_stopping) return;
            item = std::move(m_queue.front());
            m_queue.pop_front();
            m_busy = true;
        }
        handle(item);
    }
}

void LearnQueue::handle(const Item& item) {
    const auto unix_now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto lesson = m_learner->observe(item.message, unix_now);
    auto count = [this](std::uint64_t Counts::*field) {
        std::lock_guard lock(m_mutex);
        ++(m_counts.*field);
    };
    if (!lesson) {
        count(&Counts::unreadable);
        m_log->info("{}: not learned: {}", item.id, lesson.error().message());
        return;
    }
    if (!lesson->observation) {
        count(&Counts::skipped);
        m_log->debug("{}: not learned: {}", item.id, lesson->skipped);
        return;
    }
    const Clock::time_point now = Clock::now();
    Result<void> recorded = transient_error(Errc::store_unavailable, "the store is not open");
    auto tell = [this](std::string_view operation, Clock::time_point start, bool ok) {
        if (m_telemetry) m_telemetry->store_call(StoreCall{operation, Clock::now() - start, ok});
    };
    if (!m_store && now >= m_next_open) {
        auto opened = RecipientStore::open(m_url);
        tell("open", now, opened.ok());
        if (opened) {
            m_store = std::move(*opened);
        } else {
            recorded = std::move(opened).error();
            m_next_open = now + kReopenPause;
        }
    }
    if (m_store) {
        const Clock::time_point start = Clock::now();
        recorded = m_store->record(*lesson->observation);
        tell("record", start, recorded.ok());
    }
    if (recorded) {
        count(&Counts::learned);
        const Observation& o = *lesson->observation;
        m_log->info("{}: learned: from=<{}> client={} capability={}", item.id, o.address,
                    o.client ? o.client->name : "unknown", smime_support_name(o.capability));
        return;
    }
    count(&Counts::store_failures);
    // A broken connection is not reused: the next message opens a new one
    // (after the pause), which is how a restarted database is found again.
    if (recorded.error().kind() != ErrorKind::permanent) m_store.reset();
    if (m_store == nullptr && m_next_open < now) m_next_open = now + kReopenPause;
    if (now >= m_next_complaint) {
        m_log->warn("{}: not learned, the store failed: {} (mail is not affected; logged once a minute)", item.id,
                    recorded.error().message());
        m_next_complaint = now + kComplaintInterval;
    }
}

}  // namespace ribbon::daemon
