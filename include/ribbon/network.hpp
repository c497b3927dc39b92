// ribbon/network.hpp — the address forms ribbon.toml uses for the relay:
// "host:port" endpoints and "address/prefix" networks (CIDR, RFC 4632 for
// IPv4, RFC 4291 §2.3 for IPv6).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ribbon {

struct HostPort {
    std::string host;  // a name or an address; IPv6 without the brackets
    std::uint16_t port = 0;
};

// "host:port", "[v6 address]:port"; with `default_port`, ":port" may be
// left out. Nothing when the text is not one.
std::optional<HostPort> parse_host_port(std::string_view text, std::uint16_t default_port = 0);

class IpNetwork {
public:
    // "192.0.2.0/24", "2001:db8::/32", or a single address.
    static std::optional<IpNetwork> parse(std::string_view text);

    // An IPv4 address is 4 bytes, IPv6 16; an IPv4-mapped IPv6 address
    // (::ffff:a.b.c.d) is matched as the IPv4 address it carries.
    bool contains(const unsigned char* address, std::size_t size) const noexcept;

private:
    std::array<unsigned char, 16> m_bytes{};
    std::size_t m_size = 4;
    unsigned m_prefix = 32;
};

}  // namespace ribbon
