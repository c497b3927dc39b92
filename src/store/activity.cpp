// activity.cpp — message activity in the recipients store: migration 4 (the
// message_counts and recent_failures tables), their statements, and
// add_message_counts / message_counts / add_failures / recent_failures,
// written once for both backends like the rest of SqlStore (sql_store.hpp).
// `ribbon dashboard` reads them; the daemons add to them.
//
// Trusts nothing it is given: labels are bounded and cleaned to UTF-8,
// results come from a fixed set, hours must be whole hours. A batch with
// one bad entry is refused whole, so a caller's bug never half-counts.
#include <algorithm>
#include <chrono>
#include <limits>
#include <tuple>

#include "store/sql_store.hpp"

namespace ribbon::store {

namespace {

// ---- the schema --------------------------------------------------------------

// One row per hour, host, front end, result and reason: a busy host adds
// to a handful of rows an hour, so the table grows by some hundred rows a
// day, whatever the volume of mail. Rows are never deleted by ribbon (a
// year is under a million small rows); docs/STORE.md says how to trim it.
constexpr std::string_view kMessageCounts = R"(CREATE TABLE message_counts (
    hour      BIGINT NOT NULL,
    host      {key} NOT NULL,
    front_end {key} NOT NULL,
    result    {key} NOT NULL
              CHECK (result IN ('signed', 'unsigned', 'tempfail', 'reject')),
    reason    {key} NOT NULL,
    messages  BIGINT NOT NULL,
    PRIMARY KEY (hour, host, front_end, result, reason)){table_options})";

// Bounded on every add (kFailuresKept, kFailureRetention). `id` orders
// rows added in the same second and makes "all but the latest N" exact.
constexpr std::string_view kRecentFailures = R"(CREATE TABLE recent_failures (
    id        {row_id},
    time      BIGINT NOT NULL,
    host      TEXT NOT NULL,
    front_end TEXT NOT NULL,
    result    TEXT NOT NULL CHECK (result IN ('unsigned', 'tempfail', 'reject')),
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL))";

constexpr std::string_view kFailuresByTime =
    "CREATE INDEX recent_failures_by_time ON recent_failures (time)";

// ---- checking what callers give ----------------------------------------------

bool is_result(std::string_view r) {
    return std::find(std::begin(kMessageResults), std::end(kMessageResults), r) !=
           std::end(kMessageResults);
}

// A label as stored, or the error naming what is wrong with it.
Result<std::string> label(std::string_view what, const std::string& value, bool may_be_empty) {
    if (value.empty() && !may_be_empty) {
        return bad_input("recipients store: message activity without a " + std::string(what));
    }
    if (value.size() > kActivityLabelLimit) {
        return bad_input("recipients store: message activity " + std::string(what) + " of " +
                         std::to_string(value.size()) + " octets (at most " +
                         std::to_string(kActivityLabelLimit) + ")");
    }
    return to_utf8_text(value);
}

Result<void> check_result(const std::string& result, bool failure) {
    if (!is_result(result) || (failure && result == "signed")) {
        return bad_input("recipients store: \"" + to_utf8_text(result.substr(0, 80)) +
                         "\" is not a message result (" +
                         (failure ? "unsigned, tempfail, reject" : "signed, unsigned, tempfail, reject") +
                         ")");
    }
    return {};
}

Result<Params> count_params(const MessageCount& c) {
    if (c.hour < 0 || c.hour % 3600 != 0) {
        return bad_input("recipients store: message count hour " + std::to_string(c.hour) +
                         " is not the start of an hour");
    }
    if (c.messages > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return bad_input("recipients store: message count " + std::to_string(c.messages) +
                         " is too large");
    }
    if (auto r = check_result(c.result, false); !r) return std::move(r).error();
    auto host = label("host", c.host, false);
    if (!host) return std::move(host).error();
    auto front_end = label("front end", c.front_end, false);
    if (!front_end) return std::move(front_end).error();
    auto reason = label("reason", c.reason, true);
    if (!reason) return std::move(reason).error();
    return Params{c.hour, std::move(*host), std::move(*front_end), c.result, std::move(*reason),
                  static_cast<std::int64_t>(c.messages)};
}

// The first `limit` octets of `text`, not splitting a UTF-8 sequence.
std::string cut_utf8(const std::string& text, std::size_t limit) {
    std::string out = to_utf8_text(text);
    if (out.size() <= limit) return out;
    std::size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(out[end]) & 0xC0) == 0x80) --end;
    out.resize(end);
    return out;
}

Result<Params> failure_params(const FailureRecord& f) {
    if (auto r = check_result(f.result, true); !r) return std::move(r).error();
    auto host = label("host", f.host, false);
    if (!host) return std::move(host).error();
    auto front_end = label("front end", f.front_end, false);
    if (!front_end) return std::move(front_end).error();
    auto kind = label("failure kind", f.kind, false);
    if (!kind) return std::move(kind).error();
    return Params{f.time, std::move(*host), std::move(*front_end), f.result, std::move(*kind),
                  cut_utf8(f.detail, kFailureDetailLimit)};
}

UnixTime wall_clock() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Migration activity_migration() {
    return {4,
            "message activity: message_counts, recent_failures",
            {kMessageCounts, kRecentFailures, kFailuresByTime}};
}

std::string activity_sql(Stmt s) {
    switch (s) {
        case Stmt::add_message_count:
            // The addition happens in the database, so concurrent adders
            // (hosts sharing PostgreSQL) serialise on the row, never read
            // and write back.
            return "INSERT INTO message_counts AS m (hour, host, front_end, result, reason, "
                   "messages) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hour, host, front_end, "
                   "result, reason) DO UPDATE SET messages = m.messages + excluded.messages";
        case Stmt::message_counts_since:
            return "SELECT hour, host, front_end, result, reason, messages FROM message_counts "
                   "WHERE hour >= $1 ORDER BY hour, host, front_end, result, reason";
        case Stmt::insert_failure:
            return "INSERT INTO recent_failures (time, host, front_end, result, kind, detail) "
                   "VALUES ($1, $2, $3, $4, $5, $6)";
        case Stmt::expire_old_failures:
            return "DELETE FROM recent_failures WHERE time < $1";
        case Stmt::expire_extra_failures:
            // No row when there are kFailuresKept or fewer: NULL, and
            // nothing compares less than it.
            return "DELETE FROM recent_failures WHERE id < (SELECT id FROM recent_failures ORDER "
                   "BY id DESC LIMIT 1 OFFSET " +
                   std::to_string(kFailuresKept - 1) + ")";
        case Stmt::recent_failures:
            return "SELECT time, host, front_end, result, kind, detail FROM recent_failures "
                   "ORDER BY time DESC, id DESC LIMIT $1";
        default:
            return {};
    }
}

std::string_view activity_purpose(Stmt s) {
    switch (s) {
        case Stmt::add_message_count:
            return "adding message counts";
        case Stmt::message_counts_since:
            return "reading message counts";
        case Stmt::insert_failure:
            return "recording a failure";
        case Stmt::expire_old_failures:
        case Stmt::expire_extra_failures:
            return "expiring failures";
        case Stmt::recent_failures:
            return "reading failures";
        default:
            return "query";
    }
}

// ---- the operations ----------------------------------------------------------

Result<void> SqlStore::add_message_counts(std::span<const MessageCount> counts) {
    std::vector<Params> rows;
    rows.reserve(counts.size());
    for (const MessageCount& c : counts) {
        auto p = count_params(c);
        if (!p) return std::move(p).error();
        if (c.messages > 0) rows.push_back(std::move(*p));
    }
    if (rows.empty()) return {};
    // In primary key order, so two PostgreSQL writers take their row locks
    // in the same order and cannot deadlock (as observe_keys does).
    const auto key = [](const Params& p) {
        return std::tie(std::get<std::int64_t>(p[0]), std::get<std::string>(p[1]),
                        std::get<std::string>(p[2]), std::get<std::string>(p[3]),
                        std::get<std::string>(p[4]));
    };
    std::sort(rows.begin(), rows.end(),
              [&](const Params& a, const Params& b) { return key(a) < key(b); });
    return write_transaction([&]() -> Result<void> {
        for (const Params& p : rows) {
            if (auto r = run(Stmt::add_message_count, p, {}); !r) return r;
        }
        return {};
    });
}

Result<std::vector<MessageCount>> SqlStore::message_counts(UnixTime since) {
    std::vector<MessageCount> out;
    auto r = run(Stmt::message_counts_since, {since}, [&](const Row& row) {
        out.push_back(MessageCount{row.int64(0), row.text(1), row.text(2), row.text(3),
                                   row.text(4), static_cast<std::uint64_t>(row.int64(5))});
    });
    if (!r) return std::move(r).error();
    return out;
}

Result<void> SqlStore::add_failures(std::span<const FailureRecord> failures) {
    std::vector<Params> rows;
    rows.reserve(failures.size());
    for (const FailureRecord& f : failures) {
        auto p = failure_params(f);
        if (!p) return std::move(p).error();
        rows.push_back(std::move(*p));
    }
    if (rows.empty()) return {};
    const UnixTime oldest = wall_clock() - kFailureRetention;
    return write_transaction([&]() -> Result<void> {
        for (const Params& p : rows) {
            if (auto r = run(Stmt::insert_failure, p, {}); !r) return r;
        }
        if (auto r = run(Stmt::expire_old_failures, {oldest}, {}); !r) return r;
        return run(Stmt::expire_extra_failures, {}, {});
    });
}

Result<std::vector<FailureRecord>> SqlStore::recent_failures(std::size_t limit) {
    std::vector<FailureRecord> out;
    const auto n = static_cast<std::int64_t>(std::min<std::size_t>(limit, kFailuresKept));
    auto r = run(Stmt::recent_failures, {n}, [&](const Row& row) {
        out.push_back(FailureRecord{row.int64(0), row.text(1), row.text(2), row.text(3),
                                    row.text(4), row.text(5)});
    });
    if (!r) return std::move(r).error();
    return out;
}

}  // namespace ribbon::store
