// Run a child process without a shell and capture what it says.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ribbon::test {

struct ProcessResult {
    int exit_code = -1;      // exit status, or 128 + signal number
    bool timed_out = false;  // killed because the deadline passed
    std::string out;         // everything written to stdout
    std::string err;         // everything written to stderr
    std::string start_error; // non-empty if exec failed

    // One line describing the run, for assertion messages.
    [[nodiscard]] std::string describe() const;
};

struct ProcessOptions {
    std::string stdin_data;
    std::vector<std::pair<std::string, std::string>> env;  // added/overridden
    std::filesystem::path cwd;                               // empty: inherit
    std::chrono::milliseconds timeout{60000};
};

// argv[0] is looked up in PATH when it contains no '/'.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& opts = {});

// Convenience: argv and stdin only.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_data);

// A fresh, unique temporary directory removed (recursively) on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& tag = "ribbon-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Whole-file helpers (binary, exact bytes). write_file throws on failure.
std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& data);

}  // namespace ribbon::test
