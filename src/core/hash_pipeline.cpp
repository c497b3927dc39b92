// hash_pipeline.cpp — see hash_pipeline.hpp.
#include "core/hash_pipeline.hpp"

#include <system_error>

#include "core/openssl_util.hpp"

namespace ribbon::enc {

HashPipeline::HashPipeline(EVP_MD_CTX* ctx) : m_ctx(ctx) {
    m_storage.reserve(kBuffers);
    m_free.reserve(kBuffers);
    for (std::size_t i = 0; i < kBuffers; ++i) {
        // Never zero-filled: a page costs memory only once written.
        m_storage.emplace_back(new char[kBufferSize]);
        m_free.push_back(m_storage.back().get());
    }
}

std::unique_ptr<HashPipeline> HashPipeline::start(EVP_MD_CTX* ctx) {
    std::unique_ptr<HashPipeline> p(new HashPipeline(ctx));
    try {
        p->m_thread = std::thread([q = p.get()] { q->run(); });
    } catch (const std::system_error&) {
        return nullptr;  // no thread to be had (a process or container limit)
    }
    return p;
}

HashPipeline::~HashPipeline() { stop(true); }

void HashPipeline::stop(bool abandon) {
    {
        std::lock_guard lock(m_mutex);
        m_done = true;
        m_abandon = m_abandon || abandon;
    }
    m_work.notify_one();
    if (m_thread.joinable()) m_thread.join();
}

char* HashPipeline::acquire() {
    std::unique_lock lock(m_mutex);
    m_freed.wait(lock, [&] { return !m_free.empty(); });
    char* buffer = m_free.back();
    m_free.pop_back();
    return buffer;
}

void HashPipeline::submit(char* buffer, std::size_t n) {
    {
        std::lock_guard lock(m_mutex);
        m_queue.emplace_back(buffer, n);
    }
    m_work.notify_one();
}

Result<void> HashPipeline::finish() {
    stop(false);
    if (m_failed) return ossl::crypto_error("SHA-256 failed");
    return {};
}

void HashPipeline::run() {
    std::unique_lock lock(m_mutex);
    while (true) {
        m_work.wait(lock, [&] { return !m_queue.empty() || m_done; });
        if (m_abandon || m_queue.empty()) return;  // stopped, or finished and drained
        auto [buffer, n] = m_queue.front();
        m_queue.pop_front();
        bool failed = m_failed;
        lock.unlock();
        if (!failed && EVP_DigestUpdate(m_ctx, buffer, n) != 1) failed = true;
        lock.lock();
        m_failed = failed;
        m_free.push_back(buffer);
        m_freed.notify_one();
    }
}

}  // namespace ribbon::enc
