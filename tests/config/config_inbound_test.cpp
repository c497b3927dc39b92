// The [inbound] section of ribbon.toml (src/config/config_inbound.cpp): its
// defaults, every key, and the refusals naming the file, line and key.
#include <gtest/gtest.h>

#include "support/config_util.hpp"

namespace ribbon::test {
namespace {

constexpr const char* kInboundMilter = "[milter]\nrole = \"inbound\"\n";

TEST(ConfigInbound, DefaultsAreOff) {
    Config c = parse_ok("");
    EXPECT_FALSE(c.inbound.verify);
    EXPECT_EQ(c.inbound.authserv_id, "");
    EXPECT_EQ(c.inbound.ca_file, "");
    EXPECT_EQ(c.inbound.on_internal_error, InboundErrorAction::stamp);
}

TEST(ConfigInbound, ReadsEveryKeyAndWritesThemBack) {
    const std::string text = std::string(kInboundMilter) +
                             "[inbound]\nverify = true\nauthserv_id = \"mx.bank.example\"\n"
                             "ca_file = \"/etc/ribbon/roots.pem\"\non_internal_error = \"tempfail\"\n";
    Config c = parse_ok(text);
    EXPECT_TRUE(c.inbound.verify);
    EXPECT_EQ(c.inbound.authserv_id, "mx.bank.example");
    EXPECT_EQ(c.inbound.ca_file, "/etc/ribbon/roots.pem");
    EXPECT_EQ(c.inbound.on_internal_error, InboundErrorAction::tempfail);
    const std::string toml = c.to_toml();
    EXPECT_NE(toml.find("[inbound]\nverify = true\nauthserv_id = \"mx.bank.example\"\nca_file = "
                        "\"/etc/ribbon/roots.pem\"\non_internal_error = \"tempfail\"\n"),
              std::string::npos)
        << toml;
    Config back = parse_ok(toml);
    EXPECT_EQ(back.inbound.authserv_id, "mx.bank.example");
    EXPECT_EQ(back.inbound.on_internal_error, InboundErrorAction::tempfail);
}

TEST(ConfigInbound, Refusals) {
    EXPECT_EQ(refused(std::string(kInboundMilter) + "[inbound]\nverify = true\n"),
              "ribbon.toml:3: inbound.verify = true needs inbound.authserv_id: the name ribbon signs its "
              "Authentication-Results with (RFC 8601 §2.5), the same on every MX");
    EXPECT_EQ(refused("[inbound]\nverify = true\nauthserv_id = \"mx.bank.example\"\n"),
              "ribbon.toml:1: inbound.verify = true needs milter.role = \"inbound\" or \"both\": only the milter "
              "receives inbound mail");
    for (const char* bad : {"mx bank", "mx;bank", "\\\"q\\\"", "(c)mx", "mx.bank.example\\n", "bänk.example"}) {
        EXPECT_NE(refused(std::string(kInboundMilter) + "[inbound]\nauthserv_id = \"" + bad + "\"\n")
                      .find("inbound.authserv_id must be a name such as \"mx.bank.example\""),
                  std::string::npos)
            << bad;
    }
    EXPECT_NE(refused("[inbound]\nca_file = \"roots.pem\"\n").find("inbound.ca_file must be an absolute path"),
              std::string::npos);
    EXPECT_NE(refused("[inbound]\non_internal_error = \"accept\"\n").find("on_internal_error"), std::string::npos);
    EXPECT_NE(refused("[inbound]\nverify = \"yes\"\n").find("must be true or false"), std::string::npos);
    EXPECT_NE(refused("[inbound]\nauthserv = \"x\"\n").find("authserv"), std::string::npos);
}

}  // namespace
}  // namespace ribbon::test
