// sql_store.hpp — what the SQLite and PostgreSQL backends of the
// recipients store (ribbon/recipients.hpp) share: the schema and its
// migrations, the statements, the rules that turn an Observation into
// statements and rows into records, and every RecipientStore operation
// written once over a few backend primitives. Private to the store layer;
// docs/STORE.md describes the schema for operators.
//
// The SQL is written once, in the dialect both databases accept
// (INSERT ... ON CONFLICT ... DO UPDATE with `excluded.`, RETURNING, CASE
// instead of LEAST/GREATEST, which SQLite lacks). What differs is explicit
// and small: the placeholders ($1 here; SQLite is given ?1, its numbered
// form, by sqlite_placeholders()), and a few spellings in the DDL
// (Dialect).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ribbon/recipients.hpp"

namespace ribbon::store {

// The newest schema this ribbon knows (the last migration's version).
inline constexpr int kSchemaVersion = 5;

// A statement parameter. Blob is bound as binary (BLOB / BYTEA).
struct Blob {
    std::string bytes;
};
using Value = std::variant<std::int64_t, double, bool, std::string, Blob>;
using Params = std::vector<Value>;

// The prepared statements, each prepared once per connection.
enum class Stmt : std::size_t {
    upsert_recipient,
    upsert_client,
    upsert_certificate,
    standing,
    recipient,     // one recipients row
    page,          // recipients rows after $1, at most $2
    clients,       // the clients of addresses $1..$2
    certificates,  // the certificates of addresses $1..$2
    set_override,
    set_opt_out,
    set_seal,
    forget,
    totals,
    per_client,
    // Key continuity (sightings.cpp), from here to the end.
    sender_page,             // sender addresses after $1, at most $2
    sender_keys,             // the keys and certificates of addresses $1..$2
    sender_keys_of,          // the keys and certificates of address $1
    message_counted,         // whether ($1, $2, $3) is a counted message key
    insert_message_key,      // a row only when it was not there
    upsert_key,              // RETURNING first_seen, last_seen, messages
    upsert_key_certificate,  // RETURNING first_seen, last_seen
    forget_message_keys,
    forget_keys,
    expire_message_keys,
    // Message activity (activity.cpp), from here to the end.
    add_message_count,      // $1 hour .. $5 reason, $6 messages added
    message_counts_since,   // rows with hour >= $1
    insert_failure,
    expire_old_failures,    // time < $1
    expire_extra_failures,  // all but the latest kFailuresKept
    recent_failures,        // the latest $1
};
inline constexpr std::size_t kStmtCount = static_cast<std::size_t>(Stmt::recent_failures) + 1;
inline constexpr Stmt kFirstSightingStmt = Stmt::sender_page;
inline constexpr Stmt kFirstActivityStmt = Stmt::add_message_count;

// What `s` does, for error messages ("recording an observation").
std::string_view statement_purpose(Stmt s);
// The SQL of `s`, with $1, $2, ... placeholders.
std::string_view statement_sql(Stmt s);
// $N → ?N (SQLite's numbered parameters). The statements hold no string
// literal with a '$' in it, so a plain scan is enough.
std::string sqlite_placeholders(std::string_view sql);

// The DDL spellings that differ between the backends.
struct Dialect {
    // Key columns (addresses, client names, fingerprints): compared and
    // ordered byte by byte on both backends, so for_each's "address order"
    // is the same everywhere and does not depend on a server's locale.
    std::string_view key_text;  // "TEXT" / "TEXT COLLATE \"C\""
    std::string_view bytes;     // "BLOB" / "BYTEA"
    // After a table's closing parenthesis: " WITHOUT ROWID" / "". SQLite
    // then keeps each row in its primary key's B-tree alone, instead of a
    // rowid table plus a copy of the key in an index: half the pages to
    // write per row (https://sqlite.org/withoutrowid.html). PostgreSQL
    // tables have no rowid.
    std::string_view table_options;
    // {hex60:COLUMN}: the first 15 hex digits of a lower-case hex text
    // column as an integer (60 bits: positive on both backends), for
    // migration 3, which turns stored digests into compact keys.
    std::string (*hex60)(std::string_view column);
    // {row_id}: an integer primary key the database numbers by itself, in
    // the order rows are added: "INTEGER PRIMARY KEY" (SQLite's rowid) /
    // "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY".
    std::string_view row_id;
};

// The value {hex60:...} gives for a lower-case hex digest, computed here.
std::int64_t hex60(std::string_view hex);

struct Migration {
    int version;
    std::string_view description;
    std::vector<std::string_view> statements;  // DDL with {key}, {bytes}, {table_options}, {hex60:...}
};
// Every migration, oldest first; the last one's version is kSchemaVersion.
const std::vector<Migration>& migrations();
// Migration 2, the key continuity tables, and 3, compact message keys
// (sightings.cpp).
Migration sightings_migration();
Migration compact_message_keys_migration();
// Migration 4, message counts and recent failures (activity.cpp).
Migration activity_migration();
// Migration 5, what sealing needs (sql_store.cpp): which certificates a
// customer's signature bound to them, and the operator's seal choice.
Migration sealing_migration();
// The SQL and purpose of the statements from kFirstSightingStmt to
// kFirstActivityStmt, and from there on.
std::string sighting_sql(Stmt s);
std::string_view sighting_purpose(Stmt s);
std::string activity_sql(Stmt s);
std::string_view activity_purpose(Stmt s);
std::string render_ddl(std::string_view ddl, const Dialect& dialect);

// One result row, read by column index (columns as each statement lists them).
class Row {
  public:
    virtual ~Row() = default;
    virtual std::int64_t int64(int column) const = 0;
    virtual double real(int column) const = 0;
    virtual bool boolean(int column) const = 0;
    virtual std::string text(int column) const = 0;
    virtual std::string blob(int column) const = 0;
};
using RowSink = std::function<void(const Row&)>;

// The stored form of an address: white space trimmed, ASCII lower case
// (policy/addresses.hpp: RFC 5321 §2.4 allows case-sensitive local parts,
// nobody sending to customers relies on it), the domain in A-labels when
// it is a valid IDN (address_ascii_form, ribbon/mail_text.hpp). nullopt when it cannot be an
// address: empty, longer than 254 octets (RFC 5321 §4.5.3.1.3), no '@'
// with text on both sides, white space or control characters inside, or
// not UTF-8.
std::optional<std::string> normalise_address(std::string_view address);

// `text` as valid UTF-8 without NUL: each byte that is not part of a valid
// sequence, and each NUL, becomes U+FFFD. Header values from customers'
// mail are untrusted bytes; PostgreSQL refuses invalid UTF-8 in TEXT, and
// SQLite would keep it, so both are given the same cleaned text.
std::string to_utf8_text(std::string_view text);

// A permanent malformed_message: what the store refuses to keep.
Error bad_input(std::string what);
// bad_input naming `address` (cleaned, cut to 300 octets) as not an address.
Error bad_address(std::string_view address);
// 64 lower-case hex digits: a SHA-256 as the store keeps it.
bool is_hex_sha256(const std::string& s);

// The RecipientStore operations, written once. A backend supplies the
// primitives below; it is used by one thread at a time, like any store.
class SqlStore : public RecipientStore {
  public:
    int schema_version() const override { return m_version; }
    Result<void> record(const Observation& observation) override;
    Result<std::optional<RecipientStanding>> standing(std::string_view address) override;
    Result<std::optional<RecipientRecord>> find(std::string_view address) override;
    Result<void> set_override(std::string_view address, RecipientOverride value,
                              UnixTime now) override;
    Result<void> set_opt_out(std::string_view address, bool opted_out, UnixTime now) override;
    Result<void> set_seal(std::string_view address, SealChoice choice, std::string_view certificate_der,
                          UnixTime now) override;
    Result<bool> forget(std::string_view address) override;
    Result<void> for_each(const std::function<bool(const RecipientRecord&)>& visit) override;
    Result<RecipientStats> stats() override;
    // sightings.cpp
    Result<ContinuityReport> observe_key(const KeySighting& sighting, KeyRecording mode) override;
    std::vector<Result<ContinuityReport>> observe_keys(
        std::span<const KeySighting> sightings) override;
    Result<std::optional<SenderRecord>> find_sender(std::string_view address) override;
    Result<std::optional<SenderRecord>> forget_sender(std::string_view address) override;
    Result<void> for_each_sender(const std::function<bool(const SenderRecord&)>& visit) override;
    // activity.cpp
    Result<void> add_message_counts(std::span<const MessageCount> counts) override;
    Result<std::vector<MessageCount>> message_counts(UnixTime since) override;
    Result<void> add_failures(std::span<const FailureRecord> failures) override;
    Result<std::vector<FailureRecord>> recent_failures(std::size_t limit) override;

  protected:
    // `label` names the store in error messages: the SQLite file, or the
    // PostgreSQL URL with its password masked.
    explicit SqlStore(std::string label) : m_label(std::move(label)) {}
    const std::string& label() const { return m_label; }

    // Brings the schema to kSchemaVersion (or refuses a newer one); called
    // once by each backend's open.
    Result<void> migrate();
    // For a store opened read-only: true when its schema is kSchemaVersion
    // (taken as the store's version), false when it is older and needs
    // migrate(); store_corrupt when it is newer. Writes nothing.
    Result<bool> schema_is_current();

    // Runs one prepared statement; `sink` sees each result row.
    virtual Result<void> run(Stmt s, const Params& params, const RowSink& sink) = 0;
    // Runs `body` in one write transaction, committed when it succeeds.
    virtual Result<void> write_transaction(const std::function<Result<void>()>& body) = 0;
    // Like write_transaction, but also excludes every other opener's
    // migration (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock).
    virtual Result<void> migration_transaction(const std::function<Result<void>()>& body) = 0;
    // One statement that is not worth preparing (DDL, the version check).
    virtual Result<void> exec(std::string_view sql) = 0;
    // The first column of the first row of `sql` as an integer; 0 when
    // there is no row or it is NULL.
    virtual Result<std::int64_t> query_int(std::string_view sql) = 0;
    // A query answering 1 when the ribbon_schema table exists, else 0.
    virtual std::string_view schema_table_query() const = 0;
    virtual const Dialect& dialect() const = 0;

  private:
    Result<int> stored_version();
    Result<void> apply_migrations();
    Error newer_schema(int version) const;
    // The clients and certificates of addresses first..last, in address
    // order, attached to `records` (sorted by address).
    Result<void> attach_children(std::vector<RecipientRecord>& records);
    // The keys of the senders first..last, in address order (sightings.cpp);
    // one statement for first == last, another for a range.
    Result<std::vector<SenderRecord>> senders_between(const std::string& first,
                                                      const std::string& last);
    // Deletes message keys older than kMessageKeyRetention before `now`, at
    // most once an hour of sighting time per store (sightings.cpp).
    void expire_message_keys(UnixTime now);
    // judge_continuity of a sighting (cleaned by binding_of) against its
    // address's stored keys.
    Result<ContinuityReport> judge_sighting(const KeySighting& sighting);

    std::string m_label;
    int m_version = 0;
    UnixTime m_next_expiry = 0;
};

}  // namespace ribbon::store
