// sightings.cpp — key continuity in the recipients store: migrations 2 (the
// key_sightings, key_certificates and key_messages tables) and 3, their
// statements, and observe_key / find_sender / forget_sender /
// for_each_sender, written once for both backends like the rest of
// SqlStore (sql_store.hpp). The verdict itself is core's judge_continuity;
// this file gives it the history and counts the message.
//
// Trusts nothing in a KeySighting: the address is normalised and refused
// when it cannot be one, the digests must be SHA-256 hex, text from the
// certificate is cleaned to UTF-8, and the message key (a Message-ID and a
// digest, of any length) is kept only as 60 bits of its SHA-256.
#include <openssl/evp.h>

#include <algorithm>

#include "base/ascii.hpp"
#include "core/openssl_util.hpp"
#include "store/sql_store.hpp"

namespace ribbon::store {

namespace {

// ---- the schema --------------------------------------------------------------

// The certificates and message keys belong to a binding (address, key).
// key_messages has no foreign key: a message key is inserted first, since
// whether it was new decides whether the binding is counted at all;
// forget_sender deletes it explicitly. Its index on counted_at makes the
// hourly expiry a range scan of what expires, not of the table.
constexpr std::string_view kKeySightings = R"(CREATE TABLE key_sightings (
    address     {key} NOT NULL,
    spki_sha256 {key} NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    messages    BIGINT NOT NULL,
    PRIMARY KEY (address, spki_sha256)){table_options})";
constexpr std::string_view kKeyCertificates = R"(CREATE TABLE key_certificates (
    address     {key} NOT NULL,
    spki_sha256 {key} NOT NULL,
    sha256      {key} NOT NULL,
    subject     TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    serial      TEXT NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (address, spki_sha256, sha256),
    FOREIGN KEY (address, spki_sha256) REFERENCES key_sightings (address, spki_sha256)
        ON DELETE CASCADE){table_options})";
constexpr std::string_view kKeyMessages = R"(CREATE TABLE key_messages (
    address     {key} NOT NULL,
    spki_sha256 {key} NOT NULL,
    message     {key} NOT NULL,
    counted_at  BIGINT NOT NULL,
    PRIMARY KEY (address, spki_sha256, message)){table_options})";
constexpr std::string_view kKeyMessagesByTime =
    "CREATE INDEX key_messages_by_time ON key_messages (counted_at)";

// Migration 3: key_messages again, its key compact. Migration 2 kept the
// key and the message digest as 64 hex digits each, some 160 bytes a row:
// every message inserted its row into a different page of a large B-tree,
// and each page a message touches is written to the WAL and later to the
// database. The first 60 bits of each digest, as integers, are a quarter of
// the size (a pair of messages under one key would have to share 60 bits
// of SHA-256 to be counted once: about 1 in 10^12 for a million messages
// under one key), and recording a sighting fell from about 178 to 141 µs
// (docs/BENCHMARKS.md). The rows are converted, not dropped: a message
// counted before the upgrade stays counted.
constexpr std::string_view kKeyMessagesCompact = R"(CREATE TABLE key_messages_compact (
    address        {key} NOT NULL,
    spki_prefix    BIGINT NOT NULL,
    message_prefix BIGINT NOT NULL,
    counted_at     BIGINT NOT NULL,
    PRIMARY KEY (address, spki_prefix, message_prefix)){table_options})";
constexpr std::string_view kKeyMessagesConvert =
    "INSERT INTO key_messages_compact (address, spki_prefix, message_prefix, counted_at) "
    "SELECT address, {hex60:spki_sha256}, {hex60:message}, MIN(counted_at) FROM key_messages "
    "GROUP BY 1, 2, 3";
constexpr std::string_view kKeyMessagesDropOld = "DROP TABLE key_messages";
constexpr std::string_view kKeyMessagesRename =
    "ALTER TABLE key_messages_compact RENAME TO key_messages";

// The keys and their certificates in one query (a key without a kept
// certificate still comes, with NULL certificate columns: sha256 reads "").
// In primary key order, which both databases read without sorting; the
// order people see is made in memory (SenderReader::records).
constexpr std::string_view kSenderKeys =
    "SELECT k.address, k.spki_sha256, k.first_seen, k.last_seen, k.messages, c.sha256, "
    "c.subject, c.issuer, c.serial, c.not_before, c.not_after, c.first_seen, c.last_seen "
    "FROM key_sightings k LEFT JOIN key_certificates c "
    "ON c.address = k.address AND c.spki_sha256 = k.spki_sha256 WHERE ";
constexpr std::string_view kSenderKeysOrder = " ORDER BY k.address, k.spki_sha256, c.sha256";

// "min"/"max" of the stored and the new time, as CASE (sql_store.cpp says why).
std::string earlier(const char* t) {
    return std::string("first_seen = CASE WHEN excluded.first_seen < ") + t +
           ".first_seen THEN excluded.first_seen ELSE " + t + ".first_seen END";
}
std::string later(const char* t) {
    return std::string("last_seen = CASE WHEN excluded.last_seen > ") + t +
           ".last_seen THEN excluded.last_seen ELSE " + t + ".last_seen END";
}

// ---- values ------------------------------------------------------------------

// A KeySighting as the store keeps it.
struct Binding {
    std::string address;  // normalised
    std::string spki;     // lower-case hex
    std::int64_t spki_prefix = 0;     // key_messages' compact keys (hex60)
    std::int64_t message_prefix = 0;  // of the SHA-256 of the message key
    KeySighting sighting;  // with the above, its certificate cleaned
};

std::string sha256_hex(std::string_view bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr) != 1) return {};
    return ossl::hex(md, n);
}

Result<Binding> binding_of(const KeySighting& s) {
    Binding b;
    auto address = normalise_address(s.address);
    if (!address) return bad_address(s.address);
    b.address = std::move(*address);
    b.spki = ascii_lower(s.spki_sha256);
    if (!is_hex_sha256(b.spki)) {
        return bad_input("recipients store: key digest \"" +
                         to_utf8_text(s.spki_sha256.substr(0, 80)) + "\" is not SHA-256 hex");
    }
    if (s.message_key.empty()) return bad_input("recipients store: a key sighting without a message key");
    const std::string message = sha256_hex(s.message_key);
    if (message.empty()) {
        return Error(Errc::internal_error, ErrorKind::internal, "recipients store: SHA-256 failed");
    }
    b.spki_prefix = hex60(b.spki);
    b.message_prefix = hex60(message);
    b.sighting = s;
    b.sighting.address = b.address;
    b.sighting.spki_sha256 = b.spki;
    SeenCertificate& c = b.sighting.certificate;
    c.sha256 = ascii_lower(c.sha256);
    if (!is_hex_sha256(c.sha256)) {
        return bad_input("recipients store: certificate fingerprint \"" +
                         to_utf8_text(s.certificate.sha256.substr(0, 80)) + "\" is not SHA-256 hex");
    }
    c.subject = to_utf8_text(c.subject);
    c.issuer = to_utf8_text(c.issuer);
    c.serial_hex = to_utf8_text(c.serial_hex);
    c.first_seen = c.last_seen = s.time;
    return b;
}

// A key's certificates: the newest notBefore first, then by digest.
bool newer_certificate(const SeenCertificate& a, const SeenCertificate& b) {
    if (a.not_before != b.not_before) return a.not_before > b.not_before;
    return a.sha256 < b.sha256;
}

// Rows of kSenderKeys, in its order, into records: one per address, its
// keys most recently seen first (then more messages, then the smaller
// digest: judge_continuity's "previous key" order), each key's
// certificates newest notBefore first.
class SenderReader {
  public:
    void add(const Row& row) {
        std::string address = row.text(0);
        if (m_out.empty() || m_out.back().address != address) {
            m_out.push_back(SenderRecord{std::move(address), {}});
        }
        std::vector<KeyHistory>& keys = m_out.back().keys;
        std::string spki = row.text(1);
        if (keys.empty() || keys.back().spki_sha256 != spki) {
            KeyHistory k;
            k.spki_sha256 = std::move(spki);
            k.first_seen = row.int64(2);
            k.last_seen = row.int64(3);
            k.messages = static_cast<std::uint64_t>(row.int64(4));
            keys.push_back(std::move(k));
        }
        std::string sha = row.text(5);
        if (sha.empty()) return;  // no certificate kept (LEFT JOIN)
        SeenCertificate c;
        c.sha256 = std::move(sha);
        c.subject = row.text(6);
        c.issuer = row.text(7);
        c.serial_hex = row.text(8);
        c.not_before = row.int64(9);
        c.not_after = row.int64(10);
        c.first_seen = row.int64(11);
        c.last_seen = row.int64(12);
        keys.back().certificates.push_back(std::move(c));
    }
    std::vector<SenderRecord>& records() {
        for (SenderRecord& s : m_out) {
            std::sort(s.keys.begin(), s.keys.end(), [](const KeyHistory& a, const KeyHistory& b) {
                if (a.last_seen != b.last_seen) return a.last_seen > b.last_seen;
                if (a.messages != b.messages) return a.messages > b.messages;
                return a.spki_sha256 < b.spki_sha256;
            });
            for (KeyHistory& k : s.keys) {
                std::sort(k.certificates.begin(), k.certificates.end(), newer_certificate);
            }
        }
        return m_out;
    }

  private:
    std::vector<SenderRecord> m_out;
};

// Whether the key's stored certificates hold `c` with times that need no
// change for a message at `time` (kCertificateSeenResolution).
bool recent_enough(const KeyHistory& key, const SeenCertificate& c, UnixTime time) {
    return std::any_of(key.certificates.begin(), key.certificates.end(),
                       [&](const SeenCertificate& kept) {
                           return kept.sha256 == c.sha256 && kept.first_seen <= time &&
                                  kept.last_seen + kCertificateSeenResolution > time;
                       });
}

// The sighting's certificate, as now stored, into the key's list.
void merge_certificate(KeyHistory& key, const SeenCertificate& stored) {
    auto& certs = key.certificates;
    std::erase_if(certs, [&](const SeenCertificate& c) { return c.sha256 == stored.sha256; });
    certs.insert(std::lower_bound(certs.begin(), certs.end(), stored, newer_certificate), stored);
}

}  // namespace

Migration sightings_migration() {
    return {2,
            "key continuity: key_sightings, key_certificates, key_messages",
            {kKeySightings, kKeyCertificates, kKeyMessages, kKeyMessagesByTime}};
}

Migration compact_message_keys_migration() {
    return {3,
            "key continuity: key_messages keyed by 60-bit digest prefixes",
            {kKeyMessagesCompact, kKeyMessagesConvert, kKeyMessagesDropOld, kKeyMessagesRename,
             kKeyMessagesByTime}};
}

std::string sighting_sql(Stmt s) {
    switch (s) {
        case Stmt::sender_page:
            return "SELECT DISTINCT address FROM key_sightings WHERE address > $1 ORDER BY address "
                   "LIMIT $2";
        case Stmt::sender_keys:
            return std::string(kSenderKeys) + "k.address >= $1 AND k.address <= $2" +
                   std::string(kSenderKeysOrder);
        case Stmt::sender_keys_of:
            // One address by equality, not as the range $1..$1: PostgreSQL
            // estimates a range parameter's rows so badly that it plans the
            // join again on every call rather than keep a generic plan
            // (measured: 330 µs a call against 90 µs).
            return std::string(kSenderKeys) + "k.address = $1" + std::string(kSenderKeysOrder);
        case Stmt::message_counted:
            return "SELECT 1 FROM key_messages WHERE address = $1 AND spki_prefix = $2 AND "
                   "message_prefix = $3";
        case Stmt::insert_message_key:
            // Under a concurrent insert of the same key, PostgreSQL waits
            // for the other transaction and then does nothing: counted once.
            return "INSERT INTO key_messages (address, spki_prefix, message_prefix, counted_at) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (address, spki_prefix, message_prefix) DO "
                   "NOTHING RETURNING 1";
        case Stmt::upsert_key:
            // $1 address, $2 spki, $3 time.
            return "INSERT INTO key_sightings AS k (address, spki_sha256, first_seen, last_seen, "
                   "messages) VALUES ($1, $2, $3, $3, 1) ON CONFLICT (address, spki_sha256) DO "
                   "UPDATE SET " +
                   earlier("k") + ", " + later("k") +
                   ", messages = k.messages + 1 RETURNING first_seen, last_seen, messages";
        case Stmt::upsert_key_certificate:
            // $1 address, $2 spki, $3 sha256, $4 subject, $5 issuer, $6
            // serial, $7 not_before, $8 not_after, $9 time. A certificate's
            // other columns follow from its sha256.
            return "INSERT INTO key_certificates AS c (address, spki_sha256, sha256, subject, "
                   "issuer, serial, not_before, not_after, first_seen, last_seen) VALUES ($1, $2, "
                   "$3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (address, spki_sha256, sha256) DO "
                   "UPDATE SET " +
                   earlier("c") + ", " + later("c") + " RETURNING first_seen, last_seen";
        case Stmt::forget_message_keys:
            return "DELETE FROM key_messages WHERE address = $1";
        case Stmt::forget_keys:
            // The certificates go with their keys (ON DELETE CASCADE).
            return "DELETE FROM key_sightings WHERE address = $1";
        case Stmt::expire_message_keys:
            return "DELETE FROM key_messages WHERE counted_at < $1";
        default:
            return {};
    }
}

std::string_view sighting_purpose(Stmt s) {
    switch (s) {
        case Stmt::sender_page:
            return "listing senders";
        case Stmt::sender_keys:
        case Stmt::sender_keys_of:
            return "reading a sender's keys";
        case Stmt::message_counted:
        case Stmt::insert_message_key:
            return "checking a message key";
        case Stmt::upsert_key:
            return "recording a key sighting";
        case Stmt::upsert_key_certificate:
            return "recording a signer's certificate";
        case Stmt::forget_message_keys:
        case Stmt::forget_keys:
            return "forgetting a sender";
        case Stmt::expire_message_keys:
            return "expiring message keys";
        default:
            return "query";
    }
}

// ---- the operations ----------------------------------------------------------

Result<std::vector<SenderRecord>> SqlStore::senders_between(const std::string& first,
                                                            const std::string& last) {
    SenderReader reader;
    const auto sink = [&](const Row& row) { reader.add(row); };
    auto r = first == last ? run(Stmt::sender_keys_of, {first}, sink)
                           : run(Stmt::sender_keys, {first, last}, sink);
    if (!r) return std::move(r).error();
    return std::move(reader.records());
}

void SqlStore::expire_message_keys(UnixTime now) {
    if (now < m_next_expiry) return;
    // Its own statement, before the observation's transaction: a large
    // delete (the first after an upgrade, say) holds no binding's lock. A
    // failure is left to the observation to report; it is tried again on
    // the next call.
    if (run(Stmt::expire_message_keys, {now - kMessageKeyRetention}, {})) {
        m_next_expiry = now + 3600;
    }
}

Result<ContinuityReport> SqlStore::judge_sighting(const KeySighting& s) {
    auto senders = senders_between(s.address, s.address);
    if (!senders) return std::move(senders).error();
    const std::vector<KeyHistory> none;
    return judge_continuity(s, senders->empty() ? none : senders->front().keys, s.time);
}

Result<ContinuityReport> SqlStore::observe_key(const KeySighting& sighting, KeyRecording mode) {
    if (mode == KeyRecording::record) return std::move(observe_keys({&sighting, 1}).front());
    auto b = binding_of(sighting);
    if (!b) return std::move(b).error();
    auto report = judge_sighting(b->sighting);
    if (!report) return report;
    auto r = run(Stmt::message_counted, {b->address, b->spki_prefix, b->message_prefix},
                 [&](const Row&) { report->already_counted = true; });
    if (!r) return std::move(r).error();
    return report;
}

std::vector<Result<ContinuityReport>> SqlStore::observe_keys(
    std::span<const KeySighting> sightings) {
    std::vector<Result<ContinuityReport>> out;
    out.reserve(sightings.size());
    std::vector<Binding> bindings;
    std::vector<std::size_t> slot;  // bindings[i] answers out[slot[i]]
    UnixTime latest = 0;
    for (const KeySighting& s : sightings) {
        auto b = binding_of(s);
        if (!b) {
            out.emplace_back(std::move(b).error());
            continue;
        }
        latest = std::max(latest, b->sighting.time);
        slot.push_back(out.size());
        out.emplace_back(ContinuityReport{});
        bindings.push_back(std::move(*b));
    }
    if (bindings.empty()) return out;
    // The rows are written address by address (a stable sort keeps each
    // address's sightings in their order, which decides their verdicts), so
    // that two PostgreSQL batches take their row locks in the same order and
    // do not deadlock over the same senders.
    std::vector<std::size_t> order(bindings.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return bindings[a].address < bindings[b].address;
    });
    expire_message_keys(latest);
    std::vector<ContinuityReport> reports(bindings.size());
    auto r = write_transaction([&]() -> Result<void> {
        // Each binding is judged inside the transaction, after the ones
        // before it were counted: on SQLite it excludes every other writer;
        // on PostgreSQL the counts are exact but the history is read
        // unlocked (docs/STORE.md, "Senders' keys"). From the start again
        // when write_transaction retries.
        for (std::size_t i : order) {
            const Binding& b = bindings[i];
            const KeySighting& s = b.sighting;
            auto judged = judge_sighting(s);
            if (!judged) return std::move(judged).error();
            ContinuityReport& report = reports[i] = std::move(*judged);
            bool fresh = false;
            auto m = run(Stmt::insert_message_key,
                         {b.address, b.spki_prefix, b.message_prefix, s.time},
                         [&](const Row&) { fresh = true; });
            if (!m) return m;
            if (!fresh) {
                report.already_counted = true;
                continue;
            }
            auto k = run(Stmt::upsert_key, {b.address, b.spki, s.time}, [&](const Row& row) {
                report.key.first_seen = row.int64(0);
                report.key.last_seen = row.int64(1);
                report.key.messages = static_cast<std::uint64_t>(row.int64(2));
            });
            if (!k) return k;
            const SeenCertificate& c = s.certificate;
            if (recent_enough(report.key, c, s.time)) {
                report.recorded = true;
                continue;
            }
            SeenCertificate stored = c;
            auto cr = run(Stmt::upsert_key_certificate,
                          {b.address, b.spki, c.sha256, c.subject, c.issuer, c.serial_hex,
                           c.not_before, c.not_after, s.time},
                          [&](const Row& row) {
                              stored.first_seen = row.int64(0);
                              stored.last_seen = row.int64(1);
                          });
            if (!cr) return cr;
            merge_certificate(report.key, stored);
            report.recorded = true;
        }
        return {};
    });
    for (std::size_t i = 0; i < bindings.size(); ++i) {
        if (r) {
            out[slot[i]] = std::move(reports[i]);
        } else {
            out[slot[i]] = r.error();
        }
    }
    return out;
}

Result<std::optional<SenderRecord>> SqlStore::find_sender(std::string_view address) {
    auto key = normalise_address(address);
    if (!key) return std::optional<SenderRecord>();
    auto senders = senders_between(*key, *key);
    if (!senders) return std::move(senders).error();
    if (senders->empty()) return std::optional<SenderRecord>();
    return std::optional<SenderRecord>(std::move(senders->front()));
}

Result<std::optional<SenderRecord>> SqlStore::forget_sender(std::string_view address) {
    auto key = normalise_address(address);
    if (!key) return std::optional<SenderRecord>();  // nothing can be stored under it
    std::optional<SenderRecord> gone;
    auto r = write_transaction([&]() -> Result<void> {
        gone.reset();
        auto senders = senders_between(*key, *key);
        if (!senders) return std::move(senders).error();
        if (!senders->empty()) gone = std::move(senders->front());
        if (auto m = run(Stmt::forget_message_keys, {*key}, {}); !m) return m;
        return run(Stmt::forget_keys, {*key}, {});
    });
    if (!r) return std::move(r).error();
    return gone;
}

Result<void> SqlStore::for_each_sender(const std::function<bool(const SenderRecord&)>& visit) {
    // Keyset pagination, as for_each (sql_store.cpp) explains.
    constexpr std::int64_t kPage = 500;
    std::string after;
    for (;;) {
        std::vector<std::string> page;
        auto r = run(Stmt::sender_page, {after, kPage},
                     [&](const Row& row) { page.push_back(row.text(0)); });
        if (!r) return r;
        if (page.empty()) return {};
        auto senders = senders_between(page.front(), page.back());
        if (!senders) return std::move(senders).error();
        for (const SenderRecord& s : *senders) {
            if (!visit(s)) return {};
        }
        if (static_cast<std::int64_t>(page.size()) < kPage) return {};
        after = page.back();
    }
}

}  // namespace ribbon::store
