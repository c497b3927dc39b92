// sighting_recorder.cpp — see sighting_recorder.hpp.
#include "inbound/sighting_recorder.hpp"

#include <algorithm>
#include <new>
#include <optional>
#include <vector>

namespace ribbon::inbound {

struct SightingRecorder::Request {
    const KeySighting* sighting;
    std::optional<Result<ContinuityReport>> answer;  // set by the writer, under m_mutex
};

SightingRecorder::SightingRecorder(std::string store_url, std::size_t max_batch)
    : m_store_url(std::move(store_url)), m_max_batch(std::max<std::size_t>(max_batch, 1)) {}

SightingRecorder::~SightingRecorder() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_work.notify_one();
    if (m_writer.joinable()) m_writer.join();
}

Result<ContinuityReport> SightingRecorder::record(const KeySighting& sighting) {
    Request request{&sighting, std::nullopt};
    std::unique_lock lock(m_mutex);
    if (!m_writer.joinable()) m_writer = std::thread([this] { run(); });
    m_queue.push_back(&request);
    m_work.notify_one();
    m_done.wait(lock, [&] { return request.answer.has_value(); });
    return std::move(*request.answer);
}

SightingRecorder::Counts SightingRecorder::counts() const {
    std::lock_guard lock(m_mutex);
    return m_counts;
}

void SightingRecorder::run() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_work.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
        if (m_queue.empty()) return;  // stopping, and everything answered
        // Everything that came while the previous batch was committed.
        const std::size_t n = std::min(m_queue.size(), m_max_batch);
        std::deque<Request*> batch(m_queue.begin(), m_queue.begin() + static_cast<long>(n));
        m_queue.erase(m_queue.begin(), m_queue.begin() + static_cast<long>(n));
        lock.unlock();
        commit(batch);
        lock.lock();
        m_counts.sightings += n;
        m_counts.transactions += 1;
        m_done.notify_all();
    }
}

void SightingRecorder::commit(std::deque<Request*>& batch) {
    std::vector<std::optional<Result<ContinuityReport>>> answers(batch.size());
    auto fail_all = [&](const Error& e) {
        for (auto& a : answers) a = Result<ContinuityReport>(e);
    };
    try {
        if (!m_store) {
            auto opened = RecipientStore::open(m_store_url, StoreAccess::read_write);
            if (opened) {
                m_store = std::move(*opened);
            } else {
                fail_all(opened.error());
            }
        }
        if (m_store) {
            std::vector<KeySighting> sightings;
            sightings.reserve(batch.size());
            for (const Request* r : batch) sightings.push_back(*r->sighting);
            auto results = m_store->observe_keys(sightings);
            bool store_failed = false;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                if (!results[i] && results[i].error().kind() != ErrorKind::permanent) {
                    store_failed = true;
                }
                answers[i] = std::move(results[i]);
            }
            // A connection that failed is not trusted with the next batch
            // (a PostgreSQL server restarted, a SQLite file replaced).
            if (store_failed) m_store.reset();
        }
    } catch (const std::bad_alloc&) {
        m_store.reset();
        fail_all(Error(Errc::internal_error, ErrorKind::transient, "out of memory"));
    }
    std::lock_guard lock(m_mutex);
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->answer = std::move(answers[i]);
}

}  // namespace ribbon::inbound
