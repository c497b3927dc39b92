// Unit tests of src/core/canonical.hpp: the signed entity in the canonical
// form of RFC 8551 §3.1 (RFC 5751 §3.1.1 before it). Each case gives a
// message and asserts the exact bytes write_signed_entity() emits: CRLF line
// ends (§3.1.1), 7-bit transfer encodings (§3.1.2), no trailing white space
// and no line starting "From " (§3.1.3 and the encoders' own rules), lines
// within 76 octets, the Content-* header fields only, hp="clear" and the
// protected copies of RFC 9788 §2. Conforming parts must come through byte
// for byte (only LF → CRLF); the rest is re-encoded, text as
// quoted-printable and everything else as base64.
//
// Both routes into the writer are covered: a single part in memory (the
// header scanner's route) and GMime's tree (multiparts, and a message file
// over 1 MiB, which is parsed in place and read back as a stream), because
// each hands the content over in its own chunks and a CR may end one chunk
// while its LF starts the next. A property test at the end decodes the
// output with GMime, another implementation, and compares the content.
#include "core/canonical.hpp"

#include <gmime/gmime.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ribbon/io.hpp"
#include "support/process.hpp"

namespace ribbon::canon {
namespace {

using namespace std::string_literals;

// The chunk size the writer hands content over in (canonical.cpp kChunk):
// the boundary cases below put a CR or a line end exactly on it.
constexpr std::size_t kChunk = 256 * 1024;

struct Canon {
    Options options;
    mime::Limits limits;

    Canon() { options.header_protection = false; }

    Result<std::string> of_input(const MessageInput& in) const {
        auto top = mime::load_top_level(in, limits);
        if (!top) return std::move(top).error();
        StringSink sink;
        enc::HashingWriter writer(nullptr, sink);
        Options o = options;
        o.limits = limits;
        if (auto r = write_signed_entity(*top, o, writer); !r) return std::move(r).error();
        if (auto r = writer.finish(); !r) return std::move(r).error();
        return sink.take();
    }
    Result<std::string> of(const std::string& message) const {
        return of_input(MessageInput::from_memory(message));
    }
    // The same message from a file, which is parsed in place by GMime when
    // it is larger than the 1 MiB the scanner's route reads.
    Result<std::string> of_file(const std::string& message) const {
        test::TempDir dir("ribbon-canonical");
        test::write_file(dir / "m.eml", message);
        return of_input(MessageInput::from_file(dir / "m.eml"));
    }
};

// Asserts success and returns the bytes.
std::string ok(const Result<std::string>& r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : std::string();
}

// True when `top` was described by the scanner (a single part in memory).
bool on_scanner_route(const std::string& message) {
    auto top = mime::load_top_level(MessageInput::from_memory(message), mime::Limits{});
    return top.ok() && top->leaf() != nullptr;
}

const std::string kHead =
    "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: s\r\n";

// ---- conforming parts pass through --------------------------------------

TEST(Canonical, OnlyContentFieldsOfTheTopLevelAreSigned) {
    const std::string m = kHead +
                          "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
                          "X-Mailer: test\r\nContent-Language: en\r\n\r\nHello\r\nWorld\r\n";
    ASSERT_TRUE(on_scanner_route(m));
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain; charset=us-ascii\r\nContent-Language: "
              "en\r\n\r\nHello\r\nWorld\r\n");
}

TEST(Canonical, BareLfLinesBecomeCrlfAndNothingElseChanges) {
    // RFC 8551 §3.1.1: the canonical line end is CRLF. The content is
    // otherwise conforming, so it is copied with no transfer encoding.
    const std::string m = "Subject: s\nContent-Type: text/plain\n\nline one\nline two\n\nlast\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain\r\n\r\nline one\r\nline two\r\n\r\nlast\r\n");
}

TEST(Canonical, MixedLineEndsAreAllCrlf) {
    const std::string m = "Content-Type: text/plain\r\n\r\na\nb\r\nc\n";
    EXPECT_EQ(ok(Canon().of(m)), "Content-Type: text/plain\r\n\r\na\r\nb\r\nc\r\n");
}

TEST(Canonical, LastLineWithoutLineEndStaysWithout) {
    const std::string m = "Content-Type: text/plain\r\n\r\nno newline";
    EXPECT_EQ(ok(Canon().of(m)), "Content-Type: text/plain\r\n\r\nno newline");
}

TEST(Canonical, EmptyBodyGivesTheHeadersAndTheEmptyLine) {
    EXPECT_EQ(ok(Canon().of("Subject: s\r\nContent-Type: text/plain\r\n\r\n")),
              "Content-Type: text/plain\r\n\r\n");
}

TEST(Canonical, MessageWithoutBodyGetsADefaultTypeAndTheEmptyLine) {
    // RFC 5322 §3.5: the body (and the empty line before it) is optional;
    // RFC 2045 §5.2: no Content-Type means text/plain; charset=us-ascii.
    EXPECT_EQ(ok(Canon().of("Subject: s\r\n")),
              "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
}

TEST(Canonical, LineOf76OctetsConformsAnd77IsReencoded) {
    // RFC 8551 §3.1 / the encoders: lines stay within 76 octets. One more
    // and the text is quoted-printable with a soft break after 75 octets.
    const std::string l76(76, 'x');
    EXPECT_EQ(ok(Canon().of("Content-Type: text/plain\r\n\r\n" + l76 + "\r\n")),
              "Content-Type: text/plain\r\n\r\n" + l76 + "\r\n");
    const std::string l77(77, 'x');
    EXPECT_EQ(ok(Canon().of("Content-Type: text/plain\r\n\r\n" + l77 + "\r\n")),
              "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
                  std::string(75, 'x') + "=\r\nxx\r\n");
}

// The scanner looks at content a block (16 octets) at a time and takes
// line ends inside its loop: every rule must hold wherever a line starts
// or ends relative to a block, and whatever line ends came before.
TEST(Canonical, EveryRuleHoldsAtEveryOffsetInABlock) {
    const std::string conforming_type = "Content-Type: text/plain\r\n\r\n";
    const std::string reencoded_type =
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
    struct Case {
        std::string line;
        bool conforms;
    };
    const std::vector<Case> cases = {
        {std::string(76, 'x'), true},   {std::string(77, 'x'), false}, {"ends in space ", false},
        {"ends in tab\t", false},       {"From here", false},           {"From", true},
        {".", false},                   {"..", true},                   {"ctl\x01here", false},
        {"del\x7fhere", false},         {"tab\tinside", true},          {"bare\rcr", false},
        {"high\xc3\xa9", false},         {"", true},
    };
    for (std::size_t offset = 0; offset < 34; ++offset) {
        for (const char* before : {"\n", "\r\n"}) {
            for (const Case& c : cases) {
                const std::string body =
                    std::string(offset, 'a') + before + c.line + "\n" + std::string(offset % 7, 'b') + "\n";
                SCOPED_TRACE("offset " + std::to_string(offset) + ", line \"" + c.line + "\"");
                const std::string out = ok(Canon().of("Content-Type: text/plain\r\n\r\n" + body));
                const std::string& type = c.conforms ? conforming_type : reencoded_type;
                EXPECT_EQ(out.compare(0, type.size(), type), 0) << out;
            }
        }
    }
}

TEST(Canonical, DeclaredEncodingsOfConformingContentAreKept) {
    // 7bit, 8bit and binary over 7-bit content are all 7bit now; base64 and
    // quoted-printable content that conforms keeps its encoding unchanged.
    const std::string body = "plain\r\n";
    for (const char* declared : {"7bit", "8bit", "binary", "7BIT"}) {
        EXPECT_EQ(ok(Canon().of("Content-Type: text/plain\r\nContent-Transfer-Encoding: "s +
                                declared + "\r\n\r\n" + body)),
                  "Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + body)
            << declared;
    }
    EXPECT_EQ(
        ok(Canon().of("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                      "JVBERi0xLjQK\r\n")),
        "Content-Type: application/pdf\r\nContent-Transfer-Encoding: "
        "base64\r\n\r\nJVBERi0xLjQK\r\n");
    EXPECT_EQ(ok(Canon().of("Content-Type: text/plain; charset=utf-8\r\n"
                            "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n")),
              "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\n"
              "Caf=C3=A9\r\n");
}

TEST(Canonical, ContentLengthIsDroppedAndTheEncodingFieldReplaced) {
    // A Content-Length would be wrong after re-encoding; the transfer
    // encoding is the writer's to state, after the other fields.
    const std::string m =
        "Content-Transfer-Encoding: 8bit\r\nContent-Length: 7\r\n"
        "Content-Type: text/plain\r\n\r\nplain\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\nplain\r\n");
}

TEST(Canonical, FoldedContentFieldsAreUnfoldedAndRefoldedWithin76) {
    const std::string m =
        "Content-Type: text/plain;\r\n\tcharset=us-ascii\r\nContent-Disposition: inline;\r\n"
        " filename=\"a-rather-long-file-name-for-a-statement-of-account.txt\"; "
        "size=12345\r\n\r\nx\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain;\tcharset=us-ascii\r\n"
              "Content-Disposition: inline;\r\n"
              " filename=\"a-rather-long-file-name-for-a-statement-of-account.txt\";\r\n"
              " size=12345\r\n\r\nx\r\n");
}

// ---- what RFC 8551 §3.1 forbids is re-encoded ------------------------------

TEST(Canonical, EightBitTextBecomesQuotedPrintable) {
    const std::string m =
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Caf\xC3\xA9 cr\xC3\xA8me\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\n"
              "Caf=C3=A9 cr=C3=A8me\r\n");
}

TEST(Canonical, EightBitBinaryBecomesBase64) {
    std::string data;
    for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
    const std::string m =
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
        data;
    // base64 of the 256 octets 0..255, 57 octets (76 characters) per line.
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
              "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"
              "OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3Bx\r\n"
              "cnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmq\r\n"
              "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj\r\n"
              "5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\r\n");
}

TEST(Canonical, BareCrInTextIsEncodedAndCrlfKept) {
    // A CR not followed by LF is not a line end (RFC 8551 §3.1.1); in text
    // it is data, written =0D.
    const std::string m = "Content-Type: text/plain\r\n\r\na\rb\r\nc\r";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\na=0Db\r\nc=0D");
}

TEST(Canonical, BareCrInBinaryMakesItBase64) {
    const std::string m = "Content-Type: application/octet-stream\r\n\r\nab\rcd\r\n";
    // base64("ab\rcd\r\n"): the octets as transferred, line end included.
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
              "base64\r\n\r\nYWINY2QNCg==\r\n");
}

TEST(Canonical, TrailingWhiteSpaceIsEncoded) {
    // RFC 8551 §3.1.3 / RFC 2045 §6.7 rule 3: trailing white space may be
    // stripped in transit, so it is written =20 and =09.
    const std::string m =
        "Content-Type: text/plain\r\n\r\ntrailing space \r\ntrailing tab\t\nmid dle\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              "trailing space=20\r\ntrailing tab=09\r\nmid dle\r\n");
}

TEST(Canonical, FromAtLineStartAndALoneDotAreEncoded) {
    // "From " is escaped by mbox writers and a lone "." ends SMTP DATA:
    // either would change the signed bytes in transit.
    const std::string m = "Content-Type: text/plain\r\n\r\nhello\r\nFrom here\r\n.\r\nFrom\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              "hello\r\n=46rom here\r\n=2E\r\nFrom\r\n");
}

TEST(Canonical, ControlCharactersAreEncodedButTabIsNot) {
    const std::string m =
        "Content-Type: text/plain\r\n\r\na\tb\x01"
        "c\x7F"
        "d\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\na\tb=01c=7Fd\r\n");
}

TEST(Canonical, LongBase64LinesAreRewrappedAt76) {
    // 114 octets encoded as one 152-character line: decoded, then 57
    // octets per 76-character line.
    const std::string line(152, 'Q');  // "QQQQ" = 0x41 0x04 0x10
    const std::string m =
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
        line + "\r\n";
    EXPECT_EQ(
        ok(Canon().of(m)),
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            std::string(76, 'Q') + "\r\n" + std::string(76, 'Q') + "\r\n");
}

TEST(Canonical, QuotedPrintableWithEightBitOctetsIsDecodedAndReencoded) {
    const std::string m =
        "Content-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nna=EFve \xE9t\xE9\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n"
              "\r\nna=EFve =E9t=E9\r\n");
}

TEST(Canonical, TextInBase64ThatDoesNotConformBecomesQuotedPrintable) {
    // Text is re-encoded as quoted-printable whatever it arrived in: here
    // base64 with a line of 80 characters ("Hello\r\n" × 8 + 4 octets).
    const std::string b64 =
        "SGVsbG8NCkhlbGxvDQpIZWxsbw0KSGVsbG8NCkhlbGxvDQpIZWxsbw0KSGVsbG8NCkhlbGxvDQpB";
    ASSERT_EQ(b64.size(), 76u);
    const std::string m =
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "QUFB\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              "Hello\r\nHello\r\nHello\r\nHello\r\nHello\r\nHello\r\nHello\r\nHello\r\nAAAA");
}

// Disabled: fails today. GMime reads an encoding it does not know
// ("x-gzip64") as none at all, so the part counts as conforming 7bit text
// and its Content-Transfer-Encoding field is dropped: the signed part then
// declares the still-encoded octets to be the content. RFC 2045 §6.4 says
// such an entity must be treated as application/octet-stream; keeping the
// field (the octets are copied unchanged) would keep its meaning. Reported
// to the lead; run with --gtest_also_run_disabled_tests.
// RFC 2045 §6.4: an encoding ribbon does not know is opaque data. GMime
// reports it as no encoding at all; the field must not be dropped (the
// signed part would then show encoded bytes as 7bit text).
TEST(Canonical, AnUnknownTransferEncodingIsKept) {
    EXPECT_EQ(ok(Canon().of("Content-Type: application/octet-stream\r\n"
                            "Content-Transfer-Encoding: x-gzip64\r\n\r\nH4sIAAAA\r\n")),
              "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-gzip64\r\n"
              "\r\nH4sIAAAA\r\n");
    // The same inside a multipart (GMime's route), the token as written.
    EXPECT_EQ(ok(Canon().of("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                            "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                            "--b\r\nContent-Type: application/octet-stream\r\n"
                            "Content-Transfer-Encoding:  X-Gzip64 \r\n\r\nH4sIAAAA\r\n--b--\r\n")),
              "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
              "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: X-Gzip64\r\n"
              "\r\nH4sIAAAA\r\n--b--\r\n");
}

// Content in an unknown encoding that is not 7-bit lines cannot be made to
// survive transit without decoding it: refused, naming the encoding.
TEST(Canonical, AnUnknownTransferEncodingOverEightBitContentIsRefused) {
    auto r = Canon().of("Content-Type: application/octet-stream\r\n"
                        "Content-Transfer-Encoding: x-private\r\n\r\n\xC3\xA9t\xC3\xA9\r\n");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::malformed_message);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(),
              "a part's Content-Transfer-Encoding \"x-private\" is unknown and its content is not 7-bit lines: "
              "it cannot be signed in a form that survives transit (RFC 2045 §6.4)");
}

TEST(Canonical, UuencodedContentIsDecodedThenReencoded) {
    // x-uuencode is no RFC 2045 encoding, so the part is re-encoded: the
    // octets it carries ("abc", after the "begin" line GMime's own
    // decoder skips) in quoted-printable for text, base64 otherwise.
    const std::string uu = "begin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n";
    EXPECT_EQ(
        ok(Canon().of("Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" +
                      uu)),
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nabc");
    EXPECT_EQ(
        ok(Canon().of(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n"
            "\r\n" +
            uu)),
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
        "base64\r\n\r\nYWJj\r\n");
}

// ---- a part without MIME fields --------------------------------------------

TEST(Canonical, MissingContentTypeIsStatedWithTheCharsetTheOctetsShow) {
    // RFC 2045 §5.2: the default is text/plain; the charset the writer
    // states follows the octets, so a re-encoding has a type to belong to.
    EXPECT_EQ(ok(Canon().of(kHead + "\r\nplain\r\n")),
              "Content-Type: text/plain; charset=us-ascii\r\n\r\nplain\r\n");
    EXPECT_EQ(ok(Canon().of(kHead + "\r\nCaf\xC3\xA9\r\n")),
              "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\n"
              "Caf=C3=A9\r\n");
    EXPECT_EQ(ok(Canon().of(kHead + "\r\nCaf\xE9\r\n")),
              "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\n"
              "Caf=E9\r\n");
    // A UTF-8 sequence cut short at the end is not UTF-8.
    EXPECT_EQ(ok(Canon().of(kHead + "\r\nCaf\xC3")),
              "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n\r\n"
              "Caf=C3");
}

// ---- header protection (RFC 9788 §2) ---------------------------------------

TEST(Canonical, TopLevelTypeGetsHpClearAndTheProtectedCopies) {
    Canon c;
    c.options.header_protection = true;
    c.options.protected_headers = "From: Bank <no-reply@bank.example>\r\nSubject: s\r\n";
    EXPECT_EQ(ok(c.of(kHead + "Content-Type: text/plain\r\n\r\nx\r\n")),
              "Content-Type: text/plain; hp=\"clear\"\r\nFrom: Bank "
              "<no-reply@bank.example>\r\nSubject: s\r\n\r\nx\r\n");
    // The default type gets it too.
    EXPECT_EQ(ok(c.of(kHead + "\r\nx\r\n")),
              "Content-Type: text/plain; charset=us-ascii; hp=\"clear\"\r\n"
              "From: Bank <no-reply@bank.example>\r\nSubject: s\r\n\r\nx\r\n");
}

TEST(Canonical, WithoutHeaderProtectionNoHpAndNoCopies) {
    Canon c;
    c.options.header_protection = false;
    c.options.protected_headers = "";
    EXPECT_EQ(ok(c.of(kHead + "Content-Type: text/plain\r\n\r\nx\r\n")),
              "Content-Type: text/plain\r\n\r\nx\r\n");
}

// ---- multiparts and attached messages (GMime's route) ----------------------

TEST(Canonical, MultipartPartsAreEachMadeCanonicalAndPreambleEpilogueDropped) {
    Canon c;
    c.options.header_protection = true;
    const std::string m =
        kHead +
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "This is a preamble.\r\n"
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        "\r\nCaf\xC3\xA9\n\r\n"
        "--b1\r\nContent-Type: application/octet-stream\r\n\r\n\x80\x81\r\n"
        "--b1\r\n\r\nno fields\r\n"
        "--b1--\r\nAn epilogue.\r\n";
    ASSERT_FALSE(on_scanner_route(m));
    EXPECT_EQ(ok(c.of(m)),
              "Content-Type: multipart/mixed; boundary=\"b1\"; hp=\"clear\"\r\n\r\n"
              "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
              "quoted-printable\r\n"
              "\r\nCaf=C3=A9\r\n\r\n"
              "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
              "base64\r\n\r\ngIE=\r\n\r\n"
              "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nno fields\r\n"
              "--b1--\r\n");
}

// RFC 2046 §5.1.1: the line break before a delimiter line belongs to the
// delimiter, whatever either line ends in. GMime 3.2.13 (Debian 12) takes
// its length from the delimiter line's own ending (parser_scan_content()),
// so without ribbon's correction (mime_parse.cpp) "abc\n" before "--b\r\n"
// lost its "c" (a valid signature over damaged content), and "abc\r\n"
// before "--b\n" kept a bare CR that was then quoted-printable encoded.
TEST(Canonical, PartEndingInBareLfBeforeACrlfBoundaryKeepsItsLastOctet) {
    const std::string m =
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nabc\n--b\r\n"
        "Content-Type: text/plain\r\n\r\nxyz\r\n--b--\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nxyz\r\n--b--\r\n");
}

TEST(Canonical, PartEndingInCrlfBeforeABareLfBoundaryGainsNoCr) {
    const std::string m =
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b\n"
        "Content-Type: text/plain\r\n\r\nxyz\r\n--b--\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nxyz\r\n--b--\r\n");
}

TEST(Canonical, PartOfOnlyALineBreakIsEmptyWhateverTheDelimiterEndsIn) {
    // The one line break is the delimiter's: the parts are empty. The
    // close delimiter without any line end (the input's last line) too.
    const std::string m =
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\n\n--b\r\n"
        "Content-Type: text/plain\r\n\r\n\r\n--b\n"
        "Content-Type: text/plain\r\n\r\n\r\n--b--";
    const std::string empty_part = "--b\r\nContent-Type: text/plain\r\n\r\n\r\n";
    EXPECT_EQ(ok(Canon().of(m)), "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" + empty_part +
                                     empty_part + empty_part + "--b--\r\n");
}

TEST(Canonical, MixedLineEndsBeforeDelimitersLoseNoOctetNestedAttachedOrFromAFile) {
    // Every mix of a part's last line end and its delimiter's, at a
    // delimiter and a close delimiter, in a nested multipart and in an
    // attached message, in memory and from a file parsed in place.
    const std::string big(70, 'x');
    std::string filler;
    while (filler.size() < 1100 * 1024) filler += big + "\r\n";
    const std::string m =
        "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"
        "--o\r\nContent-Type: text/plain\r\n\r\n" + filler + "Total: 100 EUR\n--o\r\n"
        "Content-Type: multipart/alternative; boundary=\"i\"\r\n\r\n"
        "--i\n\nTotal: 100 EUR\n--i\r\n\r\nTotal: 200 EUR\r\n--i--\n"
        "--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nTotal: 300 EUR\n--o--\r\n";
    const std::string head =
        "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"
        "--o\r\nContent-Type: text/plain\r\n\r\n" + filler;
    const std::string tail =
        "Total: 100 EUR\r\n"
        "--o\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\n"
        "--i\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nTotal: 100 EUR\r\n"
        "--i\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nTotal: 200 EUR\r\n--i--\r\n\r\n"
        "--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nTotal: 300 EUR\r\n--o--\r\n";
    for (bool file : {false, true}) {
        SCOPED_TRACE(file ? "from a file" : "in memory");
        const std::string out = ok(file ? Canon().of_file(m) : Canon().of(m));
        // Compared in two pieces so that a failure shows the short tail.
        EXPECT_EQ(out.compare(0, head.size(), head), 0);
        EXPECT_EQ(out.size() >= head.size() ? out.substr(head.size()) : out, tail);
    }
}

TEST(Canonical, AttachedMessageIsMadeSevenBitPartByPart) {
    // RFC 2046 §5.2.1: message/rfc822 may only be 7bit, 8bit or binary, so
    // its own encoding field goes and the inner message's body is
    // re-encoded instead; its header section is kept whole (refolded).
    const std::string m =
        kHead +
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "From: x@example.org\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "\xC3\xA9t\xC3\xA9\r\n"
        "--b--\r\n";
    EXPECT_EQ(ok(Canon().of(m)),
              "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
              "--b\r\nContent-Type: message/rfc822\r\n\r\n"
              "From: x@example.org\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9t=C3=A9\r\n"
              "--b--\r\n");
}

TEST(Canonical, NestingBeyondTheLimitIsLimitExceeded) {
    Canon c;
    c.limits.max_depth = 1;
    const std::string two_deep =
        "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"
        "--o\r\nContent-Type: multipart/mixed; boundary=\"i\"\r\n\r\n"
        "--i\r\nContent-Type: text/plain\r\n\r\nx\r\n--i--\r\n--o--\r\n";
    auto r = c.of(two_deep);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::limit_exceeded);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(), "MIME parts are nested more than 1 deep");
    c.limits.max_depth = 2;
    EXPECT_TRUE(c.of(two_deep).ok());
}

TEST(Canonical, TooManyFieldsInAPartIsLimitExceeded) {
    Canon c;
    c.limits.max_header_count = 3;
    const std::string m =
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\nContent-ID: <1@x>\r\nContent-Description: d\r\n"
        "Content-Language: en\r\n\r\nx\r\n--b--\r\n";
    auto r = c.of(m);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::limit_exceeded);
    EXPECT_EQ(r.error().message(), "a MIME part has 4 header fields");
    c.limits.max_header_count = 4;
    EXPECT_TRUE(c.of(m).ok());
}

// ---- header values ----------------------------------------------------------

TEST(Canonical, EightBitContentFieldIsRefusedByName) {
    auto r = Canon().of("Content-Type: text/plain; name=\"caf\xC3\xA9.txt\"\r\n\r\nx\r\n");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::malformed_message);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(r.error().message(),
              "header Content-Type contains unencoded 8-bit characters; encode it (RFC 2047, RFC "
              "2231) so it "
              "can be signed 7-bit");
    // Outside the signed part an 8-bit field is not the writer's business.
    EXPECT_TRUE(Canon().of("Subject: caf\xC3\xA9\r\nContent-Type: text/plain\r\n\r\nx\r\n").ok());
}

TEST(Canonical, CheckHeaderValueLimitsAndOctets) {
    mime::Limits limits;
    limits.max_header_bytes = 10;
    EXPECT_TRUE(check_header_value("X", std::string(10, 'a'), limits).ok());
    auto too_long = check_header_value("X-Long", std::string(11, 'a'), limits);
    ASSERT_FALSE(too_long.ok());
    EXPECT_EQ(too_long.error().code(), Errc::limit_exceeded);
    EXPECT_EQ(too_long.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(too_long.error().message(), "header X-Long is 11 bytes long; the limit is 10");
    auto nul = check_header_value("Subject", "a\0b"s, limits);
    ASSERT_FALSE(nul.ok());
    EXPECT_EQ(nul.error().code(), Errc::malformed_message);
    EXPECT_EQ(nul.error().message(), "header Subject contains a NUL byte");
    auto high = check_header_value("To", "\x80", limits);
    ASSERT_FALSE(high.ok());
    EXPECT_EQ(high.error().code(), Errc::malformed_message);
    // Every other 7-bit octet is allowed, controls included (the value is
    // unfolded; folding is the writer's).
    std::string all;
    for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
    limits.max_header_bytes = all.size();
    EXPECT_TRUE(check_header_value("X", all, limits).ok());
}

// ---- chunk boundaries -------------------------------------------------------

// For outputs of megabytes: the sizes and the first differing offset,
// not gtest's diff of the whole strings.
void expect_same_bytes(const std::string& got, const std::string& want) {
    if (got == want) return;
    std::size_t at = 0;
    while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
    ADD_FAILURE() << "got " << got.size() << " bytes, want " << want.size()
                  << "; first difference at " << at << ": got \"" << got.substr(at, 20)
                  << "\", want \"" << want.substr(at, 20) << "\"";
}

// `n` octets (n >= 2) of conforming lines: 64 'a' and CRLF, the last line
// shorter so that the whole ends in CRLF exactly at `n`.
std::string filler(std::size_t n) {
    std::string out;
    out.reserve(n);
    while (n - out.size() > 66) out += std::string(64, 'a') + "\r\n";
    out += std::string(n - out.size() - 2, 'a') + "\r\n";
    return out;
}

constexpr std::size_t kOverOneMiB = 1024 * 1024 + 4096;  // a file this big is parsed in place

TEST(Canonical, CrlfSplitAcrossChunksConformsOnBothRoutes) {
    // The CR ends one 256 KiB chunk and the LF starts the next: still a
    // line end, so the body is copied unchanged.
    const std::string head = "Content-Type: text/plain\r\n\r\n";
    const std::string body =
        filler(kChunk - 11) + std::string(10, 'b') + "\r\n" + filler(kOverOneMiB);
    ASSERT_EQ(body.substr(kChunk - 1, 2), "\r\n");
    const std::string m = head + body;
    expect_same_bytes(ok(Canon().of(m)), m);
    expect_same_bytes(ok(Canon().of_file(m)), m);
}

TEST(Canonical, LoneCrAtTheEndOfAChunkIsNotALineEnd) {
    // CR as a chunk's last octet and a letter first in the next: a bare
    // CR, so the text is re-encoded, in memory and from a file alike.
    const std::string head = "Content-Type: text/plain\r\n\r\n";
    const std::string body =
        filler(kChunk - 11) + std::string(10, 'b') + "\rz\r\n" + filler(kOverOneMiB);
    ASSERT_EQ(body.substr(kChunk - 1, 2), "\rz");
    const std::string m = head + body;
    for (bool file : {false, true}) {
        const std::string out = ok(file ? Canon().of_file(m) : Canon().of(m));
        EXPECT_EQ(out.substr(0, 73),
                  "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
            << "from a file: " << file;
        EXPECT_EQ(out.size(), m.size() + 45 + 2)
            << "from a file: " << file;  // the field, and =0D for \r
        EXPECT_NE(out.find("\r\nbbbbbbbbbb=0Dz\r\naaaa"), std::string::npos)
            << "from a file: " << file;
    }
}

TEST(Canonical, LoneCrAtTheVeryEndIsNotALineEnd) {
    const std::string m = "Content-Type: application/octet-stream\r\n\r\n" + filler(kChunk) + "\r";
    const std::string out = ok(Canon().of(m));
    EXPECT_EQ(
        out.substr(0, 77),
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n");
}

TEST(Canonical, LineTooLongAcrossAChunkBoundaryIsSeen) {
    // 77 octets of which 40 are in one chunk and 37 in the next.
    const std::string head = "Content-Type: application/octet-stream\r\n\r\n";
    const std::string m = head + filler(kChunk - 40) + std::string(77, 'L') + "\r\n" + filler(1000);
    EXPECT_EQ(
        ok(Canon().of(m)).substr(0, 77),
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    // One octet shorter and it is copied as it is.
    const std::string fits =
        head + filler(kChunk - 40) + std::string(76, 'L') + "\r\n" + filler(1000);
    expect_same_bytes(ok(Canon().of(fits)), fits);
}

TEST(Canonical, FromSplitAcrossChunksIsSeen) {
    // "Fr" ends one chunk and "om " starts the next.
    const std::string head = "Content-Type: text/plain\r\n\r\n";
    const std::string m = head + filler(kChunk - 2) + "From me\r\n" + filler(100);
    const std::string out = ok(Canon().of(m));
    EXPECT_NE(out.find("\r\n=46rom me\r\n"), std::string::npos);
}

// ---- the contract on arbitrary content -------------------------------------

// The decoded content of the single leaf in `entity` (GMime's decoders).
std::string gmime_decoded(const std::string& entity) {
    auto obj = mime::parse_entity(entity);
    EXPECT_TRUE(obj.ok());
    if (!obj.ok() || !GMIME_IS_PART(obj->get())) return "<not a part>";
    return mime::decoded_content(GMIME_PART(obj->get()));
}

// What must hold of every canonical output (RFC 8551 §3.1).
void expect_canonical(const std::string& out) {
    std::size_t start = 0;
    while (start < out.size()) {
        std::size_t end = out.find("\r\n", start);
        std::string line =
            out.substr(start, end == std::string::npos ? std::string::npos : end - start);
        ASSERT_EQ(line.find_first_of("\r\n"), std::string::npos) << "bare CR or LF in: " << line;
        ASSERT_LE(line.size(), 76u) << line;
        for (char ch : line) ASSERT_LT(static_cast<unsigned char>(ch), 0x80) << line;
        if (!line.empty()) {
            ASSERT_NE(line.back(), ' ') << line;
            ASSERT_NE(line.back(), '\t') << line;
        }
        ASSERT_NE(line.rfind("From ", 0), 0u) << line;
        ASSERT_NE(line, ".");
        if (end == std::string::npos) break;
        start = end + 2;
    }
}

std::string with_crlf(const std::string& in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) out.push_back('\r');
        out.push_back(in[i]);
    }
    return out;
}

TEST(Canonical, RandomContentIsCanonicalAndDecodesToTheSameOctets) {
    // Text keeps its octets with line ends made CRLF; anything else keeps
    // its octets exactly. Fixed seed: a failure can be reproduced.
    std::mt19937 rng(14);
    const std::string alphabet = "ab From .\t \r\n\x80\xC3\xA9=\x01";
    for (int round = 0; round < 200; ++round) {
        std::string content(rng() % 400, '\0');
        for (char& ch : content) ch = alphabet[rng() % alphabet.size()];
        bool text = round % 2 == 0;
        const std::string m = std::string("Content-Type: ") +
                              (text ? "text/plain" : "application/x-data") +
                              "\r\nContent-Transfer-Encoding: binary\r\n\r\n" + content;
        std::string out = ok(Canon().of(m));
        ASSERT_NO_FATAL_FAILURE(expect_canonical(out)) << "round " << round;
        std::string decoded = gmime_decoded(out);
        std::string expected = content;
        // GMime's quoted-printable decoder gives CRLF line ends as written.
        if (text) expected = with_crlf(content);
        // A passed-through part is copied with LF made CRLF, text or not.
        if (out.find("Content-Transfer-Encoding: 7bit") != std::string::npos)
            expected = with_crlf(content);
        EXPECT_EQ(decoded, expected) << "round " << round;
    }
}

}  // namespace
}  // namespace ribbon::canon
