// Unit tests of src/core/header_scan.hpp, the hand-written RFC 5322 header
// section scanner, and of the scanner's route through the signer
// (mime::describe_leaf). The reference is GMime's parser, the other
// implementation the scanner must agree with: for every message
// the scanner describes, GMime must see the same fields, raw values, body,
// transfer encoding and type, and must find nothing to refuse; and signing
// by either route must give the same bytes or the same error.
#include "core/header_scan.hpp"

#include <fcntl.h>
#include <gmime/gmime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/mime_parse.hpp"
#include "ribbon/signer.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

using mime::HeaderScan;
using Outcome = HeaderScan::Outcome;
using namespace std::string_literals;

struct Field {
    std::string name;
    std::string raw;
    bool operator==(const Field&) const = default;
};

std::vector<Field> fields_of(const mime::HeaderFields& fields) {
    std::vector<Field> out;
    for (const auto& f : fields) out.push_back({std::string(f.name), std::string(f.raw_value)});
    return out;
}

std::ostream& operator<<(std::ostream& os, const Field& f) { return os << f.name << ":" << f.raw; }

// ---- the scanner on its own -------------------------------------------------

TEST(HeaderScan, CrlfAndBareLfLines) {
    const std::string m = "From: a@b.example\r\nTo: c@d.example\nSubject: s\r\n\r\nbody\n";
    HeaderScan s = mime::scan_header_section(m);
    ASSERT_EQ(s.outcome, Outcome::complete);
    EXPECT_EQ(fields_of(s.fields), (std::vector<Field>{{"From", " a@b.example\r\n"},
                                                       {"To", " c@d.example\n"},
                                                       {"Subject", " s\r\n"}}));
    EXPECT_EQ(m.substr(s.offset), "body\n");
}

TEST(HeaderScan, FoldedFieldsKeepTheirLineBreaks) {
    // RFC 5322 §2.2.3: a line starting with SP or HTAB continues the field.
    const std::string m = "Subject: one\r\n two\r\n\tthree\r\nTo: x\n\n";
    HeaderScan s = mime::scan_header_section(m);
    ASSERT_EQ(s.outcome, Outcome::complete);
    EXPECT_EQ(fields_of(s.fields),
              (std::vector<Field>{{"Subject", " one\r\n two\r\n\tthree\r\n"}, {"To", " x\n"}}));
    EXPECT_EQ(s.offset, m.size());
}

TEST(HeaderScan, ObsoleteSyntax) {
    // §4.5: white space between the field name and the colon; §4.2: a
    // continuation line of white space only; an empty value.
    const std::string m = "Subject \t: x\n \nX-Empty:\nTo:y\n\nb";
    HeaderScan s = mime::scan_header_section(m);
    ASSERT_EQ(s.outcome, Outcome::complete);
    EXPECT_EQ(fields_of(s.fields),
              (std::vector<Field>{{"Subject", " x\n \n"}, {"X-Empty", "\n"}, {"To", "y\n"}}));
    EXPECT_EQ(m.substr(s.offset), "b");
}

TEST(HeaderScan, LineWithoutColonIsNotAField) {
    const std::string m = "From: a\nthis is not a header\nTo: b\n\nbody\n";
    HeaderScan s = mime::scan_header_section(m);
    EXPECT_EQ(s.outcome, Outcome::not_a_field);
    EXPECT_EQ(s.offset, 8u);
    EXPECT_TRUE(s.fields.empty());
    EXPECT_EQ(mime::scan_header_section("NoColon\n\nbody\n").outcome, Outcome::not_a_field);
    EXPECT_EQ(mime::scan_header_section(": empty name\n\n").outcome, Outcome::not_a_field);
    EXPECT_EQ(mime::scan_header_section("Sub ject: x\n\n").outcome, Outcome::not_a_field);
    EXPECT_EQ(mime::scan_header_section("From x@y Mon Jan  1 00:00:00 2024\nFrom: a\n\n").outcome,
              Outcome::not_a_field);
    // A continuation with no field to continue.
    EXPECT_EQ(mime::scan_header_section(" From: a\n\n").outcome, Outcome::not_a_field);
    // A bare CR is not a line end, and not a name octet.
    EXPECT_EQ(mime::scan_header_section("From: a\n\rX: b\n\n").outcome, Outcome::not_a_field);
}

TEST(HeaderScan, EightBitOctets) {
    // In a value they are the value's (the signer refuses them later, with
    // a message naming the field); in a name they are outside §2.2's range.
    const std::string m = "Subject: Gr\xc3\xbc\xc3\x9f" "e\nFrom: a\n\n";
    HeaderScan s = mime::scan_header_section(m);
    ASSERT_EQ(s.outcome, Outcome::complete);
    EXPECT_EQ(s.fields[0].raw_value, " Gr\xc3\xbc\xc3\x9f" "e\n");
    EXPECT_EQ(mime::scan_header_section("X-Gr\xc3\xbc\xc3\x9f" "e: a\n\n").outcome, Outcome::not_a_field);
}

TEST(HeaderScan, VeryLongLines) {
    const std::string value(200 * 1024, 'v');
    HeaderScan s = mime::scan_header_section("X-Long: " + value + "\r\n\r\n");
    ASSERT_EQ(s.outcome, Outcome::complete);
    EXPECT_EQ(s.fields[0].raw_value.size(), value.size() + 3);
    // GMime reads a field name within a 4 KB buffer; beyond RFC 5322's
    // line limit the scanner leaves such names to it.
    const std::string name(mime::kMaxNameLine, 'N');
    EXPECT_EQ(mime::scan_header_section(name + ": x\n\n").outcome, Outcome::long_name);
    EXPECT_EQ(mime::scan_header_section(name.substr(1) + ": x\n\n").outcome, Outcome::complete);
    EXPECT_EQ(mime::scan_header_section(std::string(20000, 'N') + "\n\n").outcome, Outcome::not_a_field);
}

TEST(HeaderScan, EmptyHeaderSection) {
    HeaderScan lf = mime::scan_header_section("\nbody\n");
    EXPECT_EQ(lf.outcome, Outcome::complete);
    EXPECT_TRUE(lf.fields.empty());
    EXPECT_EQ(lf.offset, 1u);
    HeaderScan crlf = mime::scan_header_section("\r\nbody\r\n");
    EXPECT_EQ(crlf.outcome, Outcome::complete);
    EXPECT_EQ(crlf.offset, 2u);
}

TEST(HeaderScan, SectionMustEnd) {
    EXPECT_EQ(mime::scan_header_section("").outcome, Outcome::unterminated);
    EXPECT_EQ(mime::scan_header_section("From: a\n").outcome, Outcome::unterminated);
    EXPECT_EQ(mime::scan_header_section("From: a\nTo: b").outcome, Outcome::unterminated);
    HeaderScan s = mime::scan_header_section("From: a\nTo: b\r");
    EXPECT_EQ(s.outcome, Outcome::unterminated);
    EXPECT_EQ(s.offset, 8u);
}

TEST(HeaderScan, NulInTheSection) {
    HeaderScan s = mime::scan_header_section("From: a\nSubject: x\0y\n\nbody\0\n"s);
    EXPECT_EQ(s.outcome, Outcome::nul_octet);
    EXPECT_EQ(s.offset, 18u);
    EXPECT_EQ(mime::scan_header_section("From: a\n\nbody\0\n"s).outcome, Outcome::complete);
}

// ---- the scanner's route against GMime's --------------------------------------

// A header section in the shape of automated mail, then `extra` fields.
std::string message(const std::string& extra, const std::string& body = "Hello.\n") {
    return "From: Bank <no-reply@bank.example>\nTo: c@example.org\nSubject: Statement\n"
           "Date: " + rfc5322_date(std::time(nullptr) - 60) + "\n" + extra + "\n" + body;
}

struct Case {
    std::string name;
    std::string data;
    bool scanner;  // expected: the scanner's route describes it
};

std::vector<Case> cases() {
    const std::string long_value(5000, 'x');
    return {
        {"plain", message("MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n"), true},
        {"no_mime_headers", message(""), true},
        {"crlf", "From: no-reply@bank.example\r\nSubject: s\r\n\r\nHi\r\n", true},
        {"folded_and_obsolete", message("Subject2 : a\n\tb\n \nContent-Type: text/plain;\n charset=utf-8\n"),
         true},
        {"eight_bit_value", message("X-Note: Gr\xc3\xbc\xc3\x9f" "e\n"), true},
        {"eight_bit_subject", "From: no-reply@bank.example\nSubject: \xc3\xa9t\xc3\xa9\n\nb\n", true},
        {"eight_bit_name", message("X-Gr\xc3\xbc\xc3\x9f" "e: a\n"), false},
        {"missing_colon", message("this line has no colon\n"), false},
        {"missing_colon_first", "not a header\nFrom: no-reply@bank.example\n\nb\n", false},
        {"empty_section", "\nFrom: no-reply@bank.example\n\nbody\n", true},
        {"long_value", message("X-Long: " + long_value + "\n"), true},
        {"over_limit_value", message("X-Long: " + std::string(70 * 1024, 'y') + "\n"), true},
        {"long_name", message(std::string(5000, 'N') + ": v\n"), false},
        {"repeated_equal", message("Received: from a\nReceived: from a\n"), true},
        // Trace and other repeating fields may differ (RFC 5322 §3.6.7);
        // a once-only field may not: GMime's route refuses it.
        {"repeated_different", message("Received: from a\nReceived: from b\n"), true},
        {"repeated_case", message("X-A: 1\nx-a: 2\n"), true},
        {"subject_twice_different", message("Subject: a\nsubject: b\n"), false},
        {"two_from", "From: no-reply@bank.example\nFrom: no-reply@bank.example\n\nb\n", true},
        {"html", message("Content-Type: text/html; charset=\"utf-8\"\nContent-Transfer-Encoding: 8bit\n",
                         "<p>\xc3\xa9</p>\n"),
         true},
        {"pdf_base64", message("Content-Type: application/pdf; name=\"s.pdf\"\n"
                               "Content-Transfer-Encoding: base64\n"
                               "Content-Disposition: attachment; filename=\"s.pdf\"\n",
                               "JVBERi0xLjQK\n"),
         true},
        {"binary", message("Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n",
                           "\x01\x02\xff\n"),
         true},
        {"upper_case_type", message("CONTENT-TYPE: TEXT/PLAIN\nContent-Transfer-Encoding: Quoted-Printable\n",
                                    "a=3Db\n"),
         true},
        {"cte_spaces", message("Content-Transfer-Encoding:  BASE64 \n", "aGk=\n"), true},
        {"cte_folded", message("Content-Transfer-Encoding:\n 7bit\n"), true},
        {"cte_unknown_token", message("Content-Transfer-Encoding: x-foo\n"), true},
        {"cte_uuencode", message("Content-Transfer-Encoding: x-uuencode\n", "begin 644 a\n`\nend\n"), true},
        {"cte_comment", message("Content-Transfer-Encoding: base64 (c)\n", "aGk=\n"), false},
        {"cte_encoded_word", message("Content-Transfer-Encoding: =?us-ascii?q?base64?=\n", "aGk=\n"), false},
        {"cte_empty", message("Content-Transfer-Encoding:\n"), false},
        {"type_invalid", message("Content-Type: garbage\n"), false},
        {"type_comment", message("Content-Type: text/plain (a comment)\n"), true},
        {"type_rfc2231", message("Content-Type: application/pdf; name*0=\"a\"; name*1=\"b.pdf\"\n"), true},
        {"type_conflicting_parameter", message("Content-Type: text/plain; charset=a; charset=b\n"), false},
        {"disposition_conflicting", message("Content-Disposition: inline; filename=a; filename=b\n"), false},
        {"multipart", message("Content-Type: multipart/mixed; boundary=b\n", "--b\n\nx\n--b--\n"), false},
        {"message_rfc822", message("Content-Type: message/rfc822\n", "From: x@y\n\nz\n"), false},
        {"already_signed", message("Content-Type: application/pkcs7-mime; smime-type=signed-data\n"), false},
        {"unterminated", "From: no-reply@bank.example\nSubject: s\n", false},
        {"nul_in_value", message("X-Nul: a\0b\n"s), false},
        {"bare_cr_in_value", message("X-Cr: a\rb\n"), true},
        {"content_length", message("Content-Length: 7\n"), true},
        {"mbox_from_line", "From no-reply@bank.example Mon Jan 1 00:00:00 2024\n" + message(""), false},
        {"empty_body", "From: no-reply@bank.example\n\n", true},
        {"no_from", "To: c@example.org\n\nb\n", true},
    };
}

std::string case_name(const testing::TestParamInfo<Case>& info) { return info.param.name; }

class ScannerRoute : public testing::TestWithParam<Case> {};

std::string read_all(GMimeStream* stream) {
    return stream != nullptr ? mime::read_stream(stream) : std::string();
}

TEST_P(ScannerRoute, AgreesWithGMime) {
    const Case& c = GetParam();
    std::optional<mime::LeafPart> leaf = mime::describe_leaf(c.data, mime::Limits{});
    ASSERT_EQ(leaf.has_value(), c.scanner);
    if (!leaf) return;

    auto parsed = mime::parse_message(MessageInput::from_memory(c.data), mime::ParseAs::entity);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    ASSERT_TRUE(parsed->check_structure().ok()) << parsed->check_structure().error().message();
    GMimeObject* top = parsed->top();
    ASSERT_TRUE(GMIME_IS_PART(top)) << G_OBJECT_TYPE_NAME(top);
    GMimeContentType* type = g_mime_object_get_content_type(top);
    EXPECT_FALSE(g_mime_content_type_is_type(type, "multipart", "*"));
    EXPECT_FALSE(g_mime_content_type_is_type(type, "application", "pkcs7-mime"));

    mime::LeafPart gm = mime::leaf_of(GMIME_PART(top));
    EXPECT_EQ(fields_of(leaf->fields), fields_of(gm.fields));
    EXPECT_TRUE(leaf->in_memory);
    EXPECT_EQ(std::string(leaf->bytes), read_all(gm.stream));
    EXPECT_EQ(leaf->encoding, gm.encoding);
    EXPECT_EQ(leaf->declared_type, gm.declared_type);
    EXPECT_EQ(leaf->is_text, gm.is_text);
}

INSTANTIATE_TEST_SUITE_P(Cases, ScannerRoute, testing::ValuesIn(cases()), case_name);

// ---- signing by either route --------------------------------------------------

Signer rsa_signer() {
    auto id = DigitalId::load(pki().rsa.key, pki().rsa.cert, pki().chain);
    EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.error().message());
    auto signer = Signer::create(*id);
    EXPECT_TRUE(signer.ok());
    return *signer;
}

// The output with its boundary (made fresh for every message) replaced.
std::string without_boundary(std::string out) {
    const std::string key = "boundary=\"";
    std::size_t at = out.find(key);
    if (at == std::string::npos) return out;
    at += key.size();
    const std::string boundary = out.substr(at, out.find('"', at) - at);
    for (std::size_t p = out.find(boundary); p != std::string::npos; p = out.find(boundary, p)) {
        out.replace(p, boundary.size(), "BOUNDARY");
    }
    return out;
}

std::string outcome(const Result<SignReport>& r, const StringSink& out) {
    if (!r) return "error " + std::string(errc_name(r.error().code())) + ": " + r.error().message();
    return without_boundary(out.str());
}

// A regular file descriptor is parsed in place by GMime (mime_parse.hpp);
// memory takes the scanner's route where the scanner accepts the message.
// RSA PKCS #1 v1.5 signatures are deterministic, so both must give the same
// bytes, or the same error.
void expect_same_output(const Signer& signer, const std::string& data, SignMode mode) {
    SignOptions options;
    options.mode = mode;
    options.now = std::chrono::system_clock::now();

    StringSink by_scanner;
    auto a = signer.sign(MessageInput::from_memory(data), by_scanner, options);

    TempDir tmp("ribbon-routes");
    write_file(tmp / "m.eml", data);
    int fd = ::open((tmp / "m.eml").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    StringSink by_gmime;
    auto b = signer.sign(MessageInput::from_fd(fd), by_gmime, options);
    ::close(fd);
    EXPECT_EQ(outcome(a, by_scanner), outcome(b, by_gmime));
}

TEST_P(ScannerRoute, SignsTheSameAsGMime) {
    const Signer signer = rsa_signer();
    expect_same_output(signer, GetParam().data, SignMode::detached);
    expect_same_output(signer, GetParam().data, SignMode::opaque);
}

TEST(ScannerRouteCorpus, SignsTheSameAsGMime) {
    const Signer signer = rsa_signer();
    for (const TestMessage& m : all_messages()) {
        SCOPED_TRACE(m.name);
        expect_same_output(signer, m.data, SignMode::detached);
        expect_same_output(signer, m.data, SignMode::opaque);
    }
}

}  // namespace
}  // namespace ribbon::test
