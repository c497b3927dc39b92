// verify_locate.hpp — finding what there is to verify in one MIME entity: a
// multipart/signed body (split by ribbon, so the signed bytes are exactly
// the ones received), an opaque SignedData, a sealed (enveloped) layer, or
// nothing; and the parts of a multipart body as raw bytes, for the search
// for signed parts inside multipart/mixed.
//
// Private to core; called by verifier.cpp only.
#pragma once

#include <gmime/gmime.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/openssl_util.hpp"
#include "ribbon/error.hpp"

namespace ribbon::verify {

// What an entity holds.
enum class Holds { nothing, signed_data, sealed };

struct Located {
    Holds holds = Holds::nothing;
    // nothing: why it is not signed, for people; sealed: what it is.
    std::string detail;
    bool opaque = false;
    ossl::CmsPtr cms;
    // multipart/signed: the first part in canonical (CRLF) form, and the raw
    // bytes when they differ; opaque: the encapsulated content as signed.
    std::string content;
    std::string raw_content;
};

// Looks at `entity` (parsed by GMime) whose bytes as received, header
// section first, are `bytes`. Errors: a signature that is not a CMS
// SignedData (Errc::bad_signature_format), a multipart/signed that is
// truncated or malformed (Errc::malformed_message), content too large for
// OpenSSL (Errc::limit_exceeded). Never "not signed" when someone meant to
// sign.
Result<Located> locate(GMimeObject* entity, std::string_view bytes);

// The encapsulated content of a SignedData, if present.
std::optional<std::string_view> econtent(CMS_ContentInfo* cms);

// The body parts of a multipart entity whose bytes (header section first)
// are `bytes`, between its delimiters (RFC 2046 §5.1.1), in order. Errors
// (Errc::malformed_message): no body, no boundary, no delimiter, no close
// delimiter (a truncated message).
Result<std::vector<std::string_view>> multipart_parts(std::string_view bytes,
                                                      std::string_view boundary);

}  // namespace ribbon::verify
