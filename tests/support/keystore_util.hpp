// Small helpers shared by the keystore tests (keystore, key requests,
// PKCS#12 import).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

namespace ribbon::test {

// The permission bits of a file; EXPECTs that it exists.
inline unsigned mode_of(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

// A minimal statement notice sent From `from`.
inline std::string message_from(const std::string& from) {
    return "From: Bank <" + from + ">\r\nTo: c@example.org\r\nSubject: statement\r\n\r\nReady.\r\n";
}

}  // namespace ribbon::test
