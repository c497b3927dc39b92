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
// The rules, in the order a domain meets them:
//
//  1. A domain is taken as IDNA does (UTS #46, A-labels, lower case, one
//     root dot dropped) and must then be a host name: at most 253 octets,
//     labels of 1 to 63 letters, digits and inner hyphens (RFC 1035 §2.3.1,
//     RFC 5891 §4.2.3.1), at least two labels, not an all-numeric last
//     label. Input over 1,024 bytes is refused before any conversion.
//     Anything else — invalid UTF-8, control characters, an "xn--" label
//     that does not decode — is not a domain: add() is false, find()
//     nullopt.
//  2. Its registrable part is its public suffix and one label more, by the
//     Public Suffix List's algorithm (DMARC's organisational domain, RFC
//     7489 §3.2): "bank" in "mail.bank.example", "example" in
//     "bank.example.net", "bank" in "bank.co.uk". libpsl applies it, with
//     the newest list it has: Debian's publicsuffix package
//     (/usr/share/publicsuffix/public_suffix_list.dafsa) or else its own
//     built-in copy, ICANN and private sections alike (a hosting provider's
//     suffix separates organisations just as well). An index given a list
//     file that cannot be loaded has only the list's default rule (the last
//     label is the suffix, so "bank.co.uk" is under "co.uk"). A domain that
//     is itself a public suffix is not a domain here.
//  3. Same organisation, never a lookalike: a domain whose registrable part
//     is that of a known domain — the known domain itself in any case or
//     form, and its subdomains ("mail.bank.example" when "bank.example" is
//     known, and the other way round). find() is nullopt.
//  4. Every label is compared by its key: its UTS #39 skeleton, lower-cased
//     in ASCII (a DNS name has no case, and confusables.txt maps "0" to
//     "O"), with hyphens removed. The registrable label's key is compared
//     with each known domain's:
//       - equal keys of 3 characters or more: `other_tld` when the labels
//         are the same and only the suffix differs ("bank.org" for
//         "bank.example"), `confusable` when the labels differ but their
//         skeletons are equal ("paypa1", "rnybank", "bаnk", in U-label or
//         A-label form, under any suffix), `hyphenation` when they differ
//         only by hyphens ("my-bank" for "mybank");
//       - `hyphenation` when the key equals a known registrable part read
//         without its dots, or the other way round: "bank-example.com" and
//         "bankexample.org" for "bank.example" (3 characters or more);
//       - `edit_distance`, under the same public suffix only, when the keys
//         are ASCII and one edit apart (Damerau: a letter added, dropped,
//         replaced, or two neighbours swapped) and the known key has at
//         least 4 characters, at least 5 for a replaced letter: "bnak",
//         "banks", "bak", "bnk" for "bank"; not "tank" (one replaced letter
//         in a 4-letter word is most often just another word), and no edit
//         of a known key under 4 characters ("abd.example" and
//         "abcd.example" are not reported for "abc.example": with short
//         keys one edit reaches too many ordinary names).
//     Keys of 1 or 2 characters match nothing ("ab.org" is not reported
//     for "ab.example").
//  5. `other_tld` (or `confusable`, by skeleton) too when a known registrable
//     part appears whole, as two or more consecutive labels, among the
//     labels left of the domain's own public suffix: "bank.example.net" and
//     "login.bank.example.evil.net" for "bank.example". A known label alone
//     inside another organisation's subdomain ("bank.evil.net") is not
//     reported: single common labels ("mail", "shop") would be noise.
//  6. The best of all matches is reported: an own domain before a recorded
//     one, then the most seen, then the stronger kind (confusable,
//     other_tld, hyphenation, edit_distance), then the known domain's name.
//     At most 4,096 candidates are compared per find(), which only a
//     degenerate index (thousands of known domains with one label) reaches.
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
    other_tld,      // the same label, or the whole known name, under another public suffix
};
// "confusable" | "edit-distance" | "hyphenation" | "other-tld"
std::string_view lookalike_kind_name(LookalikeKind k) noexcept;

// What the organisation knows of a domain it compares against.
struct KnownDomain {
    std::string domain;      // A-label form, lower case
    bool own = false;        // one of the organisation's own [[signer]] domains
    std::uint64_t seen = 0;  // messages recorded from it (key continuity)
};

struct LookalikeMatch {
    std::string domain;  // the new domain, A-label form, lower case
    KnownDomain resembles;
    LookalikeKind kind = LookalikeKind::confusable;
    // "lookalike of bank.example (known signer, seen 1,234 times): "bnak"
    // is "bank" with two letters swapped". Built from A-labels only, so it
    // holds no control or bidirectional characters.
    std::string detail;
};

class LookalikeIndex {
public:
    // With the system's Public Suffix List (rule 2; loaded once per process).
    LookalikeIndex();
    // With the list at `public_suffix_list`, in the list's text format or
    // libpsl's DAFSA form (psl_load_file()); "" or a file libpsl cannot
    // load: the default rule only.
    explicit LookalikeIndex(const std::string& public_suffix_list);
    ~LookalikeIndex();
    LookalikeIndex(LookalikeIndex&&) noexcept;
    LookalikeIndex& operator=(LookalikeIndex&&) noexcept;

    // Adds a known domain, given in U-label or A-label form (stored as
    // A-labels); one that is not a valid domain (rule 1) or is a public
    // suffix is ignored and false. Adding a domain again updates it: own
    // when either says so, the larger count.
    bool add(const KnownDomain& known);
    std::size_t size() const noexcept;
    // Reserves room for `domains` known domains in all, so that building
    // an index of a known size does not grow it step by step.
    void reserve(std::size_t domains);
    // Whether a Public Suffix List is in use; false when only its default
    // rule applies. (libpsl cannot count the rules of a list in DAFSA form,
    // the system's.)
    bool has_public_suffix_list() const noexcept;

    // The best match for `domain` among the known domains other than
    // itself: an own domain before a recorded one, then the most seen.
    // nullopt when nothing resembles it (or `domain` is itself known).
    std::optional<LookalikeMatch> find(std::string_view domain) const;

private:
    struct Impl;
    Impl& impl();  // a moved-from index starts afresh
    std::unique_ptr<Impl> m_impl;
};

}  // namespace ribbon
