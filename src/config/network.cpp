// network.cpp — see ribbon/network.hpp.
#include "ribbon/network.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace ribbon {

std::optional<HostPort> parse_host_port(std::string_view text, std::uint16_t default_port) {
    HostPort out;
    std::string_view rest;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        out.host = std::string(text.substr(1, close - 1));
        rest = text.substr(close + 1);
    } else {
        auto colon = text.rfind(':');
        // A bare IPv6 address has several colons and needs brackets.
        if (colon != std::string_view::npos && text.find(':') != colon) return std::nullopt;
        out.host = std::string(text.substr(0, colon));
        rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
    }
    if (out.host.empty() || out.host.find_first_of(" \t/@") != std::string::npos) return std::nullopt;
    if (rest.empty()) {
        if (default_port == 0) return std::nullopt;
        out.port = default_port;
        return out;
    }
    if (rest.front() != ':' || rest.size() < 2) return std::nullopt;
    unsigned port = 0;
    auto [end, ec] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), port);
    if (ec != std::errc() || end != rest.data() + rest.size() || port == 0 || port > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
    return out;
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
    IpNetwork n;
    auto slash = text.find('/');
    std::string address(text.substr(0, slash));
    if (::inet_pton(AF_INET, address.c_str(), n.m_bytes.data()) == 1) {
        n.m_size = 4;
    } else if (::inet_pton(AF_INET6, address.c_str(), n.m_bytes.data()) == 1) {
        n.m_size = 16;
    } else {
        return std::nullopt;
    }
    n.m_prefix = static_cast<unsigned>(n.m_size * 8);
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        unsigned prefix = 0;
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix > n.m_prefix) return std::nullopt;
        n.m_prefix = prefix;
    }
    // "::ffff:10.0.0.0/104" is an IPv4 network written as IPv6: contains()
    // sees v4-mapped clients as IPv4, so keep it as one.
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (n.m_size == 16 && n.m_prefix >= 96 && std::memcmp(n.m_bytes.data(), kMapped, 12) == 0) {
        std::memmove(n.m_bytes.data(), n.m_bytes.data() + 12, 4);
        n.m_size = 4;
        n.m_prefix -= 96;
    }
    return n;
}

bool IpNetwork::contains(const unsigned char* address, std::size_t size) const noexcept {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (size == 16 && m_size == 4 && std::memcmp(address, kMapped, 12) == 0) {
        address += 12;
        size = 4;
    }
    if (size != m_size) return false;
    unsigned full = m_prefix / 8, bits = m_prefix % 8;
    if (std::memcmp(address, m_bytes.data(), full) != 0) return false;
    if (bits == 0) return true;
    auto mask = static_cast<unsigned char>(0xff << (8 - bits));
    return (address[full] & mask) == (m_bytes[full] & mask);
}

}  // namespace ribbon
