// Byte-exact, text-level MIME helpers for the tests: split a message the
// way a receiver does, rebuild it after a transit transformation, decode
// transfer encodings. Deliberately independent of ribbon's own MIME code.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ribbon::test::mime {

// One header field: name as written, and the raw bytes (all physical
// lines, including continuation lines and their line endings).
struct Field {
    std::string name;
    std::string raw;
    [[nodiscard]] std::string value() const;  // unfolded, without name and colon
};

struct Entity {
    std::vector<Field> fields;
    std::string separator;  // the empty line ("\r\n" or "\n"); empty if no body
    std::string body;

    [[nodiscard]] std::optional<std::string> get(const std::string& name) const;  // first
    [[nodiscard]] size_t count(const std::string& name) const;
    [[nodiscard]] std::string headers_raw() const;
    [[nodiscard]] std::string raw() const { return headers_raw() + separator + body; }
};

Entity parse_entity(const std::string& raw);

struct ContentType {
    std::string type;     // lower case, e.g. "multipart/signed"
    std::map<std::string, std::string> params;  // lower-case names, unquoted values
    [[nodiscard]] std::string param(const std::string& name) const;
};
ContentType parse_content_type(const std::string& value);
ContentType content_type_of(const Entity& e);  // default text/plain
std::string transfer_encoding_of(const Entity& e);  // lower case, default "7bit"

// glue.size() == parts.size() + 1; concatenating glue[0] part[0] glue[1] ...
// gives back the body exactly. A part excludes the line break before the
// next delimiter (RFC 2046: it belongs to the delimiter).
struct Multipart {
    std::vector<std::string> glue;
    std::vector<std::string> parts;
    bool closed = false;
    [[nodiscard]] std::string join() const;
};
std::optional<Multipart> split_multipart(const std::string& body, const std::string& boundary);

// Applies fn to every non-multipart entity (depth first), rebuilding the
// message byte-exactly around it. fn may change headers and body.
std::string map_leaves(const std::string& raw, const std::function<void(Entity&)>& fn);

// Line endings.
std::string to_crlf(const std::string& s);  // bare LF -> CRLF (CRLF kept)
std::string to_lf(const std::string& s);    // CRLF -> LF
std::vector<std::string> lines_of(const std::string& s);  // without line endings

std::string base64_decode(const std::string& s);  // ignores whitespace
std::string base64_encode(const std::string& bytes, size_t width, const std::string& eol);
std::string qp_decode(const std::string& s);
std::string qp_encode(const std::string& bytes);  // CRLF output, hard breaks kept

// Decoded leaves of a MIME entity: (content type, decoded body).
struct Leaf {
    std::string type;
    std::string filename;
    std::string data;
};
std::vector<Leaf> decoded_leaves(const std::string& raw);

}  // namespace ribbon::test::mime
