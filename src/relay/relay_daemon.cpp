// relay_daemon.cpp — `ribbon relay`: start-up, privileges, reload and stop
// around the SMTP server (server.cpp, session.cpp).
//
// As for the milter: the configuration is validated and every Digital ID
// loaded while still root, the listening sockets are bound (port 25/587
// need root), then root is dropped for good before the first client.
#include "relay/relay_daemon.hpp"

#include <sysexits.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>

#include <cstdlib>
#include <thread>

#include "daemon/daemon.hpp"
#include "daemon/history_writer.hpp"
#include "daemon/metrics_server.hpp"
#include "relay/server.hpp"

namespace ribbon::relay {

namespace asio = boost::asio;

namespace {

// How long sessions may take to end after relay.stop_grace (see run()).
constexpr auto kAbortBackstop = std::chrono::seconds(60);

unsigned worker_count(const RelaySettings& rs) {
    if (rs.workers != 0) return rs.workers;
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 2 : n;
}

void warn_about(spdlog::logger& log, const Runtime& rt) {
    for (const auto& w : rt.pool->warnings()) log.warn("{}", w);
    if (rt.config.signers.empty()) log.warn("no [[signer]] entries: every message passes unsigned");
    const NextHopSettings& n = rt.config.relay.next_hop;
    if (n.kind != NextHopSettings::Kind::maildir && !n.verify) {
        log.warn("relay.next_hop.verify = false: the next hop's certificate is not checked");
    }
}

// While still root: the listening sockets (ports below 1024) and the
// maildir next hop handed to [daemon] user; then root is dropped for good.
Result<void> bind_and_drop_root(Server& server, const Config& config) {
    if (auto r = server.listen(config.relay.listen, false); !r) return r;
    if (auto r = server.listen(config.relay.listen_tls, true); !r) return r;
    if (const NextHopSettings& n = config.relay.next_hop; n.kind == NextHopSettings::Kind::maildir) {
        // NextHop::create made it, as root: the relay writes there as [daemon] user.
        for (const char* sub : {"", "tmp", "new", "cur"}) {
            if (auto r = daemon::hand_over((n.maildir / sub).string(), config.daemon); !r) return r;
        }
    }
    if (auto r = daemon::prepare_store_dir(config.store, config.daemon); !r) return r;
    return daemon::drop_privileges(config.daemon);
}

// SIGTERM: stop taking clients and let transactions in progress end, for
// relay.stop_grace at most; then end the rest with 421 4.3.2.
void drain(Server& server, spdlog::logger& log) {
    // Sessions
    // end by themselves, on the I/O thread, so each is destroyed once and
    // while the server still exists; the io_context is left with nothing to
    // run and returns. (Stopping it with sessions suspended would leave
    // their frames to ~io_context, after the server they point to.)
    server.stop();
    const auto grace = server.runtime()->config.relay.stop_grace;
    auto deadline = std::chrono::steady_clock::now() + grace;
    auto wait_for_sessions = [&](auto until) {
        while (server.sessions() > 0 && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    };
    wait_for_sessions(deadline);
    if (server.sessions() > 0) {
        log.warn("stop: {} sessions still open after relay.stop_grace ({} s): ending them with 421 4.3.2",
                 server.sessions(), grace.count());
        server.abort();
        // Every wait left to a session is bounded (about 5 s each), so
        // this is a backstop against a bug. Returning with a session
        // suspended would free it twice (see above); a client still
        // waiting then has had no 250, so it sends the message again.
        wait_for_sessions(std::chrono::steady_clock::now() + kAbortBackstop);
        if (server.sessions() > 0) {
            log.critical("stop: {} sessions did not end within {} s of 421: exiting at once",
                         server.sessions(), kAbortBackstop.count());
            log.flush();
            std::_Exit(EX_SOFTWARE);
        }
    }
}

}  // namespace

Result<void> run(const std::filesystem::path& config_path) {
    // Before the worker threads start (they inherit the mask), and before
    // anything listens: a SIGHUP sent as soon as the port answers must
    // reload, not kill.
    daemon::block_control_signals();
    asio::io_context io(1);
    auto first = Config::load(config_path);
    if (!first) return std::move(first).error();
    asio::thread_pool workers(worker_count(first->relay));
    auto telemetry = std::make_shared<daemon::Telemetry>(daemon::FrontEndKind::relay);
    auto runtime = load_runtime(config_path, io, workers, telemetry);
    if (!runtime) return std::move(runtime).error();
    const Config& config = (*runtime)->config;
    auto log = daemon::make_logger("ribbon-relay", config.daemon);
    Server server(io, workers, log);
    server.set_runtime(*runtime);
    telemetry->set_pool((*runtime)->pool);
    warn_about(*log, **runtime);
    // Bound while still root, as the SMTP listeners: any port may be configured.
    auto metrics = daemon::serve_metrics(config.metrics, telemetry);
    if (!metrics) return std::move(metrics).error();
    if (auto r = bind_and_drop_root(server, config); !r) return r;
    if (auto r = daemon::connect_store(*(*runtime)->policy, *log); !r) return r;
    // The dashboard's kept history, written as the daemon's user; its last
    // minute when this function returns.
    std::unique_ptr<daemon::HistoryWriter> history;
    if (!config.store.url.empty()) {
        history = std::make_unique<daemon::HistoryWriter>(config.store.url, daemon::host_name(), telemetry, log);
    }
    if (*metrics) {
        log->info("metrics on http://{}/metrics", daemon::metrics_listen(config.metrics, daemon::FrontEndKind::relay));
    }

    server.start();
    // The I/O thread runs until every session has ended, even while the
    // only thing left is a worker's job whose result it must take back.
    auto busy = asio::make_work_guard(io);
    std::thread io_thread([&] { io.run(); });
    log->info("listening on {} as uid {}; next hop {}; {} [[signer]] entries; {} signing workers",
              fmt::format("{}", fmt::join(config.relay.listen, ", ")) +
                  (config.relay.listen_tls.empty() ? ""
                                                   : fmt::format(" (TLS on {})", fmt::join(config.relay.listen_tls, ", "))),
              ::getuid(), (*runtime)->next_hop->describe(),
              config.signers.size(), worker_count(config.relay));
    if ((*runtime)->prepare_inline) log->info("one CPU available: messages are signed on the I/O thread");

    auto reload = [&] {
        auto next = daemon::checked_for_reload(load_runtime(config_path, io, workers, telemetry), *log);
        if (!next) return;
        const Config& a = server.runtime()->config;
        const Config& b = next->config;
        if (a.relay.listen != b.relay.listen || a.relay.listen_tls != b.relay.listen_tls || a.relay.workers != b.relay.workers || a.daemon.user != b.daemon.user ||
            a.daemon.group != b.daemon.group || a.daemon.log != b.daemon.log) {
            log->warn("reload: relay.listen, listen_tls, workers and [daemon] take effect at the next restart");
        }
        if (a.metrics.listen != b.metrics.listen || a.metrics.allow_remote != b.metrics.allow_remote ||
            a.metrics.relay_listen != b.metrics.relay_listen) {
            log->warn("reload: [metrics] takes effect at the next restart");
        }
        server.set_runtime(next);
        telemetry->set_pool(next->pool);
        warn_about(*log, *next);
        log->info("reload: configuration {} in effect ({} [[signer]] entries)", config_path.string(), b.signers.size());
    };
    daemon::run_signal_loop(reload, [] {}, [&] { return io.stopped(); });

    drain(server, *log);
    server.close_idle_next_hops();
    busy.reset();
    io_thread.join();
    workers.join();
    log->info("stopped");
    return {};
}

}  // namespace ribbon::relay
