// smtp_protocol.hpp — the parts of SMTP (RFC 5321) that are text rules, not
// I/O: replies, command lines, MAIL/RCPT paths and parameters, the DATA
// terminator and dot-stuffing. Kept free of sockets so the fuzzer
// (fuzz/fuzz_smtp.cpp) and unit tests drive them directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/ascii.hpp"

namespace ribbon::relay {

// An SMTP reply: code, RFC 3463 enhanced status code, text lines.
struct Reply {
    int code = 0;
    std::string enhanced;  // "2.0.0"; empty when the peer sent none
    std::vector<std::string> lines;
    // Read from the peer (ReplyParser), not made by ribbon (make_reply): a
    // next-hop failure made locally is no reply of the next hop's.
    bool received = false;

    // The reply as sent: "250-first\r\n250 2.0.0 last\r\n". The enhanced
    // code is repeated on every line (RFC 2034 §4).
    std::string wire() const;
    // One line for logs: "250 2.0.0 Ok: queued as X".
    std::string summary() const;
    bool positive() const noexcept { return code >= 200 && code < 400; }
    bool transient() const noexcept { return code >= 400 && code < 500; }
};

Reply make_reply(int code, std::string_view enhanced, std::string_view text);

// SMTP keywords (verbs, parameters, extensions, AUTH mechanisms) are
// case-insensitive ASCII (RFC 5321 §2.4): compared in upper case, with
// base/ascii.hpp's ascii_upper.

// RFC 5321 §4.5.3.1.4 allows 512 octets for a command line; extensions
// (RFC 1870 SIZE, RFC 6531 SMTPUTF8, AUTH= …) add to it, and Postfix
// accepts 2048. Longer is "500 5.5.2 line too long".
constexpr std::size_t kMaxCommandLine = 2048;

enum class Verb { helo, ehlo, mail, rcpt, data, rset, noop, quit, vrfy, starttls, auth, help, bdat, unknown };

struct Command {
    Verb verb = Verb::unknown;
    std::string_view argument;  // after the verb and one space, trailing spaces removed
};

// A command line without its CRLF. "MAIL FROM:" and "RCPT TO:" are verbs
// here, with the path as argument (RFC 5321 §4.1.1.2: no space before
// the colon; a space after it is tolerated as Postfix does).
Command parse_command(std::string_view line);

// A MAIL FROM or RCPT TO argument: "<path> params".
struct PathArgument {
    std::string address;  // without the angle brackets or source route; empty for "<>"
    std::vector<std::pair<std::string, std::string>> params;  // keyword in upper case
};

// Nothing on success (the result is in `out`); otherwise the reply that
// refuses the argument. 8-bit octets are allowed here; whether the
// transaction may use them (SMTPUTF8, RFC 6531) is the caller's check.
std::optional<Reply> parse_path(std::string_view argument, bool null_allowed, PathArgument& out);

// Reads a reply from the next hop a line at a time.
class ReplyParser {
public:
    enum class State { more, done, invalid };
    // One line without CRLF.
    State add(std::string_view line);
    Reply take() {
        m_reply.received = true;
        return std::move(m_reply);
    }

private:
    Reply m_reply;
};

// Reads message content after DATA (RFC 5321 §4.1.1.4, §4.5.2): removes
// dot-stuffing and ends at CRLF "." CRLF only — a "." line that follows a
// bare LF or a bare CR does not end the message, which closes the SMTP
// smuggling hole (a next hop reading a bare LF or CR as a line end would
// see a second message). RFC 5321 §2.3.8 forbids sending either, so both
// are taken as line ends and written as CRLF: the way Postfix's
// smtpd_forbid_bare_newline = normalize treats a bare LF, extended to the
// bare CR. The output never holds a CR or LF outside a CRLF pair.
class DataReader {
public:
    explicit DataReader(std::size_t max_line_length) : m_max_line(max_line_length) {}

    // Consumes bytes from `in` up to and including the terminator and
    // appends the content to `out` (CRLF line ends). Returns the number of
    // bytes consumed: less than in.size() only once done().
    std::size_t feed(std::string_view in, std::string& out);

    bool done() const noexcept { return m_state == State::done; }
    bool line_too_long() const noexcept { return m_too_long; }
    // A line ended in a bare LF or a bare CR.
    bool saw_bare_line_end() const noexcept { return m_bare_line_end; }

private:
    enum class State { line_start, dot, dot_cr, mid, cr, done };
    void end_line(std::string& out, bool crlf);
    std::size_t m_max_line;
    State m_state = State::line_start;
    bool m_prev_crlf = true;  // the DATA command itself ended in CRLF
    std::size_t m_line = 0;
    bool m_too_long = false;
    bool m_bare_line_end = false;
};

// Dot-stuffs content (CRLF line ends) for sending after DATA and appends
// the terminator at finish().
class DotStuffer {
public:
    void add(std::string_view content, std::string& out);
    void finish(std::string& out);

private:
    bool m_line_start = true;
};

// RFC 4648 base64 for AUTH (RFC 4954); nothing when `text` is not base64.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

}  // namespace ribbon::relay
