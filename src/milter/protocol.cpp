// protocol.cpp — see protocol.hpp.
#include "milter/protocol.hpp"

#include <algorithm>
#include <cstring>

namespace ribbon::milter::protocol {

namespace {

Error malformed(char command, const std::string& why) {
    std::string name = command >= 0x21 && command <= 0x7e ? std::string(1, command) : "?";
    return permanent_error(Errc::malformed_message, "milter command '" + name + "': " + why);
}

std::uint32_t get32(std::string_view at) {
    const auto* p = reinterpret_cast<const unsigned char*>(at.data());
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

void put32(std::string& out, std::uint32_t v) {
    const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                           static_cast<char>(v)};
    out.append(bytes, 4);
}

// Reads NUL-terminated strings off the front of a packet's data.
class Strings {
public:
    Strings(char command, std::string_view data) : m_command(command), m_rest(data) {}

    Result<std::string_view> take(const char* what) {
        std::size_t nul = m_rest.find('\0');
        if (nul == std::string_view::npos) return malformed(m_command, std::string(what) + " is not NUL-terminated");
        std::string_view s = m_rest.substr(0, nul);
        m_rest.remove_prefix(nul + 1);
        return s;
    }
    Result<void> end() const {
        if (!m_rest.empty()) return malformed(m_command, std::to_string(m_rest.size()) + " unexpected trailing bytes");
        return {};
    }
    bool empty() const noexcept { return m_rest.empty(); }
    std::string_view& rest() noexcept { return m_rest; }

private:
    char m_command;
    std::string_view m_rest;
};

Result<Command> parse_optneg(const Packet& p) {
    if (p.data.size() != 12) {
        return malformed(p.command, "option negotiation carries " + std::to_string(p.data.size()) +
                                        " bytes, not 12 (version, actions, steps)");
    }
    OptNeg o{get32(p.data), get32(p.data.substr(4)), get32(p.data.substr(8))};
    if (o.version < 2) return malformed(p.command, "protocol version " + std::to_string(o.version) + " is too old");
    return Command(o);
}

Result<Command> parse_macros(const Packet& p) {
    if (p.data.empty()) return malformed(p.command, "macro definition without the command it is for");
    Macros m;
    m.stage = p.data[0];
    Strings s(p.command, p.data.substr(1));
    while (!s.empty()) {
        auto name = s.take("a macro name");
        if (!name) return std::move(name).error();
        auto value = s.take("a macro value");
        if (!value) return std::move(value).error();
        if (name->empty()) return malformed(p.command, "a macro without a name");
        m.pairs.emplace_back(*name, *value);
    }
    return Command(std::move(m));
}

Result<Command> parse_connect(const Packet& p) {
    Strings s(p.command, p.data);
    auto host = s.take("the host name");
    if (!host) return std::move(host).error();
    Connect c{*host};
    if (s.rest().empty()) return malformed(p.command, "no address family");
    c.family = s.rest()[0];
    s.rest().remove_prefix(1);
    if (c.family == 'U') {
        if (auto r = s.end(); !r) return std::move(r).error();
        return Command(c);
    }
    if (c.family != 'L' && c.family != '4' && c.family != '6') return malformed(p.command, "unknown address family");
    if (s.rest().size() < 2) return malformed(p.command, "no port");
    const auto* port = reinterpret_cast<const unsigned char*>(s.rest().data());
    c.port = static_cast<std::uint16_t>((port[0] << 8) | port[1]);
    s.rest().remove_prefix(2);
    auto address = s.take("the address");
    if (!address) return std::move(address).error();
    c.address = *address;
    if (auto r = s.end(); !r) return std::move(r).error();
    return Command(c);
}

Result<Command> parse_envelope(const Packet& p) {
    Envelope e{p.command == cmd::rcpt, {}};
    Strings s(p.command, p.data);
    if (s.empty()) return malformed(p.command, "no address");
    while (!s.empty()) {
        auto arg = s.take("an argument");
        if (!arg) return std::move(arg).error();
        e.args.push_back(*arg);
    }
    return Command(std::move(e));
}

// A command whose data is one string (HELO, UNKNOWN) or two (HEADER).
Result<Command> parse_strings(const Packet& p) {
    Strings s(p.command, p.data);
    auto first = s.take(p.command == cmd::header ? "the header name" : "the argument");
    if (!first) return std::move(first).error();
    if (p.command == cmd::header) {
        auto value = s.take("the header value");
        if (!value) return std::move(value).error();
        if (auto r = s.end(); !r) return std::move(r).error();
        if (first->empty()) return malformed(p.command, "a header field without a name");
        return Command(Header{*first, *value});
    }
    if (auto r = s.end(); !r) return std::move(r).error();
    if (p.command == cmd::helo) return Command(Helo{*first});
    return Command(Unknown{*first});
}

Result<Command> parse_empty(const Packet& p, Command c) {
    if (!p.data.empty()) return malformed(p.command, "carries " + std::to_string(p.data.size()) + " bytes, expected none");
    return c;
}

bool printable(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

}  // namespace

void Decoder::feed(std::string_view bytes) {
    // Packets already returned are dropped first (their views end here).
    if (m_offset > 0) {
        m_buffer.erase(0, m_offset);
        m_offset = 0;
    }
    m_buffer.append(bytes);
}

Result<std::optional<Packet>> Decoder::next() {
    const std::string_view rest = std::string_view(m_buffer).substr(m_offset);
    if (rest.size() < 4) return std::optional<Packet>();
    const std::uint32_t length = get32(rest);
    if (length == 0) return permanent_error(Errc::malformed_message, "milter packet of length 0 (no command byte)");
    if (length > kMaxPacket) {
        return permanent_error(Errc::limit_exceeded, "milter packet of " + std::to_string(length) +
                                                         " bytes, more than the " + std::to_string(kMaxPacket) +
                                                         " allowed");
    }
    if (rest.size() - 4 < length) return std::optional<Packet>();
    m_offset += 4 + length;
    return std::optional<Packet>(Packet{rest[4], rest.substr(5, length - 1)});
}

Result<Command> parse(const Packet& p) {
    switch (p.command) {
        case cmd::optneg: return parse_optneg(p);
        case cmd::macro: return parse_macros(p);
        case cmd::connect: return parse_connect(p);
        case cmd::helo:
        case cmd::header:
        case cmd::unknown: return parse_strings(p);
        case cmd::mail:
        case cmd::rcpt: return parse_envelope(p);
        case cmd::data: return parse_empty(p, Data{});
        case cmd::eoh: return parse_empty(p, EndOfHeader{});
        case cmd::body: return Command(Body{p.data});
        case cmd::body_eob: return Command(EndOfBody{p.data});
        case cmd::abort: return parse_empty(p, Abort{});
        case cmd::quit: return parse_empty(p, Quit{false});
        case cmd::quit_nc: return parse_empty(p, Quit{true});
        default: break;
    }
    return malformed(p.command, "unknown command");
}

void append_packet(std::string& out, char command, std::string_view data) {
    put32(out, static_cast<std::uint32_t>(data.size() + 1));
    out.push_back(command);
    out.append(data);
}

void append_simple(std::string& out, char r) { append_packet(out, r, {}); }

void append_optneg(std::string& out, const OptNeg& ours) {
    put32(out, 13);
    out.push_back(reply::optneg);
    put32(out, ours.version);
    put32(out, ours.actions);
    put32(out, ours.steps);
}

void append_reply_code(std::string& out, std::string_view text) {
    put32(out, static_cast<std::uint32_t>(text.size() + 2));
    out.push_back(reply::reply_code);
    out.append(text);
    out.push_back('\0');
}

namespace {

// name\0value\0, after an optional 4-byte index.
void append_field(std::string& out, char r, const std::uint32_t* index, std::string_view name, std::string_view value) {
    put32(out, static_cast<std::uint32_t>(1 + (index ? 4 : 0) + name.size() + 1 + value.size() + 1));
    out.push_back(r);
    if (index != nullptr) put32(out, *index);
    out.append(name).push_back('\0');
    out.append(value).push_back('\0');
}

}  // namespace

void append_add_header(std::string& out, std::string_view name, std::string_view value) {
    append_field(out, reply::add_header, nullptr, name, value);
}

void append_insert_header(std::string& out, std::uint32_t index, std::string_view name, std::string_view value) {
    append_field(out, reply::insert_header, &index, name, value);
}

void append_change_header(std::string& out, std::uint32_t index, std::string_view name, std::string_view value) {
    append_field(out, reply::change_header, &index, name, value);
}

void append_replace_body(std::string& out, std::string_view body) {
    while (!body.empty()) {
        const std::size_t n = std::min(body.size(), kMaxBodyChunk);
        append_packet(out, reply::replace_body, body.substr(0, n));
        body.remove_prefix(n);
    }
}

Result<std::string> reply_code_text(std::string_view code, std::string_view xcode, std::string_view text) {
    auto bad = [](const std::string& why) { return permanent_error(Errc::malformed_message, "milter reply: " + why); };
    if (code.size() != 3 || (code[0] != '4' && code[0] != '5') || code[1] < '0' || code[1] > '9' || code[2] < '0' ||
        code[2] > '9') {
        return bad("the code \"" + std::string(code) + "\" is not 4xx or 5xx");
    }
    if (!xcode.empty()) {
        // RFC 3463 §2: class.subject.detail, the class matching the code's.
        bool ok = xcode.size() >= 5 && xcode[0] == code[0] && xcode[1] == '.' &&
                  xcode.find_first_not_of("0123456789.") == std::string_view::npos &&
                  std::count(xcode.begin(), xcode.end(), '.') == 2 && xcode.back() != '.' &&
                  xcode.find("..") == std::string_view::npos;
        if (!ok) return bad("the enhanced code \"" + std::string(xcode) + "\" does not match " + std::string(code));
    }
    if (!printable(text)) return bad("the text holds a control character");
    // Postfix checks the fourth character is ' ' (or '-' between lines).
    std::string out(code);
    out.push_back(' ');
    if (!xcode.empty()) out.append(xcode).push_back(' ');
    out.append(text);
    return out;
}

Result<void> check_header(std::string_view name, std::string_view value) {
    if (name.empty()) return permanent_error(Errc::malformed_message, "milter header edit: an empty field name");
    for (unsigned char c : name) {
        if (c <= 0x20 || c >= 0x7f || c == ':') {
            return permanent_error(Errc::malformed_message, "milter header edit: the field name \"" +
                                                                std::string(name) + "\" is not printable ASCII without ':'");
        }
    }
    if (value.find('\0') != std::string_view::npos) {
        return permanent_error(Errc::malformed_message, "milter header edit: a NUL in the value of " + std::string(name));
    }
    return {};
}

}  // namespace ribbon::milter::protocol
