// verify_mime.hpp — the MIME side of verification: finding the exact signed
// bytes of a multipart/signed body, canonical line endings, the From
// addresses, and RFC 9788 protected-header comparison.
//
// Works on bytes the caller owns; never allocates more than a copy of the
// input. Private to core; called by verifier.cpp only.
#pragma once

#include <gmime/gmime.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon::verify {

// The two body parts of a multipart/signed entity (RFC 1847 §2.1), as the
// exact bytes between the delimiters (RFC 2046 §5.1.1: the line break
// before a delimiter belongs to the delimiter, not to the part).
struct SignedParts {
    std::string_view content;    // first part: headers and body, as signed
    std::string_view signature;  // second part: headers and body
};

// The body of a raw RFC 5322 message: everything after the first empty line.
// nullopt when the header section never ends.
std::optional<std::string_view> message_body(std::string_view raw);

// Splits a multipart/signed body on `boundary`. Errors (Errc::malformed_message)
// name what is missing: no opening delimiter, not exactly two parts, no close
// delimiter (a truncated message).
Result<SignedParts> split_multipart_signed(std::string_view body, std::string_view boundary);

// Every body part of a multipart body (RFC 2046 §5.1.1), in order, as the
// bytes between its delimiters; the preamble and epilogue are not parts.
// Errors (Errc::malformed_message): no opening delimiter, no close
// delimiter (a truncated message).
Result<std::vector<std::string_view>> split_multipart(std::string_view body,
                                                      std::string_view boundary);

// Bare LF → CRLF, as a receiver canonicalises text before hashing
// (RFC 8551 §3.1.1; stores and pipes commonly drop the CR).
std::string to_crlf(std::string_view bytes);

// Addresses (addr-spec) of every mailbox in the message's From header,
// group members included, each domain in its A-label form
// (address_ascii_form, ribbon/mail_text.hpp) when it is a valid IDN.
std::vector<std::string> from_addresses(GMimeMessage* message);

// True if every address is one of `cert_addresses` (RFC 8550 §3) and there
// is at least one. Compared by same_address (ribbon/mail_text.hpp): domains
// as A-labels, so a certificate's U-label SmtpUTF8Mailbox (RFC 8398 §3)
// matches a From in A-labels and the other way round.
bool addresses_covered(const std::vector<std::string>& addresses,
                       const std::vector<std::string>& cert_addresses);

// RFC 9788: whether `inner` (the signed entity) declares or carries header
// protection, and for each protected header field present inside, how it
// compares with the outer header of `outer`. With hp= declared, an
// addressing field or Subject present only outside is reported too (inner
// empty, not matching).
struct HeaderProtection {
    bool present = false;
    std::vector<ProtectedHeader> headers;
};
HeaderProtection compare_protected_headers(GMimeObject* inner, GMimeObject* outer);

// Unfolds a header value and collapses runs of white space to one space,
// trimming both ends: refolding in transit is not a change.
std::string normalise_header_value(std::string_view value);

}  // namespace ribbon::verify
