// addresses.hpp — the [[signer]] table's address rules: the form patterns
// and From addresses are compared in, which entry covers an address, and
// which patterns are valid. The policy layer exports this header; the
// configuration reader checks patterns with it, and Config::signer_for
// answers with it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ascii.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/mail_text.hpp"
#include "ribbon/settings.hpp"

namespace ribbon::policy {

// Addresses and domains are compared in ASCII lower case (RFC 5321 §2.4
// allows case-sensitive local parts, but no one sending to customers relies
// on it, and a pattern missing mail by case would be worse). The form a
// [[signer]] from pattern and a From address are compared in: ASCII lower
// case, an internationalised domain in A-labels (RFC 5890;
// ribbon/mail_text.hpp), so "bücher.example" in the configuration and
// "xn--bcher-kva.example" in a message are one domain. A "*@domain"
// pattern converts the same way (its local part "*" is kept).
inline std::string comparable_address(std::string_view address) {
    auto ascii = address_ascii_form(address);
    return ascii_lower(ascii ? std::string_view(*ascii) : address);
}

// Whether `rule`'s pattern covers `address` (compared case-insensitively).
inline bool signer_matches(const SignerRule& rule, std::string_view address) {
    std::string a = comparable_address(address);
    if (!rule.wildcard()) return a == rule.from;
    auto at = a.rfind('@');
    return at != std::string::npos && std::string_view(a).substr(at + 1) == std::string_view(rule.from).substr(2);
}

// The [[signer]] entry for a From address: an exact address wins over a
// "*@domain" pattern; among equals the first in the table wins. Null when
// the address is not one ribbon signs for.
inline const SignerRule* signer_for(const std::vector<SignerRule>& signers, std::string_view from_address) {
    const SignerRule* wildcard = nullptr;
    for (const SignerRule& r : signers) {
        if (!signer_matches(r, from_address)) continue;
        if (!r.wildcard()) return &r;
        if (wildcard == nullptr) wildcard = &r;
    }
    return wildcard;
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
