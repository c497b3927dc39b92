// `ribbon learn` (src/cli/learn_command.cpp) as an operator runs it: the
// real binary over an mbox, a maildir and message files of customers'
// mail, what it prints and exits with, and what ends up in the recipients
// store (read back through RecipientStore). The messages are made by
// openssl and written the mboxrd way (support/customers.hpp); the store is
// SQLite in a TempDir, or a private PostgreSQL for two processes at once.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "ribbon/recipients.hpp"
#include "support/customers.hpp"
#include "support/nobody.hpp"
#include "support/pki.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kThunderbird =
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1";
constexpr const char* kThunderbirdEvidence =
    "client Thunderbird (User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 "
    "Thunderbird/115.3.1)";

// A customer's plain message. `client` is a whole header line or empty.
std::string message(const std::string& from, const std::string& client, const std::string& body,
                    const std::string& extra = {}) {
    return "From: " + from + "\nTo: service@bank.example\nSubject: Question\n" +
           "Date: Mon, 13 Nov 2023 09:00:00 +0100\n" + (client.empty() ? "" : client + "\n") +
           extra + "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\n" + body;
}

std::string gmail(const std::string& from, const std::string& body) {
    return message(from, "Message-ID: <CAK7q2Lm+R3dXv0p=Tz8eW1nY5uB9sQ4hG6fJ2kD@mail.gmail.com>",
                   body);
}

class LearnCli : public ::testing::Test {
  protected:
    void SetUp() override {
        write_file(tmp / "ribbon.toml", "[[signer]]\nfrom = \"no-reply@bank.example\"\n");
        url = "sqlite://" + (tmp / "ribbon.db").string();
    }

    // `ribbon learn -c <config> --store <url> args...`; the configuration
    // names the organisation's own address, and keeps a host's
    // /etc/ribbon/ribbon.toml out of the test.
    ProcessResult learn(const std::vector<std::string>& args, const std::string& store = {},
                        const std::vector<std::string>& prefix = {}) const {
        std::vector<std::string> argv = prefix;
        argv.insert(argv.end(), {ribbon_binary(), "learn", "-c", (tmp / "ribbon.toml").string(),
                                 "--store", store.empty() ? url : store});
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }

    RecipientRecord must_find(const std::string& address, const std::string& store = {}) const {
        auto s = RecipientStore::open(store.empty() ? url : store);
        EXPECT_TRUE(s.ok()) << describe(s.error());
        if (!s.ok()) return {};
        auto r = (*s)->find(address);
        EXPECT_TRUE(r.ok()) << describe(r.error());
        EXPECT_TRUE(r.ok() && r->has_value()) << address << " is not in the store";
        return r.ok() && r->has_value() ? **r : RecipientRecord{};
    }

    bool stored(const std::string& address) const {
        auto s = RecipientStore::open(url);
        if (!s.ok()) return false;
        auto r = (*s)->find(address);
        return r.ok() && r->has_value();
    }

    static std::map<std::string, std::uint64_t> clients(const RecipientRecord& r) {
        std::map<std::string, std::uint64_t> out;
        for (const auto& c : r.clients) out[c.name + " " + c.version] = c.count;
        return out;
    }

    TempDir tmp{"ribbon-learn-cli"};
    std::string url;
};

// The customers' CA and Alice's certificate, once per test process.
struct AliceId {
    CustomerCa ca;
    Issued alice = ca.issue("alice", "/C=DE/O=Customer GmbH/CN=Alice Customer",
                            signing_extensions("alice@customer.example"), "0a1b2c3d4e5f");
};
const AliceId& alice_id() {
    static const AliceId id;
    return id;
}

// Five messages: Nadia with Thunderbird (a body line "From me" that the
// mbox must escape) and then Gmail, Alice signed (her signed text has a
// "From " line and a ">From " line, which mboxrd escapes to ">From " and
// ">>From ": the signature verifies only if both are unescaped exactly),
// an automatic reply, and Omar with no client recognised.
std::vector<std::string> five_messages() {
    const std::string signed_text =
        "Content-Type: text/plain; charset=UTF-8\n\n"
        "Please close my account.\n"
        "From the desk of Alice.\n"
        ">From an earlier message, quoted.\n";
    return {
        message("Nadia <nadia@customer.example>", kThunderbird,
                "Thanks.\nFrom me, with thanks\nNadia\n"),
        openssl_signed("From: Alice <alice@customer.example>\nTo: service@bank.example\n"
                       "Subject: Close my account\nX-Mailer: Microsoft Outlook 16.0\n",
                       signed_text, alice_id().alice),
        gmail("nadia@customer.example", "Me again.\n"),
        message("omar@customer.example", kThunderbird, "I am away.\n",
                "Auto-Submitted: auto-replied\n"),
        message("omar@customer.example", "", "Hello.\n"),
    };
}

constexpr const char* kFiveSummary =
    "learned 4 of 5 messages (1 skipped, 0 unreadable); supported 2; unknown 1; unsupported 1\n";

TEST_F(LearnCli, MboxLearnsEveryMessageAndTwiceCountsTwice) {
    const std::string mbox = mboxrd(five_messages());
    // The escaping the test relies on really happened (openssl writes the
    // signed part with CRLF).
    ASSERT_NE(mbox.find("\n>From me, with thanks\n"), std::string::npos);
    ASSERT_NE(mbox.find("\n>From the desk of Alice.\r\n"), std::string::npos);
    ASSERT_NE(mbox.find("\n>>From an earlier message, quoted.\r\n"), std::string::npos);
    write_file(tmp / "inbox.mbox", mbox);

    const ProcessResult r = learn({"--mbox", (tmp / "inbox.mbox").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, kFiveSummary);
    EXPECT_EQ(r.err, "");

    const RecipientRecord nadia = must_find("nadia@customer.example");
    EXPECT_EQ(nadia.message_count, 2u);
    EXPECT_EQ(clients(nadia),
              (std::map<std::string, std::uint64_t>{{"Gmail ", 1}, {"Thunderbird 115.3.1", 1}}));
    // Thunderbird's 0.9 beats Gmail's 0.7, though Gmail came later.
    EXPECT_EQ(nadia.capability, SmimeSupport::supported);
    EXPECT_EQ(nadia.confidence, 0.9);
    EXPECT_EQ(nadia.capability_evidence, kThunderbirdEvidence);
    EXPECT_TRUE(nadia.certificates.empty());

    const RecipientRecord alice = must_find("alice@customer.example");
    EXPECT_EQ(alice.message_count, 1u);
    EXPECT_EQ(clients(alice),
              (std::map<std::string, std::uint64_t>{{"Outlook (desktop) 16.0", 1}}));
    EXPECT_EQ(alice.capability, SmimeSupport::supported);
    EXPECT_EQ(alice.confidence, 1.0);
    // The CLI trusts the system's roots; the customer's CA is not one.
    EXPECT_EQ(alice.capability_evidence, "signed message, signature verified (untrusted)");
    ASSERT_EQ(alice.certificates.size(), 1u);
    const X509View cert = x509_view(alice_id().alice.cert);
    EXPECT_EQ(alice.certificates[0].sha256, cert.sha256);
    EXPECT_EQ(alice.certificates[0].der, cert.der);
    EXPECT_EQ(alice.certificates[0].subject, cert.subject);
    EXPECT_EQ(alice.certificates[0].capabilities,
              (std::vector<std::string>{"aes-256-cbc", "aes-192-cbc", "aes-128-cbc", "des-ede3-cbc",
                                        "rc2-cbc", "rc2-cbc", "des-cbc", "rc2-cbc"}));

    const RecipientRecord omar = must_find("omar@customer.example");
    EXPECT_EQ(omar.message_count, 1u);  // the automatic reply is not counted
    EXPECT_TRUE(omar.clients.empty());
    EXPECT_EQ(omar.capability, SmimeSupport::unknown);
    EXPECT_EQ(omar.confidence, 0.0);

    // Learning the same mailbox again counts its messages again: ribbon
    // keeps no record of which messages it has read (docs/LEARNING.md).
    const ProcessResult again = learn({"--mbox", (tmp / "inbox.mbox").string()});
    ASSERT_EQ(again.exit_code, 0) << again.describe();
    EXPECT_EQ(again.out, kFiveSummary);
    EXPECT_EQ(must_find("nadia@customer.example").message_count, 4u);
    EXPECT_EQ(clients(must_find("nadia@customer.example")),
              (std::map<std::string, std::uint64_t>{{"Gmail ", 2}, {"Thunderbird 115.3.1", 2}}));
    EXPECT_EQ(must_find("alice@customer.example").message_count, 2u);
    EXPECT_EQ(must_find("alice@customer.example").certificates.size(), 1u);
    EXPECT_EQ(must_find("omar@customer.example").message_count, 2u);
}

// The line numbers in --verbose output are those of each message's
// "From " separator line.
std::vector<int> separator_lines(const std::string& mbox) {
    std::vector<int> out;
    std::istringstream lines(mbox);
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
        if (line.starts_with("From ")) out.push_back(n);
    }
    return out;
}

TEST_F(LearnCli, VerboseSaysWhatEachMessageTaughtOrWhyNot) {
    std::vector<std::string> messages = five_messages();
    messages.push_back(message("No Reply <no-reply@bank.example>", "", "Your statement.\n"));
    const std::string mbox = mboxrd(messages);
    const fs::path path = tmp / "inbox.mbox";
    write_file(path, mbox);
    const std::vector<int> at = separator_lines(mbox);
    ASSERT_EQ(at.size(), 6u);
    const std::string p = path.string() + ":";

    const ProcessResult r = learn({"--verbose", "--mbox", path.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out,
              p + std::to_string(at[0]) + ": nadia@customer.example: Thunderbird 115.3.1, " +
                  kThunderbirdEvidence + "\n" + p + std::to_string(at[1]) +
                  ": alice@customer.example: Outlook (desktop) 16.0, signed message, signature "
                  "verified (untrusted)\n" +
                  p + std::to_string(at[2]) +
                  ": nadia@customer.example: Gmail, client Gmail (Message-ID: "
                  "<CAK7q2Lm+R3dXv0p=Tz8eW1nY5uB9sQ4hG6fJ2kD@mail.gmail.com>)\n" +
                  p + std::to_string(at[3]) +
                  ": skipped: an automatic message (Auto-Submitted: auto-replied)\n" + p +
                  std::to_string(at[4]) +
                  ": omar@customer.example: no client recognised, capability unknown\n" + p +
                  std::to_string(at[5]) +
                  ": skipped: mail from the organisation's own address no-reply@bank.example\n"
                  "learned 4 of 6 messages (2 skipped, 0 unreadable); supported 2; unknown 1; "
                  "unsupported 1\n");
    EXPECT_EQ(r.err, "");
    EXPECT_FALSE(stored("no-reply@bank.example"));
}

// Header values with terminal escape sequences (an OSC window title, a
// clear-screen) reach --verbose only escaped; addresses are shown as
// display_address does: a mixed-script domain in A-labels, whichever form
// the From used, a single-script one in Unicode.
TEST_F(LearnCli, VerboseEscapesHeaderValuesAndShowsSafeAddresses) {
    const std::string hostile = "\x1b]0;pwned\x07\x1b[2J";
    const std::string mbox = mboxrd({
        message("Eve <eve@customer.example>", "X-Mailer: Microsoft Outlook 16.0 " + hostile,
                "Hello.\n", "X-Note: " + hostile + "\n"),
        message("Zed <zed@customer.example>", "", "Out of office.\n",
                "Auto-Submitted: auto-replied\x1b[2J\x07\n"),
        message("Anna <anna@xn--bnk-6cd.example>", "", "Hi.\n"),
        message("Anna <anna@b\xd0\xb0nk.example>", "", "Hi.\n"),
        message("Ben <ben@xn--bcher-kva.example>", "", "Hi.\n"),
    });
    const fs::path path = tmp / "hostile.mbox";
    write_file(path, mbox);
    const std::vector<int> at = separator_lines(mbox);
    ASSERT_EQ(at.size(), 5u);
    const std::string p = path.string() + ":";
    const std::string escaped = "\\x1b]0;pwned\\x07\\x1b[2J";

    const ProcessResult r = learn({"-v", "--mbox", path.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out,
              p + std::to_string(at[0]) +
                  ": eve@customer.example: Outlook (desktop) 16.0, client Outlook (desktop) "
                  "(X-Mailer: Microsoft Outlook 16.0 " +
                  escaped + ")\n" + p + std::to_string(at[1]) +
                  // The value is cut at ';' and lower-cased: "[2J" reads "[2j".
                  ": skipped: an automatic message (Auto-Submitted: auto-replied\\x1b[2j\\x07)\n" +
                  p + std::to_string(at[2]) +
                  ": anna@xn--bnk-6cd.example: no client recognised, capability unknown\n" + p +
                  std::to_string(at[3]) +
                  ": anna@xn--bnk-6cd.example: no client recognised, capability unknown\n" + p +
                  std::to_string(at[4]) +
                  ": ben@b\xc3\xbc"
                  "cher.example: no client recognised, capability unknown\n"
                  "learned 4 of 5 messages (1 skipped, 0 unreadable); supported 1; unknown 3\n");
    EXPECT_EQ(r.err, "");
    // Both spellings of the lookalike are one customer, stored in A-labels.
    EXPECT_EQ(must_find("anna@xn--bnk-6cd.example").message_count, 2u);
    EXPECT_EQ(must_find("ben@b\xc3\xbc"
                        "cher.example")
                  .address,
              "ben@xn--bcher-kva.example");
}

TEST_F(LearnCli, MaildirNewAndCurButNotTmp) {
    const fs::path maildir = tmp / "Maildir";
    for (const char* sub : {"new", "cur", "tmp"}) fs::create_directories(maildir / sub);
    write_file(maildir / "new" / "1700000002.M1P1.host",
               message("nadia@customer.example", kThunderbird, "a\n"));
    write_file(maildir / "cur" / "1700000001.M1P1.host:2,S",
               gmail("nadia@customer.example", "b\n"));
    write_file(maildir / "cur" / "1700000003.M1P1.host:2,RS",
               message("omar@customer.example", "", "c\n"));
    // A delivery in progress, and a dot file a mail client keeps.
    write_file(maildir / "tmp" / "1700000004.M1P1.host",
               message("tina@customer.example", "", "d\n"));
    write_file(maildir / "cur" / ".index", message("dot@customer.example", "", "e\n"));

    const ProcessResult r = learn({"--verbose", "--maildir", maildir.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    // Name order is arrival order: cur/1700000001 before new/1700000002.
    EXPECT_EQ(r.out,
              (maildir / "cur" / "1700000001.M1P1.host:2,S").string() +
                  ": nadia@customer.example: Gmail, client Gmail (Message-ID: "
                  "<CAK7q2Lm+R3dXv0p=Tz8eW1nY5uB9sQ4hG6fJ2kD@mail.gmail.com>)\n" +
                  (maildir / "new" / "1700000002.M1P1.host").string() +
                  ": nadia@customer.example: Thunderbird 115.3.1, " + kThunderbirdEvidence + "\n" +
                  (maildir / "cur" / "1700000003.M1P1.host:2,RS").string() +
                  ": omar@customer.example: no client recognised, capability unknown\n"
                  "learned 3 of 3 messages (0 skipped, 0 unreadable); supported 1; unknown 1; "
                  "unsupported 1\n");
    EXPECT_EQ(must_find("nadia@customer.example").message_count, 2u);
    EXPECT_EQ(must_find("omar@customer.example").message_count, 1u);
    EXPECT_FALSE(stored("tina@customer.example"));
    EXPECT_FALSE(stored("dot@customer.example"));
}

TEST_F(LearnCli, UnreadableFilesExit65WhileTheOthersAreLearned) {
    if (!can_drop_to_nobody()) GTEST_SKIP() << "root, and no user nobody";
    // ribbon runs as nobody (when the test is root): its files and store
    // must be nobody's to use, the secret file not.
    fs::permissions(tmp.path(), fs::perms::owner_all | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
    const fs::path store_dir = tmp / "store";
    fs::create_directories(store_dir);
    give_to_nobody(store_dir);
    const std::string store = "sqlite://" + (store_dir / "ribbon.db").string();
    const fs::path a = tmp / "a.eml", b = tmp / "b.eml", secret = tmp / "secret.eml",
                   missing = tmp / "missing.eml", dir = tmp / "a-directory";
    write_file(a, message("nadia@customer.example", kThunderbird, "a\n"));
    write_file(b, message("omar@customer.example", "", "b\n"));
    write_file(secret, message("sam@customer.example", "", "c\n"));
    fs::create_directories(dir);
    for (const fs::path& f : {a, b}) {
        fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                               fs::perms::others_read);
    }
    fs::permissions(secret, fs::perms::none);
    fs::permissions(tmp / "ribbon.toml", fs::perms::owner_read | fs::perms::others_read);

    const ProcessResult r =
        learn({a.string(), secret.string(), missing.string(), dir.string(), b.string()}, store,
              as_nobody_prefix());
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.out, "learned 2 of 5 messages (0 skipped, 3 unreadable); supported 1; unknown 1\n");
    EXPECT_NE(r.err.find("ribbon learn: " + secret.string() + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Permission denied [io_error]"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ribbon learn: " + missing.string() + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ribbon learn: " + dir.string() + ": "), std::string::npos) << r.err;
    EXPECT_EQ(must_find("nadia@customer.example", store).message_count, 1u);
    EXPECT_EQ(must_find("omar@customer.example", store).message_count, 1u);
}

TEST_F(LearnCli, UsageErrorsExit64) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {},
             {"--mbox", "a.mbox", "--maildir", "Maildir"},
             {"--mbox", "a.mbox", "b.eml"},
             {"--no-such-option", "a.eml"},
             {"--mbox"},
         }) {
        const ProcessResult r = learn(args);
        EXPECT_EQ(r.exit_code, 64) << r.describe();
        EXPECT_EQ(r.out, "");
        EXPECT_NE(r.err, "");
    }
    const ProcessResult none = learn({});
    EXPECT_EQ(none.err, "ribbon learn: give --mbox FILE, --maildir DIR or message files\n");
    EXPECT_FALSE(fs::exists(tmp / "ribbon.db")) << "a usage error opened the store";
}

// A mailbox that is not there is EX_NOINPUT; one that is not an mbox is
// data that cannot be read.
TEST_F(LearnCli, MissingOrForeignMailboxes) {
    const ProcessResult missing = learn({"--mbox", (tmp / "none.mbox").string()});
    EXPECT_EQ(missing.exit_code, 66) << missing.describe();
    EXPECT_EQ(missing.out, "learned 0 of 0 messages (0 skipped, 0 unreadable)\n");
    EXPECT_EQ(missing.err, "ribbon learn: cannot open the mbox " + (tmp / "none.mbox").string() +
                               " [io_error]\n");

    write_file(tmp / "one.eml", message("omar@customer.example", "", "hi\n"));
    const ProcessResult foreign = learn({"--mbox", (tmp / "one.eml").string()});
    EXPECT_EQ(foreign.exit_code, 65) << foreign.describe();
    EXPECT_EQ(foreign.err, "ribbon learn: " + (tmp / "one.eml").string() +
                               " is not an mbox (no \"From \" line first) [malformed_message]\n");
    EXPECT_FALSE(stored("omar@customer.example"));

    const ProcessResult not_maildir = learn({"--maildir", tmp.path().string()});
    EXPECT_EQ(not_maildir.exit_code, 66) << not_maildir.describe();
    EXPECT_EQ(not_maildir.err, "ribbon learn: " + tmp.path().string() +
                                   " is not a maildir (no cur/ or new/) [io_error]\n");
}

TEST_F(LearnCli, StoreProblems) {
    write_file(tmp / "one.eml", message("omar@customer.example", "", "hi\n"));
    const std::string one = (tmp / "one.eml").string();

    const std::string nowhere = "sqlite://" + (tmp / "no-such-dir" / "ribbon.db").string();
    const ProcessResult missing_dir = learn({one}, nowhere);
    EXPECT_EQ(missing_dir.exit_code, 78) << missing_dir.describe();
    EXPECT_EQ(missing_dir.out, "");
    EXPECT_NE(missing_dir.err.find("does not exist"), std::string::npos) << missing_dir.err;
    EXPECT_NE(missing_dir.err.find("[bad_config]"), std::string::npos) << missing_dir.err;
    EXPECT_FALSE(fs::exists(tmp / "no-such-dir"));

    std::string junk(8192, '\0');
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919) % 251);
    write_file(tmp / "corrupt.db", junk);
    const ProcessResult corrupt = learn({one}, "sqlite://" + (tmp / "corrupt.db").string());
    EXPECT_EQ(corrupt.exit_code, 65) << corrupt.describe();
    EXPECT_EQ(corrupt.out, "");
    EXPECT_NE(corrupt.err.find("[store_corrupt]"), std::string::npos) << corrupt.err;
    EXPECT_EQ(read_file(tmp / "corrupt.db"), junk)
        << "ribbon wrote to a file that is not its store";

    const ProcessResult bad_url = learn({one}, "mysql://db/ribbon");
    EXPECT_EQ(bad_url.exit_code, 78) << bad_url.describe();
    EXPECT_NE(bad_url.err.find("[bad_config]"), std::string::npos) << bad_url.err;
}

// A store ribbon's user may read but not write: 75 (try again once the
// permissions are right), with the store exactly as it was.
TEST_F(LearnCli, ReadOnlyStoreIsATemporaryFailureAndChangesNothing) {
    const std::vector<std::string> nobody = as_nobody_prefix();
    if (nobody.empty() && ::geteuid() == 0) GTEST_SKIP() << "root, and no user nobody";
    fs::permissions(tmp.path(), fs::perms::owner_all | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
    const fs::path dir = tmp / "store";
    fs::create_directories(dir);
    const std::string store = "sqlite://" + (dir / "ribbon.db").string();
    write_file(tmp / "nadia.eml", message("nadia@customer.example", kThunderbird, "a\n"));
    write_file(tmp / "omar.eml", message("omar@customer.example", "", "b\n"));
    for (const char* f : {"nadia.eml", "omar.eml", "ribbon.toml"}) {
        fs::permissions(tmp / f,
                        fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    }
    ASSERT_EQ(learn({(tmp / "nadia.eml").string()}, store).exit_code, 0);
    const RecipientRecord before = must_find("nadia@customer.example", store);
    fs::permissions(dir / "ribbon.db",
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);

    // The directory is not writable either: SQLite cannot make its -shm
    // file, so the store does not even open.
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                             fs::perms::group_exec | fs::perms::others_read |
                             fs::perms::others_exec);
    const ProcessResult closed =
        learn({(tmp / "nadia.eml").string(), (tmp / "omar.eml").string()}, store, nobody);
    EXPECT_EQ(closed.exit_code, 75) << closed.describe();
    EXPECT_EQ(closed.out, "");
    EXPECT_NE(closed.err.find("[store_unavailable]"), std::string::npos) << closed.err;

    // The directory is writable, the file is not: the store opens, the
    // first message cannot be recorded, and ribbon stops there.
    fs::permissions(dir, fs::perms::all);
    const ProcessResult readonly =
        learn({(tmp / "nadia.eml").string(), (tmp / "omar.eml").string()}, store, nobody);
    EXPECT_EQ(readonly.exit_code, 75) << readonly.describe();
    EXPECT_EQ(readonly.out, "learned 0 of 1 messages (0 skipped, 0 unreadable)\n");
    EXPECT_NE(readonly.err.find("ribbon learn: " + (tmp / "nadia.eml").string() + ": "),
              std::string::npos)
        << readonly.err;
    EXPECT_NE(readonly.err.find("readonly database [store_unavailable]"), std::string::npos)
        << readonly.err;

    const RecipientRecord after = must_find("nadia@customer.example", store);
    EXPECT_EQ(after.message_count, before.message_count);
    EXPECT_EQ(after.last_seen, before.last_seen);
    EXPECT_EQ(clients(after), clients(before));
    EXPECT_FALSE(stored("omar@customer.example"));
    auto s = RecipientStore::open(store);
    ASSERT_TRUE(s.ok());
    auto stats = (*s)->stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->total, 1u);
}

// ---- PostgreSQL: two `ribbon learn` at once --------------------------------------

class LearnCliPostgres : public LearnCli {
  protected:
    static void TearDownTestSuite() { s_pg.stop(); }
    static SuitePostgres s_pg;
};
SuitePostgres LearnCliPostgres::s_pg;

// Two processes learn the same mbox of 100 messages from 10 customers into
// one database nobody has opened yet: they race to migrate it, to create
// each customer, to count each client and to store each customer's one
// certificate. Nothing may be lost or doubled.
TEST_F(LearnCliPostgres, TwoProcessesLearningAtOnceLoseNothing) {
    SKIP_OR_FAIL_WITHOUT_POSTGRES(s_pg);
    const std::string pg = s_pg.fresh_url();
    constexpr int kCustomers = 10;
    const CustomerCa& ca = alice_id().ca;
    std::vector<std::string> messages;
    std::vector<Issued> ids;
    for (int c = 0; c < kCustomers; ++c) {
        const std::string address = "customer" + std::to_string(c) + "@customer.example";
        ids.push_back(ca.issue("customer" + std::to_string(c), "/CN=Customer " + std::to_string(c),
                               signing_extensions(address), "10" + std::to_string(c)));
    }
    // Message i is from customer i % 10: 4 with Gmail, 5 with Thunderbird,
    // and 1 signed with Thunderbird.
    for (int i = 0; i < 10 * kCustomers; ++i) {
        const int c = i % kCustomers;
        const std::string address = "customer" + std::to_string(c) + "@customer.example";
        const int nth = i / kCustomers;
        if (nth == 0) {
            messages.push_back(openssl_signed("From: " + address + "\n" + kThunderbird + "\n",
                                              "Content-Type: text/plain\n\nSigned.\n", ids[c]));
        } else if (nth <= 4) {
            messages.push_back(gmail(address, "Message " + std::to_string(i) + "\n"));
        } else {
            messages.push_back(
                message(address, kThunderbird, "Message " + std::to_string(i) + "\n"));
        }
    }
    write_file(tmp / "inbox.mbox", mboxrd(messages));

    const auto results = run_children(2, [&](int, std::string& say) {
        const ProcessResult r = learn({"--mbox", (tmp / "inbox.mbox").string()}, pg);
        say = r.describe();
        if (r.out !=
            "learned 100 of 100 messages (0 skipped, 0 unreadable); supported 60; unsupported "
            "40\n") {
            return 100;
        }
        return r.exit_code;
    });
    for (const auto& c : results)
        EXPECT_EQ(c.exit_code, 0) << c.output << (c.timed_out ? " (timed out)" : "");

    auto s = RecipientStore::open(pg);
    ASSERT_TRUE(s.ok()) << describe(s.error());
    auto stats = (*s)->stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->total, static_cast<std::uint64_t>(kCustomers));
    EXPECT_EQ(stats->supported, static_cast<std::uint64_t>(kCustomers));
    for (int c = 0; c < kCustomers; ++c) {
        const std::string address = "customer" + std::to_string(c) + "@customer.example";
        SCOPED_TRACE(address);
        const RecipientRecord r = must_find(address, pg);
        EXPECT_EQ(r.message_count, 20u);
        EXPECT_EQ(clients(r), (std::map<std::string, std::uint64_t>{{"Gmail ", 8},
                                                                    {"Thunderbird 115.3.1", 12}}));
        EXPECT_EQ(r.capability, SmimeSupport::supported);
        EXPECT_EQ(r.confidence, 1.0);
        ASSERT_EQ(r.certificates.size(), 1u);
        EXPECT_EQ(r.certificates[0].sha256, x509_view(ids[c].cert).sha256);
    }
    EXPECT_EQ(raw_sql(pg, "SELECT SUM(message_count) FROM recipients"), "200");
}

}  // namespace
}  // namespace ribbon::test
