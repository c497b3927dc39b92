// file_group.cpp — group commit of new files in one directory (see
// ribbon/file_group.hpp for the order of steps and why it is safe).
#include "ribbon/file_group.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

namespace ribbon {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTmpMarker = ".ribbon-tmp.";
constexpr std::size_t kTmpDigits = 16;
// A temporary name is "." NAME ".ribbon-tmp." 16 digits: NAME is cut so it
// stays within NAME_MAX (255) whatever the final name's length.
constexpr std::size_t kMaxNameInTmp = 200;
// Small writes (the signer writes a message in many pieces) are collected
// up to this size: one write(2) for a typical message.
constexpr std::size_t kWriteBuffer = 64 * 1024;

Error io_failure(ErrorKind kind, const std::string& what, int err) {
    return Error(Errc::io_error, kind, what + ": " + std::strerror(err));
}

// splitmix64: spreads a per-group random seed and a counter over 64 bits,
// so temporary names do not repeat within a process without a getrandom
// call per file; O_EXCL settles any collision with another process.
std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

std::string hex16(std::uint64_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(kTmpDigits, '0');
    for (std::size_t i = kTmpDigits; i-- > 0; v >>= 4) out[i] = kDigits[v & 0xf];
    return out;
}

// Removes the temporary files a FileGroup that did not finish (killed,
// power loss) left in the directory. Only names of FileGroup's own pattern
// are touched; one that cannot be removed stays (it is hidden, and the
// next run tries again), so this never fails a run.
void remove_leftovers(int dir_fd) {
    int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
        ::close(fd);
        return;
    }
    while (const dirent* entry = ::readdir(dir)) {
        if (FileGroup::is_temporary_name(entry->d_name)) ::unlinkat(dir_fd, entry->d_name, 0);
    }
    ::closedir(dir);
}

}  // namespace

struct FileGroup::State {
    struct Pending {
        File file;
        std::size_t tag;
    };

    int dir_fd = -1;
    fs::path dir;
    Done done;
    FileGroupOptions options;
    std::uint64_t seed = 0;
    std::atomic<std::uint64_t> counter{0};

    std::mutex mutex;
    std::condition_variable work;  // the committer waits for files
    std::condition_variable room;  // submit() waits for room
    std::vector<Pending> queue;
    std::chrono::steady_clock::time_point oldest;  // when queue's first file came
    std::size_t pending = 0;                       // queued or being committed
    bool finishing = false;
    std::thread committer;

    ~State() {
        if (dir_fd >= 0) ::close(dir_fd);  // also releases the flock
    }

    void run();
    void commit(std::vector<Pending>& group);
    std::string where(const File& f) const { return (dir / f.m_name).string(); }
};

// ---- File ----------------------------------------------------------------------

FileGroup::File::File(int dir_fd, fs::path dir, std::string name, std::string tmp, int fd)
    : m_dir_fd(dir_fd),
      m_dir(std::move(dir)),
      m_name(std::move(name)),
      m_tmp(std::move(tmp)),
      m_fd(fd) {}

FileGroup::File::File(File&& other) noexcept
    : m_dir_fd(other.m_dir_fd),
      m_dir(std::move(other.m_dir)),
      m_name(std::move(other.m_name)),
      m_tmp(std::exchange(other.m_tmp, {})),
      m_fd(std::exchange(other.m_fd, -1)),
      m_buffer(std::move(other.m_buffer)) {}

FileGroup::File::~File() { discard(); }

void FileGroup::File::discard() noexcept {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
    if (!m_tmp.empty()) ::unlinkat(m_dir_fd, m_tmp.c_str(), 0);
    m_tmp.clear();
}

Result<void> FileGroup::File::write(std::string_view bytes) {
    if (m_buffer.size() + bytes.size() > kWriteBuffer) {
        if (auto r = flush(); !r) return r;
    }
    if (bytes.size() < kWriteBuffer) {
        if (m_buffer.capacity() < kWriteBuffer) m_buffer.reserve(kWriteBuffer);
        m_buffer.append(bytes);
        return {};
    }
    m_buffer.assign(bytes);  // a large piece: written at once, without a copy kept
    return flush();
}

Result<void> FileGroup::File::flush() {
    std::string_view rest = m_buffer;
    while (!rest.empty()) {
        const ssize_t n = ::write(m_fd, rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;  // before the message is built
            return io_failure(ErrorKind::transient, "cannot write " + (m_dir / m_tmp).string(), err);
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    m_buffer.clear();
    return {};
}

// ---- FileGroup -----------------------------------------------------------------

FileGroup::FileGroup(std::unique_ptr<State> state) : m_state(std::move(state)) {}

FileGroup::~FileGroup() { finish(); }

Result<std::unique_ptr<FileGroup>> FileGroup::open(const fs::path& dir, Done done,
                                                   FileGroupOptions options) {
    auto state = std::make_unique<State>();
    state->dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (state->dir_fd < 0) {
        const int err = errno;
        return io_failure(ErrorKind::permanent, "cannot open the directory " + dir.string(), err);
    }
    state->dir = dir;
    state->done = std::move(done);
    state->options = options;
    state->options.group_size = std::max<std::size_t>(state->options.group_size, 1);
    state->options.max_pending = std::max(state->options.max_pending, state->options.group_size);
    std::random_device random;
    state->seed = (std::uint64_t{random()} << 32) ^ random();
    // Leftovers are removed only under an exclusive lock: a FileGroup that
    // is writing into the directory holds a shared one, so its files are
    // never taken for leftovers. Another's exclusive lock only lasts its
    // own clean-up, so waiting for the shared one is short. Without
    // flock(2) (some network file systems), leftovers stay.
    if (::flock(state->dir_fd, LOCK_EX | LOCK_NB) == 0) remove_leftovers(state->dir_fd);
    while (::flock(state->dir_fd, LOCK_SH) != 0 && errno == EINTR) {
    }
    State* s = state.get();
    state->committer = std::thread([s] { s->run(); });
    return std::unique_ptr<FileGroup>(new FileGroup(std::move(state)));
}

bool FileGroup::is_temporary_name(std::string_view name) noexcept {
    if (name.size() < 2 + kTmpMarker.size() + kTmpDigits || name.front() != '.') return false;
    const std::string_view digits = name.substr(name.size() - kTmpDigits);
    if (!std::all_of(digits.begin(), digits.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
        return false;
    }
    return name.substr(name.size() - kTmpDigits - kTmpMarker.size(), kTmpMarker.size()) ==
           kTmpMarker;
}

Result<FileGroup::File> FileGroup::create(const std::string& name) {
    State& s = *m_state;
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        return permanent_error(Errc::io_error, "\"" + name + "\" is not a file name");
    }
    std::string prefix(1, '.');
    prefix.append(name, 0, kMaxNameInTmp).append(kTmpMarker);
    for (int attempt = 0; attempt < 16; ++attempt) {
        std::string tmp =
            prefix + hex16(mix(s.seed + s.counter.fetch_add(1, std::memory_order_relaxed)));
        const int fd =
            ::openat(s.dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) return File(s.dir_fd, s.dir, name, std::move(tmp), fd);
        if (const int err = errno; err != EEXIST) {
            return io_failure(ErrorKind::permanent, "cannot create " + (s.dir / tmp).string(), err);
        }
    }
    return transient_error(Errc::io_error,
                           "cannot create a temporary file for " + (s.dir / name).string());
}

void FileGroup::submit(File file, std::size_t tag) {
    State& s = *m_state;
    // The committer needs no descriptor (syncfs, renameat): closed here, so
    // the pending files hold none.
    Result<void> written = file.flush();
    if (::close(std::exchange(file.m_fd, -1)) != 0 && written) {
        const int err = errno;
        written = io_failure(ErrorKind::transient, "cannot write " + (s.dir / file.m_tmp).string(), err);
    }
    if (!written) {
        file.discard();
        s.done(tag, std::move(written));
        return;
    }
    std::unique_lock lock(s.mutex);
    s.room.wait(lock, [&] { return s.pending < s.options.max_pending; });
    if (s.queue.empty()) s.oldest = std::chrono::steady_clock::now();
    s.queue.push_back({std::move(file), tag});
    ++s.pending;
    // The committer waits for a first file, then for a full group (or its
    // deadline): waking it for any other file would cost a context switch
    // per file for nothing.
    const bool wake = s.queue.size() == 1 || s.queue.size() == s.options.group_size;
    lock.unlock();
    if (wake) s.work.notify_one();
}

void FileGroup::finish() {
    State& s = *m_state;
    if (!s.committer.joinable()) return;
    {
        std::lock_guard lock(s.mutex);
        s.finishing = true;
    }
    s.work.notify_one();
    s.committer.join();
}

// The committer: waits for a group (full, old enough, or the last one),
// takes every file queued and commits them while writers go on.
void FileGroup::State::run() {
    std::vector<Pending> group;
    std::unique_lock lock(mutex);
    for (;;) {
        work.wait(lock, [&] { return finishing || !queue.empty(); });
        if (queue.empty()) return;  // finishing, and nothing left
        work.wait_until(lock, oldest + options.max_delay,
                        [&] { return finishing || queue.size() >= options.group_size; });
        group.swap(queue);
        lock.unlock();
        commit(group);
        const std::size_t n = group.size();
        group.clear();
        lock.lock();
        pending -= n;
        room.notify_all();
    }
}

// One group: data to stable storage, then names, then the directory; a
// file is reported only after all three (ribbon/file_group.hpp).
void FileGroup::State::commit(std::vector<Pending>& group) {
    std::vector<std::optional<Error>> failed(group.size());
    // One syncfs(2) writes every file of the group and their inodes and
    // flushes the disk's cache once; an fdatasync per file flushes it once
    // per file, even after sync_file_range started them all (on the
    // project's VM, groups of 256 files of 5 KB: 9–11 ms per group against
    // 18–22 ms, and 40 µs of CPU per file in all against 55). Its error
    // cannot say which file failed, so it fails the whole group; it may be
    // another file's on the same file system (reported since `dir_fd` was
    // opened), which fails a group that might have been fine, never the
    // other way round.
    if (::syncfs(dir_fd) != 0) {
        const int err = errno;
        for (std::size_t i = 0; i < group.size(); ++i) {
            failed[i] = io_failure(ErrorKind::transient,
                                   "cannot write " + where(group[i].file) + " to disk (syncfs of " +
                                       dir.string() + " for a group of " +
                                       std::to_string(group.size()) + " files)",
                                   err);
            group[i].file.discard();
        }
    }
    bool renamed_any = false;
    for (std::size_t i = 0; i < group.size(); ++i) {
        File& f = group[i].file;
        if (failed[i]) continue;
        if (::renameat(dir_fd, f.m_tmp.c_str(), dir_fd, f.m_name.c_str()) != 0) {
            const int err = errno;
            failed[i] = io_failure(ErrorKind::transient,
                                   "cannot rename " + (dir / f.m_tmp).string() + " to " + where(f), err);
            f.discard();
            continue;
        }
        f.m_tmp.clear();  // it has its name now: nothing to remove
        renamed_any = true;
    }
    // A name is durable only once the directory is: until then a crash may
    // lose it, so no file of the group is reported before this.
    if (renamed_any && ::fsync(dir_fd) != 0) {
        const int err = errno;
        for (std::size_t i = 0; i < group.size(); ++i) {
            if (failed[i]) continue;
            failed[i] = io_failure(ErrorKind::transient,
                                   "cannot sync the directory " + dir.string() + " after naming " +
                                       where(group[i].file),
                                   err);
        }
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
        done(group[i].tag, failed[i] ? Result<void>(std::move(*failed[i])) : Result<void>());
    }
}

}  // namespace ribbon
