// SignerPool: the daemons' Digital IDs are parsed once, yet follow what an
// operator does to the keystore while they run — a key made readable by
// others or removed is refused from the next message on, a newly installed
// certificate takes over, a certificate rewritten in place is noticed
// within a second — and a [[signer]] entry with no usable Digital ID stops
// start-up with an error naming the entry.
#include "ribbon/signer_pool.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sys/stat.h>

#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

constexpr const char* kAddress = "no-reply@bank.example";

struct Fixture {
    TempDir tmp{"ribbon-pool"};
    Keystore ks{tmp.path() / "ids"};
    TimePoint now = std::chrono::system_clock::now();
    KeystoreSettings keystore;
    std::vector<SignerRule> signers;

    Fixture() {
        EXPECT_TRUE(DevCa::init(ks).ok());
        keystore.dir = ks.dir();
        signers.push_back(SignerRule{kAddress, "", SignMode::detached, true, false});
        signers.push_back(SignerRule{"*@shop.example", "", SignMode::detached, true, false});
    }
    fs::path issue(const std::string& address, TimePoint not_before) {
        DevCaIssueOptions o;
        o.not_before = not_before;
        auto cert = DevCa::issue(ks, address, o);
        EXPECT_TRUE(cert.ok()) << (cert.ok() ? "" : cert.error().message());
        return cert.ok() ? *cert : fs::path();
    }
    std::shared_ptr<SignerPool> pool() {
        auto p = SignerPool::create(keystore, signers, now);
        EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
        return p.ok() ? *p : nullptr;
    }
};

TEST(SignerPool, StartUpNamesTheEntryWithoutADigitalId) {
    Fixture f;
    auto p = SignerPool::create(f.keystore, f.signers, f.now);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code(), Errc::no_digital_id);
    EXPECT_EQ(p.error().message().rfind("[[signer]] from = \"no-reply@bank.example\": Digital ID "
                                        "no-reply@bank.example: ", 0), 0u)
        << p.error().message();
}

TEST(SignerPool, LoadsOnceAndWarnsAboutTheDevCa) {
    Fixture f;
    f.issue(kAddress, f.now - hours(1));
    auto pool = f.pool();
    ASSERT_TRUE(pool);
    ASSERT_EQ(pool->warnings().size(), 1u);
    EXPECT_NE(pool->warnings()[0].find("dev CA"), std::string::npos);
    auto a = pool->get(f.signers[0], "No-Reply@Bank.example", f.now);
    auto b = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->get(), b->get()) << "the second message must reuse the loaded Digital ID";
}

TEST(SignerPool, WildcardEntriesLoadPerSender) {
    Fixture f;
    f.issue(kAddress, f.now - hours(1));
    f.issue("orders@shop.example", f.now - hours(1));
    auto pool = f.pool();
    ASSERT_TRUE(pool);
    auto orders = pool->get(f.signers[1], "Orders@Shop.example", f.now);
    ASSERT_TRUE(orders.ok()) << orders.error().message();
    EXPECT_EQ((*orders)->entry.address, "orders@shop.example");
    auto other = pool->get(f.signers[1], "billing@shop.example", f.now);
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.error().code(), Errc::no_digital_id);
}

TEST(SignerPool, KeyMadeReadableOrRemovedIsRefusedAtTheNextLookup) {
    Fixture f;
    f.issue(kAddress, f.now - hours(1));
    auto pool = f.pool();
    ASSERT_TRUE(pool);
    auto first = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_TRUE(first.ok());
    fs::path key = (*first)->entry.key_file;

    ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
    auto unsafe = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_FALSE(unsafe.ok());
    EXPECT_EQ(unsafe.error().code(), Errc::unsafe_key_permissions);

    ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
    EXPECT_TRUE(pool->get(f.signers[0], kAddress, f.now).ok());

    fs::remove(key);
    auto gone = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_FALSE(gone.ok());
    EXPECT_NE(gone.error().message().find(key.filename().string()), std::string::npos) << gone.error().message();
}

// The certificates for the daemons' expiry metric: the fixed ID from
// start-up, a wildcard one once used, and still both after a lookup fails.
TEST(SignerPool, CertificatesOfTheIdsLoadedSoFar) {
    Fixture f;
    f.issue(kAddress, f.now - hours(1));
    f.issue("orders@shop.example", f.now - hours(1));
    auto pool = f.pool();
    ASSERT_TRUE(pool);
    auto serials = [&pool] {
        std::set<std::string> out;
        for (const CertificateInfo& c : pool->certificates()) out.insert(c.serial_hex);
        return out;
    };
    auto fixed = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_TRUE(fixed.ok());
    EXPECT_EQ(serials(), std::set<std::string>{(*fixed)->entry.certificate.serial_hex});
    auto shop = pool->get(f.signers[1], "orders@shop.example", f.now);
    ASSERT_TRUE(shop.ok());
    const std::set<std::string> both = {(*fixed)->entry.certificate.serial_hex, (*shop)->entry.certificate.serial_hex};
    EXPECT_EQ(serials(), both);
    EXPECT_EQ(pool->certificates().front().not_after, (*fixed)->entry.certificate.not_after);
    fs::remove((*fixed)->entry.key_file);
    ASSERT_FALSE(pool->get(f.signers[0], kAddress, f.now).ok());
    EXPECT_EQ(serials(), both);
}

TEST(SignerPool, ANewCertificateTakesOverWithoutARestart) {
    Fixture f;
    fs::path old_cert = f.issue(kAddress, f.now - hours(48));
    auto pool = f.pool();
    ASSERT_TRUE(pool);
    auto before = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_TRUE(before.ok());
    EXPECT_EQ((*before)->entry.cert_file, old_cert);

    fs::path renewed = f.issue(kAddress, f.now - hours(1));
    auto after = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ((*after)->entry.cert_file, renewed);
}

// A certificate file rewritten in place (same name, same inode: the
// folder does not change) is compared at most once a second: a lookup
// within the second still uses the Digital ID loaded, the first one after
// it reads the files again — here a certificate that does not belong to
// the key, so the Digital ID is refused rather than used.
TEST(SignerPool, ACertificateRewrittenInPlaceIsNoticedWithinASecond) {
    Fixture f;
    fs::path cert = f.issue(kAddress, f.now - hours(1));
    fs::path other = f.issue("billing@bank.example", f.now - hours(1));
    auto pool = f.pool();
    ASSERT_TRUE(pool);
    auto first = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_TRUE(first.ok());
    ASSERT_EQ((*first)->entry.cert_file, cert);
    struct stat before {};
    ASSERT_EQ(::stat(cert.c_str(), &before), 0);
    {
        std::ofstream out(cert, std::ios::binary | std::ios::trunc);
        out << read_file(other);
    }
    struct stat after {};
    ASSERT_EQ(::stat(cert.c_str(), &after), 0);
    ASSERT_EQ(after.st_ino, before.st_ino);

    using std::chrono::milliseconds;
    auto within = pool->get(f.signers[0], kAddress, f.now + milliseconds(900));
    ASSERT_TRUE(within.ok());
    EXPECT_EQ(within->get(), first->get());
    auto later = pool->get(f.signers[0], kAddress, f.now + milliseconds(1000));
    EXPECT_FALSE(later.ok() && later->get() == first->get());
    EXPECT_FALSE(later.ok()) << (*later)->entry.cert_file;
}

TEST(SignerPool, RollsOverToANextCertificateAtItsNotBefore) {
    Fixture f;
    f.issue(kAddress, f.now - hours(48));
    fs::path next = f.issue(kAddress, f.now + hours(2));
    auto pool = f.pool();
    ASSERT_TRUE(pool);
    auto now = pool->get(f.signers[0], kAddress, f.now);
    ASSERT_TRUE(now.ok());
    EXPECT_NE((*now)->entry.cert_file, next);
    auto later = pool->get(f.signers[0], kAddress, f.now + hours(3));
    ASSERT_TRUE(later.ok());
    EXPECT_EQ((*later)->entry.cert_file, next);
}

}  // namespace
}  // namespace ribbon::test
