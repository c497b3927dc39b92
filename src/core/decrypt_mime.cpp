// decrypt_mime.cpp — the opened message: outer header section, inner
// entity, RFC 9788 header protection restored (decrypt_mime.hpp).
#include "core/decrypt_mime.hpp"

#include <gmime/gmime.h>

#include <array>

#include "base/ascii.hpp"
#include "core/decrypt_cms.hpp"
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

namespace {

// The header section of what a signature inside the opened entity covers:
// an opaque SignedData's content, or a multipart/signed's first part. With
// signed-then-sealed mail the protected fields live there (RFC 9788, RFC
// 8551 §3.7), under a signature, and the outer ones may be obscured.
std::string signed_header_section(std::string_view entity, SmimeForm form) {
    auto parsed = mime::parse_entity(entity);
    if (!parsed) return {};
    if (form == SmimeForm::signed_opaque && GMIME_IS_PART(parsed->get())) {
        auto content = signed_content(mime::decoded_content(GMIME_PART(parsed->get())));
        return content ? std::move(*content) : std::string();
    }
    if (form == SmimeForm::signed_detached && GMIME_IS_MULTIPART(parsed->get()) &&
        g_mime_multipart_get_count(GMIME_MULTIPART(parsed->get())) >= 1) {
        char* text = g_mime_object_to_string(g_mime_multipart_get_part(GMIME_MULTIPART(parsed->get()), 0), nullptr);
        std::string out(text != nullptr ? text : "");
        g_free(text);
        return out;
    }
    return {};
}

// Whether `fields` (a payload's header section) declares protected headers,
// and whether with hp="cipher".
bool declares_protection(const HeaderFields& fields, bool& cipher) {
    auto type = parse_content_type(fields);
    const char* hp = type ? g_mime_content_type_get_parameter(type.get(), "hp") : nullptr;
    cipher = hp != nullptr && ascii_iequals(hp, "cipher");
    return hp != nullptr || (type && g_mime_content_type_get_parameter(type.get(), "protected-headers") != nullptr);
}

}  // namespace

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
    out.inner_form = type ? mime::smime_form_of(type.get()) : SmimeForm::none;
    bool cipher = false;
    out.header_protection = declares_protection(scan.fields, cipher);
    // Signed inside: the protected fields under the signature replace the
    // outer ones, which the signature does not cover, so the verifier then
    // finds them equal.
    const std::string signed_section =
        out.header_protection ? std::string() : signed_header_section(inner, out.inner_form);
    mime::HeaderScan signed_scan = mime::scan_header_section(signed_section);
    const bool under_signature =
        !signed_section.empty() && signed_scan.outcome == mime::HeaderScan::Outcome::complete &&
        declares_protection(signed_scan.fields, cipher);
    if (under_signature) out.header_protection = true;
    const HeaderFields& protected_fields = under_signature ? signed_scan.fields : scan.fields;

    std::string text(prefix);
    for (const auto& f : outer) {
        if (is_content_field(f.name)) continue;
        if (out.header_protection && find_field(protected_fields, f.name) != nullptr) continue;
        if (cipher && user_facing(f.name)) continue;
        append_field(text, f);
    }
    // Protected fields first, then the entity's own Content-* fields. HP-Outer
    // (RFC 9788) records what the outer section said; it is no field of the
    // message and is not shown.
    for (const auto& f : protected_fields) {
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
    if (out.header_protection && !under_signature && type && g_mime_content_type_is_type(type.get(), "multipart", "*")) {
        const char* boundary = g_mime_content_type_get_parameter(type.get(), "boundary");
        trimmed = without_legacy_display(body, boundary != nullptr ? boundary : "");
    }
    out.legacy_display_removed = trimmed.has_value();
    text.append(trimmed ? std::string_view(*trimmed) : body);
    out.message = with_line_ends(text, crlf);
    return {};
}

}  // namespace ribbon::sealed
