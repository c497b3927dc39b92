// Daemon plumbing for the test MTAs (support/daemon.hpp).
#include "support/daemon.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <signal.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace ribbon::test::daemon {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// True while a process of group `pgid` still runs. Zombies do not count:
// once master is gone its exited children wait for init to reap them, which
// can take a second here.
bool group_alive(pid_t pgid) {
    if (::kill(-pgid, 0) != 0 && errno != EPERM) return false;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat;
        std::getline(in, stat);
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 1));
        char state = 0;
        long ppid = 0, pgrp = 0;
        rest >> state >> ppid >> pgrp;
        if (pgrp == pgid && state != 'Z' && state != 'X') return true;
    }
    return false;
}

// The daemon side of fork(): only async-signal-safe calls until exec.
[[noreturn]] void exec_daemon(const SpawnSpec& spec, char* const* argv, int out, int report,
                              pid_t parent) {
    auto fail = [&](int step) {
        const int e[2] = {step, errno};
        (void)!::write(report, e, sizeof e);
        ::_exit(127);
    };
    ::setsid();
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) fail(1);
    if (spec.drop &&
        (::setgroups(0, nullptr) != 0 || ::setgid(spec.gid) != 0 || ::setuid(spec.uid) != 0))
        fail(2);
    // After the credential change, which would clear it.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(3);
    if (::getppid() != parent) ::_exit(126);  // the test died meanwhile
    ::signal(SIGPIPE, SIG_DFL);
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(argv[0], argv);
    fail(4);
    ::_exit(127);  // not reached: fail() exits
}

// The watchdog side of fork(): keeps nothing but the pipe's read end (so it
// holds no other watchdog's write end) and waits for EOF.
// No death signal here: it would kill the watchdog before it can act.
[[noreturn]] void watch(int guard, pid_t group) {
    const int fd = ::dup2(guard, 0);
    ::close_range(1, ~0U, 0);
    char c;
    while (::read(fd, &c, 1) < 0 && errno == EINTR) {
    }
    ::kill(-group, SIGKILL);
    ::_exit(0);
}

}  // namespace

std::string Daemon::start(const SpawnSpec& spec) {
    if (m_pid > 0) return "already started";
    const int out = ::open(spec.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) return "open " + spec.output.string() + ": " + std::strerror(errno);
    std::vector<std::string> args = spec.argv;
    std::vector<char*> c_argv;
    for (auto& a : args) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    int report[2], guard[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
        ::close(out);
        return std::string("pipe: ") + std::strerror(errno);
    }
    if (::pipe2(guard, O_CLOEXEC) != 0) {
        ::close(out);
        ::close(report[0]);
        ::close(report[1]);
        return std::string("pipe: ") + std::strerror(errno);
    }
    auto close_all = [&] {
        for (int fd : {out, report[0], report[1], guard[0], guard[1]})
            if (fd >= 0) ::close(fd);
    };
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        close_all();
        return std::string("fork: ") + std::strerror(errno);
    }
    if (pid == 0) exec_daemon(spec, c_argv.data(), out, report[1], parent);
    // The watchdog exists before anything can go wrong with the daemon.
    const pid_t dog = ::fork();
    if (dog == 0) watch(guard[0], pid);
    if (dog < 0) {
        const int e = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        close_all();
        return std::string("fork watchdog: ") + std::strerror(e);
    }
    ::close(out);
    ::close(report[1]);
    ::close(guard[0]);
    m_pid = pid;
    m_watchdog = dog;
    m_guard_fd = guard[1];

    int e[2] = {0, 0};
    const ssize_t got = ::read(report[0], e, sizeof e);
    ::close(report[0]);
    if (got == sizeof e) {
        static const char* const steps[] = {"", "redirect", "drop privileges", "prctl", "exec"};
        stop(std::chrono::milliseconds(0));
        return std::string(steps[e[0]]) + " " + spec.argv[0] + ": " + std::strerror(e[1]);
    }
    return "";
}

void Daemon::retire_watchdog() {
    if (m_watchdog > 0) {
        ::kill(m_watchdog, SIGKILL);
        ::waitpid(m_watchdog, nullptr, 0);
        m_watchdog = -1;
    }
    if (m_guard_fd >= 0) {
        ::close(m_guard_fd);
        m_guard_fd = -1;
    }
}

bool Daemon::running() const {
    if (m_pid <= 0) return false;
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
}

std::string Daemon::reap_if_exited() {
    if (m_pid <= 0) return "not started";
    int status = 0;
    const pid_t r = ::waitpid(m_pid, &status, WNOHANG);
    if (r == 0) return "";
    std::string how = r < 0 ? "gone"
                      : WIFEXITED(status)
                          ? "exited with status " + std::to_string(WEXITSTATUS(status))
                          : "killed by signal " + std::to_string(WTERMSIG(status));
    retire_watchdog();
    ::kill(-m_pid, SIGKILL);  // whatever it forked before dying
    m_pid = -1;
    return how;
}

void Daemon::stop(std::chrono::milliseconds grace) {
    if (m_pid <= 0) return;
    retire_watchdog();
    const pid_t leader = m_pid;
    m_pid = -1;
    ::kill(leader, SIGTERM);
    const auto deadline = Clock::now() + grace;
    bool reaped = false;
    while (Clock::now() < deadline) {
        if (!reaped && ::waitpid(leader, nullptr, WNOHANG) != 0) reaped = true;
        if (reaped && !group_alive(leader)) return;
        std::this_thread::sleep_for(10ms);
    }
    ::kill(-leader, SIGKILL);
    ::kill(leader, SIGKILL);
    if (!reaped) ::waitpid(leader, nullptr, 0);
    for (int i = 0; i < 200 && group_alive(leader); ++i) std::this_thread::sleep_for(10ms);
}

// True when `pid` holds a socket listening on 127.0.0.1:port (from
// /proc/net/tcp and /proc/PID/fd, so another program that happens to listen
// there does not count).
bool listening(pid_t pid, int port) {
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    char wanted[32];
    std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
    std::set<std::string> inodes;
    std::getline(tcp, line);  // header
    while (std::getline(tcp, line)) {
        std::istringstream is(line);
        std::string sl, local, remote, state, skip, inode;
        is >> sl >> local >> remote >> state;
        for (int i = 0; i < 5; ++i) is >> skip;  // tx:rx tr:when retrnsmt uid timeout
        is >> inode;
        if (local == wanted && state == "0A") inodes.insert("socket:[" + inode + "]");
    }
    if (inodes.empty()) return false;
    std::error_code ec;
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code ec2;
        if (inodes.count(fs::read_symlink(fd.path(), ec2).string())) return true;
    }
    return false;
}

// Files (under `dir`) that `pid` has open.
std::set<fs::path> open_files_under(pid_t pid, const fs::path& dir) {
    std::set<fs::path> open;
    if (pid <= 0) return open;
    std::error_code ec;
    const std::string prefix = dir.string() + "/";
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code ec2;
        const fs::path target = fs::read_symlink(fd.path(), ec2);
        if (!ec2 && target.string().rfind(prefix, 0) == 0) open.insert(target);
    }
    return open;
}

std::string log_tail(const fs::path& log, std::size_t max) {
    std::ifstream in(log, std::ios::binary);
    if (!in) return "";
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    return text.size() <= max ? text : "...\n" + text.substr(text.size() - max);
}

std::string wait_until_ready(std::unique_ptr<Daemon>& daemon, const std::function<bool()>& ready,
                             const std::string& what, const std::filesystem::path& log) {
    for (int i = 0; i < 200; ++i) {
        if (ready()) return {};
        if (auto how = daemon->reap_if_exited(); !how.empty()) {
            daemon.reset();
            return what + " " + how + ":\n" + log_tail(log);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return what + " did not get ready:\n" + log_tail(log);
}

}  // namespace ribbon::test::daemon
