// Unit tests of decryption_keys() (src/keystore/decryption_keys.cpp): every
// certificate of a keystore whose key is present, expired ones included,
// opens what was sealed to it; a certificate without its key is skipped
// and named.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "ribbon/decrypt.hpp"
#include "ribbon/keystore.hpp"
#include "support/process.hpp"

namespace ribbon {
namespace {

using namespace std::chrono_literals;
using test::read_file;
using test::run_process;
using test::TempDir;
using test::write_file;

const std::string kAddress = "statements@bank.example";
const std::string kPlain = "Content-Type: text/plain\r\n\r\nSealed to last year's certificate.\r\n";

// `openssl cms -encrypt` to `cert`, DER.
std::string seal_to(const TempDir& dir, const std::filesystem::path& cert) {
    write_file(dir / "plain", kPlain);
    const auto r = run_process({"openssl", "cms", "-encrypt", "-binary", "-aes256", "-in", (dir / "plain").string(),
                                "-outform", "DER", "-out", (dir / "sealed").string(), "-recip", cert.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return read_file(dir / "sealed");
}

TEST(DecryptionKeys, ExpiredAndCurrentCertificatesBothOpen) {
    TempDir dir;
    const Keystore ks(dir / "ids");
    ASSERT_TRUE(DevCa::init(ks).ok());
    const auto now = std::chrono::system_clock::now();
    DevCaIssueOptions old;
    old.not_before = now - 400 * 24h;
    old.not_after = now - 30 * 24h;
    auto expired = DevCa::issue(ks, kAddress, old);
    ASSERT_TRUE(expired.ok()) << expired.error().message();
    auto current = DevCa::issue(ks, kAddress);
    ASSERT_TRUE(current.ok()) << current.error().message();

    auto found = decryption_keys(ks);
    ASSERT_TRUE(found.ok()) << found.error().message();
    EXPECT_EQ(found->keys.size(), 2u);
    EXPECT_TRUE(found->skipped.empty());
    for (const auto& cert : {*expired, *current}) {
        TempDir work;
        const std::string der = seal_to(work, cert);
        auto opened = open_sealed(MessageInput::from_memory(der), found->keys);
        ASSERT_TRUE(opened.ok()) << cert << ": " << opened.error().message();
        EXPECT_EQ(opened->message, kPlain);
        EXPECT_EQ(opened->key_management.rfind("ECDH (", 0), 0u) << opened->key_management;
    }
}

TEST(DecryptionKeys, ACertificateWithoutItsKeyIsSkippedAndNamed) {
    TempDir dir;
    const Keystore ks(dir / "ids");
    ASSERT_TRUE(DevCa::init(ks).ok());
    auto kept = DevCa::issue(ks, kAddress);
    ASSERT_TRUE(kept.ok());
    auto lost = DevCa::issue(ks, "other@bank.example");
    ASSERT_TRUE(lost.ok());
    for (const auto& e : std::filesystem::directory_iterator(lost->parent_path())) {
        if (e.path().extension() == ".key") std::filesystem::remove(e.path());
    }
    auto found = decryption_keys(ks);
    ASSERT_TRUE(found.ok()) << found.error().message();
    EXPECT_EQ(found->keys.size(), 1u);
    ASSERT_EQ(found->skipped.size(), 1u);
    EXPECT_EQ(found->skipped[0], lost->string() + ": its key is missing");
}

TEST(DecryptionKeys, AnEmptyKeystoreIsNoDigitalId) {
    TempDir dir;
    std::filesystem::create_directories(dir / "ids");
    std::filesystem::permissions(dir / "ids", std::filesystem::perms::owner_all);
    auto found = decryption_keys(Keystore(dir / "ids"));
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error().code(), Errc::no_digital_id);
}

}  // namespace
}  // namespace ribbon
