// Unit tests of src/core/outer_headers.hpp: what the signer decides from
// the top-level header section before it writes anything — the refusals
// (already S/MIME, no or several From fields, a From the certificate does
// not cover: RFC 8550 §3), the Date/signingTime rule with its one-hour
// tolerance at both edges, the header section left outside the signature
// and the RFC 9788 §2 copies put inside. The parsing of Date values has its
// own test (tests/date_parse_test.cpp); here only what plan() does with them.
#include "core/outer_headers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/pki.hpp"

namespace ribbon::outer {
namespace {

using namespace std::chrono_literals;
using test::pki;

const DigitalId& rsa_id() {
    static const DigitalId id = [] {
        auto loaded = DigitalId::load(pki().rsa.key, pki().rsa.cert, pki().chain);
        if (!loaded) throw std::runtime_error(loaded.error().message());
        return std::move(*loaded);
    }();
    return id;
}

// The signing clock, on a whole second so that Date values written with
// rfc5322_date() compare exactly.
TimePoint now_s() {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

struct Planned {
    std::string message;  // the TopLevel's views point into it
    Result<Plan> plan = internal_error("not planned");
};

// plan() over `message` (read as the signer reads it).
std::unique_ptr<Planned> plan_of(std::string message, TimePoint now, bool header_protection = true,
                                 mime::Limits limits = {}) {
    auto p = std::make_unique<Planned>();
    p->message = std::move(message);
    auto top = mime::load_top_level(MessageInput::from_memory(p->message), limits);
    if (!top) {
        p->plan = std::move(top).error();
        return p;
    }
    SignOptions options;
    options.header_protection = header_protection;
    p->plan = plan(*top, rsa_id(), options, now, limits);
    return p;
}

void expect_refused(const Result<Plan>& r, Errc code, const std::string& message) {
    ASSERT_FALSE(r.ok()) << "expected: " << message;
    EXPECT_EQ(errc_name(r.error().code()), errc_name(code));
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(), message);
}

const std::string kBody = "\r\nHello\r\n";

// ---- refusals -------------------------------------------------------------------

TEST(OuterHeaders, AlreadySmimeIsRefusedWithItsForm) {
    struct Case {
        std::string content_type;
        std::string form;
    };
    const Case cases[] = {
        {"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
         "boundary=\"b\"",
         "multipart/signed"},
        {"application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
         "application/pkcs7-mime; smime-type=enveloped-data"},
        {"application/x-pkcs7-mime; name=smime.p7m", "application/pkcs7-mime without smime-type"},
    };
    for (const Case& c : cases) {
        const std::string body =
            c.content_type.rfind("multipart", 0) == 0
                ? "\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n"
                  "Content-Type: application/pkcs7-signature\r\n\r\nMIIB\r\n--b--\r\n"
                : "\r\nMIIB\r\n";
        auto p = plan_of(
            "From: no-reply@bank.example\r\nContent-Type: " + c.content_type + "\r\n" + body,
            now_s());
        expect_refused(p->plan, Errc::already_signed,
                       "the message is already S/MIME (" + c.form + ")");
    }
}

TEST(OuterHeaders, FromMustBeThereOnceWithAMailbox) {
    expect_refused(plan_of("To: c@example.org\r\nSubject: s\r\n" + kBody, now_s())->plan,
                   Errc::no_from, "the message has no From header");
    expect_refused(
        plan_of("From: no-reply@bank.example\r\nFrom: no-reply@bank.example\r\n" + kBody, now_s())
            ->plan,
        Errc::malformed_message, "the message has more than one From header (RFC 5322 §3.6)");
    expect_refused(plan_of("From: undisclosed:;\r\n" + kBody, now_s())->plan, Errc::no_from,
                   "the message has no From address");
}

TEST(OuterHeaders, EveryFromMailboxMustBeInTheCertificate) {
    // RFC 8550 §3: the signer's address must match the certificate; every
    // mailbox of a From with several, groups included.
    expect_refused(plan_of("From: Other <other@bank.example>\r\n" + kBody, now_s())->plan,
                   Errc::from_not_in_certificate,
                   "From address other@bank.example is not in the certificate (which is for "
                   "no-reply@bank.example)");
    expect_refused(
        plan_of("From: no-reply@bank.example, other@bank.example\r\n" + kBody, now_s())->plan,
        Errc::from_not_in_certificate,
        "From address other@bank.example is not in the certificate (which is for "
        "no-reply@bank.example)");
    expect_refused(
        plan_of("From: Team: no-reply@bank.example, other@bank.example;\r\n" + kBody, now_s())
            ->plan,
        Errc::from_not_in_certificate,
        "From address other@bank.example is not in the certificate (which is for "
        "no-reply@bank.example)");
    // Domain case does not matter.
    EXPECT_TRUE(plan_of("From: Bank <no-reply@BANK.Example>\r\n" + kBody, now_s())->plan.ok());
    EXPECT_TRUE(plan_of("From: Team: no-reply@bank.example;\r\n" + kBody, now_s())->plan.ok());
}

TEST(OuterHeaders, FromMailboxesFlattensGroups) {
    const std::string section =
        "From: A <a@x.example>, Team: b@x.example, C <c@x.example>;, d@x.example\r\n\r\n";
    auto top = mime::load_top_level(MessageInput::from_memory(section), mime::Limits{});
    ASSERT_TRUE(top.ok());
    auto boxes = from_mailboxes(top->fields());
    ASSERT_TRUE(boxes.ok());
    std::vector<std::string> sorted = *boxes;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<std::string>{"a@x.example", "b@x.example", "c@x.example",
                                                "d@x.example"}));
}

TEST(OuterHeaders, HeaderLimitsAreEnforced) {
    mime::Limits limits;
    limits.max_header_bytes = 40;
    expect_refused(
        plan_of("From: no-reply@bank.example\r\nSubject: " + std::string(40, 's') + "\r\n" + kBody,
                now_s(), true, limits)
            ->plan,
        Errc::limit_exceeded, "header Subject is 43 bytes long; the limit is 40");
    mime::Limits count;
    count.max_header_count = 2;
    expect_refused(
        plan_of("From: no-reply@bank.example\r\nTo: a@b.example\r\nSubject: s\r\n" + kBody, now_s(),
                true, count)
            ->plan,
        Errc::limit_exceeded, "the message has 3 header fields; the limit is 2");
}

TEST(OuterHeaders, EightBitProtectedFieldIsRefusedOnlyWithHeaderProtection) {
    // The copy inside the signed part must be 7-bit (RFC 8551 §3.1); the
    // field outside is the MTA's business.
    const std::string m = "From: no-reply@bank.example\r\nSubject: Caf\xC3\xA9\r\n" + kBody;
    expect_refused(plan_of(m, now_s())->plan, Errc::malformed_message,
                   "header Subject contains unencoded 8-bit characters; encode it (RFC 2047, RFC "
                   "2231) so it can be "
                   "signed 7-bit");
    auto without = plan_of(m, now_s(), false);
    ASSERT_TRUE(without->plan.ok());
    EXPECT_EQ(without->plan->outer_headers,
              "From: no-reply@bank.example\r\nSubject: Caf\xC3\xA9\r\nDate: " +
                  rfc5322_date(now_s()) + "\r\n");
    // An 8-bit field that is not protected is copied as it is.
    EXPECT_TRUE(
        plan_of("From: no-reply@bank.example\r\nX-Note: \xC3\xA9\r\n" + kBody, now_s())->plan.ok());
}

// ---- the sections written -------------------------------------------------------

TEST(OuterHeaders, OuterSectionKeepsFieldsAsWrittenWithoutMimeFields) {
    const TimePoint now = now_s();
    const std::string date = rfc5322_date(now);
    const std::string m =
        "Received: from a\n\tby b\nFrom: Bank\r\n <no-reply@bank.example>\r\nMIME-Version: 1.0\r\n"
        "Date: " +
        date +
        "\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n"
        "X-Custom:no space\r\nSubject:  two  spaces \r\n" +
        kBody;
    auto p = plan_of(m, now);
    ASSERT_TRUE(p->plan.ok()) << p->plan.error().message();
    // Folding, spacing and order kept; bare LF made CRLF; MIME-Version and
    // Content-* left to the signer.
    EXPECT_EQ(p->plan->outer_headers,
              "Received: from a\r\n\tby b\r\nFrom: Bank\r\n <no-reply@bank.example>\r\n"
              "Date: " +
                  date + "\r\nX-Custom:no space\r\nSubject:  two  spaces \r\n");
    // RFC 9788 §2.2: copies of From, To, Cc, Reply-To, Subject, Date and
    // Message-ID, unfolded and folded afresh.
    EXPECT_EQ(p->plan->protected_headers, "From: Bank <no-reply@bank.example>\r\nDate: " + date +
                                              "\r\nSubject: two  spaces\r\n");
    EXPECT_FALSE(p->plan->date_added);
    EXPECT_FALSE(p->plan->date_replaced);
    EXPECT_FALSE(p->plan->signing_time_aligned);
    EXPECT_EQ(p->plan->signing_time, now);
}

TEST(OuterHeaders, ProtectedCopiesAreTheSevenFieldsOnly) {
    const TimePoint now = now_s();
    const std::string date = rfc5322_date(now);
    const std::string m =
        "from: no-reply@bank.example\r\nTO: a@b.example\r\nCc: c@d.example\r\nBcc: e@f.example\r\n"
        "Reply-To: g@h.example\r\nSubject: s\r\nDate: " +
        date +
        "\r\nMessage-ID: <1@bank.example>\r\nIn-Reply-To: <0@bank.example>\r\n"
        "Sender: i@j.example\r\nX-Mailer: m\r\n" +
        kBody;
    auto p = plan_of(m, now);
    ASSERT_TRUE(p->plan.ok()) << p->plan.error().message();
    EXPECT_EQ(p->plan->protected_headers,
              "from: no-reply@bank.example\r\nTO: a@b.example\r\nCc: c@d.example\r\n"
              "Reply-To: g@h.example\r\nSubject: s\r\nDate: " +
                  date + "\r\nMessage-ID: <1@bank.example>\r\n");
    auto off = plan_of(m, now, false);
    ASSERT_TRUE(off->plan.ok());
    EXPECT_EQ(off->plan->protected_headers, "");
    EXPECT_EQ(off->plan->outer_headers, p->plan->outer_headers);
}

TEST(OuterHeaders, LongProtectedFieldsAreFoldedWithin76) {
    const std::string subject =
        "Your statement for the account ending 1234 is ready to download from the portal";
    auto p =
        plan_of("From: no-reply@bank.example\r\nSubject: " + subject + "\r\n" + kBody, now_s());
    ASSERT_TRUE(p->plan.ok());
    EXPECT_EQ(p->plan->protected_headers.substr(0, p->plan->protected_headers.find("Date:")),
              "From: no-reply@bank.example\r\n"
              "Subject: Your statement for the account ending 1234 is ready to download\r\n"
              " from the portal\r\n");
}

// ---- the Date rule ----------------------------------------------------------------

struct DateCase {
    const char* what;
    std::chrono::seconds date_offset;  // Date = now + offset
    bool kept;                         // the Date stays as written
    bool aligned;                      // signingTime = Date
};

TEST(OuterHeaders, DateWithinTheToleranceIsKeptAndBeyondItAlignedOrReplaced) {
    // kDateTolerance is one hour either way: Thunderbird flags Date and
    // signingTime two hours apart (docs/FIELD-NOTES.md).
    const DateCase cases[] = {
        {"now", 0s, true, false},
        {"an hour ago exactly", -3600s, true, false},
        {"an hour and a second ago", -3601s, true, true},
        {"a night's batch", -8h, true, true},
        {"in an hour exactly", 3600s, true, false},
        {"in an hour and a second", 3601s, false, false},
    };
    const TimePoint now = now_s();
    for (const DateCase& c : cases) {
        const TimePoint date = now + c.date_offset;
        const std::string written = rfc5322_date(date);
        auto p = plan_of("From: no-reply@bank.example\r\nDate: " + written + "\r\n" + kBody, now);
        ASSERT_TRUE(p->plan.ok()) << c.what << ": " << p->plan.error().message();
        const Plan& plan = *p->plan;
        EXPECT_FALSE(plan.date_added) << c.what;
        EXPECT_EQ(plan.date_replaced, !c.kept) << c.what;
        EXPECT_EQ(plan.signing_time_aligned, c.aligned) << c.what;
        EXPECT_EQ(plan.signing_time, c.aligned ? date : now) << c.what;
        const std::string shown = c.kept ? written : rfc5322_date(now);
        EXPECT_EQ(plan.outer_headers, "From: no-reply@bank.example\r\nDate: " + shown + "\r\n")
            << c.what;
        EXPECT_EQ(plan.protected_headers, "From: no-reply@bank.example\r\nDate: " + shown + "\r\n")
            << c.what;
    }
}

TEST(OuterHeaders, DateBeforeTheCertificateIsReplaced) {
    // A signingTime before notBefore would make the signature invalid at
    // its own time, so an old Date is only followed while the certificate
    // was valid.
    const TimePoint now = now_s();
    const TimePoint not_before = rsa_id().certificate().not_before;
    for (TimePoint date : {not_before - 1s, not_before}) {
        const std::string written = rfc5322_date(date);
        auto p = plan_of("From: no-reply@bank.example\r\nDate: " + written + "\r\n" + kBody, now);
        ASSERT_TRUE(p->plan.ok());
        const bool before = date < not_before;
        EXPECT_EQ(p->plan->date_replaced, before) << written;
        EXPECT_EQ(p->plan->signing_time_aligned, !before) << written;
        EXPECT_EQ(p->plan->signing_time, before ? now : date) << written;
    }
}

TEST(OuterHeaders, UnreadableDateIsReplacedInPlace) {
    const TimePoint now = now_s();
    auto p =
        plan_of("From: no-reply@bank.example\r\nDate: tomorrow-ish\r\nSubject: s\r\n" + kBody, now);
    ASSERT_TRUE(p->plan.ok());
    EXPECT_TRUE(p->plan->date_replaced);
    EXPECT_EQ(p->plan->signing_time, now);
    EXPECT_EQ(p->plan->outer_headers,
              "From: no-reply@bank.example\r\nDate: " + rfc5322_date(now) + "\r\nSubject: s\r\n");
}

TEST(OuterHeaders, MissingDateIsAddedAtTheEnd) {
    const TimePoint now = now_s();
    const std::string date = "Date: " + rfc5322_date(now) + "\r\n";
    auto p = plan_of("From: no-reply@bank.example\r\nSubject: s\r\n" + kBody, now);
    ASSERT_TRUE(p->plan.ok());
    EXPECT_TRUE(p->plan->date_added);
    EXPECT_FALSE(p->plan->date_replaced);
    EXPECT_EQ(p->plan->signing_time, now);
    EXPECT_EQ(p->plan->outer_headers, "From: no-reply@bank.example\r\nSubject: s\r\n" + date);
    EXPECT_EQ(p->plan->protected_headers, "From: no-reply@bank.example\r\nSubject: s\r\n" + date);
    auto off = plan_of("From: no-reply@bank.example\r\n" + kBody, now, false);
    ASSERT_TRUE(off->plan.ok());
    EXPECT_EQ(off->plan->protected_headers, "");
}

TEST(OuterHeaders, Rfc5322DateIsUtcWithADayName) {
    // RFC 5322 §3.3: day-name, 2-digit day, month name, 4-digit year,
    // hh:mm:ss and the zone.
    EXPECT_EQ(rfc5322_date(std::chrono::system_clock::from_time_t(0)),
              "Thu, 01 Jan 1970 00:00:00 +0000");
    EXPECT_EQ(rfc5322_date(std::chrono::system_clock::from_time_t(1796552430)),
              "Sun, 06 Dec 2026 10:20:30 +0000");
    EXPECT_EQ(rfc5322_date(std::chrono::system_clock::from_time_t(951782400)),
              "Tue, 29 Feb 2000 00:00:00 +0000");
    // And date_seconds() reads it back.
    EXPECT_EQ(date_seconds(rfc5322_date(std::chrono::system_clock::from_time_t(1796552430))),
              1796552430);
}

}  // namespace
}  // namespace ribbon::outer
