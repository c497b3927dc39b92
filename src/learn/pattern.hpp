// pattern.hpp — the regular expressions of the client rules file
// (data/clients.toml, docs/LEARNING.md "The client rules file").
//
// Why not std::regex: libstdc++'s matcher backtracks, and recurses once per
// repeated character (so a long header value can exhaust a thread's stack),
// and a pattern such as (a|a)*b takes exponential time. The values matched
// here are header fields of mail from anyone on the Internet, and detect()
// runs on the daemons' threads. This is a Thompson NFA run the Pike way
// (Russ Cox, "Regular Expression Matching: the Virtual Machine Approach",
// 2009): time linear in the value times the pattern, memory fixed by the
// pattern, no recursion on the input, and the same leftmost-first match and
// capture that a backtracking ECMAScript matcher reports.
//
// The syntax is a subset of ECMAScript's (ECMA-262 §22.2): literals, . [..]
// [^..] \d \D \w \W \s \S \b \B \xHH \t \n \r \f \v, escaped punctuation,
// ^ $ (of the whole value), groups ( ) (?: ), | and the greedy or lazy
// quantifiers * + ? {n} {n,} {n,m}. Anything else (back-references,
// look-around, named groups, a lone '{') is refused when the rules are
// loaded, never guessed at. Matching always ignores ASCII case; octets
// outside ASCII match only themselves.
//
// Internal to libribbon. A compiled Pattern is immutable: search() may run
// on any number of threads at once, each with its own Scratch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ribbon::policy {

class Pattern {
public:
    // Limits that keep a compiled pattern small whatever the rules file says.
    static constexpr std::size_t kMaxSource = 1024;        // octets of pattern text
    static constexpr std::size_t kMaxProgram = 8192;       // instructions after {n,m} expansion
    static constexpr std::size_t kMaxNesting = 32;         // depth of ( )
    static constexpr unsigned kMaxRepeat = 255;            // n and m of {n,m}

    // The compiled pattern, or why `source` is refused ("unsupported
    // back-reference \\1 at offset 7").
    static std::variant<Pattern, std::string> compile(std::string_view source);

    // Per-thread working memory for search(); reused across calls and
    // patterns so a search allocates nothing once it has grown.
    class Scratch;

    // Whether the pattern matches somewhere in `text` (a search, not a full
    // match: anchor with ^ and $). When it does and the pattern has a first
    // capture group that took part, *group1 is what that group matched.
    bool search(std::string_view text, Scratch& scratch, std::string* group1 = nullptr) const;

    const std::string& source() const noexcept { return m_source; }

    enum class Op : std::uint8_t { byte, any, cls, split, jmp, save, bol, eol, word, not_word, match };
    struct Inst {
        Op op = Op::match;
        std::uint8_t byte = 0;   // Op::byte: the octet, ASCII lower case
        std::uint16_t cls = 0;   // Op::cls: index into m_classes
        std::uint32_t x = 0;     // split: preferred target; jmp: target; save: slot
        std::uint32_t y = 0;     // split: the other target
    };
    struct Class {
        std::uint64_t bits[4] = {0, 0, 0, 0};
        bool has(unsigned char c) const noexcept { return (bits[c >> 6] >> (c & 63)) & 1u; }
        void add(unsigned char c) noexcept { bits[c >> 6] |= std::uint64_t{1} << (c & 63); }
    };

private:
    Pattern() = default;
    friend class PatternCompiler;

    std::string m_source;
    std::vector<Inst> m_program;
    std::vector<Class> m_classes;
    std::string m_required;       // a literal (lower case) every match contains; may be empty
    bool m_anchored = false;      // starts with ^: try position 0 only
    bool m_has_group = false;     // the first capture group exists
};

class Pattern::Scratch {
public:
    Scratch() = default;

private:
    friend class Pattern;
    struct List {
        std::vector<std::uint32_t> mark;   // mark[pc] == gen: pc already added at this step
        std::uint32_t gen = 0;
        std::vector<std::uint32_t> pcs;    // runnable threads, highest priority first
        std::vector<std::int32_t> caps;    // two capture slots per thread
        void reset(std::size_t program_size);
    };
    struct Frame {
        std::uint32_t pc;
        std::int32_t restore_slot;  // >= 0: restore caps[slot] = value instead of exploring pc
        std::int32_t value;
    };
    List m_lists[2];
    std::vector<Frame> m_stack;
};

}  // namespace ribbon::policy
