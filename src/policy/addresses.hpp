// addresses.hpp — the small address rules the [[signer]] table needs.
// Internal to libribbon.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/openssl_util.hpp"
#include "keystore/files.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::policy {

// Addresses and domains are compared in ASCII lower case (RFC 5321 §2.4
// allows case-sensitive local parts, but no one sending to customers relies
// on it, and a pattern missing mail by case would be worse).
using ossl::ascii_lower;

// The form a [[signer]] from pattern and a From address are compared in:
// ASCII lower case, an internationalised domain in A-labels (RFC 5890;
// ribbon/mail_text.hpp), so "bücher.example" in the configuration and
// "xn--bcher-kva.example" in a message are one domain. A "*@domain"
// pattern converts the same way (its local part "*" is kept).
inline std::string comparable_address(std::string_view address) {
    auto ascii = address_ascii_form(address);
    return ascii_lower(ascii ? std::string_view(*ascii) : address);
}

// Why `address` cannot name a keystore entry, or nothing when it can.
inline std::optional<std::string> check_address(std::string_view address) {
    auto r = ks::normalise_address(address);
    if (r) return std::nullopt;
    return r.error().message();
}

// A [[signer]] from pattern: an address, or "*@domain".
inline std::optional<std::string> check_from_pattern(std::string_view pattern) {
    if (pattern.starts_with("*@")) {
        std::string_view domain = pattern.substr(2);
        if (domain.empty() || domain.find_first_of("@*/ \t") != std::string_view::npos) {
            return "\"" + std::string(pattern) + "\" is not \"*@domain\"";
        }
        return std::nullopt;
    }
    if (pattern.find('*') != std::string_view::npos) {
        return "\"" + std::string(pattern) + "\": only \"*@domain\" patterns are supported";
    }
    return check_address(pattern);
}

}  // namespace ribbon::policy
