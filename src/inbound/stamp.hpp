// stamp.hpp — the two header fields ribbon adds to inbound mail, built from
// an Assessment (docs/RECEIVING.md, "Headers ribbon adds to inbound mail").
// Pure functions: the milter inserts what they return.
//
// Both return a field *value* as it goes on the wire after "Name:": it
// starts with a space, and a line that would pass 78 characters is folded
// (RFC 5322 §2.2.3: CRLF inserted before white space that is already
// there, so unfolding gives back the same value). Nothing that came from
// the message or a certificate is written unquoted: it is a quoted-string
// with '"' and '\' escaped (RFC 5322 §3.2.4), control characters replaced,
// invalid UTF-8 repaired, and cut to a bounded length.
#pragma once

#include <string>
#include <string_view>

#include "inbound/assessment.hpp"

namespace ribbon::inbound {

inline constexpr std::string_view kAuthenticationResults = "Authentication-Results";
inline constexpr std::string_view kRibbonContinuity = "Ribbon-Continuity";

// The result of RFC 7281's smime method; the meanings are RFC 8601 §2.7.1's
// (DKIM's, which RFC 7281 §3 reuses for smime):
enum class SmimeResult {
    none,       // not signed
    pass,       // signed, and every check passed (VerifyResult valid)
    fail,       // signed, acceptable to us, but a check failed: content
                // changed, bad signature, untrusted chain, expired, From not
                // in the certificate, protected header changed
    policy,     // signed, but with an algorithm or key ribbon does not accept
                // (docs/VERIFY.md): "some aspect of the signature ... was
                // not acceptable to the ADMD"
    neutral,    // signed, but the signature could not be processed (a CMS
                // object that does not parse)
    temperror,  // not verified because of a failure on ribbon's side
    permerror,  // not verified, and never will be: the message itself cannot
                // be read as MIME, or is over ribbon's limits
};
std::string_view smime_result_name(SmimeResult r) noexcept;
SmimeResult smime_result(const Assessment& a) noexcept;

// The Authentication-Results value (RFC 8601 §2.2) for `authserv_id`:
//   " mx.bank.example; smime=pass body.smime-identifier=alice@bank.example
//      body.smime-serial=1A2B body.smime-issuer=\"CN=Bank CA,O=Bank\""
// with body.smime-part when the signature covers one part only, the
// serial and issuer together (RFC 7281 §3) when a signer certificate is
// known, and reason="..." for every result but pass and none.
std::string authentication_results(std::string_view authserv_id, const Assessment& a);

// The Ribbon-Continuity value. Grammar (RFC 5234 ABNF; every parameter is
// a fixed name and a digit string, a date or a domain, so a mail filter can
// split it on ";" and "=" without unquoting anything):
//
//   ribbon-continuity = SP verdict *( ";" SP param )
//   verdict   = "first" / "known" / "renewed" / "changed"   ; ContinuityReport
//             / "none"        ; no valid signature, or no continuity kept
//             / "temperror"   ; the store could not be read
//   param     = "seen=" count           ; messages signed with this key
//             / "since=" date           ; this key's first message
//             / "previous-seen=" count  ; renewed, changed: the key before
//             / "previous-since=" date
//             / "previous-last=" date   ; the key before: its last message
//             / "lookalike=" domain     ; the From domain resembles this
//                                       ; known one (A-labels, lower case)
//   count     = 1*DIGIT
//   date      = 4DIGIT "-" 2DIGIT "-" 2DIGIT   ; UTC, RFC 3339 full-date
//   domain    = label *( "." label ) ; label = 1*( ALPHA / DIGIT / "-" )
//
// Parameters appear in the order above, each at most once; lookalike may
// follow any verdict. A domain that is not in that form is left out.
std::string continuity_header(const Assessment& a);

// `value` as an RFC 8601 value: the RFC 2045 token when it is one (and no
// longer than `max_bytes`), else a quoted-string made safe as above.
std::string header_value(std::string_view value, std::size_t max_bytes = 512);

// RFC 2045 §5.1 token characters: US-ASCII but SPACE, CTLs and tspecials.
bool is_token_char(char c) noexcept;

}  // namespace ribbon::inbound
