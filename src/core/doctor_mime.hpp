// doctor_mime.hpp — the signed content as the doctor edits it: a tree of
// MIME entities kept as offsets into the exact bytes (GMime would
// re-serialise, and a single changed octet changes the digest), header
// fields as byte ranges, and edits that splice new bytes into a copy.
//
// The content is untrusted: a part that cannot be split is a leaf, the
// depth is bounded, and nothing here fails. Private to core.
#pragma once

#include <gmime/gmime.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ribbon::doctor {

struct Field {
    std::size_t begin = 0;  // first octet of the name
    std::size_t end = 0;    // just past the line break of its last line
    std::string name;       // lower case
};

struct Node {
    std::string id;  // RFC 3501 §6.4.5 numbering: "" the content itself, "1", "2.1"
    std::size_t begin = 0;
    std::size_t body_begin = 0;  // after the empty line that ends the header section
    std::size_t end = 0;         // the part ends before the line break of its delimiter
    std::vector<Field> fields;
    std::string type = "text";  // lower case; RFC 2045 §5.2 default text/plain
    std::string subtype = "plain";
    std::string boundary;
    std::string charset;  // as written
    std::string cte;      // lower case, "" when absent
    bool flowed = false;  // format=flowed (RFC 3676)
    std::vector<Node> parts;
    // The delimiter line that opens each part begins here (its preceding
    // line break included), for removing a part.
    std::vector<std::size_t> part_delimiters;
    bool multipart() const { return !parts.empty(); }
    bool text() const { return type == "text"; }
};

// Parses `content` (CRLF or LF lines). Multiparts are split with the
// verifier's own delimiter rules (verify_mime.hpp).
Node walk(std::string_view content);

// Every node, depth first, parents before parts.
template <class F>
void each_node(const Node& node, F&& fn) {
    fn(node);
    for (const Node& p : node.parts) each_node(p, fn);
}

// The raw value of a field: after the colon, up to (not including) its
// final line break; folding kept.
std::string_view field_value(std::string_view content, const Field& field);

// The node's first field of that (lower-case) name, or null.
const Field* find_field(const Node& node, std::string_view name);
// The field's name as written ("Content-Type").
std::string field_name_as_written(std::string_view content, const Field& field);

// Replace [begin, end) with `text`.
struct Edit {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::string text;
};
// A copy of `content` with the edits applied (they must not overlap).
std::string apply_edits(std::string_view content, std::vector<Edit> edits);

// Transfer-decodes `in` (GMime's decoders).
std::string decode(std::string_view in, GMimeContentEncoding encoding);

// Lines of `text` as [begin, end) of their content (line break excluded),
// with the position after the line break.
struct Line {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::size_t next = 0;
};
std::vector<Line> lines_of(std::string_view text, std::size_t from, std::size_t to);

bool has_8bit(std::string_view bytes);
std::string lower(std::string_view s);

}  // namespace ribbon::doctor
