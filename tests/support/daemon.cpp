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

}  // namespace


pid_t spawn(const SpawnSpec& spec, std::string& error) {
    const int out = ::open(spec.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
        error = "open " + spec.output.string() + ": " + std::strerror(errno);
        return -1;
    }
    std::vector<std::string> args = spec.argv;
    std::vector<char*> c_argv;
    for (auto& a : args) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    int exec_pipe[2];
    if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
        error = std::string("pipe: ") + std::strerror(errno);
        ::close(out);
        return -1;
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        ::close(out);
        ::close(exec_pipe[0]);
        ::close(exec_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        auto fail = [&](int step) {
            const int e[2] = {step, errno};
            (void)!::write(exec_pipe[1], e, sizeof e);
            ::_exit(127);
        };
        ::setsid();
        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) fail(1);
        if (spec.drop && (::setgroups(0, nullptr) != 0 || ::setgid(spec.gid) != 0 ||
                          ::setuid(spec.uid) != 0))
            fail(2);
        // After the credential change, which would clear it.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(3);
        if (::getppid() != parent) ::_exit(126);  // the test died meanwhile
        ::signal(SIGPIPE, SIG_DFL);
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        ::execv(c_argv[0], c_argv.data());
        fail(4);
    }
    ::close(out);
    ::close(exec_pipe[1]);
    int e[2] = {0, 0};
    const ssize_t got = ::read(exec_pipe[0], e, sizeof e);
    ::close(exec_pipe[0]);
    if (got == sizeof e) {
        static const char* const steps[] = {"", "redirect", "drop privileges", "prctl", "exec"};
        error = std::string(steps[e[0]]) + " " + spec.argv[0] + ": " + std::strerror(e[1]);
        ::waitpid(pid, nullptr, 0);
        return -1;
    }
    return pid;
}

// Reaps `pid` if it has exited; returns its status text, or "" if running.
std::string reap_if_exited(pid_t pid) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == 0) return "";
    if (r < 0) return "gone";
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    return "killed by signal " + std::to_string(WTERMSIG(status));
}


// SIGTERM to the leader, then SIGKILL to the whole group if anything of it
// is still there after `grace`. Always reaps the leader.
void stop_group(pid_t leader, std::chrono::milliseconds grace) {
    if (leader <= 0) return;
    ::kill(leader, SIGTERM);
    const auto deadline = Clock::now() + grace;
    bool reaped = false;
    while (Clock::now() < deadline) {
        if (!reaped && !reap_if_exited(leader).empty()) reaped = true;
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

bool is_running(pid_t pid) {
    if (pid <= 0) return false;
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
}

std::string log_tail(const fs::path& log, std::size_t max) {
    std::ifstream in(log, std::ios::binary);
    if (!in) return "";
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    return text.size() <= max ? text : "...\n" + text.substr(text.size() - max);
}

}  // namespace ribbon::test::daemon
