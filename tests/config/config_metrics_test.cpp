// The [metrics] section of ribbon.toml (src/config/config_metrics.cpp): off
// by default, loopback unless allowed, refusals naming the line and key.
#include <gtest/gtest.h>

#include "support/config_util.hpp"

namespace ribbon::test {
namespace {

TEST(ConfigMetrics, OffByDefault) {
    Config c = parse_ok("");
    EXPECT_EQ(c.metrics.listen, "");
    EXPECT_FALSE(c.metrics.allow_remote);
    EXPECT_EQ(c.metrics.relay_listen, "");
    EXPECT_NE(c.to_toml().find("[metrics]\nlisten = \"\"\nrelay_listen = \"\"\nallow_remote = false\n"),
              std::string::npos);
}

TEST(ConfigMetrics, ReadsLoopbackAddressesAndWritesThemBack) {
    for (const char* listen : {"127.0.0.1:9425", "127.1.2.3:80", "[::1]:9425", "[::ffff:127.0.0.1]:9425"}) {
        Config c = parse_ok(std::string("[metrics]\nlisten = \"") + listen + "\"\n");
        EXPECT_EQ(c.metrics.listen, listen);
        Config back = parse_ok(c.to_toml());
        EXPECT_EQ(back.metrics.listen, listen);
        EXPECT_FALSE(back.metrics.allow_remote);
    }
}

// The milter and the relay read one file: the relay may have a port of its own.
TEST(ConfigMetrics, RelayListen) {
    Config c = parse_ok("[metrics]\nlisten = \"127.0.0.1:9425\"\nrelay_listen = \"127.0.0.1:9426\"\n");
    EXPECT_EQ(c.metrics.listen, "127.0.0.1:9425");
    EXPECT_EQ(c.metrics.relay_listen, "127.0.0.1:9426");
    EXPECT_EQ(parse_ok(c.to_toml()).metrics.relay_listen, "127.0.0.1:9426");
    EXPECT_EQ(refused("[metrics]\nlisten = \"127.0.0.1:9425\"\nrelay_listen = \"127.0.0.1:9425\"\n"),
              "ribbon.toml:3: metrics.relay_listen must differ from metrics.listen: the milter and the relay cannot "
              "share a port");
    EXPECT_EQ(refused("[metrics]\nrelay_listen = \"192.0.2.1:9426\"\n"),
              "ribbon.toml:2: metrics.relay_listen \"192.0.2.1:9426\" is not a loopback address: set "
              "metrics.allow_remote = true to serve the metrics to other hosts (and firewall the port)");
    EXPECT_NE(refused("[metrics]\nrelay_listen = \"localhost:9426\"\n")
                  .find("metrics.relay_listen must be \"address:port\" with an IP address"),
              std::string::npos);
}

TEST(ConfigMetrics, RemoteNeedsAllowRemote) {
    EXPECT_EQ(refused("[metrics]\nlisten = \"192.0.2.1:9425\"\n"),
              "ribbon.toml:2: metrics.listen \"192.0.2.1:9425\" is not a loopback address: set "
              "metrics.allow_remote = true to serve the metrics to other hosts (and firewall the port)");
    EXPECT_NE(refused("[metrics]\nlisten = \"[2001:db8::1]:9425\"\n").find("is not a loopback address"),
              std::string::npos);
    EXPECT_NE(refused("[metrics]\nlisten = \"0.0.0.0:9425\"\n").find("is not a loopback address"), std::string::npos);
    Config c = parse_ok("[metrics]\nlisten = \"0.0.0.0:9425\"\nallow_remote = true\n");
    EXPECT_EQ(c.metrics.listen, "0.0.0.0:9425");
    EXPECT_TRUE(c.metrics.allow_remote);
    EXPECT_TRUE(parse_ok(c.to_toml()).metrics.allow_remote);
}

TEST(ConfigMetrics, Refusals) {
    for (const char* bad : {"localhost:9425", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9425",
                            "127.0.0.0/8:9425", ":9425"}) {
        EXPECT_EQ(refused(std::string("[metrics]\nlisten = \"") + bad + "\"\n"),
                  std::string("ribbon.toml:2: metrics.listen must be \"address:port\" with an IP address, such as "
                              "\"127.0.0.1:9425\" or \"[::1]:9425\", not \"") + bad + "\"")
            << bad;
    }
    EXPECT_NE(refused("[metrics]\nallow_remote = \"yes\"\n").find("must be true or false"), std::string::npos);
    EXPECT_NE(refused("[metrics]\nport = 9425\n").find("port"), std::string::npos);
}

}  // namespace
}  // namespace ribbon::test
