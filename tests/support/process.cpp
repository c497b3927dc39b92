#include "support/process.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ribbon::test {
namespace fs = std::filesystem;

std::string ProcessResult::describe() const {
    std::ostringstream os;
    os << "exit=" << exit_code;
    if (timed_out) os << " (TIMED OUT)";
    if (!start_error.empty()) os << " start_error=" << start_error;
    os << "\n--- stderr ---\n" << err.substr(0, 4000);
    if (out.size() <= 2000) os << "\n--- stdout ---\n" << out;
    else os << "\n--- stdout (" << out.size() << " bytes, first 2000) ---\n" << out.substr(0, 2000);
    return os.str();
}

namespace {

void set_cloexec_nonblock(int fd) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Builds the child's environment before fork (no allocation after fork).
std::vector<std::string> build_env(const std::vector<std::pair<std::string, std::string>>& add) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        const auto eq = kv.find('=');
        const std::string key = kv.substr(0, eq);
        bool overridden = false;
        for (const auto& [k, v] : add)
            if (k == key) overridden = true;
        if (!overridden) env.push_back(std::move(kv));
    }
    // When `add` names a variable twice, the later value wins.
    for (std::size_t i = 0; i < add.size(); ++i) {
        bool later = false;
        for (std::size_t j = i + 1; j < add.size(); ++j)
            if (add[j].first == add[i].first) later = true;
        if (!later) env.push_back(add[i].first + "=" + add[i].second);
    }
    return env;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& opts) {
    ProcessResult r;
    if (argv.empty()) {
        r.start_error = "empty argv";
        return r;
    }
    int in_pipe[2], out_pipe[2], err_pipe[2], exec_pipe[2];
    if (::pipe(in_pipe) || ::pipe(out_pipe) || ::pipe(err_pipe) || ::pipe(exec_pipe))
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    ::fcntl(exec_pipe[1], F_SETFD, FD_CLOEXEC);

    std::vector<std::string> env_strings = build_env(opts.env);
    std::vector<char*> c_env;
    for (auto& s : env_strings) c_env.push_back(s.data());
    c_env.push_back(nullptr);
    std::vector<std::string> args = argv;
    std::vector<char*> c_argv;
    for (auto& s : args) c_argv.push_back(s.data());
    c_argv.push_back(nullptr);
    const std::string cwd = opts.cwd.string();

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::close(in_pipe[0]); ::close(in_pipe[1]);
        ::close(out_pipe[0]); ::close(out_pipe[1]);
        ::close(err_pipe[0]); ::close(err_pipe[1]);
        ::close(exec_pipe[0]);
        ::signal(SIGPIPE, SIG_DFL);
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
            int e = errno;
            (void)!::write(exec_pipe[1], &e, sizeof e);
            ::_exit(127);
        }
        ::execvpe(c_argv[0], c_argv.data(), c_env.data());
        int e = errno;
        (void)!::write(exec_pipe[1], &e, sizeof e);
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(exec_pipe[1]);

    int exec_errno = 0;
    if (::read(exec_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno)
        r.start_error = std::string("exec ") + argv[0] + ": " + std::strerror(exec_errno);
    ::close(exec_pipe[0]);

    // Writing to a child that exited must not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    set_cloexec_nonblock(in_pipe[1]);
    set_cloexec_nonblock(out_pipe[0]);
    set_cloexec_nonblock(err_pipe[0]);

    int in_fd = in_pipe[1], out_fd = out_pipe[0], err_fd = err_pipe[0];
    size_t in_off = 0;
    if (opts.stdin_data.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
    char buf[65536];
    while (out_fd >= 0 || err_fd >= 0 || in_fd >= 0) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            r.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        const int wait_ms = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
        pollfd fds[3];
        int n = 0;
        int idx_in = -1, idx_out = -1, idx_err = -1;
        if (in_fd >= 0) { idx_in = n; fds[n++] = {in_fd, POLLOUT, 0}; }
        if (out_fd >= 0) { idx_out = n; fds[n++] = {out_fd, POLLIN, 0}; }
        if (err_fd >= 0) { idx_err = n; fds[n++] = {err_fd, POLLIN, 0}; }
        const int pr = ::poll(fds, n, wait_ms);
        if (pr < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (idx_in >= 0 && fds[idx_in].revents) {
            const ssize_t w = ::write(in_fd, opts.stdin_data.data() + in_off,
                                      opts.stdin_data.size() - in_off);
            if (w > 0) in_off += static_cast<size_t>(w);
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off >= opts.stdin_data.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
        auto drain = [&](int& fd, int idx, std::string& sink) {
            if (idx < 0 || !fds[idx].revents) return;
            const ssize_t got = ::read(fd, buf, sizeof buf);
            if (got > 0) sink.append(buf, static_cast<size_t>(got));
            else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                ::close(fd);
                fd = -1;
            }
        };
        drain(out_fd, idx_out, r.out);
        drain(err_fd, idx_err, r.err);
    }
    if (in_fd >= 0) ::close(in_fd);
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);

    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    return r;
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_data) {
    ProcessOptions o;
    o.stdin_data = stdin_data;
    return run_process(argv, o);
}

TempDir::TempDir(const std::string& tag) {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/" + tag + "-XXXXXX";
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed: " + templ);
    path_ = templ;
}

TempDir::~TempDir() {
    std::error_code ec;
    if (!std::getenv("RIBBON_TEST_KEEP_TMP")) fs::remove_all(path_, ec);
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + p.string());
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out.flush()) throw std::runtime_error("write failed " + p.string());
}

}  // namespace ribbon::test
