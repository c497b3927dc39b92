// sign_batch.cpp — `ribbon sign --batch` (see sign_batch.hpp). Worker
// threads sign into temporary files of OUT and hand them to a FileGroup,
// whose own thread makes them durable and names them a group at a time, so
// the signing threads never wait for the disk (ribbon/file_group.hpp).
#include "cli/sign_batch.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "ribbon/file_group.hpp"

namespace ribbon::cli {

namespace {

namespace fs = std::filesystem;

// Lists the messages of a batch folder: regular files, sorted, skipping
// hidden files (maildir and editors keep temporary files there, and so
// does FileGroup when OUT is the folder itself).
std::vector<fs::path> batch_files(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        if (entry.path().filename().string().starts_with(".")) continue;
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

class Progress {
  public:
    explicit Progress(std::size_t total) : m_total(total), m_tty(::isatty(STDERR_FILENO) == 1) {}
    // One more message signed (on disk) or failed.
    void tick() {
        const std::size_t done = ++m_done;
        if (!m_tty) return;
        std::lock_guard lock(m_mutex);
        auto now = std::chrono::steady_clock::now();
        if (done != m_total && now - m_last < std::chrono::milliseconds(100)) return;
        m_last = now;
        constexpr int kWidth = 40;
        int filled = m_total == 0 ? kWidth : static_cast<int>(kWidth * done / m_total);
        std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu", filled,
                     "========================================", kWidth - filled, "", done,
                     m_total);
        if (done == m_total) std::fputc('\n', stderr);
        std::fflush(stderr);
    }

  private:
    std::size_t m_total;
    bool m_tty;
    std::atomic<std::size_t> m_done{0};
    std::mutex m_mutex;
    std::chrono::steady_clock::time_point m_last{};
};

// Signs files[i] for i taken from `next` until none is left: a failure is
// recorded at once, a signed message goes to the group, which reports it.
void sign_files(const std::vector<fs::path>& files, std::atomic<std::size_t>& next,
                FileGroup& group, const SignerFor& signer_for, const SignOptions& options,
                const BatchArgs& args, std::vector<std::optional<Error>>& failures,
                Progress& progress) {
    for (std::size_t i = next++; i < files.size(); i = next++) {
        MessageInput in = MessageInput::from_file(files[i]).with_max_size(args.max_message_size);
        auto signer = signer_for(in);
        auto file = signer ? group.create(files[i].filename().string())
                           : Result<FileGroup::File>(signer.error());
        Result<SignReport> r =
            file ? signer->sign(in, *file, options) : Result<SignReport>(file.error());
        if (!r) {
            failures[i] = std::move(r).error();  // the temporary file goes with `file`
            progress.tick();
            continue;
        }
        group.submit(std::move(*file), i);
    }
}

}  // namespace

int run_batch(const SignerFor& signer_for, const SignOptions& options, const BatchArgs& args) {
    fs::path in_dir = args.in_dir;
    fs::path out_dir = args.out_dir;
    std::error_code ec;
    if (!fs::is_directory(in_dir, ec)) {
        report_error("sign", args.in_dir, permanent_error(Errc::io_error, "not a directory"));
        return kNoInput;
    }
    fs::create_directories(out_dir, ec);
    if (ec || !fs::is_directory(out_dir)) {
        report_error("sign", args.out_dir,
                     permanent_error(Errc::io_error, "cannot create the output directory"));
        return kCantCreat;
    }
    std::vector<fs::path> files = batch_files(in_dir);
    unsigned jobs = args.jobs != 0 ? args.jobs : std::max(1u, std::thread::hardware_concurrency());
    jobs =
        static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(files.size(), 1)));

    std::vector<std::optional<Error>> failures(files.size());
    Progress progress(files.size());
    auto group = FileGroup::open(out_dir, [&](std::size_t i, Result<void> committed) {
        if (!committed) failures[i] = std::move(committed).error();
        progress.tick();
    });
    if (!group) {
        report_error("sign", args.out_dir, group.error());
        return kCantCreat;
    }
    auto started = std::chrono::steady_clock::now();
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < jobs; ++t) {
        threads.emplace_back([&] {
            sign_files(files, next, **group, signer_for, options, args, failures, progress);
        });
    }
    for (auto& t : threads) t.join();
    (*group)->finish();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    std::size_t failed = 0;
    int exit_code = kOk;
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (!failures[i]) continue;
        report_error("sign", files[i].string(), *failures[i]);
        if (failed++ == 0) exit_code = exit_code_for(*failures[i]);
    }
    std::fprintf(stderr, "ribbon sign: %zu signed, %zu failed, %.2f s, %.0f messages/s, %u jobs\n",
                 files.size() - failed, failed, seconds,
                 seconds > 0 ? static_cast<double>(files.size()) / seconds : 0.0, jobs);
    return exit_code;
}

}  // namespace ribbon::cli
