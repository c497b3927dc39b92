// The milter protocol's framing, parsing and replies (src/milter/protocol.hpp),
// byte for byte against the wire format Postfix's milter8.c writes and reads.
#include "milter/protocol.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace ribbon::test {
namespace {

namespace p = milter::protocol;
using namespace std::string_literals;

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// a + b without GCC 12's false -Wrestrict on const char* + std::string&&.
std::string cat(std::string_view a, std::string_view b) {
    std::string r(a);
    r.append(b);
    return r;
}

std::string packet(char command, const std::string& data) { return be32(static_cast<std::uint32_t>(data.size() + 1)) + command + data; }

// The parsed views point into the packet: its bytes are kept for the test.
p::Command parsed(char command, const std::string& data) {
    static std::deque<std::string> kept;
    auto c = p::parse(p::Packet{command, kept.emplace_back(data)});
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
    return c.ok() ? *c : p::Command(p::Abort{});
}

void expect_malformed(char command, const std::string& data, const std::string& says) {
    auto c = p::parse(p::Packet{command, data});
    ASSERT_FALSE(c.ok()) << "command " << command;
    EXPECT_EQ(c.error().code(), Errc::malformed_message);
    EXPECT_EQ(c.error().kind(), ErrorKind::permanent);
    EXPECT_NE(c.error().message().find(says), std::string::npos) << c.error().message();
}

// Every packet the decoder returns, as command + data.
std::vector<std::string> drain(p::Decoder& d) {
    std::vector<std::string> out;
    for (;;) {
        auto next = d.next();
        EXPECT_TRUE(next.ok());
        if (!next.ok() || !*next) return out;
        out.push_back((*next)->command + std::string((*next)->data));
    }
}

TEST(MilterProtocol, DecoderYieldsTheSamePacketsWhereverTheStreamIsCut) {
    const std::string stream = packet('O', be32(6) + be32(0x1ff) + be32(0x1fffff)) + packet('D', "Ri\0ABC\0"s) +
                               packet('R', "<a@example.org>\0"s) + packet('B', std::string(70000, 'x')) +
                               packet('E', "") + packet('A', "");
    const std::vector<std::string> want = {cat("O", be32(6) + be32(0x1ff) + be32(0x1fffff)), "DRi\0ABC\0"s,
                                           "R<a@example.org>\0"s, cat("B", std::string(70000, 'x')), "E", "A"};
    p::Decoder whole;
    whole.feed(stream);
    EXPECT_EQ(drain(whole), want);
    EXPECT_EQ(whole.pending(), 0u);
    // Two pieces, cut at every offset in the first packets and around the big one.
    for (std::size_t cut = 0; cut <= stream.size(); cut += (cut < 64 || cut > stream.size() - 64) ? 1 : 997) {
        p::Decoder d;
        d.feed(stream.substr(0, cut));
        std::vector<std::string> got = drain(d);
        d.feed(stream.substr(cut));
        for (auto& s : drain(d)) got.push_back(std::move(s));
        ASSERT_EQ(got, want) << "cut at " << cut;
    }
    // One byte at a time.
    p::Decoder bytes;
    std::vector<std::string> got;
    for (char c : stream) {
        bytes.feed(std::string_view(&c, 1));
        for (auto& s : drain(bytes)) got.push_back(std::move(s));
    }
    EXPECT_EQ(got, want);
}

TEST(MilterProtocol, DecoderWaitsForAShortPacket) {
    p::Decoder d;
    d.feed(be32(5) + "B12");
    auto next = d.next();
    ASSERT_TRUE(next.ok());
    EXPECT_FALSE(next->has_value());
    EXPECT_EQ(d.pending(), 7u);
    d.feed("34");
    EXPECT_EQ(drain(d), std::vector<std::string>{"B1234"});
}

TEST(MilterProtocol, DecoderRefusesLengthZeroAndOversizedPackets) {
    p::Decoder zero;
    zero.feed(be32(0) + "A");
    auto z = zero.next();
    ASSERT_FALSE(z.ok());
    EXPECT_EQ(z.error().code(), Errc::malformed_message);
    EXPECT_EQ(z.error().message(), "milter packet of length 0 (no command byte)");

    p::Decoder big;
    big.feed(be32(p::kMaxPacket + 1));  // refused from the length alone, before any data
    auto b = big.next();
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().code(), Errc::limit_exceeded);
    EXPECT_EQ(b.error().message(), "milter packet of 1048577 bytes, more than the 1048576 allowed");

    p::Decoder max;
    max.feed(packet('B', std::string(p::kMaxPacket - 1, 'y')));
    auto m = max.next();
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ((*m)->data.size(), p::kMaxPacket - 1);
}

TEST(MilterProtocol, ParsesOptionNegotiation) {
    auto c = parsed('O', be32(6) + be32(0x1ff) + be32(0x1fffff));
    const auto& o = std::get<p::OptNeg>(c);
    EXPECT_EQ(o.version, 6u);
    EXPECT_EQ(o.actions, 0x1ffu);
    EXPECT_EQ(o.steps, 0x1fffffu);
    expect_malformed('O', be32(6) + be32(0x1ff), "carries 8 bytes, not 12");
    expect_malformed('O', be32(6) + be32(0x1ff) + be32(0) + "x", "carries 13 bytes, not 12");
    expect_malformed('O', be32(1) + be32(0) + be32(0), "protocol version 1 is too old");
}

TEST(MilterProtocol, ParsesMacros) {
    auto c = parsed('D', "N" "i\0" "4XyZ1\0" "{auth_type}\0" "\0"s);
    const auto& m = std::get<p::Macros>(c);
    EXPECT_EQ(m.stage, 'N');
    ASSERT_EQ(m.pairs.size(), 2u);
    EXPECT_EQ(m.pairs[0].first, "i");
    EXPECT_EQ(m.pairs[0].second, "4XyZ1");
    EXPECT_EQ(m.pairs[1].first, "{auth_type}");
    EXPECT_EQ(m.pairs[1].second, "");
    EXPECT_TRUE(std::get<p::Macros>(parsed('D', "C")).pairs.empty());
    expect_malformed('D', "", "macro definition without the command");
    expect_malformed('D', "Ni\0value"s, "a macro value is not NUL-terminated");
    expect_malformed('D', "Ni"s, "a macro name is not NUL-terminated");
    expect_malformed('D', "N\0v\0"s, "a macro without a name");
}

TEST(MilterProtocol, ParsesConnect) {
    auto u = std::get<p::Connect>(parsed('C', "client\0U"s));
    EXPECT_EQ(u.host, "client");
    EXPECT_EQ(u.family, 'U');
    auto v4 = std::get<p::Connect>(parsed('C', "client\0" "4\x01\xbb" "192.0.2.1\0"s));
    EXPECT_EQ(v4.family, '4');
    EXPECT_EQ(v4.port, 443);
    EXPECT_EQ(v4.address, "192.0.2.1");
    expect_malformed('C', "client"s, "the host name is not NUL-terminated");
    expect_malformed('C', "client\0"s, "no address family");
    expect_malformed('C', "client\0X"s, "unknown address family");
    expect_malformed('C', "client\0" "4\x01"s, "no port");
    expect_malformed('C', "client\0" "4\x01\xbb" "192.0.2.1"s, "the address is not NUL-terminated");
    expect_malformed('C', "client\0Ux"s, "1 unexpected trailing bytes");
}

TEST(MilterProtocol, ParsesHeloMailRcptAndUnknown) {
    EXPECT_EQ(std::get<p::Helo>(parsed('H', "mx.example.org\0"s)).name, "mx.example.org");
    auto mail = std::get<p::Envelope>(parsed('M', "<a@example.org>\0SIZE=100\0BODY=8BITMIME\0"s));
    EXPECT_FALSE(mail.recipient);
    EXPECT_EQ(mail.args, (std::vector<std::string_view>{"<a@example.org>", "SIZE=100", "BODY=8BITMIME"}));
    auto rcpt = std::get<p::Envelope>(parsed('R', "<b@example.org>\0"s));
    EXPECT_TRUE(rcpt.recipient);
    EXPECT_EQ(rcpt.args, (std::vector<std::string_view>{"<b@example.org>"}));
    EXPECT_EQ(std::get<p::Unknown>(parsed('U', "XFOO bar\0"s)).line, "XFOO bar");
    expect_malformed('H', "mx", "the argument is not NUL-terminated");
    expect_malformed('H', "mx\0y"s, "1 unexpected trailing bytes");
    expect_malformed('M', "", "no address");
    expect_malformed('R', "<b@example.org>", "an argument is not NUL-terminated");
    expect_malformed('U', "XFOO", "the argument is not NUL-terminated");
}

TEST(MilterProtocol, ParsesHeaderFields) {
    auto h = std::get<p::Header>(parsed('L', "Subject\0 hello\n\tworld\0"s));
    EXPECT_EQ(h.name, "Subject");
    EXPECT_EQ(h.value, " hello\n\tworld");
    EXPECT_EQ(std::get<p::Header>(parsed('L', "X-Empty\0\0"s)).value, "");
    expect_malformed('L', "Subject", "the header name is not NUL-terminated");
    expect_malformed('L', "Subject\0hello"s, "the header value is not NUL-terminated");
    expect_malformed('L', "Subject\0a\0b\0"s, "2 unexpected trailing bytes");
    expect_malformed('L', "\0value\0"s, "a header field without a name");
}

TEST(MilterProtocol, ParsesCommandsWithoutData) {
    EXPECT_TRUE(std::holds_alternative<p::Data>(parsed('T', "")));
    EXPECT_TRUE(std::holds_alternative<p::EndOfHeader>(parsed('N', "")));
    EXPECT_TRUE(std::holds_alternative<p::Abort>(parsed('A', "")));
    EXPECT_FALSE(std::get<p::Quit>(parsed('Q', "")).new_connection_follows);
    EXPECT_TRUE(std::get<p::Quit>(parsed('K', "")).new_connection_follows);
    for (char c : {'T', 'N', 'A', 'Q', 'K'}) expect_malformed(c, "x", "carries 1 bytes, expected none");
}

TEST(MilterProtocol, ParsesBodyChunksAsRawBytes) {
    const std::string raw = "line\r\n\0binary\xff"s;
    EXPECT_EQ(std::get<p::Body>(parsed('B', raw)).chunk, raw);
    EXPECT_EQ(std::get<p::EndOfBody>(parsed('E', "")).chunk, "");
    EXPECT_EQ(std::get<p::EndOfBody>(parsed('E', "tail")).chunk, "tail");
}

TEST(MilterProtocol, RefusesUnknownCommands) {
    expect_malformed('Z', "", "milter command 'Z': unknown command");
    expect_malformed('\x01', "", "milter command '?': unknown command");
}

TEST(MilterProtocol, EncodesRepliesByteForByte) {
    std::string out;
    p::append_simple(out, p::reply::continue_);
    p::append_simple(out, p::reply::accept);
    p::append_simple(out, p::reply::tempfail);
    p::append_simple(out, p::reply::reject);
    p::append_simple(out, p::reply::progress);
    EXPECT_EQ(out, be32(1) + "c" + be32(1) + "a" + be32(1) + "t" + be32(1) + "r" + be32(1) + "p");

    out.clear();
    p::append_optneg(out, {6, 0x13, 0x1800f7});
    EXPECT_EQ(out, be32(13) + "O" + be32(6) + be32(0x13) + be32(0x1800f7));

    out.clear();
    p::append_reply_code(out, "451 4.3.0 try later");
    EXPECT_EQ(out, be32(21) + "y451 4.3.0 try later\0"s);

    out.clear();
    p::append_add_header(out, "Ribbon-Signer", " a@example.org");
    EXPECT_EQ(out, be32(30) + "hRibbon-Signer\0 a@example.org\0"s);
    out.clear();
    p::append_insert_header(out, 0, "X", "v");
    EXPECT_EQ(out, be32(9) + "i" + be32(0) + "X\0v\0"s);
    out.clear();
    p::append_change_header(out, 2, "Content-Type", "");  // empty: removes the second one
    EXPECT_EQ(out, be32(19) + "m" + be32(2) + "Content-Type\0\0"s);
}

TEST(MilterProtocol, ReplacementBodyIsCutInto65535BytePackets) {
    std::string body(65535 * 2 + 10, 'b');
    body[65535] = 'B';
    std::string out;
    p::append_replace_body(out, body);
    p::Decoder d;
    d.feed(out);
    const auto packets = drain(d);
    ASSERT_EQ(packets.size(), 3u);
    EXPECT_EQ(packets[0], cat("b", body.substr(0, 65535)));
    EXPECT_EQ(packets[1], cat("b", body.substr(65535, 65535)));
    EXPECT_EQ(packets[2], cat("b", body.substr(131070)));
    out.clear();
    p::append_replace_body(out, "");
    EXPECT_EQ(out, "");
}

TEST(MilterProtocol, ReplyCodeTextIsCheckedAsPostfixReadsIt) {
    EXPECT_EQ(*p::reply_code_text("451", "4.3.0", "Try again"), "451 4.3.0 Try again");
    EXPECT_EQ(*p::reply_code_text("554", "", "No"), "554 No");
    EXPECT_EQ(*p::reply_code_text("550", "5.7.1", ""), "550 5.7.1 ");
    for (auto [code, xcode, text, says] : std::vector<std::tuple<std::string, std::string, std::string, std::string>>{
             {"250", "", "ok", "is not 4xx or 5xx"},
             {"45", "", "x", "is not 4xx or 5xx"},
             {"4a1", "", "x", "is not 4xx or 5xx"},
             {"451", "5.3.0", "x", "does not match 451"},
             {"451", "4.3", "x", "does not match 451"},
             {"451", "4..0", "x", "does not match 451"},
             {"451", "4.3.0", "two\r\nlines", "control character"},
         }) {
        auto r = p::reply_code_text(code, xcode, text);
        ASSERT_FALSE(r.ok()) << code << " " << xcode;
        EXPECT_EQ(r.error().code(), Errc::malformed_message);
        EXPECT_NE(r.error().message().find(says), std::string::npos) << r.error().message();
    }
}

TEST(MilterProtocol, HeaderEditsAreChecked) {
    EXPECT_TRUE(p::check_header("Subject", " a\n\tb").ok());
    EXPECT_FALSE(p::check_header("", "v").ok());
    EXPECT_FALSE(p::check_header("Bad Name", "v").ok());
    EXPECT_FALSE(p::check_header("Bad:Name", "v").ok());
    EXPECT_FALSE(p::check_header("Name", "nul\0inside"s).ok());
}

}  // namespace
}  // namespace ribbon::test
