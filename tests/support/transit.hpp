// What mail systems do to messages in transit (docs/FIELD-NOTES.md), as
// functions from message bytes to message bytes.
#pragma once

#include <string>
#include <vector>

namespace ribbon::test::transit {

std::string crlf_to_lf(const std::string& m);
std::string lf_to_crlf(const std::string& m);             // bare LF -> CRLF
std::string strip_trailing_whitespace(const std::string& m);
std::string mbox_from_escape(const std::string& m);       // "From " -> ">From "
std::string prepend_received(const std::string& m);
std::string refold_outer_headers(const std::string& m, size_t width = 40);
std::string split_long_lines(const std::string& m, size_t limit = 998);
std::string rewrap_base64(const std::string& m, size_t width = 76);
std::string downgrade_8bit(const std::string& m);         // Postfix-style 8bit -> QP

struct Transform {
    std::string name;  // gtest-safe
    std::string (*apply)(const std::string&);
};
// Every transformation above (LF->CRLF is applied after CRLF->LF).
const std::vector<Transform>& all_transforms();

}  // namespace ribbon::test::transit
