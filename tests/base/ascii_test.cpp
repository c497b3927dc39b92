// ascii_test.cpp — src/base/ascii.hpp: ASCII-only case rules, whatever the
// C locale says, and bytes from 0x80 up left alone (UTF-8 passes through).
#include "base/ascii.hpp"

#include <gtest/gtest.h>

#include <clocale>

namespace ribbon {
namespace {

TEST(Ascii, LowerLeavesEverythingButAToZ) {
    EXPECT_EQ(ascii_lower("No-Reply@Bank.EXAMPLE"), "no-reply@bank.example");
    EXPECT_EQ(ascii_lower("@[\\]^_`{"), "@[\\]^_`{");  // the neighbours of A-Z and a-z
    EXPECT_EQ(ascii_lower("\xC3\x9C"
                          "BER"),
              "\xC3\x9C"
              "ber");  // UTF-8 octets unchanged
    EXPECT_EQ(ascii_lower(""), "");
    EXPECT_EQ(ascii_lower('Z'), 'z');
    EXPECT_EQ(ascii_lower('\xC9'), '\xC9');  // Latin-1 É stays
}

TEST(Ascii, UpperIsTheMirror) {
    EXPECT_EQ(ascii_upper("ehlo mail.example"), "EHLO MAIL.EXAMPLE");
    EXPECT_EQ(ascii_upper("@[`{"), "@[`{");
    EXPECT_EQ(ascii_upper("\xC3\xBC"), "\xC3\xBC");
}

TEST(Ascii, ComparisonsFoldOnlyAsciiLetters) {
    EXPECT_TRUE(ascii_iequals("Content-Type", "content-TYPE"));
    EXPECT_FALSE(ascii_iequals("Content-Type", "Content-Typ"));
    EXPECT_FALSE(ascii_iequals("\xC3\x9C", "\xC3\xBC"));  // Ü and ü are not ASCII
    EXPECT_FALSE(ascii_iequals("[", "{"));                // 0x5B and 0x7B differ by 0x20 but are no letters
    EXPECT_TRUE(ascii_istarts_with("Content-Disposition", "content-"));
    EXPECT_FALSE(ascii_istarts_with("Cont", "content-"));
    EXPECT_TRUE(ascii_istarts_with("x", ""));
}

TEST(Ascii, TheCLocaleDoesNotMatter) {
    // Turkish dotted/dotless i is the classic trap for tolower(); with a
    // locale that may not exist here, the answer must not change.
    const char* before = std::setlocale(LC_CTYPE, nullptr);
    std::string saved = before != nullptr ? before : "C";
    std::setlocale(LC_CTYPE, "tr_TR.UTF-8");
    EXPECT_EQ(ascii_lower("TITLE"), "title");
    EXPECT_TRUE(ascii_iequals("I", "i"));
    std::setlocale(LC_CTYPE, saved.c_str());
}

}  // namespace
}  // namespace ribbon
