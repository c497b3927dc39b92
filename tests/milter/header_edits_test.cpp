// The milter's header edit rule: applying the edits the way an MTA does
// (CHGHEADER by name and index, ADDHEADER at the end) must give
// exactly the signer's header, for the shapes the signer produces.
#include "milter/header_edits.hpp"

#include <gtest/gtest.h>
#include <strings.h>

namespace ribbon::test {
namespace {

using milter::HeaderEdit;
using milter::HeaderField;

// What Postfix's cleanup does with the edits, in order.
std::vector<HeaderField> apply_edits(std::vector<HeaderField> h, const std::vector<HeaderEdit>& edits) {
    for (const HeaderEdit& e : edits) {
        if (e.kind == HeaderEdit::Kind::add) {
            h.push_back({e.name, e.value});
            continue;
        }
        int seen = 0;
        for (auto it = h.begin(); it != h.end(); ++it) {
            if (::strcasecmp(it->name.c_str(), e.name.c_str()) != 0 || ++seen != e.index) continue;
            if (e.kind == HeaderEdit::Kind::remove) h.erase(it);
            else it->value = e.value;
            break;
        }
    }
    return h;
}

TEST(HeaderEdits, SplitsTheSignersHeaderBlockWithFolds) {
    auto f = milter::split_header_block(
        "From: a@b.example\r\nSubject: one\r\n two\r\nContent-Type: multipart/signed;\r\n\tboundary=x\r\n\r\nbody");
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0], (HeaderField{"From", " a@b.example"}));
    EXPECT_EQ(f[1], (HeaderField{"Subject", " one\n two"}));
    EXPECT_EQ(f[2], (HeaderField{"Content-Type", " multipart/signed;\n\tboundary=x"}));
}

TEST(HeaderEdits, MovesContentFieldsAndAppendsTheSignedContentType) {
    std::vector<HeaderField> before = {{"Received", " from x"},        {"From", " a@b.example"},
                                       {"MIME-Version", " 1.0"},       {"Content-Type", " text/plain"},
                                       {"Subject", " s"},              {"Content-Transfer-Encoding", " 8bit"},
                                       {"Date", " Mon, 23 Nov 2026"}};
    std::vector<HeaderField> after = {{"Received", " from x"},
                                      {"From", " a@b.example"},
                                      {"Subject", " s"},
                                      {"Date", " Mon, 23 Nov 2026"},
                                      {"MIME-Version", " 1.0"},
                                      {"Content-Type", " multipart/signed; protocol=x;\n boundary=y"}};
    auto edits = milter::header_edits(before, after);
    EXPECT_EQ(apply_edits(before, edits), after);
    // Removals last-first, then the additions; nothing kept is touched.
    ASSERT_EQ(edits.size(), 5u);
    EXPECT_EQ(edits[0], (HeaderEdit{HeaderEdit::Kind::remove, "Content-Transfer-Encoding", 1, ""}));
    EXPECT_EQ(edits[2].name, "MIME-Version");
    EXPECT_EQ(edits[3].kind, HeaderEdit::Kind::add);
}

TEST(HeaderEdits, ChangesAReplacedDateAndAddsAMissingOne) {
    std::vector<HeaderField> before = {{"From", " a@b.example"}, {"Date", " garbage"}, {"To", " c@d.example"}};
    std::vector<HeaderField> after = {{"From", " a@b.example"}, {"Date", " Mon, 23 Nov 2026 07:00:00 +0000"},
                                      {"To", " c@d.example"}, {"MIME-Version", " 1.0"}, {"Content-Type", " x"}};
    auto edits = milter::header_edits(before, after);
    EXPECT_EQ(apply_edits(before, edits), after);
    EXPECT_EQ(edits[0], (HeaderEdit{HeaderEdit::Kind::change, "Date", 1, " Mon, 23 Nov 2026 07:00:00 +0000"}));

    std::vector<HeaderField> no_date = {{"From", " a@b.example"}};
    std::vector<HeaderField> dated = {{"From", " a@b.example"}, {"Date", " now"}, {"MIME-Version", " 1.0"}};
    EXPECT_EQ(apply_edits(no_date, milter::header_edits(no_date, dated)), dated);
}

TEST(HeaderEdits, RepeatedNamesAreEditedByTheirOwnIndex) {
    std::vector<HeaderField> before = {{"Content-Type", " a"}, {"X", " 1"}, {"Content-Type", " b"},
                                       {"X", " 2"},            {"Content-ID", " c"}};
    std::vector<HeaderField> after = {{"X", " 1"}, {"X", " 2"}, {"Content-Type", " signed"}};
    EXPECT_EQ(apply_edits(before, milter::header_edits(before, after)), after);
}

TEST(HeaderEdits, IdenticalHeadersNeedNoEdits) {
    std::vector<HeaderField> h = {{"From", " a@b.example"}, {"Subject", " s"}};
    EXPECT_TRUE(milter::header_edits(h, h).empty());
}

}  // namespace
}  // namespace ribbon::test
