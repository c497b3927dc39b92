// pattern.hpp — a client rule's regular expression (data/clients.toml,
// docs/LEARNING.md "Patterns"), compiled by Google's RE2.
//
// Why a file of its own rather than RE2 used directly in client_rules.cpp:
// the RE2 options below ARE the rules' semantics (which octets fold, how
// much memory a pattern may take), and the tests must compile patterns
// exactly as the rules file does, so both share this one definition.
//
// Why RE2: the values matched are header fields of mail from anyone on the
// Internet, and detect() runs on the daemons' threads. RE2 never
// backtracks: time is linear in the value, memory fixed per pattern
// (kMaxMemory), no recursion on the input. std::regex backtracks, recursing
// once per repeated character, and takes exponential time on (a|a)*b.
//
// Semantics: RE2 syntax, Latin-1 (each octet is one character, so any
// value, UTF-8 or not, is matched octet by octet), case-insensitive, a
// search (anchor with ^ and $, which are the whole value). A pattern RE2
// refuses is refused when the rules are loaded, with RE2's reason.
//
// Internal to libribbon. A Pattern is immutable; search() may run on any
// number of threads at once (RE2's matching is thread-safe).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace re2 {
class RE2;
}

namespace ribbon::learn {

class Pattern {
public:
    // RE2's budget per pattern: the compiled program (refused at load when
    // it does not fit, "pattern too large") and the DFA's state cache (when
    // that fills, RE2 frees it and goes on, still in linear time).
    static constexpr std::int64_t kMaxMemory = 1 << 20;

    // The compiled pattern, or why RE2 refuses `source` ("RE2 refuses it:
    // invalid escape sequence: \1").
    static std::variant<Pattern, std::string> compile(std::string_view source);

    // Whether the pattern matches somewhere in `text`. When it does and the
    // pattern has a capture group, *group1 is what the first one matched
    // (empty when it took no part).
    bool search(std::string_view text, std::string* group1 = nullptr) const;

private:
    Pattern() = default;
    std::shared_ptr<const re2::RE2> m_re;  // shared: a Pattern is copied with its rule
};

}  // namespace ribbon::learn
