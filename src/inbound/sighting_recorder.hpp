// sighting_recorder.hpp — group commit of key sightings for a busy
// receiver (the inbound milter: one thread per SMTP connection).
//
// Recording a sighting is a small write transaction (read the address's
// keys, judge, count: RecipientStore::observe_key), and on SQLite most of
// its cost is the commit itself, the same for one sighting as for fifty
// (docs/BENCHMARKS.md, "The receiving side"). So the threads that verify
// messages do not each commit: they hand their sighting to one writer
// thread, which records everything that arrived while its previous
// transaction ran in the next one (RecipientStore::observe_keys), and
// wakes each thread with its own report once that transaction is
// committed. A thread alone waits for one transaction, as before; under
// load the commits are shared, and since the writer records in arrival
// order, the verdicts are those of recording one at a time. SQLite allows
// one writer at a time anyway, so one thread loses no parallelism there.
//
// Nothing is answered before it is committed: a report says "recorded"
// only when it is in the store. A failure of the store is the error of
// every sighting in that batch, and the writer opens a new connection for
// the next one.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ribbon/recipients.hpp"

namespace ribbon::inbound {

class SightingRecorder {
public:
    // Records into the store at `store_url` (opened read-write by the
    // writer thread when the first sighting comes), at most `max_batch`
    // sightings per transaction.
    explicit SightingRecorder(std::string store_url, std::size_t max_batch = 128);
    // Records what is queued, then stops the writer.
    ~SightingRecorder();
    SightingRecorder(const SightingRecorder&) = delete;
    SightingRecorder& operator=(const SightingRecorder&) = delete;

    // observe_key(sighting, record), committed together with whatever other
    // threads record at the same time. Blocks until committed or failed.
    Result<ContinuityReport> record(const KeySighting& sighting);

    // How many sightings went to the store in how many transactions (the
    // batching, for the bench and for metrics).
    struct Counts {
        std::uint64_t sightings = 0;
        std::uint64_t transactions = 0;
    };
    Counts counts() const;

private:
    struct Request;
    void run();
    // One batch through the store; every request gets its answer.
    void commit(std::deque<Request*>& batch);

    const std::string m_store_url;
    const std::size_t m_max_batch;
    mutable std::mutex m_mutex;
    std::condition_variable m_work;  // the writer waits for requests
    std::condition_variable m_done;  // the callers wait for their answer
    std::deque<Request*> m_queue;
    bool m_stopping = false;
    Counts m_counts;
    std::unique_ptr<RecipientStore> m_store;  // the writer thread's only
    std::thread m_writer;                     // started by the first record()
};

}  // namespace ribbon::inbound
