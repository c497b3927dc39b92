// The client rules' regular expressions (src/learn/pattern.hpp, RE2): the
// semantics the rules rely on (ASCII case ignored, ^ and $ the whole value,
// the first group), what RE2 refuses when a rules file is loaded and the
// exact error, that it finds the same match and first group as std::regex
// (a backtracking ECMAScript engine, so a second implementation) on every
// shipped pattern over the corpus, and that hostile values cost linear time.
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

using learn::Pattern;

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
    std::string g;
    if (!p.search(text, &g)) return "-";
    return g;
}

TEST(ClientRulesPattern, LiteralsIgnoreAsciiCase) {
    EXPECT_EQ(run("Thunderbird", "mozilla THUNDERBIRD x"), "");
    EXPECT_EQ(run("thunderbird", "Thunderbyrd"), "-");
    EXPECT_EQ(run("[a-c]+X", "ABCx"), "");
    EXPECT_EQ(run("\xc3\xa9t\xc3\xa9", "\xc3\xa9T\xc3\xa9"), "");    // UTF-8 octets match themselves
    EXPECT_EQ(run("\xc3\xa9", "\xc3\x89"), "-");                    // no Unicode case folding
    // RE2 reads the octets as Latin-1 and folds its letters too (0xC0-0xDE
    // and 0xE0-0xFE); the engine before RE2 folded ASCII only.
    EXPECT_EQ(run("\xe9", "\xc9"), "");
    EXPECT_EQ(run("k", "\xe2\x84\xaa"), "-");                           // no Kelvin sign for k
}

TEST(ClientRulesPattern, AnchorsAreTheWholeValue) {
    EXPECT_EQ(run("^Mutt/", "Mutt/2.2.9"), "");
    EXPECT_EQ(run("^Mutt/", "NeoMutt/2022"), "-");
    EXPECT_EQ(run("com>$", "<a@b.com>"), "");
    EXPECT_EQ(run("com>$", "<a@b.com> "), "-");
    EXPECT_EQ(run("com>$", "<a@b.com>\n"), "-");                   // not before a final LF either
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
    EXPECT_EQ(run("no group", "No Group"), "");
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
    EXPECT_EQ(run("^a.c$", "a\nc"), "-");                          // . is no LF
    EXPECT_EQ(run("^a.c$", "a\xff" "c"), "");
    EXPECT_EQ(run("\\(Mac OS X Mail ([0-9.]+)", "1.0 (Mac OS X Mail 16.0 \\(3731\\))"), "16.0");
    // RE2's, where the engine before it differed: . matches CR, \s is
    // [\t\n\f\r ] without VT.
    EXPECT_EQ(run("^a.c$", "a\rc"), "");
    EXPECT_EQ(run("^\\s$", "\v"), "-");
}

TEST(ClientRulesPattern, EmptyPatternMatchesAnyValue) {
    EXPECT_EQ(run("", ""), "");
    EXPECT_EQ(run("", "anything"), "");
}

// What RE2 refuses, with its reason, as the rules file's error shows it.
TEST(ClientRulesPattern, RefusesWhatRe2Refuses) {
    EXPECT_EQ(refused("(a)\\1"), "RE2 refuses it: invalid escape sequence: \\1");            // back-reference
    EXPECT_EQ(refused("a(?=b)"), "RE2 refuses it: invalid perl operator: (?=");              // look-ahead
    EXPECT_EQ(refused("a(?!b)"), "RE2 refuses it: invalid perl operator: (?!");
    EXPECT_EQ(refused("(?<=a)b"), "RE2 refuses it: invalid perl operator: (?<");             // look-behind
    EXPECT_EQ(refused("(?<n>a)"), "RE2 refuses it: invalid perl operator: (?<");             // ECMAScript's named group
    EXPECT_EQ(refused("\\u0041"), "RE2 refuses it: invalid escape sequence: \\u");
    EXPECT_EQ(refused("*a"), "RE2 refuses it: no argument for repetition operator: *");
    EXPECT_EQ(refused("a**"), "RE2 refuses it: bad repetition operator: **");
    EXPECT_EQ(refused("a++"), "RE2 refuses it: bad repetition operator: ++");               // possessive
    EXPECT_EQ(refused("a{3,1}"), "RE2 refuses it: invalid repetition size: {3,1}");
    EXPECT_EQ(refused("a{1001}"), "RE2 refuses it: invalid repetition size: {1001}");
    EXPECT_EQ(refused("((a{100}){100})"), "RE2 refuses it: invalid repetition size: {100}");
    EXPECT_EQ(refused("[abc"), "RE2 refuses it: missing ]: [abc");
    EXPECT_EQ(refused("[z-a]"), "RE2 refuses it: invalid character class range: z-a");
    EXPECT_EQ(refused("[\\b]"), "RE2 refuses it: invalid escape sequence: \\b");
    EXPECT_EQ(refused("(a"), "RE2 refuses it: missing ): (a");
    EXPECT_EQ(refused("a)"), "RE2 refuses it: unexpected ): a)");
    EXPECT_EQ(refused("a\\"), "RE2 refuses it: trailing \\");
    EXPECT_EQ(refused("\\xZZ"), "RE2 refuses it: invalid escape sequence: \\xZZ");
    // Within RE2's syntax but over kMaxMemory once compiled.
    std::string huge;
    for (int i = 0; i < 100; ++i) huge += "[a-z]{1000}";
    EXPECT_EQ(refused(huge), "RE2 refuses it: pattern too large - compile failed");
}

// RE2 syntax the rules accept beyond the ECMAScript subset of the engine
// before it (docs/LEARNING.md lists it).
TEST(ClientRulesPattern, AcceptsRe2Syntax) {
    EXPECT_EQ(run("^(?P<v>[0-9]+)$", "42"), "42");                 // a named group is a group
    EXPECT_EQ(run("^\\pL+$", "Abc"), "");
    EXPECT_EQ(run("^[[:alpha:]]+$", "Abc"), "");
    EXPECT_EQ(run("^\\Qa.b\\E$", "a.b"), "");
    EXPECT_EQ(run("^\\Qa.b\\E$", "axb"), "-");
    EXPECT_EQ(run("(?-i:Mail)", "mail"), "-");                     // case, where a rule asks
    EXPECT_EQ(run("\\Aab\\z", "ab"), "");
    EXPECT_EQ(run("^a{$", "a{"), "");                              // not a repetition: literal
    EXPECT_EQ(run("^a{256}$", std::string(256, 'a')), "");          // n, m up to 1000
}

// Patterns that make a backtracking matcher take exponential time, or
// recurse once per character: here each is one linear pass.
TEST(ClientRulesPattern, HostileValuesCostLinearTime) {
    const std::string as(kMaxMatchedValue, 'a');
    const std::vector<std::string> patterns = {"(a|a)*(?:b|c)",         "(a*)*(?:b|c)",     "(?:a+)+$(?:x|y)",
                                               "^(a|aa)+(?:c|d)$",     ".*.*.*(?:=|-)",    "(.*)*(?:z|y)",
                                               "(?:(?:a*)*)*(?:b|c)",  "(a?){100}a{100}(?:b|c)"};
    auto start = std::chrono::steady_clock::now();
    for (const auto& src : patterns) {
        Pattern p = compiled(src);
        std::string g;
        EXPECT_FALSE(p.search(as, &g)) << src;
    }
    // The classic: 100 000 a's and a b, far beyond what detect() passes
    // (kMaxMatchedValue), with and without the group reported.
    const std::string long_value = std::string(100000, 'a') + "b";
    Pattern classic = compiled("(a+)+$");
    std::string g;
    EXPECT_FALSE(classic.search(long_value, &g));
    EXPECT_FALSE(classic.search(long_value));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    // Well under a second even on a loaded machine: a backtracking matcher
    // would not finish the first pattern.
    EXPECT_LT(ms.count(), 2000);
    // And a match at the very end of a long value still comes out right.
    Pattern p = compiled("(a+)b$");
    EXPECT_TRUE(p.search(long_value, &g));
    EXPECT_EQ(g.size(), 100000u);
}

// A construct RE2 refuses is refused when the rules file is loaded, with
// the file, line, rule, signal and RE2's reason; nothing is matched later.
TEST(ClientRulesPattern, RefusedWhenTheRulesFileIsLoaded) {
    auto rules_with = [](const std::string& pattern) {
        std::string text =
            "[[client]]\n"
            "name = \"Example Mailer\"\n"
            "smime = \"supported\"\n"
            "confidence = 0.5\n"
            "[[client.signal]]\n"
            "header = \"X-Mailer\"\n"
            "pattern = '";
        text += pattern;
        text += "'\n";
        return text;
    };
    for (const auto& [pattern, reason] : std::vector<std::pair<std::string, std::string>>{
             {"^Example (\\d)\\.\\1", "invalid escape sequence: \\1"},
             {"^Example(?= Mailer)", "invalid perl operator: (?="}}) {
        auto r = ClientRules::parse(rules_with(pattern), "local.toml");
        ASSERT_FALSE(r.ok()) << pattern;
        EXPECT_EQ(r.error().code(), Errc::bad_config);
        EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
        std::string expected = "local.toml:7: client rule 1 (\"Example Mailer\"), signal 1: pattern '";
        expected += pattern;
        expected += "': RE2 refuses it: ";
        expected += reason;
        EXPECT_EQ(r.error().message(), expected);
    }
    ASSERT_TRUE(ClientRules::parse(rules_with("^Example (\\d)"), "local.toml").ok());
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
    std::size_t matches = 0;
    for (const auto& src : patterns) {
        Pattern mine = compiled(src);
        std::regex theirs(src, std::regex::ECMAScript | std::regex::icase);
        for (const auto& v : values) {
            std::string g;
            bool a = mine.search(v, &g);
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
