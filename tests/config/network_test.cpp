// Unit tests of include/ribbon/network.hpp: the "host:port" endpoints of
// [relay] listen and [relay.next_hop] url, and the networks of [relay]
// mynetworks (CIDR: RFC 4632 for IPv4, RFC 4291 §2.3 for IPv6). Addresses
// are made with inet_pton, not with the code under test.
#include "ribbon/network.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace ribbon {
namespace {

std::string endpoint(std::string_view text, std::uint16_t default_port = 0) {
    auto hp = parse_host_port(text, default_port);
    return hp ? hp->host + " " + std::to_string(hp->port) : "refused";
}

TEST(NetworkHostPort, AcceptedForms) {
    EXPECT_EQ(endpoint("127.0.0.1:2525"), "127.0.0.1 2525");
    EXPECT_EQ(endpoint("mx.bank.example:587"), "mx.bank.example 587");
    EXPECT_EQ(endpoint("[::1]:25"), "::1 25");
    EXPECT_EQ(endpoint("[2001:db8::25]:65535"), "2001:db8::25 65535");
    EXPECT_EQ(endpoint("localhost:1"), "localhost 1");
}

TEST(NetworkHostPort, DefaultPortOnlyWhenGiven) {
    EXPECT_EQ(endpoint("mx.bank.example", 25), "mx.bank.example 25");
    EXPECT_EQ(endpoint("[::1]", 465), "::1 465");
    EXPECT_EQ(endpoint("mx.bank.example:2525", 25), "mx.bank.example 2525");
    EXPECT_EQ(endpoint("mx.bank.example"), "refused");
    EXPECT_EQ(endpoint("[::1]"), "refused");
}

TEST(NetworkHostPort, Refused) {
    for (std::string_view text : {"",
                                  ":25",
                                  "[]:25",
                                  "::1:25",
                                  "2001:db8::1",
                                  "[::1",
                                  "[::1]25",
                                  "[::1]:",
                                  "host:",
                                  "host:0",
                                  "host:65536",
                                  "host:99999999999",
                                  "host:-1",
                                  "host:+25",
                                  "host:25x",
                                  "host:25/",
                                  "host: 25",
                                  "a b:25",
                                  "user@host:25",
                                  "host/x:25",
                                  "host\t:25"}) {
        EXPECT_EQ(endpoint(text, 0), "refused") << "\"" << text << "\"";
    }
    // A port given but wrong is not replaced by the default.
    EXPECT_EQ(endpoint("host:0", 25), "refused");
    EXPECT_EQ(endpoint("", 25), "refused");
}

// inet_pton's bytes: 4 for IPv4, 16 for IPv6.
std::vector<unsigned char> address(const char* text) {
    std::array<unsigned char, 16> b{};
    if (::inet_pton(AF_INET, text, b.data()) == 1) return {b.begin(), b.begin() + 4};
    EXPECT_EQ(::inet_pton(AF_INET6, text, b.data()), 1) << text;
    return {b.begin(), b.end()};
}

IpNetwork network(std::string_view text) {
    auto n = IpNetwork::parse(text);
    EXPECT_TRUE(n.has_value()) << text;
    return n.value_or(*IpNetwork::parse("255.255.255.255"));
}

bool contains(const IpNetwork& n, const char* text) {
    auto a = address(text);
    return n.contains(a.data(), a.size());
}

TEST(NetworkIp, Ipv4Prefixes) {
    IpNetwork n24 = network("192.0.2.0/24");
    EXPECT_TRUE(contains(n24, "192.0.2.0"));
    EXPECT_TRUE(contains(n24, "192.0.2.255"));
    EXPECT_FALSE(contains(n24, "192.0.3.0"));
    EXPECT_FALSE(contains(n24, "192.0.1.255"));

    // /7 ends inside a byte: 10.0.0.0/7 is 10.0.0.0 to 11.255.255.255.
    IpNetwork n7 = network("10.0.0.0/7");
    EXPECT_TRUE(contains(n7, "10.0.0.0"));
    EXPECT_TRUE(contains(n7, "11.255.255.255"));
    EXPECT_FALSE(contains(n7, "9.255.255.255"));
    EXPECT_FALSE(contains(n7, "12.0.0.0"));

    IpNetwork all = network("0.0.0.0/0");
    EXPECT_TRUE(contains(all, "0.0.0.0"));
    EXPECT_TRUE(contains(all, "255.255.255.255"));
    EXPECT_FALSE(contains(all, "2001:db8::1"));

    for (std::string_view single : {"192.0.2.7/32", "192.0.2.7"}) {
        IpNetwork one = network(single);
        EXPECT_TRUE(contains(one, "192.0.2.7")) << single;
        EXPECT_FALSE(contains(one, "192.0.2.6")) << single;
        EXPECT_FALSE(contains(one, "192.0.2.8")) << single;
    }
}

TEST(NetworkIp, Ipv6Prefixes) {
    IpNetwork n32 = network("2001:db8::/32");
    EXPECT_TRUE(contains(n32, "2001:db8::1"));
    EXPECT_TRUE(contains(n32, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains(n32, "2001:db9::"));
    EXPECT_FALSE(contains(n32, "192.0.2.1"));

    IpNetwork n7 = network("fc00::/7");  // RFC 4193 unique local addresses
    EXPECT_TRUE(contains(n7, "fd12:3456::1"));
    EXPECT_FALSE(contains(n7, "fe80::1"));

    for (std::string_view single : {"::1/128", "::1"}) {
        IpNetwork loopback = network(single);
        EXPECT_TRUE(contains(loopback, "::1")) << single;
        EXPECT_FALSE(contains(loopback, "::2")) << single;
        EXPECT_FALSE(contains(loopback, "::")) << single;
    }

    IpNetwork all = network("::/0");
    EXPECT_TRUE(contains(all, "::"));
    EXPECT_TRUE(contains(all, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains(all, "127.0.0.1"));
}

TEST(NetworkIp, Ipv4MappedAddressesMatchIpv4Networks) {
    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2).
    IpNetwork loopback = network("127.0.0.0/8");
    EXPECT_TRUE(contains(loopback, "::ffff:127.0.0.1"));
    EXPECT_FALSE(contains(loopback, "::ffff:128.0.0.1"));
    // Only that prefix makes an IPv6 address an IPv4 one.
    EXPECT_FALSE(contains(loopback, "::127.0.0.1"));
    EXPECT_FALSE(contains(loopback, "64:ff9b::127.0.0.1"));
    EXPECT_TRUE(contains(network("0.0.0.0/0"), "::ffff:8.8.8.8"));
    // An IPv4 network written in v4-mapped form is that IPv4 network.
    IpNetwork mapped = network("::ffff:10.0.0.0/104");
    EXPECT_TRUE(contains(mapped, "10.1.2.3"));
    EXPECT_TRUE(contains(mapped, "::ffff:10.1.2.3"));
    EXPECT_FALSE(contains(mapped, "11.0.0.1"));
}

TEST(NetworkIp, Malformed) {
    for (std::string_view text :
         {"", "/24", "192.0.2.0/", "192.0.2.0/33", "192.0.2.0/x", "192.0.2.0/24/1", "192.0.2.0/-1",
          "192.0.2.0/ 24", "192.0.2.256", "192.0.2", "bank.example/24", "::/129", "2001:db8::/",
          "2001:db8:::1", "[::1]", "192.0.2.0 /24"}) {
        EXPECT_FALSE(IpNetwork::parse(text).has_value()) << "\"" << text << "\"";
    }
}

}  // namespace
}  // namespace ribbon
