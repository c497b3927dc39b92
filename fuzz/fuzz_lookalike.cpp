// fuzz_lookalike.cpp — libFuzzer target for ribbon::LookalikeIndex
// (ribbon/lookalike.hpp): the domains it reads come from the From and the
// certificate of inbound mail, so every byte of them is the sender's.
//
// Input: lines (LF-separated, at most 64 of them), each one domain as raw
// bytes (UTF-8 or not, CR and NUL included). Each line is
//  - looked up with find() in an index of a few known domains, built once
//    at start-up (ASCII, a Cyrillic lookalike given as U-labels and as its
//    A-label, a subdomain, a hyphenated name, keys of 2 to 6 characters);
//  - looked up in an index made afresh for each input, which holds the
//    lines before it, and then add()ed to it. A fresh index rather than
//    the shared one: what an input finds
//    must not depend on the inputs before it, or a reproducer would not
//    reproduce, and the shared index would grow with every run.
//
// Aborts when a promise of the header breaks: a reported domain not in
// lower-case A-label form within 253 octets (rule 1); a match with no
// known domain, or with itself; a detail that does not start "lookalike
// of <known domain>" or holds anything but printable ASCII; find() on the
// reported A-label form answering otherwise than on the input (the answer
// is a function of the A-label form); a domain add()ed and then found as
// a lookalike (rule 3: a known domain is never its own lookalike); add()
// growing the index by more than one, or a second add() of the same name
// answering otherwise or growing it at all; input over 1,024 bytes
// accepted.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/lookalike.hpp"

namespace {

constexpr std::size_t kMaxInput = 64 * 1024;
constexpr std::size_t kMaxLines = 64;
constexpr std::size_t kMaxDomainInput = 1024;  // the header's rule 1
constexpr std::size_t kMaxDomainOctets = 253;

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_lookalike: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
                 static_cast<int>(std::min<std::size_t>(detail.size(), 300)), detail.data());
    std::abort();
}

const ribbon::LookalikeIndex& known_index() {
    static const ribbon::LookalikeIndex index = [] {
        ribbon::LookalikeIndex built;
        const ribbon::KnownDomain known[] = {
            {"bank.example", true, 0},
            {"paypal.example", false, 1234},
            {"mybank.test", false, 7},
            {"mail.shop.example", false, 3},
            {"my-bank.example", false, 2},
            {"ab.example", false, 1},
            {"b\xd0\xb0nk.test", false, 5},  // "bаnk" with U+0430 CYRILLIC SMALL LETTER A
            {"xn--bnk-6cd.example", false, 4},
            {"google.example.test", false, 9},
        };
        built.reserve(std::size(known));
        for (const auto& k : known) {
            if (!built.add(k)) die("a known domain was refused", k.domain);
        }
        return built;
    }();
    return index;
}

bool a_label_form(std::string_view d) {
    if (d.empty() || d.size() > kMaxDomainOctets) return false;
    for (char c : d) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
            return false;
        }
    }
    return true;
}

bool printable_ascii(std::string_view s) {
    for (char c : s) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

// The header's promises about one match of `input`.
void check_match(const ribbon::LookalikeIndex& index, std::string_view input,
                 const std::optional<ribbon::LookalikeMatch>& m) {
    if (!m) return;
    if (input.size() > kMaxDomainInput) die("a name over 1,024 bytes was compared", input);
    if (!a_label_form(m->domain)) die("reported domain not in A-label form", m->domain);
    if (!a_label_form(m->resembles.domain)) die("known domain not in A-label form", m->domain);
    if (m->domain == m->resembles.domain) die("a domain reported as its own lookalike", m->domain);
    if (!m->detail.starts_with("lookalike of " + m->resembles.domain + " (")) {
        die("detail does not name the known domain", m->detail);
    }
    if (!printable_ascii(m->detail)) die("detail holds more than printable ASCII", m->detail);
    if (ribbon::lookalike_kind_name(m->kind).empty()) die("a kind without a name", m->domain);
    const auto again = index.find(m->domain);
    if (!again || again->resembles.domain != m->resembles.domain || again->kind != m->kind ||
        again->detail != m->detail) {
        die("the A-label form is answered otherwise than the input", input);
    }
}

void check_add(ribbon::LookalikeIndex& index, std::string_view line) {
    const std::size_t before = index.size();
    const bool added = index.add({std::string(line), false, 1});
    const std::size_t after = index.size();
    if (after > before + 1 || (!added && after != before)) die("add() grew the index wrongly", line);
    if (!added) {
        if (index.find(line)) die("a refused name was compared", line);
        return;
    }
    if (line.size() > kMaxDomainInput) die("a name over 1,024 bytes was added", line);
    if (!index.add({std::string(line), true, 2}) || index.size() != after) {
        die("adding the same name again answered otherwise", line);
    }
    if (const auto m = index.find(line)) die("a known domain reported as a lookalike", m->detail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > kMaxInput) return 0;
    const ribbon::LookalikeIndex& known = known_index();
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> lines;
    for (std::size_t pos = 0; pos <= input.size() && lines.size() < kMaxLines;) {
        std::size_t end = input.find('\n', pos);
        if (end == std::string_view::npos) end = input.size();
        lines.push_back(input.substr(pos, end - pos));
        pos = end + 1;
    }
    for (const std::string_view line : lines) check_match(known, line, known.find(line));
    // Each line against the lines before it, then known itself.
    ribbon::LookalikeIndex fresh;
    for (const std::string_view line : lines) {
        check_match(fresh, line, fresh.find(line));
        check_add(fresh, line);
    }
    return 0;
}
