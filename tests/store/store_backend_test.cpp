// The recipients store, what only one backend has (the shared behaviour is
// tests/store/store_test.cpp): SQLite files that are damaged, read-only, foreign
// or missing their directory; a PostgreSQL server that is stopped under a
// store and started again, or was never there; and the store URLs, whose
// passwords no error message may show.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "ribbon/recipients.hpp"
#include "support/mta.hpp"  // pick_free_port
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kAlice = "alice@customer.example";

Observation observe(const std::string& address, UnixTime t) {
    Observation o;
    o.address = address;
    o.time = t;
    return o;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// ---- SQLite ------------------------------------------------------------------

// A directory the unprivileged child of ReadOnly... can reach.
struct SqliteDir {
    TempDir tmp{"ribbon-store"};
    fs::path dir = tmp / "db";
    fs::path file = dir / "ribbon.db";
    std::string url = "sqlite://" + file.string();
    SqliteDir() {
        fs::permissions(tmp.path(),
                        fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
        fs::create_directory(dir);
    }
};

TEST(StoreSqlite, NewFileIsCreatedWithoutAccessForOthers) {
    SqliteDir d;
    auto s = RecipientStore::open(d.url);
    ASSERT_OK(s);
    struct stat st {};
    ASSERT_EQ(::stat(d.file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0007, 0u) << std::oct << st.st_mode;
    EXPECT_EQ(st.st_mode & 0200, 0200u) << std::oct << st.st_mode;
    EXPECT_EQ(raw_sql(d.url, "PRAGMA journal_mode"), "wal");
}

TEST(StoreSqlite, MissingDirectoryIsBadConfig) {
    SqliteDir d;
    const fs::path file = d.dir / "missing" / "ribbon.db";
    auto s = RecipientStore::open("sqlite://" + file.string());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Errc::bad_config);
    EXPECT_TRUE(contains(s.error().message(), (d.dir / "missing").string())) << s.error().message();
    EXPECT_FALSE(fs::exists(d.dir / "missing"));
}

TEST(StoreSqlite, FileThatIsNotADatabaseIsCorruptAndLeftAlone) {
    SqliteDir d;
    std::string garbage;
    for (int i = 0; i < 512; ++i) garbage += "this is not a SQLite database\n";
    write_file(d.file, garbage);
    auto s = RecipientStore::open(d.url);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Errc::store_corrupt) << describe(s.error());
    EXPECT_EQ(s.error().kind(), ErrorKind::permanent);
    EXPECT_TRUE(contains(s.error().message(), d.file.string())) << s.error().message();
    EXPECT_EQ(read_file(d.file), garbage);
}

TEST(StoreSqlite, ForeignDatabaseIsMigratedIntoUnlessNamesCollide) {
    SqliteDir d;
    write_file(d.file, "");  // an empty file is an empty SQLite database
    raw_sql(d.url, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('kept')");
    {
        auto s = RecipientStore::open(d.url);
        ASSERT_OK(s);
        EXPECT_EQ((*s)->schema_version(), 5);
    }
    EXPECT_EQ(raw_sql(d.url, "SELECT body FROM notes"), "kept");

    const fs::path other = d.dir / "other.db";
    write_file(other, "");
    raw_sql("sqlite://" + other.string(), "CREATE TABLE recipients (id INTEGER, name TEXT)");
    auto s = RecipientStore::open("sqlite://" + other.string());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Errc::store_corrupt) << describe(s.error());
    EXPECT_TRUE(contains(s.error().message(), "migration 1")) << s.error().message();
    // The failed migration left nothing behind.
    EXPECT_EQ(raw_sql("sqlite://" + other.string(),
                      "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ribbon_schema'"),
              "0");
}

// Another writer holding the lock longer than the busy timeout (5 s): the
// write waits that long, then gives up as store_unavailable; lookups do
// not wait at all (WAL readers never do).
// The WAL is copied into the database file while the store stays open (a
// thread of the store's, src/store/wal_checkpointer.hpp, not the commit
// that fills it), and the WAL file then starts over instead of growing:
// 6,000 sightings, each its own transaction, append some 18,000 pages to
// the WAL, four times the threshold.
TEST(StoreSqlite, TheWalIsCheckpointedAndStartsOverWhileOpen) {
    SqliteDir d;
    auto s = RecipientStore::open(d.url);
    ASSERT_OK(s);
    const auto initial = fs::file_size(d.file);
    for (int n = 0; n < 6000; ++n) {
        {
            KeySighting k;
            k.address = std::string("sender").append(std::to_string(n % 997)).append("@example.org");
            k.spki_sha256 = std::string(64, 'a');
            k.certificate.sha256 = std::string(64, 'b');
            k.certificate.serial_hex = "01";
            k.message_key = std::string("<").append(std::to_string(n)).append("@x>");
            k.time = 1'790'000'000 + n;
            ASSERT_OK((*s)->observe_key(k, KeyRecording::record));
        }
    }
    // Checkpoints are asynchronous: wait for one to have reached the file.
    for (int i = 0; i < 500 && fs::file_size(d.file) < 400'000; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GT(fs::file_size(d.file), initial + 400'000);
    // Started over: the WAL header's checkpoint sequence number (a 32-bit
    // big-endian integer at offset 12, https://sqlite.org/fileformat.html
    // "WAL File Format") counts the times it did, from 0.
    const std::string header = read_file(d.dir / "ribbon.db-wal").substr(0, 16);
    ASSERT_EQ(header.size(), 16u);
    const auto byte = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(header[i])); };
    EXPECT_GE(byte(12) << 24 | byte(13) << 16 | byte(14) << 8 | byte(15), 1u);
    auto alice = (*s)->find_sender("sender5@example.org");
    ASSERT_OK(alice);
    ASSERT_TRUE(alice->has_value());
    EXPECT_EQ((*alice)->keys.at(0).messages, 7u);  // 5, 1002, ..., 5987
}

TEST(StoreSqlite, LockHeldPastTheBusyTimeoutIsUnavailable) {
    SqliteDir d;
    auto s = RecipientStore::open(d.url);
    ASSERT_OK(s);
    ASSERT_OK((*s)->record(observe(kAlice, 1)));
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(d.file.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> other(raw, sqlite3_close_v2);
    ASSERT_EQ(sqlite3_exec(other.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

    auto start = Clock::now();
    auto st = (*s)->standing(kAlice);
    ASSERT_OK(st);
    EXPECT_LT(Clock::now() - start, 1s);
    start = Clock::now();
    auto r = (*s)->record(observe(kAlice, 2));
    const auto took = Clock::now() - start;
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::store_unavailable) << describe(r.error());
    EXPECT_TRUE(contains(r.error().message(), d.file.string())) << r.error().message();
    EXPECT_TRUE(contains(r.error().message(), "locked")) << r.error().message();
    EXPECT_GE(took, 4500ms);
    EXPECT_LT(took, 10s);

    ASSERT_EQ(sqlite3_exec(other.get(), "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_OK((*s)->record(observe(kAlice, 3)));
}

// In a forked child: become `nobody` when root, since root ignores file
// modes; a non-root test user is already bound by them.
bool unprivileged(std::string& say) {
    if (::geteuid() != 0) return true;
    const passwd* pw = ::getpwnam("nobody");
    if (!pw) {
        say = "no user nobody";
        return false;
    }
    if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
        say = "cannot switch to nobody";
        return false;
    }
    return true;
}

// The realistic case: ribbon's user may read the file but not write it
// (wrong owner after a restore, say). Lookups keep working; learning fails
// as store_unavailable, naming the file, so the daemon logs and carries on.
TEST(StoreSqlite, ReadOnlyFileIsUnavailableForWritesOnly) {
    SqliteDir d;
    {
        auto s = RecipientStore::open(d.url);
        ASSERT_OK(s);
        ASSERT_OK((*s)->set_override(kAlice, RecipientOverride::sign, 1));
    }
    fs::permissions(d.file, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    fs::permissions(d.dir, fs::perms::all);  // the -shm file may be created
    const ChildResult c = run_child([&](std::string& say) {
        if (!unprivileged(say)) return 1;
        auto s = RecipientStore::open(d.url);
        if (!s) {
            say = "open: " + describe(s.error());
            return 2;
        }
        auto st = (*s)->standing(kAlice);
        if (!st || !st->has_value() || (*st)->override_ != RecipientOverride::sign) {
            say = "standing: " + (st ? std::string("wrong answer") : describe(st.error()));
            return 3;
        }
        auto r = (*s)->record(observe(kAlice, 2));
        if (r) {
            say = "record succeeded";
            return 4;
        }
        say = describe(r.error());
        return r.error().code() == Errc::store_unavailable &&
                       contains(r.error().message(), d.file.string())
                   ? 0
                   : 5;
    });
    EXPECT_EQ(c.exit_code, 0) << c.output;
    EXPECT_TRUE(contains(c.output, "readonly")) << c.output;
}

// Neither the file nor its directory writable: SQLite cannot even read a
// WAL database then (it needs the -shm file), so open says so.
TEST(StoreSqlite, ReadOnlyDirectoryIsUnavailable) {
    SqliteDir d;
    {
        auto s = RecipientStore::open(d.url);
        ASSERT_OK(s);
        ASSERT_OK((*s)->record(observe(kAlice, 1)));
    }
    fs::permissions(d.file, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    fs::permissions(d.dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                               fs::perms::group_exec | fs::perms::others_read |
                               fs::perms::others_exec);
    const ChildResult c = run_child([&](std::string& say) {
        if (!unprivileged(say)) return 1;
        auto s = RecipientStore::open(d.url);
        if (s) {
            auto r = (*s)->record(observe(kAlice, 2));
            say = "opened; record: " + (r ? std::string("ok") : describe(r.error()));
            return 2;
        }
        say = describe(s.error());
        return s.error().code() == Errc::store_unavailable &&
                       s.error().kind() == ErrorKind::transient &&
                       contains(s.error().message(), d.file.string())
                   ? 0
                   : 3;
    });
    EXPECT_EQ(c.exit_code, 0) << c.output;
    fs::permissions(d.dir, fs::perms::all);  // for TempDir's removal as non-root
}

// ---- PostgreSQL --------------------------------------------------------------

class StorePostgres : public ::testing::Test {
  protected:
    static void TearDownTestSuite() { s_pg.stop(); }
    void SetUp() override { SKIP_OR_FAIL_WITHOUT_POSTGRES(s_pg); }
    static SuitePostgres s_pg;
};

SuitePostgres StorePostgres::s_pg;

TEST_F(StorePostgres, ServerGoingAwayIsUnavailableThenTheSameStoreRecovers) {
    auto opened = RecipientStore::open(s_pg.fresh_url());
    ASSERT_OK(opened);
    RecipientStore& store = **opened;
    ASSERT_OK(store.record(observe(kAlice, 1)));

    s_pg.server->stop();
    for (int i = 0; i < 3; ++i) {
        const auto start = Clock::now();
        auto r = store.record(observe(kAlice, 2));
        const auto took = Clock::now() - start;
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code(), Errc::store_unavailable) << describe(r.error());
        EXPECT_EQ(r.error().kind(), ErrorKind::transient);
        EXPECT_LT(took, 3s);
        auto st = store.standing(kAlice);
        ASSERT_FALSE(st.ok());
        EXPECT_EQ(st.error().code(), Errc::store_unavailable) << describe(st.error());
    }

    ASSERT_EQ(s_pg.server->start(), "");
    // A failed reconnection is not retried for a second: calls fail fast
    // meanwhile, so a dead server costs no connect timeout per message.
    const auto deadline = Clock::now() + 5s;
    Result<void> r = store.record(observe(kAlice, 3));
    while (!r.ok() && Clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
        r = store.record(observe(kAlice, 3));
    }
    ASSERT_OK(r);
    auto found = store.find(kAlice);
    ASSERT_OK(found);
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->message_count, 2u);  // the failed ones left no trace
    EXPECT_EQ((*found)->last_seen, 3);
}

TEST_F(StorePostgres, NoServerIsUnavailableQuicklyAndHidesThePassword) {
    const int port = pick_free_port();  // nothing listens there
    const auto start = Clock::now();
    auto s =
        RecipientStore::open("postgresql://ribbon:sekrit@127.0.0.1:" + std::to_string(port) + "/x");
    EXPECT_LT(Clock::now() - start, 3s);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Errc::store_unavailable) << describe(s.error());
    EXPECT_FALSE(contains(s.error().message(), "sekrit")) << s.error().message();
    EXPECT_TRUE(contains(s.error().message(), "ribbon:***@127.0.0.1")) << s.error().message();
}

TEST_F(StorePostgres, MissingDatabaseIsNotCreated) {
    auto s = RecipientStore::open(s_pg.server->url("nonexistent"));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Errc::store_unavailable) << describe(s.error());
    EXPECT_TRUE(contains(s.error().message(), "does not exist")) << s.error().message();
}

// ---- URLs --------------------------------------------------------------------

TEST(StoreUrl, BadUrlsAreBadConfigAndNeverShowThePassword) {
    for (const char* url :
         {"", "ribbon.db", "mysql://ribbon:sekrit@db.example/ribbon", "sqlite:ribbon.db",
          "sqlite://db.example/var/lib/ribbon.db", "sqlite:///var/lib/ribbon/ribbon.db?mode=ro",
          "sqlite:///var/lib/ribbon/", "sqlite:///var/lib/ribbon%zz.db",
          "sqlite:///var/lib/ribbon%00.db", "postgresql://ribbon:sekrit@db.example/ribbon?bogus=1",
          "postgresql://ribbon@db.example/ribbon?password=sekrit&bogus=1",
          "postgres://ribbon:sekrit@[db.example/ribbon"}) {
        SCOPED_TRACE(url);
        auto s = RecipientStore::open(url);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error().code(), Errc::bad_config) << describe(s.error());
        EXPECT_EQ(s.error().kind(), ErrorKind::permanent);
        EXPECT_FALSE(contains(s.error().message(), "sekrit")) << s.error().message();
        if (contains(url, "sekrit")) {
            EXPECT_TRUE(contains(s.error().message(), "***")) << s.error().message();
        }
    }
}

TEST(StoreUrl, SqliteUrlForms) {
    TempDir tmp("ribbon-store");
    const std::string base = tmp.path().string();
    for (const auto& [url, file] : std::vector<std::pair<std::string, std::string>>{
             {"sqlite://" + base + "/a.db", base + "/a.db"},
             {"sqlite:" + base + "/b.db", base + "/b.db"},
             {"sqlite://localhost" + base + "/c.db", base + "/c.db"},
             {"SQLite://" + base + "/with%20space%3F.db", base + "/with space?.db"}}) {
        SCOPED_TRACE(url);
        auto s = RecipientStore::open(url);
        ASSERT_OK(s);
        EXPECT_TRUE(fs::exists(file));
    }
}

}  // namespace
}  // namespace ribbon::test
