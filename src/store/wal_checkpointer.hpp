// wal_checkpointer.hpp — SQLite WAL checkpoints on a thread of their own,
// not in the commit that happens to fill the WAL. Private to the store.
//
// In WAL mode a commit appends pages to the -wal file, and a checkpoint
// copies them back into the database file and syncs it. SQLite's automatic
// checkpoint runs inside the commit that crosses the threshold, so that one
// commit waits for thousands of page writes and an fdatasync: measured on
// this project's disk, two thirds of the time spent committing key
// sightings went to the 0.1 % of commits that checkpointed (docs/STORE.md).
// A writer that records for others (inbound::SightingRecorder, the milter's
// learning) holds everyone waiting on it meanwhile.
//
// So a read-write SqliteStore installs this object's WAL hook in place of
// the automatic checkpoint: past kStartPages it wakes a thread that runs a
// PASSIVE checkpoint (which never blocks readers or the writer) on its own
// connection. That copies nearly everything, but a writer that never stops
// keeps appending, and SQLite starts the WAL file over only when a write
// begins with every frame copied; so once the thread is done, the next
// commit past kStartPages checkpoints the few frames left itself, and the
// write after it starts the WAL over (a WAL that only grows means new
// blocks for every page). Past kBackstopPages, when the thread cannot keep
// up, the committing connection checkpoints itself as SQLite would have,
// so the WAL stays bounded. The thread is started on first need and
// stopped with the store; a failed checkpoint is simply tried again at the
// next threshold.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

namespace ribbon::store {

class WalCheckpointer {
public:
    static constexpr int kStartPages = 4000;     // 16 MB of WAL at 4 KiB pages
    static constexpr int kBackstopPages = 32000;  // 128 MB
    // The thread's passes: until one copies fewer new frames than this.
    static constexpr int kFewFrames = 256;
    static constexpr int kMaxPasses = 8;

    explicit WalCheckpointer(std::filesystem::path file);
    ~WalCheckpointer();
    WalCheckpointer(const WalCheckpointer&) = delete;
    WalCheckpointer& operator=(const WalCheckpointer&) = delete;

    // Makes `db` (a connection to the file) call this object after each
    // commit instead of checkpointing by itself. `db` must be closed before
    // this object is destroyed.
    void install(sqlite3* db);

private:
    static int on_commit(void* self, sqlite3* db, const char* schema, int wal_pages);
    void wake();
    // Whether the thread has finished a checkpoint since last asked.
    bool copied();
    void run();

    const std::filesystem::path m_file;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_wanted = false;
    bool m_running = false;  // the thread's checkpoint is under way
    bool m_copied = false;   // it has finished: the remainder is the writer's
    bool m_stopping = false;
    std::thread m_thread;
};

}  // namespace ribbon::store
