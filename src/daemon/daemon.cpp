// daemon.cpp — see daemon.hpp.
#include "daemon/daemon.hpp"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "ribbon/mail_text.hpp"

namespace ribbon::daemon {

namespace {

// "%*": the message text escaped by terminal_safe (ribbon/mail_text.hpp).
// Log lines quote From addresses, header values and error messages that
// carry them; an operator reading the log in a terminal must not have a
// customer's ESC sequences run there. One flag, so every line of every
// daemon is escaped, whoever wrote the log call.
class EscapedPayload final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        const std::string safe =
            terminal_safe(std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(safe.data(), safe.data() + safe.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<EscapedPayload>();
    }
};

std::unique_ptr<spdlog::formatter> escaping_formatter(const std::string& pattern) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<EscapedPayload>('*').set_pattern(pattern);
    return f;
}

}  // namespace

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, const DaemonSettings& settings) {
    std::shared_ptr<spdlog::sinks::sink> sink;
    if (settings.log == "syslog") {
        // syslog adds its own time stamp, host and pid.
        sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(name, LOG_PID | LOG_NDELAY, LOG_MAIL, true);
        sink->set_formatter(escaping_formatter("%*"));
    } else {
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        // The pid is written into the pattern once: spdlog's %P calls
        // getpid() for every line. The daemons never fork after this.
        sink->set_formatter(escaping_formatter(name + "[" + std::to_string(::getpid()) + "]: %l: %*"));
    }
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);
    return logger;
}

namespace {

Error config_error(std::string message) { return permanent_error(Errc::bad_config, std::move(message)); }

struct Ids {
    uid_t uid;
    gid_t gid;
    std::string user;
};

Result<Ids> lookup(const DaemonSettings& settings) {
    errno = 0;
    const passwd* pw = ::getpwnam(settings.user.c_str());
    if (pw == nullptr) return config_error("[daemon] user \"" + settings.user + "\" does not exist");
    Ids ids{pw->pw_uid, pw->pw_gid, settings.user};
    if (!settings.group.empty()) {
        const group* gr = ::getgrnam(settings.group.c_str());
        if (gr == nullptr) return config_error("[daemon] group \"" + settings.group + "\" does not exist");
        ids.gid = gr->gr_gid;
    }
    return ids;
}

Error os_error(const std::string& what) {
    return internal_error(what + ": " + std::strerror(errno));
}

}  // namespace

Result<void> drop_privileges(const DaemonSettings& settings) {
    if (::geteuid() != 0) return {};
    if (settings.user.empty()) {
        return config_error("refusing to run as root: set [daemon] user to the account ribbon runs as");
    }
    auto ids = lookup(settings);
    if (!ids) return std::move(ids).error();
    if (ids->uid == 0) return config_error("refusing to run as root: [daemon] user is root");
    if (::initgroups(ids->user.c_str(), ids->gid) != 0) return os_error("initgroups");
    if (::setgid(ids->gid) != 0) return os_error("setgid");
    if (::setuid(ids->uid) != 0) return os_error("setuid");
    if (::setuid(0) == 0 || ::geteuid() == 0) return internal_error("root privileges could be regained");
    return {};
}

Result<void> hand_over(const std::string& path, const DaemonSettings& settings) {
    if (::geteuid() != 0 || settings.user.empty()) return {};
    auto ids = lookup(settings);
    if (!ids) return std::move(ids).error();
    if (::chown(path.c_str(), ids->uid, ids->gid) != 0) return os_error("chown " + path);
    return {};
}

Result<void> prepare_unix_socket(const std::string& path, unsigned mode, const DaemonSettings& settings) {
    if (::chmod(path.c_str(), mode) != 0) return os_error("chmod " + path);
    return hand_over(path, settings);
}

void block_control_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void run_signal_loop(const std::function<void()>& reload, const std::function<void()>& stop,
                     const std::function<bool()>& done) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    std::atomic<bool> reloading{false};
    std::thread reloader;
    const timespec second{1, 0};
    while (!done()) {
        int sig = ::sigtimedwait(&set, nullptr, &second);
        if (sig == SIGHUP) {
            // One reload at a time; a SIGHUP during a reload is folded into it.
            if (!reloading.exchange(true)) {
                if (reloader.joinable()) reloader.join();  // finished: `reloading` was false
                reloader = std::thread([&] {
                    reload();
                    reloading = false;
                });
            }
        } else if (sig == SIGTERM || sig == SIGINT) {
            stop();
            break;
        }
    }
    if (reloader.joinable()) reloader.join();
}

Result<void> prepare_store_dir(const StoreSettings& store, const DaemonSettings& settings) {
    auto file = sqlite_store_file(store.url);
    if (!file || ::geteuid() != 0 || settings.user.empty()) return {};
    const std::filesystem::path dir = file->parent_path();
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
        std::filesystem::create_directories(dir, ec);
        if (ec) return transient_error(Errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
        ::chmod(dir.c_str(), 0750);
    }
    if (auto r = hand_over(dir.string(), settings); !r) return r;
    for (const char* suffix : {"", "-wal", "-shm"}) {
        const std::string path = file->string() + suffix;
        if (std::filesystem::exists(path, ec)) {
            if (auto r = hand_over(path, settings); !r) return r;
        }
    }
    return {};
}

Result<void> connect_store(RecipientPolicy& policy, spdlog::logger& log) {
    auto r = policy.connect();
    if (!r && r.error().code() == Errc::store_unavailable) {
        log.warn("the recipients store is unavailable: {}", r.error().message());
        return {};
    }
    return r;
}

}  // namespace ribbon::daemon
