// ribbon-policy-bench DIR — the cost of the recipient policy per message
// (issue 6: it must not show in the signing benchmark; target ≤ 50 µs per
// message from a warm cache). A SQLite store in DIR is filled with 10,000
// customers of every standing; then RecipientPolicy::decide is timed:
//   cold  — each address once, every call a store query;
//   warm  — 1,000,000 calls over the same addresses in random order, one
//           thread and two (the daemons' worker threads share one cache).
//
// ribbon-policy-bench --continuity DIR — the cost of key continuity per
// verified message (issue 15: target ≤ 100 µs on SQLite):
// RecipientStore::observe_key on a store holding 1,000 senders, timed for
// a new message under a known key (read the address's keys, judge, count:
// one transaction) and read-only (--no-record), then with 8 threads at once
// (each on its own connection, and through one inbound::SightingRecorder),
// on SQLite in DIR and on a private PostgreSQL over loopback TCP
// (tests/support/postgres.hpp; the row says why when it cannot run here).
// Wall-clock and the process's CPU time per message.
// Prints a Markdown table row per figure.
#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "inbound/sighting_recorder.hpp"
#include "ribbon/recipient_policy.hpp"
#include "support/postgres.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kCustomers = 10000;
constexpr int kWarmCalls = 1000000;

double micros_per_call(Clock::duration elapsed, long calls) {
    return std::chrono::duration<double, std::micro>(elapsed).count() / static_cast<double>(calls);
}

// ---- key continuity ----------------------------------------------------------

constexpr int kSenders = 1000;

ribbon::KeySighting sighting(int sender, long message) {
    ribbon::KeySighting s;
    s.address = "sender" + std::to_string(sender) + "@example.org";
    char key[65];
    std::snprintf(key, sizeof key, "%064x", sender);
    s.spki_sha256 = key;
    s.certificate.sha256 = key;
    s.certificate.sha256[0] = 'f';  // another digest, still hex
    s.certificate.subject = "CN=Sender " + std::to_string(sender);
    s.certificate.issuer = "CN=Customer CA";
    s.certificate.serial_hex = "01";
    s.certificate.not_before = 1'780'000'000;
    s.certificate.not_after = 1'820'000'000;
    s.message_key = std::string("<").append(std::to_string(message)).append("@example.org> 3f2a");
    s.time = 1'790'000'000 + message;
    return s;
}

// Wall-clock and process CPU time per message over a run: the CPU figure
// includes the threads ribbon runs besides the callers (the recorder's
// writer, the SQLite checkpointer), not a PostgreSQL server's work.
struct PerMessage {
    double wall = -1;
    double cpu = -1;
};

class Stopwatch {
  public:
    Stopwatch() : m_wall(Clock::now()), m_cpu(cpu_now()) {}
    PerMessage per(long messages) const {
        return {micros_per_call(Clock::now() - m_wall, messages),
                (cpu_now() - m_cpu) * 1e6 / static_cast<double>(messages)};
    }

  private:
    static double cpu_now() {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    }
    Clock::time_point m_wall;
    double m_cpu;
};

void print_row(const std::string& what, PerMessage p) {
    std::printf("| %s | %.1f | %.1f |\n", what.c_str(), p.wall, p.cpu);
}

// observe_key in `mode` over `calls` new messages from random senders;
// messages numbered from `first`. nullopt after printing an error.
std::optional<PerMessage> time_observe(ribbon::RecipientStore& store, ribbon::KeyRecording mode,
                                       long first, long calls) {
    std::mt19937 rng(static_cast<unsigned>(first));
    std::uniform_int_distribution<int> pick(0, kSenders - 1);
    const Stopwatch watch;
    for (long i = 0; i < calls; ++i) {
        auto r = store.observe_key(sighting(pick(rng), first + i), mode);
        if (!r) {
            std::fprintf(stderr, "ribbon-policy-bench: %s\n", r.error().message().c_str());
            return std::nullopt;
        }
    }
    return watch.per(calls);
}

// The inbound milter's case: kVerifiers threads, as many SMTP connections,
// each recording the sightings of the messages it verifies, either through
// one SightingRecorder (group commit) or each on a store connection of its
// own. nullopt after printing an error.
constexpr int kVerifiers = 8;

std::optional<PerMessage> time_threads(const std::string& url,
                                       ribbon::inbound::SightingRecorder* recorder, long first,
                                       long calls) {
    const long each = calls / kVerifiers;
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    const Stopwatch watch;
    for (int t = 0; t < kVerifiers; ++t) {
        threads.emplace_back([&, t] {
            std::unique_ptr<ribbon::RecipientStore> own;
            if (!recorder) {
                auto opened = ribbon::RecipientStore::open(url);
                if (!opened) {
                    std::fprintf(stderr, "ribbon-policy-bench: %s\n",
                                 opened.error().message().c_str());
                    failed = true;
                    return;
                }
                own = std::move(*opened);
            }
            std::mt19937 rng(static_cast<unsigned>(first + t));
            std::uniform_int_distribution<int> pick(0, kSenders - 1);
            for (long i = 0; i < each && !failed; ++i) {
                const ribbon::KeySighting s = sighting(pick(rng), first + t * each + i);
                auto r = recorder ? recorder->record(s)
                                  : own->observe_key(s, ribbon::KeyRecording::record);
                if (!r) {
                    std::fprintf(stderr, "ribbon-policy-bench: %s\n", r.error().message().c_str());
                    failed = true;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    if (failed) return std::nullopt;
    return watch.per(each * kVerifiers);
}

// One backend's rows; `calls` per figure after a warm-up.
void continuity_rows(const std::string& backend, const std::string& url, long calls) {
    auto opened = ribbon::RecipientStore::open(url);
    if (!opened) {
        std::printf("| %s | skipped: %s | |\n", backend.c_str(), opened.error().message().c_str());
        return;
    }
    ribbon::RecipientStore& store = **opened;
    for (int s = 0; s < kSenders; ++s) {  // every sender known, 3 messages each
        for (long m = 0; m < 3; ++m) {
            if (!store.observe_key(sighting(s, s * 3 + m), ribbon::KeyRecording::record)) {
                std::printf("| %s | skipped: filling the store failed | |\n", backend.c_str());
                return;
            }
        }
    }
    long next = 10 * kSenders;
    if (!time_observe(store, ribbon::KeyRecording::record, next, calls / 10)) return;  // warm
    next += calls;
    const auto record = time_observe(store, ribbon::KeyRecording::record, next, calls);
    next += calls;
    const auto read_only = time_observe(store, ribbon::KeyRecording::read_only, next, calls);
    next += calls;
    if (!record || !read_only) return;
    print_row(backend + ": record, one message at a time (read the keys, judge, count; one "
                        "transaction)",
              *record);
    print_row(backend + ": read-only (--no-record)", *read_only);
    const auto own = time_threads(url, nullptr, next, calls);
    next += calls;
    if (!own) return;
    print_row(backend + ": record, " + std::to_string(kVerifiers) +
                  " threads at once, each on its own connection",
              *own);
    ribbon::inbound::SightingRecorder recorder(url);
    const auto grouped = time_threads(url, &recorder, next, calls);
    if (!grouped) return;
    const auto counts = recorder.counts();
    char label[200];
    std::snprintf(label, sizeof label,
                  ": record, %d threads at once through one SightingRecorder (group commit, %.1f "
                  "messages per transaction)",
                  kVerifiers,
                  static_cast<double>(counts.sightings) / static_cast<double>(counts.transactions));
    print_row(backend + label, *grouped);
}

int continuity(const std::string& dir) {
    std::printf("| key continuity (observe_key, %d known senders, a new message each call) | µs "
                "per message | ribbon's CPU µs per message |\n",
                kSenders);
    std::printf("|---|---:|---:|\n");
    continuity_rows("SQLite", "sqlite://" + dir + "/continuity.db", 20000);
    if (auto why = ribbon::test::postgres_unavailable_reason(); !why.empty()) {
        std::printf("| PostgreSQL | skipped: %s | |\n", why.c_str());
        return 0;
    }
    ribbon::test::PostgresServer pg;
    if (auto why = pg.start(); !why.empty()) {
        std::printf("| PostgreSQL | skipped: the private server did not start | |\n");
        std::fprintf(stderr, "ribbon-policy-bench: %s\n", why.c_str());
        return 0;
    }
    if (auto why = pg.create_database("continuity"); !why.empty()) {
        std::printf("| PostgreSQL | skipped: CREATE DATABASE failed | |\n");
        std::fprintf(stderr, "ribbon-policy-bench: %s\n", why.c_str());
        return 0;
    }
    continuity_rows("PostgreSQL (loopback)", pg.url("continuity"), 2000);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--continuity") return continuity(argv[2]);
    if (argc != 2) {
        std::fprintf(stderr, "usage: ribbon-policy-bench DIR | --continuity DIR\n");
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
