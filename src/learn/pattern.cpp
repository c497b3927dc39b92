// pattern.cpp — the client rules' regular expressions: a parser for the
// ECMAScript subset pattern.hpp lists, a compiler to Pike VM instructions,
// and the VM. Trusts nothing about the text it matches; the pattern comes
// from a rules file (the shipped one or an operator's), so every limit is
// checked when compiling, not assumed.
#include "learn/pattern.hpp"

#include <memory>

namespace ribbon::policy {

namespace {

unsigned char lower(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

bool is_word(unsigned char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_space(unsigned char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(unsigned char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// ECMA-262 §22.2.1 SyntaxCharacter, plus the ones that are only literal in
// Annex B's lenient grammar: all may be escaped to stand for themselves.
bool is_escapable(unsigned char c) noexcept {
    return c < 0x80 && !is_word(c) && c > 0x20 && c != 0x7f;
}

struct Node {
    enum class Kind { empty, byte, cls, any, cat, alt, repeat, group, bol, eol, word, not_word };
    Kind kind = Kind::empty;
    unsigned char byte = 0;   // Kind::byte, lower case
    std::uint16_t cls = 0;    // Kind::cls
    unsigned min = 0;         // Kind::repeat
    unsigned max = 0;         // Kind::repeat; kInfinite for no upper bound
    bool greedy = true;       // Kind::repeat
    bool first_group = false; // Kind::group: the first capturing group
    std::vector<Node> kids;   // cat, alt: the parts; repeat, group: one
};

constexpr unsigned kInfinite = ~0u;

struct CompileError {
    std::string message;
};

}  // namespace

// Recursive descent over the pattern text; recursion depth is bounded by
// kMaxNesting, checked at every '('.
class PatternCompiler {
public:
    explicit PatternCompiler(std::string_view source) : m_src(source) {}

    Pattern run() {
        if (m_src.size() > Pattern::kMaxSource) {
            fail("longer than " + std::to_string(Pattern::kMaxSource) + " octets");
        }
        Node root = alternation(0);
        if (m_pos != m_src.size()) fail("unmatched ')'");
        Pattern p;
        p.m_source = std::string(m_src);
        p.m_classes = std::move(m_classes);
        p.m_has_group = m_groups > 0;
        p.m_anchored = starts_with_bol(root);
        std::string run;
        required_literal(root, run, p.m_required);
        if (run.size() > p.m_required.size()) p.m_required = run;
        emit(root, p.m_program);
        push(p.m_program, {Pattern::Op::match});
        return p;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw CompileError{what + " at offset " + std::to_string(m_pos)};
    }

    bool at_end() const noexcept { return m_pos >= m_src.size(); }
    unsigned char peek() const noexcept { return static_cast<unsigned char>(m_src[m_pos]); }

    Node alternation(std::size_t depth) {
        Node alt{Node::Kind::alt};
        alt.kids.push_back(concatenation(depth));
        while (!at_end() && peek() == '|') {
            ++m_pos;
            alt.kids.push_back(concatenation(depth));
        }
        if (alt.kids.size() == 1) return std::move(alt.kids.front());
        return alt;
    }

    Node concatenation(std::size_t depth) {
        Node cat{Node::Kind::cat};
        while (!at_end() && peek() != '|' && peek() != ')') {
            Node atom = this->atom(depth);
            cat.kids.push_back(quantified(std::move(atom)));
        }
        return cat;
    }

    Node atom(std::size_t depth) {
        unsigned char c = peek();
        switch (c) {
            case '(': return group(depth);
            case '[': return char_class();
            case '.': ++m_pos; return Node{Node::Kind::any};
            case '^': ++m_pos; return Node{Node::Kind::bol};
            case '$': ++m_pos; return Node{Node::Kind::eol};
            case '\\': return escape();
            case '*': case '+': case '?': fail("nothing to repeat before '" + std::string(1, static_cast<char>(c)) + "'");
            case '{': fail("'{' must follow something to repeat; write \\{ for the character");
            case '}': fail("lone '}'; write \\} for the character");
            case ']': fail("lone ']'; write \\] for the character");
            default: ++m_pos; return literal(c);
        }
    }

    static Node literal(unsigned char c) {
        Node n{Node::Kind::byte};
        n.byte = lower(c);
        return n;
    }

    Node group(std::size_t depth) {
        if (depth + 1 > Pattern::kMaxNesting) fail("groups nested deeper than " + std::to_string(Pattern::kMaxNesting));
        const std::size_t open = m_pos;
        ++m_pos;  // '('
        bool capturing = true;
        if (!at_end() && peek() == '?') {
            if (m_pos + 1 < m_src.size() && m_src[m_pos + 1] == ':') {
                capturing = false;
                m_pos += 2;
            } else {
                m_pos = open;
                fail("look-around and named groups are not supported (only ( ) and (?: ))");
            }
        }
        Node g{Node::Kind::group};
        if (capturing) g.first_group = (m_groups++ == 0);
        g.kids.push_back(alternation(depth + 1));
        if (at_end() || peek() != ')') fail("missing ')'");
        ++m_pos;
        return g;
    }

    Node quantified(Node atom) {
        if (at_end()) return atom;
        unsigned min = 0, max = 0;
        unsigned char c = peek();
        if (c == '*') {
            min = 0, max = kInfinite, ++m_pos;
        } else if (c == '+') {
            min = 1, max = kInfinite, ++m_pos;
        } else if (c == '?') {
            min = 0, max = 1, ++m_pos;
        } else if (c == '{') {
            ++m_pos;
            min = number();
            max = min;
            if (!at_end() && peek() == ',') {
                ++m_pos;
                max = (!at_end() && peek() == '}') ? kInfinite : number();
            }
            if (at_end() || peek() != '}') fail("a quantifier is {n}, {n,} or {n,m}");
            ++m_pos;
            if (max < min) fail("{n,m} with m smaller than n");
        } else {
            return atom;
        }
        switch (atom.kind) {
            case Node::Kind::bol: case Node::Kind::eol: case Node::Kind::word: case Node::Kind::not_word:
                fail("an assertion (^ $ \\b \\B) cannot be repeated");
            default: break;
        }
        Node r{Node::Kind::repeat};
        r.min = min;
        r.max = max;
        if (!at_end() && peek() == '?') {
            r.greedy = false;
            ++m_pos;
        }
        if (!at_end() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{')) {
            fail("nothing to repeat (two quantifiers in a row)");
        }
        r.kids.push_back(std::move(atom));
        return r;
    }

    unsigned number() {
        if (at_end() || !is_digit(peek())) fail("a quantifier is {n}, {n,} or {n,m}");
        unsigned v = 0;
        while (!at_end() && is_digit(peek())) {
            v = v * 10 + (peek() - '0');
            if (v > Pattern::kMaxRepeat) fail("repeat count above " + std::to_string(Pattern::kMaxRepeat));
            ++m_pos;
        }
        return v;
    }

    // One escape outside a class.
    Node escape() {
        ++m_pos;  // '\'
        if (at_end()) fail("'\\' at the end of the pattern");
        unsigned char c = peek();
        if (c == 'b') return ++m_pos, Node{Node::Kind::word};
        if (c == 'B') return ++m_pos, Node{Node::Kind::not_word};
        Pattern::Class set;
        if (class_escape(set)) {
            Node n{Node::Kind::cls};
            n.cls = add_class(set);
            return n;
        }
        return literal(char_escape());
    }

    // \d \D \w \W \s \S into `set`; false (nothing consumed) for any other.
    bool class_escape(Pattern::Class& set) {
        unsigned char c = peek();
        bool (*test)(unsigned char) noexcept = nullptr;
        switch (lower(c)) {
            case 'd': test = is_digit; break;
            case 'w': test = is_word; break;
            case 's': test = is_space; break;
            default: return false;
        }
        bool negate = (c >= 'A' && c <= 'Z');
        for (unsigned v = 0; v < 256; ++v) {
            if (test(static_cast<unsigned char>(v)) != negate) set.add(static_cast<unsigned char>(v));
        }
        ++m_pos;
        return true;
    }

    // The octet an escape (after '\') stands for: \t \n \r \f \v \xHH or
    // escaped punctuation.
    unsigned char char_escape() {
        unsigned char c = peek();
        ++m_pos;
        switch (c) {
            case 't': return '\t';
            case 'n': return '\n';
            case 'r': return '\r';
            case 'f': return '\f';
            case 'v': return '\v';
            case 'x': {
                if (m_pos + 2 > m_src.size()) fail("\\x needs two hex digits");
                int hi = hex_value(static_cast<unsigned char>(m_src[m_pos]));
                int lo = hex_value(static_cast<unsigned char>(m_src[m_pos + 1]));
                if (hi < 0 || lo < 0) fail("\\x needs two hex digits");
                m_pos += 2;
                return static_cast<unsigned char>(hi * 16 + lo);
            }
            default: break;
        }
        if (is_digit(c)) {
            --m_pos;
            fail("back-references (\\1) are not supported");
        }
        if (!is_escapable(c)) {
            --m_pos;
            fail("unsupported escape '\\" + std::string(1, static_cast<char>(c)) + "'");
        }
        return c;
    }

    Node char_class() {
        std::size_t start = m_pos;
        ++m_pos;  // '['
        bool negate = false;
        if (!at_end() && peek() == '^') {
            negate = true;
            ++m_pos;
        }
        Pattern::Class set;
        bool any_item = false;
        while (true) {
            if (at_end()) {
                m_pos = start;
                fail("'[' without ']'");
            }
            if (peek() == ']') break;
            any_item = true;
            int lo = class_atom(set);
            // A range needs a character on each side; '-' first or last is literal.
            if (!at_end() && peek() == '-' && m_pos + 1 < m_src.size() && m_src[m_pos + 1] != ']') {
                ++m_pos;
                int hi = class_atom(set);
                if (lo < 0 || hi < 0) fail("a range in [ ] cannot use \\d, \\w or \\s");
                if (hi < lo) fail("range out of order in [ ]");
                for (int v = lo; v <= hi; ++v) set.add(static_cast<unsigned char>(v));
            } else if (lo >= 0) {
                set.add(static_cast<unsigned char>(lo));
            }
        }
        ++m_pos;  // ']'
        if (!any_item) fail("empty [ ]");
        // ECMAScript with the i flag (ECMA-262 §22.2.2.7.3 Canonicalize):
        // fold case first, then negate, so [^a] refuses 'A' too.
        Pattern::Class folded = set;
        for (unsigned v = 'a'; v <= 'z'; ++v) {
            unsigned up = v - ('a' - 'A');
            if (set.has(static_cast<unsigned char>(v)) || set.has(static_cast<unsigned char>(up))) {
                folded.add(static_cast<unsigned char>(v));
                folded.add(static_cast<unsigned char>(up));
            }
        }
        if (negate) {
            for (auto& w : folded.bits) w = ~w;
        }
        Node n{Node::Kind::cls};
        n.cls = add_class(folded);
        return n;
    }

    // One item of a class: its octet, or -1 after adding \d \w \s (or their
    // negations) to `set`.
    int class_atom(Pattern::Class& set) {
        unsigned char c = peek();
        if (c != '\\') {
            ++m_pos;
            return c;
        }
        ++m_pos;
        if (at_end()) fail("'\\' at the end of the pattern");
        if (peek() == 'b' || peek() == 'B') fail("\\b inside [ ] is not supported");
        if (class_escape(set)) return -1;
        return char_escape();
    }

    std::uint16_t add_class(const Pattern::Class& c) {
        if (m_classes.size() >= 0xffff) fail("too many character classes");
        m_classes.push_back(c);
        return static_cast<std::uint16_t>(m_classes.size() - 1);
    }

    static bool starts_with_bol(const Node& n) {
        switch (n.kind) {
            case Node::Kind::bol: return true;
            case Node::Kind::cat: return !n.kids.empty() && starts_with_bol(n.kids.front());
            case Node::Kind::group: return starts_with_bol(n.kids.front());
            default: return false;
        }
    }

    // The longest run of literal octets that every match contains, looking
    // through concatenations and groups only (never into |, ? or *).
    static void required_literal(const Node& n, std::string& run, std::string& best) {
        switch (n.kind) {
            case Node::Kind::byte: run += static_cast<char>(n.byte); return;
            case Node::Kind::cat:
                for (const Node& k : n.kids) required_literal(k, run, best);
                return;
            case Node::Kind::group: required_literal(n.kids.front(), run, best); return;
            case Node::Kind::bol: case Node::Kind::eol: case Node::Kind::word: case Node::Kind::not_word:
            case Node::Kind::empty:
                return;  // zero-width: the run goes on
            default:
                if (run.size() > best.size()) best = run;
                run.clear();
                return;
        }
    }

    void push(std::vector<Pattern::Inst>& prog, Pattern::Inst inst) const {
        if (prog.size() >= Pattern::kMaxProgram) {
            throw CompileError{"too large once compiled (more than " + std::to_string(Pattern::kMaxProgram) +
                               " steps: lower the {n,m} counts)"};
        }
        prog.push_back(inst);
    }

    static std::uint32_t here(const std::vector<Pattern::Inst>& prog) {
        return static_cast<std::uint32_t>(prog.size());
    }

    void emit(const Node& n, std::vector<Pattern::Inst>& prog) const {
        using Op = Pattern::Op;
        switch (n.kind) {
            case Node::Kind::empty: return;
            case Node::Kind::byte: push(prog, {Op::byte, n.byte}); return;
            case Node::Kind::any: push(prog, {Op::any}); return;
            case Node::Kind::cls: push(prog, {Op::cls, 0, n.cls}); return;
            case Node::Kind::bol: push(prog, {Op::bol}); return;
            case Node::Kind::eol: push(prog, {Op::eol}); return;
            case Node::Kind::word: push(prog, {Op::word}); return;
            case Node::Kind::not_word: push(prog, {Op::not_word}); return;
            case Node::Kind::cat:
                for (const Node& k : n.kids) emit(k, prog);
                return;
            case Node::Kind::group:
                if (n.first_group) push(prog, {Op::save, 0, 0, 0});
                emit(n.kids.front(), prog);
                if (n.first_group) push(prog, {Op::save, 0, 0, 1});
                return;
            case Node::Kind::alt: {
                // split L1, next; L1: a; jmp end; next: split L2, ...; last
                std::vector<std::uint32_t> jumps;
                for (std::size_t i = 0; i < n.kids.size(); ++i) {
                    if (i + 1 < n.kids.size()) {
                        std::uint32_t split = here(prog);
                        push(prog, {Op::split, 0, 0, split + 1, 0});
                        emit(n.kids[i], prog);
                        jumps.push_back(here(prog));
                        push(prog, {Op::jmp});
                        prog[split].y = here(prog);
                    } else {
                        emit(n.kids[i], prog);
                    }
                }
                for (std::uint32_t j : jumps) prog[j].x = here(prog);
                return;
            }
            case Node::Kind::repeat: emit_repeat(n, prog); return;
        }
    }

    // x{min,max}: min copies, then either a loop (no upper bound) or
    // max - min optional copies. The preferred branch of each split is the
    // one that takes more (greedy) or less (lazy).
    void emit_repeat(const Node& n, std::vector<Pattern::Inst>& prog) const {
        using Op = Pattern::Op;
        const Node& body = n.kids.front();
        for (unsigned i = 0; i < n.min; ++i) emit(body, prog);
        auto split_to = [&](std::uint32_t at, std::uint32_t take, std::uint32_t skip) {
            prog[at].x = n.greedy ? take : skip;
            prog[at].y = n.greedy ? skip : take;
        };
        if (n.max == kInfinite) {
            std::uint32_t loop = here(prog);
            push(prog, {Op::split});
            emit(body, prog);
            push(prog, {Op::jmp, 0, 0, loop});
            split_to(loop, loop + 1, here(prog));
            return;
        }
        std::vector<std::uint32_t> splits;
        for (unsigned i = n.min; i < n.max; ++i) {
            splits.push_back(here(prog));
            push(prog, {Op::split});
            emit(body, prog);
        }
        for (std::uint32_t s : splits) split_to(s, s + 1, here(prog));
    }

    std::string_view m_src;
    std::size_t m_pos = 0;
    unsigned m_groups = 0;
    std::vector<Pattern::Class> m_classes;
};

std::variant<Pattern, std::string> Pattern::compile(std::string_view source) {
    try {
        return PatternCompiler(source).run();
    } catch (const CompileError& e) {
        return e.message;
    }
}

void Pattern::Scratch::List::reset(std::size_t program_size) {
    if (mark.size() < program_size) mark.resize(program_size, 0);
    if (++gen == 0) {  // wrapped: old marks could look current
        std::fill(mark.begin(), mark.end(), 0);
        gen = 1;
    }
    pcs.clear();
    caps.clear();
}

namespace {

bool contains_ignoring_case(std::string_view text, std::string_view needle_lower) {
    if (needle_lower.size() > text.size()) return false;
    const unsigned char first = static_cast<unsigned char>(needle_lower.front());
    const std::size_t last = text.size() - needle_lower.size();
    for (std::size_t i = 0; i <= last; ++i) {
        if (lower(static_cast<unsigned char>(text[i])) != first) continue;
        std::size_t k = 1;
        while (k < needle_lower.size() &&
               lower(static_cast<unsigned char>(text[i + k])) == static_cast<unsigned char>(needle_lower[k])) {
            ++k;
        }
        if (k == needle_lower.size()) return true;
    }
    return false;
}

}  // namespace

bool Pattern::search(std::string_view text, Scratch& s, std::string* group1) const {
    // Positions are kept in 32 bits; callers cut values far below this.
    if (text.size() > (std::size_t{1} << 30)) text = text.substr(0, std::size_t{1} << 30);
    if (!m_required.empty() && !contains_ignoring_case(text, m_required)) return false;

    const std::size_t size = m_program.size();
    Scratch::List* now = &s.m_lists[0];
    Scratch::List* next = &s.m_lists[1];
    now->reset(size);
    next->reset(size);

    // Follows the instructions that consume nothing from `pc`, in priority
    // order, and queues the ones that do on `list`. An explicit stack, so
    // the depth of a pattern never becomes the depth of the C++ stack.
    std::int32_t cur[2];
    auto add = [&](Scratch::List& list, std::uint32_t start, std::size_t pos, const std::int32_t* caps) {
        cur[0] = caps[0];
        cur[1] = caps[1];
        s.m_stack.clear();
        s.m_stack.push_back({start, -1, 0});
        while (!s.m_stack.empty()) {
            Scratch::Frame f = s.m_stack.back();
            s.m_stack.pop_back();
            if (f.restore_slot >= 0) {
                cur[f.restore_slot] = f.value;
                continue;
            }
            if (list.mark[f.pc] == list.gen) continue;
            list.mark[f.pc] = list.gen;
            const Inst& in = m_program[f.pc];
            switch (in.op) {
                case Op::jmp: s.m_stack.push_back({in.x, -1, 0}); break;
                case Op::split:
                    s.m_stack.push_back({in.y, -1, 0});
                    s.m_stack.push_back({in.x, -1, 0});
                    break;
                case Op::save:
                    s.m_stack.push_back({0, static_cast<std::int32_t>(in.x), cur[in.x]});
                    cur[in.x] = static_cast<std::int32_t>(pos);
                    s.m_stack.push_back({f.pc + 1, -1, 0});
                    break;
                case Op::bol:
                    if (pos == 0) s.m_stack.push_back({f.pc + 1, -1, 0});
                    break;
                case Op::eol:
                    if (pos == text.size()) s.m_stack.push_back({f.pc + 1, -1, 0});
                    break;
                case Op::word:
                case Op::not_word: {
                    bool before = pos > 0 && is_word(static_cast<unsigned char>(text[pos - 1]));
                    bool after = pos < text.size() && is_word(static_cast<unsigned char>(text[pos]));
                    if ((before != after) == (in.op == Op::word)) s.m_stack.push_back({f.pc + 1, -1, 0});
                    break;
                }
                default:
                    list.pcs.push_back(f.pc);
                    list.caps.push_back(cur[0]);
                    list.caps.push_back(cur[1]);
                    break;
            }
        }
    };

    const std::int32_t none[2] = {-1, -1};
    std::int32_t found[2] = {-1, -1};
    bool matched = false;
    for (std::size_t pos = 0;; ++pos) {
        // A new attempt starts here, behind every attempt already running
        // (they started further left, so they take precedence).
        if (!matched && (!m_anchored || pos == 0)) add(*now, 0, pos, none);
        // Nothing running and no attempt left to start: done. (An attempt
        // can die at once, as \b does between two spaces, and the next
        // position must still get its own.)
        if (now->pcs.empty() && (matched || m_anchored)) break;
        next->reset(size);
        const bool more = pos < text.size();
        const unsigned char c = more ? static_cast<unsigned char>(text[pos]) : 0;
        for (std::size_t i = 0; i < now->pcs.size(); ++i) {
            const Inst& in = m_program[now->pcs[i]];
            const std::int32_t* caps = &now->caps[2 * i];
            bool step = false;
            switch (in.op) {
                case Op::byte: step = more && lower(c) == in.byte; break;
                case Op::any: step = more && c != '\n' && c != '\r'; break;
                case Op::cls: step = more && m_classes[in.cls].has(c); break;
                case Op::match:
                    matched = true;
                    found[0] = caps[0];
                    found[1] = caps[1];
                    break;
                default: break;
            }
            if (in.op == Op::match) break;  // lower-priority threads lose to this match
            if (step) add(*next, now->pcs[i] + 1, pos + 1, caps);
        }
        if (!more) break;
        std::swap(now, next);
    }
    if (matched && group1 != nullptr) {
        group1->clear();
        if (m_has_group && found[0] >= 0 && found[1] >= found[0]) {
            group1->assign(text.substr(static_cast<std::size_t>(found[0]),
                                       static_cast<std::size_t>(found[1] - found[0])));
        }
    }
    return matched;
}

}  // namespace ribbon::policy
