// ribbon-mta-bench MESSAGE [COUNT] [SESSIONS] [options] — the milter row of
// `make bench` (issue 17): Postfix's smtp-source sends COUNT copies of
// MESSAGE over SESSIONS parallel SMTP sessions to a private Postfix that
// relays to smtp-sink, in four set-ups run alternately, ROUNDS times:
//   Postfix alone; with `ribbon milter` signing with RSA-2048; with it
//   signing with ECDSA P-256; with OpenDKIM (Debian's /usr/sbin/opendkim)
//   DKIM-signing with RSA-2048, the peer.
// A run lasts from the first connection until Postfix's queue is empty and
// the sink holds every message. Printed per set-up: messages/s, the ratio to
// Postfix alone in the same round, the milter's CPU time per message
// (utime + stime of its process, all threads) and the whole machine's busy
// CPU time per message. Every with-milter run checks that what arrived was
// signed (S/MIME, or a DKIM-Signature for OpenDKIM): a misconfigured milter
// that passes mail on untouched is not measured as fast.
//
// Options:
//   --rounds N            alternations (default 2)
//   --rsa KEY CERT        ribbon's RSA-2048 Digital ID (default: the test PKI's)
//   --ec KEY CERT         ribbon's ECDSA P-256 Digital ID (default: the test PKI's)
//   --chain PEM           their chain (default: the test PKI's intermediate)
//   --inet                milters on 127.0.0.1 ports (default: unix sockets)
//   --only SETUP          one set-up alone (alone, rsa, ec, opendkim), e.g.
//                         under `perf record -a`; its ratio column is then empty
//   --same-fs             Postfix's queue and the sink under $TMPDIR, instead of
//                         a fresh journaled ext4 for each run (bench/fresh_fs.hpp)
//
// Built from the test harness (tests/support/mta.hpp, milter_rig.hpp) so
// the benchmark runs the same Postfix set-up the tests check; needs root.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fresh_fs.hpp"
#include "proc_stat.hpp"
#include "support/milter_rig.hpp"
#include "support/pki.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ribbon::test;
using namespace ribbon::bench;
using Clock = std::chrono::steady_clock;

enum class Setup { alone, ribbon_rsa, ribbon_ec, opendkim };
constexpr Setup kSetups[] = {Setup::alone, Setup::ribbon_rsa, Setup::ribbon_ec, Setup::opendkim};

const char* setup_name(Setup s) {
    switch (s) {
        case Setup::alone: return "Postfix alone";
        case Setup::ribbon_rsa: return "+ ribbon milter, RSA-2048 S/MIME";
        case Setup::ribbon_ec: return "+ ribbon milter, ECDSA P-256 S/MIME";
        case Setup::opendkim: return "+ OpenDKIM, RSA-2048 DKIM";
    }
    return "";
}

struct Options {
    std::string message;
    int count = 2000;
    int sessions = 20;
    int rounds = 2;
    bool unix_socket = true;
    bool fresh_fs = true;
    std::vector<Setup> setups{std::begin(kSetups), std::end(kSetups)};
    fs::path rsa_key, rsa_cert, ec_key, ec_cert, chain;
};

struct Run {
    double per_second = 0;
    double milter_ms = 0;  // the milter's CPU ms per message
    double busy_ms = 0;    // the machine's busy CPU ms per message
    std::string error;
};

Run failed(std::string why) {
    Run r;
    r.error = std::move(why);
    return r;
}

// Debian's OpenDKIM in the foreground, signing mail from bank.example with
// a throw-away RSA-2048 key (relaxed/simple, rsa-sha256: its defaults apart
// from the header canonicalisation most senders choose).
class OpenDkim {
public:
    std::string start(const fs::path& dir, bool unix_socket) {
        const fs::path key = dir / "dkim.key";
        auto made = run_process({"openssl", "genrsa", "-out", key.string(), "2048"});
        if (made.exit_code != 0) return "openssl genrsa: " + made.describe();
        fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
        int port = unix_socket ? 0 : pick_free_port();
        m_socket = unix_socket ? "unix:" + (dir / "opendkim.sock").string()
                               : "inet:127.0.0.1:" + std::to_string(port);
        const std::string own = unix_socket ? "local:" + (dir / "opendkim.sock").string()
                                            : "inet:" + std::to_string(port) + "@127.0.0.1";
        const fs::path conf = dir / "opendkim.conf";
        write_file(conf, "Syslog no\nMode s\nDomain bank.example\nSelector bench\nKeyFile " + key.string() +
                             "\nCanonicalization relaxed/simple\nSignatureAlgorithm rsa-sha256\n"
                             "Socket " + own + "\nUMask 000\n"
                             // The key lives in a temporary directory under /tmp, which
                             // OpenDKIM's path check refuses (others may write to /tmp).
                             "RequireSafeKeys false\n");
        const fs::path log = dir / "opendkim.log";
        daemon::SpawnSpec spec;
        spec.argv = {"/usr/sbin/opendkim", "-f", "-x", conf.string()};
        spec.output = log;
        m_daemon = std::make_unique<daemon::Daemon>();
        if (auto e = m_daemon->start(spec); !e.empty()) return "cannot start opendkim: " + e;
        pid_t pid = m_daemon->pid();
        const fs::path sock = dir / "opendkim.sock";
        return daemon::wait_until_ready(
            m_daemon, [&] { return unix_socket ? fs::exists(sock) : daemon::listening(pid, port); }, "opendkim",
            log);
    }
    const std::string& socket() const { return m_socket; }
    pid_t pid() const { return m_daemon ? m_daemon->pid() : -1; }

private:
    std::string m_socket;
    std::unique_ptr<daemon::Daemon> m_daemon;
};

// What a run's sink must show: every message signed the set-up's way.
std::string check_signed(Setup setup, SmtpSink& sink) {
    if (setup == Setup::alone) return {};
    for (const SinkMessage& m : sink.messages()) {
        std::string head = "\n";
        head.append(m.data, 0, m.data.find("\r\n\r\n"));
        const bool ok = setup == Setup::opendkim ? head.find("\nDKIM-Signature:") != std::string::npos
                                                 : head.find("multipart/signed") != std::string::npos ||
                                                       head.find("application/pkcs7-mime") != std::string::npos;
        if (!ok) return std::string(setup_name(setup)) + ": a message arrived unsigned:\n" + m.data.substr(0, 2000);
    }
    return {};
}

// Starts the milter of `setup` (none for Postfix alone); its pid, or -1.
std::string start_milter(Setup setup, const Options& o, MilterRig& rig, OpenDkim& dkim, PostfixOptions& pf,
                         pid_t& pid) {
    pid = -1;
    if (setup == Setup::alone) return {};
    if (setup == Setup::opendkim) {
        if (auto e = dkim.start(rig.dir(), o.unix_socket); !e.empty()) return e;
        pf.smtpd_milters = pf.non_smtpd_milters = dkim.socket();
        pid = dkim.pid();
        return {};
    }
    if (o.unix_socket) rig.use_unix_socket();
    if (setup == Setup::ribbon_ec) {
        if (auto e = rig.use_digital_id(o.ec_key, o.ec_cert, o.chain); !e.empty()) return e;
    } else if (!o.rsa_key.empty()) {
        if (auto e = rig.use_digital_id(o.rsa_key, o.rsa_cert, o.chain); !e.empty()) return e;
    }
    if (auto e = rig.start_milter(); !e.empty()) return e;
    pf.smtpd_milters = pf.non_smtpd_milters = rig.milter_socket();
    pid = rig.milter_pid();
    return {};
}

Run run(Setup setup, const Options& o) {
    MilterRig rig;
    OpenDkim dkim;
    PostfixOptions pf;
    // Enough smtpd and smtp processes for the sessions and the sink. The
    // same Postfix settings for every set-up (milter_protocol = 6).
    pf.extra_main_cf = {"default_process_limit = 100", "smtp_destination_concurrency_limit = 20",
                        "default_destination_concurrency_limit = 20"};
    pid_t milter = -1;
    if (auto e = start_milter(setup, o, rig, dkim, pf, milter); !e.empty()) return failed(e);
    // The milter (if any) is named in pf: start_mta must not set the rig's.
    if (auto e = rig.start_mta({}, pf, false); !e.empty()) return failed(e);
    // For `perf report --pid` when the run is profiled.
    if (milter > 0) std::fprintf(stderr, "%s: milter pid %d\n", setup_name(setup), static_cast<int>(milter));

    const double busy0 = machine_busy_jiffies();
    const double milter0 = milter > 0 ? process_jiffies(milter) : 0;
    const auto t0 = Clock::now();
    const std::string target = "127.0.0.1:" + std::to_string(rig.postfix().smtp_port());
    auto sent = run_process({"/usr/sbin/smtp-source", "-s", std::to_string(o.sessions), "-m", std::to_string(o.count),
                             "-F", o.message, "-f", "no-reply@bank.example", "-t", "customer@example.org",
                             "-M", "bench.example", target},
                            ProcessOptions{{}, {}, {}, std::chrono::milliseconds(600000)});
    if (sent.exit_code != 0) return failed("smtp-source: " + sent.describe());
    if (!rig.postfix().wait_queue_size(0, std::chrono::minutes(10))) {
        return failed("the queue did not drain:\n" + rig.describe());
    }
    if (!rig.sink().wait_for(o.count, std::chrono::seconds(30))) {
        return failed("the sink holds " + std::to_string(rig.sink().count()) + " of " + std::to_string(o.count));
    }
    const auto t1 = Clock::now();
    const double busy1 = machine_busy_jiffies();
    const double milter1 = milter > 0 ? process_jiffies(milter) : 0;
    if (auto e = check_signed(setup, rig.sink()); !e.empty()) return failed(e);
    const double tick_ms = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    Run r;
    r.per_second = o.count / std::chrono::duration<double>(t1 - t0).count();
    r.milter_ms = (milter1 - milter0) * tick_ms / o.count;
    r.busy_ms = (busy1 - busy0) * tick_ms / o.count;
    return r;
}

// run() with Postfix's queue, the sink and the milter's files (every
// TempDir: TMPDIR) on a file system made for this run alone.
Run run_on_fresh_fs(Setup setup, const Options& o) {
    if (!o.fresh_fs) return run(setup, o);
    FreshFs scratch;
    if (auto e = scratch.mount(); !e.empty()) return failed(e + " (--same-fs runs without it)");
    const char* before = std::getenv("TMPDIR");
    const std::string saved = before ? before : "";
    ::setenv("TMPDIR", scratch.dir().c_str(), 1);
    Run r = run(setup, o);
    if (before) ::setenv("TMPDIR", saved.c_str(), 1);
    else ::unsetenv("TMPDIR");
    return r;
}

// Parses the command line; "" or what is wrong with it.
std::string parse(int argc, char** argv, Options& o) {
    auto number = [](const char* text) {
        char* end = nullptr;
        long v = std::strtol(text, &end, 10);
        return *end == '\0' && v > 0 && v <= 1'000'000 ? static_cast<int>(v) : -1;
    };
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const int left = argc - i - 1;
        if (a == "--rounds" && left >= 1) {
            o.rounds = number(argv[++i]);
        } else if (a == "--rsa" && left >= 2) {
            o.rsa_key = argv[++i];
            o.rsa_cert = argv[++i];
        } else if (a == "--ec" && left >= 2) {
            o.ec_key = argv[++i];
            o.ec_cert = argv[++i];
        } else if (a == "--chain" && left >= 1) {
            o.chain = argv[++i];
        } else if (a == "--only" && left >= 1) {
            const std::string name = argv[++i];
            const char* names[] = {"alone", "rsa", "ec", "opendkim"};
            auto at = std::find(std::begin(names), std::end(names), name);
            if (at == std::end(names)) return "--only: alone, rsa, ec or opendkim";
            o.setups = {kSetups[at - std::begin(names)]};
        } else if (a == "--inet") {
            o.unix_socket = false;
        } else if (a == "--same-fs") {
            o.fresh_fs = false;
        } else if (a.starts_with("--")) {
            return "unknown option or missing value: " + a;
        } else {
            positional.push_back(a);
        }
    }
    if (positional.empty() || positional.size() > 3) return "MESSAGE [COUNT] [SESSIONS] expected";
    o.message = positional[0];
    if (positional.size() > 1) o.count = number(positional[1].c_str());
    if (positional.size() > 2) o.sessions = number(positional[2].c_str());
    if (o.count < 0 || o.sessions < 0 || o.rounds < 0) return "COUNT, SESSIONS and --rounds must be positive numbers";
    if (!o.rsa_key.empty() && o.chain.empty()) return "--rsa needs --chain";
    if (!o.ec_key.empty() && o.chain.empty()) return "--ec needs --chain";
    if (o.ec_key.empty()) {  // the test PKI's (made on first use)
        o.ec_key = pki().ecdsa.key;
        o.ec_cert = pki().ecdsa.cert;
        if (o.chain.empty()) o.chain = pki().chain;
    }
    return {};
}

std::string range(const std::vector<double>& v, const char* format) {
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    char a[32], b[32];
    std::snprintf(a, sizeof a, format, *lo);
    std::snprintf(b, sizeof b, format, *hi);
    return std::strcmp(a, b) == 0 ? a : std::string(a) + "–" + b;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (auto e = parse(argc, argv, o); !e.empty()) {
        std::fprintf(stderr,
                     "ribbon-mta-bench: %s\nusage: ribbon-mta-bench MESSAGE [COUNT] [SESSIONS] [--rounds N] "
                     "[--rsa KEY CERT] [--ec KEY CERT] [--chain PEM] [--inet] [--only SETUP] [--same-fs]\n",
                     e.c_str());
        return 64;
    }
    if (auto why = mta_unavailable_reason(); !why.empty()) {
        std::fprintf(stderr, "ribbon-mta-bench: %s\n", why.c_str());
        return 69;
    }
    // runs[setup][round]; the set-ups alternate within each round so that
    // each ratio compares runs made seconds apart.
    const std::vector<Setup>& setups = o.setups;
    std::vector<std::vector<Run>> runs(setups.size());
    for (int round = 0; round < o.rounds; ++round) {
        for (std::size_t s = 0; s < setups.size(); ++s) {
            Run r = run_on_fresh_fs(setups[s], o);
            if (!r.error.empty()) {
                std::fprintf(stderr, "ribbon-mta-bench: %s: %s\n", setup_name(setups[s]), r.error.c_str());
                return 70;
            }
            std::fprintf(stderr, "round %d: %s: %.0f msg/s, milter %.3f ms/msg, machine %.3f ms/msg\n", round + 1,
                         setup_name(setups[s]), r.per_second, r.milter_ms, r.busy_ms);
            runs[s].push_back(r);
        }
    }
    std::printf("| smtp-source → Postfix → smtp-sink, %d messages, %d sessions, %d alternated rounds, %s sockets, %s "
                "| msg/s | ratio to Postfix alone | milter CPU ms/msg | machine busy CPU ms/msg |\n"
                "|---|---:|---:|---:|---:|\n",
                o.count, o.sessions, o.rounds, o.unix_socket ? "unix" : "inet",
                o.fresh_fs ? "a fresh journaled ext4 per run" : "queue under $TMPDIR");
    const bool alternated = setups.size() == std::size(kSetups);
    for (std::size_t s = 0; s < setups.size(); ++s) {
        std::vector<double> rate, ratio, milter, busy;
        for (int i = 0; i < o.rounds; ++i) {
            rate.push_back(runs[s][i].per_second);
            ratio.push_back(runs[s][i].per_second / runs[0][i].per_second);
            milter.push_back(runs[s][i].milter_ms);
            busy.push_back(runs[s][i].busy_ms);
        }
        const bool alone = setups[s] == Setup::alone;
        std::printf("| %s | %s | %s | %s | %s |\n", setup_name(setups[s]), range(rate, "%.0f").c_str(),
                    !alternated ? "–" : alone ? "1" : range(ratio, "%.2f").c_str(),
                    alone ? "–" : range(milter, "%.2f").c_str(), range(busy, "%.2f").c_str());
    }
    return 0;
}
