// doctor_mime.cpp — see doctor_mime.hpp.
#include "core/doctor_mime.hpp"

#include <algorithm>

#include "base/ascii.hpp"
#include "core/mime_parse.hpp"
#include "core/verify_mime.hpp"

namespace ribbon::doctor {

namespace {

// Deeper than this the doctor treats a multipart as a leaf (GMime's own
// limit for parsing is 64; no real message nests this deep).
constexpr int kMaxDepth = 16;

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

// Unfolded: CR and LF removed (RFC 5322 §2.2.3).
std::string unfolded(std::string_view raw) {
    std::string out;
    for (char c : raw) {
        if (c != '\r' && c != '\n') out.push_back(c);
    }
    return trim(out);
}

void read_content_type(Node& node, const std::string& value) {
    mime::ensure_gmime();
    mime::GPtr<GMimeContentType> type(g_mime_content_type_parse(nullptr, value.c_str()));
    if (!type) return;
    if (const char* t = g_mime_content_type_get_media_type(type.get())) node.type = lower(t);
    if (const char* s = g_mime_content_type_get_media_subtype(type.get())) node.subtype = lower(s);
    if (const char* b = g_mime_content_type_get_parameter(type.get(), "boundary"))
        node.boundary = b;
    if (const char* c = g_mime_content_type_get_parameter(type.get(), "charset")) node.charset = c;
    const char* f = g_mime_content_type_get_parameter(type.get(), "format");
    node.flowed = f != nullptr && lower(f) == "flowed";
}

// The header section from node.begin; sets fields and body_begin.
void read_header(std::string_view content, Node& node) {
    std::size_t pos = node.begin;
    node.body_begin = node.end;
    while (pos < node.end) {
        std::size_t lf = content.find('\n', pos);
        const std::size_t next = lf == std::string_view::npos || lf >= node.end ? node.end : lf + 1;
        std::string_view line = content.substr(pos, next - pos);
        if (line == "\r\n" || line == "\n") {
            node.body_begin = next;
            return;
        }
        if ((line[0] == ' ' || line[0] == '\t') && !node.fields.empty()) {
            node.fields.back().end = next;
        } else {
            const std::size_t colon = line.find(':');
            Field f;
            f.begin = pos;
            f.end = next;
            f.name = colon == std::string_view::npos ? std::string()
                                                     : lower(trim(line.substr(0, colon)));
            node.fields.push_back(std::move(f));
        }
        pos = next;
    }
}

void walk_into(std::string_view content, Node& node, int depth) {
    read_header(content, node);
    for (const Field& f : node.fields) {
        const std::string value = unfolded(field_value(content, f));
        if (f.name == "content-type") read_content_type(node, value);
        if (f.name == "content-transfer-encoding") node.cte = lower(value);
    }
    if (node.type != "multipart" || node.boundary.empty() || depth >= kMaxDepth) return;
    const std::string_view body = content.substr(node.body_begin, node.end - node.body_begin);
    auto parts = verify::split_multipart(body, node.boundary);
    if (!parts) return;
    for (std::size_t i = 0; i < parts->size(); ++i) {
        const std::string_view p = (*parts)[i];
        Node child;
        child.id = (node.id.empty() ? "" : node.id + ".") + std::to_string(i + 1);
        child.begin = static_cast<std::size_t>(p.data() - content.data());
        child.end = child.begin + p.size();
        // The delimiter line before the part, with the line break before it.
        std::size_t d = content.rfind("--" + node.boundary, child.begin);
        if (d != std::string_view::npos && d >= 2 && content.compare(d - 2, 2, "\r\n") == 0)
            d -= 2;
        else if (d != std::string_view::npos && d >= 1 && content[d - 1] == '\n')
            d -= 1;
        node.part_delimiters.push_back(d == std::string_view::npos ? child.begin : d);
        // GMime's content-type defaults (RFC 2046 §5.1.5: message/rfc822 in
        // multipart/digest) do not matter for the doctor's edits.
        walk_into(content, child, depth + 1);
        node.parts.push_back(std::move(child));
    }
}

}  // namespace

std::string lower(std::string_view s) { return ascii_lower(s); }

bool has_8bit(std::string_view bytes) {
    return std::any_of(bytes.begin(), bytes.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

Node walk(std::string_view content) {
    Node root;
    root.end = content.size();
    walk_into(content, root, 0);
    return root;
}

std::string_view field_value(std::string_view content, const Field& field) {
    std::string_view raw = content.substr(field.begin, field.end - field.begin);
    const std::size_t colon = raw.find(':');
    raw = colon == std::string_view::npos ? std::string_view() : raw.substr(colon + 1);
    if (raw.ends_with("\r\n"))
        raw.remove_suffix(2);
    else if (raw.ends_with('\n'))
        raw.remove_suffix(1);
    return raw;
}

const Field* find_field(const Node& node, std::string_view name) {
    for (const Field& f : node.fields) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

std::string field_name_as_written(std::string_view content, const Field& field) {
    const std::string_view raw = content.substr(field.begin, field.end - field.begin);
    return std::string(raw.substr(0, raw.find(':')));
}

std::string apply_edits(std::string_view content, std::vector<Edit> edits) {
    std::sort(edits.begin(), edits.end(),
              [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
    std::string out;
    out.reserve(content.size() + 256);
    std::size_t pos = 0;
    for (const Edit& e : edits) {
        if (e.begin < pos || e.end < e.begin || e.end > content.size()) continue;
        out.append(content.substr(pos, e.begin - pos));
        out.append(e.text);
        pos = e.end;
    }
    out.append(content.substr(pos));
    return out;
}

std::string decode(std::string_view in, GMimeContentEncoding encoding) {
    mime::ensure_gmime();
    GMimeEncoding state;
    g_mime_encoding_init_decode(&state, encoding);
    std::string out(g_mime_encoding_outlen(&state, in.size()) + 16, '\0');
    std::size_t n = g_mime_encoding_step(&state, in.data(), in.size(), out.data());
    n += g_mime_encoding_flush(&state, nullptr, 0, out.data() + n);
    out.resize(n);
    return out;
}

std::vector<Line> lines_of(std::string_view text, std::size_t from, std::size_t to) {
    std::vector<Line> out;
    std::size_t pos = from;
    while (pos < to) {
        std::size_t lf = text.find('\n', pos);
        const std::size_t next = lf == std::string_view::npos || lf >= to ? to : lf + 1;
        std::size_t end = next;
        if (end > pos && text[end - 1] == '\n') --end;
        if (end > pos && text[end - 1] == '\r') --end;
        out.push_back({pos, end, next});
        pos = next;
    }
    return out;
}

}  // namespace ribbon::doctor
