// ribbon_bench.cpp — in-process signing throughput for `make bench`.
//
// Loads one Digital ID, then signs the same message from N threads for a
// fixed time and prints "messages_per_second=X" for bench/run.sh to put
// beside `openssl speed`. The message is signed from memory into memory so
// that the figure is ribbon's own cost, not the disk's.
//
// SECONDS may instead be a message count per thread, written "500x": the run
// then signs exactly that many, which makes instruction counts under
// `valgrind --tool=callgrind` comparable between builds (divide by the
// total printed as "messages=N" on stderr).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ribbon/signer.hpp"

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: ribbon-bench KEY CERT CHAIN MESSAGE THREADS SECONDS|COUNTx [detached|opaque]\n");
    return 64;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 7) return usage();
    auto id = ribbon::DigitalId::load(argv[1], argv[2], std::string(argv[3]));
    if (!id) {
        std::fprintf(stderr, "ribbon-bench: %s\n", id.error().message().c_str());
        return 78;
    }
    auto signer = ribbon::Signer::create(*id);
    if (!signer) {
        std::fprintf(stderr, "ribbon-bench: %s\n", signer.error().message().c_str());
        return 78;
    }
    std::ifstream in(argv[4], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string message = ss.str();
    const int threads = std::atoi(argv[5]);
    const std::string duration = argv[6];
    const bool counted = !duration.empty() && duration.back() == 'x';
    const long per_thread = counted ? std::atol(duration.c_str()) : 0;
    const double seconds = counted ? 1 : std::atof(argv[6]);
    ribbon::SignOptions options;
    if (argc > 7 && std::string(argv[7]) == "opaque") options.mode = ribbon::SignMode::opaque;
    if (threads < 1 || seconds <= 0 || (counted && per_thread < 1)) return usage();

    std::atomic<bool> stop{false};
    std::atomic<bool> failed{false};
    std::vector<long> counts(static_cast<std::size_t>(threads), 0);
    auto worker = [&](int t) {
        long n = 0;
        while (counted ? n < per_thread : !stop.load(std::memory_order_relaxed)) {
            ribbon::StringSink out;
            auto r = signer->sign(ribbon::MessageInput::from_memory(message), out, options);
            if (!r) {
                std::fprintf(stderr, "ribbon-bench: %s\n", r.error().message().c_str());
                failed = true;
                return;
            }
            ++n;
        }
        counts[static_cast<std::size_t>(t)] = n;
    };
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
    if (!counted) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : pool) t.join();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (failed) return 1;
    long total = 0;
    for (long c : counts) total += c;
    if (counted) std::fprintf(stderr, "messages=%ld\n", total);
    std::printf("messages_per_second=%.1f\n", static_cast<double>(total) / elapsed);
    return 0;
}
