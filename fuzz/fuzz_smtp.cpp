// fuzz_smtp.cpp — libFuzzer target for the SMTP text rules of `ribbon relay`
// (src/relay/smtp_protocol.hpp): what a client or a next hop sends before
// any signing happens.
//
// Input: byte 0 picks the DATA line limit (bit 7: 64 octets, else 1000) and
// how many of the following bytes (1..16, low 4 bits) are piece sizes;
// the rest is SMTP text. It is used three ways:
//  - split into lines, each line goes through parse_command, parse_path
//    (null path allowed and not), a ReplyParser and base64_decode;
//  - as DATA content, fed to a DataReader in pieces of the sizes above
//    (cycled), the way the session feeds whatever the socket returned.
//
// Aborts when an invariant of the RFCs or of the header breaks: a command
// argument outside its line or with blanks around it; an accepted path
// with control characters or over 254 octets; a refusal that is not one
// 501 line; a parsed reply that does not read back the same from wire();
// DATA output with a bare LF or CR; an end of DATA anywhere but CRLF "." CRLF;
// bytes consumed past the terminator; and the relay's own round trip:
// DotStuffer(output) read by a new DataReader gives the same content and
// ends exactly at its terminator.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp_protocol.hpp"

namespace {

using namespace ribbon::relay;

constexpr std::size_t kMaxInput = 64 * 1024;

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_smtp: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

bool blank(char c) { return c == ' ' || c == '\t'; }

void check_command(std::string_view line) {
    Command c = parse_command(line);
    if (c.verb == Verb::unknown || c.argument.empty()) return;
    const char* begin = line.data();
    if (c.argument.data() < begin || c.argument.data() + c.argument.size() > begin + line.size()) {
        die("command argument outside its line", line);
    }
    if (!c.argument.empty() && (c.argument.front() == ' ' || blank(c.argument.back()))) {
        die("command argument not trimmed", line);
    }
}

void check_path(std::string_view argument, bool null_allowed) {
    PathArgument out;
    auto refusal = parse_path(argument, null_allowed, out);
    if (refusal) {
        if (refusal->code != 501 || !refusal->enhanced.starts_with("5.") ||
            refusal->lines.size() != 1) {
            die("path refusal is not one 501 line", refusal->summary());
        }
        const std::string wire = refusal->wire();
        if (wire.find("\r\n") != wire.size() - 2 || wire.find('\n') != wire.size() - 1) {
            die("path refusal spans lines", wire);
        }
        return;
    }
    // RFC 5321 §4.5.3.1.3 and the control-character check.
    if (out.address.size() > 254) die("accepted an address over 254 octets", out.address);
    for (char ch : out.address) {
        auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f) die("accepted an address with a control character", argument);
    }
    if (out.address.empty() && !null_allowed) die("accepted <> where it is not allowed", argument);
    for (const auto& [keyword, value] : out.params) {
        if (keyword.empty()) die("empty parameter keyword", argument);
        for (char ch : keyword) {
            if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) {
                die("parameter keyword not upper-case alphanumeric", keyword);
            }
        }
    }
}

// A reply parsed twice: from the input, and from its own wire().
void check_reply(const Reply& r) {
    if (r.code < 200 || r.code > 599 || r.lines.empty())
        die("parsed reply out of range", r.summary());
    for (const auto& l : r.lines) {
        if (l.find('\r') != std::string::npos) return;  // wire() turns CR into a space on purpose
    }
    const std::string wire = r.wire();
    ReplyParser again;
    ReplyParser::State s = ReplyParser::State::more;
    std::size_t start = 0;
    while (s == ReplyParser::State::more && start < wire.size()) {
        std::size_t end = wire.find("\r\n", start);
        s = again.add(std::string_view(wire).substr(start, end - start));
        start = end + 2;
    }
    Reply back = again.take();
    if (s != ReplyParser::State::done || start != wire.size() || back.code != r.code ||
        back.enhanced != r.enhanced || back.lines != r.lines) {
        die("reply does not read back from its wire form", wire);
    }
}

// RFC 4648 §4: the alphabet, then at most two '=' of padding at the end.
bool is_base64(std::string_view s) {
    std::size_t pad = s.ends_with("==") ? 2 : s.ends_with('=') ? 1 : 0;
    return s.size() % 4 == 0 &&
           s.substr(0, s.size() - pad)
                   .find_first_not_of(
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") ==
               std::string_view::npos;
}

void check_base64(std::string_view line) {
    if (auto decoded = base64_decode(line)) {
        if (!is_base64(line)) die("base64_decode accepted what is not base64", line);
        if (base64_decode(base64_encode(*decoded)) != *decoded) die("base64 round trip", line);
    }
    if (base64_decode(base64_encode(line)) != std::string(line))
        die("base64 round trip of raw bytes", line);
}

struct Fed {
    std::string content;
    std::size_t consumed = 0;
    bool done = false, too_long = false, bare_line_end = false;
};

// Feeds `in` in pieces of `sizes` (cycled; 0 is an empty feed).
Fed feed(std::string_view in, const std::vector<std::size_t>& sizes, std::size_t max_line) {
    DataReader reader(max_line);
    Fed f;
    std::size_t empty_feeds = 0;
    for (std::size_t i = 0; f.consumed < in.size() && !reader.done(); ++i) {
        std::size_t n = std::min(sizes[i % sizes.size()], in.size() - f.consumed);
        // A size of 0 is an empty feed; a few are enough to make progress certain.
        if (n == 0 && ++empty_feeds > sizes.size()) n = 1;
        std::size_t used = reader.feed(in.substr(f.consumed, n), f.content);
        if (used > n) die("DataReader consumed more than it was given");
        if (used < n && !reader.done())
            die("DataReader stopped before the end without the terminator");
        f.consumed += used;
    }
    f.done = reader.done();
    f.too_long = reader.line_too_long();
    f.bare_line_end = reader.saw_bare_line_end();
    return f;
}

void check_data(std::string_view in, const std::vector<std::size_t>& sizes, std::size_t max_line) {
    Fed f = feed(in, sizes, max_line);
    for (std::size_t i = 0; i < f.content.size(); ++i) {
        if (f.content[i] == '\n' && (i == 0 || f.content[i - 1] != '\r'))
            die("DATA output has a bare LF");
        if (f.content[i] == '\r' && (i + 1 == f.content.size() || f.content[i + 1] != '\n'))
            die("DATA output has a bare CR");
    }
    if (!f.done) {
        if (f.consumed != in.size()) die("DataReader left input without ending");
        return;
    }
    // RFC 5321 §4.1.1.4: the end is CRLF "." CRLF, the first CRLF being
    // DATA's own when the message is empty; nothing else (SMTP smuggling).
    std::string_view taken = in.substr(0, f.consumed);
    if (!taken.ends_with(".\r\n") || (taken.size() != 3 && !taken.ends_with("\r\n.\r\n"))) {
        die("DATA ended without CRLF.CRLF",
            taken.substr(taken.size() > 16 ? taken.size() - 16 : 0));
    }
    if (f.too_long) return;  // the content is cut off; the session refuses it
    if (!f.content.empty() && !f.content.ends_with("\r\n")) die("DATA output does not end in CRLF");

    // What the relay sends on: stuffed, then read back by the next hop.
    std::string stuffed;
    DotStuffer stuffer;
    stuffer.add(f.content, stuffed);
    stuffer.finish(stuffed);
    const std::string after = stuffed + std::string(in.substr(f.consumed));
    Fed back = feed(after, sizes, max_line);
    if (!back.done || back.consumed != stuffed.size())
        die("stuffed output does not end exactly at its terminator");
    if (back.content != f.content) die("stuffed output does not read back the same");
    if (back.bare_line_end || back.too_long) die("stuffed output has a bare LF or CR, or a longer line");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > kMaxInput) return -1;  // -1: keep out of the corpus
    const std::size_t max_line = (data[0] & 0x80) != 0 ? 64 : 1000;
    const std::size_t n_sizes = (data[0] & 0x0f) + 1u;
    if (size < 1 + n_sizes) return -1;
    std::vector<std::size_t> sizes(data + 1, data + 1 + n_sizes);
    const std::string_view text(reinterpret_cast<const char*>(data) + 1 + n_sizes,
                                size - 1 - n_sizes);

    std::vector<std::string_view> lines;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t lf = text.find('\n', start);
        std::string_view line =
            text.substr(start, lf == std::string_view::npos ? std::string_view::npos : lf - start);
        if (line.ends_with('\r')) line.remove_suffix(1);
        lines.push_back(line);
        if (lf == std::string_view::npos) break;
        start = lf + 1;
    }
    for (std::string_view line : lines) {
        if (line.size() > kMaxCommandLine) continue;  // the session refuses these before parsing
        check_command(line);
        check_path(line, true);
        check_path(line, false);
        Command c = parse_command(line);
        if (c.verb == Verb::mail || c.verb == Verb::rcpt)
            check_path(c.argument, c.verb == Verb::mail);
        check_base64(line);
    }
    // The lines as a next hop's replies, one after the other; an invalid
    // line starts a new reply, as a new connection would.
    ReplyParser replies;
    for (std::string_view line : lines) {
        auto state = replies.add(line);
        if (state == ReplyParser::State::done) check_reply(replies.take());
        if (state != ReplyParser::State::more) replies = ReplyParser();
    }
    check_data(text, sizes, max_line);
    return 0;
}
