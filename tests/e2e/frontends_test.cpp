// Issue 14's table-driven front-end test: ONE table of cases, each run
// through all three front ends that sign mail — `ribbon milter` behind a
// real Postfix, `ribbon relay` in front of smtp-sink, `ribbon sendmail`
// handing over to a capturing program (support/frontends.hpp) — asserting
// the same treatment of the message and the same failure action from all
// three.
//
// What "the same" means where the front ends differ in what they can do:
//  - the relay can split a message: each recipient's copy takes the form the
//    recipient policy gives that recipient (`per_rcpt`), one downstream
//    transaction per form;
//  - the milter and sendmail cannot: their one copy takes the form the
//    policy gives the message as a whole (`whole`), by the rule of
//    combine_treatments (include/ribbon/recipient_policy.hpp): any opt-out
//    makes it unsigned; otherwise [milter] mixed = "sign" (the default)
//    signs for all, opaque winning among the signed;
//  - a refusal is one (setting, action) pair: its SMTP reply for the
//    daemons, its sysexits code for sendmail (docs/CONFIGURATION.md), and
//    the pair named in what ribbon logs or prints.
//
// Each front end is one test that starts its rig once and reconfigures it
// only between variants, so Postfix starts once (gtest_discover_tests runs
// each test in a process of its own: a per-row test would start it per
// row). The rows that disagree with the table are listed at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>

#include "support/frontends.hpp"
#include "support/messages.hpp"
#include "support/mta.hpp"
#include "support/sign.hpp"

namespace ribbon::test {
namespace {

// The message a row sends.
enum class Msg {
    plain,           // text/plain
    already_signed,  // multipart/signed made by `openssl cms -sign`
    already_sealed,  // application/pkcs7-mime; smime-type=enveloped-data by `openssl cms -encrypt`
    malformed,       // multipart/mixed whose closing delimiter never comes
};

// A failure, as each front end must answer it.
struct Refusal {
    const char* setting;  // on_no_key, on_bad_message, on_internal_error
    const char* action;   // tempfail | reject
    const char* smtp;     // the reply's code and enhanced status code
    int exit_code;        // ribbon sendmail's (sysexits.h)
};
constexpr Refusal kNoKeyTempfail{"on_no_key", "tempfail", "451 4.7.5", 75};
constexpr Refusal kBadMessageReject{"on_bad_message", "reject", "554 5.6.0", 65};
constexpr Refusal kInternalTempfail{"on_internal_error", "tempfail", "451 4.3.0", 75};

constexpr Form U = Form::unchanged, D = Form::detached, O = Form::opaque;

struct Case {
    const char* name;
    Variant variant;
    const char* from;  // header From and envelope sender
    std::vector<std::string> rcpts;
    Msg message;
    std::vector<Form> per_rcpt;  // accepted: each recipient's form where the message can be split
    Form whole = U;              // accepted: the one copy's form where it cannot
    std::optional<Refusal> refusal = std::nullopt;
};

// THE table. Rows with the same variant run together, in this order.
const std::vector<Case>& cases() {
    static const std::vector<Case> table = {
        {"plain", Variant::standard, kSigner, {kUnknown}, Msg::plain, {D}, D},
        {"not_a_signer", Variant::standard, kNotASigner, {kUnknown}, Msg::plain, {U}, U},
        {"already_signed", Variant::standard, kSigner, {kUnknown}, Msg::already_signed, {U}, U},
        {"already_sealed", Variant::standard, kSigner, {kUnknown}, Msg::already_sealed, {U}, U},
        // Already S/MIME is passed on unchanged in every front end (issue 14):
        // that needs no Digital ID.
        {"already_signed_no_key", Variant::standard, kNoKey, {kUnknown}, Msg::already_signed, {U}, U},
        {"no_key", Variant::standard, kNoKey, {kUnknown}, Msg::plain, {}, U, kNoKeyTempfail},
        // The policy's answer for an opted-out customer needs no Digital ID:
        // the mail goes on unsigned rather than waiting for a key it would
        // not use.
        {"no_key_opted_out", Variant::standard, kNoKey, {kOptedOut}, Msg::plain, {U}, U},
        // recipients = "capable-only", and nothing is known of the customer.
        {"policy_unsigned", Variant::standard, kCapableOnly, {kUnknown}, Msg::plain, {U}, U},
        // unless-incapable, and the customer's client is known not to show S/MIME.
        {"policy_incapable", Variant::standard, kSigner, {kIncapable}, Msg::plain, {U}, U},
        {"opted_out", Variant::standard, kSigner, {kOptedOut}, Msg::plain, {U}, U},
        // An opt-out wins over the message: unsigned to all where it cannot split.
        {"mixed_opted_out", Variant::standard, kSigner, {kOptedOut, kUnknown}, Msg::plain, {U, D}, U},
        // No opt-out: mixed = "sign" signs for all where it cannot split.
        {"mixed_incapable", Variant::standard, kSigner, {kIncapable, kUnknown}, Msg::plain, {U, D}, D},
        {"bad_from_not_in_certificate", Variant::standard, kMismatch, {kUnknown}, Msg::plain, {}, U, kBadMessageReject},
        {"bad_mime", Variant::standard, kSigner, {kUnknown}, Msg::malformed, {}, U, kBadMessageReject},
        {"opaque_for", Variant::opaque_for, kSigner, {kOpaqueDomain}, Msg::plain, {O}, O},
        // Opaque wins among the signed where it cannot split.
        {"mixed_opaque", Variant::opaque_for, kSigner, {kOpaqueDomain, kUnknown}, Msg::plain, {O, D}, O},
        {"no_key_accept", Variant::no_key_accept, kNoKey, {kUnknown}, Msg::plain, {U}, U},
        {"store_down", Variant::store_down, kSigner, {kUnknown}, Msg::plain, {}, U, kInternalTempfail},
        // Nor the recipients store: passing S/MIME on needs no policy answer.
        {"already_sealed_store_down", Variant::store_down, kSigner, {kUnknown}, Msg::already_sealed, {U}, U},
        // The store is asked only about mail ribbon signs.
        {"store_down_not_a_signer", Variant::store_down, kNotASigner, {kUnknown}, Msg::plain, {U}, U},
    };
    return table;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

// The row's message, CRLF throughout, with a unique Message-ID and a body
// line (`marker`) the signed content must hold.
std::string make_message(const Case& c, const std::string& tag, const std::string& marker) {
    std::string headers = "From: Bank <";
    headers.append(c.from).append(">\r\nTo: ").append(join(c.rcpts, ", "));
    headers.append("\r\nSubject: Statement ").append(tag).append("\r\nDate: ");
    headers.append(rfc5322_date(std::time(nullptr) - 60)).append("\r\nMessage-ID: <").append(tag);
    headers.append("@bank.example>\r\n");
    std::string content = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";
    content.append(marker).append("\r\n");
    switch (c.message) {
        case Msg::plain: return headers + "MIME-Version: 1.0\r\n" + content;
        case Msg::already_signed: return openssl_signed_message(content, headers);
        case Msg::already_sealed: return openssl_sealed_message(content, headers);
        case Msg::malformed: break;
    }
    return headers + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n" + content;
}

// What a front end must hand over for an accepted row: one copy per form
// where it splits (recipients in the client's order), else one copy.
struct Part {
    std::vector<std::string> rcpts;
    Form form;
};
std::vector<Part> expected_parts(const Case& c, bool splits) {
    if (!splits) return {{c.rcpts, c.whole}};
    std::vector<Part> parts;
    for (std::size_t i = 0; i < c.rcpts.size(); ++i) {
        auto it = std::find_if(parts.begin(), parts.end(), [&](const Part& p) { return p.form == c.per_rcpt[i]; });
        if (it == parts.end()) it = parts.insert(parts.end(), Part{{}, c.per_rcpt[i]});
        it->rcpts.push_back(c.rcpts[i]);
    }
    return parts;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

void expect_refusal(const FrontEnd& fe, const Refusal& r, const Attempt& a) {
    EXPECT_FALSE(a.accepted) << "accepted a message to refuse";
    if (fe.kind() == FrontEndKind::sendmail) {
        EXPECT_EQ(a.exit_code, r.exit_code) << a.said;
    } else {
        EXPECT_TRUE(a.reply.starts_with(std::string(r.smtp) + " ")) << "reply: " << a.reply;
    }
    const std::string pair = std::string(r.setting) + " = \"" + r.action + "\"";
    EXPECT_NE(a.said.find(pair), std::string::npos) << "ribbon did not name " << pair << ":\n" << a.said;
    EXPECT_TRUE(a.handed_over.empty()) << a.handed_over.size() << " message(s) went on";
}

void expect_delivery(const FrontEnd& fe, const Case& c, const std::string& submitted, const std::string& marker,
                     const Attempt& a) {
    ASSERT_TRUE(a.accepted) << "refused: reply \"" << a.reply << "\", exit " << a.exit_code << "\n" << a.said;
    const std::vector<Part> parts = expected_parts(c, fe.splits());
    EXPECT_EQ(a.handed_over.size(), parts.size()) << "copies handed over";
    for (const Part& p : parts) {
        auto got = std::find_if(a.handed_over.begin(), a.handed_over.end(),
                                [&](const Handover& h) { return sorted(h.rcpts) == sorted(p.rcpts); });
        if (got == a.handed_over.end()) {
            ADD_FAILURE() << "no copy for <" << join(p.rcpts, ">, <") << ">";
            continue;
        }
        std::string problems;
        Form form = judge(got->data, submitted, marker, problems);
        EXPECT_EQ(form_name(form), std::string(form_name(p.form))) << "copy for <" << join(p.rcpts, ">, <") << ">";
        EXPECT_EQ(problems, "") << "copy for <" << join(p.rcpts, ">, <") << ">";
    }
}

int failed_parts() {
    const ::testing::TestResult* r = ::testing::UnitTest::GetInstance()->current_test_info()->result();
    int n = 0;
    for (int i = 0; i < r->total_part_count(); ++i) n += r->GetTestPartResult(i).failed() ? 1 : 0;
    return n;
}

class FrontEndTable : public ::testing::TestWithParam<FrontEndKind> {};

// Runs one row; false when it disagreed with the table.
bool run_row(FrontEnd& fe, const Case& c) {
    const std::string fe_name = front_end_name(fe.kind());
    SCOPED_TRACE(fe_name + " / " + c.name);
    const int before = failed_parts();
    const std::string tag = std::string(c.name) + "-" + fe_name;
    const std::string marker = "Statement " + tag + " is ready.";
    const std::string message = make_message(c, tag, marker);
    const Attempt a = fe.submit(message, c.from, c.rcpts);
    if (c.refusal) {
        expect_refusal(fe, *c.refusal, a);
    } else {
        expect_delivery(fe, c, message, marker, a);
    }
    return failed_parts() == before;
}

TEST_P(FrontEndTable, EveryCaseAsTheTableSays) {
    SKIP_WITHOUT_MTA();
    const auto started = std::chrono::steady_clock::now();
    std::unique_ptr<FrontEnd> fe = make_front_end(GetParam());
    std::vector<std::string> disagreeing;
    for (Variant variant : {Variant::standard, Variant::opaque_for, Variant::no_key_accept, Variant::store_down}) {
        const std::string configured = fe->configure(variant);
        EXPECT_EQ(configured, "") << variant_name(variant) << "\n" << fe->describe();
        for (const Case& c : cases()) {
            if (c.variant != variant) continue;
            if (!configured.empty()) {
                disagreeing.push_back(std::string(c.name) + " (not run)");
            } else if (!run_row(*fe, c)) {
                disagreeing.push_back(c.name);
            }
        }
    }
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("[ front end ] %s: %zu rows in %.1f s; disagreeing with the table: %s\n", front_end_name(GetParam()),
                cases().size(), seconds, disagreeing.empty() ? "none" : join(disagreeing, ", ").c_str());
    if (!disagreeing.empty()) ADD_FAILURE() << fe->describe();
}

INSTANTIATE_TEST_SUITE_P(AllThree, FrontEndTable,
                         ::testing::Values(FrontEndKind::milter, FrontEndKind::relay, FrontEndKind::sendmail),
                         [](const ::testing::TestParamInfo<FrontEndKind>& info) {
                             return std::string(front_end_name(info.param));
                         });

}  // namespace
}  // namespace ribbon::test
