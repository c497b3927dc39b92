// ribbon/doctor.hpp — why does this S/MIME signature fail? Names the
// transit change that broke a detached signature (multipart/signed, RFC
// 8551 §3.5.3): it undoes each change mail systems are known to make
// (docs/FIELD-NOTES.md) on the signed content, alone and two at a time,
// and checks the result against the messageDigest signed attribute of the
// signature (RFC 5652 §11.2); given the message as it was sent, it also
// compares the two. Each finding says which systems usually make that
// change and how to avoid it (docs/DOCTOR.md).
//
// The doctor judges the signature only (signed content and signature
// value), not trust in the signer: that is ribbon verify's.
//
// Pure computation over bytes the caller has read (bounded by the
// caller's maximum message size); the search is bounded by DoctorOptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"

namespace ribbon {

enum class DoctorVerdict {
    fine,            // the signature verifies over the content as received
    cause_found,     // it does not, and the findings say why
    no_cause_found,  // it does not, and no known change explains it
};
// "fine", "cause_found", "no_cause_found"
std::string_view doctor_verdict_name(DoctorVerdict verdict) noexcept;

// The changes the doctor knows. Stable names (transit_change_name) for JSON.
enum class TransitChange {
    long_lines_rewrapped,            // a long line broken in two (or more)
    trailing_whitespace_stripped,    // spaces or tabs at line ends removed
    line_ends_changed,               // CRLF and LF exchanged where the signer hashed LF
    bare_cr,                         // line ends turned into bare CR or CR CR LF
    eightbit_to_quoted_printable,    // an 8-bit part re-encoded as quoted-printable
    eightbit_to_base64,              // an 8-bit part re-encoded as base64
    base64_rewrapped,                // base64 lines re-cut at another width
    body_charset_converted,          // a text body converted to another charset
    header_charset_converted,        // encoded-words (RFC 2047) re-encoded in another charset
    footer_added,                    // text appended to a body or after a multipart
    part_added,                      // a MIME part added (inside or around the signed part)
    boundary_changed,                // a multipart boundary inside the signed part renamed
    content_type_parameter_changed,  // a Content-Type parameter re-quoted, re-cased, added
    mbox_from_quoting,               // "From " at a line start turned into ">From "
    header_folded,                   // header fields inside the signed part re-folded
    header_reordered,                // header fields inside the signed part reordered
    header_rewritten,                // a header field inside the signed part rewritten
};
std::string_view transit_change_name(TransitChange change) noexcept;

struct DoctorFinding {
    TransitChange change = TransitChange::footer_added;
    // What was seen, for people; may quote the message (the caller shows
    // it through terminal_safe, ribbon/mail_text.hpp).
    std::string evidence;
    std::string usual_source;  // "mailing-list software or a gateway adding a footer"
    std::string advice;        // how to keep the signature intact
};

// An outer header field that differs from ORIGINAL: outside the signed
// part, so not covered by the signature (RFC 8551 §3.5.3), but worth
// knowing (a list's Subject tag, From rewriting for DMARC).
struct OuterHeaderChange {
    std::string field;     // "Subject"
    std::string received;  // empty when removed
    std::string original;  // empty when added
};

struct DoctorReport {
    DoctorVerdict verdict = DoctorVerdict::no_cause_found;
    std::string detail;  // one sentence for people
    bool opaque = false;
    std::string digest_algorithm;  // "sha256"
    bool compared_with_original = false;
    std::vector<DoctorFinding> findings;
    std::vector<OuterHeaderChange> outer_header_changes;
    // How much searching was done: candidate contents digested.
    std::uint64_t candidates_tried = 0;
};

struct DoctorOptions {
    // Inverse changes combined at most (1 or 2).
    int max_combined = 2;
    // The search stops after digesting this many bytes of candidates; the
    // report then says it gave up early. 512 MiB: every single and pair of
    // undone changes for messages up to a few MiB, about a second of
    // SHA-256; for larger ones the single changes and some pairs.
    std::uint64_t max_digest_bytes = 512ull * 1024 * 1024;
};

// Diagnoses `received` (the whole message as the recipient got it) and,
// when given, compares it with `original` (the message as sent, signed:
// the sender's copy or ribbon's output). Errors (CLI exit 3): not signed
// (Errc::not_signed, also an ORIGINAL that is not), a signature part that
// is not a CMS SignedData (Errc::bad_signature_format), a malformed or
// truncated message (Errc::malformed_message), an empty one.
Result<DoctorReport> diagnose(std::string_view received,
                              std::optional<std::string_view> original = std::nullopt,
                              const DoctorOptions& options = {});

}  // namespace ribbon
