// smtp_protocol.cpp — see smtp_protocol.hpp.
#include "relay/smtp_protocol.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include "base/ascii.hpp"

namespace ribbon::relay {

namespace {

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// "x.y.z" with a class of 2, 4 or 5 (RFC 3463 §2).
bool is_enhanced(std::string_view s) {
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
    int dots = 0;
    bool digit = false;
    for (char c : s.substr(2)) {
        if (c == '.') {
            if (!digit) return false;
            ++dots;
            digit = false;
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            digit = true;
        } else {
            return false;
        }
    }
    return dots == 1 && digit;
}

}  // namespace

Reply make_reply(int code, std::string_view enhanced, std::string_view text) {
    Reply r;
    r.code = code;
    r.enhanced = std::string(enhanced);
    r.lines.emplace_back(text);
    return r;
}

std::string Reply::wire() const {
    std::string out;
    std::string code_text = std::to_string(code);
    for (std::size_t i = 0; i < lines.size() || i == 0; ++i) {
        bool last = i + 1 >= lines.size();
        out += code_text;
        out += last ? ' ' : '-';
        if (!enhanced.empty()) out += enhanced + " ";
        if (i < lines.size()) {
            // A reply line is text only (RFC 5321 §4.2): no CR or LF inside.
            for (char c : lines[i]) out += (c == '\r' || c == '\n') ? ' ' : c;
        }
        out += "\r\n";
    }
    return out;
}

std::string Reply::summary() const {
    std::string out = std::to_string(code);
    if (!enhanced.empty()) out += " " + enhanced;
    for (const auto& l : lines) out += " " + l;
    return out;
}

Command parse_command(std::string_view line) {
    static constexpr std::pair<std::string_view, Verb> kVerbs[] = {
        {"HELO", Verb::helo}, {"EHLO", Verb::ehlo},         {"DATA", Verb::data}, {"RSET", Verb::rset},
        {"NOOP", Verb::noop}, {"QUIT", Verb::quit},         {"VRFY", Verb::vrfy}, {"STARTTLS", Verb::starttls},
        {"AUTH", Verb::auth}, {"HELP", Verb::help},         {"BDAT", Verb::bdat},
    };
    Command c;
    if (ascii_istarts_with(line, "MAIL FROM:")) {
        c.verb = Verb::mail;
        c.argument = line.substr(10);
    } else if (ascii_istarts_with(line, "RCPT TO:")) {
        c.verb = Verb::rcpt;
        c.argument = line.substr(8);
    } else {
        std::string_view word = line.substr(0, line.find(' '));
        for (const auto& [name, verb] : kVerbs) {
            if (ascii_iequals(word, name)) c.verb = verb;
        }
        c.argument = word.size() < line.size() ? line.substr(word.size() + 1) : std::string_view();
        if (c.verb == Verb::unknown) return c;
    }
    while (!c.argument.empty() && c.argument.front() == ' ') c.argument.remove_prefix(1);
    c.argument = trim_right(c.argument);
    return c;
}

std::optional<Reply> parse_path(std::string_view argument, bool null_allowed, PathArgument& out) {
    out = {};
    if (argument.empty() || argument.front() != '<') {
        return make_reply(501, "5.5.4", "Syntax: the address must be in angle brackets, as <user@domain>");
    }
    // The closing bracket is the first one outside a quoted local part.
    std::size_t close = std::string_view::npos;
    bool quoted = false;
    for (std::size_t i = 1; i < argument.size(); ++i) {
        char c = argument[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '>') {
            close = i;
            break;
        }
    }
    if (close == std::string_view::npos) return make_reply(501, "5.5.4", "Syntax: missing '>' after the address");
    std::string_view path = argument.substr(1, close - 1);
    // RFC 5321 §4.1.2: a source route ("@a,@b:user@c") is accepted and ignored.
    if (path.starts_with('@')) {
        auto colon = path.find(':');
        if (colon == std::string_view::npos) return make_reply(501, "5.1.7", "Syntax: bad source route");
        path.remove_prefix(colon + 1);
    }
    // RFC 5321 §4.5.3.1.3: a path is at most 256 octets.
    if (path.size() > 254) return make_reply(501, "5.1.7", "Address too long");
    for (char c : path) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return make_reply(501, "5.1.7", "Control characters in the address");
    }
    if (path.empty()) {
        if (!null_allowed) return make_reply(501, "5.1.3", "The null address <> is not a recipient");
    } else {
        auto at = path.rfind('@');
        if (at == std::string_view::npos || at == 0 || at + 1 == path.size() ||
            (path.find(' ') != std::string_view::npos && path.front() != '"')) {
            return make_reply(501, "5.1.3", "Bad address syntax: <" + std::string(path) + ">");
        }
    }
    out.address = std::string(path);

    std::string_view rest = argument.substr(close + 1);
    while (!rest.empty()) {
        if (rest.front() != ' ') return make_reply(501, "5.5.4", "Syntax: a space must follow the address");
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        if (rest.empty()) break;
        std::string_view word = rest.substr(0, rest.find(' '));
        rest.remove_prefix(word.size());
        auto eq = word.find('=');
        std::string keyword = ascii_upper(word.substr(0, eq));
        if (keyword.empty() || !std::all_of(keyword.begin(), keyword.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
            })) {
            return make_reply(501, "5.5.4", "Syntax: bad parameter \"" + std::string(word) + "\"");
        }
        out.params.emplace_back(keyword, eq == std::string_view::npos ? "" : std::string(word.substr(eq + 1)));
    }
    return std::nullopt;
}

ReplyParser::State ReplyParser::add(std::string_view line) {
    // RFC 5321 §4.2: three digits, then '-' (more lines follow), ' ' or
    // the end of the line.
    int code = 0;
    if (line.size() < 3 || std::from_chars(line.data(), line.data() + 3, code).ptr != line.data() + 3 ||
        code < 200 || code > 599 || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        return State::invalid;
    }
    if (m_reply.code != 0 && m_reply.code != code) return State::invalid;
    m_reply.code = code;
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    std::string_view first = text.substr(0, text.find(' '));
    // RFC 2034 §4: every line carries the enhanced code; its class matches the reply's.
    if (is_enhanced(first) && first[0] == line[0]) {
        if (m_reply.enhanced.empty()) m_reply.enhanced = std::string(first);
        text.remove_prefix(std::min(text.size(), first.size() + 1));
    }
    m_reply.lines.emplace_back(text);
    return line.size() > 3 && line[3] == '-' ? State::more : State::done;
}

void DataReader::end_line(std::string& out, bool crlf) {
    if (!m_too_long) out += "\r\n";
    m_prev_crlf = crlf;
    if (!crlf) m_bare_line_end = true;
    m_line = 0;
    m_state = State::line_start;
}

std::size_t DataReader::feed(std::string_view in, std::string& out) {
    std::size_t i = 0;
    auto put = [&](char c) {
        if (++m_line > m_max_line) m_too_long = true;
        if (!m_too_long) out += c;
    };
    for (; i < in.size() && m_state != State::done; ++i) {
        char c = in[i];
        switch (m_state) {
            case State::line_start:
                if (c == '.') {
                    m_state = State::dot;
                } else if (c == '\r') {
                    m_state = State::cr;
                } else if (c == '\n') {
                    end_line(out, false);
                } else {
                    put(c);
                    m_state = State::mid;
                }
                break;
            case State::dot:  // RFC 5321 §4.5.2: the leading dot of a stuffed line goes
                if (c == '\r') {
                    m_state = State::dot_cr;
                } else if (c == '\n') {
                    put('.');  // a lone "." is not stuffing: only a dot with more after it goes
                    end_line(out, false);
                } else {
                    put(c);
                    m_state = State::mid;
                }
                break;
            case State::dot_cr:
                if (c == '\n' && m_prev_crlf) {
                    m_state = State::done;
                } else if (c == '\n') {
                    put('.');  // "." CRLF after a bare LF or CR: content, not the end
                    end_line(out, true);
                } else {
                    put('.');  // "." and a bare CR: a line of content
                    end_line(out, false);
                    --i;
                }
                break;
            case State::mid: {
                if (c == '\r') {
                    m_state = State::cr;
                    break;
                }
                if (c == '\n') {
                    end_line(out, false);
                    break;
                }
                // The rest of the line up to its CR or LF in one piece: a
                // byte at a time was the largest user-space cost of the
                // relay's I/O thread (perf, issue 17).
                // (Not find_first_of: libstdc++ runs memchr over the set
                // once per byte. Two memchr calls, LF then CR before it,
                // scan 32 octets a step, which a byte loop did not.)
                const char* from = in.data() + i;
                const void* lf = std::memchr(from, '\n', in.size() - i);
                std::size_t span = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - from) : in.size() - i;
                const void* cr = std::memchr(from, '\r', span);
                std::size_t run = cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - from) : span;
                std::size_t end = i + run;
                m_line += run;
                if (m_line > m_max_line) m_too_long = true;
                if (!m_too_long) out.append(in.data() + i, run);
                i = end - 1;  // the loop's ++i moves to the CR or LF
                break;
            }
            case State::cr:
                if (c == '\n') {
                    end_line(out, true);
                } else {
                    end_line(out, false);  // a bare CR ends the line, as a bare LF does
                    --i;
                }
                break;
            case State::done:
                break;
        }
    }
    return i;
}

void DotStuffer::add(std::string_view content, std::string& out) {
    std::size_t start = 0;
    while (start < content.size()) {
        if (m_line_start && content[start] == '.') out += '.';
        auto nl = content.find('\n', start);
        std::size_t end = nl == std::string_view::npos ? content.size() : nl + 1;
        out.append(content.substr(start, end - start));
        m_line_start = nl != std::string_view::npos;
        start = end;
    }
}

void DotStuffer::finish(std::string& out) {
    if (!m_line_start) out += "\r\n";
    out += ".\r\n";
    m_line_start = true;
}

std::optional<std::string> base64_decode(std::string_view text) {
    // EVP_DecodeBlock skips blanks around the text and reads '=' anywhere
    // as zero bits; RFC 4648 §3.3 refuses both (and RFC 4954 §4 answers an
    // AUTH response that is not base64 with 501).
    std::size_t pad = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
    if (text.size() % 4 != 0 ||
        text.substr(0, text.size() - pad).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                            "0123456789+/") != std::string_view::npos) {
        return std::nullopt;
    }
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding as zero bytes.
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

}  // namespace ribbon::relay
