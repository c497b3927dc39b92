// sqlite_store.cpp — the SQLite backend of the recipients store: one file,
// one host, any number of ribbon processes on it (docs/STORE.md).
//
// WAL mode (https://sqlite.org/wal.html): readers never wait for the
// writer, and one writer at a time waits for another up to the busy
// timeout. Each write takes the write lock at its start (BEGIN IMMEDIATE),
// so two processes never deadlock upgrading read locks; SQLite then returns
// SQLITE_BUSY only when the timeout has passed. synchronous=NORMAL is WAL's
// recommended setting: a power cut may lose the last few observations,
// never the file's consistency — an acceptable price for learning data.
//
// Read-only commands (StoreAccess::read_only) open the file with
// SQLITE_OPEN_READONLY. A WAL reader still needs the -shm file, which the
// first reader creates; a user who cannot write in the directory cannot,
// so when no -wal file is there (every commit is in the database file) the
// file is read as immutable instead (https://sqlite.org/wal.html, "Read-Only
// Databases"; https://sqlite.org/uri.html, "immutable").
//
// Trusts the file as far as SQLite does: a file that is not a database or
// is damaged is reported as store_corrupt, never "repaired".
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "store/backends.hpp"
#include "store/sql_store.hpp"
#include "store/wal_checkpointer.hpp"

namespace ribbon::store {

namespace fs = std::filesystem;

namespace {

constexpr int kBusyTimeoutMs = 5000;

// SQLite 3.40 has no unhex(): each digit's value from its place in the
// digit string, shifted into place.
std::string sqlite_hex60(std::string_view column) {
    std::string out = "(";
    for (int i = 0; i < 15; ++i) {
        if (i) out += " | ";
        out.append("((instr('0123456789abcdef', substr(")
            .append(column)
            .append(", ")
            .append(std::to_string(i + 1))
            .append(", 1)) - 1) << ")
            .append(std::to_string(4 * (14 - i)))
            .append(")");
    }
    return out + ")";
}

const Dialect kSqlite{"TEXT", "BLOB", " WITHOUT ROWID", &sqlite_hex60, "INTEGER PRIMARY KEY"};

struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

class SqliteRow final : public Row {
  public:
    explicit SqliteRow(sqlite3_stmt* s) : m_s(s) {}
    std::int64_t int64(int c) const override { return sqlite3_column_int64(m_s, c); }
    double real(int c) const override { return sqlite3_column_double(m_s, c); }
    bool boolean(int c) const override { return sqlite3_column_int64(m_s, c) != 0; }
    std::string text(int c) const override {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_s, c));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(m_s, c))) : "";
    }
    std::string blob(int c) const override {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(m_s, c));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(m_s, c))) : "";
    }

  private:
    sqlite3_stmt* m_s;
};

// Leaves a prepared statement ready for its next use, however run() ends.
struct ResetGuard {
    sqlite3_stmt* s;
    ~ResetGuard() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
};

class SqliteStore final : public SqlStore {
  public:
    static Result<std::unique_ptr<RecipientStore>> open(const fs::path& file, StoreAccess access);

  protected:
    Result<void> run(Stmt s, const Params& params, const RowSink& sink) override;
    Result<void> write_transaction(const std::function<Result<void>()>& body) override;
    Result<void> migration_transaction(const std::function<Result<void>()>& body) override {
        // BEGIN IMMEDIATE already excludes every other writer, migrating or not.
        return write_transaction(body);
    }
    Result<void> exec(std::string_view sql) override;
    Result<std::int64_t> query_int(std::string_view sql) override;
    std::string_view schema_table_query() const override {
        return "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ribbon_schema'";
    }
    const Dialect& dialect() const override { return kSqlite; }

  private:
    SqliteStore(fs::path file, DbPtr db)
        : SqlStore(file.string()), m_file(std::move(file)), m_db(std::move(db)) {}

    // The file opened read-only, as SQLite `name` (a path, or a file: URI
    // when `flags` has SQLITE_OPEN_URI); nullptr when its schema is older
    // and needs the read-write open to migrate it.
    static Result<std::unique_ptr<SqliteStore>> open_read_only(const fs::path& file,
                                                               const std::string& name, int flags);

    Error fail(int rc, std::string_view doing) const;
    Result<void> use_wal();
    // `keep`: prepared once for the store's life (SQLITE_PREPARE_PERSISTENT).
    Result<StmtPtr> prepare(std::string_view sql, bool keep = false);
    Result<void> step_all(sqlite3_stmt* s, const RowSink& sink, std::string_view doing);

    fs::path m_file;
    // Before m_db: the connection is closed before its hook's object goes.
    std::unique_ptr<WalCheckpointer> m_checkpointer;
    DbPtr m_db;
    // After m_db: destroyed (finalized) before the connection is closed.
    std::array<StmtPtr, kStmtCount> m_stmts;
};

// SQLite's result codes (https://sqlite.org/rescode.html) sorted into what
// the caller should do: a damaged or foreign file will not heal; a lock, a
// read-only file, a full disk or an I/O error may, once someone acts.
Error SqliteStore::fail(int rc, std::string_view doing) const {
    std::string msg = label() + ": " + std::string(doing) + ": " +
                      (m_db ? sqlite3_errmsg(m_db.get()) : sqlite3_errstr(rc));
    // The OS error behind a failed open or I/O (EACCES, ENOSPC, ...); it
    // would be stale for any other code.
    const int primary = rc & 0xff;
    if (m_db && (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR)) {
        if (const int e = sqlite3_system_errno(m_db.get()); e != 0) {
            msg += std::string(" (") + std::strerror(e) + ")";
        }
    }
    if ((primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) &&
        ::access(m_file.parent_path().c_str(), W_OK) != 0) {
        msg += "; this user cannot write in " + m_file.parent_path().string() +
               ", where SQLite keeps the database's -wal and -shm files";
    }
    switch (primary) {
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
            return permanent_error(Errc::store_corrupt, msg);
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_FULL:
        case SQLITE_IOERR:
        case SQLITE_PERM:
        case SQLITE_AUTH:
        case SQLITE_NOMEM:
        case SQLITE_PROTOCOL:
        case SQLITE_NOLFS:
            return transient_error(Errc::store_unavailable, msg);
        default:
            return Error(Errc::internal_error, ErrorKind::internal, msg);
    }
}

Result<StmtPtr> SqliteStore::prepare(std::string_view sql, bool keep) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(m_db.get(), sql.data(), static_cast<int>(sql.size()),
                                      keep ? SQLITE_PREPARE_PERSISTENT : 0, &raw, nullptr);
    StmtPtr s(raw);
    if (rc != SQLITE_OK) return fail(rc, "preparing \"" + std::string(sql.substr(0, 60)) + "...\"");
    return s;
}

Result<void> SqliteStore::step_all(sqlite3_stmt* s, const RowSink& sink, std::string_view doing) {
    for (;;) {
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) return {};
        if (rc != SQLITE_ROW) return fail(rc, doing);
        if (sink) sink(SqliteRow(s));
    }
}

Result<void> SqliteStore::exec(std::string_view sql) {
    auto s = prepare(sql);
    if (!s) return std::move(s).error();
    return step_all(s->get(), {}, sql.substr(0, sql.find_first_of("(\n")));
}

Result<std::int64_t> SqliteStore::query_int(std::string_view sql) {
    auto s = prepare(sql);
    if (!s) return std::move(s).error();
    std::int64_t value = 0;
    bool first = true;
    auto r = step_all(
        s->get(),
        [&](const Row& row) {
            if (first) value = row.int64(0);  // NULL reads as 0
            first = false;
        },
        "reading the schema version");
    if (!r) return std::move(r).error();
    return value;
}

Result<void> SqliteStore::run(Stmt id, const Params& params, const RowSink& sink) {
    StmtPtr& slot = m_stmts[static_cast<std::size_t>(id)];
    if (!slot) {
        auto s = prepare(sqlite_placeholders(statement_sql(id)), true);
        if (!s) return std::move(s).error();
        slot = std::move(*s);
    }
    sqlite3_stmt* s = slot.get();
    ResetGuard guard{s};
    // SQLITE_STATIC: `params` outlives every step, and the guard clears the
    // bindings before run() returns.
    for (std::size_t i = 0; i < params.size(); ++i) {
        const int n = static_cast<int>(i) + 1;
        const Value& v = params[i];
        int rc = SQLITE_OK;
        if (const auto* i64 = std::get_if<std::int64_t>(&v))
            rc = sqlite3_bind_int64(s, n, *i64);
        else if (const auto* d = std::get_if<double>(&v))
            rc = sqlite3_bind_double(s, n, *d);
        else if (const auto* b = std::get_if<bool>(&v))
            rc = sqlite3_bind_int(s, n, *b ? 1 : 0);
        else if (const auto* t = std::get_if<std::string>(&v))
            rc = sqlite3_bind_text64(s, n, t->data(), t->size(), SQLITE_STATIC, SQLITE_UTF8);
        else {
            const std::string& bytes = std::get<Blob>(v).bytes;  // data() is never null
            rc = sqlite3_bind_blob64(s, n, bytes.data(), bytes.size(), SQLITE_STATIC);
        }
        if (rc != SQLITE_OK) return fail(rc, "binding a parameter");
    }
    return step_all(s, sink, statement_purpose(id));
}

// WAL mode is a property of the file, so only its first opener switches
// it. Switching needs the file to itself, and SQLite answers SQLITE_BUSY
// at once rather than calling the busy handler when another connection
// reads it: two processes opening a new file together (the two-process
// test) would see "database is locked". So the wait is done here, for as
// long as the busy timeout.
Result<void> SqliteStore::use_wal() {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
    for (;;) {
        auto s = prepare("PRAGMA journal_mode");
        if (!s) return std::move(s).error();
        std::string mode;
        auto r = step_all(
            s->get(), [&](const Row& row) { mode = row.text(0); }, "reading the journal mode");
        if (!r) return r;
        // A file ribbon may only read stays as it is; writes will say so.
        if (mode == "wal" || sqlite3_db_readonly(m_db.get(), "main") == 1) return {};
        r = exec("PRAGMA journal_mode = WAL");
        if (r || r.error().code() != Errc::store_unavailable ||
            std::chrono::steady_clock::now() >= deadline) {
            return r;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

Result<void> SqliteStore::write_transaction(const std::function<Result<void>()>& body) {
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
    auto r = body();
    if (r) r = exec("COMMIT");
    // Some errors (a full disk, an I/O error) end the transaction already.
    if (!r && !sqlite3_get_autocommit(m_db.get())) (void)exec("ROLLBACK");
    return r;
}

// `file` as an SQLite URI (https://sqlite.org/uri.html): every byte but
// unreserved ones and '/' percent-encoded, so '?', '#' and '%' in a path
// stay part of it.
std::string file_uri(const fs::path& file) {
    std::string out = "file:";
    for (const unsigned char c : file.string()) {
        if (std::isalnum(c) != 0 || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            out += hex;
        }
    }
    return out;
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open_read_only(const fs::path& file,
                                                                 const std::string& name,
                                                                 int flags) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(
        name.c_str(), &raw,
        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE | flags, nullptr);
    DbPtr db(raw);  // closed on every path, even when the open failed
    std::unique_ptr<SqliteStore> store(new SqliteStore(file, std::move(db)));
    if (rc != SQLITE_OK) return store->fail(rc, "open");
    sqlite3_busy_timeout(store->m_db.get(), kBusyTimeoutMs);
    // The first read: a file that is not a database fails here.
    auto current = store->schema_is_current();
    if (!current) return std::move(current).error();
    if (!*current) return std::unique_ptr<SqliteStore>();
    return store;
}

Result<std::unique_ptr<RecipientStore>> SqliteStore::open(const fs::path& file,
                                                          StoreAccess access) {
    std::error_code ec;
    const fs::path dir = file.parent_path();
    if (!fs::is_directory(dir, ec)) {
        return permanent_error(Errc::bad_config, "recipients store " + file.string() +
                                                     ": the directory " + dir.string() +
                                                     " does not exist (ribbon creates the file, "
                                                     "not its directory)");
    }
    if (access == StoreAccess::read_only && fs::exists(file, ec)) {
        auto ro = open_read_only(file, file.string(), 0);
        if (!ro && ro.error().code() == Errc::store_unavailable &&
            ::access(dir.c_str(), W_OK) != 0 && !fs::exists(file.string() + "-wal", ec)) {
            // No -shm and no right to create one, but no -wal either: the
            // database file holds every commit. (A writer that starts now
            // writes to a new -wal; only its checkpoint, copying pages back
            // during this read, could give it a mix of old and new pages:
            // acceptable for a one-shot report, which can be rerun.)
            ro = open_read_only(file, file_uri(file) + "?immutable=1", SQLITE_OPEN_URI);
        }
        if (!ro) return std::move(ro).error();
        if (*ro) return std::unique_ptr<RecipientStore>(std::move(*ro));
        // An older schema: the read-write open below migrates it, or says
        // why it cannot.
    }
    // Created here rather than by SQLite, which would make it 0644: the
    // file says who the organisation's customers are.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0)
        ::close(fd);
    else if (errno != EEXIST) {
        return transient_error(
            Errc::store_unavailable,
            "recipients store " + file.string() + ": cannot create it: " + std::strerror(errno));
    }
    sqlite3* raw = nullptr;
    // Read-write when the file allows it; SQLite falls back to read-only
    // otherwise, so lookups still work and writes fail as store_unavailable.
    const int rc = sqlite3_open_v2(
        file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
        nullptr);
    DbPtr db(raw);  // closed on every path, even when the open failed
    std::unique_ptr<SqliteStore> store(new SqliteStore(file, std::move(db)));
    if (rc != SQLITE_OK) return store->fail(rc, "open");
    sqlite3_busy_timeout(store->m_db.get(), kBusyTimeoutMs);
    // The first statements read the file: a file that is not a database
    // fails here with SQLITE_NOTADB.
    // synchronous = NORMAL is durable in WAL mode against a crash of ribbon
    // (a power cut may lose the last transactions, never corrupts). WAL
    // checkpoints are where the fsyncs are; they run on a thread of their
    // own, past 4,000 pages of WAL rather than SQLite's 1,000
    // (wal_checkpointer.hpp). The page cache of 16 MiB keeps the sightings'
    // index pages in memory.
    for (const char* pragma :
         {"PRAGMA foreign_keys = ON", "PRAGMA synchronous = NORMAL", "PRAGMA cache_size = -16384"}) {
        if (auto r = store->exec(pragma); !r) return std::move(r).error();
    }
    if (auto r = store->use_wal(); !r) return std::move(r).error();
    store->m_checkpointer = std::make_unique<WalCheckpointer>(file);
    store->m_checkpointer->install(store->m_db.get());
    if (auto r = store->migrate(); !r) return std::move(r).error();
    return std::unique_ptr<RecipientStore>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<RecipientStore>> open_sqlite(const fs::path& file, StoreAccess access) {
    return SqliteStore::open(file, access);
}

}  // namespace ribbon::store
