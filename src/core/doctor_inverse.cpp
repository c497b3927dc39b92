// doctor_inverse.cpp — see doctor_inverse.hpp; the changes to bodies:
// line breaks, trailing white space, mbox quoting, transfer encodings,
// charsets, footers and added parts.
#include "core/doctor_inverse.hpp"

#include <glib.h>

#include <algorithm>
#include <map>

#include "core/encoders.hpp"

namespace ribbon::doctor {

namespace {

// RFC 4155: an mbox writer quotes "From " at a line start as ">From ".
void undo_mbox_from(std::string_view content, Visitor& out) {
    std::vector<Edit> edits;
    for (const Line& l : lines_of(content, 0, content.size())) {
        if (content.substr(l.begin, l.end - l.begin).starts_with(">From ")) {
            edits.push_back({l.begin, l.begin + 1, ""});
        }
    }
    if (edits.empty()) return;
    add_candidate(out, TransitChange::mbox_from_quoting,
                  plural(edits.size(), "line") + " of the signed part start with \">From \"",
                  apply_edits(content, edits), content);
}

// A line longer than a system's limit (RFC 5321 §4.5.3.1.6: 998 octets)
// broken in two at that limit: every line of exactly the limit is joined
// with the next. The limit is guessed from the lines themselves.
void undo_long_lines(std::string_view content, Visitor& out) {
    const auto lines = lines_of(content, 0, content.size());
    std::map<std::size_t, std::size_t> lengths;  // length of non-last lines -> count
    std::size_t longest = 0;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        const std::size_t n = lines[i].end - lines[i].begin;
        ++lengths[n];
        longest = std::max(longest, n);
    }
    std::vector<std::size_t> widths;
    if (longest >= 72) widths.push_back(longest);
    for (std::size_t w : {998u, 990u, 80u, 78u, 76u, 72u}) {
        if (w != longest && lengths.count(w) != 0) widths.push_back(w);
    }
    for (std::size_t w : widths) {
        std::vector<Edit> edits;
        for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
            const Line& l = lines[i];
            if (l.end - l.begin == w && lines[i + 1].end > lines[i + 1].begin) {
                edits.push_back({l.end, l.next, ""});
            }
        }
        if (edits.empty()) continue;
        add_candidate(out, TransitChange::long_lines_rewrapped,
                      plural(edits.size(), "line") + " of exactly " + std::to_string(w) +
                          " octets continue on the next line",
                      apply_edits(content, edits), content);
    }
}

// Stripped white space cannot be restored in general; two places where it
// can be guessed: the signature separator "-- " (RFC 3676 §4.3) and the
// soft line breaks of format=flowed text (RFC 3676 §4.2: a flowed line
// ends in a space).
void undo_trailing_whitespace(std::string_view content, const Node& root, Visitor& out) {
    std::vector<Edit> separators;
    std::vector<Edit> flowed;
    each_node(root, [&](const Node& n) {
        if (n.multipart() || !n.text()) return;
        const auto lines = lines_of(content, n.body_begin, n.end);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const std::string_view l =
                content.substr(lines[i].begin, lines[i].end - lines[i].begin);
            if (l == "--") separators.push_back({lines[i].end, lines[i].end, " "});
            if (!n.flowed || l.empty() || l == "--" || l.back() == ' ' || i + 1 >= lines.size())
                continue;
            const std::string_view next =
                content.substr(lines[i + 1].begin, lines[i + 1].end - lines[i + 1].begin);
            const bool same_quote = (l[0] == '>') == (!next.empty() && next[0] == '>');
            if (!next.empty() && next != "-- " && next != "--" && same_quote) {
                flowed.push_back({lines[i].end, lines[i].end, " "});
            }
        }
    });
    if (!separators.empty()) {
        add_candidate(out, TransitChange::trailing_whitespace_stripped,
                      "the signature separator \"-- \" lost its space",
                      apply_edits(content, separators), content);
    }
    if (!flowed.empty()) {
        add_candidate(
            out, TransitChange::trailing_whitespace_stripped,
            plural(flowed.size(), "format=flowed line") + " lost the space that ends a flowed line",
            apply_edits(content, flowed), content);
    }
}

bool signature_part(const Node& n) {
    return n.type == "application" &&
           (n.subtype == "pkcs7-signature" || n.subtype == "x-pkcs7-signature" ||
            n.subtype == "pkcs7-mime" || n.subtype == "x-pkcs7-mime");
}

// An 8-bit part re-encoded for a 7-bit hop (RFC 6152 downgrade): decoded
// again, with the Content-Transfer-Encoding it most likely had.
void undo_transfer_encoding(std::string_view content, const Node& root, Visitor& out) {
    struct Way {
        const char* cte;
        GMimeContentEncoding encoding;
        TransitChange change;
    };
    static const Way kWays[] = {
        {"quoted-printable", GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE,
         TransitChange::eightbit_to_quoted_printable},
        {"base64", GMIME_CONTENT_ENCODING_BASE64, TransitChange::eightbit_to_base64}};
    for (const Way& way : kWays) {
        const char* cte = way.cte;
        const GMimeContentEncoding encoding = way.encoding;
        const TransitChange change = way.change;
        for (const char* was : {"8bit", "7bit", "binary", ""}) {
            std::vector<Edit> edits;
            std::vector<std::string> where;
            each_node(root, [&](const Node& n) {
                if (n.multipart() || n.cte != cte || signature_part(n)) return;
                const Field* f = find_field(n, "content-transfer-encoding");
                const std::string decoded =
                    decode(content.substr(n.body_begin, n.end - n.body_begin), encoding);
                if (f == nullptr || !has_8bit(decoded)) return;
                const std::string name = field_name_as_written(content, *f);
                edits.push_back(
                    {f->begin, f->end, *was == '\0' ? std::string() : name + ": " + was + "\r\n"});
                edits.push_back({n.body_begin, n.end, decoded});
                where.push_back(part_name(n));
            });
            if (edits.empty()) break;
            std::string evidence = where.front() + " is " + cte + " with 8-bit text inside";
            if (where.size() > 1)
                evidence += " (and " + plural(where.size() - 1, "other part") + ")";
            evidence += *was == '\0' ? "; undone without a Content-Transfer-Encoding field"
                                     : std::string("; undone as ") + was;
            add_candidate(out, change, evidence, apply_edits(content, edits), content);
        }
    }
}

// Base64 re-cut at another line width (a gateway re-encoding attachments).
void undo_base64_rewrap(std::string_view content, const Node& root, Visitor& out) {
    for (std::size_t width : {76u, 64u, 72u, 60u}) {
        std::vector<Edit> edits;
        each_node(root, [&](const Node& n) {
            if (n.multipart() || n.cte != "base64") return;
            const std::string_view body = content.substr(n.body_begin, n.end - n.body_begin);
            std::string flat;
            for (char c : body) {
                if (c != '\r' && c != '\n' && c != ' ' && c != '\t') flat.push_back(c);
            }
            std::string wrapped;
            for (std::size_t p = 0; p < flat.size(); p += width) {
                wrapped.append(flat, p, width).append("\r\n");
            }
            if (!body.ends_with('\n') && wrapped.ends_with("\r\n"))
                wrapped.resize(wrapped.size() - 2);
            if (wrapped != body) edits.push_back({n.body_begin, n.end, wrapped});
        });
        if (edits.empty()) continue;
        add_candidate(out, TransitChange::base64_rewrapped,
                      plural(edits.size(), "base64 part") + " re-cut at " + std::to_string(width) +
                          " columns",
                      apply_edits(content, edits), content);
    }
}

// The charset parameter's value within a Content-Type field: [begin, end)
// of the value without quotes.
std::optional<std::pair<std::size_t, std::size_t>> charset_value(std::string_view content,
                                                                 const Field& f) {
    const std::string raw = lower(content.substr(f.begin, f.end - f.begin));
    std::size_t at = raw.find("charset=");
    if (at == std::string::npos) return std::nullopt;
    std::size_t b = f.begin + at + 8;
    if (b < f.end && content[b] == '"') ++b;
    std::size_t e = b;
    while (e < f.end && content[e] != '"' && content[e] != ';' && content[e] != ' ' &&
           content[e] != '\r' && content[e] != '\n' && content[e] != '\t') {
        ++e;
    }
    return std::pair{b, e};
}

std::optional<std::string> convert(std::string_view text, const char* to, const char* from) {
    gsize written = 0;
    GError* error = nullptr;
    gchar* out = g_convert(text.data(), static_cast<gssize>(text.size()), to, from, nullptr,
                           &written, &error);
    if (out == nullptr) {
        g_clear_error(&error);
        return std::nullopt;
    }
    std::string result(out, written);
    g_free(out);
    return result;
}

// Quoted-printable as ribbon's signer writes it (encoders.hpp): a
// converter that re-encodes a part most likely uses the same rules, and
// ribbon's own output is what the doctor is mostly asked about.
std::string ribbon_qp(std::string_view text) {
    StringSink sink;
    enc::HashingWriter writer(nullptr, sink);
    enc::QpEncoder qp;
    qp.feed(text, writer);
    qp.finish(writer);
    if (!writer.finish()) return {};
    return sink.take();
}

// A text body converted between UTF-8 and a Latin charset, the label
// changed with it (gateways "normalising" mail to UTF-8, or back).
void undo_charset(std::string_view content, const Node& root, Visitor& out) {
    struct Way {
        const char* from_label;  // the label now, lower case ("" matches any Latin one)
        const char* codeset;     // what to convert the body to
        const char* source;      // what the body is now
        const char* label;       // the label to write back
    };
    static const Way kWays[] = {{"utf-8", "ISO-8859-1", "UTF-8", "iso-8859-1"},
                                {"utf-8", "ISO-8859-1", "UTF-8", "ISO-8859-1"},
                                {"utf-8", "WINDOWS-1252", "UTF-8", "windows-1252"},
                                {"utf-8", "ISO-8859-15", "UTF-8", "iso-8859-15"},
                                {"", "UTF-8", "", "utf-8"},
                                {"", "UTF-8", "", "UTF-8"}};
    for (const Way& way : kWays) {
        std::vector<Edit> edits;
        each_node(root, [&](const Node& n) {
            if (n.multipart() || !n.text() || n.charset.empty()) return;
            if (n.cte == "base64") return;
            const bool qp = n.cte == "quoted-printable";
            const std::string now = lower(n.charset);
            const bool latin =
                now.starts_with("iso-8859-") || now.starts_with("windows-125") || now == "latin1";
            if (*way.from_label != '\0' ? now != way.from_label : !latin) return;
            const std::string_view raw = content.substr(n.body_begin, n.end - n.body_begin);
            const std::string body =
                qp ? decode(raw, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) : std::string(raw);
            const Field* ct = find_field(n, "content-type");
            auto value = ct != nullptr ? charset_value(content, *ct) : std::nullopt;
            if (!has_8bit(body) || !value) return;
            auto converted =
                convert(body, way.codeset, *way.source != '\0' ? way.source : now.c_str());
            if (!converted) return;
            edits.push_back({value->first, value->second, way.label});
            edits.push_back({n.body_begin, n.end, qp ? ribbon_qp(*converted) : *converted});
        });
        if (edits.empty()) continue;
        add_candidate(out, TransitChange::body_charset_converted,
                      std::string("a text part labelled ") +
                          (*way.from_label ? way.from_label : "Latin") + " was " + way.label +
                          " when signed",
                      apply_edits(content, edits), content);
    }
}

}  // namespace

std::string part_name(const Node& node) {
    return node.id.empty() ? std::string("the signed part") : "part " + node.id;
}

void undo_each(std::string_view content, Visitor& out) {
    const Node root = walk(content);
    undo_mbox_from(content, out);
    undo_long_lines(content, out);
    undo_trailing_whitespace(content, root, out);
    undo_transfer_encoding(content, root, out);
    undo_base64_rewrap(content, root, out);
    undo_charset(content, root, out);
    undo_body_changes(content, root, out);
    undo_header_changes(content, root, out);
}

}  // namespace ribbon::doctor
