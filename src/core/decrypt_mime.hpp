// decrypt_mime.hpp — the MIME half of opening sealed mail: the opened
// message put together from the outer header section and the decrypted
// entity, with RFC 9788 header protection restored.
#pragma once

#include <string>
#include <string_view>

#include "core/header_scan.hpp"
#include "ribbon/decrypt.hpp"

namespace ribbon::sealed {

// The Content-Type field's parameter `name` in a header section, unfolded
// and unquoted by GMime's parser; empty when absent.
std::string content_type_parameter(const mime::HeaderFields& fields, const char* name);
// The S/MIME form the section's Content-Type declares.
SmimeForm form_of(const mime::HeaderFields& fields);

// The opened message: `prefix` (an mbox "From " line, or nothing), the
// outer fields but Content-* (and those the protected ones replace), the
// inner entity's fields and its body — its legacy-display part removed —
// with every line ending in CRLF when `crlf`, else LF. Fills `out`'s
// message, header_protection, legacy_display_removed and inner_form.
Result<void> assemble(std::string_view prefix, const mime::HeaderFields& outer, std::string_view inner,
                      bool crlf, OpenedMessage& out);

}  // namespace ribbon::sealed
