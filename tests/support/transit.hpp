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

// The changes that break even ribbon's canonical form (what `ribbon
// doctor` must name; tests/e2e/doctor_cli_test.cpp):
// The whole body wrapped in multipart/mixed with a footer part after it,
// outer header fields kept (a mailing list's footer).
std::string add_footer_part(const std::string& m);
// A footer appended to the first text/* leaf's body (a list or gateway
// that edits the signed part itself).
std::string append_footer(const std::string& m);
// Every multipart boundary but the top-level one renamed (a gateway that
// re-serialises MIME).
std::string change_inner_boundaries(const std::string& m);
// The header fields of every leaf (the signed part's own among them)
// refolded at `width` columns.
std::string fold_inner_headers(const std::string& m, size_t width = 20);
// The first two header fields of the first leaf swapped.
std::string swap_inner_header_fields(const std::string& m);
// text/* leaves labelled utf-8 with 8-bit content converted to
// ISO-8859-1 and relabelled, keeping their transfer encoding (QP
// re-encoded with qp_encode()).
std::string convert_charset_to_latin1(const std::string& m);
// Line ends: CRLF (or LF) turned into a bare CR; CRLF into CR CR LF.
std::string to_bare_cr(const std::string& m);
std::string to_cr_crlf(const std::string& m);

struct Transform {
    std::string name;  // gtest-safe
    std::string (*apply)(const std::string&);
};
// Every transformation above (LF->CRLF is applied after CRLF->LF).
const std::vector<Transform>& all_transforms();

}  // namespace ribbon::test::transit
