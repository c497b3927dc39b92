// Unit tests of src/relay/smtp_protocol.hpp: the text rules of `ribbon
// relay` without sockets. The expected values come from the RFCs, not from
// the code: command syntax (RFC 5321 §4.1), paths (§4.1.2, §4.5.3.1.3),
// replies with enhanced codes on every line (RFC 2034 §4), the end of DATA
// at CRLF "." CRLF only with dot-unstuffing (§4.1.1.4, §4.5.2), and the
// RFC 4648 §10 base64 test vectors. The DATA reader is also fed in every
// split and in random chunks, since the session feeds whatever the socket
// returned.
#include "relay/smtp_protocol.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace ribbon::relay {
namespace {

// ---- commands ----------------------------------------------------------------

TEST(SmtpCommand, VerbsAreCaseInsensitiveAndTheArgumentIsTrimmed) {
    struct Case {
        std::string_view line;
        Verb verb;
        std::string_view argument;
    };
    const Case cases[] = {
        {"EHLO client.example", Verb::ehlo, "client.example"},
        {"ehlo client.example  ", Verb::ehlo, "client.example"},
        {"HeLo  client.example", Verb::helo, "client.example"},
        {"DATA", Verb::data, ""},
        {"data ", Verb::data, ""},
        {"RSET", Verb::rset, ""},
        {"NOOP anything", Verb::noop, "anything"},
        {"QUIT", Verb::quit, ""},
        {"VRFY postmaster", Verb::vrfy, "postmaster"},
        {"StartTLS", Verb::starttls, ""},
        {"AUTH PLAIN AHVzZXIAcGFzcw==", Verb::auth, "PLAIN AHVzZXIAcGFzcw=="},
        {"HELP", Verb::help, ""},
        {"BDAT 1000 LAST", Verb::bdat, "1000 LAST"},
        {"EHLO", Verb::ehlo, ""},
    };
    for (const Case& c : cases) {
        Command got = parse_command(c.line);
        EXPECT_EQ(got.verb, c.verb) << c.line;
        EXPECT_EQ(got.argument, c.argument) << c.line;
    }
}

TEST(SmtpCommand, MailAndRcptTakeThePathAfterTheColon) {
    Command mail = parse_command("MAIL FROM:<a@b.example> SIZE=100");
    EXPECT_EQ(mail.verb, Verb::mail);
    EXPECT_EQ(mail.argument, "<a@b.example> SIZE=100");
    // RFC 5321 §4.1.1.2 has no space after the colon; Postfix tolerates one.
    Command spaced = parse_command("mail from: <a@b.example>");
    EXPECT_EQ(spaced.verb, Verb::mail);
    EXPECT_EQ(spaced.argument, "<a@b.example>");
    Command rcpt = parse_command("Rcpt To:<c@d.example>\t ");
    EXPECT_EQ(rcpt.verb, Verb::rcpt);
    EXPECT_EQ(rcpt.argument, "<c@d.example>");
    EXPECT_EQ(parse_command("RCPT TO:").argument, "");
}

TEST(SmtpCommand, UnknownVerbs) {
    for (std::string_view line :
         {"", "XYZZY magic", "EHLOX host", "MAIL", "MAIL FROM <a@b.example>",
          "MAIL  FROM:<a@b.example>", "RCPT <c@d.example>", " EHLO host", "EHLO\thost"}) {
        EXPECT_EQ(parse_command(line).verb, Verb::unknown) << "\"" << line << "\"";
    }
    EXPECT_EQ(parse_command("XYZZY magic").argument, "magic");
}

// ---- paths -------------------------------------------------------------------

// The refusal of an argument as "code enhanced text", or "" when accepted.
std::string path_refusal(std::string_view argument, bool null_allowed = true) {
    PathArgument out;
    auto r = parse_path(argument, null_allowed, out);
    if (!r) return "";
    EXPECT_EQ(r->lines.size(), 1u);
    return std::to_string(r->code) + " " + r->enhanced + " " + r->lines.front();
}

PathArgument path_ok(std::string_view argument, bool null_allowed = true) {
    PathArgument out;
    auto r = parse_path(argument, null_allowed, out);
    EXPECT_FALSE(r) << argument << ": " << r->summary();
    return out;
}

using Params = std::vector<std::pair<std::string, std::string>>;

TEST(SmtpPath, AddressAndParameters) {
    PathArgument p = path_ok("<no-reply@bank.example>");
    EXPECT_EQ(p.address, "no-reply@bank.example");
    EXPECT_TRUE(p.params.empty());
    // RFC 5321 §4.1.2: esmtp-keyword is case-insensitive; values are kept.
    p = path_ok("<a@b.example> size=100  body=8BITMIME SmtpUtf8 AUTH=<>  ");
    EXPECT_EQ(p.address, "a@b.example");
    EXPECT_EQ(p.params,
              (Params{{"SIZE", "100"}, {"BODY", "8BITMIME"}, {"SMTPUTF8", ""}, {"AUTH", "<>"}}));
    // 8-bit addresses are syntax here; SMTPUTF8 is the session's check.
    EXPECT_EQ(path_ok("<δοκιμή@παράδειγμα.example>").address, "δοκιμή@παράδειγμα.example");
}

TEST(SmtpPath, NullPathOnlyWhereAllowed) {
    EXPECT_EQ(path_ok("<>").address, "");
    EXPECT_EQ(path_ok("<> BODY=7BIT").params, (Params{{"BODY", "7BIT"}}));
    EXPECT_EQ(path_refusal("<>", false), "501 5.1.3 The null address <> is not a recipient");
}

TEST(SmtpPath, SourceRouteIsDropped) {
    // RFC 5321 §4.1.2 and Appendix C: accepted, and the route ignored.
    EXPECT_EQ(path_ok("<@relay1.example,@relay2.example:user@c.example>").address,
              "user@c.example");
    EXPECT_EQ(path_refusal("<@relay1.example>"), "501 5.1.7 Syntax: bad source route");
}

TEST(SmtpPath, QuotedLocalPart) {
    // RFC 5321 §4.1.2 Quoted-string: '>' and spaces inside quotes belong to
    // the address, and a quoted-pair escapes '"'.
    EXPECT_EQ(path_ok("<\"a>b\"@c.example> SIZE=1").address, "\"a>b\"@c.example");
    EXPECT_EQ(path_ok("<\"john smith\"@c.example>").address, "\"john smith\"@c.example");
    EXPECT_EQ(path_ok("<\"q\\\">\"@c.example>").address, "\"q\\\">\"@c.example");
    EXPECT_EQ(path_refusal("<\"a>b@c.example>"), "501 5.5.4 Syntax: missing '>' after the address");
}

TEST(SmtpPath, RefusalsWithTheirCodes) {
    const std::string brackets =
        "501 5.5.4 Syntax: the address must be in angle brackets, as <user@domain>";
    EXPECT_EQ(path_refusal(""), brackets);
    EXPECT_EQ(path_refusal("a@b.example"), brackets);
    EXPECT_EQ(path_refusal(" <a@b.example>"), brackets);
    EXPECT_EQ(path_refusal("<a@b.example"), "501 5.5.4 Syntax: missing '>' after the address");
    EXPECT_EQ(path_refusal("<a@b.example>SIZE=1"),
              "501 5.5.4 Syntax: a space must follow the address");
    EXPECT_EQ(path_refusal("<a@b.example> =1"), "501 5.5.4 Syntax: bad parameter \"=1\"");
    EXPECT_EQ(path_refusal("<a@b.example> SI_ZE=1"), "501 5.5.4 Syntax: bad parameter \"SI_ZE=1\"");
    EXPECT_EQ(path_refusal("<ab.example>"), "501 5.1.3 Bad address syntax: <ab.example>");
    EXPECT_EQ(path_refusal("<a@>"), "501 5.1.3 Bad address syntax: <a@>");
    EXPECT_EQ(path_refusal("<john smith@c.example>"),
              "501 5.1.3 Bad address syntax: <john smith@c.example>");
    EXPECT_EQ(path_refusal("<a\r@b.example>"), "501 5.1.7 Control characters in the address");
    EXPECT_EQ(path_refusal(std::string_view("<a\0@b.example>", 14)),
              "501 5.1.7 Control characters in the address");
    EXPECT_EQ(path_refusal("<a\x7f@b.example>"), "501 5.1.7 Control characters in the address");
}

TEST(SmtpPath, OverlongAddress) {
    // RFC 5321 §4.5.3.1.3: a path, brackets included, is at most 256 octets.
    std::string local(64, 'l');
    std::string at_254 = local + "@" + std::string(254 - 65, 'd');
    ASSERT_EQ(at_254.size(), 254u);
    EXPECT_EQ(path_ok("<" + at_254 + ">").address, at_254);
    EXPECT_EQ(path_refusal("<" + at_254 + "d>"), "501 5.1.7 Address too long");
}

TEST(SmtpPath, EarlierResultIsClearedOnReuse) {
    PathArgument p;
    ASSERT_FALSE(parse_path("<a@b.example> SIZE=1", true, p));
    ASSERT_TRUE(parse_path("<oops", true, p));
    EXPECT_EQ(p.address, "");
    EXPECT_TRUE(p.params.empty());
}

// ---- replies -----------------------------------------------------------------

TEST(SmtpReply, WireRepeatsTheEnhancedCodeOnEveryLine) {
    EXPECT_EQ(make_reply(250, "2.0.0", "Ok").wire(), "250 2.0.0 Ok\r\n");
    Reply multi{550, "5.1.1", {"first", "second", "third"}};
    // RFC 2034 §4: the enhanced code starts the text of each line.
    EXPECT_EQ(multi.wire(), "550-5.1.1 first\r\n550-5.1.1 second\r\n550 5.1.1 third\r\n");
    Reply ehlo{250, "", {"relay.example", "PIPELINING", "8BITMIME"}};
    EXPECT_EQ(ehlo.wire(), "250-relay.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    EXPECT_EQ(make_reply(354, "", "End data with <CR><LF>.<CR><LF>").wire(),
              "354 End data with <CR><LF>.<CR><LF>\r\n");
}

TEST(SmtpReply, LineEndsInsideTheTextCannotStartAnotherReply) {
    // A next hop's text is passed on: CR or LF in it must not make a
    // second reply line (RFC 5321 §4.2: a reply line is text only).
    EXPECT_EQ(make_reply(451, "4.3.0", "bad\r\n250 Ok\nx").wire(), "451 4.3.0 bad  250 Ok x\r\n");
}

TEST(SmtpReply, SummaryAndClass) {
    Reply r{250, "2.0.0", {"Ok:", "queued as X"}};
    EXPECT_EQ(r.summary(), "250 2.0.0 Ok: queued as X");
    EXPECT_EQ(make_reply(421, "", "bye").summary(), "421 bye");
    EXPECT_TRUE(r.positive());
    EXPECT_FALSE(r.transient());
    EXPECT_TRUE(make_reply(354, "", "go").positive());
    EXPECT_TRUE(make_reply(451, "4.3.0", "x").transient());
    EXPECT_FALSE(make_reply(451, "4.3.0", "x").positive());
    EXPECT_FALSE(make_reply(554, "5.0.0", "x").transient());
}

// ---- replies from the next hop -----------------------------------------------

using State = ReplyParser::State;

TEST(SmtpReplyParser, OneLineWithEnhancedCode) {
    ReplyParser p;
    ASSERT_EQ(p.add("250 2.1.0 Sender ok"), State::done);
    Reply r = p.take();
    EXPECT_EQ(r.code, 250);
    EXPECT_EQ(r.enhanced, "2.1.0");
    EXPECT_EQ(r.lines, std::vector<std::string>{"Sender ok"});
}

TEST(SmtpReplyParser, MultiLine) {
    ReplyParser p;
    EXPECT_EQ(p.add("250-smtp.example Hello"), State::more);
    EXPECT_EQ(p.add("250-PIPELINING"), State::more);
    EXPECT_EQ(p.add("250-"), State::more);
    EXPECT_EQ(p.add("250 8BITMIME"), State::done);
    Reply r = p.take();
    EXPECT_EQ(r.code, 250);
    EXPECT_EQ(r.enhanced, "");
    EXPECT_EQ(r.lines,
              (std::vector<std::string>{"smtp.example Hello", "PIPELINING", "", "8BITMIME"}));
    // It round-trips through wire().
    EXPECT_EQ(r.wire(), "250-smtp.example Hello\r\n250-PIPELINING\r\n250-\r\n250 8BITMIME\r\n");

    ReplyParser q;
    EXPECT_EQ(q.add("550-5.1.1 No such user"), State::more);
    EXPECT_EQ(q.add("550 5.1.1 here"), State::done);
    Reply s = q.take();
    EXPECT_EQ(s.enhanced, "5.1.1");
    EXPECT_EQ(s.lines, (std::vector<std::string>{"No such user", "here"}));
}

TEST(SmtpReplyParser, CodeAloneEndsTheReply) {
    // RFC 5321 §4.2: the text after the code is optional.
    ReplyParser p;
    ASSERT_EQ(p.add("250"), State::done);
    Reply r = p.take();
    EXPECT_EQ(r.code, 250);
    EXPECT_EQ(r.lines, std::vector<std::string>{""});
}

TEST(SmtpReplyParser, MismatchedCodesAreInvalid) {
    ReplyParser p;
    EXPECT_EQ(p.add("250-first"), State::more);
    EXPECT_EQ(p.add("251 second"), State::invalid);
}

TEST(SmtpReplyParser, MissingOrForeignEnhancedCodeStaysText) {
    ReplyParser plain;
    ASSERT_EQ(plain.add("250 Ok"), State::done);
    Reply r = plain.take();
    EXPECT_EQ(r.enhanced, "");
    EXPECT_EQ(r.lines, std::vector<std::string>{"Ok"});
    // RFC 3463 §2: the class must match the reply's first digit, and the
    // code is class.subject.detail.
    for (std::string_view line :
         {"250 5.0.0 Ok", "250 2.0 Ok", "250 2.0.0.0 Ok", "250 2..0 Ok", "250 2.0.x Ok"}) {
        ReplyParser p;
        ASSERT_EQ(p.add(line), State::done) << line;
        Reply got = p.take();
        EXPECT_EQ(got.enhanced, "") << line;
        EXPECT_EQ(got.lines, std::vector<std::string>{std::string(line.substr(4))}) << line;
    }
}

TEST(SmtpReplyParser, GarbageIsInvalid) {
    for (std::string_view line : {"", "25", "hello", "2500 Ok", "250_Ok", "199 Ok", "600 Ok",
                                  "-50 Ok", " 250 Ok", "25x Ok", "+25 Ok"}) {
        ReplyParser p;
        EXPECT_EQ(p.add(line), State::invalid) << "\"" << line << "\"";
    }
}

// ---- DATA --------------------------------------------------------------------

struct Read {
    std::string content;
    std::size_t consumed = 0;
    bool done = false;
    bool bare_line_end = false;
    bool too_long = false;
};

// Feeds `in` to a new DataReader in pieces of the given sizes (the last
// piece takes the rest), the way the session does: unconsumed bytes are
// kept for the next call.
Read read_data(std::string_view in, const std::vector<std::size_t>& pieces = {},
               std::size_t max_line = 1000) {
    DataReader reader(max_line);
    Read r;
    std::size_t offset = 0;
    for (std::size_t i = 0; offset < in.size() && !reader.done(); ++i) {
        std::size_t n =
            i < pieces.size() ? std::min(pieces[i], in.size() - offset) : in.size() - offset;
        std::size_t used = reader.feed(in.substr(offset, n), r.content);
        EXPECT_TRUE(used == n || reader.done()) << "stopped early without the terminator";
        offset += used;
    }
    r.consumed = offset;
    r.done = reader.done();
    r.bare_line_end = reader.saw_bare_line_end();
    r.too_long = reader.line_too_long();
    return r;
}

TEST(SmtpDataReader, EndsAtCrlfDotCrlf) {
    const std::string in = "Subject: hi\r\n\r\nHello\r\n.\r\n";
    Read r = read_data(in);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.content, "Subject: hi\r\n\r\nHello\r\n");
    EXPECT_EQ(r.consumed, in.size());
    EXPECT_FALSE(r.bare_line_end);
    // An empty message: the terminator right after DATA's own CRLF.
    Read empty = read_data(".\r\n");
    EXPECT_TRUE(empty.done);
    EXPECT_EQ(empty.content, "");
}

TEST(SmtpDataReader, RemovesDotStuffing) {
    // RFC 5321 §4.5.2: a leading dot is removed when more follows on the line.
    Read r = read_data("..leading\r\n..\r\n...\r\na.b\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.content, ".leading\r\n.\r\n..\r\na.b\r\n");
}

TEST(SmtpDataReader, DotAfterBareLfDoesNotEndTheMessage) {
    // SMTP smuggling (CVE-2023-51764 and relatives): a next hop that ends
    // DATA at LF "." CRLF would see a second message after "a". Here the
    // message goes on, the lone "." stays a line of content (RFC 5321
    // §4.5.2 removes a dot only when more follows on the line) and the
    // bare LF becomes CRLF.
    const std::string smuggled = "a\n.\r\nMAIL FROM:<x@evil.example>\r\n.\r\n";
    Read r = read_data(smuggled);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.content, "a\r\n.\r\nMAIL FROM:<x@evil.example>\r\n");
    EXPECT_TRUE(r.bare_line_end);
    // "." with a bare LF, and CR "." CRLF, are not terminators either.
    const std::string dot_lf = "a\r\n.\nb\r\n.\r\n";
    Read lf = read_data(dot_lf);
    EXPECT_EQ(lf.content, "a\r\n.\r\nb\r\n");
    const std::string cr_dot = "a\r.\r\nb\r\n.\r\n";
    Read cr = read_data(cr_dot);
    EXPECT_EQ(cr.content, "a\r\n.\r\nb\r\n");
    // In all three only the last line ended the message.
    EXPECT_EQ(r.consumed, smuggled.size());
    EXPECT_EQ(lf.consumed, dot_lf.size());
    EXPECT_EQ(cr.consumed, cr_dot.size());
}

TEST(SmtpDataReader, BareLfIsNormalisedToCrlf) {
    Read r = read_data("one\ntwo\r\n\nthree\n\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.content, "one\r\ntwo\r\n\r\nthree\r\n\r\n");
    EXPECT_TRUE(r.bare_line_end);
}

// RFC 5321 §2.3.8: neither a bare CR nor a bare LF may be sent on. A bare
// CR ends a line the way a bare LF does, so the next hop gets CRLF only.
TEST(SmtpDataReader, BareCrIsNormalisedToCrlf) {
    Read cr = read_data("a\rb\r\r\n\rc\r\r\n.\r\n");
    EXPECT_TRUE(cr.done);
    EXPECT_EQ(cr.content, "a\r\nb\r\n\r\n\r\nc\r\n\r\n");
    EXPECT_TRUE(cr.bare_line_end);
    Read plain = read_data("a\r\nb\r\n.\r\n");
    EXPECT_FALSE(plain.bare_line_end);
}

// The smuggling forms with bare CR and LF, each split at every byte: "."
// between bare line ends is a line of content, never the end, and only the
// final CRLF "." CRLF ends the message.
TEST(SmtpDataReader, DotBetweenBareLineEndsNeverEndsTheMessage) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a\r.\rMAIL FROM:<x@evil.example>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"},
        {"a\n.\nMAIL FROM:<x@evil.example>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"},
        {"a\n.\r\nMAIL FROM:<x@evil.example>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"},
        {"a\r.\r\nMAIL FROM:<x@evil.example>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"},
        {"a\r\n.\rMAIL FROM:<x@evil.example>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"},
        {"a\r\n.\nMAIL FROM:<x@evil.example>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"},
    };
    for (const auto& [in, content] : cases) {
        for (std::size_t split = 0; split <= in.size(); ++split) {
            Read r = read_data(in, {split});
            EXPECT_TRUE(r.done) << ::testing::PrintToString(in) << " split " << split;
            EXPECT_EQ(r.content, content) << ::testing::PrintToString(in) << " split " << split;
            EXPECT_EQ(r.consumed, in.size()) << ::testing::PrintToString(in) << " split " << split;
            EXPECT_TRUE(r.bare_line_end);
        }
    }
}

TEST(SmtpDataReader, TerminatorSplitAtEveryBytePosition) {
    const std::string in = "x\r\n..y\r\n.\r\nQUIT\r\n";
    const std::size_t end = in.find("QUIT");
    for (std::size_t split = 0; split <= in.size(); ++split) {
        Read r = read_data(in, {split});
        EXPECT_TRUE(r.done) << split;
        EXPECT_EQ(r.content, "x\r\n.y\r\n") << split;
        EXPECT_EQ(r.consumed, end) << split;
    }
    Read bytewise = read_data(in, std::vector<std::size_t>(in.size(), 1));
    EXPECT_EQ(bytewise.content, "x\r\n.y\r\n");
    EXPECT_EQ(bytewise.consumed, end);
}

TEST(SmtpDataReader, LeavesWhatFollowsTheTerminator) {
    DataReader reader(1000);
    std::string out;
    // PIPELINING (RFC 2920): the next commands may arrive with the data.
    EXPECT_EQ(reader.feed("x\r\n.\r\nQUIT\r\n", out), 6u);
    EXPECT_TRUE(reader.done());
    EXPECT_EQ(out, "x\r\n");
    EXPECT_EQ(reader.feed("RSET\r\n", out), 0u);
    EXPECT_EQ(out, "x\r\n");
}

TEST(SmtpDataReader, LineTooLongStillReadsToTheEnd) {
    Read fits = read_data("0123456789\r\n.\r\n", {}, 10);
    EXPECT_FALSE(fits.too_long);
    EXPECT_EQ(fits.content, "0123456789\r\n");
    // A stuffed dot is not content, so it does not count.
    Read stuffed = read_data("..123456789\r\n.\r\n", {}, 10);
    EXPECT_FALSE(stuffed.too_long);
    EXPECT_EQ(stuffed.content, ".123456789\r\n");
    const std::string over = "0123456789A\r\nshort\r\n.\r\nQUIT\r\n";
    Read r = read_data(over, {}, 10);
    EXPECT_TRUE(r.too_long);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.consumed, over.find("QUIT"));
}

// Lines are copied a run at a time: a run cut anywhere by the reads, and
// the line-length limit hit inside a run, give what a byte at a time gives.
TEST(SmtpDataReader, RunsCutAnywhereGiveTheSameContent) {
    const std::string in = "Subject: runs\r\n\r\nfirst line of text\r\n..stuffed\nbare LF line\rbare CR line\r\n"
                           "0123456789\r\n.\r\nQUIT\r\n";
    const std::string expected = "Subject: runs\r\n\r\nfirst line of text\r\n.stuffed\r\nbare LF line\r\n"
                                 "bare CR line\r\n0123456789\r\n";
    const Read whole = read_data(in);
    EXPECT_EQ(whole.content, expected);
    EXPECT_TRUE(whole.bare_line_end);
    EXPECT_EQ(whole.consumed, in.find("QUIT"));
    for (std::size_t size = 1; size <= 9; ++size) {
        Read r = read_data(in, std::vector<std::size_t>(in.size(), size));
        EXPECT_EQ(r.content, expected) << "pieces of " << size;
        EXPECT_EQ(r.consumed, whole.consumed) << "pieces of " << size;
        EXPECT_TRUE(r.done);
    }
    // The limit is 18 octets: "first line of text" fits, one more does not,
    // wherever the read cuts the run.
    EXPECT_FALSE(read_data("first line of text\r\n.\r\n", {5}, 18).too_long);
    EXPECT_TRUE(read_data("first line of text!\r\n.\r\n", {5}, 18).too_long);
    EXPECT_TRUE(read_data("first line of text!\r\n.\r\n", {}, 18).too_long);
}

// ---- dot-stuffing ------------------------------------------------------------

TEST(SmtpDotStuffer, StuffsLeadingDotsAndTerminates) {
    DotStuffer s;
    std::string out;
    s.add("a\r\n.b\r\n.\r\n..\r\nc.\r\n", out);
    s.finish(out);
    EXPECT_EQ(out, "a\r\n..b\r\n..\r\n...\r\nc.\r\n.\r\n");

    // Content without a final line end gets one before the terminator.
    DotStuffer t;
    std::string open;
    t.add("x", open);
    t.finish(open);
    EXPECT_EQ(open, "x\r\n.\r\n");

    DotStuffer e;
    std::string none;
    e.finish(none);
    EXPECT_EQ(none, ".\r\n");
}

TEST(SmtpDotStuffer, LineStartCarriesAcrossCalls) {
    DotStuffer s;
    std::string out;
    for (std::string_view piece : {"a\r", "\n", ".b", ".c\r\n", "", ".", "\r\n"}) s.add(piece, out);
    s.finish(out);
    EXPECT_EQ(out, "a\r\n..b.c\r\n..\r\n.\r\n");
}

TEST(SmtpDotStuffer, RoundTripsThroughDataReader) {
    std::mt19937 rng(20261201);
    // Dots and short lines make every state of both sides likely; lines
    // end in CRLF and hold no bare CR, as DataReader's output does.
    const std::string alphabet = "....ab \t";
    for (int round = 0; round < 2000; ++round) {
        std::string content;
        int lines = std::uniform_int_distribution<int>(0, 8)(rng);
        for (int l = 0; l < lines; ++l) {
            int len = std::uniform_int_distribution<int>(0, 6)(rng);
            for (int k = 0; k < len; ++k) content += alphabet[rng() % alphabet.size()];
            content += "\r\n";
        }
        std::string stuffed;
        DotStuffer s;
        std::size_t at = 0;
        while (at < content.size()) {
            std::size_t n = std::uniform_int_distribution<std::size_t>(0, 5)(rng);
            s.add(std::string_view(content).substr(at, n), stuffed);
            at += std::min(n, content.size() - at);
        }
        s.finish(stuffed);
        std::vector<std::size_t> pieces;
        for (std::size_t total = 0; total < stuffed.size();) {
            pieces.push_back(std::uniform_int_distribution<std::size_t>(1, 7)(rng));
            total += pieces.back();
        }
        Read r = read_data(stuffed + "QUIT\r\n", pieces);
        ASSERT_TRUE(r.done) << testing::PrintToString(stuffed);
        ASSERT_EQ(r.content, content) << testing::PrintToString(stuffed);
        ASSERT_EQ(r.consumed, stuffed.size()) << testing::PrintToString(stuffed);
        ASSERT_FALSE(r.bare_line_end);
    }
}

// ---- base64 ------------------------------------------------------------------

TEST(SmtpBase64, Rfc4648TestVectors) {
    // RFC 4648 §10.
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64_encode(plain), encoded);
        EXPECT_EQ(base64_decode(encoded), plain) << encoded;
    }
    // RFC 4616's PLAIN response has NUL octets inside.
    const std::string plain("\0user\0pass", 10);
    EXPECT_EQ(base64_encode(plain), "AHVzZXIAcGFzcw==");
    EXPECT_EQ(base64_decode("AHVzZXIAcGFzcw=="), plain);
}

TEST(SmtpBase64, RefusesWhatIsNotBase64) {
    // RFC 4648 §3.3: characters outside the alphabet are refused, and '='
    // is only padding at the end; RFC 4954 §4 answers such an AUTH
    // response with 501.
    using namespace std::string_view_literals;
    for (std::string_view text :
         {"Zm9"sv, "Zm9v\r\n"sv, "Zm9*"sv, "Zm9v!!!!"sv, " Zm9"sv, "Zm9 "sv, "Zm=v"sv, "Zg=a"sv,
          "===="sv, "A==="sv, "Zg==Zg=="sv, "Zm9v----"sv, "    "sv, "Zm9v\0AAA"sv}) {
        EXPECT_FALSE(base64_decode(text).has_value()) << testing::PrintToString(std::string(text));
    }
}

}  // namespace
}  // namespace ribbon::relay
