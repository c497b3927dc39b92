// pattern.cpp — compiles and searches a client rule's pattern with RE2
// (learn/pattern.hpp says why and with which semantics).
#include "learn/pattern.hpp"

#include <re2/re2.h>

namespace ribbon::learn {

std::variant<Pattern, std::string> Pattern::compile(std::string_view source) {
    RE2::Options options;
    // Octets, not UTF-8: a value is whatever a client wrote, and '.' or
    // [^@>] must match any octet of it, valid UTF-8 or not.
    options.set_encoding(RE2::Options::EncodingLatin1);
    options.set_case_sensitive(false);
    options.set_max_mem(kMaxMemory);
    // RE2 would write refusals to stderr itself; the rules file's error
    // message carries the reason instead.
    options.set_log_errors(false);
    auto re = std::make_shared<const RE2>(re2::StringPiece(source.data(), source.size()), options);
    if (!re->ok()) {
        std::string why = "RE2 refuses it: ";
        why += re->error();
        return why;
    }
    Pattern p;
    p.m_re = std::move(re);
    return p;
}

bool Pattern::search(std::string_view text, std::string* group1) const {
    const re2::StringPiece input(text.data(), text.size());
    // Without a group to report, RE2 answers from its DFA alone.
    if (group1 == nullptr || m_re->NumberOfCapturingGroups() == 0) {
        return m_re->Match(input, 0, input.size(), RE2::UNANCHORED, nullptr, 0);
    }
    re2::StringPiece found[2];
    if (!m_re->Match(input, 0, input.size(), RE2::UNANCHORED, found, 2)) return false;
    group1->assign(found[1].data() == nullptr ? std::string_view() : std::string_view(found[1].data(), found[1].size()));
    return true;
}

}  // namespace ribbon::learn
