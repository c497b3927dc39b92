// ribbon-mta-bench MESSAGE [COUNT] [SESSIONS] [unix|inet] — the load row of `make
// bench`: Postfix's smtp-source sends COUNT copies of MESSAGE over SESSIONS
// parallel SMTP sessions to a private Postfix that relays to smtp-sink, once
// without and once with `ribbon milter`, and prints messages/s for both
// (from the first connection until Postfix's queue is empty and the sink
// holds every message) and the milter's share of the machine's CPU time.
//
// Built from the test harness (tests/support/mta.hpp, milter_rig.hpp) so
// the benchmark runs the same Postfix set-up the tests check; needs root.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "proc_stat.hpp"
#include "support/milter_rig.hpp"

namespace {

using namespace ribbon::test;
using namespace ribbon::bench;
using Clock = std::chrono::steady_clock;

struct Run {
    double seconds = 0;
    double per_second = 0;
    double milter_cpu_share = 0;  // of the busy CPU time of the machine
    double milter_cores = 0;      // milter CPU seconds per wall second
    std::string error;
};

Run run(bool with_milter, const std::string& message_file, int count, int sessions, bool unix_socket) {
    Run r;
    MilterRig rig;
    if (unix_socket) rig.use_unix_socket();
    if (with_milter) {
        if (auto e = rig.start_milter(); !e.empty()) return {0, 0, 0, 0, e};
    }
    PostfixOptions pf;
    // Enough smtpd and smtp processes for the sessions and the sink.
    pf.extra_main_cf = {"default_process_limit = 100", "smtp_destination_concurrency_limit = 20",
                        "default_destination_concurrency_limit = 20"};
    if (auto e = rig.start_mta({}, pf, with_milter); !e.empty()) return {0, 0, 0, 0, e};

    double busy0 = machine_busy_jiffies();
    double milter0 = with_milter ? process_jiffies(rig.milter_pid()) : 0;
    auto t0 = Clock::now();
    std::string target = "127.0.0.1:" + std::to_string(rig.postfix().smtp_port());
    auto sent = run_process({"/usr/sbin/smtp-source", "-s", std::to_string(sessions), "-m", std::to_string(count),
                             "-F", message_file, "-f", "no-reply@bank.example", "-t", "customer@example.org",
                             "-M", "bench.example", target},
                            ProcessOptions{{}, {}, {}, std::chrono::milliseconds(600000)});
    if (sent.exit_code != 0) return {0, 0, 0, 0, "smtp-source: " + sent.describe()};
    if (!rig.postfix().wait_queue_size(0, std::chrono::minutes(10))) {
        return {0, 0, 0, 0, "the queue did not drain:\n" + rig.describe()};
    }
    auto t1 = Clock::now();
    double busy1 = machine_busy_jiffies();
    double milter1 = with_milter ? process_jiffies(rig.milter_pid()) : 0;
    std::size_t delivered = rig.sink().count();
    if (delivered != static_cast<std::size_t>(count)) {
        return {0, 0, 0, 0, "the sink holds " + std::to_string(delivered) + " of " + std::to_string(count)};
    }
    r.seconds = std::chrono::duration<double>(t1 - t0).count();
    r.per_second = count / r.seconds;
    if (with_milter && busy1 > busy0) {
        r.milter_cpu_share = (milter1 - milter0) / (busy1 - busy0);
        r.milter_cores = (milter1 - milter0) / static_cast<double>(::sysconf(_SC_CLK_TCK)) / r.seconds;
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: ribbon-mta-bench MESSAGE [COUNT] [SESSIONS] [unix|inet]\n");
        return 64;
    }
    if (auto why = mta_unavailable_reason(); !why.empty()) {
        std::fprintf(stderr, "ribbon-mta-bench: %s\n", why.c_str());
        return 69;
    }
    std::string message = argv[1];
    auto number = [](const char* text) {
        char* end = nullptr;
        long v = std::strtol(text, &end, 10);
        return *end == '\0' && v > 0 && v <= 1'000'000 ? static_cast<int>(v) : -1;
    };
    int count = argc > 2 ? number(argv[2]) : 5000;
    int sessions = argc > 3 ? number(argv[3]) : 20;
    if (count < 0 || sessions < 0) {
        std::fprintf(stderr, "ribbon-mta-bench: COUNT and SESSIONS must be positive numbers\n");
        return 64;
    }
    bool unix_socket = argc <= 4 || std::string(argv[4]) != "inet";
    Run without = run(false, message, count, sessions, unix_socket);
    Run with = run(true, message, count, sessions, unix_socket);
    for (const Run* r : {&without, &with}) {
        if (!r->error.empty()) {
            std::fprintf(stderr, "ribbon-mta-bench: %s\n", r->error.c_str());
            return 70;
        }
    }
    std::printf("| smtp-source → Postfix → smtp-sink, %d messages, %d sessions | msg/s | seconds | "
                "milter share of busy CPU | milter cores |\n|---|---:|---:|---:|---:|\n", count, sessions);
    std::printf("| without milter | %.0f | %.1f | – | – |\n", without.per_second, without.seconds);
    std::printf("| with ribbon milter (RSA-2048, %s socket) | %.0f | %.1f | %.0f %% | %.2f |\n",
                unix_socket ? "unix" : "inet", with.per_second, with.seconds,
                with.milter_cpu_share * 100, with.milter_cores);
    return 0;
}
