// fuzz_milter.cpp — libFuzzer target for the milter protocol's framing and
// parsing (src/milter/protocol.hpp): what an MTA (or anything that reaches
// the milter socket) sends before ribbon does any work.
//
// Input: byte 0 picks the size of the pieces (1..256) the rest is fed to a
// Decoder in, the way the engine feeds whatever read() returned; the rest
// is the byte stream. Each packet is parsed.
//
// Aborts when: the pieces give other packets (or another error) than the
// whole stream fed at once; a packet is longer than kMaxPacket; a packet
// does not read back the same after append_packet; a parsed string holds a
// NUL or lies outside its packet's data.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "milter/protocol.hpp"

namespace {

namespace p = ribbon::milter::protocol;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_milter: %s\n", what);
        std::abort();
    }
}

void inside(std::string_view s, std::string_view data) {
    check(s.find('\0') == std::string_view::npos, "a parsed string holds a NUL");
    check(s.empty() || (s.data() >= data.data() && s.data() + s.size() <= data.data() + data.size()),
          "a parsed string lies outside its packet");
}

void check_parsed(const p::Packet& packet) {
    auto c = p::parse(packet);
    if (!c) return;
    const std::string_view d = packet.data;
    if (auto* m = std::get_if<p::Macros>(&*c)) {
        for (auto& [n, v] : m->pairs) inside(n, d), inside(v, d);
    } else if (auto* e = std::get_if<p::Envelope>(&*c)) {
        check(!e->args.empty(), "an envelope command without arguments");
        for (auto a : e->args) inside(a, d);
    } else if (auto* h = std::get_if<p::Header>(&*c)) {
        check(!h->name.empty(), "a header field without a name");
        inside(h->name, d), inside(h->value, d);
    } else if (auto* cn = std::get_if<p::Connect>(&*c)) {
        inside(cn->host, d), inside(cn->address, d);
    }
}

// Packets (command + data) and the error that ended the stream, if any.
std::vector<std::string> decode(std::string_view stream, std::size_t piece, std::string& error) {
    std::vector<std::string> out;
    p::Decoder decoder;
    for (std::size_t off = 0; off < stream.size(); off += piece) {
        decoder.feed(stream.substr(off, piece));
        for (;;) {
            auto next = decoder.next();
            if (!next) {
                error = next.error().message();
                return out;
            }
            if (!*next) break;
            const p::Packet& packet = **next;
            check(packet.data.size() < p::kMaxPacket, "a packet longer than the limit");
            std::string wire;
            p::append_packet(wire, packet.command, packet.data);
            p::Decoder again;
            again.feed(wire);
            auto back = again.next();
            check(back && *back && (*back)->command == packet.command && (*back)->data == packet.data,
                  "a packet does not read back the same");
            check_parsed(packet);
            out.push_back(packet.command + std::string(packet.data));
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t piece = static_cast<std::size_t>(data[0]) + 1;
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string whole_error, piece_error;
    const auto whole = decode(stream, stream.size() + 1, whole_error);
    const auto pieces = decode(stream, piece, piece_error);
    check(whole == pieces && whole_error == piece_error, "pieces decode differently from the whole stream");
    return 0;
}
