// pg_store.cpp — the PostgreSQL backend of the recipients store: one
// database shared by several ribbon hosts (docs/STORE.md).
//
// One connection per store, statements prepared on it once (again after a
// reconnection), parameters sent separately from the SQL (text, except the
// certificates' DER, sent binary). Concurrency is the server's: record()'s
// upserts run in READ COMMITTED, where INSERT ... ON CONFLICT DO UPDATE
// either inserts or locks and updates the existing row, so two writers for
// one address are serialised on its row and no update is lost
// (https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT).
//
// Never hangs: connect_timeout bounds connecting, TCP keepalives and
// tcp_user_timeout a dead peer, statement_timeout a slow query, and every
// answer is awaited with poll() for at most kAnswerTimeout, for a server
// that is alive at the TCP level but answers nothing. A lost connection is
// re-established once by the next call; meanwhile calls fail at once as
// store_unavailable (kReconnectPause), not after a connect timeout each.
//
// Trusts the server; the URL may hold a password, which no message repeats.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <optional>

#include "store/backends.hpp"
#include "store/sql_store.hpp"

namespace ribbon::store {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kAnswerTimeout = 15s;
constexpr auto kReconnectPause = 1s;
// Any number, the same in every ribbon: pg_advisory_xact_lock's key for
// "a migration is running". "ribbon" in ASCII.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(491496386414)";
// Text to bit string by its input syntax ('x' and hex digits), then to an
// integer.
std::string pg_hex60(std::string_view column) {
    return std::string("('x' || substr(").append(column).append(", 1, 15))::bit(60)::bigint");
}

const Dialect kPostgres{"TEXT COLLATE \"C\"", "BYTEA", "", &pg_hex60,
                        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"};

// Connection settings ribbon supplies unless the URL has its own.
// https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-PARAMKEYWORDS
const std::pair<const char*, const char*> kDefaults[] = {
    {"connect_timeout", "5"},       // seconds
    {"tcp_user_timeout", "10000"},  // ms: unacknowledged data to a dead peer
    {"keepalives_idle", "30"},      // an idle connection to a vanished host
    {"keepalives_interval", "10"},
    {"keepalives_count", "3"},
    {"client_encoding", "UTF8"},  // what ribbon sends (to_utf8_text)
    {"fallback_application_name", "ribbon"},
};
// Prepended to the URL's own "options", so the URL can still override it.
constexpr const char* kServerOptions = "-c statement_timeout=10000";

struct ConnCloser {
    void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;

struct ResultClearer {
    void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;

struct OptionsFreer {
    void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

struct PqFreer {
    void operator()(void* p) const { PQfreemem(p); }
};

std::string trimmed(const char* text) {
    std::string s = text ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

class PgRow final : public Row {
  public:
    PgRow(const PGresult* r, int row) : m_r(r), m_row(row) {}
    std::int64_t int64(int c) const override {
        std::int64_t v = 0;
        const char* p = PQgetvalue(m_r, m_row, c);
        std::from_chars(p, p + PQgetlength(m_r, m_row, c), v);
        return v;
    }
    double real(int c) const override {
        double v = 0;
        const char* p = PQgetvalue(m_r, m_row, c);
        std::from_chars(p, p + PQgetlength(m_r, m_row, c), v);
        return v;
    }
    bool boolean(int c) const override { return PQgetvalue(m_r, m_row, c)[0] == 't'; }
    std::string text(int c) const override {
        return std::string(PQgetvalue(m_r, m_row, c),
                           static_cast<std::size_t>(PQgetlength(m_r, m_row, c)));
    }
    std::string blob(int c) const override {
        // bytea in text form: "\x..." (or the old escape format; libpq
        // decodes both).
        std::size_t n = 0;
        std::unique_ptr<unsigned char, PqFreer> bytes(
            PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(m_r, m_row, c)), &n));
        return bytes ? std::string(reinterpret_cast<const char*>(bytes.get()), n) : "";
    }

  private:
    const PGresult* m_r;
    int m_row;
};

class PgStore final : public SqlStore {
  public:
    static Result<std::unique_ptr<RecipientStore>> open(const std::string& url);

  protected:
    Result<void> run(Stmt s, const Params& params, const RowSink& sink) override;
    Result<void> write_transaction(const std::function<Result<void>()>& body) override;
    Result<void> migration_transaction(const std::function<Result<void>()>& body) override;
    Result<void> exec(std::string_view sql) override;
    Result<std::int64_t> query_int(std::string_view sql) override;
    // A plain query on pg_class, not to_regclass(): that one consults the
    // backend's catalog cache, which still says "no such table" after
    // another opener's migration committed while this one waited for the
    // migration lock (found by the two-process test). The schemas are the
    // search path's, where the unqualified names in the statements resolve.
    std::string_view schema_table_query() const override {
        return "SELECT COUNT(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
               "ON n.oid = c.relnamespace WHERE c.relname = 'ribbon_schema' "
               "AND n.nspname = ANY (current_schemas(false))";
    }
    const Dialect& dialect() const override { return kPostgres; }

  private:
    PgStore(std::string label, std::vector<std::string> keys, std::vector<std::string> values)
        : SqlStore(std::move(label)), m_keys(std::move(keys)), m_values(std::move(values)) {}

    Result<void> connect();
    Result<void> ensure_connected();
    Result<ResultPtr> await(std::string_view doing);
    Result<ResultPtr> simple(std::string_view sql);
    Result<ResultPtr> prepared(Stmt s, const Params& params);
    Error failure(const PGresult* r, std::string_view doing);
    bool retryable_conflict() const { return m_sqlstate == "40001" || m_sqlstate == "40P01"; }

    std::vector<std::string> m_keys, m_values;  // the connection parameters
    ConnPtr m_conn;
    std::array<bool, kStmtCount> m_prepared{};
    bool m_in_transaction = false;
    bool m_lost = false;     // the last failure was the connection's
    std::string m_sqlstate;  // of the last failure, "" when none
    Clock::time_point m_retry_at{};
    std::optional<Error> m_connect_error;
};

Result<void> PgStore::connect() {
    m_prepared.fill(false);
    m_lost = false;
    if (m_conn) {
        PQreset(m_conn.get());
    } else {
        std::vector<const char*> keys, values;
        for (std::size_t i = 0; i < m_keys.size(); ++i) {
            keys.push_back(m_keys[i].c_str());
            values.push_back(m_values[i].c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        m_conn.reset(PQconnectdbParams(keys.data(), values.data(), 0));
    }
    if (m_conn && PQstatus(m_conn.get()) == CONNECTION_OK) {
        m_connect_error.reset();
        // Notices (NOTICE, WARNING) would go to stderr by default.
        PQsetNoticeProcessor(
            m_conn.get(), [](void*, const char*) {}, nullptr);
        return {};
    }
    m_retry_at = Clock::now() + kReconnectPause;
    m_connect_error = transient_error(
        Errc::store_unavailable,
        label() + ": cannot connect: " +
            (m_conn ? trimmed(PQerrorMessage(m_conn.get())) : std::string("out of memory")));
    return *m_connect_error;
}

Result<void> PgStore::ensure_connected() {
    if (m_conn && PQstatus(m_conn.get()) == CONNECTION_OK) return {};
    if (m_connect_error && Clock::now() < m_retry_at) return *m_connect_error;
    return connect();
}

// SQLSTATEs (https://www.postgresql.org/docs/15/errcodes-appendix.html)
// sorted into what the caller should do.
Error PgStore::failure(const PGresult* r, std::string_view doing) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    m_sqlstate = state ? state : "";
    m_lost = !m_conn || PQstatus(m_conn.get()) != CONNECTION_OK;
    std::string msg = trimmed(r ? PQresultErrorMessage(r) : nullptr);
    if (msg.empty() && m_conn) msg = trimmed(PQerrorMessage(m_conn.get()));
    msg = label() + ": " + std::string(doing) + ": " + msg;
    if (!m_sqlstate.empty()) msg += " (SQLSTATE " + m_sqlstate + ")";
    const std::string_view cls = std::string_view(m_sqlstate).substr(0, 2);
    // 08 connection, 53 resources (disk full, too many connections), 57
    // operator intervention and statement_timeout, 40 conflicts left after
    // the retries, 55P03 lock timeout, 25006 a read-only standby, 42501 no
    // privilege (like a file ribbon may not write).
    if (m_lost || cls == "08" || cls == "53" || cls == "57" || cls == "40" ||
        m_sqlstate == "55P03" || m_sqlstate == "25006" || m_sqlstate == "42501") {
        return transient_error(Errc::store_unavailable, msg);
    }
    // 42 a table or column not as the schema says; XX001/XX002 damage.
    if (cls == "42" || m_sqlstate == "XX001" || m_sqlstate == "XX002") {
        return permanent_error(Errc::store_corrupt, msg);
    }
    return Error(Errc::internal_error, ErrorKind::internal, msg);
}

// The answer to what was just sent: its last result, or its first error.
Result<ResultPtr> PgStore::await(std::string_view doing) {
    PGconn* c = m_conn.get();
    const auto deadline = Clock::now() + kAnswerTimeout;
    ResultPtr kept;
    for (;;) {
        while (PQisBusy(c) && PQstatus(c) == CONNECTION_OK) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            pollfd p{PQsocket(c), POLLIN, 0};
            const int n = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) {
                // Alive at the TCP level but silent: give the connection up
                // (the server ends the transaction when it notices).
                // Nor is a new connection tried within this call or for
                // the next kReconnectPause: a hung server would cost each
                // call a connect timeout on top.
                m_conn.reset();
                m_lost = true;
                m_sqlstate.clear();
                m_connect_error = transient_error(Errc::store_unavailable,
                                                  label() + ": " + std::string(doing) +
                                                      ": no answer from the server within 15 s");
                m_retry_at = Clock::now() + kReconnectPause;
                return *m_connect_error;
            }
            if (!PQconsumeInput(c)) break;  // PQgetResult reports why
        }
        ResultPtr r(PQgetResult(c));  // does not block: busy only if the connection broke
        if (!r) break;
        const bool kept_bad = kept && PQresultStatus(kept.get()) != PGRES_COMMAND_OK &&
                              PQresultStatus(kept.get()) != PGRES_TUPLES_OK;
        if (!kept_bad) kept = std::move(r);
    }
    if (!kept) return failure(nullptr, doing);
    const ExecStatusType st = PQresultStatus(kept.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return failure(kept.get(), doing);
    m_sqlstate.clear();
    return kept;
}

Result<ResultPtr> PgStore::simple(std::string_view sql) {
    const std::string text(sql);
    const std::string doing = text.substr(0, text.find_first_of("(\n"));
    if (!PQsendQuery(m_conn.get(), text.c_str())) return failure(nullptr, doing);
    return await(doing);
}

Result<ResultPtr> PgStore::prepared(Stmt s, const Params& params) {
    const std::size_t index = static_cast<std::size_t>(s);
    const std::string name = "ribbon_" + std::to_string(index);
    if (!m_prepared[index]) {
        const std::string sql(statement_sql(s));
        if (!PQsendPrepare(m_conn.get(), name.c_str(), sql.c_str(), 0, nullptr))
            return failure(nullptr, "preparing statements");
        if (auto r = await("preparing statements"); !r) return std::move(r).error();
        m_prepared[index] = true;
    }
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size()), formats(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
        const Value& v = params[i];
        if (const auto* i64 = std::get_if<std::int64_t>(&v))
            text[i] = std::to_string(*i64);
        else if (const auto* d = std::get_if<double>(&v)) {
            char buf[32];  // shortest form that reads back as the same double
            text[i].assign(buf, std::to_chars(buf, buf + sizeof buf, *d).ptr);
        } else if (const auto* b = std::get_if<bool>(&v))
            text[i] = *b ? "true" : "false";
        else if (const auto* t = std::get_if<std::string>(&v))
            text[i] = *t;
        else {
            text[i] = std::get<Blob>(v).bytes;
            formats[i] = 1;  // binary: the DER as it is
        }
        values[i] = text[i].data();
        lengths[i] = static_cast<int>(text[i].size());
    }
    if (!PQsendQueryPrepared(m_conn.get(), name.c_str(), static_cast<int>(params.size()),
                             values.data(), lengths.data(), formats.data(), 0)) {
        return failure(nullptr, statement_purpose(s));
    }
    return await(statement_purpose(s));
}

Result<void> PgStore::run(Stmt s, const Params& params, const RowSink& sink) {
    // Outside a transaction a statement whose connection turned out to be
    // lost (the server restarted since the last call) is tried once more on
    // a new one; inside one, the transaction's owner decides.
    for (int attempt = 0;; ++attempt) {
        if (!m_in_transaction) {
            if (auto c = ensure_connected(); !c) return c;
        }
        auto r = prepared(s, params);
        if (!r) {
            if (m_lost && !m_in_transaction && attempt == 0) continue;
            return std::move(r).error();
        }
        if (sink) {
            const int rows = PQntuples(r->get());
            for (int i = 0; i < rows; ++i) sink(PgRow(r->get(), i));
        }
        return {};
    }
}

Result<void> PgStore::write_transaction(const std::function<Result<void>()>& body) {
    bool reconnected = false;
    for (int attempt = 0;; ++attempt) {
        if (auto c = ensure_connected(); !c) return c;
        auto r = [&]() -> Result<void> {
            if (auto b = simple("BEGIN"); !b) return std::move(b).error();
            m_in_transaction = true;
            auto done = body();
            m_in_transaction = false;
            if (!done) {
                // The ROLLBACK's success must not hide why the body failed:
                // the retry below looks at that SQLSTATE.
                const Error kept = done.error();
                const std::string state = m_sqlstate;
                if (!m_lost) (void)simple("ROLLBACK");
                m_sqlstate = state;
                return kept;
            }
            return {};
        }();
        m_in_transaction = false;
        if (r) {
            auto c = simple("COMMIT");
            if (c) return {};
            // Lost while committing: whether it committed is unknown, so it
            // is not repeated (record() would count a message twice).
            if (!retryable_conflict() || attempt >= 2) return std::move(c).error();
            continue;
        }
        // Lost before COMMIT was sent: nothing was committed; once more on
        // a new connection. A serialisation failure or deadlock (possible
        // when others use the tables too) is retried twice.
        if (m_lost && !reconnected) {
            reconnected = true;
            continue;
        }
        if (retryable_conflict() && attempt < 2) continue;
        return r;
    }
}

Result<void> PgStore::migration_transaction(const std::function<Result<void>()>& body) {
    // The advisory lock is released with the transaction: two ribbons
    // opening one new database at once migrate it once.
    return write_transaction([&]() -> Result<void> {
        if (auto r = simple(kMigrationLock); !r) return std::move(r).error();
        return body();
    });
}

Result<void> PgStore::exec(std::string_view sql) {
    if (!m_in_transaction) {
        if (auto c = ensure_connected(); !c) return c;
    }
    auto r = simple(sql);
    if (!r) return std::move(r).error();
    return {};
}

Result<std::int64_t> PgStore::query_int(std::string_view sql) {
    if (!m_in_transaction) {
        if (auto c = ensure_connected(); !c) return std::move(c).error();
    }
    auto r = simple(sql);
    if (!r) return std::move(r).error();
    if (PQntuples(r->get()) == 0 || PQgetisnull(r->get(), 0, 0)) return std::int64_t{0};
    return PgRow(r->get(), 0).int64(0);
}

Result<std::unique_ptr<RecipientStore>> PgStore::open(const std::string& url) {
    const std::string label = mask_url(url);
    char* err = nullptr;
    std::unique_ptr<PQconninfoOption, OptionsFreer> options(PQconninfoParse(url.c_str(), &err));
    if (!options) {
        // libpq's message may quote the URL, password and all.
        std::string why = without_secrets(err ? trimmed(err) : "out of memory", url);
        PQfreemem(err);
        return permanent_error(Errc::bad_config, "recipients store URL \"" + label + "\": " + why);
    }
    std::vector<std::string> keys, values;
    std::string server_options = kServerOptions;
    for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
        if (!o->val || !*o->val) continue;
        if (std::string_view(o->keyword) == "options") {
            server_options += std::string(" ") + o->val;
            continue;
        }
        keys.emplace_back(o->keyword);
        values.emplace_back(o->val);
    }
    keys.emplace_back("options");
    values.push_back(server_options);
    for (const auto& [key, value] : kDefaults) {
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
            keys.emplace_back(key);
            values.emplace_back(value);
        }
    }
    std::unique_ptr<PgStore> store(new PgStore(label, std::move(keys), std::move(values)));
    if (auto r = store->connect(); !r) return std::move(r).error();
    if (auto r = store->migrate(); !r) return std::move(r).error();
    return std::unique_ptr<RecipientStore>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<RecipientStore>> open_postgres(const std::string& url) {
    return PgStore::open(url);
}

}  // namespace ribbon::store
