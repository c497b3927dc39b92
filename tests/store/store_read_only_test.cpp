// A SQLite recipients store that the user may only read (issue 13, 10g):
// `ribbon recipients stats`, `show` and `list` open it read-only and work —
// with neither the file nor its directory writable, where a WAL reader
// cannot create the -shm file — and see what a running writer has not yet
// checkpointed; commands that write still fail as store_unavailable, naming
// the file and why. ribbon runs as `nobody` when the test is root (root
// ignores file modes).
#include <grp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "ribbon/recipients.hpp"
#include "support/nobody.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

Observation seen(const std::string& address, UnixTime t) {
    Observation o;
    o.address = address;
    o.time = t;
    o.client = ClientSighting{"Thunderbird", "115.3.1", "User-Agent: Thunderbird/115.3.1",
                              SmimeSupport::supported};
    o.capability = SmimeSupport::supported;
    o.confidence = 0.9;
    return o;
}

class StoreReadOnly : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!can_drop_to_nobody()) GTEST_SKIP() << "root, and no user nobody";
        fs::create_directories(dir);
        auto store = RecipientStore::open(url);
        ASSERT_OK(store);
        ASSERT_OK((*store)->record(seen("alice@customer.example", 1700000000)));
        ASSERT_OK(
            (*store)->set_override("alice@customer.example", RecipientOverride::sign, 1700000100));
        // Readable by everyone, writable by no one but root; the directory
        // too (the test's own TempDir is 0700).
        ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
        ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
        ASSERT_EQ(::chmod(file.c_str(), 0444), 0);
    }

    // `ribbon recipients ARGS --store URL` as nobody (as root: as root).
    ProcessResult recipients(std::vector<std::string> args, bool unprivileged = true) const {
        std::vector<std::string> argv =
            unprivileged ? as_nobody_prefix() : std::vector<std::string>{};
        argv.insert(argv.end(), {ribbon_binary(), "recipients"});
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--store", url});
        ProcessOptions o;
        o.env = {{"RIBBON_CONFIG", (tmp / "absent.toml").string()}};
        return run_process(argv, o);
    }

    // The names in the store's directory: read-only commands leave no
    // -wal or -shm behind.
    std::vector<std::string> files() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
        std::sort(out.begin(), out.end());
        return out;
    }

    TempDir tmp{"ribbon-store-ro"};
    fs::path dir = tmp / "store";
    fs::path file = dir / "ribbon.db";
    std::string url = "sqlite://" + file.string();
};

TEST_F(StoreReadOnly, ReadingCommandsWorkWithoutWriteAccess) {
    const std::vector<std::vector<std::string>> commands = {
        {"stats"}, {"stats", "--json"}, {"show", "alice@customer.example"}, {"list"}};
    std::vector<ProcessResult> read;
    for (const auto& args : commands) {
        read.push_back(recipients(args));
        EXPECT_EQ(read.back().exit_code, 0) << args.front() << ": " << read.back().describe();
        EXPECT_EQ(read.back().err, "");
    }
    EXPECT_NE(read[1].out.find("\"total\": 1"), std::string::npos) << read[1].out;
    // The reader could not create a -wal or -shm, and did not need to.
    EXPECT_EQ(files(), std::vector<std::string>{"ribbon.db"});
    // What the reader sees is what the owner sees.
    for (std::size_t i = 0; i < commands.size(); ++i) {
        ProcessResult owner = recipients(commands[i], false);
        ASSERT_EQ(owner.exit_code, 0) << owner.describe();
        EXPECT_EQ(read[i].out, owner.out) << commands[i].front();
    }
}

TEST_F(StoreReadOnly, WritingCommandsAreUnavailableNamingTheFile) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"set", "alice@customer.example", "--no-sign"},
          std::vector<std::string>{"forget", "alice@customer.example"}}) {
        ProcessResult r = recipients(args);
        EXPECT_EQ(r.exit_code, 75) << r.describe();
        EXPECT_EQ(r.out, "");
        EXPECT_NE(r.err.find(file.string() + ": "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("; this user cannot write in " + dir.string() +
                             ", where SQLite keeps the database's -wal and -shm files "
                             "[store_unavailable]\n"),
                  std::string::npos)
            << r.err;
    }
    // Nothing changed.
    ProcessResult r = recipients({"show", "alice@customer.example", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\"override\": \"sign\""), std::string::npos) << r.out;
}

// A writer (the daemon, as the file's owner) holds the store open with
// changes still in the -wal: the reader must see them through the -shm,
// never read the database file alone as if it were immutable.
TEST_F(StoreReadOnly, ReaderSeesWhatARunningWriterHasNotCheckpointed) {
    ASSERT_EQ(::chmod(file.c_str(), 0644), 0);  // the -wal and -shm take its mode
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> writer(raw, &sqlite3_close_v2);
    // Keeps the -wal: this connection outlives the store's, and no
    // checkpoint copies the log back while it is open.
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA wal_autocheckpoint = 0; SELECT COUNT(*) FROM recipients",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(raw);
    {
        auto store = RecipientStore::open(url);
        ASSERT_OK(store);
        ASSERT_OK((*store)->record(seen("bob@customer.example", 1700000200)));
    }
    ASSERT_TRUE(fs::exists(file.string() + "-wal"));
    ASSERT_GT(fs::file_size(file.string() + "-wal"), 0u);
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);

    ProcessResult r = recipients({"show", "bob@customer.example"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    r = recipients({"stats", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\"total\": 2"), std::string::npos) << r.out;
}

// The library call the commands make.
TEST_F(StoreReadOnly, OpenReadOnlyRefusesWritesAsUnavailable) {
    const ChildResult c = run_child([&](std::string& say) {
        if (::geteuid() == 0) {
            const passwd* pw = ::getpwnam("nobody");
            if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 ||
                ::setuid(pw->pw_uid) != 0) {
                say = "cannot become nobody";
                return 1;
            }
        }
        auto s = RecipientStore::open(url, StoreAccess::read_only);
        if (!s) {
            say = "open: " + describe(s.error());
            return 2;
        }
        auto st = (*s)->standing("alice@customer.example");
        if (!st || !st->has_value() || (*st)->override_ != RecipientOverride::sign) {
            say = "standing: " + (st ? std::string("wrong answer") : describe(st.error()));
            return 3;
        }
        auto w = (*s)->set_opt_out("alice@customer.example", true, 1700000300);
        if (w) {
            say = "set_opt_out succeeded";
            return 4;
        }
        say = describe(w.error());
        return w.error().code() == Errc::store_unavailable &&
                       w.error().kind() == ErrorKind::transient
                   ? 0
                   : 5;
    });
    EXPECT_EQ(c.exit_code, 0) << c.output;
    // Read-write, the same user cannot even open it.
    const ChildResult rw = run_child([&](std::string& say) {
        if (::geteuid() == 0) {
            const passwd* pw = ::getpwnam("nobody");
            if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 ||
                ::setuid(pw->pw_uid) != 0) {
                return 1;
            }
        }
        auto s = RecipientStore::open(url);
        if (s) return 2;
        say = describe(s.error());
        return s.error().code() == Errc::store_unavailable ? 0 : 3;
    });
    EXPECT_EQ(rw.exit_code, 0) << rw.output;
}

// Key continuity on a store the user may only read: `ribbon senders list`,
// `show` and `export` work, `forget` is unavailable, and the library's
// read-only judgement (`ribbon verify --no-record`) works where recording
// is refused as store_unavailable.
TEST_F(StoreReadOnly, SendersReadAndJudgeWithoutWriteAccess) {
    KeySighting k;
    k.address = "alice@customer.example";
    k.spki_sha256 = std::string(64, 'a');
    k.certificate.sha256 = std::string(64, '1');
    k.certificate.subject = "CN=Alice";
    k.certificate.issuer = "CN=Customer CA";
    k.certificate.not_after = 1800000000;
    k.message_key = "m1";
    k.time = 1700000000;
    ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
    {
        auto store = RecipientStore::open(url);
        ASSERT_OK(store);
        ASSERT_OK((*store)->observe_key(k, KeyRecording::record));
    }
    ASSERT_EQ(::chmod(file.c_str(), 0444), 0);
    const auto senders = [&](std::vector<std::string> args) {
        std::vector<std::string> argv = as_nobody_prefix();
        argv.insert(argv.end(), {ribbon_binary(), "senders"});
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--store", url});
        ProcessOptions o;
        o.env = {{"RIBBON_CONFIG", (tmp / "absent.toml").string()}};
        return run_process(argv, o);
    };
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"list"}, std::vector<std::string>{"show", k.address},
          std::vector<std::string>{"export", "--format", "csv"}}) {
        ProcessResult r = senders(args);
        EXPECT_EQ(r.exit_code, 0) << args.front() << ": " << r.describe();
        EXPECT_NE(r.out.find("alice@customer.example"), std::string::npos) << r.out;
    }
    ProcessResult r = senders({"forget", k.address});
    EXPECT_EQ(r.exit_code, 75) << r.describe();
    EXPECT_EQ(files(), std::vector<std::string>{"ribbon.db"});

    const ChildResult c = run_child([&](std::string& say) {
        if (::geteuid() == 0) {
            const passwd* pw = ::getpwnam("nobody");
            if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 ||
                ::setuid(pw->pw_uid) != 0) {
                say = "cannot become nobody";
                return 1;
            }
        }
        auto s = RecipientStore::open(url, StoreAccess::read_only);
        if (!s) {
            say = "open: " + describe(s.error());
            return 2;
        }
        KeySighting next = k;
        next.message_key = "m2";
        auto judged = (*s)->observe_key(next, KeyRecording::read_only);
        if (!judged || judged->verdict != Continuity::known || judged->key.messages != 1 ||
            judged->recorded) {
            say = "read-only: " + (judged ? std::string("wrong answer") : describe(judged.error()));
            return 3;
        }
        auto w = (*s)->observe_key(next, KeyRecording::record);
        if (w) {
            say = "recording succeeded";
            return 4;
        }
        say = describe(w.error());
        return w.error().code() == Errc::store_unavailable ? 0 : 5;
    });
    EXPECT_EQ(c.exit_code, 0) << c.output;
}

}  // namespace
}  // namespace ribbon::test
