// protocol.hpp — the Sendmail milter protocol, version 6, as Postfix's MTA
// side speaks it (milter_protocol = 6): framing, typed commands and the
// replies ribbon sends. Pure: no I/O, so every rule is unit-tested and
// fuzzed (fuzz/fuzz_milter.cpp) without a socket.
//
// A packet is a 4-byte big-endian length, then that many bytes: one command
// (or reply) byte and its data. Strings inside are NUL-terminated.
//
// The constants are the protocol's wire values. They are defined here
// rather than taken from libmilter's <libmilter/mfdef.h>, so that ribbon
// needs no part of libmilter to build or run; the values are fixed by the
// protocol (the MTA and every filter must agree on them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ribbon/error.hpp"

namespace ribbon::milter::protocol {

// The version ribbon speaks (Sendmail 8.14's, the one Postfix 2.6+ offers).
inline constexpr std::uint32_t kVersion = 6;

// A packet longer than this is refused. Postfix sends body chunks of at
// most 65535 bytes and a header field or macro list well below that; 1 MiB
// leaves room for any MTA yet bounds what one connection can make ribbon hold.
inline constexpr std::uint32_t kMaxPacket = 1024 * 1024;

// SMFIR_REPLBODY and body chunks: at most this many bytes per packet.
inline constexpr std::size_t kMaxBodyChunk = 65535;

// Commands (MTA → filter).
namespace cmd {
inline constexpr char abort = 'A', body = 'B', connect = 'C', macro = 'D', body_eob = 'E', helo = 'H',
                      quit_nc = 'K', header = 'L', mail = 'M', eoh = 'N', optneg = 'O', quit = 'Q', rcpt = 'R',
                      data = 'T', unknown = 'U';
}

// Replies and actions (filter → MTA).
namespace reply {
inline constexpr char accept = 'a', replace_body = 'b', continue_ = 'c', add_header = 'h', insert_header = 'i',
                      change_header = 'm', progress = 'p', reject = 'r', tempfail = 't', reply_code = 'y',
                      optneg = 'O';
}

// SMFIF_*: the actions a filter may take (OPTNEG).
namespace action {
inline constexpr std::uint32_t add_headers = 0x01, change_body = 0x02, add_rcpt = 0x04, delete_rcpt = 0x08,
                               change_headers = 0x10, quarantine = 0x20;
}

// SMFIP_*: steps the MTA may skip, and steps it sends without waiting for
// a reply (NR_*), asked for by the filter in its OPTNEG reply.
namespace step {
inline constexpr std::uint32_t no_connect = 0x01, no_helo = 0x02, no_mail = 0x04, no_rcpt = 0x08, no_body = 0x10,
                               no_headers = 0x20, no_eoh = 0x40, nr_header = 0x80, no_unknown = 0x100,
                               no_data = 0x200, skip = 0x400, rcpt_rejected = 0x800, nr_connect = 0x1000,
                               nr_helo = 0x2000, nr_mail = 0x4000, nr_rcpt = 0x8000, nr_data = 0x10000,
                               nr_unknown = 0x20000, nr_eoh = 0x40000, nr_body = 0x80000,
                               header_leading_space = 0x100000;
}

// One packet as framed: its command byte and data. `data` points into the
// Decoder's buffer and stays valid until the next feed().
struct Packet {
    char command = 0;
    std::string_view data;
};

// Cuts a byte stream, fed in chunks of any size, into packets.
class Decoder {
public:
    void feed(std::string_view bytes);
    // The next complete packet, nothing when more bytes are needed, or an
    // error (a length of 0 or above kMaxPacket) after which the stream
    // cannot be resynchronised: the connection must be closed.
    Result<std::optional<Packet>> next();
    // Bytes received and not yet returned as packets.
    std::size_t pending() const noexcept { return m_buffer.size() - m_offset; }

private:
    std::string m_buffer;
    std::size_t m_offset = 0;  // start of the first packet not yet returned
};

// ---- typed commands ----------------------------------------------------------

struct OptNeg {
    std::uint32_t version = 0, actions = 0, steps = 0;
};
struct Macros {
    char stage = 0;  // the command they are for
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
};
struct Connect {
    std::string_view host;
    char family = 0;  // 'U' unknown, 'L' unix, '4', '6'
    std::uint16_t port = 0;
    std::string_view address;
};
struct Helo {
    std::string_view name;
};
struct Envelope {  // MAIL or RCPT: the address, then ESMTP arguments
    bool recipient = false;
    std::vector<std::string_view> args;
};
struct Data {};
struct Header {
    std::string_view name, value;
};
struct EndOfHeader {};
struct Body {
    std::string_view chunk;
};
struct EndOfBody {
    std::string_view chunk;  // a last body chunk (Postfix sends none)
};
struct Abort {};
struct Quit {
    bool new_connection_follows = false;  // QUIT_NC
};
struct Unknown {
    std::string_view line;
};

using Command = std::variant<OptNeg, Macros, Connect, Helo, Envelope, Data, Header, EndOfHeader, Body, EndOfBody,
                             Abort, Quit, Unknown>;

// Parses one packet strictly: every string NUL-terminated inside the data,
// no bytes left over, commands without data carry none. The error names
// the command and the problem. Views point into the packet's data.
Result<Command> parse(const Packet& packet);

// ---- replies -----------------------------------------------------------------
// Each appends one whole packet to `out`, so replies can be gathered into
// one write.

void append_packet(std::string& out, char command, std::string_view data);
void append_simple(std::string& out, char reply);  // continue, accept, reject, tempfail, progress
void append_optneg(std::string& out, const OptNeg& ours);
// "CODE XCODE TEXT": code 4xx or 5xx, xcode empty or "4.x.y"/"5.x.y" of the
// same class, text printable without CR, LF; checked by reply_code_text.
void append_reply_code(std::string& out, std::string_view text);
void append_add_header(std::string& out, std::string_view name, std::string_view value);
void append_insert_header(std::string& out, std::uint32_t index, std::string_view name, std::string_view value);
// An empty value removes the field (SMFIR_CHGHEADER's definition): a field
// cannot be changed to an empty value.
void append_change_header(std::string& out, std::uint32_t index, std::string_view name, std::string_view value);
// Appends `body` as SMFIR_REPLBODY packets of at most kMaxBodyChunk bytes
// (each packet appends to the replacement body at the MTA).
void append_replace_body(std::string& out, std::string_view body);

// Builds the SMFIR_REPLYCODE text from its parts, or an error naming what is
// wrong (the MTA would refuse it, or it would change the reply's meaning).
Result<std::string> reply_code_text(std::string_view code, std::string_view xcode, std::string_view text);

// A header name or value the MTA can take: a name of printable ASCII
// without ':' and a value without NUL (and for values: folds as "\n" + WSP).
Result<void> check_header(std::string_view name, std::string_view value);

}  // namespace ribbon::milter::protocol
