// The client rules' regular expressions (src/learn/pattern.hpp): what the
// ECMAScript subset accepts and refuses, that it finds the same match and
// first group as std::regex (a backtracking ECMAScript engine, so a second
// implementation) on every shipped pattern, and that hostile values cost
// linear time.
#include "learn/pattern.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "ribbon/client_rules.hpp"

namespace ribbon::test {
namespace {

using policy::Pattern;

Pattern compiled(const std::string& source) {
    auto p = Pattern::compile(source);
    if (auto* why = std::get_if<std::string>(&p)) {
        ADD_FAILURE() << source << ": " << *why;
        return std::get<Pattern>(Pattern::compile("x"));
    }
    return std::get<Pattern>(std::move(p));
}

std::string refused(const std::string& source) {
    auto p = Pattern::compile(source);
    EXPECT_TRUE(std::holds_alternative<std::string>(p)) << source << " was accepted";
    return std::holds_alternative<std::string>(p) ? std::get<std::string>(p) : std::string();
}

// The match and first group, "-" for no match.
std::string run(const std::string& pattern, std::string_view text) {
    Pattern p = compiled(pattern);
    Pattern::Scratch s;
    std::string g;
    if (!p.search(text, s, &g)) return "-";
    return g;
}

TEST(ClientRulesPattern, LiteralsIgnoreAsciiCaseOnly) {
    EXPECT_EQ(run("Thunderbird", "mozilla THUNDERBIRD x"), "");
    EXPECT_EQ(run("thunderbird", "Thunderbyrd"), "-");
    EXPECT_EQ(run("\xc3\xa9t\xc3\xa9", "\xc3\xa9T\xc3\xa9"), "");    // UTF-8 octets match themselves
    EXPECT_EQ(run("\xc3\xa9", "\xc3\x89"), "-");                    // no Unicode case folding
}

TEST(ClientRulesPattern, AnchorsAreTheWholeValue) {
    EXPECT_EQ(run("^Mutt/", "Mutt/2.2.9"), "");
    EXPECT_EQ(run("^Mutt/", "NeoMutt/2022"), "-");
    EXPECT_EQ(run("com>$", "<a@b.com>"), "");
    EXPECT_EQ(run("com>$", "<a@b.com> "), "-");
    EXPECT_EQ(run("^$", ""), "");
    EXPECT_EQ(run("a|^b", "xb"), "-");
    EXPECT_EQ(run("a|^b", "bx"), "");
}

TEST(ClientRulesPattern, FirstGroupIsTheLeftmostFirstMatch) {
    EXPECT_EQ(run("Thunderbird/([0-9][0-9.]*)", "Gecko/20100101 Thunderbird/115.3.1 x"), "115.3.1");
    EXPECT_EQ(run("(a+)(b)", "xaab"), "aa");
    EXPECT_EQ(run("(?:x)(y)", "xy"), "y");
    EXPECT_EQ(run("(a|ab)(c|bcd)", "abcd"), "a");                 // leftmost-first, not longest
    EXPECT_EQ(run("(a+?)a*", "aaa"), "a");                        // lazy
    EXPECT_EQ(run("(a{2,3})", "aaaa"), "aaa");
    EXPECT_EQ(run("(a{2,3}?)", "aaaa"), "aa");
    EXPECT_EQ(run("x(y)?z", "xz"), "");                            // group took no part
    EXPECT_EQ(run("(?:(\\d)\\.)+", "1.2.3."), "3");                // the last repetition
    EXPECT_EQ(run("K-9 Mail(?: for Android)?(?:/([0-9][0-9.]*))?", "K-9 Mail for Android"), "");
}

TEST(ClientRulesPattern, ClassesAndEscapes) {
    EXPECT_EQ(run("^[0-9A-F]{4}$", "a1b2"), "");                   // ranges fold case too
    EXPECT_EQ(run("^[^a]$", "A"), "-");                            // fold, then negate
    EXPECT_EQ(run("^[^a]$", "b"), "");
    EXPECT_EQ(run("^[-a]+$", "-a-"), "");
    EXPECT_EQ(run("^[a-]+$", "a--"), "");
    EXPECT_EQ(run("^[\\]\\\\]+$", "]\\"), "");
    EXPECT_EQ(run("^\\d\\w\\s\\D\\W\\S$", "1_ x.y"), "");
    EXPECT_EQ(run("^[\\d.]+$", "1.2"), "");
    EXPECT_EQ(run("^\\x41\\t$", "a\t"), "");
    EXPECT_EQ(run("\\bMail\\b", "Apple Mail (2.1)"), "");
    EXPECT_EQ(run("\\bMail\\b", "Mailspring"), "-");
    EXPECT_EQ(run("\\BMail", "FooMail"), "");
    EXPECT_EQ(run("^a.c$", "a\nc"), "-");                          // . is no line end
    EXPECT_EQ(run("^a.c$", "a\xff" "c"), "");
    EXPECT_EQ(run("\\(Mac OS X Mail ([0-9.]+)", "1.0 (Mac OS X Mail 16.0 \\(3731\\))"), "16.0");
}

TEST(ClientRulesPattern, EmptyPatternMatchesAnyValue) {
    EXPECT_EQ(run("", ""), "");
    EXPECT_EQ(run("", "anything"), "");
}

TEST(ClientRulesPattern, RefusesWhatItDoesNotImplement) {
    EXPECT_NE(refused("(a)\\1").find("back-references"), std::string::npos);
    EXPECT_NE(refused("a(?=b)").find("look-around"), std::string::npos);
    EXPECT_NE(refused("(?<n>a)").find("named groups"), std::string::npos);
    EXPECT_NE(refused("\\p{L}").find("unsupported escape"), std::string::npos);
    EXPECT_NE(refused("\\u0041").find("unsupported escape"), std::string::npos);
    EXPECT_NE(refused("*a").find("nothing to repeat"), std::string::npos);
    EXPECT_NE(refused("a**").find("two quantifiers"), std::string::npos);
    EXPECT_NE(refused("^*").find("assertion"), std::string::npos);
    EXPECT_NE(refused("a{").find("quantifier"), std::string::npos);
    EXPECT_NE(refused("a{3,1}").find("smaller"), std::string::npos);
    EXPECT_NE(refused("{1}").find("'{'"), std::string::npos);
    EXPECT_NE(refused("a}").find("'}'"), std::string::npos);
    EXPECT_NE(refused("a]").find("']'"), std::string::npos);
    EXPECT_NE(refused("[abc").find("without ']'"), std::string::npos);
    EXPECT_NE(refused("[]").find("empty"), std::string::npos);
    EXPECT_NE(refused("[z-a]").find("out of order"), std::string::npos);
    EXPECT_NE(refused("[\\d-z]").find("range"), std::string::npos);
    EXPECT_NE(refused("[\\b]").find("\\b inside"), std::string::npos);
    EXPECT_NE(refused("(a").find("missing ')'"), std::string::npos);
    EXPECT_NE(refused("a)").find("unmatched ')'"), std::string::npos);
    EXPECT_NE(refused("a\\").find("end of the pattern"), std::string::npos);
    EXPECT_NE(refused("\\xZZ").find("hex"), std::string::npos);
    EXPECT_NE(refused("a{256}").find("above 255"), std::string::npos);
    EXPECT_NE(refused("(((a{255}){255}){255})").find("too large"), std::string::npos);
    EXPECT_NE(refused(std::string(33, '(') + "a" + std::string(33, ')')).find("nested deeper"),
              std::string::npos);
    EXPECT_NE(refused(std::string(Pattern::kMaxSource + 1, 'a')).find("longer than"), std::string::npos);
    // Every message says where.
    EXPECT_NE(refused("ab(?=c)").find("at offset 2"), std::string::npos);
}

// Patterns that make a backtracking matcher take exponential time, or
// recurse once per character, on 4096 octets (kMaxMatchedValue): here
// each is one linear pass.
TEST(ClientRulesPattern, HostileValuesCostLinearTime) {
    const std::string as(kMaxMatchedValue, 'a');
    // No literal every match needs, so the matcher cannot skip the value.
    const std::vector<std::string> patterns = {"(a|a)*(?:b|c)",         "(a*)*(?:b|c)",     "(?:a+)+$(?:x|y)",
                                               "^(a|aa)+(?:c|d)$",     ".*.*.*(?:=|-)",    "(.*)*(?:z|y)",
                                               "(?:(?:a*)*)*(?:b|c)",  "(a?){100}a{100}(?:b|c)"};
    Pattern::Scratch s;
    auto start = std::chrono::steady_clock::now();
    for (const auto& src : patterns) {
        Pattern p = compiled(src);
        std::string g;
        EXPECT_FALSE(p.search(as, s, &g)) << src;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    // Seconds, not minutes, even on a loaded machine: a backtracking matcher
    // would not finish the first pattern.
    EXPECT_LT(ms.count(), 10000);
    // And a match at the very end of a long value still comes out right.
    Pattern p = compiled("(a+)b$");
    std::string g;
    EXPECT_TRUE(p.search(as + "b", s, &g));
    EXPECT_EQ(g.size(), as.size());
}

// ---- a second implementation: std::regex on the shipped patterns -------

std::vector<std::string> shipped_patterns() {
    std::ifstream in(std::filesystem::path(RIBBON_SOURCE_DIR) / "data" / "clients.toml");
    std::vector<std::string> out;
    std::string line;
    const std::string key = "pattern = '";
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) == 0 && line.size() > key.size() && line.back() == '\'') {
            out.push_back(line.substr(key.size(), line.size() - key.size() - 1));
        }
    }
    return out;
}

std::vector<std::string> corpus_values() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(RIBBON_SOURCE_DIR) / "tests" /
                                                              "data" / "inbound")) {
        if (e.path().extension() != ".eml") continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        for (const MailHeader& h : parse_mail_headers(ss.str())) {
            std::string v = h.value.substr(0, 512);  // std::regex recurses per octet
            out.push_back(v);
            std::string upper = v, lower = v;
            for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            out.push_back(upper);
            out.push_back(lower);
            if (v.size() > 2) out.push_back(v.substr(1, v.size() - 2));
        }
    }
    return out;
}

TEST(ClientRulesPattern, AgreesWithStdRegexOnShippedPatterns) {
    const auto patterns = shipped_patterns();
    const auto values = corpus_values();
    ASSERT_GT(patterns.size(), 30u);
    ASSERT_GT(values.size(), 400u);
    Pattern::Scratch s;
    std::size_t matches = 0;
    for (const auto& src : patterns) {
        Pattern mine = compiled(src);
        std::regex theirs(src, std::regex::ECMAScript | std::regex::icase);
        for (const auto& v : values) {
            std::string g;
            bool a = mine.search(v, s, &g);
            std::smatch m;
            bool b = std::regex_search(v, m, theirs);
            ASSERT_EQ(a, b) << "pattern " << src << " on " << v;
            if (a) {
                ++matches;
                std::string expected = m.size() > 1 && m[1].matched ? m[1].str() : std::string();
                EXPECT_EQ(g, expected) << "pattern " << src << " on " << v;
            }
        }
    }
    EXPECT_GT(matches, 40u);  // the comparison saw real matches, not only misses
}

}  // namespace
}  // namespace ribbon::test
