// ribbon::diagnose (ribbon/doctor.hpp): each transit change made by the
// tests themselves (tests/support/transit.hpp) to a signed message —
// signed by ribbon's Signer, or by `openssl cms -sign` when ribbon's
// canonical form resists the change — must be named, and named alone,
// with and without the message as sent.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <functional>

#include "ribbon/doctor.hpp"
#include "ribbon/signer.hpp"
#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/sign.hpp"
#include "support/transit.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

std::string ribbon_signed(const std::string& message) {
    auto id = DigitalId::load(pki().rsa.key, pki().rsa.cert, pki().chain);
    EXPECT_TRUE(id.ok());
    auto signer = Signer::create(*id);
    EXPECT_TRUE(signer.ok());
    StringSink out;
    auto r = signer->sign(MessageInput::from_memory(message), out);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return out.take();
}

std::string head(const std::string& subject) {
    return "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: " + subject +
           "\r\nDate: " + rfc5322_date(std::time(nullptr)) +
           "\r\nMessage-ID: <doctor@bank.example>\r\nMIME-Version: 1.0\r\n";
}

// 8-bit UTF-8 text with a line starting "From ": ribbon encodes it 7-bit.
const std::string& ribbon_plain() {
    static const std::string m = ribbon_signed(
        head("Statement") +
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Gr\xC3\xBC\xC3\x9F" "e from the bank.\r\nFrom today on, your statement is ready.\r\n");
    return m;
}

// A multipart/mixed signed part (text and an attachment).
const std::string& ribbon_multipart() {
    static const std::string m = ribbon_signed(
        head("Your invoice") +
        "Content-Type: multipart/mixed; boundary=\"inner-1\"\r\n\r\n--inner-1\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n--inner-1\r\n"
        "Content-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==\r\n--inner-1--\r\n");
    return m;
}

// A Subject in an ISO-8859-1 encoded-word (copied into the signed part).
const std::string& ribbon_encoded_subject() {
    static const std::string m = ribbon_signed(
        head("=?iso-8859-1?Q?Gr=FC=DFe?=") +
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n");
    return m;
}

// A signed part that is not damage-proof, signed by openssl: 8bit, white
// space at a line end, a "From " line, a 1200-octet line, base64 at 64
// columns, a signature separator.
const std::string& openssl_fragile() {
    static const std::string m = [] {
        std::string c =
            "Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n"
            "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "Gr\xC3\xBC\xC3\x9F" "e   \r\nFrom the bank\r\n" + std::string(1200, 'x') + "\r\n"
            "--inner\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n";
        c += mime::base64_encode(std::string(300, '\x07'), 64, "\r\n");
        c += "--inner--\r\n";
        return openssl_signed_message(c, "From: no-reply@bank.example\r\nSubject: fragile\r\n");
    }();
    return m;
}

// Plain ASCII text with a signature separator ("-- "), signed by openssl.
const std::string& openssl_separator() {
    static const std::string m = openssl_signed_message(
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n-- \r\nThe Bank\r\n",
        "From: no-reply@bank.example\r\nSubject: separator\r\n");
    return m;
}

// Content signed with LF line ends (not canonical), by openssl.
const std::string& openssl_lf() {
    static const std::string m = [] {
        const std::string content = "Content-Type: text/plain; charset=us-ascii\n\nHello.\nBye.\n";
        const std::string sig = mime::base64_encode(openssl_cms_sign(pki().rsa, content), 76, "\n");
        return "From: no-reply@bank.example\nMIME-Version: 1.0\nContent-Type: multipart/signed; "
               "protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b\"\n\n--b\n" +
               content + "\n--b\nContent-Type: application/pkcs7-signature\n"
                         "Content-Transfer-Encoding: base64\n\n" + sig + "\n--b--\n";
    }();
    return m;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

std::string eightbit_to_base64(const std::string& m) {
    return mime::map_leaves(m, [](mime::Entity& e) {
        if (mime::transfer_encoding_of(e) != "8bit") return;
        e.body = mime::base64_encode(e.body, 76, "\r\n");
        for (auto& f : e.fields)
            if (f.name == "Content-Transfer-Encoding") f.raw = "Content-Transfer-Encoding: base64\r\n";
    });
}

struct Case {
    std::string name;
    std::function<const std::string&()> message;
    std::function<std::string(const std::string&)> change;
    std::vector<TransitChange> alone;          // without ORIGINAL; empty: no cause found
    std::vector<TransitChange> with_original;  // with it
};

std::vector<TransitChange> changes_of(const DoctorReport& r) {
    std::vector<TransitChange> out;
    for (const auto& f : r.findings) out.push_back(f.change);
    return out;
}

using TC = TransitChange;
const std::vector<Case>& cases() {
    static const std::vector<Case> c = {
        {"FooterInBody", ribbon_plain, transit::append_footer, {TC::footer_added}, {TC::footer_added}},
        {"FooterPart", ribbon_plain, transit::add_footer_part, {TC::part_added}, {TC::part_added}},
        {"InnerBoundary", ribbon_multipart, transit::change_inner_boundaries, {}, {TC::boundary_changed}},
        {"InnerFolding", ribbon_plain, [](const std::string& m) { return transit::fold_inner_headers(m, 20); },
         {TC::header_folded}, {TC::header_folded}},
        {"InnerOrder", ribbon_plain, transit::swap_inner_header_fields, {TC::header_reordered},
         {TC::header_reordered}},
        {"Charset", ribbon_plain, transit::convert_charset_to_latin1, {TC::body_charset_converted},
         {TC::body_charset_converted}},
        {"BareCr", ribbon_plain, transit::to_bare_cr, {TC::bare_cr}, {TC::bare_cr}},
        {"CrCrLf", ribbon_multipart, transit::to_cr_crlf, {TC::bare_cr}, {TC::bare_cr}},
        {"InnerSubjectTag", ribbon_plain,
         [](const std::string& m) { return replace_all(m, "Subject: Statement", "Subject: [list] Statement"); },
         {TC::header_rewritten}, {TC::header_rewritten}},
        {"InnerFromRewritten", ribbon_plain,
         [](const std::string& m) {
             return replace_all(m, "From: Bank <no-reply@bank.example>",
                                "From: \"Bank via list\" <list@lists.example.org>");
         },
         {}, {TC::header_rewritten}},
        {"HeaderCharset", ribbon_encoded_subject,
         [](const std::string& m) { return replace_all(m, "=?iso-8859-1?Q?Gr=FC=DFe?=", "=?utf-8?B?R3LDvMOfZQ==?="); },
         {}, {TC::header_charset_converted}},
        {"ParameterQuoted", ribbon_plain,
         [](const std::string& m) { return replace_all(m, "charset=utf-8", "charset=\"utf-8\""); },
         {TC::content_type_parameter_changed}, {TC::content_type_parameter_changed}},
        {"MboxFrom", openssl_fragile, transit::mbox_from_escape, {TC::mbox_from_quoting}, {TC::mbox_from_quoting}},
        {"LongLines", openssl_fragile, [](const std::string& m) { return transit::split_long_lines(m); }, {TC::long_lines_rewrapped},
         {TC::long_lines_rewrapped}},
        {"EightBitToQp", openssl_fragile, transit::downgrade_8bit, {TC::eightbit_to_quoted_printable},
         {TC::eightbit_to_quoted_printable}},
        {"EightBitToBase64", openssl_fragile, eightbit_to_base64, {TC::eightbit_to_base64}, {TC::eightbit_to_base64}},
        {"Base64Rewrapped", openssl_fragile, [](const std::string& m) { return transit::rewrap_base64(m); }, {TC::base64_rewrapped}, {TC::base64_rewrapped}},
        {"TrailingWhitespace", openssl_fragile, transit::strip_trailing_whitespace, {},
         {TC::trailing_whitespace_stripped}},
        {"SeparatorStripped", openssl_separator, transit::strip_trailing_whitespace,
         {TC::trailing_whitespace_stripped}, {TC::trailing_whitespace_stripped}},
        {"MboxThenQp", openssl_fragile,
         [](const std::string& m) { return transit::downgrade_8bit(transit::mbox_from_escape(m)); },
         {TC::mbox_from_quoting, TC::eightbit_to_quoted_printable},
         {TC::mbox_from_quoting, TC::eightbit_to_quoted_printable}},
    };
    return c;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class DoctorChange : public ::testing::TestWithParam<Case> {};

TEST_P(DoctorChange, NamesExactlyTheChange) {
    const Case& c = GetParam();
    const std::string& sent = c.message();
    {
        auto intact = diagnose(sent);
        ASSERT_TRUE(intact.ok()) << intact.error().message();
        ASSERT_EQ(intact->verdict, DoctorVerdict::fine) << intact->detail;
    }
    const std::string received = c.change(sent);
    ASSERT_NE(received, sent);

    auto alone = diagnose(received);
    ASSERT_TRUE(alone.ok()) << alone.error().message();
    auto sorted = [](std::vector<TC> v) { std::sort(v.begin(), v.end()); return v; };
    if (c.alone.empty()) {
        EXPECT_EQ(alone->verdict, DoctorVerdict::no_cause_found) << alone->detail;
        EXPECT_TRUE(alone->findings.empty());
    } else {
        EXPECT_EQ(alone->verdict, DoctorVerdict::cause_found) << alone->detail;
        EXPECT_EQ(sorted(changes_of(*alone)), sorted(c.alone)) << alone->detail;
    }
    EXPECT_FALSE(alone->compared_with_original);

    auto with = diagnose(received, sent);
    ASSERT_TRUE(with.ok()) << with.error().message();
    EXPECT_EQ(with->verdict, DoctorVerdict::cause_found) << with->detail;
    EXPECT_EQ(sorted(changes_of(*with)), sorted(c.with_original)) << with->detail;
    EXPECT_TRUE(with->compared_with_original);
    for (const auto& f : with->findings) {
        EXPECT_FALSE(f.evidence.empty());
        EXPECT_FALSE(f.usual_source.empty());
        EXPECT_NE(f.advice.find("opaque"), std::string::npos) << f.advice;
    }
}

INSTANTIATE_TEST_SUITE_P(Transit, DoctorChange, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// A signer that hashed LF line ends (openssl cms -binary over LF text):
// every canonicalising receiver fails it, whatever transit does to the
// line ends.
TEST(Doctor, LfSignedContentIsNamed) {
    for (const std::string& m : {openssl_lf(), transit::lf_to_crlf(openssl_lf())}) {
        auto r = diagnose(m);
        ASSERT_TRUE(r.ok()) << r.error().message();
        EXPECT_EQ(r->verdict, DoctorVerdict::cause_found) << r->detail;
        EXPECT_EQ(changes_of(*r), std::vector<TC>{TC::line_ends_changed});
    }
}

// Harmless changes (docs/FIELD-NOTES.md) leave ribbon's signature fine.
TEST(Doctor, HarmlessChangesAreFine) {
    for (const auto& t : transit::all_transforms()) {
        auto r = diagnose(t.apply(ribbon_plain()));
        ASSERT_TRUE(r.ok()) << t.name << ": " << r.error().message();
        EXPECT_EQ(r->verdict, DoctorVerdict::fine) << t.name << ": " << r->detail;
    }
}

// Opaque signatures carry their content inside: intact is fine, a change
// inside is no transit change.
TEST(Doctor, Opaque) {
    auto id = DigitalId::load(pki().rsa.key, pki().rsa.cert, pki().chain);
    ASSERT_TRUE(id.ok());
    auto signer = Signer::create(*id);
    ASSERT_TRUE(signer.ok());
    const std::string m = head("Opaque") + "Content-Type: text/plain\r\n\r\nHello.\r\n";
    StringSink out;
    ribbon::SignOptions o;
    o.mode = SignMode::opaque;
    ASSERT_TRUE(signer->sign(MessageInput::from_memory(m), out, o).ok());
    const std::string sent = out.take();
    auto r = diagnose(sent);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->verdict, DoctorVerdict::fine);
    EXPECT_TRUE(r->opaque);
    // Flip a bit of "Hello." inside the encapsulated content.
    const SmimeParts parts = split_smime(sent);
    ASSERT_EQ(parts.error, "");
    std::string der = parts.der;
    const size_t at = der.find("Hello.");
    ASSERT_NE(at, std::string::npos);
    der[at] = 'J';
    const std::string b64 = mime::base64_encode(parts.der, 76, "\r\n");
    const size_t pos = sent.find(b64);
    ASSERT_NE(pos, std::string::npos);
    std::string received = sent;
    received.replace(pos, b64.size(), mime::base64_encode(der, 76, "\r\n"));
    auto broken = diagnose(received);
    ASSERT_TRUE(broken.ok()) << broken.error().message();
    EXPECT_EQ(broken->verdict, DoctorVerdict::no_cause_found);
    EXPECT_NE(broken->detail.find("opaque signature"), std::string::npos) << broken->detail;
}

TEST(Doctor, IntactMessageIsFine) {
    auto r = diagnose(ribbon_multipart());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verdict, DoctorVerdict::fine);
    EXPECT_TRUE(r->findings.empty());
    EXPECT_EQ(r->digest_algorithm, "sha256");
    EXPECT_EQ(r->candidates_tried, 1u);
}

TEST(Doctor, OuterHeaderChangesAreNotCoveredButReported) {
    std::string received = transit::prepend_received(ribbon_plain());
    const std::string subject = "\r\nSubject: Statement\r\n";
    received.replace(received.find(subject), subject.size(), "\r\nSubject: [bank-list] Statement\r\n");
    // Only the outer Subject (the first one) changed: the signed copy is intact.
    const size_t outer = received.find("Subject: [bank-list]");
    const size_t inner = received.find("Subject: Statement");
    ASSERT_NE(outer, std::string::npos);
    ASSERT_NE(inner, std::string::npos);
    ASSERT_LT(outer, inner);
    auto r = diagnose(received, ribbon_plain());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verdict, DoctorVerdict::fine) << r->detail;
    ASSERT_EQ(r->outer_header_changes.size(), 1u);  // Received is trace, not a change
    EXPECT_EQ(r->outer_header_changes[0].field, "Subject");
    EXPECT_EQ(r->outer_header_changes[0].received, "[bank-list] Statement");
    EXPECT_EQ(r->outer_header_changes[0].original, "Statement");
    EXPECT_NE(r->detail.find("does not cover"), std::string::npos);
}

TEST(Doctor, DamagedSignatureValueHasNoCause) {
    // Flip one bit of the signature value: the last octets of the DER
    // SignerInfo (no unsigned attributes follow it).
    const std::string& m = ribbon_plain();
    SmimeParts parts = split_smime(m);
    ASSERT_EQ(parts.error, "");
    std::string der = parts.der;
    der[der.size() - 5] = static_cast<char>(der[der.size() - 5] ^ 0x01);
    const std::string old_b64 = mime::base64_encode(parts.der, 76, "\r\n");
    const std::string new_b64 = mime::base64_encode(der, 76, "\r\n");
    const std::string received = replace_all(m, old_b64, new_b64);
    ASSERT_NE(received, m);
    auto r = diagnose(received);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->verdict, DoctorVerdict::no_cause_found);
    EXPECT_TRUE(r->findings.empty());
    EXPECT_NE(r->detail.find("the signature itself was changed"), std::string::npos) << r->detail;
}

TEST(Doctor, UnknownContentChangeHasNoCause) {
    const std::string received = replace_all(ribbon_plain(), "statement is ready", "statement is READY");
    auto r = diagnose(received);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verdict, DoctorVerdict::no_cause_found);
    EXPECT_GT(r->candidates_tried, 10u);
    auto with = diagnose(received, ribbon_plain());
    ASSERT_TRUE(with.ok());
    EXPECT_EQ(with->verdict, DoctorVerdict::no_cause_found) << with->detail;
}

// ORIGINAL that is another message is compared all the same, and said.
TEST(Doctor, OriginalOfAnotherMessageIsSaid) {
    const std::string received = transit::append_footer(ribbon_plain());
    auto r = diagnose(transit::add_footer_part(ribbon_multipart()), received);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->verdict, DoctorVerdict::cause_found);  // the wrapping is named all the same
    auto other = diagnose(received, ribbon_multipart());
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(changes_of(*other), std::vector<TC>{TC::footer_added});  // found by the digest
    auto unknown = diagnose(replace_all(ribbon_plain(), "is ready", "is READY"), ribbon_multipart());
    ASSERT_TRUE(unknown.ok());
    EXPECT_EQ(unknown->verdict, DoctorVerdict::no_cause_found);
    EXPECT_NE(unknown->detail.find("not the message as signed"), std::string::npos) << unknown->detail;
}

TEST(Doctor, SearchStopsAtItsBudget) {
    const std::string received = replace_all(ribbon_plain(), "statement is ready", "statement is READY");
    DoctorOptions o;
    o.max_digest_bytes = 1;
    auto r = diagnose(received, std::nullopt, o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->verdict, DoctorVerdict::no_cause_found);
    EXPECT_LE(r->candidates_tried, 3u);
    EXPECT_NE(r->detail.find("limit"), std::string::npos) << r->detail;
}

TEST(Doctor, HostileInputIsAnError) {
    const std::string& m = ribbon_plain();
    struct Bad {
        std::string name;
        std::string bytes;
        Errc code;
    };
    const std::vector<Bad> bad = {
        {"empty", "", Errc::empty_message},
        {"unsigned", head("x") + "Content-Type: text/plain\r\n\r\nhello\r\n", Errc::not_signed},
        {"truncated", m.substr(0, m.size() / 2), Errc::malformed_message},
        {"garbage", std::string("\x00\x01\x02garbage\xff", 12), Errc::malformed_message},
        {"bad signature part",
         head("x") + "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
                     "boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
                     "Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     "AAAA\r\n--b--\r\n",
         Errc::bad_signature_format},
    };
    for (const Bad& b : bad) {
        auto r = diagnose(b.bytes);
        ASSERT_FALSE(r.ok()) << b.name;
        EXPECT_EQ(r.error().code(), b.code) << b.name << ": " << r.error().message();
    }
    auto orig = diagnose(m, std::string_view("not a message"));
    ASSERT_FALSE(orig.ok());
    EXPECT_EQ(orig.error().code(), Errc::malformed_message);
    EXPECT_EQ(orig.error().message().rfind("ORIGINAL: ", 0), 0u) << orig.error().message();
}

TEST(Doctor, EveryChangeHasANameAndAdvice) {
    for (int i = 0; i <= static_cast<int>(TC::header_rewritten); ++i) {
        const auto c = static_cast<TC>(i);
        EXPECT_FALSE(transit_change_name(c).empty());
    }
    EXPECT_EQ(transit_change_name(TC::mbox_from_quoting), "mbox_from_quoting");
    EXPECT_EQ(transit_change_name(TC::header_rewritten), "header_rewritten");
    EXPECT_EQ(doctor_verdict_name(DoctorVerdict::cause_found), "cause_found");
}

}  // namespace
}  // namespace ribbon::test
