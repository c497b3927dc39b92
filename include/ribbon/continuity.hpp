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

#include <cstddef>
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
    // One-line forms as the verifier prints them; renewed compares them
    // octet for octet, so the verifier must print both certificates alike.
    std::string subject;
    std::string issuer;
    std::string serial_hex;
    UnixTime not_before = 0;
    UnixTime not_after = 0;
    // When the store first and last saw it with this key; ignored in a
    // KeySighting (its time is the sighting's).
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
};

// How long before its notAfter a certificate counts as "near expiry": a
// new key then, under the same issuer and subject, is a renewal. Sixty
// days covers the usual renewal reminders (30 to 60 days ahead).
inline constexpr UnixTime kRenewalWindow = 60 * 86400;

// Everything known of one (address, key) binding.
struct KeyHistory {
    std::string spki_sha256;  // hex, lower case
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
    std::uint64_t messages = 0;  // distinct messages (Message-ID and body digest)
    std::vector<SeenCertificate> certificates;  // the newest notBefore first
};

// The length of KeyHistory::spki_sha256 shown to people ("3f2a9c01d4e5b6a7"):
// 64 bits, enough to tell an address's keys apart at a glance; JSON and
// CSV carry the whole digest.
inline constexpr std::size_t kShortSpki = 16;

// One verified signature to judge and, unless told not to, record.
struct KeySighting {
    std::string address;      // the From address the signature vouches for
    std::string spki_sha256;  // the signer's key
    SeenCertificate certificate;
    // The message's identity: a message verified twice is counted once.
    // Message-ID and the digest of the signed content, so a resent copy with
    // a new Message-ID counts as a new message but a re-verification of the
    // same file does not. Any length: the store keeps only its SHA-256,
    // for kMessageKeyRetention (ribbon/recipients.hpp).
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
    // This message (its message_key, for this address and key) had been
    // counted before: a re-verification. The verdict is then judged on a
    // history that includes it (a first message verified again is known,
    // seen once).
    bool already_counted = false;
    // A sentence for people. It names no address and quotes no text from
    // the certificates, so it holds nothing the sender chose.
    std::string detail;
};

// The rule, with no database: `history` holds every key seen before for the
// sighting's address (any order; it may include the sighting's own key),
// `now` is the time of judgement. Pure; the store calls it inside the same
// transaction that records.
//
//   first    `history` is empty.
//   known    the sighting's key is in `history` (key = its entry).
//   renewed  a new key, and the previous key (the other key seen most
//            recently: greatest last_seen, then most messages, then the
//            smaller spki_sha256) has a certificate whose notAfter is at
//            most kRenewalWindow after `now` (expired or in its last 60
//            days; of its certificates the one with the latest notAfter
//            counts), and the sighting's certificate has exactly that
//            certificate's issuer and subject.
//   changed  any other new key: the warning.
// For a new key, `key` is the sighting's spki_sha256 with no history
// (messages 0, times 0); the store fills it in when it records. `previous`
// is set for renewed and changed only.
ContinuityReport judge_continuity(const KeySighting& sighting, const std::vector<KeyHistory>& history,
                                  UnixTime now);

}  // namespace ribbon
