// Long-running child processes for the test MTAs (support/mta.hpp): start a
// daemon in its own process group that dies with the test, find out whether
// it listens, which files it holds open, and stop the whole group.
// Linux-specific (/proc, prctl, close_range). Not thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ribbon::test::daemon {

struct SpawnSpec {
    std::vector<std::string> argv;  // argv[0] is a full path (no PATH search)
    std::filesystem::path output;   // stdout and stderr are appended here
    bool drop = false;              // switch to uid/gid before exec
    uid_t uid = 0;
    gid_t gid = 0;
};

// A daemon started as the leader of its own session and process group, and
// stopped with its whole group. Two guards against a test process that dies
// without running destructors (crash, SIGKILL, timeout):
//  - PR_SET_PDEATHSIG=SIGKILL on the daemon, set after an optional user
//    switch; but the kernel clears it on any later credential change, and
//    Postfix's master switches its effective uid now and then;
//  - so a watchdog as well: a forked child of the test process that blocks
//    reading a pipe whose write end only the test process holds. EOF means
//    the test process is gone: it kills the daemon's process group.
// stop() retires the watchdog before stopping the daemon gracefully.
class Daemon {
public:
    Daemon() = default;
    ~Daemon() { stop(std::chrono::seconds(2)); }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // "" on success, else which step failed (stdin is /dev/null, no
    // descriptors beyond 0-2 are inherited).
    [[nodiscard]] std::string start(const SpawnSpec& spec);
    // SIGTERM to the leader; after `grace`, SIGKILL to every process of its
    // group. Reaps the leader. Does nothing when not started.
    void stop(std::chrono::milliseconds grace);

    [[nodiscard]] pid_t pid() const { return m_pid; }
    [[nodiscard]] bool started() const { return m_pid > 0; }
    // True while the leader has not exited (does not reap it).
    [[nodiscard]] bool running() const;
    // If the leader exited: reaps it, kills what is left of its group, and
    // says how it ended ("exited with status 1"). "" while it runs.
    [[nodiscard]] std::string reap_if_exited();

private:
    void retire_watchdog();

    pid_t m_pid = -1;
    pid_t m_watchdog = -1;
    int m_guard_fd = -1;  // write end of the watchdog's pipe
};

// True when `pid` holds a socket listening on 127.0.0.1:port (so another
// program that happens to listen there does not count).
bool listening(pid_t pid, int port);

// Waits (10 s at most) until `ready()`: "" then, else why not — the
// daemon exited (it is reaped and reset) or never got ready — with the tail
// of its `log`. `what` names it ("ribbon relay").
std::string wait_until_ready(std::unique_ptr<Daemon>& daemon, const std::function<bool()>& ready,
                             const std::string& what, const std::filesystem::path& log);

// The files under `dir` that `pid` has open.
std::set<std::filesystem::path> open_files_under(pid_t pid, const std::filesystem::path& dir);

// A daemon's log for failure messages: the file's last `max` bytes, "" if
// it does not exist yet.
std::string log_tail(const std::filesystem::path& log, std::size_t max = 6000);

}  // namespace ribbon::test::daemon
