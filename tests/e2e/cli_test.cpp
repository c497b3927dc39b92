// The `ribbon` command's surface: --help and --version everywhere, and
// `ribbon sign --batch` over a folder with good and bad messages.
#include <gtest/gtest.h>

#include <gmime/gmime.h>

#include <filesystem>
#include <regex>

#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

TEST(Cli, HelpAndVersion) {
    ProcessResult r = run_process({ribbon_binary(), "--version"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out.rfind("ribbon ", 0), 0u) << r.out;
    for (const char* cmd : {"sign", "verify", "doctor"}) {
        r = run_process({ribbon_binary(), cmd, "--help"});
        EXPECT_EQ(r.exit_code, 0) << cmd;
        EXPECT_NE(r.out.find("Usage:"), std::string::npos) << cmd << ": " << r.out;
    }
    r = run_process({ribbon_binary()});
    EXPECT_EQ(r.exit_code, 64);
    r = run_process({ribbon_binary(), "sign", "--key", "/nonexistent", "--cert", "/nonexistent"});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
}

// `ribbon --version` names ribbon's version as CMakeLists.txt declares it
// and the libraries it runs with, each checked against another source: the
// openssl command's "(Library: ...)", GMime's own run-time answer in this
// process (the same shared object), and the milter protocol version Postfix
// speaks by default (`postconf -d milter_protocol`), which ribbon's engine
// must speak.
TEST(Cli, VersionNamesTheLibrariesItRunsWith) {
    std::smatch m;
    const std::string cmake = read_file(fs::path(RIBBON_SOURCE_DIR) / "CMakeLists.txt");
    ASSERT_TRUE(std::regex_search(cmake, m, std::regex(R"(project\(ribbon VERSION ([0-9.]+))")));
    const std::string ribbon_version = m[1];

    ProcessResult openssl = run_process({"openssl", "version"});
    ASSERT_EQ(openssl.exit_code, 0) << openssl.describe();
    ASSERT_TRUE(std::regex_search(openssl.out, m, std::regex(R"(\(Library: ([^)]+)\))"))) << openssl.out;
    const std::string libcrypto = m[1];

    ProcessResult postconf = run_process({"/usr/sbin/postconf", "-dh", "milter_protocol"});
    ASSERT_EQ(postconf.exit_code, 0) << postconf.describe();
    const std::string milter_protocol = postconf.out.substr(0, postconf.out.find('\n'));
    const std::string gmime = std::to_string(gmime_major_version) + "." + std::to_string(gmime_minor_version) +
                              "." + std::to_string(gmime_micro_version);

    ProcessResult r = run_process({ribbon_binary(), "--version"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "ribbon " + ribbon_version + "\n" + libcrypto + "\nGMime " + gmime + "\nmilter protocol " +
                         milter_protocol + "\n");
    EXPECT_EQ(r.err, "");
}

TEST(Cli, BatchSignsWhatItCanAndReportsTheRest) {
    TempDir tmp("ribbon-batch");
    fs::create_directories(tmp / "new");
    const std::string good = message("plain_ascii_lf").data;
    constexpr int kGood = 30;
    for (int i = 0; i < kGood; ++i) {
        write_file(tmp / ("new/" + std::to_string(1000 + i) + ".eml"),
                   set_header(good, "Subject", "batch " + std::to_string(i)));
    }
    write_file(tmp / "new/bad-from.eml", set_header(good, "From", "mallory@evil.example"));
    write_file(tmp / "new/empty.eml", "");
    write_file(tmp / "new/.hidden-tmp", "ignored");
    ProcessResult r = run_process({ribbon_binary(), "sign", "--key", pki().rsa.key.string(), "--cert",
                                   pki().rsa.cert.string(), "--chain", pki().chain.string(), "--batch",
                                   (tmp / "new").string(), "--out-dir", (tmp / "out").string(),
                                   "--jobs", "2"});
    // The first failure (in file order) decides the exit code.
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_NE(r.err.find("bad-from.eml: From address mallory@evil.example is not in the certificate"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("empty.eml: the message is empty [empty_message]"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ribbon sign: 30 signed, 2 failed"), std::string::npos) << r.err;

    std::size_t count = 0;
    for (const auto& e : fs::directory_iterator(tmp / "out")) {
        ++count;
        EXPECT_EQ(e.path().extension(), ".eml") << e.path();
    }
    EXPECT_EQ(count, static_cast<std::size_t>(kGood));  // no partial files for failures
    for (int i : {0, 17, 29}) {
        const std::string out = read_file(tmp / ("out/" + std::to_string(1000 + i) + ".eml"));
        EXPECT_NE(out.find("Subject: batch " + std::to_string(i) + "\r\n"), std::string::npos);
        VerifyResult v = verify_openssl(out);
        EXPECT_TRUE(v.ok) << v.details;
    }
}

TEST(Cli, BatchOfGoodMessagesExitsZero) {
    TempDir tmp("ribbon-batch-ok");
    fs::create_directories(tmp / "in");
    for (int i = 0; i < 5; ++i) {
        write_file(tmp / ("in/m" + std::to_string(i)), message("plain_ascii_crlf").data);
    }
    ProcessResult r = run_process({ribbon_binary(), "sign", "--key", pki().ecdsa.key.string(), "--cert",
                                   pki().ecdsa.cert.string(), "--chain", pki().chain.string(),
                                   "--opaque", "--batch", (tmp / "in").string(), "--out-dir",
                                   (tmp / "out").string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.err.find("5 signed, 0 failed"), std::string::npos) << r.err;
    EXPECT_TRUE(verify_openssl(read_file(tmp / "out/m3")).ok);
}

}  // namespace
}  // namespace ribbon::test
