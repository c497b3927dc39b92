// forged.cpp — see forged.hpp.
#include "inbound/forged.hpp"

#include <algorithm>
#include <map>

#include "base/ascii.hpp"
#include "inbound/stamp.hpp"

namespace ribbon::inbound {

namespace {

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 5322 §3.2.2 CFWS from `i`: white space, line breaks and comments
// (nested, with quoted-pairs), counted rather than recursed into. False
// when a comment is not closed.
bool skip_cfws(std::string_view s, std::size_t& i) {
    while (i < s.size()) {
        if (is_fws(s[i])) {
            ++i;
            continue;
        }
        if (s[i] != '(') return true;
        std::size_t depth = 0;
        do {
            if (i >= s.size()) return false;
            char c = s[i++];
            if (c == '\\') {
                if (i >= s.size()) return false;
                ++i;
            } else if (c == '(') {
                ++depth;
            } else if (c == ')') {
                --depth;
            }
        } while (depth > 0);
    }
    return true;
}

// RFC 5322 §3.2.4 quoted-string from the opening quote at `i`, unescaped,
// folds (CR, LF) dropped; nullopt when it is not closed.
std::optional<std::string> quoted_string(std::string_view s, std::size_t i) {
    std::string out;
    for (++i; i < s.size(); ++i) {
        char c = s[i];
        if (c == '"') return out;
        if (c == '\\') {
            if (++i >= s.size()) return std::nullopt;
            out += s[i];
        } else if (c != '\r' && c != '\n') {
            out += c;
        }
    }
    return std::nullopt;
}

bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
    if (needle.empty()) return false;
    auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                          [](char a, char b) { return ascii_lower(a) == ascii_lower(b); });
    return it != haystack.end();
}

struct NameLess {
    bool operator()(const std::string& a, const std::string& b) const {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                            [](char x, char y) { return ascii_lower(x) < ascii_lower(y); });
    }
};

bool claims_to_be_ours(const Field& f, std::string_view authserv_id) {
    if (ascii_iequals(f.name, kRibbonContinuity)) return true;
    if (!ascii_iequals(f.name, kAuthenticationResults)) return false;
    if (auto id = authserv_id_of(f.value)) return ascii_iequals(*id, authserv_id);
    return contains_ignoring_case(f.value, authserv_id);
}

}  // namespace

std::optional<std::string> authserv_id_of(std::string_view value) {
    std::size_t i = 0;
    if (!skip_cfws(value, i) || i >= value.size()) return std::nullopt;
    if (value[i] == '"') {
        auto q = quoted_string(value, i);
        if (!q || q->empty()) return std::nullopt;
        return q;
    }
    std::size_t start = i;
    while (i < value.size() && is_token_char(value[i])) ++i;
    if (i == start) return std::nullopt;
    return std::string(value.substr(start, i - start));
}

std::vector<Removal> forged_fields(const std::vector<Field>& header, std::string_view authserv_id) {
    std::map<std::string, int, NameLess> seen;
    std::vector<Removal> removals;
    for (const Field& f : header) {
        int index = ++seen[f.name];
        if (claims_to_be_ours(f, authserv_id)) removals.push_back({f.name, index});
    }
    // Removing a field may renumber the later ones of its name: the last first.
    std::reverse(removals.begin(), removals.end());
    return removals;
}

}  // namespace ribbon::inbound
