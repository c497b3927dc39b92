// public_suffix.hpp — where a domain's registrable part begins: the Public
// Suffix List's rules (publicsuffix.org/list, "Formal algorithm"), as the
// organisational domain of DMARC (RFC 7489 §3.2) and browsers' cookie
// boundaries use them. Private to the core (lookalike.cpp).
//
// Why by hand and not libpsl: the list's algorithm is three set lookups
// per label, and libpsl-dev is not among ribbon's build dependencies
// (scripts/setup.sh); the list itself is Debian's `publicsuffix` package
// (kSystemPath), never a copy in the repository. Without that file only
// the list's default rule "*" applies: the last label is the suffix, so
// "bank.example.net" is under "example.net" but "bank.co.uk" under "co.uk"
// (an organisation's boundary drawn too wide where a country registers
// below a second level).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ribbon {

class PublicSuffixList {
public:
    static constexpr const char* kSystemPath = "/usr/share/publicsuffix/public_suffix_list.dat";

    // The rules of the list at `path` (ICANN and private sections alike: a
    // private suffix such as a hosting provider's separates organisations
    // just as well). An empty path, or a file that cannot be read or is
    // over 16 MB, gives the default rule only. Unicode rules are kept in
    // their A-label form.
    static std::shared_ptr<const PublicSuffixList> load(const std::string& path);
    // kSystemPath, read once per process.
    static std::shared_ptr<const PublicSuffixList> system();

    std::size_t rules() const noexcept { return m_rules; }

    // How many trailing labels of `labels` are the public suffix: at least
    // 1 (0 for no labels), at most labels.size(). `labels` are lower-case
    // A-labels, left to right, each a view into one domain string.
    std::size_t suffix_labels(const std::vector<std::string_view>& labels) const;

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    using Set = std::unordered_set<std::string, Hash, std::equal_to<>>;

    void add_rule(std::string_view rule);

    Set m_normal;     // "co.uk"
    Set m_wildcard;   // "*.ck" kept as "ck"
    Set m_exception;  // "!www.ck" kept as "www.ck"
    std::size_t m_rules = 0;
    std::size_t m_max_labels = 1;  // the longest rule, in labels
};

}  // namespace ribbon
