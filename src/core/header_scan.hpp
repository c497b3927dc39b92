// header_scan.hpp — splits the header section of an RFC 5322 message into
// its fields without GMime: names and raw values as views of the message.
//
// Why hand-written: the signer pays for the top-level header section on
// every message. Handing a 3 KB single-part message to GMime's object model
// cost about 16 GObjects (one per field, the part's own objects) and 170k
// instructions, against about 1k for this scan (callgrind, docs/
// BENCHMARKS.md); and GObject teardown takes GLib's global locks, which is
// where two signing threads met.
//
// The scanner accepts a strict subset of what GMime's parser accepts and
// describes it exactly as GMime does: the same fields in the same order,
// the same names (without the obsolete white space before the colon), the
// same raw values (everything after the colon, folding and line ends kept)
// and the same start of the body. Anything outside that subset it reports
// instead of guessing, and the caller then hands the whole message to
// GMime, so refusals (a line without a colon, a NUL, a section that never
// ends) keep today's error kinds and messages. tests/core/header_scan_test.cpp
// compares the two on the edge cases; fuzz_sign compares them on whatever
// it finds.
//
// Exported by core with mime_parse.hpp, which includes it. A pure function of its input; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace ribbon::mime {

struct HeaderField {
    std::string_view name;       // the field name, without white space before ':'
    std::string_view raw_value;  // after ':' up to the field's last line end, inclusive
};
using HeaderFields = std::vector<HeaderField>;

struct HeaderScan {
    enum class Outcome {
        complete,      // an empty line ended the section
        not_a_field,   // a line that starts no field: no colon, an empty name, a name
                       // octet outside RFC 5322 §2.2's printable range, or a
                       // continuation line before any field
        long_name,     // a field name beyond kMaxNameLine octets (GMime stops at ~4 KB)
        nul_octet,     // a NUL in the section (RFC 5322 §2.2 allows none)
        unterminated,  // the input ends before the empty line
    };
    Outcome outcome = Outcome::unterminated;
    std::size_t offset = 0;  // complete: where the body starts; else the line at fault
    HeaderFields fields;     // complete: every field, in order
};

// Where a field name and its colon must end, counted from the line start.
constexpr std::size_t kMaxNameLine = 998;  // RFC 5322 §2.1.1's line limit

// Scans the header section at the start of `message` (RFC 5322 §2.2: fields
// up to the first empty line, §2.2.3 and §4.2 folding, §4.5 white space
// before the colon; lines end in CRLF or a bare LF).
HeaderScan scan_header_section(std::string_view message);

}  // namespace ribbon::mime
