// sql_store.cpp — the schema, the statements and the RecipientStore
// operations shared by both backends (sql_store.hpp). Trusts the database
// to hold what the schema allows (CHECK constraints keep the enum columns
// to their names); trusts nothing in an Observation: addresses are
// normalised and refused when they cannot be one, text from customers'
// mail is cleaned to UTF-8.
#include "store/sql_store.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include "base/ascii.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::store {

namespace {

// ---- the schema --------------------------------------------------------------

// Migration 1. The ribbon_schema table comes first: its row for this
// migration is written in the same transaction. Migrations 2 and 3 (key
// continuity) are in sightings.cpp, 4 (message activity) in activity.cpp,
// 5 (sealing) below.
const std::vector<Migration> kMigrations = {
    {1,
     "recipients, their clients and certificates",
     {
         R"(CREATE TABLE ribbon_schema (
    version     INTEGER PRIMARY KEY,
    applied_at  BIGINT NOT NULL,
    description TEXT NOT NULL))",
         R"(CREATE TABLE recipients (
    address             {key} PRIMARY KEY,
    first_seen          BIGINT NOT NULL,
    last_seen           BIGINT NOT NULL,
    message_count       BIGINT NOT NULL DEFAULT 0,
    capability          TEXT NOT NULL DEFAULT 'unknown'
                        CHECK (capability IN ('unknown', 'supported', 'unsupported')),
    capability_evidence TEXT NOT NULL DEFAULT '',
    confidence          DOUBLE PRECISION NOT NULL DEFAULT 0,
    capability_seen     BIGINT NOT NULL DEFAULT 0,
    operator_override   TEXT NOT NULL DEFAULT 'none'
                        CHECK (operator_override IN ('none', 'sign', 'no-sign', 'opaque')),
    opted_out           BOOLEAN NOT NULL DEFAULT FALSE))",
         R"(CREATE TABLE recipient_clients (
    address       {key} NOT NULL REFERENCES recipients (address) ON DELETE CASCADE,
    name          {key} NOT NULL,
    version       {key} NOT NULL,
    evidence      TEXT NOT NULL,
    smime         TEXT NOT NULL CHECK (smime IN ('unknown', 'supported', 'unsupported')),
    first_seen    BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    message_count BIGINT NOT NULL,
    PRIMARY KEY (address, name, version)))",
         // stats() groups by client name.
         "CREATE INDEX recipient_clients_by_name ON recipient_clients (name)",
         R"(CREATE TABLE recipient_certificates (
    address      {key} NOT NULL REFERENCES recipients (address) ON DELETE CASCADE,
    sha256       {key} NOT NULL,
    subject      TEXT NOT NULL,
    issuer       TEXT NOT NULL,
    serial       TEXT NOT NULL,
    not_after    BIGINT NOT NULL,
    capabilities TEXT NOT NULL,
    der          {bytes} NOT NULL,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    PRIMARY KEY (address, sha256)))",
     }},
    sightings_migration(),
    compact_message_keys_migration(),
    activity_migration(),
    sealing_migration(),
};

// ---- the statements ----------------------------------------------------------

// "min"/"max" of a stored and a new time, as CASE: SQLite has no
// LEAST/GREATEST and PostgreSQL's MIN/MAX are aggregates only.
std::string earlier(const std::string& t, const std::string& col) {
    return col + " = CASE WHEN excluded." + col + " < " + t + "." + col + " THEN excluded." + col +
           " ELSE " + t + "." + col + " END";
}
std::string later(const std::string& t, const std::string& col) {
    return col + " = CASE WHEN excluded." + col + " > " + t + "." + col + " THEN excluded." + col +
           " ELSE " + t + "." + col + " END";
}

// The capability rule (RecipientRecord in ribbon/recipients.hpp), decided
// inside the upsert so two writers cannot interleave a read and a write:
// an observation that knows nothing (unknown, confidence 0) never counts;
// otherwise the higher confidence wins, and among equal ones the later
// observation (by its time, so a replayed older message does not).
constexpr const char* kCapabilityWins =
    "(excluded.capability <> 'unknown' OR excluded.confidence > 0) AND "
    "(excluded.confidence > r.confidence OR "
    "(excluded.confidence = r.confidence AND excluded.capability_seen >= r.capability_seen))";

std::string if_wins(const std::string& col) {
    return col + " = CASE WHEN " + kCapabilityWins + " THEN excluded." + col + " ELSE r." + col +
           " END";
}

constexpr const char* kRecipientColumns =
    "address, first_seen, last_seen, message_count, capability, capability_evidence, confidence, "
    "operator_override, opted_out, seal_choice, seal_certificate";
constexpr const char* kClientColumns =
    "address, name, version, evidence, smime, first_seen, last_seen, message_count";
constexpr const char* kCertificateColumns =
    "address, sha256, subject, issuer, serial, not_after, capabilities, der, first_seen, last_seen, bound";

std::array<std::string, kStmtCount> build_statements() {
    std::array<std::string, kStmtCount> s;
    auto at = [&](Stmt id) -> std::string& { return s[static_cast<std::size_t>(id)]; };
    const std::string recipient_cols = kRecipientColumns;
    // $1 address, $2 time, $3 capability, $4 evidence, $5 confidence.
    at(Stmt::upsert_recipient) =
        "INSERT INTO recipients AS r (address, first_seen, last_seen, message_count, capability, "
        "capability_evidence, confidence, capability_seen) VALUES ($1, $2, $2, 1, $3, $4, $5, $2) "
        "ON CONFLICT (address) DO UPDATE SET " +
        earlier("r", "first_seen") + ", " + later("r", "last_seen") +
        ", message_count = r.message_count + 1, " + if_wins("capability") + ", " +
        if_wins("capability_evidence") + ", " + if_wins("confidence") + ", " +
        if_wins("capability_seen");
    // $1 address, $2 name, $3 version, $4 evidence, $5 smime, $6 time. The
    // latest sighting's evidence and S/MIME answer are kept.
    const std::string c_newer = "CASE WHEN excluded.last_seen >= c.last_seen THEN excluded.";
    at(Stmt::upsert_client) =
        "INSERT INTO recipient_clients AS c (" + std::string(kClientColumns) +
        ") VALUES ($1, $2, $3, $4, $5, $6, $6, 1) ON CONFLICT (address, name, version) DO UPDATE "
        "SET evidence = " +
        c_newer + "evidence ELSE c.evidence END, smime = " + c_newer + "smime ELSE c.smime END, " +
        earlier("c", "first_seen") + ", " + later("c", "last_seen") +
        ", message_count = c.message_count + 1";
    // $1 address, $2 sha256, $3 subject, $4 issuer, $5 serial, $6 not_after,
    // $7 capabilities, $8 der, $9 time, $10 bound. The latest message's
    // capability list is the sender's current preference; a message without
    // one says nothing. Once bound by a signature, a certificate stays bound.
    at(Stmt::upsert_certificate) =
        "INSERT INTO recipient_certificates AS k (" + std::string(kCertificateColumns) +
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) ON CONFLICT (address, sha256) DO UPDATE "
        "SET capabilities = CASE WHEN excluded.capabilities <> '' AND excluded.last_seen >= "
        "k.last_seen THEN excluded.capabilities ELSE k.capabilities END, " +
        earlier("k", "first_seen") + ", " + later("k", "last_seen") + ", bound = k.bound OR excluded.bound";
    at(Stmt::standing) =
        "SELECT capability, operator_override, opted_out FROM recipients WHERE address = $1";
    at(Stmt::recipient) = "SELECT " + recipient_cols + " FROM recipients WHERE address = $1";
    at(Stmt::page) = "SELECT " + recipient_cols +
                     " FROM recipients WHERE address > $1 ORDER BY address LIMIT $2";
    at(Stmt::clients) = "SELECT " + std::string(kClientColumns) +
                        " FROM recipient_clients WHERE address >= $1 AND address <= $2 "
                        "ORDER BY address, last_seen DESC, name, version";
    at(Stmt::certificates) = "SELECT " + std::string(kCertificateColumns) +
                             " FROM recipient_certificates WHERE address >= $1 AND address <= $2 "
                             "ORDER BY address, last_seen DESC, sha256";
    // $1 address, $2 now, $3 the value. A new address is known from now.
    at(Stmt::set_override) =
        "INSERT INTO recipients (address, first_seen, last_seen, operator_override) "
        "VALUES ($1, $2, $2, $3) ON CONFLICT (address) DO UPDATE SET "
        "operator_override = excluded.operator_override";
    at(Stmt::set_opt_out) =
        "INSERT INTO recipients (address, first_seen, last_seen, opted_out) "
        "VALUES ($1, $2, $2, $3) ON CONFLICT (address) DO UPDATE SET "
        "opted_out = excluded.opted_out";
    // $1 address, $2 now, $3 the choice, $4 the pinned certificate (DER).
    at(Stmt::set_seal) =
        "INSERT INTO recipients (address, first_seen, last_seen, seal_choice, seal_certificate) "
        "VALUES ($1, $2, $2, $3, $4) ON CONFLICT (address) DO UPDATE SET "
        "seal_choice = excluded.seal_choice, seal_certificate = excluded.seal_certificate";
    // The clients and certificates go with it (ON DELETE CASCADE).
    at(Stmt::forget) = "DELETE FROM recipients WHERE address = $1 RETURNING address";
    at(Stmt::totals) =
        "SELECT COUNT(*), "
        "COALESCE(SUM(CASE WHEN capability = 'supported' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN capability = 'unsupported' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN capability = 'unknown' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN opted_out THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN operator_override <> 'none' THEN 1 ELSE 0 END), 0) "
        "FROM recipients";
    // A client name's S/MIME answer is the most favourable among its
    // versions: "Thunderbird supports S/MIME" if any version was seen doing so.
    at(Stmt::per_client) =
        "SELECT name, MAX(CASE smime WHEN 'supported' THEN 2 WHEN 'unsupported' THEN 1 ELSE 0 "
        "END), "
        "COUNT(DISTINCT address) FROM recipient_clients GROUP BY name ORDER BY 3 DESC, name";
    for (std::size_t i = static_cast<std::size_t>(kFirstSightingStmt); i < kStmtCount; ++i) {
        const auto id = static_cast<Stmt>(i);
        s[i] = id < kFirstActivityStmt ? sighting_sql(id) : activity_sql(id);
    }
    return s;
}

// ---- rows ↔ values -----------------------------------------------------------

SmimeSupport smime_from(const std::string& name) {
    return parse_smime_support(name).value_or(SmimeSupport::unknown);
}

// Capability names are OpenSSL short names or dotted OIDs: no white space,
// so one space separates them in the stored text.
std::string join_capabilities(const std::vector<std::string>& caps) {
    std::string out;
    for (const auto& c : caps) {
        if (!out.empty()) out += ' ';
        out += c;
    }
    return out;
}

std::vector<std::string> split_capabilities(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find(' ', pos);
        if (end == std::string::npos) end = text.size();
        if (end > pos) out.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

RecipientRecord recipient_from(const Row& row) {
    RecipientRecord r;
    r.address = row.text(0);
    r.first_seen = row.int64(1);
    r.last_seen = row.int64(2);
    r.message_count = static_cast<std::uint64_t>(row.int64(3));
    r.capability = smime_from(row.text(4));
    r.capability_evidence = row.text(5);
    r.confidence = row.real(6);
    r.override_ = parse_recipient_override(row.text(7)).value_or(RecipientOverride::none);
    r.opted_out = row.boolean(8);
    r.seal = parse_seal_choice(row.text(9)).value_or(SealChoice::automatic);
    r.seal_certificate = row.blob(10);
    return r;
}

ClientSighting client_from(const Row& row) {
    ClientSighting c;
    c.name = row.text(1);
    c.version = row.text(2);
    c.evidence = row.text(3);
    c.smime = smime_from(row.text(4));
    c.first_seen = row.int64(5);
    c.last_seen = row.int64(6);
    c.count = static_cast<std::uint64_t>(row.int64(7));
    return c;
}

HarvestedCertificate certificate_from(const Row& row) {
    HarvestedCertificate c;
    c.sha256 = row.text(1);
    c.subject = row.text(2);
    c.issuer = row.text(3);
    c.serial = row.text(4);
    c.not_after = row.int64(5);
    c.capabilities = split_capabilities(row.text(6));
    c.der = row.blob(7);
    c.first_seen = row.int64(8);
    c.last_seen = row.int64(9);
    c.bound = row.boolean(10);
    return c;
}

// The statements one observation becomes, in this order: the recipient
// first (its row lock serialises concurrent record() calls for the same
// address, and the children's foreign keys need it), then the client, then
// each certificate.
Result<std::vector<std::pair<Stmt, Params>>> record_plan(const Observation& o) {
    auto address = normalise_address(o.address);
    if (!address) return bad_address(o.address);
    if (!(o.confidence >= 0 && o.confidence <= 1)) {
        return bad_input("recipients store: confidence " + std::to_string(o.confidence) + " for " +
                         *address + " is not between 0 and 1");
    }
    std::vector<std::pair<Stmt, Params>> plan;
    plan.emplace_back(Stmt::upsert_recipient,
                      Params{*address, o.time, std::string(smime_support_name(o.capability)),
                             to_utf8_text(o.capability_evidence), o.confidence});
    if (o.client) {
        const ClientSighting& c = *o.client;
        if (c.name.empty()) return bad_input("recipients store: a client sighting without a name");
        plan.emplace_back(
            Stmt::upsert_client,
            Params{*address, to_utf8_text(c.name), to_utf8_text(c.version),
                   to_utf8_text(c.evidence), std::string(smime_support_name(c.smime)), o.time});
    }
    for (const HarvestedCertificate& cert : o.certificates) {
        std::string sha = ascii_lower(cert.sha256);
        if (!is_hex_sha256(sha)) {
            return bad_input("recipients store: certificate fingerprint \"" +
                             to_utf8_text(cert.sha256.substr(0, 80)) + "\" is not SHA-256 hex");
        }
        for (const auto& cap : cert.capabilities) {
            if (cap.empty() || to_utf8_text(cap) != cap ||
                cap.find_first_of(" \t\r\n") != std::string::npos) {
                return bad_input("recipients store: capability name \"" + to_utf8_text(cap) +
                                 "\" is empty or holds white space");
            }
        }
        plan.emplace_back(
            Stmt::upsert_certificate,
            Params{*address, std::move(sha), to_utf8_text(cert.subject), to_utf8_text(cert.issuer),
                   to_utf8_text(cert.serial), cert.not_after, join_capabilities(cert.capabilities),
                   Blob{cert.der}, o.time, cert.bound});
    }
    return plan;
}

}  // namespace

Error bad_input(std::string what) {
    return permanent_error(Errc::malformed_message, std::move(what));
}

Error bad_address(std::string_view address) {
    std::string msg = "recipients store: \"";
    msg.append(to_utf8_text(address.substr(0, 300))).append("\" is not a mail address");
    return bad_input(std::move(msg));
}

bool is_hex_sha256(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string_view statement_purpose(Stmt s) {
    switch (s) {
        case Stmt::upsert_recipient:
            return "recording an observation";
        case Stmt::upsert_client:
            return "recording a client";
        case Stmt::upsert_certificate:
            return "recording a certificate";
        case Stmt::standing:
            return "looking up a standing";
        case Stmt::recipient:
            return "reading a record";
        case Stmt::page:
            return "listing records";
        case Stmt::clients:
            return "reading clients";
        case Stmt::certificates:
            return "reading certificates";
        case Stmt::set_override:
            return "setting an override";
        case Stmt::set_opt_out:
            return "setting an opt-out";
        case Stmt::set_seal:
            return "setting a seal choice";
        case Stmt::forget:
            return "forgetting an address";
        case Stmt::totals:
        case Stmt::per_client:
            return "counting";
        default:
            return s < kFirstActivityStmt ? sighting_purpose(s) : activity_purpose(s);
    }
}

std::string_view statement_sql(Stmt s) {
    static const std::array<std::string, kStmtCount> statements = build_statements();
    return statements[static_cast<std::size_t>(s)];
}

std::string sqlite_placeholders(std::string_view sql) {
    std::string out(sql);
    for (std::size_t i = 0; i + 1 < out.size(); ++i) {
        if (out[i] == '$' && out[i + 1] >= '0' && out[i + 1] <= '9') out[i] = '?';
    }
    return out;
}

const std::vector<Migration>& migrations() { return kMigrations; }

Migration sealing_migration() {
    // ADD COLUMN with a constant default: existing rows take it (in SQLite
    // without rewriting the table), so every certificate harvested before is
    // unbound — it was never checked for a binding signature — and every
    // address is sealed to automatically, which seals nothing until a
    // certificate is bound.
    return {5,
            "sealing: bound certificates, a seal choice per address",
            {"ALTER TABLE recipient_certificates ADD COLUMN bound BOOLEAN NOT NULL DEFAULT FALSE",
             "ALTER TABLE recipients ADD COLUMN seal_choice TEXT NOT NULL DEFAULT 'auto' "
             "CHECK (seal_choice IN ('auto', 'pinned', 'never'))",
             "ALTER TABLE recipients ADD COLUMN seal_certificate {bytes}"}};
}

std::string render_ddl(std::string_view ddl, const Dialect& dialect) {
    std::string out;
    std::size_t pos = 0;
    while (pos < ddl.size()) {
        const std::size_t brace = ddl.find('{', pos);
        if (brace == std::string_view::npos) break;
        out.append(ddl.substr(pos, brace - pos));
        if (ddl.substr(brace).starts_with("{key}")) {
            out.append(dialect.key_text);
            pos = brace + 5;
        } else if (ddl.substr(brace).starts_with("{bytes}")) {
            out.append(dialect.bytes);
            pos = brace + 7;
        } else if (ddl.substr(brace).starts_with("{row_id}")) {
            out.append(dialect.row_id);
            pos = brace + 8;
        } else if (ddl.substr(brace).starts_with("{table_options}")) {
            out.append(dialect.table_options);
            pos = brace + 15;
        } else if (ddl.substr(brace).starts_with("{hex60:") &&
                   ddl.find('}', brace) != std::string_view::npos) {
            const std::size_t close = ddl.find('}', brace);
            out.append(dialect.hex60(ddl.substr(brace + 7, close - brace - 7)));
            pos = close + 1;
        } else {
            out += '{';
            pos = brace + 1;
        }
    }
    out.append(ddl.substr(pos));
    return out;
}

std::int64_t hex60(std::string_view hex) {
    std::int64_t v = 0;
    for (std::size_t i = 0; i < 15 && i < hex.size(); ++i) {
        const char c = hex[i];
        v = (v << 4) | (c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
}

// ---- text --------------------------------------------------------------------

std::string to_utf8_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    auto cont = [&](std::size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        std::size_t len = 0;
        // RFC 3629 §4: the valid sequences (no overlongs, no surrogates,
        // nothing above U+10FFFF).
        if (c >= 0x01 && c < 0x80)
            len = 1;
        else if (c >= 0xC2 && c <= 0xDF && cont(i + 1))
            len = 2;
        else if (c == 0xE0 && i + 1 < n && p[i + 1] >= 0xA0 && p[i + 1] <= 0xBF && cont(i + 2))
            len = 3;
        else if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && cont(i + 1) && cont(i + 2))
            len = 3;
        else if (c == 0xED && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F && cont(i + 2))
            len = 3;
        else if (c == 0xF0 && i + 1 < n && p[i + 1] >= 0x90 && p[i + 1] <= 0xBF && cont(i + 2) &&
                 cont(i + 3))
            len = 4;
        else if (c >= 0xF1 && c <= 0xF3 && cont(i + 1) && cont(i + 2) && cont(i + 3))
            len = 4;
        else if (c == 0xF4 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x8F && cont(i + 2) &&
                 cont(i + 3))
            len = 4;
        if (len == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            ++i;
        } else {
            out.append(text.substr(i, len));
            i += len;
        }
    }
    return out;
}

std::optional<std::string> normalise_address(std::string_view address) {
    constexpr std::string_view kSpace = " \t\r\n";
    const std::size_t first = address.find_first_not_of(kSpace);
    if (first == std::string_view::npos) return std::nullopt;
    address = address.substr(first, address.find_last_not_of(kSpace) - first + 1);
    if (address.size() > 254) return std::nullopt;
    const std::size_t at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return std::nullopt;
    std::string out;
    out.reserve(address.size());
    for (char ch : address) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) return std::nullopt;
        out += ascii_lower(ch);
    }
    if (to_utf8_text(out) != out) return std::nullopt;
    // One form for a domain, A-labels (RFC 5890 §2.3.2.1): a customer who
    // writes from "bücher.example" under SMTPUTF8 is the same one the
    // organisation mails at "xn--bcher-kva.example".
    if (auto ascii = address_ascii_form(out)) return std::move(*ascii);
    return out;
}

// ---- the operations ----------------------------------------------------------

Result<int> SqlStore::stored_version() {
    auto exists = query_int(schema_table_query());
    if (!exists) return std::move(exists).error();
    if (*exists == 0) return 0;
    auto v = query_int("SELECT MAX(version) FROM ribbon_schema");
    if (!v) return std::move(v).error();
    return static_cast<int>(*v);
}

Error SqlStore::newer_schema(int version) const {
    return permanent_error(Errc::store_corrupt,
                           m_label + ": schema version " + std::to_string(version) +
                               " is newer than this ribbon (" + std::to_string(kSchemaVersion) +
                               "); upgrade ribbon, never downgrade the database");
}

Result<void> SqlStore::migrate() {
    auto v = stored_version();
    if (!v) return std::move(v).error();
    // The common case, without taking the migration lock.
    if (*v == kSchemaVersion) {
        m_version = *v;
        return {};
    }
    return migration_transaction([this] { return apply_migrations(); });
}

Result<bool> SqlStore::schema_is_current() {
    auto v = stored_version();
    if (!v) return std::move(v).error();
    if (*v > kSchemaVersion) return newer_schema(*v);
    if (*v < kSchemaVersion) return false;
    m_version = *v;
    return true;
}

Result<void> SqlStore::apply_migrations() {
    // Again, under the lock: another opener may have migrated meanwhile.
    auto v = stored_version();
    if (!v) return std::move(v).error();
    if (*v > kSchemaVersion) return newer_schema(*v);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    for (const Migration& m : kMigrations) {
        if (m.version <= *v) continue;
        for (std::string_view ddl : m.statements) {
            auto r = exec(render_ddl(ddl, dialect()));
            // A statement the database refuses as such (a table of that name
            // already there, ...) means it is not a ribbon database, or one
            // changed by hand: nothing a retry would fix.
            if (!r && r.error().code() == Errc::internal_error) {
                return permanent_error(
                    Errc::store_corrupt,
                    m_label + ": migration " + std::to_string(m.version) +
                        " failed (is this ribbon's database?): " + r.error().message());
            }
            if (!r) return r;
        }
        auto r = exec("INSERT INTO ribbon_schema (version, applied_at, description) VALUES (" +
                      std::to_string(m.version) + ", " + std::to_string(now) + ", '" +
                      std::string(m.description) + "')");
        if (!r) return r;
        m_version = m.version;
    }
    m_version = std::max(m_version, *v);
    return {};
}

Result<void> SqlStore::record(const Observation& observation) {
    auto plan = record_plan(observation);
    if (!plan) return std::move(plan).error();
    return write_transaction([&]() -> Result<void> {
        for (const auto& [stmt, params] : *plan) {
            if (auto r = run(stmt, params, {}); !r) return r;
        }
        return {};
    });
}

Result<std::optional<RecipientStanding>> SqlStore::standing(std::string_view address) {
    auto key = normalise_address(address);
    if (!key) return std::optional<RecipientStanding>();
    std::optional<RecipientStanding> out;
    auto r = run(Stmt::standing, {*key}, [&](const Row& row) {
        out.emplace();
        out->capability = smime_from(row.text(0));
        out->override_ = parse_recipient_override(row.text(1)).value_or(RecipientOverride::none);
        out->opted_out = row.boolean(2);
    });
    if (!r) return std::move(r).error();
    return out;
}

Result<void> SqlStore::attach_children(std::vector<RecipientRecord>& records) {
    if (records.empty()) return {};
    const Params range{records.front().address, records.back().address};
    // Both lists come in address order, like `records`: one pass each.
    std::size_t at = 0;
    auto owner = [&](const std::string& address) -> RecipientRecord* {
        while (at < records.size() && records[at].address < address) ++at;
        return at < records.size() && records[at].address == address ? &records[at] : nullptr;
    };
    auto r = run(Stmt::clients, range, [&](const Row& row) {
        if (RecipientRecord* rec = owner(row.text(0))) rec->clients.push_back(client_from(row));
    });
    if (!r) return r;
    at = 0;
    return run(Stmt::certificates, range, [&](const Row& row) {
        if (RecipientRecord* rec = owner(row.text(0)))
            rec->certificates.push_back(certificate_from(row));
    });
}

Result<std::optional<RecipientRecord>> SqlStore::find(std::string_view address) {
    auto key = normalise_address(address);
    if (!key) return std::optional<RecipientRecord>();
    std::vector<RecipientRecord> found;
    auto r =
        run(Stmt::recipient, {*key}, [&](const Row& row) { found.push_back(recipient_from(row)); });
    if (!r) return std::move(r).error();
    if (found.empty()) return std::optional<RecipientRecord>();
    if (auto c = attach_children(found); !c) return std::move(c).error();
    return std::optional<RecipientRecord>(std::move(found.front()));
}

Result<void> SqlStore::set_override(std::string_view address, RecipientOverride value,
                                    UnixTime now) {
    auto key = normalise_address(address);
    if (!key) return bad_address(address);
    return run(Stmt::set_override, {*key, now, std::string(recipient_override_name(value))}, {});
}

Result<void> SqlStore::set_opt_out(std::string_view address, bool opted_out, UnixTime now) {
    auto key = normalise_address(address);
    if (!key) return bad_address(address);
    return run(Stmt::set_opt_out, {*key, now, opted_out}, {});
}

Result<void> SqlStore::set_seal(std::string_view address, SealChoice choice, std::string_view certificate_der,
                                UnixTime now) {
    auto key = normalise_address(address);
    if (!key) return bad_address(address);
    if ((choice == SealChoice::pinned) == certificate_der.empty()) {
        return bad_input(choice == SealChoice::pinned ? "recipients store: a pinned seal choice without a certificate"
                                                      : "recipients store: a certificate with a seal choice that "
                                                        "is not \"pinned\"");
    }
    return run(Stmt::set_seal, {*key, now, std::string(seal_choice_name(choice)), Blob{std::string(certificate_der)}},
               {});
}

Result<bool> SqlStore::forget(std::string_view address) {
    auto key = normalise_address(address);
    if (!key) return false;  // nothing can be stored under it
    bool existed = false;
    auto r = run(Stmt::forget, {*key}, [&](const Row&) { existed = true; });
    if (!r) return std::move(r).error();
    return existed;
}

Result<void> SqlStore::for_each(const std::function<bool(const RecipientRecord&)>& visit) {
    // Keyset pagination: each page is a fresh query after the last address
    // seen, so no cursor or transaction stays open while `visit` runs (it
    // may call this store again) and a large store is never all in memory.
    constexpr std::int64_t kPage = 500;
    std::string after;  // "" sorts before every address
    for (;;) {
        std::vector<RecipientRecord> page;
        auto r = run(Stmt::page, {after, kPage},
                     [&](const Row& row) { page.push_back(recipient_from(row)); });
        if (!r) return r;
        if (page.empty()) return {};
        if (auto c = attach_children(page); !c) return c;
        for (const RecipientRecord& rec : page) {
            if (!visit(rec)) return {};
        }
        if (static_cast<std::int64_t>(page.size()) < kPage) return {};
        after = page.back().address;
    }
}

Result<RecipientStats> SqlStore::stats() {
    RecipientStats s;
    auto r = run(Stmt::totals, {}, [&](const Row& row) {
        s.total = static_cast<std::uint64_t>(row.int64(0));
        s.supported = static_cast<std::uint64_t>(row.int64(1));
        s.unsupported = static_cast<std::uint64_t>(row.int64(2));
        s.unknown = static_cast<std::uint64_t>(row.int64(3));
        s.opted_out = static_cast<std::uint64_t>(row.int64(4));
        s.overridden = static_cast<std::uint64_t>(row.int64(5));
    });
    if (!r) return std::move(r).error();
    r = run(Stmt::per_client, {}, [&](const Row& row) {
        const std::int64_t smime = row.int64(1);
        s.clients.push_back({row.text(0),
                             smime == 2   ? SmimeSupport::supported
                             : smime == 1 ? SmimeSupport::unsupported
                                          : SmimeSupport::unknown,
                             static_cast<std::uint64_t>(row.int64(2))});
    });
    if (!r) return std::move(r).error();
    return s;
}

}  // namespace ribbon::store
