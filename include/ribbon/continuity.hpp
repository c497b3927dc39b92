// ribbon/continuity.hpp — key continuity for S/MIME senders: what a
// receiver knows of the keys an address has signed with before, and the
// verdict on the key of the message in hand ("the 57th message with this
// key since March" against "the first one" against "a different key until
// yesterday"). GnuPG's TOFU does this for OpenPGP (its tofu.c keeps, per
// binding of address and key, the first and last time seen and the number
// of distinct messages); ribbon does it for S/MIME, keyed by the SHA-256 of
// the signer's SubjectPublicKeyInfo, so a certificate renewed over the same
// key stays the same key.
//
// The history lives in the recipients store (ribbon/recipients.hpp, table
// key_sightings, docs/STORE.md); judge_continuity() is the pure rule that
// turns a history into a verdict, so the store, `ribbon verify` and the
// inbound milter share it. docs/RECEIVING.md explains each verdict to the
// people who read them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ribbon {

// Seconds since the Unix epoch (UTC): what both databases store.
using UnixTime = std::int64_t;

enum class Continuity {
    first,    // no key was ever seen for this address
    known,    // this key was seen for this address before
    renewed,  // a new key; the previous one's certificate had expired or was
              // in its last 60 days, and the new certificate has the same
              // issuer and subject (a yearly renewal)
    changed,  // a new key while the previous one's certificate is still good
              // and not near expiry, or from another issuer or subject
};
std::string_view continuity_name(Continuity c) noexcept;  // "first" | "known" | "renewed" | "changed"

// A certificate seen with a key.
struct SeenCertificate {
    std::string sha256;  // hex, lower case, of the DER
    std::string subject;
    std::string issuer;
    std::string serial_hex;
    UnixTime not_before = 0;
    UnixTime not_after = 0;
};

// Everything known of one (address, key) binding.
struct KeyHistory {
    std::string spki_sha256;  // hex, lower case
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
    std::uint64_t messages = 0;  // distinct messages (Message-ID and body digest)
    std::vector<SeenCertificate> certificates;  // the newest notBefore first
};

// One verified signature to judge and, unless told not to, record.
struct KeySighting {
    std::string address;      // the From address the signature vouches for
    std::string spki_sha256;  // the signer's key
    SeenCertificate certificate;
    // The message's identity: a message verified twice is counted once.
    // Message-ID and the digest of the signed content, so a resent copy with
    // a new Message-ID counts as a new message but a re-verification of the
    // same file does not.
    std::string message_key;
    UnixTime time = 0;  // when it was seen (now)
};

// The verdict with the numbers behind it.
struct ContinuityReport {
    Continuity verdict = Continuity::first;
    // This key's history, including this message when it was recorded.
    KeyHistory key;
    // renewed and changed: the key the address used before (the one seen
    // most recently); its messages say how well-established it was.
    std::optional<KeyHistory> previous;
    bool recorded = false;  // false when only read (--no-record), or already counted
    std::string detail;     // a sentence for people
};

// The rule, with no database: `history` holds every key seen before for the
// sighting's address (any order; it may include the sighting's own key),
// `now` is the time of judgement. Pure; the store calls it inside the same
// transaction that records, so concurrent verifiers agree.
ContinuityReport judge_continuity(const KeySighting& sighting, const std::vector<KeyHistory>& history,
                                  UnixTime now);

}  // namespace ribbon
