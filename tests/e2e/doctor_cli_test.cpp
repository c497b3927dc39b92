// `ribbon doctor`: messages signed by `ribbon sign` (and one by `openssl
// cms -sign`), changed by the tests' own transit helpers, diagnosed by the
// built command, in text and in JSON, with and without ORIGINAL; exit
// codes 0 fine, 1 cause found, 2 no cause found, 3 input error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/sign.hpp"
#include "support/transit.hpp"
#include "support/verifiers.hpp"
#include "ribbon/doctor.hpp"

namespace ribbon::test {
namespace {

// 8-bit UTF-8 text in a multipart/mixed with an attachment: ribbon signs
// it 7-bit.
std::string statement() {
    return "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: Statement\r\n"
           "Date: " + rfc5322_date(std::time(nullptr)) +
           "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Gr\xC3\xBC\xC3\x9F" "e from the bank.\r\n--b1\r\nContent-Type: application/pdf\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n";
}

class DoctorCli : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_NO_FATAL_FAILURE(sign_ok(statement(), {}, signed_));
        write_file(tmp_ / "sent.eml", signed_);
    }
    ProcessResult doctor(const std::string& received, bool original, bool json) {
        write_file(tmp_ / "received.eml", received);
        std::vector<std::string> argv = {ribbon_binary(), "doctor"};
        if (json) argv.push_back("--json");
        argv.push_back((tmp_ / "received.eml").string());
        if (original) argv.push_back((tmp_ / "sent.eml").string());
        return run_process(argv);
    }
    TempDir tmp_{"ribbon-doctor"};
    std::string signed_;
};

struct Expect {
    std::string name;
    std::string (*change)(const std::string&);
    const char* alone;          // the change named without ORIGINAL; null: none (exit 2)
    const char* with_original;  // with it
};

std::string fold20(const std::string& m) { return transit::fold_inner_headers(m, 20); }

TEST_F(DoctorCli, NamesEachChangeInTextAndJson) {
    const std::vector<Expect> cases = {
        {"footer", transit::append_footer, "footer_added", "footer_added"},
        {"footer part", transit::add_footer_part, "part_added", "part_added"},
        {"boundary", transit::change_inner_boundaries, nullptr, "boundary_changed"},
        {"folding", fold20, "header_folded", "header_folded"},
        {"order", transit::swap_inner_header_fields, "header_reordered", "header_reordered"},
        {"charset", transit::convert_charset_to_latin1, "body_charset_converted", "body_charset_converted"},
        {"bare CR", transit::to_bare_cr, "bare_cr", "bare_cr"},
        {"CR CR LF", transit::to_cr_crlf, "bare_cr", "bare_cr"},
    };
    for (const Expect& c : cases) {
        SCOPED_TRACE(c.name);
        const std::string received = c.change(signed_);
        ASSERT_NE(received, signed_);
        for (bool original : {false, true}) {
            const char* expected = original ? c.with_original : c.alone;
            const ProcessResult text = doctor(received, original, false);
            const ProcessResult json = doctor(received, original, true);
            ASSERT_EQ(text.exit_code, expected ? 1 : 2) << text.describe();
            ASSERT_EQ(json.exit_code, text.exit_code) << json.describe();
            const auto j = nlohmann::json::parse(json.out);
            EXPECT_EQ(j["compared_with_original"], original);
            if (!expected) {
                EXPECT_EQ(j["verdict"], "no_cause_found");
                EXPECT_EQ(j["findings"].size(), 0u);
                EXPECT_NE(text.out.find("verdict: no_cause_found"), std::string::npos) << text.out;
                continue;
            }
            EXPECT_EQ(j["verdict"], "cause_found");
            ASSERT_EQ(j["findings"].size(), 1u) << json.out;
            EXPECT_EQ(j["findings"][0]["change"], expected);
            for (const char* field : {"evidence", "usual_source", "advice"}) {
                EXPECT_FALSE(j["findings"][0][field].get<std::string>().empty()) << field;
            }
            EXPECT_NE(text.out.find(std::string("change: ") + expected + "\n"), std::string::npos) << text.out;
            EXPECT_NE(text.out.find("  advice: "), std::string::npos);
        }
    }
}

TEST_F(DoctorCli, IntactIsFine) {
    const ProcessResult r = doctor(signed_, false, false);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out.rfind("verdict: fine\n", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("the signature is fine"), std::string::npos);
    const ProcessResult j = doctor(signed_, true, true);
    EXPECT_EQ(j.exit_code, 0) << j.describe();
    const auto json = nlohmann::json::parse(j.out);
    EXPECT_EQ(json["verdict"], "fine");
    EXPECT_EQ(json["findings"].size(), 0u);
    EXPECT_EQ(json["outer_header_changes"].size(), 0u);
    EXPECT_EQ(json["digest_algorithm"], "sha256");
    // "-" reads stdin.
    ProcessOptions po;
    po.stdin_data = transit::append_footer(signed_);
    const ProcessResult in = run_process({ribbon_binary(), "doctor", "--json", "-"}, po);
    EXPECT_EQ(in.exit_code, 1) << in.describe();
    EXPECT_EQ(nlohmann::json::parse(in.out)["findings"][0]["change"], "footer_added");
}

// A list's Subject tag and From rewriting touch only the outer header,
// which the signature does not cover: fine, and said.
TEST_F(DoctorCli, OuterHeaderRewritingIsFineButSaid) {
    std::string received = signed_;
    received.replace(received.find("Subject: Statement"), 18, "Subject: [bank] Statement");
    received.replace(received.find("From: Bank <no-reply@bank.example>"), 34,
                     "From: \"Bank via list\" <list@lists.example.org>");
    const ProcessResult r = doctor(received, true, false);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("not covered by the signature"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  Subject: [bank] Statement (was: Statement)"), std::string::npos) << r.out;
    const auto j = nlohmann::json::parse(doctor(received, true, true).out);
    ASSERT_EQ(j["outer_header_changes"].size(), 2u) << j.dump();
    EXPECT_EQ(j["outer_header_changes"][0]["field"], "From");
    EXPECT_EQ(j["outer_header_changes"][1]["field"], "Subject");
}

// Signed by openssl (not ribbon's canonical form): a Unix mbox writer's
// ">From " is named, and the advice names ribbon's canonical encoding.
TEST_F(DoctorCli, OpensslSignedMboxQuoting) {
    const std::string sent = openssl_signed_message(
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\nFrom the bank, with care.\r\n",
        "From: no-reply@bank.example\r\nSubject: mbox\r\n");
    ASSERT_EQ(doctor(sent, false, false).exit_code, 0);
    const ProcessResult r = doctor(transit::mbox_from_escape(sent), false, true);
    ASSERT_EQ(r.exit_code, 1) << r.describe();
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["findings"].size(), 1u);
    EXPECT_EQ(j["findings"][0]["change"], "mbox_from_quoting");
    EXPECT_NE(j["findings"][0]["usual_source"].get<std::string>().find("mbox"), std::string::npos);
    EXPECT_NE(j["findings"][0]["advice"].get<std::string>().find("=46rom"), std::string::npos);
}

TEST_F(DoctorCli, BrokenByAnUnknownChangeExits2) {
    // One bit of the signature value flipped: the last octets of the DER
    // SignerInfo (no unsigned attributes follow it).
    const SmimeParts parts = split_smime(signed_);
    ASSERT_EQ(parts.error, "");
    std::string der = parts.der;
    der[der.size() - 5] = static_cast<char>(der[der.size() - 5] ^ 0x01);
    std::string received = signed_;
    const std::string old_b64 = mime::base64_encode(parts.der, 76, "\r\n");
    const size_t at = received.find(old_b64);
    ASSERT_NE(at, std::string::npos);
    received.replace(at, old_b64.size(), mime::base64_encode(der, 76, "\r\n"));
    const ProcessResult r = doctor(received, false, false);
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.out.find("the signature itself was changed"), std::string::npos) << r.out;

    std::string edited = signed_;
    edited.replace(edited.find("Content-Type: application/pdf"), 29, "Content-Type: application/zip");
    const ProcessResult e = doctor(edited, false, false);
    EXPECT_EQ(e.exit_code, 2) << e.describe();
    EXPECT_NE(e.out.find("by nothing the doctor knows"), std::string::npos) << e.out;
}

TEST_F(DoctorCli, HostileInputExits3) {
    struct Bad {
        std::string name;
        std::string bytes;
        const char* code;
    };
    const std::vector<Bad> bad = {
        {"not signed", statement(), "not_signed"},
        {"truncated", signed_.substr(0, signed_.size() / 2), "malformed_message"},
        {"garbage", std::string("\x00\xff\x01 garbage", 11), "malformed_message"},
        {"empty", "", "empty_message"},
    };
    for (const Bad& b : bad) {
        const ProcessResult r = doctor(b.bytes, false, false);
        EXPECT_EQ(r.exit_code, 3) << b.name << ": " << r.describe();
        EXPECT_NE(r.err.find(std::string("[") + b.code + "]"), std::string::npos) << b.name << ": " << r.err;
        EXPECT_EQ(r.err.rfind("ribbon doctor: ", 0), 0u) << r.err;
        const ProcessResult j = doctor(b.bytes, false, true);
        EXPECT_EQ(j.exit_code, 3);
        const auto json = nlohmann::json::parse(j.out);
        EXPECT_EQ(json["verdict"], "error");
        EXPECT_EQ(json["error"]["code"], b.code) << b.name;
    }
    // A message over --max-message-size is not read.
    write_file(tmp_ / "received.eml", signed_);
    ProcessResult r = run_process({ribbon_binary(), "doctor", "--max-message-size", "100",
                                   (tmp_ / "received.eml").string()});
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    EXPECT_NE(r.err.find("[limit_exceeded]"), std::string::npos) << r.err;
    r = run_process({ribbon_binary(), "doctor", (tmp_ / "missing.eml").string()});
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    r = run_process({ribbon_binary(), "doctor"});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
}

// The tests' own transit helpers do what they say.
TEST(DoctorTransitHelpers, Examples) {
    EXPECT_EQ(transit::to_bare_cr("a\r\nb\nc"), "a\rb\rc");
    EXPECT_EQ(transit::to_cr_crlf("a\r\nb\r\n"), "a\r\r\nb\r\r\n");
    EXPECT_EQ(transit::swap_inner_header_fields("A: 1\r\nB: 2\r\n\r\nx"), "B: 2\r\nA: 1\r\n\r\nx");
    EXPECT_EQ(transit::convert_charset_to_latin1(
                  "Content-Type: text/plain; charset=utf-8\r\n\r\nGr\xC3\xBC\xC3\x9F" "e\r\n"),
              "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xFC\xDF" "e\r\n");
    EXPECT_EQ(transit::append_footer("Content-Type: text/plain\r\n\r\nhi\r\n"),
              "Content-Type: text/plain\r\n\r\nhi\r\n_______________________________________________\r\n"
              "Lists mailing list\r\nlists@lists.example.org\r\n");
    const std::string nested =
        "Content-Type: multipart/signed; boundary=\"top\"\r\n\r\n--top\r\nContent-Type: "
        "multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n\r\nx\r\n--in--\r\n--top--\r\n";
    const std::string renamed = transit::change_inner_boundaries(nested);
    EXPECT_NE(renamed.find("boundary=\"top\""), std::string::npos);
    EXPECT_NE(renamed.find("--gateway-1-in--"), std::string::npos) << renamed;
    EXPECT_EQ(transit::fold_inner_headers("Subject: aaaa bbbb cccc dddd\r\n\r\nx", 12),
              "Subject:\r\n aaaa bbbb\r\n cccc dddd\r\n\r\nx");
    const std::string wrapped = transit::add_footer_part(
        "From: a@b.example\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
    EXPECT_NE(wrapped.find("Content-Type: multipart/mixed; boundary=\"list-footer-boundary\""), std::string::npos);
    EXPECT_NE(wrapped.find("--list-footer-boundary\r\nContent-Type: text/plain\r\n\r\nhi\r\n"), std::string::npos) << wrapped;
}

}  // namespace
}  // namespace ribbon::test

namespace ribbon::test {
namespace {

// Every corpus message signed by `ribbon sign`, then changed: the doctor
// (the library, as the command runs it) names the change, and only it.
struct CorpusChange {
    const char* name;
    std::string (*change)(const std::string&);
    TransitChange expected;
};
const CorpusChange kCorpusChanges[] = {
    {"footer_part", transit::add_footer_part, TransitChange::part_added},
    {"inner_folding", fold20, TransitChange::header_folded},
    {"inner_order", transit::swap_inner_header_fields, TransitChange::header_reordered},
    {"bare_cr", transit::to_bare_cr, TransitChange::bare_cr},
};

class DoctorCorpus : public ::testing::TestWithParam<std::string> {};

TEST_P(DoctorCorpus, NamesTheChange) {
    std::string sent;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message(GetParam()).data, {}, sent));
    auto fine = diagnose(sent);
    ASSERT_TRUE(fine.ok()) << fine.error().message();
    EXPECT_EQ(fine->verdict, DoctorVerdict::fine) << fine->detail;
    for (const CorpusChange& c : kCorpusChanges) {
        const std::string received = c.change(sent);
        if (received == sent) continue;
        auto r = diagnose(received);
        ASSERT_TRUE(r.ok()) << c.name << ": " << r.error().message();
        EXPECT_EQ(r->verdict, DoctorVerdict::cause_found) << c.name << ": " << r->detail;
        ASSERT_EQ(r->findings.size(), 1u) << c.name << ": " << r->detail;
        EXPECT_EQ(r->findings[0].change, c.expected) << c.name << ": " << r->detail;
    }
    // A footer in the first text part, when there is one the signer kept
    // as text (not base64).
    const std::string footer = transit::append_footer(sent);
    if (footer != sent) {
        auto r = diagnose(footer, sent);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->verdict, DoctorVerdict::cause_found) << r->detail;
        ASSERT_FALSE(r->findings.empty()) << r->detail;
        EXPECT_EQ(r->findings.back().change, TransitChange::footer_added) << r->detail;
    }
}

INSTANTIATE_TEST_SUITE_P(Messages, DoctorCorpus, ::testing::ValuesIn(all_message_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ribbon::test
