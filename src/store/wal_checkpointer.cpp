// wal_checkpointer.cpp — see wal_checkpointer.hpp.
#include "store/wal_checkpointer.hpp"

#include <utility>

namespace ribbon::store {

namespace {

struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

}  // namespace

WalCheckpointer::WalCheckpointer(std::filesystem::path file) : m_file(std::move(file)) {}

WalCheckpointer::~WalCheckpointer() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_cv.notify_one();
    if (m_thread.joinable()) m_thread.join();
}

void WalCheckpointer::install(sqlite3* db) { sqlite3_wal_hook(db, &WalCheckpointer::on_commit, this); }

int WalCheckpointer::on_commit(void* self, sqlite3* db, const char* schema, int wal_pages) {
    if (wal_pages < kStartPages) return SQLITE_OK;
    if (wal_pages >= kBackstopPages || static_cast<WalCheckpointer*>(self)->copied()) {
        // What SQLite's own hook would have done; a busy or failed
        // checkpoint is the next commit's to try (its result is not the
        // commit's, which has already succeeded).
        (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else {
        static_cast<WalCheckpointer*>(self)->wake();
    }
    return SQLITE_OK;
}

bool WalCheckpointer::copied() {
    std::lock_guard lock(m_mutex);
    return std::exchange(m_copied, false);
}

void WalCheckpointer::wake() {
    std::lock_guard lock(m_mutex);
    if (m_stopping || m_running || m_wanted) return;
    m_wanted = true;
    if (!m_thread.joinable()) {
        m_thread = std::thread([this] { run(); });
    } else {
        m_cv.notify_one();
    }
}

void WalCheckpointer::run() {
    std::unique_ptr<sqlite3, Closer> db;
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_cv.wait(lock, [&] { return m_wanted || m_stopping; });
        if (m_stopping) return;
        m_wanted = false;
        m_running = true;
        lock.unlock();
        if (!db) {
            sqlite3* raw = nullptr;
            const int rc = sqlite3_open_v2(m_file.c_str(), &raw,
                                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
            db.reset(raw);
            // A checkpoint needs the connection to have read the file, and so
            // found it in WAL mode; any read will do.
            if (rc != SQLITE_OK ||
                sqlite3_exec(raw, "SELECT COUNT(*) FROM sqlite_master", nullptr, nullptr, nullptr) !=
                    SQLITE_OK) {
                db.reset();  // tried again when next woken
            }
        }
        // Its own connection: PASSIVE copies what no reader still needs and
        // waits for nobody; the writer goes on committing meanwhile, so the
        // frames it added are copied in another pass, until few were added
        // (each pass is shorter than the one before: copying is faster than
        // committing), and the writer's own checkpoint has little left.
        int copied_to = 0;
        for (int pass = 0; db && pass < kMaxPasses; ++pass) {
            int wal_frames = 0;
            if (sqlite3_wal_checkpoint_v2(db.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames,
                                          nullptr) != SQLITE_OK ||
                wal_frames - copied_to < kFewFrames) {
                break;
            }
            copied_to = wal_frames;
        }
        lock.lock();
        m_running = false;
        m_copied = db != nullptr;
    }
}

}  // namespace ribbon::store
