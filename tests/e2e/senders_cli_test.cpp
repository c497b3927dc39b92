// `ribbon senders` as an operator runs it (docs/STORE.md, "Senders' keys"):
// the real binary against a SQLite store in a TempDir, filled through the
// C++ API (RecipientStore::observe_key), with the exact text of list, show
// and forget, the exact bytes of a CSV export, JSON compared as a whole,
// control characters from certificates escaped, and the exit codes. One
// run over a private PostgreSQL checks that the command is the same there.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ribbon/recipients.hpp"
#include "support/pki.hpp"  // ribbon_binary
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr UnixTime kT0 = 1700000000;  // 2023-11-14T22:13:20Z
constexpr UnixTime kDay = 86400;
constexpr UnixTime kHour = 3600;

std::string hex64(char c) { return std::string(64, c); }

KeySighting sighting(const std::string& address, char key, char cert, const std::string& subject,
                     const std::string& issuer, UnixTime not_before, UnixTime not_after,
                     const std::string& message, UnixTime t) {
    KeySighting s;
    s.address = address;
    s.spki_sha256 = hex64(key);
    s.certificate.sha256 = hex64(cert);
    s.certificate.subject = subject;
    s.certificate.issuer = issuer;
    s.certificate.serial_hex = std::string("0") + cert;
    s.certificate.not_before = not_before;
    s.certificate.not_after = not_after;
    s.message_key = message;
    s.time = t;
    return s;
}

constexpr const char* kAliceSubject = "CN=Alice,emailAddress=alice@customer.example";
// A subject with a terminal escape and a line break in it.
constexpr const char* kBobSubject = "CN=Bob\x1b[2J\nX";

// alice: key a five times (its certificate ending in 30 days), then key b
// twice (a renewal); bob: key c once.
void populate(RecipientStore& store) {
    for (int i = 0; i < 5; ++i) {
        auto r = store.observe_key(
            sighting("Alice@Customer.Example", 'a', '1', kAliceSubject, "CN=Customer CA",
                     kT0 - 300 * kDay, kT0 + 30 * kDay, std::string("a") + std::to_string(i), kT0 + i * kHour),
            KeyRecording::record);
        ASSERT_OK(r);
    }
    for (int i = 0; i < 2; ++i) {
        auto r = store.observe_key(
            sighting("alice@customer.example", 'b', '2', kAliceSubject, "CN=Customer CA", kT0,
                     kT0 + 365 * kDay, std::string("b") + std::to_string(i), kT0 + kDay + i * kHour),
            KeyRecording::record);
        ASSERT_OK(r);
        EXPECT_EQ(r->verdict, i == 0 ? Continuity::renewed : Continuity::known);
    }
    ASSERT_OK(store.observe_key(sighting("bob@customer.example", 'c', '3', kBobSubject,
                                         "CN=Other CA", kT0 - 10 * kDay, kT0 + 355 * kDay, "c0",
                                         kT0 + 2 * kHour),
                                KeyRecording::record));
}

const std::string kListHeader =
    "ADDRESS                           KEYS  MESSAGES  FIRST SEEN            LAST SEEN             "
    "CURRENT KEY\n";
const std::string kListAlice =
    "alice@customer.example               2         7  2023-11-14T22:13:20Z  2023-11-15T23:13:20Z  "
    "bbbbbbbbbbbbbbbb\n";
const std::string kListBob =
    "bob@customer.example                 1         1  2023-11-15T00:13:20Z  2023-11-15T00:13:20Z  "
    "cccccccccccccccc\n";

class SendersCli : public ::testing::Test {
  protected:
    static void TearDownTestSuite() { s_pg.stop(); }

    void SetUp() override {
        auto store = RecipientStore::open(url);
        ASSERT_OK(store);
        populate(**store);
    }

    // `ribbon senders ARGS --store URL`, with no configuration file.
    ProcessResult ribbon(std::vector<std::string> args, const std::string& store_url = "") const {
        std::vector<std::string> argv = {ribbon_binary(), "senders"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back("--store");
        argv.push_back(store_url.empty() ? url : store_url);
        ProcessOptions options;
        options.env = {{"RIBBON_CONFIG", (tmp / "absent.toml").string()}};
        return run_process(argv, options);
    }

    static SuitePostgres s_pg;
    TempDir tmp{"ribbon-senders-cli"};
    std::string url = "sqlite://" + (tmp / "ribbon.db").string();
};

SuitePostgres SendersCli::s_pg;

TEST_F(SendersCli, ListPrintsOneAlignedLinePerAddress) {
    ProcessResult r = ribbon({"list"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, kListHeader + kListAlice + kListBob);
    EXPECT_EQ(r.err, "");
    r = ribbon({"list", "--limit", "1"});
    EXPECT_EQ(r.out, kListHeader + kListAlice) << r.describe();
    r = ribbon({"list", "--limit", "0"});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
}

TEST_F(SendersCli, ShowPrintsEveryKeyMostRecentFirst) {
    const std::string text =
        "address            alice@customer.example\n"
        "keys               2\n"
        "  key bbbbbbbbbbbbbbbb\n"
        "    first seen     2023-11-15T22:13:20Z\n"
        "    last seen      2023-11-15T23:13:20Z\n"
        "    messages       2\n"
        "    certificates   1\n"
        "      sha256 " + hex64('2') + "\n"
        "        subject    CN=Alice,emailAddress=alice@customer.example\n"
        "        issuer     CN=Customer CA\n"
        "        serial     02\n"
        "        not before 2023-11-14T22:13:20Z\n"
        "        not after  2024-11-13T22:13:20Z\n"
        "        first seen 2023-11-15T22:13:20Z\n"
        "        last seen  2023-11-15T23:13:20Z\n"
        "  key aaaaaaaaaaaaaaaa\n"
        "    first seen     2023-11-14T22:13:20Z\n"
        "    last seen      2023-11-15T02:13:20Z\n"
        "    messages       5\n"
        "    certificates   1\n"
        "      sha256 " + hex64('1') + "\n"
        "        subject    CN=Alice,emailAddress=alice@customer.example\n"
        "        issuer     CN=Customer CA\n"
        "        serial     01\n"
        "        not before 2023-01-18T22:13:20Z\n"
        "        not after  2023-12-14T22:13:20Z\n"
        "        first seen 2023-11-14T22:13:20Z\n"
        "        last seen  2023-11-15T02:13:20Z\n";
    ProcessResult r = ribbon({"show", "ALICE@customer.example"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, text);
    EXPECT_EQ(r.err, "");
}

TEST_F(SendersCli, ShowJsonHasTheFullDigests) {
    ProcessResult r = ribbon({"show", "alice@customer.example", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const json expected = {
        {"address", "alice@customer.example"},
        {"keys",
         {{{"spki_sha256", hex64('b')},
           {"spki_short", "bbbbbbbbbbbbbbbb"},
           {"first_seen", "2023-11-15T22:13:20Z"},
           {"last_seen", "2023-11-15T23:13:20Z"},
           {"messages", 2},
           {"certificates",
            {{{"sha256", hex64('2')},
              {"subject", kAliceSubject},
              {"issuer", "CN=Customer CA"},
              {"serial", "02"},
              {"not_before", "2023-11-14T22:13:20Z"},
              {"not_after", "2024-11-13T22:13:20Z"},
              {"first_seen", "2023-11-15T22:13:20Z"},
              {"last_seen", "2023-11-15T23:13:20Z"}}}}},
          {{"spki_sha256", hex64('a')},
           {"spki_short", "aaaaaaaaaaaaaaaa"},
           {"first_seen", "2023-11-14T22:13:20Z"},
           {"last_seen", "2023-11-15T02:13:20Z"},
           {"messages", 5},
           {"certificates",
            {{{"sha256", hex64('1')},
              {"subject", kAliceSubject},
              {"issuer", "CN=Customer CA"},
              {"serial", "01"},
              {"not_before", "2023-01-18T22:13:20Z"},
              {"not_after", "2023-12-14T22:13:20Z"},
              {"first_seen", "2023-11-14T22:13:20Z"},
              {"last_seen", "2023-11-15T02:13:20Z"}}}}}}}};
    EXPECT_EQ(json::parse(r.out), expected) << r.out;
}

TEST_F(SendersCli, ControlCharactersFromCertificatesAreEscapedForTerminals) {
    ProcessResult r = ribbon({"show", "bob@customer.example"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("        subject    CN=Bob\\x1b[2J\\x0aX\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
    r = ribbon({"show", "bob@customer.example", "--json"});
    EXPECT_EQ(json::parse(r.out)["keys"][0]["certificates"][0]["subject"], kBobSubject)
        << r.describe();
}

TEST_F(SendersCli, ExportCsvIsExactRfc4180AndJsonOneArray) {
    ProcessResult r = ribbon({"export", "--format", "csv"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out,
              "address,spki_sha256,first_seen,last_seen,messages,certificates\r\n"
              "alice@customer.example," + hex64('b') +
                  ",2023-11-15T22:13:20Z,2023-11-15T23:13:20Z,2," + hex64('2') +
                  "\r\n"
                  "alice@customer.example," + hex64('a') +
                  ",2023-11-14T22:13:20Z,2023-11-15T02:13:20Z,5," + hex64('1') +
                  "\r\n"
                  "bob@customer.example," + hex64('c') +
                  ",2023-11-15T00:13:20Z,2023-11-15T00:13:20Z,1," + hex64('3') + "\r\n");
    const fs::path out = tmp / "senders.json";
    r = ribbon({"export", "--format", "json", "-o", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "");
    const json j = json::parse(read_file(out));
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["address"], "alice@customer.example");
    EXPECT_EQ(j[0]["keys"].size(), 2u);
    EXPECT_EQ(j[1]["keys"][0]["certificates"][0]["subject"], kBobSubject);
    EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
    r = ribbon({"export", "--format", "xml"});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    r = ribbon({"export", "--format", "csv", "-o", (tmp / "missing" / "x.csv").string()});
    EXPECT_EQ(r.exit_code, 73) << r.describe();
}

TEST_F(SendersCli, ForgetPrintsWhatItRemovedAndIsNotAnErrorTwice) {
    ProcessResult r = ribbon({"forget", "Alice@Customer.Example"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out,
              "forgot alice@customer.example: 2 keys, 7 messages\n"
              "  key bbbbbbbbbbbbbbbb  2 messages, first seen 2023-11-15T22:13:20Z, last seen "
              "2023-11-15T23:13:20Z\n"
              "  key aaaaaaaaaaaaaaaa  5 messages, first seen 2023-11-14T22:13:20Z, last seen "
              "2023-11-15T02:13:20Z\n");
    r = ribbon({"show", "alice@customer.example"});
    EXPECT_EQ(r.exit_code, 66) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "ribbon senders show: no key seen for alice@customer.example\n");
    r = ribbon({"forget", "alice@customer.example"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "nothing stored for alice@customer.example\n");
    r = ribbon({"forget", "bob@customer.example"});
    EXPECT_EQ(r.out,
              "forgot bob@customer.example: 1 key, 1 message\n"
              "  key cccccccccccccccc  1 message, first seen 2023-11-15T00:13:20Z, last seen "
              "2023-11-15T00:13:20Z\n");
    r = ribbon({"list"});
    EXPECT_EQ(r.out, kListHeader) << r.describe();
}

TEST_F(SendersCli, BadAddressesAreUsageErrorsAndStoreErrorsHaveTheirCodes) {
    for (const char* command : {"show", "forget"}) {
        for (const char* address : {"alice", "", "@customer.example", "a b@customer.example"}) {
            ProcessResult r = ribbon({command, address});
            EXPECT_EQ(r.exit_code, 64) << command << " \"" << address << "\": " << r.describe();
            EXPECT_NE(r.err.find("is not an email address"), std::string::npos) << r.err;
            EXPECT_EQ(r.out, "");
        }
    }
    ProcessResult r = ribbon({"list"}, "sqlite://" + (tmp / "missing" / "ribbon.db").string());
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    r = ribbon({"list"}, "postgresql://ribbon@127.0.0.1:1/ribbon");
    EXPECT_EQ(r.exit_code, 75) << r.describe();
    EXPECT_NE(r.err.find("[store_unavailable]"), std::string::npos) << r.err;
}

TEST_F(SendersCli, ListOverPostgresql) {
    SKIP_OR_FAIL_WITHOUT_POSTGRES(s_pg);
    const std::string pg = s_pg.fresh_url();
    {
        auto store = RecipientStore::open(pg);
        ASSERT_OK(store);
        populate(**store);
    }
    ProcessResult r = ribbon({"list"}, pg);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, kListHeader + kListAlice + kListBob);
}

}  // namespace
}  // namespace ribbon::test
