// verify_mime.cpp — see verify_mime.hpp.
//
// Everything here reads untrusted bytes: every index is checked against the
// size of the view it came from, and nothing is assumed about line endings
// (CRLF, bare LF, or a mix of both all occur in stored mail).
#include "core/verify_mime.hpp"

#include <array>

#include "ribbon/mail_text.hpp"

namespace ribbon::verify {

namespace {

// The fields RFC 9788 §2.1 (and ribbon's signer) copy into the signed part.
constexpr std::array<const char*, 7> kProtectedHeaders = {
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID"};

// Position just past the line that starts at `pos` (after its LF), or
// body.size() for a last line without a line break.
std::size_t next_line(std::string_view body, std::size_t pos) {
    std::size_t lf = body.find('\n', pos);
    return lf == std::string_view::npos ? body.size() : lf + 1;
}

enum class LineKind { content, delimiter, close };

// RFC 2046 §5.1.1: a delimiter line is "--" boundary, then optional
// transport padding (linear white space), then the line break; the close
// delimiter has "--" right after the boundary.
LineKind classify(std::string_view body, std::size_t pos, std::string_view dash_boundary) {
    if (body.substr(pos, dash_boundary.size()) != dash_boundary) return LineKind::content;
    std::size_t i = pos + dash_boundary.size();
    if (body.substr(i, 2) == "--") return LineKind::close;
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    if (i == body.size() || body[i] == '\n' || (body[i] == '\r' && body.substr(i, 2) == "\r\n")) {
        return LineKind::delimiter;
    }
    return LineKind::content;
}

struct Found {
    std::size_t line_start;  // where the delimiter line starts
    std::size_t next;        // first byte after the delimiter line
    LineKind kind;
};

// The next delimiter or close-delimiter line starting at or after `pos`,
// which must be the start of a line.
std::optional<Found> find_delimiter(std::string_view body, std::size_t pos,
                                    std::string_view dash_boundary) {
    while (pos < body.size()) {
        LineKind kind = classify(body, pos, dash_boundary);
        std::size_t next = next_line(body, pos);
        if (kind != LineKind::content) return Found{pos, next, kind};
        pos = next;
    }
    return std::nullopt;
}

// The part between `start` and a delimiter line at `delim`: the line break
// just before the delimiter belongs to the delimiter (RFC 2046 §5.1.1).
std::string_view part_between(std::string_view body, std::size_t start, std::size_t delim) {
    std::size_t end = delim;
    if (end > start && body[end - 1] == '\n') {
        --end;
        if (end > start && body[end - 1] == '\r') --end;
    }
    return body.substr(start, end - start);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void collect_addresses(InternetAddressList* list, std::vector<std::string>& out, int depth) {
    if (list == nullptr || depth > 8) return;  // groups cannot nest (RFC 5322 §3.4); be safe
    int n = internet_address_list_length(list);
    for (int i = 0; i < n; ++i) {
        InternetAddress* address = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(address)) {
            const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
            if (addr == nullptr || *addr == '\0') continue;
            // GMime hands the domain back decoded to Unicode (an A-label
            // "xn--bnk-6cd" becomes "bаnk", Cyrillic а): keep the form the
            // certificate and DNS use (RFC 5890 §2.3.2.1) so that what is
            // compared and reported is unambiguous.
            out.push_back(address_ascii_form(addr).value_or(addr));
        } else if (INTERNET_ADDRESS_IS_GROUP(address)) {
            collect_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(address)),
                              out, depth + 1);
        }
    }
}

// The first field named `name` (case-insensitive, as GMime compares).
std::optional<std::string> header_value(GMimeObject* object, const char* name) {
    GMimeHeaderList* headers = g_mime_object_get_header_list(object);
    if (headers == nullptr) return std::nullopt;
    GMimeHeader* header = g_mime_header_list_get_header(headers, name);
    if (header == nullptr) return std::nullopt;
    // The decoded value: an encoded-word re-encoded in transit (RFC 2047)
    // says the same thing, so it must compare equal.
    const char* value = g_mime_header_get_value(header);
    if (value == nullptr) value = g_mime_header_get_raw_value(header);
    return normalise_header_value(value != nullptr ? value : "");
}

}  // namespace

std::optional<std::string_view> message_body(std::string_view raw) {
    std::size_t pos = 0;
    while (pos < raw.size()) {
        if (raw[pos] == '\n') return raw.substr(pos + 1);
        if (raw.substr(pos, 2) == "\r\n") return raw.substr(pos + 2);
        pos = next_line(raw, pos);
    }
    return std::nullopt;
}

Result<SignedParts> split_multipart_signed(std::string_view body, std::string_view boundary) {
    if (boundary.empty()) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: multipart/signed without a boundary parameter");
    }
    const std::string dash_boundary = "--" + std::string(boundary);
    auto first = find_delimiter(body, 0, dash_boundary);
    if (!first || first->kind != LineKind::delimiter) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: multipart/signed body has no opening boundary");
    }
    auto second = find_delimiter(body, first->next, dash_boundary);
    if (!second || second->kind != LineKind::delimiter) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: multipart/signed has no signature part "
                               "(RFC 1847 §2.1 requires exactly two parts)");
    }
    auto last = find_delimiter(body, second->next, dash_boundary);
    if (!last) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: multipart/signed has no closing boundary "
                               "(the message is truncated)");
    }
    if (last->kind != LineKind::close) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: multipart/signed has more than two parts "
                               "(RFC 1847 §2.1 requires exactly two)");
    }
    return SignedParts{part_between(body, first->next, second->line_start),
                       part_between(body, second->next, last->line_start)};
}

Result<std::vector<std::string_view>> split_multipart(std::string_view body,
                                                      std::string_view boundary) {
    if (boundary.empty()) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: multipart without a boundary parameter");
    }
    const std::string dash_boundary = "--" + std::string(boundary);
    auto at = find_delimiter(body, 0, dash_boundary);
    if (!at || at->kind != LineKind::delimiter) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: multipart body has no opening boundary");
    }
    std::vector<std::string_view> parts;
    while (true) {
        auto next = find_delimiter(body, at->next, dash_boundary);
        if (!next) {
            return permanent_error(Errc::malformed_message,
                                   "malformed MIME: multipart has no closing boundary "
                                   "(the message is truncated)");
        }
        parts.push_back(part_between(body, at->next, next->line_start));
        if (next->kind == LineKind::close) return parts;
        at = next;
    }
}

std::string to_crlf(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() + bytes.size() / 32);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) out.push_back('\r');
        out.push_back(bytes[i]);
    }
    return out;
}

std::vector<std::string> from_addresses(GMimeMessage* message) {
    std::vector<std::string> out;
    collect_addresses(g_mime_message_get_from(message), out, 0);
    return out;
}

bool addresses_covered(const std::vector<std::string>& addresses,
                       const std::vector<std::string>& cert_addresses) {
    if (addresses.empty()) return false;
    // Not pair by pair: both lists come from the sender (AddressSet).
    const AddressSet certified(cert_addresses);
    for (const auto& address : addresses) {
        if (!certified.find(address)) return false;
    }
    return true;
}

std::string normalise_header_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    bool pending_space = false;
    for (char c : value) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
    }
    return out;
}

HeaderProtection compare_protected_headers(GMimeObject* inner, GMimeObject* outer) {
    HeaderProtection hp;
    if (inner == nullptr || outer == nullptr) return hp;
    // RFC 9788 §2.1: hp="clear" on the cryptographic payload's Content-Type;
    // its predecessor (draft-autocrypt-lamps-protected-headers) used
    // protected-headers="v1". Either, or any protected field copied inside,
    // means the signer meant these fields to be covered by the signature.
    bool rfc9788 = false;
    if (GMimeContentType* type = g_mime_object_get_content_type(inner)) {
        rfc9788 = g_mime_content_type_get_parameter(type, "hp") != nullptr;
        hp.present =
            rfc9788 || g_mime_content_type_get_parameter(type, "protected-headers") != nullptr;
    }
    for (const char* name : kProtectedHeaders) {
        auto inner_value = header_value(inner, name);
        auto outer_value = header_value(outer, name);
        if (!inner_value) {
            // RFC 9788 §2: with hp= the inner header section is the whole
            // header the sender meant. An addressing field or Subject that
            // appears only outside was added in transit (a Reply-To
            // redirect is the classic). Date and Message-ID are left out:
            // MTAs add them when missing (RFC 5321 §6.4).
            const std::string_view n = name;
            if (!rfc9788 || !outer_value || n == "Date" || n == "Message-ID") continue;
        }
        hp.present = true;
        ProtectedHeader h;
        h.name = name;
        h.inner = inner_value.value_or("");
        h.outer = outer_value.value_or("");
        h.matches =
            inner_value.has_value() && outer_value.has_value() && *outer_value == *inner_value;
        hp.headers.push_back(std::move(h));
    }
    return hp;
}

}  // namespace ribbon::verify
