// ribbon-policy-bench DIR — the cost of the recipient policy per message
// (issue 6: it must not show in the signing benchmark; target ≤ 50 µs per
// message from a warm cache). A SQLite store in DIR is filled with 10,000
// customers of every standing; then RecipientPolicy::decide is timed:
//   cold  — each address once, every call a store query;
//   warm  — 1,000,000 calls over the same addresses in random order, one
//           thread and two (the daemons' worker threads share one cache).
// Prints a Markdown table row per figure.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ribbon/recipient_policy.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kCustomers = 10000;
constexpr int kWarmCalls = 1000000;

double micros_per_call(Clock::duration elapsed, long calls) {
    return std::chrono::duration<double, std::micro>(elapsed).count() / static_cast<double>(calls);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: ribbon-policy-bench DIR\n");
        return 64;
    }
    using namespace ribbon;
    StoreSettings settings;
    settings.url = std::string("sqlite://") + argv[1] + "/bench.db";
    std::vector<std::string> addresses;
    {
        auto store = RecipientStore::open(settings.url);
        if (!store) {
            std::fprintf(stderr, "ribbon-policy-bench: %s\n", store.error().message().c_str());
            return 75;
        }
        for (int i = 0; i < kCustomers; ++i) {
            Observation o;
            o.address = "customer" + std::to_string(i) + "@example.org";
            o.time = 1'790'000'000;
            o.capability = static_cast<SmimeSupport>(i % 3);
            o.confidence = i % 3 == 0 ? 0 : 0.8;
            if (auto r = (*store)->record(o); !r) {
                std::fprintf(stderr, "ribbon-policy-bench: %s\n", r.error().message().c_str());
                return 75;
            }
            addresses.push_back(o.address);
        }
    }
    RecipientPolicy policy(settings);
    if (auto r = policy.connect(); !r) {
        std::fprintf(stderr, "ribbon-policy-bench: %s\n", r.error().message().c_str());
        return 75;
    }
    SignerRule rule;
    rule.from = "no-reply@bank.example";
    const std::vector<std::string> opaque_for = {"broken-gateway.example"};
    long signed_count = 0;
    auto decide = [&](const std::string& a) {
        auto d = policy.decide(rule, a, opaque_for);
        if (!d) {
            std::fprintf(stderr, "ribbon-policy-bench: %s\n", d.error().message().c_str());
            std::exit(75);
        }
        return d->treatment != Treatment::plain;
    };

    auto start = Clock::now();
    for (const auto& a : addresses) signed_count += decide(a);
    const double cold = micros_per_call(Clock::now() - start, kCustomers);

    auto warm_run = [&](unsigned seed, long calls) {
        std::mt19937 rng(seed);
        std::uniform_int_distribution<int> pick(0, kCustomers - 1);
        long n = 0;
        for (long i = 0; i < calls; ++i) n += decide(addresses[static_cast<std::size_t>(pick(rng))]);
        return n;
    };
    start = Clock::now();
    warm_run(1, kWarmCalls);
    const double warm1 = micros_per_call(Clock::now() - start, kWarmCalls);

    start = Clock::now();
    std::thread other([&] { warm_run(2, kWarmCalls / 2); });
    warm_run(3, kWarmCalls / 2);
    other.join();
    // Wall time for all calls on two threads: the cost of one decision as
    // the daemon sees it, contention on the cache's mutex included.
    const double warm2 = micros_per_call(Clock::now() - start, kWarmCalls);

    std::printf("| recipient policy (SQLite, %d customers, %ld signed) | µs per decision |\n", kCustomers,
                signed_count);
    std::printf("|---|---:|\n");
    std::printf("| cold: every call a store query | %.2f |\n", cold);
    std::printf("| warm cache, 1 thread | %.3f |\n", warm1);
    std::printf("| warm cache, 2 threads (wall time / calls) | %.3f |\n", warm2);
    return 0;
}
