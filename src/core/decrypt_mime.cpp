// decrypt_mime.cpp — the opened message: outer header section, inner
// entity, RFC 9788 header protection restored (decrypt_mime.hpp).
#include "core/decrypt_mime.hpp"

#include <gmime/gmime.h>

#include <array>

#include "base/ascii.hpp"
#include "core/mime_parse.hpp"

namespace ribbon::sealed {

namespace {

using mime::HeaderField;
using mime::HeaderFields;

const HeaderField* find_field(const HeaderFields& fields, std::string_view name) {
    for (const auto& f : fields) {
        if (ascii_iequals(f.name, name)) return &f;
    }
    return nullptr;
}

mime::GPtr<GMimeContentType> parse_content_type(const HeaderFields& fields) {
    const HeaderField* f = find_field(fields, "Content-Type");
    if (f == nullptr) return nullptr;
    std::string value;
    for (char c : f->raw_value) {
        if (c != '\r' && c != '\n') value += c;  // unfolded (RFC 5322 §2.2.3)
    }
    mime::ensure_gmime();
    return mime::GPtr<GMimeContentType>(g_mime_content_type_parse(nullptr, value.c_str()));
}

bool is_content_field(std::string_view name) { return ascii_istarts_with(name, "Content-"); }

// The fields a person reads as the message's own (RFC 5322 §3.6): with
// hp="cipher" the inner header section holds every one of them that the
// sender protected, and an outer one the inner lacks is not the sender's
// (RFC 9788: the outer section of an encrypted message may be obscured,
// "Subject: ..."), so it is not shown either.
constexpr std::array<std::string_view, 11> kUserFacing = {
    "From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
    "In-Reply-To", "References", "Keywords"};

bool user_facing(std::string_view name) {
    for (auto n : kUserFacing) {
        if (ascii_iequals(n, name)) return true;
    }
    return false;
}

void append_field(std::string& out, const HeaderField& f) {
    out.append(f.name);
    out += ':';
    out.append(f.raw_value);
}

// The inner body without its legacy-display part: the first part of a
// multipart body whose Content-Type carries hp-legacy-display="1" (RFC
// 9788), or — from draft-autocrypt-lamps-protected-headers, which the
// corpus's autocrypt samples follow — a text/plain first part carrying
// protected-headers="v1". Removed from its delimiter line to the next one,
// so the multipart stays well formed. Nullopt when there is none.
std::optional<std::string> without_legacy_display(std::string_view body, const std::string& boundary) {
    if (boundary.empty()) return std::nullopt;
    const std::string delimiter = "--" + boundary;
    auto delimiter_line = [&](std::size_t from) -> std::size_t {
        for (std::size_t at = body.find(delimiter, from); at != std::string_view::npos;
             at = body.find(delimiter, at + 1)) {
            if (at == 0 || body[at - 1] == '\n') return at;
        }
        return std::string_view::npos;
    };
    const std::size_t first = delimiter_line(0);
    if (first == std::string_view::npos) return std::nullopt;
    const std::size_t second = delimiter_line(first + delimiter.size());
    if (second == std::string_view::npos) return std::nullopt;
    const std::size_t part_start = body.find('\n', first);
    if (part_start == std::string_view::npos || part_start >= second) return std::nullopt;
    const mime::HeaderScan scan = mime::scan_header_section(body.substr(part_start + 1, second - part_start - 1));
    if (scan.outcome != mime::HeaderScan::Outcome::complete) return std::nullopt;
    auto type = parse_content_type(scan.fields);
    if (!type) return std::nullopt;
    const char* legacy = g_mime_content_type_get_parameter(type.get(), "hp-legacy-display");
    const bool draft = g_mime_content_type_is_type(type.get(), "text", "plain") &&
                       g_mime_content_type_get_parameter(type.get(), "protected-headers") != nullptr;
    if (!(legacy != nullptr && std::string_view(legacy) == "1") && !draft) return std::nullopt;
    std::string out(body.substr(0, first));
    out.append(body.substr(second));
    return out;
}

std::string with_line_ends(std::string_view text, bool crlf) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;  // the LF writes it
        if (c == '\n') {
            out += crlf ? "\r\n" : "\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string content_type_parameter(const HeaderFields& fields, const char* name) {
    auto type = parse_content_type(fields);
    const char* value = type ? g_mime_content_type_get_parameter(type.get(), name) : nullptr;
    return value != nullptr ? std::string(value) : std::string();
}

SmimeForm form_of(const HeaderFields& fields) {
    auto type = parse_content_type(fields);
    return type ? mime::smime_form_of(type.get()) : SmimeForm::none;
}

Result<void> assemble(std::string_view prefix, const HeaderFields& outer, std::string_view inner, bool crlf,
                      OpenedMessage& out) {
    // Content that starts with no header section (OpenSSL's `cms -encrypt`
    // without -text seals a file as it is) is a body whose header is empty:
    // text/plain in US-ASCII (RFC 2045 §5.2).
    mime::HeaderScan scan = mime::scan_header_section(inner);
    if (scan.outcome != mime::HeaderScan::Outcome::complete) {
        scan.fields.clear();
        scan.offset = 0;
    }
    auto type = parse_content_type(scan.fields);
    const char* hp = type ? g_mime_content_type_get_parameter(type.get(), "hp") : nullptr;
    out.header_protection =
        hp != nullptr || (type && g_mime_content_type_get_parameter(type.get(), "protected-headers") != nullptr);
    const bool cipher = hp != nullptr && ascii_iequals(hp, "cipher");
    out.inner_form = type ? mime::smime_form_of(type.get()) : SmimeForm::none;

    std::string text(prefix);
    for (const auto& f : outer) {
        if (is_content_field(f.name)) continue;
        if (out.header_protection && find_field(scan.fields, f.name) != nullptr) continue;
        if (cipher && user_facing(f.name)) continue;
        append_field(text, f);
    }
    // Protected fields first, then the entity's own Content-* fields. HP-Outer
    // (RFC 9788) records what the outer section said; it is no field of the
    // message and is not shown.
    for (const auto& f : scan.fields) {
        if (out.header_protection && !is_content_field(f.name) && !ascii_iequals(f.name, "HP-Outer")) {
            append_field(text, f);
        }
    }
    for (const auto& f : scan.fields) {
        if (is_content_field(f.name)) append_field(text, f);
    }
    text += "\n";
    std::string_view body = inner.substr(scan.offset);
    std::optional<std::string> trimmed;
    if (out.header_protection && type && g_mime_content_type_is_type(type.get(), "multipart", "*")) {
        const char* boundary = g_mime_content_type_get_parameter(type.get(), "boundary");
        trimmed = without_legacy_display(body, boundary != nullptr ? boundary : "");
    }
    out.legacy_display_removed = trimmed.has_value();
    text.append(trimmed ? std::string_view(*trimmed) : body);
    out.message = with_line_ends(text, crlf);
    return {};
}

}  // namespace ribbon::sealed
