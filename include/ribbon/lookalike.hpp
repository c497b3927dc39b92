// ribbon/lookalike.hpp — is a domain seen for the first time made to be
// mistaken for one the organisation already knows? Phishers sign too, with
// a certificate a CA gladly issues for "paypa1.example", "rnybank.example",
// "bаnk.example" (Cyrillic а), "bank-example.com" or "bank.example.net".
//
// Confusable characters are judged by ICU's spoof checker (UTS #39 §4
// skeletons, Unicode's confusables.txt), never by a hand-made table; the
// ASCII tricks that are not confusables (one letter added, dropped,
// swapped or replaced; a hyphen for a dot; the same label under another
// top-level domain) by edit distance and label rules. The known domains
// are indexed once, so a check costs a few hash lookups, not a scan.
//
// Thread-safety: a built LookalikeIndex is read-only and may be shared by
// any number of threads; add() is for building it, from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ribbon {

// Why a domain resembles a known one.
enum class LookalikeKind {
    confusable,     // same UTS #39 skeleton: "bаnk.example", "rnybank" / "mybank"
    edit_distance,  // one letter added, dropped, replaced or two swapped: "bnak"
    hyphenation,    // a hyphen or dot moved, added or dropped: "bank-example.com"
    other_tld,      // the same label under another top-level domain
};
std::string_view lookalike_kind_name(LookalikeKind k) noexcept;  // "confusable" | "edit-distance" | ...

// What the organisation knows of a domain it compares against.
struct KnownDomain {
    std::string domain;     // A-label form, lower case
    bool own = false;       // one of the organisation's own [[signer]] domains
    std::uint64_t seen = 0; // messages recorded from it (key continuity)
};

struct LookalikeMatch {
    std::string domain;  // the new domain, A-label form
    KnownDomain resembles;
    LookalikeKind kind = LookalikeKind::confusable;
    std::string detail;  // "lookalike of bank.example (known signer, seen 1,234 times): ..."
};

class LookalikeIndex {
public:
    LookalikeIndex();
    ~LookalikeIndex();
    LookalikeIndex(LookalikeIndex&&) noexcept;
    LookalikeIndex& operator=(LookalikeIndex&&) noexcept;

    // Adds (or updates the counts of) a known domain, given in U-label or
    // A-label form; one that is not a valid domain is ignored and false.
    bool add(const KnownDomain& known);
    std::size_t size() const noexcept;

    // The best match for `domain` among the known domains other than
    // itself: an own domain before a recorded one, then the most seen.
    // nullopt when nothing resembles it (or `domain` is itself known).
    std::optional<LookalikeMatch> find(std::string_view domain) const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace ribbon
