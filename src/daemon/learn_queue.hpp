// learn_queue.hpp — learning from inbound mail inside a daemon without ever
// holding the mail up (issue 6: "learning must never block or change
// inbound mail; a store outage is logged and skipped").
//
// The milter hands each inbound message to offer(), which only queues it;
// one thread of the queue's own runs the Learner and records the lesson in
// its own store connection. A full queue drops the message (counted in the
// log) instead of waiting; a store that fails is logged at most once a
// minute, its lessons are dropped, and it is opened again after a pause.
//
// Thread-safety: offer() may be called from any thread.
#pragma once

#include <spdlog/logger.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/telemetry.hpp"
#include "ribbon/learn.hpp"
#include "ribbon/recipients.hpp"

namespace ribbon::daemon {

class LearnQueue {
public:
    // `telemetry`, when given, counts the drops and the store's calls.
    LearnQueue(std::shared_ptr<const Learner> learner, std::string store_url, std::size_t capacity,
               std::shared_ptr<spdlog::logger> log, std::shared_ptr<Telemetry> telemetry = nullptr);
    // Stops after the message in hand; what is still queued is dropped and
    // counted in the log (a reload or a stop must not wait on a database).
    ~LearnQueue();
    LearnQueue(const LearnQueue&) = delete;
    LearnQueue& operator=(const LearnQueue&) = delete;

    // Queues one message (`id` names it in the log); false when it was
    // dropped because the queue is full.
    bool offer(std::string id, std::string message);

    struct Counts {
        std::uint64_t learned = 0, skipped = 0, unreadable = 0, dropped = 0, store_failures = 0;
    };
    Counts counts() const;

    // Blocks until everything queued so far was handled (tests, stop).
    void drain();

private:
    struct Item {
        std::string id;
        std::string message;
    };
    void run();
    void handle(const Item& item);

    std::shared_ptr<const Learner> m_learner;
    std::string m_url;
    std::size_t m_capacity;
    std::shared_ptr<spdlog::logger> m_log;
    std::shared_ptr<Telemetry> m_telemetry;

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::condition_variable m_idle;
    std::deque<Item> m_queue;
    bool m_busy = false;
    bool m_stopping = false;
    Counts m_counts;

    // Used by the queue's thread only.
    std::unique_ptr<RecipientStore> m_store;
    std::chrono::steady_clock::time_point m_next_open{};
    std::chrono::steady_clock::time_point m_next_complaint{};
    std::thread m_thread;  // last: started once everything above exists
};

}  // namespace ribbon::daemon
