// The forged-field rule of src/inbound/forged.cpp (RFC 8601 §5): which
// Authentication-Results carry ribbon's authserv-id however they are
// dressed, and the CHGHEADER indexes that remove them.
#include "inbound/forged.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace ribbon::inbound {
namespace {

constexpr std::string_view kOurs = "mx.bank.example";

TEST(AuthservId, TokenQuotedCommentedFolded) {
    EXPECT_EQ(authserv_id_of(" mx.bank.example; smime=pass"), "mx.bank.example");
    EXPECT_EQ(authserv_id_of("mx.bank.example;smime=pass"), "mx.bank.example");
    EXPECT_EQ(authserv_id_of("\n\t mx.bank.example 1; none"), "mx.bank.example");
    EXPECT_EQ(authserv_id_of(" (our (nested \\) comment) MX) MX.Bank.Example; none"), "MX.Bank.Example");
    EXPECT_EQ(authserv_id_of(" \"mx.bank.\\example\"; none"), "mx.bank.example");
    EXPECT_EQ(authserv_id_of(" \"mx.bank\r\n .example\"; none"), "mx.bank .example");
    EXPECT_EQ(authserv_id_of(" mx.bank.example(comment);x"), "mx.bank.example");
    EXPECT_EQ(authserv_id_of(" mx.bank.example\x01; smime=pass"), "mx.bank.example");
    EXPECT_EQ(authserv_id_of(" mx.bank.example\xc2\xa0; smime=pass"), "mx.bank.example");
    EXPECT_EQ(authserv_id_of(""), std::nullopt);
    EXPECT_EQ(authserv_id_of("   "), std::nullopt);
    EXPECT_EQ(authserv_id_of(" ; smime=pass"), std::nullopt);
    EXPECT_EQ(authserv_id_of(" (unclosed mx.bank.example; smime=pass"), std::nullopt);
    EXPECT_EQ(authserv_id_of(" \"unclosed mx.bank.example; smime=pass"), std::nullopt);
    EXPECT_EQ(authserv_id_of(" \"\"; smime=pass"), std::nullopt);
    EXPECT_EQ(authserv_id_of(" (\\"), std::nullopt);
}

TEST(ForgedFields, OursGoOthersStay) {
    std::vector<Field> header = {
        {"Received", " from a by b"},
        {"Authentication-Results", " mx.bank.example; smime=pass"},                // 1: ours
        {"Authentication-Results", " other.example; dkim=pass"},                   // 2: theirs
        {"authentication-results", " (x) \"MX.BANK.EXAMPLE\"; smime=pass"},         // 3: ours
        {"Authentication-Results", " mx.bank.example.evil; smime=pass"},           // 4: another id
        {"Authentication-Results", " (unclosed mx.bank.example; smime=pass"},      // 5: unparsable, names us
        {"Authentication-Results", " (unclosed other.example; smime=pass"},        // 6: unparsable
        {"Ribbon-Continuity", " known; seen=999"},                                 // 1
        {"RIBBON-CONTINUITY", " first"},                                           // 2
        {"X-Authentication-Results", " mx.bank.example; smime=pass"},
        {"Subject", " mx.bank.example; smime=pass"},
    };
    std::vector<Removal> expected = {
        {"RIBBON-CONTINUITY", 2},      {"Ribbon-Continuity", 1},      {"Authentication-Results", 5},
        {"authentication-results", 3}, {"Authentication-Results", 1},
    };
    EXPECT_EQ(forged_fields(header, kOurs), expected);
    EXPECT_EQ(forged_fields(header, "MX.bank.EXAMPLE"), expected);
}

TEST(ForgedFields, ThousandCopiesHugeValues) {
    std::vector<Field> header;
    for (int i = 0; i < 1000; ++i) {
        header.push_back({"Authentication-Results", " mx.bank.example; smime=pass"});
        header.push_back({"Authentication-Results", " other.example;" + std::string(10000, 'x')});
        header.push_back({"Ribbon-Continuity", " known; seen=999"});
    }
    header.push_back({"Authentication-Results", std::string(1'000'000, '(')});
    header.push_back({"Authentication-Results", std::string(200'000, ' ') + "mx.bank.example; none"});
    auto start = std::chrono::steady_clock::now();
    auto removals = forged_fields(header, kOurs);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    ASSERT_EQ(removals.size(), 2001u);
    EXPECT_EQ(removals[0], (Removal{"Authentication-Results", 2002}));
    EXPECT_EQ(removals[1], (Removal{"Ribbon-Continuity", 1000}));
    EXPECT_EQ(removals[2], (Removal{"Authentication-Results", 1999}));
    EXPECT_EQ(removals[3], (Removal{"Ribbon-Continuity", 999}));
    EXPECT_EQ(removals[2000], (Removal{"Authentication-Results", 1}));
}

TEST(ForgedFields, NothingToRemove) {
    EXPECT_TRUE(forged_fields({}, kOurs).empty());
    EXPECT_TRUE(forged_fields({{"From", " a@b"}, {"Authentication-Results", " relay.example; spf=pass"}}, kOurs).empty());
}

}  // namespace
}  // namespace ribbon::inbound
