// ribbon/file_group.hpp — many new files in one directory made durable
// together, then named (group commit).
//
// AtomicFileSink (ribbon/io.hpp) pays two fsyncs for every file: on a disk
// each waits for the device to flush its cache, which for `ribbon sign
// --batch` of small messages cost more than the signatures. A FileGroup
// keeps AtomicFileSink's guarantee for each file and pays the flushes once
// per group:
//   1. writers fill hidden temporary files in the directory
//      (.NAME.ribbon-tmp.<16 hex digits>, created with O_EXCL), unsynced;
//   2. one committer thread takes the finished files in groups (every
//      `group_size` files, or when the oldest waited `max_delay`, or at
//      finish()) and writes them all to stable storage with one syncfs(2)
//      of the directory's file system (since Linux 5.8, syncfs(2) reports
//      a writeback error of any file written since the directory was
//      opened, so a lost write fails the group rather than passing
//      silently; Debian 12 runs 6.1);
//   3. only then renames each to its name, and fsyncs the directory once;
//   4. only then reports each file committed.
// So a name never points at an incomplete file (the data is on stable
// storage before the rename is issued), and a file reported committed has
// its data and its name on stable storage, after a SIGKILL or a power loss
// alike. What a crash leaves is unnamed work: temporary files, which the
// next FileGroup on the directory removes (only names of the pattern
// above, and only when no other FileGroup is using the directory: each
// holds a shared flock(2) on it while it lives).
//
// Thread-safety: create(), submit() and finish() may be called from any
// threads; `done` is called on the committer thread, once per submitted
// file, in commit order.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ribbon/error.hpp"
#include "ribbon/io.hpp"

namespace ribbon {

struct FileGroupOptions {
    // A group is committed once this many files wait, or once the oldest
    // waited `max_delay`, or at finish(). A group costs two cache flushes
    // and a syncfs(2) (which walks the file system's dirty inodes: about
    // 0.5 ms of CPU on the project's VM), so groups are made large: at the
    // ~1,500 RSA signatures/s of one core a group holds ~150 files.
    std::size_t group_size = 512;
    std::chrono::milliseconds max_delay{100};
    // Finished files waiting or being committed, at most: submit() waits
    // beyond it, which bounds the work a crash loses when the disk is
    // slower than the writers.
    std::size_t max_pending = 2048;
};

class FileGroup {
  public:
    // Called once per submitted file with its tag: success once the file
    // is on stable storage under its name, else why not (naming the file).
    using Done = std::function<void(std::size_t tag, Result<void> result)>;

    class File;

    // Opens `dir` (which must exist), removes temporary files left by a
    // FileGroup that did not finish (unless another one is using `dir`)
    // and starts the committer thread. Errors: the directory cannot be
    // opened or read → io_error (permanent).
    static Result<std::unique_ptr<FileGroup>> open(const std::filesystem::path& dir, Done done,
                                                   FileGroupOptions options = {});
    // finish(), then releases the directory.
    ~FileGroup();
    FileGroup(const FileGroup&) = delete;
    FileGroup& operator=(const FileGroup&) = delete;

    // A new temporary file for `name` (a plain file name, no '/'), opened
    // for writing. Errors: the file cannot be created → io_error.
    Result<File> create(const std::string& name);
    // Hands a written file over to be committed under its name (closing
    // its descriptor); `done` reports it later. A file whose last writes
    // fail is reported at once, from this thread. Waits while max_pending
    // files are pending.
    void submit(File file, std::size_t tag);
    // Commits everything submitted so far without waiting for a group to
    // fill, and returns once `done` has been called for all of it. No
    // submit() may follow.
    void finish();

    // True for the names of FileGroup's temporary files.
    static bool is_temporary_name(std::string_view name) noexcept;

  private:
    struct State;
    explicit FileGroup(std::unique_ptr<State> state);
    std::unique_ptr<State> m_state;
};

// One temporary file being written: a Sink that buffers small writes.
// Destroying it before submit() removes the file.
class FileGroup::File final : public Sink {
  public:
    File(File&& other) noexcept;
    File& operator=(File&&) = delete;
    File(const File&) = delete;
    ~File() override;

    Result<void> write(std::string_view bytes) override;
    bool discards_uncommitted() const noexcept override { return true; }
    const std::string& name() const noexcept { return m_name; }
    const std::string& temporary_name() const noexcept { return m_tmp; }

  private:
    friend class FileGroup;
    friend struct FileGroup::State;
    File(int dir_fd, std::filesystem::path dir, std::string name, std::string tmp, int fd);
    Result<void> flush();
    // Closes the descriptor and removes the temporary file.
    void discard() noexcept;

    int m_dir_fd = -1;  // the group's; outlives every File
    std::filesystem::path m_dir;
    std::string m_name;
    std::string m_tmp;
    int m_fd = -1;
    std::string m_buffer;
};

}  // namespace ribbon
