// milter_daemon.cpp — `ribbon milter`: start-up, privileges, reload and
// stop around the milter engine (engine.hpp; the per-message work is in
// milter.cpp).
//
// Order matters: the configuration is validated and every fixed Digital ID
// loaded while still root (keys may be readable by root only), the socket
// is opened and handed to [daemon] user, then root is dropped for good
// before the first message.
#include "milter/milter_daemon.hpp"

#include <unistd.h>

#include <atomic>
#include <thread>

#include "daemon/daemon.hpp"
#include "daemon/history_writer.hpp"
#include "daemon/metrics_server.hpp"
#include "inbound/sender_memory.hpp"
#include "milter/milter.hpp"

namespace ribbon::milter {

namespace {

// The Learner's rules and trust are loaded here, once per configuration;
// its store connection is opened by the learning thread itself.
Result<std::shared_ptr<daemon::LearnQueue>> learning_for(const Config& config,
                                                         const std::shared_ptr<daemon::Telemetry>& telemetry) {
    if (config.milter.role == MilterRole::outbound) return std::shared_ptr<daemon::LearnQueue>();
    if (config.store.url.empty()) {
        return permanent_error(Errc::bad_config, "milter.role = \"" +
                                                     std::string(config.milter.role == MilterRole::inbound ? "inbound" : "both") +
                                                     "\" needs a store to learn into: [store] url is empty");
    }
    auto rules = ClientRules::load(config.learn.rules);
    if (!rules) return std::move(rules).error();
    auto trust = TrustStore::system();
    if (!trust) return std::move(trust).error();
    Config own;  // only the [[signer]] table: whose mail is the organisation's own
    own.signers = config.signers;
    auto learner = std::make_shared<const Learner>(
        std::move(*rules), std::move(*trust),
        [own = std::move(own)](std::string_view address) { return own.signer_for(address) != nullptr; });
    return std::make_shared<daemon::LearnQueue>(learner, config.store.url, config.learn.queue, logger(), telemetry);
}

// The trust anchors are loaded once per configuration, like the Learner's.
Result<std::shared_ptr<const inbound::Assessor>> assessor_for(const Config& config) {
    if (!config.inbound.verify) return std::shared_ptr<const inbound::Assessor>();
    auto trust = config.inbound.ca_file.empty() ? TrustStore::system()
                                                : TrustStore::from_files({config.inbound.ca_file});
    if (!trust) return std::move(trust).error();
    std::shared_ptr<inbound::SenderMemory> memory;
    if (config.inbound.continuity) {
        memory = std::make_shared<inbound::SenderMemory>(inbound::SenderMemorySettings{
            config.store.url, inbound::signer_domains(config.signers), KeyRecording::record,
            std::chrono::seconds(config.inbound.known_domains_refresh)});
    }
    return std::make_shared<const inbound::Assessor>(Verifier(std::move(*trust)), VerifyOptions{}, std::move(memory));
}

Result<std::shared_ptr<const Runtime>> load_runtime(const std::filesystem::path& path,
                                                    std::shared_ptr<daemon::Telemetry> telemetry) {
    auto rt = std::make_shared<Runtime>();
    if (auto r = daemon::load_runtime(path, *rt, std::move(telemetry)); !r) return std::move(r).error();
    auto learning = learning_for(rt->config, rt->telemetry);
    if (!learning) return std::move(learning).error();
    rt->learning = std::move(*learning);
    auto assessor = assessor_for(rt->config);
    if (!assessor) return std::move(assessor).error();
    rt->inbound = std::move(*assessor);
    return std::shared_ptr<const Runtime>(std::move(rt));
}

void warn_about(const Runtime& rt) {
    for (const auto& w : rt.pool->warnings()) log().warn("{}", w);
    if (rt.config.signers.empty() && rt.config.milter.role != MilterRole::inbound) {
        log().warn("no [[signer]] entries: every message passes unsigned");
    }
    if (rt.learning) {
        log().info("learning from inbound mail ([milter] role = \"{}\") into {}",
                   rt.config.milter.role == MilterRole::inbound ? "inbound" : "both",
                   redacted_store_url(rt.config.store.url));
    }
    if (rt.inbound) {
        log().info("stamping inbound mail: Authentication-Results as {}, trust anchors {}", rt.config.inbound.authserv_id,
                   rt.config.inbound.ca_file.empty() ? "the system's roots" : rt.config.inbound.ca_file.string());
    }
}

// SIGHUP: the whole new configuration is checked (Digital IDs loaded)
// before it replaces the old one; a bad one is logged and ignored.
void reload(const std::filesystem::path& path) {
    auto previous = current_runtime();
    auto next = daemon::checked_for_reload(load_runtime(path, previous->telemetry), log());
    if (!next) return;
    const Config& a = previous->config;
    const Config& b = next->config;
    if (a.milter.socket != b.milter.socket || a.daemon.user != b.daemon.user ||
        a.daemon.group != b.daemon.group || a.daemon.log != b.daemon.log ||
        a.milter.socket_mode != b.milter.socket_mode) {
        log().warn("reload: milter.socket, milter.socket_mode and [daemon] take effect at the next restart");
    }
    if (a.metrics.listen != b.metrics.listen || a.metrics.allow_remote != b.metrics.allow_remote ||
        a.metrics.relay_listen != b.metrics.relay_listen) {
        log().warn("reload: [metrics] takes effect at the next restart");
    }
    set_runtime(next);
    next->telemetry->set_pool(next->pool);
    warn_about(*next);
    log().info("reload: configuration {} in effect ({} [[signer]] entries)", path.string(), b.signers.size());
}

std::string unix_socket_path(const std::string& socket) {
    for (std::string_view prefix : {"unix:", "local:"}) {
        if (socket.starts_with(prefix)) return socket.substr(prefix.size());
    }
    return {};
}

}  // namespace

Result<void> run(const std::filesystem::path& config_path) {
    // Before anything listens: a SIGHUP sent as soon as the socket answers
    // must reload, not kill.
    daemon::block_control_signals();
    // The logger first (the learning queue keeps it), from [daemon] alone.
    auto first = Config::load(config_path);
    if (!first) return std::move(first).error();
    auto logger = daemon::make_logger("ribbon-milter", first->daemon);
    set_logger(logger);
    auto runtime = load_runtime(config_path, std::make_shared<daemon::Telemetry>(daemon::FrontEndKind::milter));
    if (!runtime) return std::move(runtime).error();
    const Config& config = (*runtime)->config;
    set_runtime(*runtime);
    (*runtime)->telemetry->set_pool((*runtime)->pool);
    warn_about(**runtime);

    EngineSettings settings;
    settings.socket = config.milter.socket;
    settings.socket_mode = config.milter.socket_mode;
    settings.timeout = config.milter.timeout;
    Engine engine(settings, filter_factory(), [](const std::string& why) { log().warn("{}", why); });
    if (auto r = engine.listen(); !r) return r;
    if (auto path = unix_socket_path(config.milter.socket); !path.empty()) {
        if (auto r = daemon::prepare_unix_socket(path, config.milter.socket_mode, config.daemon); !r) return r;
    }
    // Bound while still root, as the milter socket: any port may be configured.
    auto metrics = daemon::serve_metrics(config.metrics, (*runtime)->telemetry);
    if (!metrics) return std::move(metrics).error();
    if (auto r = daemon::prepare_store_dir(config.store, config.daemon); !r) return r;
    if (auto r = daemon::drop_privileges(config.daemon); !r) return r;
    if (auto r = daemon::connect_store(*(*runtime)->policy, log()); !r) return r;
    // The dashboard's kept history, written as the daemon's user; its last
    // minute when this function returns.
    std::unique_ptr<daemon::HistoryWriter> history;
    if (!config.store.url.empty()) {
        history = std::make_unique<daemon::HistoryWriter>(config.store.url, daemon::host_name(),
                                                          (*runtime)->telemetry, logger);
    }
    if (*metrics) {
        log().info("metrics on http://{}/metrics", daemon::metrics_listen(config.metrics, daemon::FrontEndKind::milter));
    }

    std::atomic<bool> finished{false};
    Result<void> served;
    std::thread worker([&] {
        served = engine.run();
        finished = true;
    });
    log().info("listening on {} as uid {}; {} [[signer]] entries", config.milter.socket, ::getuid(),
               config.signers.size());
    daemon::run_signal_loop([&] { reload(config_path); }, [&] { engine.stop(); }, [&] { return finished.load(); });
    worker.join();
    log().info("stopped");
    return served;
}

std::string protocol_version() { return std::to_string(protocol::kVersion); }

}  // namespace ribbon::milter
