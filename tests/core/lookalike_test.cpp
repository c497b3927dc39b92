// lookalike_test.cpp — domains made to be mistaken for known ones
// (ribbon/lookalike.hpp): each trick the issue names, what must not be
// reported, the Public Suffix List and its fallback, hostile input, and
// one index shared by threads. The A-label of a Unicode lookalike is
// checked against Python's own IDNA codec.
#include "ribbon/lookalike.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace ribbon::test {
namespace {

// "bаnk" with U+0430 CYRILLIC SMALL LETTER A.
const std::string kCyrillicBank = "b\xd0\xb0nk.example";

LookalikeIndex index_of(const std::vector<KnownDomain>& known, const std::string* psl = nullptr) {
    LookalikeIndex index = psl != nullptr ? LookalikeIndex(*psl) : LookalikeIndex();
    for (const auto& k : known) EXPECT_TRUE(index.add(k)) << k.domain;
    return index;
}

void expect_match(const LookalikeIndex& index, const std::string& domain, const std::string& ascii,
                  const std::string& resembles, LookalikeKind kind) {
    const auto m = index.find(domain);
    ASSERT_TRUE(m.has_value()) << domain;
    EXPECT_EQ(m->domain, ascii) << domain;
    EXPECT_EQ(m->resembles.domain, resembles) << domain;
    EXPECT_EQ(lookalike_kind_name(m->kind), lookalike_kind_name(kind)) << domain;
}

TEST(Lookalike, KindNames) {
    EXPECT_EQ(lookalike_kind_name(LookalikeKind::confusable), "confusable");
    EXPECT_EQ(lookalike_kind_name(LookalikeKind::edit_distance), "edit-distance");
    EXPECT_EQ(lookalike_kind_name(LookalikeKind::hyphenation), "hyphenation");
    EXPECT_EQ(lookalike_kind_name(LookalikeKind::other_tld), "other-tld");
}

TEST(Lookalike, DigitOneForLetterL) {
    const auto index = index_of({{"paypal.example", false, 1234}});
    const auto m = index.find("paypa1.example");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->domain, "paypa1.example");
    EXPECT_EQ(m->resembles.domain, "paypal.example");
    EXPECT_FALSE(m->resembles.own);
    EXPECT_EQ(m->resembles.seen, 1234u);
    EXPECT_EQ(m->kind, LookalikeKind::confusable);
    EXPECT_EQ(m->detail,
              "lookalike of paypal.example (known signer, seen 1,234 times): \"paypa1\" reads as "
              "\"paypal\" (confusable characters, UTS #39)");
    // Digit zero for letter o: confusables.txt maps it to capital O, which
    // a DNS name folds.
    const auto zero = index_of({{"google.example", false, 3}});
    expect_match(zero, "g00gle.example", "g00gle.example", "google.example",
                 LookalikeKind::confusable);
}

TEST(Lookalike, RnForM) {
    const auto index = index_of({{"mybank.example", true, 0}});
    const auto m = index.find("rnybank.example");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->resembles.domain, "mybank.example");
    EXPECT_EQ(m->kind, LookalikeKind::confusable);
    EXPECT_EQ(m->detail,
              "lookalike of mybank.example (own signer domain): \"rnybank\" reads as \"mybank\" "
              "(confusable characters, UTS #39)");
    // And the other way round.
    const auto reverse = index_of({{"rnybank.example", false, 1}});
    expect_match(reverse, "mybank.example", "mybank.example", "rnybank.example",
                 LookalikeKind::confusable);
}

TEST(Lookalike, CyrillicLettersAsULabelAndALabel) {
    const auto index = index_of({{"bank.example", false, 1}});
    for (const std::string& domain :
         {kCyrillicBank, std::string("xn--bnk-6cd.example"), std::string("XN--BNK-6CD.Example"),
          std::string("B\xd0\x90NK.example") /* capital А */}) {
        const auto m = index.find(domain);
        ASSERT_TRUE(m.has_value()) << domain;
        EXPECT_EQ(m->domain, "xn--bnk-6cd.example") << domain;
        EXPECT_EQ(m->kind, LookalikeKind::confusable) << domain;
        EXPECT_EQ(m->detail,
                  "lookalike of bank.example (known signer, seen 1 time): \"xn--bnk-6cd\" reads as "
                  "\"bank\" (confusable characters, UTS #39)");
    }
    // Under another suffix too: the label looks the same.
    expect_match(index, "b\xd0\xb0nk.org", "xn--bnk-6cd.org", "bank.example",
                 LookalikeKind::confusable);
    // A Unicode lookalike given as the known domain is stored as A-labels.
    const auto reverse = index_of({{kCyrillicBank, false, 2}});
    expect_match(reverse, "bank.example", "bank.example", "xn--bnk-6cd.example",
                 LookalikeKind::confusable);
}

TEST(Lookalike, ALabelAgreesWithPython) {
    // Another IDNA implementation (Python's codec, IDNA 2003, which agrees
    // with UTS #46 for this label) gives the same A-label.
    const auto py = run_process(
        {"python3", "-c", "import sys; print(sys.argv[1].encode('idna').decode())", kCyrillicBank});
    if (!py.start_error.empty()) GTEST_SKIP() << "no python3: " << py.start_error;
    ASSERT_EQ(py.exit_code, 0) << py.describe();
    const auto index = index_of({{"bank.example", false, 1}});
    const auto m = index.find(kCyrillicBank);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->domain + "\n", py.out);
}

TEST(Lookalike, HyphenOrDotMoved) {
    const auto index = index_of({{"bank.example", false, 7}, {"mybank.example", false, 3}});
    for (const char* domain : {"bank-example.com", "bankexample.com", "bank-example.example"}) {
        const auto m = index.find(domain);
        ASSERT_TRUE(m.has_value()) << domain;
        EXPECT_EQ(m->resembles.domain, "bank.example") << domain;
        EXPECT_EQ(m->kind, LookalikeKind::hyphenation) << domain;
    }
    EXPECT_EQ(index.find("bank-example.com")->detail,
              "lookalike of bank.example (known signer, seen 7 times): \"bank-example.com\" is "
              "\"bank.example\" with hyphens or dots moved");
    expect_match(index, "my-bank.example", "my-bank.example", "mybank.example",
                 LookalikeKind::hyphenation);
    // A dot added: the known label split in two.
    const auto joined = index_of({{"bankexample.example", false, 1}});
    expect_match(joined, "bank.example", "bank.example", "bankexample.example",
                 LookalikeKind::hyphenation);
}

TEST(Lookalike, SameNameUnderAnotherSuffix) {
    const auto index = index_of({{"bank.example", false, 1234}});
    const auto org = index.find("bank.org");
    ASSERT_TRUE(org.has_value());
    EXPECT_EQ(org->kind, LookalikeKind::other_tld);
    EXPECT_EQ(org->detail,
              "lookalike of bank.example (known signer, seen 1,234 times): \"bank.org\" is "
              "\"bank.example\" under another public suffix");
    // The whole known name inside another organisation's domain.
    const auto net = index.find("bank.example.net");
    ASSERT_TRUE(net.has_value());
    EXPECT_EQ(net->kind, LookalikeKind::other_tld);
    EXPECT_EQ(net->detail,
              "lookalike of bank.example (known signer, seen 1,234 times): \"bank.example.net\" "
              "holds \"bank.example\" under another organisation's name");
    expect_match(index, "login.bank.example.evil.net", "login.bank.example.evil.net",
                 "bank.example", LookalikeKind::other_tld);
    expect_match(index, "login.b\xd0\xb0nk.example.evil.net", "login.xn--bnk-6cd.example.evil.net",
                 "bank.example", LookalikeKind::confusable);
}

TEST(Lookalike, SuffixesOfTheSystemList) {
    const auto index = index_of({{"bank.example", false, 1}});
    // libpsl has its built-in copy when Debian's file is missing.
    ASSERT_TRUE(index.has_public_suffix_list());
    // "co.uk" is one public suffix: "bank" is the registrable label.
    expect_match(index, "bank.co.uk", "bank.co.uk", "bank.example", LookalikeKind::other_tld);
    // Two organisations under one public suffix are two.
    const auto uk = index_of({{"bank.co.uk", false, 1}});
    EXPECT_FALSE(uk.find("other.co.uk").has_value());
    expect_match(uk, "bnak.co.uk", "bnak.co.uk", "bank.co.uk", LookalikeKind::edit_distance);
    expect_match(uk, "bank.co.uk.evil.net", "bank.co.uk.evil.net", "bank.co.uk",
                 LookalikeKind::other_tld);
    // libpsl reads only a domain's last 9 labels: deeper names keep their
    // registrable label (an edit counts under the same suffix only).
    expect_match(uk, "a.b.c.d.e.f.g.h.i.bnak.co.uk", "a.b.c.d.e.f.g.h.i.bnak.co.uk", "bank.co.uk",
                 LookalikeKind::edit_distance);
    EXPECT_FALSE(uk.find("a.b.c.d.e.f.g.h.i.j.bank.co.uk").has_value());
}

TEST(Lookalike, PublicSuffixListInDafsaForm) {
    // Debian's compiled list, which the default constructor loads through
    // psl_latest(), given as a file: the same suffixes.
    const std::string dafsa = "/usr/share/publicsuffix/public_suffix_list.dafsa";
    if (!std::ifstream(dafsa)) GTEST_SKIP() << "no " << dafsa << " (package publicsuffix)";
    LookalikeIndex index(dafsa);
    EXPECT_TRUE(index.has_public_suffix_list());
    ASSERT_TRUE(index.add({"bank.co.uk", false, 1}));
    EXPECT_FALSE(index.add({"co.uk", false, 1}));
    EXPECT_FALSE(index.find("other.co.uk").has_value());  // another organisation
    expect_match(index, "bnak.co.uk", "bnak.co.uk", "bank.co.uk", LookalikeKind::edit_distance);
}

TEST(Lookalike, OneLetterEdits) {
    const auto index = index_of({{"bank.example", false, 12}});
    const std::pair<const char*, const char*> cases[] = {
        {"bnak.example", "\"bnak\" is \"bank\" with two letters swapped"},
        {"banks.example", "\"banks\" is \"bank\" with one letter added"},
        {"bak.example", "\"bak\" is \"bank\" with one letter dropped"},
        {"bnk.example", "\"bnk\" is \"bank\" with one letter dropped"},
        {"mail.bnak.example", "\"bnak\" is \"bank\" with two letters swapped"},
    };
    for (const auto& [domain, why] : cases) {
        const auto m = index.find(domain);
        ASSERT_TRUE(m.has_value()) << domain;
        EXPECT_EQ(m->kind, LookalikeKind::edit_distance) << domain;
        EXPECT_EQ(m->detail,
                  std::string("lookalike of bank.example (known signer, seen 12 times): ") + why);
    }
    // Edits are counted on skeletons: a Cyrillic а and an added s.
    expect_match(index, "b\xd0\xb0nks.example", "xn--bnks-53d.example", "bank.example",
                 LookalikeKind::edit_distance);
    // A replaced letter counts from 5 characters.
    const auto longer = index_of({{"mybank.example", false, 1}});
    const auto m = longer.find("mybunk.example");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(
        m->detail,
        "lookalike of mybank.example (known signer, seen 1 time): \"mybunk\" is \"mybank\" with "
        "one letter replaced");
}

TEST(Lookalike, WhatIsNotALookalike) {
    const auto index = index_of({{"bank.example", true, 0}, {"abc.example", false, 5}});
    for (const char* domain : {
             "bank.example", "BANK.Example", "bank.example.", "Bank.EXAMPLE.",  // itself, any case
             "mail.bank.example", "a.b.c.bank.example",        // the same organisation
             "example.org", "example.example", "bankexample",  // unrelated, or no suffix
             "tank.example", "bang.example",  // one replaced letter in a 4-letter label
             "bank.evil.net",                 // a known label alone in a subdomain
             "abd.example", "ab.example", "abcd.example",  // edits of a 3-letter label
             "bnak.org",                                   // an edit under another suffix
         }) {
        EXPECT_FALSE(index.find(domain).has_value())
            << domain << ": " << index.find(domain)->detail;
    }
    // Keys of one or two characters match nothing.
    const auto tiny = index_of({{"ab.example", false, 1}});
    EXPECT_FALSE(tiny.find("ab.org").has_value());
    EXPECT_FALSE(tiny.find("a-b.example").has_value());
    // A subdomain as the known domain: its organisation is known.
    const auto sub = index_of({{"mail.bank.example", false, 9}});
    EXPECT_FALSE(sub.find("bank.example").has_value());
    EXPECT_FALSE(sub.find("www.bank.example").has_value());
    expect_match(sub, "bnak.example", "bnak.example", "mail.bank.example",
                 LookalikeKind::edit_distance);
    // An empty index knows nothing.
    EXPECT_FALSE(LookalikeIndex().find("bank.example").has_value());
}

TEST(Lookalike, OwnBeforeRecordedThenMostSeen) {
    const auto index = index_of(
        {{"paypal.org", false, 9999}, {"paypal.example", true, 0}, {"paypal.test", false, 5}});
    const auto m = index.find("paypa1.net");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->resembles.domain, "paypal.example");
    EXPECT_TRUE(m->resembles.own);
    const auto recorded = index_of({{"paypal.test", false, 5}, {"paypal.org", false, 9999}});
    EXPECT_EQ(recorded.find("paypa1.net")->resembles.domain, "paypal.org");
    // With equal standing, the stronger kind: the same label before an edit.
    const auto kinds = index_of({{"banks.example", false, 1}, {"bank.org", false, 1}});
    const auto k = kinds.find("bank.example");
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->resembles.domain, "bank.org");
    EXPECT_EQ(k->kind, LookalikeKind::other_tld);
}

TEST(Lookalike, AddingAgainUpdates) {
    LookalikeIndex index;
    EXPECT_TRUE(index.add({"bank.example", false, 10}));
    EXPECT_TRUE(index.add({"BANK.example.", true, 3}));
    EXPECT_TRUE(index.add({"Bank.Example", false, 7}));
    EXPECT_EQ(index.size(), 1u);
    const auto m = index.find("bnak.example");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->resembles.domain, "bank.example");
    EXPECT_TRUE(m->resembles.own);
    EXPECT_EQ(m->resembles.seen, 10u);
    // The U-label and A-label forms are one domain.
    EXPECT_TRUE(index.add({kCyrillicBank, false, 1}));
    EXPECT_TRUE(index.add({"xn--bnk-6cd.example", false, 2}));
    EXPECT_EQ(index.size(), 2u);
}

// Names that are no domain: add() false, find() nothing, at once.
std::vector<std::string> hostile_names() {
    std::string labels_10000;
    for (int i = 0; i < 10000; ++i) labels_10000 += "a.";
    labels_10000 += "example";
    return {
        "",
        ".",
        "..",
        "bank",           // one label
        "bank..example",  // empty label
        ".bank.example",
        "-bank.example",
        "bank-.example",  // hyphen at an end
        "ban_k.example",
        "bank.exa mple",
        "bank@example",
        std::string("ban\x01k.example"),
        std::string("bank\x7f.example"),
        std::string("bank\0.example", 13),  // NUL inside
        std::string("bank\r\n.example"),
        "\xff\xfe.example",
        "b\xd0.example",
        "\xc0\xaf.example",  // invalid UTF-8
        "xn--.example",
        "xn--zz--.example",
        "xn--bnk-6cd-.example",             // A-labels that do not decode
        std::string(64, 'a') + ".example",  // a label over 63 octets
        std::string(250, 'a') + ".example",
        std::string(10 * 1024 * 1024, 'a') + ".example",  // 10 MB
        labels_10000,                                     // 10,000 labels
        "co.uk",
        "com",                      // public suffixes
        "192.0.2.1",                // an all-numeric last label
        "b\xe2\x80\xaenk.example",  // U+202E, a bidi control
    };
}

TEST(Lookalike, HostileInputIsNoDomain) {
    LookalikeIndex index = index_of({{"bank.example", false, 1}});
    for (const auto& name : hostile_names()) {
        const auto start = std::chrono::steady_clock::now();
        EXPECT_FALSE(index.add({name, true, 1})) << name.substr(0, 80);
        EXPECT_FALSE(index.find(name).has_value()) << name.substr(0, 80);
        const auto took = std::chrono::steady_clock::now() - start;
        EXPECT_LT(took, std::chrono::milliseconds(50)) << name.substr(0, 80);
    }
    EXPECT_EQ(index.size(), 1u);
    // The longest valid names are compared in bounded time: 127 labels.
    std::string many;
    for (int i = 0; i < 120; ++i) many += "b.";
    many += "bank.example";
    ASSERT_LE(many.size(), 253u);
    EXPECT_FALSE(index.find(many).has_value());  // a subdomain of bank.example
    std::string many_other;
    for (int i = 0; i < 118; ++i) many_other += "b.";
    many_other += "bank.example.net";
    ASSERT_LE(many_other.size(), 253u);
    expect_match(index, many_other, many_other, "bank.example", LookalikeKind::other_tld);
    // Exactly 63 and 253 octets are still domains.
    EXPECT_TRUE(index.add({std::string(63, 'b') + ".example", false, 1}));
    std::string longest =
        std::string(63, 'c') + "." + std::string(63, 'c') + "." + std::string(63, 'c') + ".";
    longest += std::string(253 - longest.size() - 8, 'c') + ".example";
    ASSERT_EQ(longest.size(), 253u);
    EXPECT_TRUE(index.add({longest, false, 1}));
    EXPECT_FALSE(index.add({"c" + longest, false, 1}));
}

TEST(Lookalike, PublicSuffixListFile) {
    TempDir dir("lookalike");
    const std::string path = (dir / "list.dat").string();
    std::ofstream(path) << "// a list in the Public Suffix List's format\n"
                           "example\n\n"
                           "ac.example   trailing words are ignored\n"
                           "*.wild.example\n"
                           "!www.wild.example\n"
                           "\xe4\xbe\x8b.test\n"  // a Unicode rule, kept as its A-label
                           "!lonely\n";           // an exception of one label: the default rule
    LookalikeIndex index(path);
    EXPECT_TRUE(index.has_public_suffix_list());
    ASSERT_TRUE(index.add({"bank.ac.example", false, 1}));
    // "ac.example" is a suffix: "bnak.ac.example" is another organisation
    // (by the default rule alone it would be the same, "ac.example").
    expect_match(index, "bnak.ac.example", "bnak.ac.example", "bank.ac.example",
                 LookalikeKind::edit_distance);
    expect_match(index, "bank.test", "bank.test", "bank.ac.example", LookalikeKind::other_tld);
    // *.wild.example: x.wild.example is a suffix.
    ASSERT_TRUE(index.add({"bank.x.wild.example", false, 2}));
    expect_match(index, "bnak.x.wild.example", "bnak.x.wild.example", "bank.x.wild.example",
                 LookalikeKind::edit_distance);
    // The exception: www.wild.example is registrable, so bank.www.wild.example is its subdomain.
    ASSERT_TRUE(index.add({"www.wild.example", false, 1}));
    EXPECT_FALSE(index.find("bank.www.wild.example").has_value());
    EXPECT_FALSE(index.add({"y.wild.example", false, 1}));  // a public suffix itself
    EXPECT_TRUE(index.add({"bank.lonely", false, 1}));
    ASSERT_TRUE(index.add({"bank.\xe4\xbe\x8b.test", false, 3}));
    expect_match(index, "bnak.xn--fsq.test", "bnak.xn--fsq.test", "bank.xn--fsq.test",
                 LookalikeKind::edit_distance);
}

TEST(Lookalike, WithoutAPublicSuffixListTheLastLabelIsTheSuffix) {
    LookalikeIndex index("");
    EXPECT_FALSE(index.has_public_suffix_list());
    ASSERT_TRUE(index.add({"bank.co.uk", false, 1}));
    // The fallback draws the organisation too wide: "co.uk" is registrable.
    EXPECT_FALSE(index.find("other.co.uk").has_value());
    ASSERT_TRUE(index.add({"bank.example", false, 1}));
    expect_match(index, "bank.org", "bank.org", "bank.example", LookalikeKind::other_tld);
    expect_match(index, "bank.example.net", "bank.example.net", "bank.example",
                 LookalikeKind::other_tld);
    LookalikeIndex unreadable("/nonexistent/public_suffix_list.dat");
    EXPECT_FALSE(unreadable.has_public_suffix_list());
    ASSERT_TRUE(unreadable.add({"bank.co.uk", false, 1}));
    EXPECT_FALSE(unreadable.find("other.co.uk").has_value());
}

TEST(Lookalike, ThreadsShareABuiltIndex) {
    LookalikeIndex index;
    for (int i = 0; i < 2000; ++i)
        index.add({"shop" + std::to_string(i) + "bank.example", false, 1});
    index.add({"paypal.example", true, 0});
    const std::vector<std::string> queries = {"paypa1.example", "shop17bnak.example",
                                              "unrelated.example", "shop17bank.example"};
    std::vector<std::string> expected;
    for (const auto& q : queries) {
        const auto m = index.find(q);
        expected.push_back(m ? m->resembles.domain : "-");
    }
    EXPECT_EQ(expected,
              (std::vector<std::string>{"paypal.example", "shop17bank.example", "-", "-"}));
    auto work = [&](std::vector<std::string>* got) {
        for (int round = 0; round < 500; ++round) {
            for (std::size_t i = 0; i < queries.size(); ++i) {
                const auto m = index.find(queries[i]);
                if ((m ? m->resembles.domain : "-") != expected[i]) got->push_back(queries[i]);
            }
        }
    };
    std::vector<std::string> wrong1, wrong2;
    std::thread a(work, &wrong1), b(work, &wrong2);
    a.join();
    b.join();
    EXPECT_TRUE(wrong1.empty());
    EXPECT_TRUE(wrong2.empty());
}

TEST(Lookalike, MovedIndexKeepsItsDomains) {
    LookalikeIndex a = index_of({{"bank.example", false, 1}});
    LookalikeIndex b(std::move(a));
    EXPECT_EQ(b.size(), 1u);
    EXPECT_TRUE(b.find("bnak.example").has_value());
    EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): moved from is empty
    EXPECT_FALSE(a.find("bnak.example").has_value());
}

}  // namespace
}  // namespace ribbon::test
