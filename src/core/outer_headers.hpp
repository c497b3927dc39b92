// outer_headers.hpp — what the signer decides from the top-level header
// section: the From check (RFC 8550 §3), the Date/signingTime rule, the
// header section that stays outside the signature and the RFC 9788
// protected copies that go inside. Private to core.
#pragma once

#include <gmime/gmime.h>

#include <optional>
#include <string>
#include <vector>

#include "core/mime_parse.hpp"
#include "ribbon/digital_id.hpp"
#include "ribbon/signer.hpp"

namespace ribbon::outer {

// Thunderbird marks a signature invalid when Date and signingTime are about
// two hours apart and accepts one hour (docs/FIELD-NOTES.md); keep within that.
constexpr std::chrono::seconds kDateTolerance{3600};

struct Plan {
    TimePoint signing_time;
    bool date_added = false;
    bool signing_time_aligned = false;
    bool date_replaced = false;
    std::string outer_headers;      // CRLF, without MIME-Version and Content-*
    std::string protected_headers;  // folded copies for the signed part
};

// Refuses mail that is already signed, has no From, or a From the Digital
// ID does not cover; checks header limits; chooses signingTime and Date.
Result<Plan> plan(const mime::TopLevel& top, const DigitalId& id, const SignOptions& options,
                  TimePoint now, const mime::Limits& limits);

// The addr-specs in the one From field of a top-level header section,
// groups flattened: Errc::no_from or malformed_message when there is not
// exactly one From with at least one mailbox (RFC 5322 §3.6).
Result<std::vector<std::string>> from_mailboxes(const mime::HeaderFields& fields);

// RFC 5322 §3.3 date-time in UTC, e.g. "Mon, 23 Nov 2026 04:28:00 +0000".
std::string rfc5322_date(TimePoint t);

// Seconds since the epoch of an unfolded Date value, as GMime's lenient
// parser (g_mime_utils_header_decode_date) reads it; nullopt when it cannot.
std::optional<std::int64_t> date_seconds(const std::string& unfolded);

// The same for the plain form that mail software writes and rfc5322_date()
// makes: an optional day name that matches the date, a 1-2 digit day, a
// month name, a 4-digit year from 1970, hh:mm[:ss] and a numeric zone,
// single spaces between. Anything else is nullopt, and date_seconds() asks
// GMime, whose parse costs a GDateTime, a GTimeZone looked up under a
// global GLib lock, and a dozen allocations per message. It reads every
// value it accepts as GMime does (tests/core/date_parse_test.cpp, fuzz_sign).
std::optional<std::int64_t> parse_plain_date(std::string_view unfolded);

}  // namespace ribbon::outer
