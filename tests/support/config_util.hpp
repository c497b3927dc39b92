// Parsing ribbon.toml text in tests: a configuration that must be accepted,
// and the message of one that must be refused.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "ribbon/config.hpp"

namespace ribbon::test {

inline Config parse_ok(std::string_view text) {
    auto c = Config::parse(text, "ribbon.toml");
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
    return c.ok() ? *c : Config{};
}

// The error message of a configuration that must be refused (always a
// permanent bad_config).
inline std::string refused(std::string_view text) {
    auto c = Config::parse(text, "ribbon.toml");
    EXPECT_FALSE(c.ok()) << text;
    if (c.ok()) return {};
    EXPECT_EQ(c.error().code(), Errc::bad_config);
    EXPECT_EQ(c.error().kind(), ErrorKind::permanent);
    return c.error().message();
}

}  // namespace ribbon::test
