// Unit tests of src/core/verify_mime.hpp, the MIME side of verification on
// exact inputs: the signed bytes of a multipart/signed body (RFC 1847 §2.1,
// RFC 2046 §5.1.1: the line break before a delimiter belongs to it,
// transport padding, look-alike boundaries, truncation) with each refusal's
// exact message, the message body, CRLF canonicalisation (RFC 8551 §3.1.1),
// From addresses and their cover by a certificate (RFC 8550 §3), and the
// RFC 9788 protected-header comparison.
#include "core/verify_mime.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/mime_parse.hpp"

namespace ribbon::verify {
namespace {

using namespace std::string_literals;

struct Parts {
    std::string content;
    std::string signature;
    bool operator==(const Parts&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Parts& p) {
    return os << "content=[" << p.content << "] signature=[" << p.signature << "]";
}

Parts split(std::string_view body, std::string_view boundary = "b") {
    auto r = split_multipart_signed(body, boundary);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    if (!r.ok()) return {};
    return {std::string(r->content), std::string(r->signature)};
}

void expect_refused(std::string_view body, std::string_view boundary, const std::string& message) {
    auto r = split_multipart_signed(body, boundary);
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.error().code(), Errc::malformed_message);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(), message);
}

// ---- multipart/signed ------------------------------------------------------------

TEST(VerifyMime, SplitTakesTheBytesBetweenTheDelimiters) {
    EXPECT_EQ(split("preamble\r\n--b\r\nContent-Type: "
                    "text/plain\r\n\r\nA\r\n--b\r\nS\r\n--b--\r\nepilogue\r\n"),
              (Parts{"Content-Type: text/plain\r\n\r\nA", "S"}));
    // Bare LF throughout, as stores write it.
    EXPECT_EQ(split("--b\nA\n--b\nS\n--b--\n"), (Parts{"A", "S"}));
    // A part that ends in a line break has two before the delimiter.
    EXPECT_EQ(split("--b\r\nA\r\n\r\n--b\r\nS\r\n\n--b--"), (Parts{"A\r\n", "S\r\n"}));
    // Empty parts.
    EXPECT_EQ(split("--b\r\n--b\r\n--b--\r\n"), (Parts{"", ""}));
    // Mixed: the one line break before each delimiter is the delimiter's,
    // whichever line ends in what (GMime 3.2 cut "EUR" to "EU" here).
    EXPECT_EQ(split("--b\r\nTotal: 100 EUR\n--b\r\nS\r\n--b--\n"), (Parts{"Total: 100 EUR", "S"}));
}

TEST(VerifyMime, SplitAcceptsTransportPaddingAndIgnoresLookAlikes) {
    // RFC 2046 §5.1.1: linear white space may follow the boundary.
    EXPECT_EQ(split("--b \t\r\nA\r\n--b  \nS\r\n--b--  \r\n"), (Parts{"A", "S"}));
    // "--bb", "--b x" and " --b" are content lines for boundary "b".
    EXPECT_EQ(split("--b\r\n--bb\r\n--b x\r\n --b\r\n--b\r\nS\r\n--b--"),
              (Parts{"--bb\r\n--b x\r\n --b", "S"}));
    // The delimiter on the last line without a line break still counts.
    EXPECT_EQ(split("--b\r\nA\r\n--b\r\nS\r\n--b--"), (Parts{"A", "S"}));
}

TEST(VerifyMime, SplitRefusalsSayWhatIsMissing) {
    expect_refused("--b\r\nA\r\n--b\r\nS\r\n--b--\r\n", "",
                   "malformed MIME: multipart/signed without a boundary parameter");
    expect_refused("just text\r\n", "b",
                   "malformed MIME: multipart/signed body has no opening boundary");
    expect_refused("--b--\r\n", "b",
                   "malformed MIME: multipart/signed body has no opening boundary");
    expect_refused("--b\r\nA\r\n--b--\r\n", "b",
                   "malformed MIME: multipart/signed has no signature part (RFC 1847 §2.1 requires "
                   "exactly two "
                   "parts)");
    expect_refused("--b\r\nA\r\n", "b",
                   "malformed MIME: multipart/signed has no signature part (RFC 1847 §2.1 requires "
                   "exactly two "
                   "parts)");
    expect_refused(
        "--b\r\nA\r\n--b\r\nS\r\n", "b",
        "malformed MIME: multipart/signed has no closing boundary (the message is truncated)");
    expect_refused("--b\r\nA\r\n--b\r\nS\r\n--b\r\nT\r\n--b--\r\n", "b",
                   "malformed MIME: multipart/signed has more than two parts (RFC 1847 §2.1 "
                   "requires exactly two)");
}

// ---- bytes -------------------------------------------------------------------------

TEST(VerifyMime, MessageBodyStartsAfterTheFirstEmptyLine) {
    EXPECT_EQ(message_body("A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore"), "body\r\n\r\nmore");
    EXPECT_EQ(message_body("A: 1\n\nbody"), "body");
    EXPECT_EQ(message_body("A: 1\r\n folded\r\n\r\n"), "");
    EXPECT_EQ(message_body("\r\nbody"), "body");
    // A line of white space is no empty line.
    EXPECT_EQ(message_body("A: 1\r\n \r\n\r\nbody"), "body");
    EXPECT_EQ(message_body("A: 1\r\nB: 2\r\n"), std::nullopt);
    EXPECT_EQ(message_body(""), std::nullopt);
}

TEST(VerifyMime, ToCrlfAddsCrBeforeBareLfOnly) {
    EXPECT_EQ(to_crlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
    EXPECT_EQ(to_crlf("\n\n"), "\r\n\r\n");
    EXPECT_EQ(to_crlf("a\rb\r"), "a\rb\r");  // a bare CR is data
    EXPECT_EQ(to_crlf(""), "");
}

TEST(VerifyMime, NormaliseHeaderValueCollapsesWhiteSpace) {
    EXPECT_EQ(normalise_header_value("  Monthly\r\n\tstatement   for  you \r\n"),
              "Monthly statement for you");
    EXPECT_EQ(normalise_header_value(" \t\r\n"), "");
    EXPECT_EQ(normalise_header_value("x"), "x");
}

// ---- addresses ---------------------------------------------------------------------

std::vector<std::string> from_of(const std::string& header_section) {
    const std::string m = header_section + "\r\nbody\r\n";
    auto parsed = mime::parse_message(MessageInput::from_memory(m));
    EXPECT_TRUE(parsed.ok());
    if (!parsed.ok()) return {};
    return from_addresses(parsed->message());
}

TEST(VerifyMime, FromAddressesFlattenGroupsAndUseALabels) {
    EXPECT_EQ(
        from_of("From: A <a@b.example>, Team: c@d.example, E <e@f.example>;, g@h.example\r\n"),
        (std::vector<std::string>{"a@b.example", "c@d.example", "e@f.example", "g@h.example"}));
    // RFC 5890 §2.3.2.1: the domain as the certificate and DNS carry it.
    EXPECT_EQ(from_of("From: info@b\xC3\xBC"
                      "cher.example\r\n"),
              std::vector<std::string>{"info@xn--bcher-kva.example"});
    EXPECT_EQ(from_of("From: info@xn--bcher-kva.example\r\n"),
              std::vector<std::string>{"info@xn--bcher-kva.example"});
    EXPECT_EQ(from_of("From: undisclosed-recipients:;\r\n"), std::vector<std::string>{});
    EXPECT_EQ(from_of("Subject: no from\r\n"), std::vector<std::string>{});
}

TEST(VerifyMime, AddressesCoveredNeedsEveryAddressAndAtLeastOne) {
    const std::vector<std::string> cert = {"no-reply@bank.example",
                                           "info@b\xC3\xBC"
                                           "cher.example"};
    EXPECT_TRUE(addresses_covered({"no-reply@bank.example"}, cert));
    EXPECT_TRUE(addresses_covered({"no-reply@BANK.example", "info@xn--bcher-kva.example"}, cert));
    EXPECT_FALSE(addresses_covered({"no-reply@bank.example", "other@bank.example"}, cert));
    EXPECT_FALSE(addresses_covered({}, cert));
    EXPECT_FALSE(addresses_covered({"no-reply@bank.example"}, {}));
}

// ---- RFC 9788 header protection ------------------------------------------------

struct Entities {
    mime::GPtr<GMimeObject> inner;
    mime::GPtr<GMimeObject> outer;
};

Entities entities(const std::string& inner, const std::string& outer) {
    auto i = mime::parse_entity(inner);
    auto o = mime::parse_entity(outer);
    EXPECT_TRUE(i.ok() && o.ok());
    return {std::move(*i), std::move(*o)};
}

struct Row {
    std::string name, outer, inner;
    bool matches;
    bool operator==(const Row&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Row& r) {
    return os << r.name << " outer=[" << r.outer << "] inner=[" << r.inner << "] "
              << (r.matches ? "=" : "!=");
}

std::vector<Row> rows(const HeaderProtection& hp) {
    std::vector<Row> out;
    for (const auto& h : hp.headers) out.push_back({h.name, h.outer, h.inner, h.matches});
    return out;
}

TEST(VerifyMime, ProtectedHeadersAreComparedWithTheOuterOnes) {
    static const std::string inner_text =
        "Content-Type: text/plain; hp=\"clear\"\r\nFrom: Bank <no-reply@bank.example>\r\n"
        "Subject: Your\r\n statement\r\nDate: Sun, 06 Dec 2026 10:20:30 +0000\r\n\r\nx\r\n";
    static const std::string outer_text =
        "From: Bank <no-reply@bank.example>\r\nSubject: Your statement (edited)\r\n"
        "Reply-To: thief@evil.example\r\nMessage-ID: <1@mta.example>\r\n"
        "Date: Sun, 06 Dec 2026 10:20:30 +0000\r\n\r\nx\r\n";
    Entities e = entities(inner_text, outer_text);
    HeaderProtection hp = compare_protected_headers(e.inner.get(), e.outer.get());
    EXPECT_TRUE(hp.present);
    // With hp= declared, Reply-To only outside was added in transit;
    // Message-ID only outside is an MTA's and is not reported.
    EXPECT_EQ(
        rows(hp),
        (std::vector<Row>{
            {"From", "Bank <no-reply@bank.example>", "Bank <no-reply@bank.example>", true},
            {"Reply-To", "thief@evil.example", "", false},
            {"Subject", "Your statement (edited)", "Your statement", false},
            {"Date", "Sun, 06 Dec 2026 10:20:30 +0000", "Sun, 06 Dec 2026 10:20:30 +0000", true},
        }));
}

TEST(VerifyMime, EncodedWordsCompareByWhatTheySay) {
    // RFC 2047: "=?UTF-8?Q?Caf=C3=A9?=" and "=?UTF-8?B?Q2Fmw6k=?=" are the
    // same Subject.
    Entities e = entities(
        "Content-Type: text/plain; hp=\"clear\"\r\nSubject: =?UTF-8?Q?Caf=C3=A9?=\r\n\r\nx",
        "Subject: =?UTF-8?B?Q2Fmw6k=?=\r\n\r\nx");
    HeaderProtection hp = compare_protected_headers(e.inner.get(), e.outer.get());
    EXPECT_EQ(rows(hp), (std::vector<Row>{{"Subject", "Caf\xC3\xA9", "Caf\xC3\xA9", true}}));
}

TEST(VerifyMime, WithoutDeclarationOnlyCopiedFieldsAreCompared) {
    // Nothing declared and nothing copied: no header protection.
    Entities none =
        entities("Content-Type: text/plain\r\n\r\nx", "From: a@b.example\r\nSubject: s\r\n\r\nx");
    HeaderProtection off = compare_protected_headers(none.inner.get(), none.outer.get());
    EXPECT_FALSE(off.present);
    EXPECT_TRUE(off.headers.empty());
    // The draft's protected-headers="v1": present, but fields only outside
    // are not reported (that rule is RFC 9788's).
    Entities v1 =
        entities("Content-Type: text/plain; protected-headers=\"v1\"\r\nSubject: s\r\n\r\nx",
                 "From: a@b.example\r\nSubject: s\r\n\r\nx");
    HeaderProtection draft = compare_protected_headers(v1.inner.get(), v1.outer.get());
    EXPECT_TRUE(draft.present);
    EXPECT_EQ(rows(draft), (std::vector<Row>{{"Subject", "s", "s", true}}));
    // A copied field without any declaration still counts.
    Entities copied = entities("Content-Type: text/plain\r\nTo: c@d.example\r\n\r\nx",
                               "To: e@f.example\r\n\r\nx");
    HeaderProtection implicit = compare_protected_headers(copied.inner.get(), copied.outer.get());
    EXPECT_TRUE(implicit.present);
    EXPECT_EQ(rows(implicit), (std::vector<Row>{{"To", "e@f.example", "c@d.example", false}}));
    EXPECT_FALSE(compare_protected_headers(nullptr, copied.outer.get()).present);
}

}  // namespace
}  // namespace ribbon::verify
