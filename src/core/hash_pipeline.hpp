// hash_pipeline.hpp — SHA-256 on a thread of its own for a large signed
// part, so that hashing overlaps reading, canonicalising and writing.
//
// Why: SHA-256 runs at about 1.2–1.7 GB/s with SHA-NI, and canonicalising
// plus writing a 100 MB part costs about as much again on one core. Hashing
// is sequential, so the work is split by stage: the caller's thread fills a
// buffer, writes it, and hands it to the hasher, which digests buffers in
// the order given and hands them back. A bounded ring (kBuffers of
// kBufferSize: 1 MiB in all, which a 64 MiB message piped to `ribbon sign`
// must stay within half of, with its spools) keeps memory flat; the caller
// waits when it is kBuffers - 1 buffers ahead.
//
// Used by enc::HashingWriter once its output outgrows one buffer; small
// messages never start a thread. Private to core.
#pragma once

#include <openssl/evp.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "ribbon/error.hpp"

namespace ribbon::enc {

class HashPipeline {
public:
    static constexpr std::size_t kBufferSize = 256 * 1024;
    static constexpr std::size_t kBuffers = 4;

    // Starts the hasher over `ctx` (initialised, owned by the caller, not to
    // be touched until finish() returns). Null when no thread can be
    // started: the caller then hashes inline.
    static std::unique_ptr<HashPipeline> start(EVP_MD_CTX* ctx);
    // Stops the hasher without finishing (the digest is then unusable).
    ~HashPipeline();
    HashPipeline(const HashPipeline&) = delete;
    HashPipeline& operator=(const HashPipeline&) = delete;

    // A free buffer of kBufferSize bytes (waits for the hasher if need be).
    char* acquire();
    // `n` bytes of `buffer` (from acquire()) to be hashed after everything
    // submitted before; the buffer comes back through acquire() once done.
    void submit(char* buffer, std::size_t n);
    // Waits until everything submitted is hashed and stops the hasher.
    Result<void> finish();

private:
    explicit HashPipeline(EVP_MD_CTX* ctx);
    void run();
    void stop(bool abandon);

    EVP_MD_CTX* m_ctx;
    std::vector<std::unique_ptr<char[]>> m_storage;
    std::mutex m_mutex;
    std::condition_variable m_work;   // the hasher waits here
    std::condition_variable m_freed;  // the caller waits here
    std::deque<std::pair<char*, std::size_t>> m_queue;
    std::vector<char*> m_free;
    bool m_done = false;
    bool m_abandon = false;
    bool m_failed = false;  // guarded by m_mutex once the thread runs
    std::thread m_thread;
};

}  // namespace ribbon::enc
