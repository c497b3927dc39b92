// header_scan.cpp — see header_scan.hpp.
#include "core/header_scan.hpp"

#include <cstring>

namespace ribbon::mime {

namespace {

// RFC 5322 §2.2 / §3.6.8 ftext: printable US-ASCII except ':'.
bool is_ftext(char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && u != ':';
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

HeaderScan stop(HeaderScan scan, HeaderScan::Outcome outcome, std::size_t offset) {
    scan.outcome = outcome;
    scan.offset = offset;
    scan.fields.clear();
    return scan;
}

}  // namespace

HeaderScan scan_header_section(std::string_view message) {
    using Outcome = HeaderScan::Outcome;
    HeaderScan scan;
    scan.fields.reserve(16);
    const char* base = message.data();
    const std::size_t size = message.size();
    std::size_t pos = 0;
    while (true) {
        // GMime, like RFC 5322 §2.2, works in lines; it also takes a bare LF
        // as a line end, and so does every MTA that hands us mail from
        // sendmail(1), so a line is everything up to and including a LF.
        const void* lf = pos < size ? std::memchr(base + pos, '\n', size - pos) : nullptr;
        if (lf == nullptr) return stop(std::move(scan), Outcome::unterminated, pos);
        const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - base) + 1;
        const std::size_t len = end - pos;

        if (len == 1 || (len == 2 && base[pos] == '\r')) {
            // The empty line (§2.1): the body starts after it. GMime keeps
            // values as C strings, so a NUL would cut one short; ribbon
            // refuses those on GMime's route with its own message.
            if (const void* nul = std::memchr(base, '\0', end)) {
                return stop(std::move(scan), Outcome::nul_octet,
                            static_cast<std::size_t>(static_cast<const char*>(nul) - base));
            }
            scan.outcome = Outcome::complete;
            scan.offset = end;
            return scan;
        }

        if (is_wsp(base[pos])) {
            // Folding (§2.2.3), including the obsolete white-space-only
            // continuation lines of §4.2: the line belongs to the field above.
            if (scan.fields.empty()) return stop(std::move(scan), Outcome::not_a_field, pos);
            std::string_view& raw = scan.fields.back().raw_value;
            raw = std::string_view(raw.data(), static_cast<std::size_t>(base + end - raw.data()));
        } else {
            // field-name ":" (§2.2), with the white space before the colon
            // that §4.5 allows in obsolete syntax. A LF, CR, any other control
            // or 8-bit octet, or white space inside the name ends the name
            // without a colon; GMime's route refuses or warns about such lines.
            std::size_t i = pos;
            while (is_ftext(base[i])) ++i;  // stops at the LF at the latest
            const std::size_t name_end = i;
            while (is_wsp(base[i])) ++i;
            if (name_end == pos || base[i] != ':') {
                return stop(std::move(scan), Outcome::not_a_field, pos);
            }
            if (i - pos >= kMaxNameLine) return stop(std::move(scan), Outcome::long_name, pos);
            scan.fields.push_back({std::string_view(base + pos, name_end - pos),
                                   std::string_view(base + i + 1, end - i - 1)});
        }
        pos = end;
    }
}

}  // namespace ribbon::mime
