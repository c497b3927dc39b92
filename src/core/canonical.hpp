// canonical.hpp — writes the part that gets signed: the message's MIME body
// in the damage-proof form of RFC 8551 §3.1 (CRLF, 7-bit, lines <= 76, no
// trailing whitespace, no leading "From "), with the Content-* headers and,
// with header protection, RFC 9788 copies of the protected headers.
//
// Parts that already conform are copied byte for byte (only LF → CRLF), so
// the common case — a base64 attachment or plain ASCII text — costs one scan
// and one copy. Others are decoded and re-encoded: text → quoted-printable,
// everything else → base64.
//
// Private to core.
#pragma once

#include <gmime/gmime.h>

#include <string>
#include <vector>

#include "core/encoders.hpp"
#include "core/mime_parse.hpp"

namespace ribbon::canon {

struct Options {
    // Header fields (already folded, CRLF-terminated) to add to the top-level
    // header section of the signed part: the RFC 9788 protected copies.
    std::string protected_headers;
    bool header_protection = true;
    bool hp_cipher = false;  // hp="cipher": the signed part will be sealed (RFC 9788 §2.1)
    mime::Limits limits;
};

// Writes the signed entity for the message whose top level is `top` (its
// non-Content header fields are skipped) to `out`.
Result<void> write_signed_entity(const mime::TopLevel& top, const Options& options,
                                 enc::HashingWriter& out);

// Checks that a header value can sit inside the signed part (7-bit, no NUL,
// within the size limit); `where` names the header in the error.
Result<void> check_header_value(std::string_view name, std::string_view value,
                                const mime::Limits& limits);

}  // namespace ribbon::canon
