// ascii.hpp — ASCII case rules for protocol text: header field names,
// addresses, URL schemes, SMTP verbs, hex. One copy for every layer.
//
// Header-only and locale-free on purpose: RFC 5322 §1.2.2 field names,
// RFC 5321 §2.4 verbs and RFC 3986 §3.1 schemes are case-insensitive in
// ASCII only, and std::tolower/strcasecmp follow the C locale, which a
// library must not assume. Bytes from 0x80 up are never changed, so UTF-8
// passes through as it is.
#pragma once

#include <string>
#include <string_view>

namespace ribbon {

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr char ascii_upper(char c) noexcept {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

inline std::string ascii_upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_upper(c);
    return out;
}

// Equal when ASCII letters are folded.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

// `s` begins with `prefix` when ASCII letters are folded.
constexpr bool ascii_istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace ribbon
