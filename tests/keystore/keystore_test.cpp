// The keystore library: layout and modes of what the dev CA files, the
// rollover rule across a moving clock, expiry warnings, refused keys, and
// picking the sender from a message. Signed output is checked against the
// certificate file on disk, and by openssl, not by ribbon.
#include "ribbon/keystore.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "ribbon/signer.hpp"
#include "support/keystore_util.hpp"
#include "support/cms_inspect.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

constexpr const char* kAddress = "no-reply@bank.example";
const hours kDay{24};

// A keystore with a dev CA, fresh per test.
struct Store {
    TempDir tmp{"ribbon-keystore"};
    Keystore ks{tmp.path() / "ids"};
    TimePoint now = std::chrono::system_clock::now();
    Store() {
        auto root = DevCa::init(ks);
        EXPECT_TRUE(root.ok()) << (root.ok() ? "" : root.error().message());
    }
    fs::path issue(TimePoint not_before, TimePoint not_after, const std::string& address = kAddress,
                   NewKeyType type = NewKeyType::ec_p256) {
        DevCaIssueOptions o;
        o.type = type;
        o.not_before = not_before;
        o.not_after = not_after;
        auto cert = DevCa::issue(ks, address, o);
        EXPECT_TRUE(cert.ok()) << (cert.ok() ? "" : cert.error().message());
        return cert.ok() ? *cert : fs::path();
    }
    std::string serial_of(const fs::path& cert_file) { return cert_file.stem().string(); }
};

TEST(Keystore, DevCaFilesKeyAndCertificateWithSafeModes) {
    Store s;
    EXPECT_EQ(mode_of(s.ks.dir()), 0700u);
    EXPECT_EQ(mode_of(DevCa::key_file(s.ks)), 0600u);
    EXPECT_EQ(mode_of(s.ks.dir() / "dev-ca"), 0700u);
    fs::path cert =
        s.issue(s.now - hours(1), s.now + 100 * kDay, "No-Reply@Bank.example", NewKeyType::rsa2048);
    EXPECT_EQ(cert.parent_path(), s.ks.dir() / kAddress);
    EXPECT_EQ(mode_of(cert.parent_path()), 0700u);

    auto list = s.ks.list(s.now);
    ASSERT_TRUE(list.ok()) << list.error().message();
    ASSERT_EQ(list->size(), 1u);
    const KeystoreEntry& e = list->front();
    EXPECT_EQ(e.address, kAddress);
    EXPECT_EQ(e.problem, "");
    EXPECT_EQ(e.cert_file, cert);
    EXPECT_EQ(e.certificate.subject, "CN=no-reply@bank.example");
    EXPECT_EQ(e.certificate.issuer, "CN=ribbon dev CA (TEST ONLY)");
    EXPECT_EQ(e.certificate.addresses, std::vector<std::string>{kAddress});
    EXPECT_EQ(e.certificate.key_description, "RSA-2048");
    EXPECT_EQ(e.certificate.serial_hex.size(), 32u);  // 128 random bits
    EXPECT_EQ(s.serial_of(cert), e.certificate.serial_hex);
    EXPECT_EQ(e.days_left, 99);
    EXPECT_EQ(e.status, IdStatus::current);
    EXPECT_EQ(e.key_location, "file");
    EXPECT_TRUE(e.key_present);
    EXPECT_TRUE(e.dev_ca);
    EXPECT_EQ(e.key_file.parent_path(), cert.parent_path());
    EXPECT_EQ(e.key_file.extension(), ".key");
    EXPECT_EQ(mode_of(e.key_file), 0600u);

    // The certificate is one openssl accepts for S/MIME signing from the root.
    ProcessResult r = run_process({"openssl", "verify", "-purpose", "smimesign", "-CAfile",
                                   DevCa::cert_file(s.ks).string(), cert.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

TEST(Keystore, DevCaInitRefusesToReplaceAnExistingCa) {
    Store s;
    auto again = DevCa::init(s.ks);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), Errc::io_error);
    EXPECT_EQ(again.error().message(),
              "a dev CA already exists in " + (s.ks.dir() / "dev-ca").string());
}

TEST(Keystore, RolloverSignsWithNewestValidAndFollowsTheClock) {
    Store s;
    fs::path older = s.issue(s.now - 10 * kDay, s.now + 100 * kDay);
    fs::path newer = s.issue(s.now - 5 * kDay, s.now + 200 * kDay);
    fs::path next = s.issue(s.now + 20 * kDay, s.now + 400 * kDay);

    auto list = s.ks.list(s.now);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 3u);  // sorted by notBefore
    EXPECT_EQ((*list)[0].cert_file, older);
    EXPECT_EQ((*list)[0].status, IdStatus::old);
    EXPECT_EQ((*list)[1].cert_file, newer);
    EXPECT_EQ((*list)[1].status, IdStatus::current);
    EXPECT_EQ((*list)[2].cert_file, next);
    EXPECT_EQ((*list)[2].status, IdStatus::next);

    struct Case {
        TimePoint at;
        fs::path expected;
    };
    for (const Case& c :
         {Case{s.now - 6 * kDay, older}, Case{s.now, newer},
          Case{s.now + 20 * kDay - hours(1), newer}, Case{s.now + 20 * kDay + hours(1), next}}) {
        SCOPED_TRACE(format_utc(c.at));
        auto selected = s.ks.digital_id_for(kAddress, c.at);
        ASSERT_TRUE(selected.ok()) << selected.error().message();
        EXPECT_EQ(selected->entry.cert_file, c.expected);
        EXPECT_EQ(selected->id.certificate().serial_hex, s.serial_of(c.expected));
        // What is signed at that time carries that certificate.
        auto signer = Signer::create(selected->id);
        ASSERT_TRUE(signer.ok());
        SignOptions options;
        options.now = c.at;
        std::string msg = message_from(kAddress);
        StringSink out;
        auto report = signer->sign(MessageInput::from_memory(msg), out, options);
        ASSERT_TRUE(report.ok()) << report.error().message();
        CmsInfo cms = inspect_cms(split_smime(out.str()).der);
        ASSERT_EQ(cms.error, "");
        ASSERT_EQ(cms.certificates_der.size(), 1u);
        EXPECT_EQ(cms.certificates_der[0], cert_der(c.expected));
    }
}

TEST(Keystore, ExpiredEverywhereNamesTheLatestExpiry) {
    Store s;
    s.issue(s.now - 100 * kDay, s.now - 10 * kDay);
    fs::path latest = s.issue(s.now - 50 * kDay, s.now - 2 * kDay);
    auto list = s.ks.list(s.now);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].status, IdStatus::expired);
    EXPECT_EQ((*list)[1].status, IdStatus::expired);
    EXPECT_EQ((*list)[1].days_left, -2);
    auto selected = s.ks.digital_id_for(kAddress, s.now);
    ASSERT_FALSE(selected.ok());
    EXPECT_EQ(selected.error().code(), Errc::certificate_expired);
    EXPECT_EQ(selected.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(selected.error().message(),
              "every certificate for no-reply@bank.example in the keystore " + s.ks.dir().string() +
                  " has expired; the latest expired on " +
                  format_utc((*list)[1].certificate.not_after));
    EXPECT_EQ((*list)[1].cert_file, latest);
}

TEST(Keystore, OnlyNotYetValidIsRefused) {
    Store s;
    s.issue(s.now + 3 * kDay, s.now + 30 * kDay);
    auto selected = s.ks.digital_id_for(kAddress, s.now);
    ASSERT_FALSE(selected.ok());
    EXPECT_EQ(selected.error().code(), Errc::certificate_not_yet_valid);
}

TEST(Keystore, WarnsFrom30DaysBeforeExpiryUnlessASuccessorIsInstalled) {
    Store s;
    s.issue(s.now - kDay, s.now + 20 * kDay + hours(1));
    auto selected = s.ks.digital_id_for(kAddress, s.now);
    ASSERT_TRUE(selected.ok());
    ASSERT_EQ(selected->warnings.size(), 2u);
    EXPECT_EQ(selected->warnings[0], "the Digital ID for no-reply@bank.example (serial " +
                                         selected->entry.certificate.serial_hex + ") expires on " +
                                         format_utc(selected->entry.certificate.not_after) +
                                         ", in 20 days, and no successor is installed");
    EXPECT_EQ(selected->warnings[1],
              "the Digital ID for no-reply@bank.example comes from ribbon's dev "
              "CA: for tests only, no receiver trusts it");
    // 31 days before expiry: no expiry warning.
    Store t;
    t.issue(t.now - kDay, t.now + 31 * kDay);
    auto quiet = t.ks.digital_id_for(kAddress, t.now);
    ASSERT_TRUE(quiet.ok());
    EXPECT_EQ(quiet->warnings.size(), 1u);  // the dev CA one only
    // A successor starting before the expiry silences the warning.
    s.issue(s.now + 10 * kDay, s.now + 400 * kDay);
    selected = s.ks.digital_id_for(kAddress, s.now);
    ASSERT_TRUE(selected.ok());
    EXPECT_EQ(selected->warnings.size(), 1u);
}

TEST(Keystore, KeyReadableByOthersIsRefused) {
    Store s;
    s.issue(s.now - kDay, s.now + 100 * kDay);
    auto list = s.ks.list(s.now);
    ASSERT_TRUE(list.ok());
    fs::path key = list->front().key_file;
    for (unsigned mode : {0644u, 0640u, 0604u, 0620u}) {
        ASSERT_EQ(::chmod(key.c_str(), mode), 0);
        auto selected = s.ks.digital_id_for(kAddress, s.now);
        ASSERT_FALSE(selected.ok()) << std::oct << mode;
        EXPECT_EQ(selected.error().code(), Errc::unsafe_key_permissions);
        EXPECT_EQ(selected.error().kind(), ErrorKind::permanent);
        char m[8];
        std::snprintf(m, sizeof m, "%04o", mode);
        EXPECT_EQ(selected.error().message(),
                  "key file " + key.string() + " has mode " + m +
                      ": group or others may use it; refused (chmod 600 it)");
    }
    ASSERT_EQ(::chmod(key.c_str(), 0400), 0);
    EXPECT_TRUE(s.ks.digital_id_for(kAddress, s.now).ok());
    // The dev CA's own key obeys the same rule.
    ASSERT_EQ(::chmod(DevCa::key_file(s.ks).c_str(), 0644), 0);
    auto issued = DevCa::issue(s.ks, "other@bank.example");
    ASSERT_FALSE(issued.ok());
    EXPECT_EQ(issued.error().code(), Errc::unsafe_key_permissions);
}

TEST(Keystore, NoDigitalIdNamesTheAddressAndTheKeystore) {
    Store s;
    auto selected = s.ks.digital_id_for("nobody@bank.example", s.now);
    ASSERT_FALSE(selected.ok());
    EXPECT_EQ(selected.error().code(), Errc::no_digital_id);
    EXPECT_EQ(selected.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(selected.error().message(),
              "no Digital ID for nobody@bank.example in the keystore " + s.ks.dir().string());
    Keystore missing(s.tmp.path() / "nowhere");
    auto none = missing.digital_id_for(kAddress, s.now);
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), Errc::io_error);
    EXPECT_EQ(none.error().message(), "the keystore " + missing.dir().string() + " does not exist");
}

TEST(Keystore, AddressesThatCouldEscapeTheDirectoryAreRefused) {
    Store s;
    for (const char* bad : {"../x@bank.example", "a/b@bank.example", "nobody", "@bank.example",
                            "a@b@c", ".hidden@bank.example", "a b@bank.example"}) {
        auto selected = s.ks.digital_id_for(bad, s.now);
        ASSERT_FALSE(selected.ok()) << bad;
        EXPECT_EQ(selected.error().code(), Errc::malformed_message) << bad;
        auto issued = DevCa::issue(s.ks, bad);
        ASSERT_FALSE(issued.ok()) << bad;
        EXPECT_EQ(issued.error().code(), Errc::malformed_message) << bad;
    }
}

TEST(Keystore, AddRefusesACertificateForAnotherAddress) {
    Store s;
    fs::path cert = s.issue(s.now - kDay, s.now + 100 * kDay);
    auto list = s.ks.list(s.now);
    ASSERT_TRUE(list.ok());
    auto added = s.ks.add("other@bank.example", read_file(list->front().key_file), read_file(cert));
    ASSERT_FALSE(added.ok());
    EXPECT_EQ(added.error().code(), Errc::from_not_in_certificate);
    EXPECT_FALSE(fs::exists(s.ks.dir() / "other@bank.example"));
}

TEST(Keystore, FromAddressIsTheFirstFromMailbox) {
    std::string msg = message_from("No-Reply@bank.example");
    auto from = from_address(MessageInput::from_memory(msg));
    ASSERT_TRUE(from.ok()) << from.error().message();
    EXPECT_EQ(*from, "No-Reply@bank.example");
    std::string group = "From: Team: a@bank.example, b@bank.example;\r\n\r\nx\r\n";
    from = from_address(MessageInput::from_memory(group));
    ASSERT_TRUE(from.ok());
    EXPECT_EQ(*from, "a@bank.example");
    std::string none = "To: c@example.org\r\n\r\nx\r\n";
    from = from_address(MessageInput::from_memory(none));
    ASSERT_FALSE(from.ok());
    EXPECT_EQ(from.error().code(), Errc::no_from);
    std::string two = "From: a@bank.example\r\nFrom: b@bank.example\r\n\r\nx\r\n";
    from = from_address(MessageInput::from_memory(two));
    ASSERT_FALSE(from.ok());
    EXPECT_EQ(from.error().code(), Errc::malformed_message);
}

}  // namespace
}  // namespace ribbon::test
