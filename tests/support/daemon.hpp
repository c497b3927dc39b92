// Long-running child processes for the test MTAs (support/mta.hpp): start a
// daemon in its own process group that dies with the test, find out whether
// it listens, which files it holds open, and stop the whole group.
// Linux-specific (/proc, prctl, close_range). Not thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
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

// Starts the program as a session and process-group leader with
// PR_SET_PDEATHSIG=SIGKILL (set after the user switch, which would clear it),
// stdin from /dev/null and no inherited descriptors beyond 0-2.
// Returns its pid, or -1 with `error` saying which step failed.
pid_t spawn(const SpawnSpec& spec, std::string& error);

// Reaps `pid` if it has exited and says how ("exited with status 1");
// "" while it runs.
std::string reap_if_exited(pid_t pid);

// True while our child `pid` has not exited (does not reap it).
bool is_running(pid_t pid);

// SIGTERM to the leader; after `grace`, SIGKILL to every process of its
// group. Always reaps the leader (our child).
void stop_group(pid_t leader, std::chrono::milliseconds grace);

// True when `pid` holds a socket listening on 127.0.0.1:port (so another
// program that happens to listen there does not count).
bool listening(pid_t pid, int port);

// The files under `dir` that `pid` has open.
std::set<std::filesystem::path> open_files_under(pid_t pid, const std::filesystem::path& dir);

// A daemon's log for failure messages: the file's last `max` bytes, "" if
// it does not exist yet.
std::string log_tail(const std::filesystem::path& log, std::size_t max = 6000);

}  // namespace ribbon::test::daemon
