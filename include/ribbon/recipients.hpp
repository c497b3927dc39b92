// ribbon/recipients.hpp — the "track recipients" database: what ribbon has
// learned about each customer address from the mail the customer sent in
// (which mail clients, whether they understand S/MIME, their certificates),
// and what an operator decided for it (override, opt-out).
//
// Two backends behind one interface, chosen by URL:
//   sqlite:///var/lib/ribbon/store/ribbon.db   one host (WAL mode), the default;
//                                        an absolute path, its directory must exist
//   postgresql://user@host:port/dbname  several ribbon hosts sharing one database
//                                        (postgres:// too; a libpq connection URI)
// Opening a store applies the versioned schema migrations (docs/STORE.md);
// a database whose schema is newer than this ribbon is refused, never
// downgraded.
//
// Addresses are stored trimmed and in ASCII lower case (policy/addresses.hpp
// explains why), an internationalised domain in A-labels (ribbon/mail_text.hpp);
// every call normalises its address argument the same way.
// One that cannot be an address (empty, no '@' with text on both sides,
// white space or control characters inside, not UTF-8, over 254 octets) is
// refused by record/set_override/set_opt_out as permanent
// Errc::malformed_message, and is "never seen" to standing/find/forget.
//
// Errors: Errc::store_unavailable (transient: the server is down, the file
// is locked or read-only, the disk is full) and Errc::store_corrupt
// (permanent: the file is not a ribbon database, or its schema is newer).
// A bad URL is Errc::bad_config; no message shows the URL's password.
//
// Thread-safety: one RecipientStore is used by one thread at a time; each
// thread (or process) opens its own. The database itself arbitrates between
// them: record() is one atomic transaction, so two processes learning into
// one PostgreSQL at once lose no update.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/continuity.hpp"  // UnixTime, the key sightings' types
#include "ribbon/error.hpp"

namespace ribbon {

// Whether a customer's mail client shows S/MIME signatures.
enum class SmimeSupport { unknown, supported, unsupported };
std::string_view smime_support_name(SmimeSupport s) noexcept;  // "unknown" | "supported" | "unsupported"
std::optional<SmimeSupport> parse_smime_support(std::string_view name) noexcept;

// An operator's decision for one address, which beats anything learned.
enum class RecipientOverride { none, sign, no_sign, opaque };
std::string_view recipient_override_name(RecipientOverride o) noexcept;  // "none" | "sign" | "no-sign" | "opaque"
std::optional<RecipientOverride> parse_recipient_override(std::string_view name) noexcept;

// An operator's choice about sealing mail to an address (issue 18,
// `ribbon recipients set --seal-cert FILE | --no-seal | --seal-auto`):
// automatic — the newest usable certificate the customer's own signature
// bound to them (HarvestedCertificate::bound); pinned — only the
// certificate the operator gave; never — mail to them is never sealed.
enum class SealChoice { automatic, pinned, never };
std::string_view seal_choice_name(SealChoice c) noexcept;  // "auto" | "pinned" | "never"
std::optional<SealChoice> parse_seal_choice(std::string_view name) noexcept;

// A mail client seen in a customer's mail.
struct ClientSighting {
    std::string name;      // "Thunderbird", "Outlook (desktop)" (the rules file's names)
    std::string version;   // "115.3.1"; empty when the signal carries none
    std::string evidence;  // which signal: "User-Agent: Mozilla/5.0 ... Thunderbird/115.3.1"
    SmimeSupport smime = SmimeSupport::unknown;
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
    std::uint64_t count = 0;
};

// A certificate harvested from a customer's signed mail.
struct HarvestedCertificate {
    std::string sha256;  // hex, lower case, of the DER: the identity
    std::string subject;
    std::string issuer;
    std::string serial;  // hex
    UnixTime not_after = 0;
    // sMIMECapabilities (RFC 8551 §2.5.2) from the signed attributes, as
    // OpenSSL short names in lower case or dotted OIDs ("aes-256-cbc",
    // "id-aes128-gcm"), in the sender's order of preference.
    std::vector<std::string> capabilities;
    // The customer's signature binds it to them (VerifyResult::
    // bound_certificates): the only certificates mail may be sealed to. A
    // certificate once bound stays bound (a later message carrying it only
    // beside its signature takes nothing away).
    bool bound = false;
    std::string der;  // the certificate itself
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
};

// What one inbound message taught about its sender.
struct Observation {
    std::string address;  // the customer (From)
    UnixTime time = 0;
    std::optional<ClientSighting> client;  // first_seen/last_seen/count are ignored
    // The capability this message shows, why, and how sure (0..1). A
    // signed or sealed message is proof (supported, 1.0); a client
    // recognised from headers is the rule's confidence; nothing recognised
    // is unknown with confidence 0.
    SmimeSupport capability = SmimeSupport::unknown;
    std::string capability_evidence;
    double confidence = 0;
    std::vector<HarvestedCertificate> certificates;  // first_seen/last_seen are ignored
};

// Everything stored about one address.
struct RecipientRecord {
    std::string address;
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
    std::uint64_t message_count = 0;
    // The capability with the highest confidence seen so far; among equal
    // confidences the most recent wins (a customer who moves from one
    // client to another of the same standing is believed).
    SmimeSupport capability = SmimeSupport::unknown;
    std::string capability_evidence;
    double confidence = 0;
    RecipientOverride override_ = RecipientOverride::none;
    bool opted_out = false;
    SealChoice seal = SealChoice::automatic;
    std::string seal_certificate;  // DER of the pinned certificate; empty unless pinned
    std::vector<ClientSighting> clients;             // most recently seen first
    std::vector<HarvestedCertificate> certificates;  // most recently seen first
};

// The part of a record the signing policy needs, read in one query.
struct RecipientStanding {
    SmimeSupport capability = SmimeSupport::unknown;
    RecipientOverride override_ = RecipientOverride::none;
    bool opted_out = false;
};

// `ribbon recipients stats`.
struct RecipientStats {
    std::uint64_t total = 0;
    std::uint64_t supported = 0;
    std::uint64_t unsupported = 0;
    std::uint64_t unknown = 0;
    std::uint64_t opted_out = 0;
    std::uint64_t overridden = 0;  // override_ != none
    // Per client name: how many addresses have been seen using it (an
    // address using two clients counts for both), most used first.
    struct PerClient {
        std::string name;
        SmimeSupport smime = SmimeSupport::unknown;
        std::uint64_t addresses = 0;
    };
    std::vector<PerClient> clients;
};

// The URL with any password replaced by "***", for logs and messages.
std::string redacted_store_url(std::string_view url);

// The file a "sqlite:" URL names; nullopt for other URLs and bad ones.
std::optional<std::filesystem::path> sqlite_store_file(std::string_view url);

// `address` as the store keeps it (trimmed, ASCII lower case), or nullopt
// when it cannot be an address by the rules above. Front ends use it to
// refuse a bad argument before asking the store, whose find/forget would
// only say "never seen".
std::optional<std::string> recipient_address_key(std::string_view address);

// Whether RecipientStore::observe_key counts the message or only judges it
// (`ribbon verify --no-record`).
enum class KeyRecording { record, read_only };

// Every key seen for one sender address (`ribbon senders`).
struct SenderRecord {
    std::string address;
    std::vector<KeyHistory> keys;  // most recently seen first
};

// What observe_key keeps of message keys: the SHA-256 of each counted
// KeySighting::message_key, for this long after it was counted, so that a
// message verified again within the window is counted once. Older ones are
// deleted (by any store that records, at most once an hour); the same
// message verified again after that counts as a new one. A year and a
// month: an auditor re-verifying last year's mail does not inflate counts.
inline constexpr UnixTime kMessageKeyRetention = 400 * 86400;

// How far behind a message a signer certificate's last_seen may be: like a
// file system's relatime, a certificate already recorded for its key is
// written again only when its last_seen is this much older than the
// message (or its first_seen is later). Its key's first_seen, last_seen
// and message count are exact; a certificate's times are exact to the
// hour. Writing the certificate's row for every message cost a quarter of
// the time of recording a sighting (docs/BENCHMARKS.md).
inline constexpr UnixTime kCertificateSeenResolution = 3600;

// What the opener will do with a store. A command that only reads (list,
// show, stats, export) says read_only, so a user who may only read the
// SQLite file and its directory (a copy for an auditor, a store owned by
// the daemon's user) can still run it (docs/STORE.md "Read-only access").
enum class StoreAccess { read_write, read_only };

// ---- message activity (`ribbon dashboard`, docs/STORE.md "Activity") --------
// What became of outgoing mail, kept in the store by the daemons so that
// the counts survive restarts and add up across the hosts that share one
// PostgreSQL database. The store keeps what it is given; it does not count
// by itself.

// The results a message can have, and so the only `result` values the
// store accepts: signed; passed on unsigned (not ribbon's mail, already
// S/MIME, the recipient policy, or a failure whose action is "accept");
// answered with a temporary failure; rejected.
inline constexpr std::string_view kMessageResults[] = {"signed", "unsigned", "tempfail", "reject"};

// How many messages one host's front end handled with one result (and
// reason) in one hour.
struct MessageCount {
    UnixTime hour = 0;      // the hour's first second: a multiple of 3600
    std::string host;       // the host that counted them (its name, as the daemon knows it)
    std::string front_end;  // "milter", "relay", "sendmail"
    std::string result;     // one of kMessageResults
    // Why: for "unsigned" the reason ("not-ours", "policy", or a failure
    // kind), for "tempfail"/"reject" the failure kind; "" for "signed".
    std::string reason;
    std::uint64_t messages = 0;
};

// One message that failed to be signed, with its reason, for people to read.
struct FailureRecord {
    UnixTime time = 0;
    std::string host;
    std::string front_end;
    std::string result;  // what became of it: one of kMessageResults, never "signed"
    std::string kind;    // the failure kind: "no_key", "bad_message", "internal_error"
    std::string detail;  // the error's message (stored cut to kFailureDetailLimit octets)
};

// The failures kept: the latest kFailuresKept, none older than
// kFailureRetention (by the clock of the host adding them).
inline constexpr std::size_t kFailuresKept = 1000;
inline constexpr UnixTime kFailureRetention = 30 * 86400;
inline constexpr std::size_t kFailureDetailLimit = 1000;
// The longest host, front end, result, reason or kind the store keeps.
inline constexpr std::size_t kActivityLabelLimit = 255;

class RecipientStore {
public:
    // Opens (creating when absent: the SQLite file, never a PostgreSQL
    // database) and migrates the store at `url`. With StoreAccess::read_only
    // an existing SQLite file whose schema is current is opened read-only
    // and never changed (writes then fail as store_unavailable); a missing
    // file or an older schema is opened read-write as usual, since it must
    // be created or migrated first. PostgreSQL ignores `access`: the
    // server's grants decide.
    static Result<std::unique_ptr<RecipientStore>> open(
        std::string_view url, StoreAccess access = StoreAccess::read_write);

    virtual ~RecipientStore() = default;

    // The schema version after migration.
    virtual int schema_version() const = 0;

    // Adds one message's lesson, atomically: creates the address if new;
    // message_count + 1; first/last seen; the client's sighting (keyed by
    // name and version: count + 1); each certificate (keyed by sha256);
    // and the capability by the rule in RecipientRecord.
    virtual Result<void> record(const Observation& observation) = 0;

    // The policy's view of one address; nullopt when never seen nor set.
    virtual Result<std::optional<RecipientStanding>> standing(std::string_view address) = 0;

    // The whole record; nullopt when never seen nor set.
    virtual Result<std::optional<RecipientRecord>> find(std::string_view address) = 0;

    // An operator's decision; creates the address (message_count 0) if new.
    virtual Result<void> set_override(std::string_view address, RecipientOverride value, UnixTime now) = 0;
    virtual Result<void> set_opt_out(std::string_view address, bool opted_out, UnixTime now) = 0;
    // The operator's sealing choice; `certificate_der` is the pinned
    // certificate (DER) with SealChoice::pinned and must be empty otherwise
    // (malformed_message). Creates the address if new. Whether the pinned
    // certificate is fit to seal to is the caller's to check (seal.hpp).
    virtual Result<void> set_seal(std::string_view address, SealChoice choice, std::string_view certificate_der,
                                  UnixTime now) = 0;

    // Erases everything about the address (an erasure request): the record,
    // its clients and its certificates. False when there was nothing.
    virtual Result<bool> forget(std::string_view address) = 0;

    // Every record in address order, clients and certificates included, one
    // at a time (a large store is never held in memory). The callback
    // returns false to stop early.
    virtual Result<void> for_each(const std::function<bool(const RecipientRecord&)>& visit) = 0;

    virtual Result<RecipientStats> stats() = 0;

    // ---- key continuity (ribbon/continuity.hpp, docs/STORE.md) ------------
    // The sightings live in this store, beside the recipients, because they
    // share what a second class would have to duplicate or reach into: the
    // connection (the milter opens one store per thread, not two), the
    // migrations, the transactions and the address normalisation. They are
    // a separate set of tables, though: recipients' forget() leaves them,
    // forget_sender() leaves the recipients.

    // Judges the signer's key of one verified message against every key seen
    // before for its address (judge_continuity, at sighting.time), and with
    // KeyRecording::record counts it, all in one write transaction: the
    // message key is stored if new, and only then the key's messages + 1,
    // first/last seen and its certificate (keyed by its sha256). A message
    // key counted before leaves everything as it was (already_counted,
    // recorded false). read_only writes nothing and needs no write access.
    // Refuses (permanent malformed_message) an address that cannot be one,
    // a spki_sha256 or certificate sha256 that is not 64 hex digits, and an
    // empty message_key. Two processes recording at once lose no count and
    // count a message they both record once.
    virtual Result<ContinuityReport> observe_key(const KeySighting& sighting,
                                                 KeyRecording mode) = 0;

    // observe_key(record) for several sightings in one write transaction:
    // group commit, so that a busy receiver pays for one commit per batch
    // rather than one per message (inbound::SightingRecorder). The result
    // has one entry per sighting, in order, exactly as observe_key would
    // have answered had they been recorded one after another in this order:
    // two sightings of one key count as two messages, the second judged
    // with the first counted. A sighting the store refuses gets its own
    // error and the others are recorded; a failure of the store itself is
    // every entry's error, and nothing of the batch is kept.
    virtual std::vector<Result<ContinuityReport>> observe_keys(
        std::span<const KeySighting> sightings) = 0;

    // Every key seen for `address`; nullopt when none was (or it cannot be
    // an address).
    virtual Result<std::optional<SenderRecord>> find_sender(std::string_view address) = 0;

    // Erases the address's keys, their certificates and message keys; returns
    // what was erased (as find_sender showed it), nullopt when nothing was.
    virtual Result<std::optional<SenderRecord>> forget_sender(std::string_view address) = 0;

    // Every sender in address (byte) order, a page at a time, like for_each.
    virtual Result<void> for_each_sender(const std::function<bool(const SenderRecord&)>& visit) = 0;

    // ---- message activity (the types above) -------------------------------

    // Adds each count's messages to its (hour, host, front_end, result,
    // reason) row, created at 0 when new, all in one write transaction: two
    // hosts adding to the same row lose nothing. Refuses the whole batch
    // (permanent malformed_message, nothing added) when a count's hour is
    // not a multiple of 3600 or negative, its result is not one of
    // kMessageResults, its host or front end is empty, a label is longer
    // than kActivityLabelLimit, or its messages exceed INT64_MAX. Labels are
    // stored as UTF-8 (invalid bytes become U+FFFD). Counts of 0 are skipped.
    virtual Result<void> add_message_counts(std::span<const MessageCount> counts) = 0;

    // Every row whose hour is at or after `since`, by hour, then host, front
    // end, result and reason (byte order).
    virtual Result<std::vector<MessageCount>> message_counts(UnixTime since) = 0;

    // Adds the failures in one write transaction, then deletes those older
    // than kFailureRetention and all but the latest kFailuresKept. Refused
    // like add_message_counts (the result "signed" too, and an empty kind);
    // the detail is cut to kFailureDetailLimit octets and cleaned to UTF-8.
    virtual Result<void> add_failures(std::span<const FailureRecord> failures) = 0;

    // The latest `limit` failures, newest first (by time, then by the order
    // they were added).
    virtual Result<std::vector<FailureRecord>> recent_failures(std::size_t limit) = 0;
};

}  // namespace ribbon
