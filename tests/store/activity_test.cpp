// Message activity in the recipients store (add_message_counts,
// message_counts, add_failures, recent_failures; docs/STORE.md "Activity"),
// on both backends: counts that add up across stores and processes and
// survive reopening, the hour window, refused input leaving no trace, and
// the bounds on recent failures.
#include <gtest/gtest.h>

#include <chrono>

#include "ribbon/recipients.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

constexpr UnixTime kHour = 3600;
constexpr UnixTime kH0 = 1790002800;  // 2026-09-21 15:00 UTC, a whole hour

UnixTime now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

MessageCount count_of(UnixTime hour, const std::string& host, const std::string& result,
                      std::uint64_t messages, const std::string& reason = "") {
    return MessageCount{hour, host, "milter", result, reason, messages};
}

FailureRecord failure_at(UnixTime time, const std::string& detail,
                         const std::string& result = "tempfail") {
    return FailureRecord{time, "mx1", "relay", result, "no_key", detail};
}

enum class Backend { sqlite, postgresql };

class Activity : public ::testing::TestWithParam<Backend> {
  protected:
    static void TearDownTestSuite() { s_pg.stop(); }

    void SetUp() override {
        if (GetParam() == Backend::postgresql) {
            SKIP_OR_FAIL_WITHOUT_POSTGRES(s_pg);
            url = s_pg.fresh_url();
        } else {
            url = "sqlite://" + (tmp / "ribbon.db").string();
        }
        store = open();
        ASSERT_TRUE(store);
    }

    std::unique_ptr<RecipientStore> open() {
        auto s = RecipientStore::open(url);
        EXPECT_TRUE(s.ok()) << describe(s.error());
        return s.ok() ? std::move(*s) : nullptr;
    }

    std::vector<MessageCount> counts(UnixTime since = 0) {
        auto r = store->message_counts(since);
        EXPECT_TRUE(r.ok()) << describe(r.error());
        return r.ok() ? *r : std::vector<MessageCount>{};
    }

    std::vector<FailureRecord> failures(std::size_t limit) {
        auto r = store->recent_failures(limit);
        EXPECT_TRUE(r.ok()) << describe(r.error());
        return r.ok() ? *r : std::vector<FailureRecord>{};
    }

    std::int64_t sql_count(const std::string& sql) { return std::stoll(raw_sql(url, sql)); }

    static SuitePostgres s_pg;
    TempDir tmp{"ribbon-activity"};
    std::string url;
    std::unique_ptr<RecipientStore> store;
};

SuitePostgres Activity::s_pg;

// One row per (hour, host, front end, result, reason), in that order; a
// second add adds; a second store on the same database (another host, or
// the same one after a restart) adds to the same rows.
TEST_P(Activity, CountsAddUpAcrossCallsStoresAndRestarts) {
    const std::vector<MessageCount> first = {
        count_of(kH0 + kHour, "mx1", "signed", 7),
        count_of(kH0, "mx1", "unsigned", 2, "policy"),
        count_of(kH0, "mx1", "signed", 5),
        count_of(kH0, "mx1", "tempfail", 1, "no_key"),
        count_of(kH0, "mx1", "signed", 0),  // skipped
    };
    ASSERT_OK(store->add_message_counts(first));
    ASSERT_OK(store->add_message_counts(std::vector<MessageCount>{count_of(kH0, "mx1", "signed", 3)}));
    auto other = RecipientStore::open(url);
    ASSERT_OK(other);
    ASSERT_OK((*other)->add_message_counts(std::vector<MessageCount>{
        count_of(kH0, "mx2", "signed", 4), count_of(kH0, "mx1", "unsigned", 1, "policy")}));
    store.reset();
    store = open();
    ASSERT_TRUE(store);

    const std::vector<MessageCount> got = counts();
    ASSERT_EQ(got.size(), 5u);
    auto expect = [&](std::size_t i, UnixTime hour, const char* host, const char* result,
                      const char* reason, std::uint64_t messages) {
        EXPECT_EQ(got[i].hour, hour) << i;
        EXPECT_EQ(got[i].host, host) << i;
        EXPECT_EQ(got[i].front_end, "milter") << i;
        EXPECT_EQ(got[i].result, result) << i;
        EXPECT_EQ(got[i].reason, reason) << i;
        EXPECT_EQ(got[i].messages, messages) << i;
    };
    expect(0, kH0, "mx1", "signed", "", 8);
    expect(1, kH0, "mx1", "tempfail", "no_key", 1);
    expect(2, kH0, "mx1", "unsigned", "policy", 3);
    expect(3, kH0, "mx2", "signed", "", 4);
    expect(4, kH0 + kHour, "mx1", "signed", "", 7);
    // The window: hours at or after `since`.
    const std::vector<MessageCount> later = counts(kH0 + 1);
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(later[0].messages, 7u);
    EXPECT_TRUE(counts(kH0 + 2 * kHour).empty());
}

// Two processes adding to the same rows at once lose nothing: what two
// hosts sharing one PostgreSQL database do every minute.
TEST_P(Activity, TwoProcessesAtOnceLoseNoCount) {
    store.reset();
    constexpr int kRounds = 100;
    const auto results = run_children(2, [&](int index, std::string& say) {
        auto s = RecipientStore::open(url);
        if (!s) {
            say = "open: " + describe(s.error());
            return 1;
        }
        for (int i = 0; i < kRounds; ++i) {
            const std::vector<MessageCount> batch = {
                count_of(kH0, "shared", "signed", 1),
                count_of(kH0, index ? "mx2" : "mx1", "unsigned", 2, "not-ours"),
                count_of(kH0 + kHour, "shared", "reject", 3, "bad_message")};
            if (auto r = (*s)->add_message_counts(batch); !r) {
                say = "add " + std::to_string(i) + ": " + describe(r.error());
                return 1;
            }
        }
        return 0;
    });
    for (const auto& c : results) EXPECT_EQ(c.exit_code, 0) << c.output;
    store = open();
    ASSERT_TRUE(store);
    const std::vector<MessageCount> got = counts();
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].host, "mx1");
    EXPECT_EQ(got[0].messages, 2u * kRounds);
    EXPECT_EQ(got[1].host, "mx2");
    EXPECT_EQ(got[1].messages, 2u * kRounds);
    EXPECT_EQ(got[2].host, "shared");
    EXPECT_EQ(got[2].messages, 2u * kRounds);
    EXPECT_EQ(got[3].result, "reject");
    EXPECT_EQ(got[3].messages, 2u * 3 * kRounds);
}

// A batch with one bad entry is refused whole, naming the problem.
TEST_P(Activity, BadCountsAreRefusedAndLeaveNoTrace) {
    const MessageCount good = count_of(kH0, "mx1", "signed", 1);
    struct Case {
        MessageCount bad;
        const char* says;
    };
    const std::vector<Case> cases = {
        {count_of(kH0 + 60, "mx1", "signed", 1), "is not the start of an hour"},
        {count_of(-kHour, "mx1", "signed", 1), "is not the start of an hour"},
        {count_of(kH0, "mx1", "lost", 1), "\"lost\" is not a message result"},
        {count_of(kH0, "", "signed", 1), "without a host"},
        {MessageCount{kH0, "mx1", "", "signed", "", 1}, "without a front end"},
        {count_of(kH0, std::string(256, 'h'), "signed", 1), "host of 256 octets"},
        {count_of(kH0, "mx1", "unsigned", 1, std::string(300, 'r')), "reason of 300 octets"},
        {count_of(kH0, "mx1", "signed", std::uint64_t{1} << 63), "is too large"},
    };
    for (const Case& c : cases) {
        auto r = store->add_message_counts(std::vector<MessageCount>{good, c.bad});
        ASSERT_FALSE(r.ok()) << c.says;
        EXPECT_EQ(r.error().code(), Errc::malformed_message) << c.says;
        EXPECT_EQ(r.error().kind(), ErrorKind::permanent) << c.says;
        EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
    }
    EXPECT_TRUE(counts().empty());
    EXPECT_EQ(sql_count("SELECT COUNT(*) FROM message_counts"), 0);
    // Bytes that are not UTF-8 are kept as U+FFFD, on both backends alike.
    ASSERT_OK(store->add_message_counts(
        std::vector<MessageCount>{count_of(kH0, "mx\xff", "unsigned", 1, "r\xc3")}));
    const std::vector<MessageCount> got = counts();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].host, "mx\xEF\xBF\xBD");
    EXPECT_EQ(got[0].reason, "r\xEF\xBF\xBD");
}

TEST_P(Activity, FailuresNewestFirstWithTheirDetail) {
    const UnixTime t = now() - 600;
    ASSERT_OK(store->add_failures(std::vector<FailureRecord>{
        failure_at(t, "no Digital ID for <a@bank.example>"),
        failure_at(t + 5, "<script>alert(1)</script>", "reject"),
        failure_at(t + 5, "second in the same second", "unsigned")}));
    const std::vector<FailureRecord> all = failures(10);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].detail, "second in the same second");
    EXPECT_EQ(all[0].result, "unsigned");
    EXPECT_EQ(all[1].detail, "<script>alert(1)</script>");
    EXPECT_EQ(all[1].time, t + 5);
    EXPECT_EQ(all[1].host, "mx1");
    EXPECT_EQ(all[1].front_end, "relay");
    EXPECT_EQ(all[1].result, "reject");
    EXPECT_EQ(all[1].kind, "no_key");
    EXPECT_EQ(all[2].detail, "no Digital ID for <a@bank.example>");
    ASSERT_EQ(failures(1).size(), 1u);
    EXPECT_EQ(failures(1)[0].detail, "second in the same second");

    // A long detail is cut, on a character boundary, and cleaned.
    std::string long_detail = "\xff";
    while (long_detail.size() < 2 * kFailureDetailLimit) long_detail += "\xC3\xA9";  // é
    ASSERT_OK(store->add_failures(std::vector<FailureRecord>{failure_at(t + 10, long_detail)}));
    const std::string kept = failures(1)[0].detail;
    EXPECT_LE(kept.size(), kFailureDetailLimit);
    EXPECT_GE(kept.size(), kFailureDetailLimit - 1);
    EXPECT_EQ(kept.substr(0, 5), "\xEF\xBF\xBD\xC3\xA9");
    EXPECT_EQ(kept.size() % 2, 1u);  // 3 octets of U+FFFD, then whole é's

    // "signed" is not a failure; nothing of a refused batch is kept.
    auto r = store->add_failures(std::vector<FailureRecord>{failure_at(t, "ok"), failure_at(t, "x", "signed")});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::malformed_message);
    FailureRecord no_kind = failure_at(t, "x");
    no_kind.kind.clear();
    EXPECT_FALSE(store->add_failures(std::vector<FailureRecord>{no_kind}).ok());
    EXPECT_EQ(failures(100).size(), 4u);
}

// At most kFailuresKept, the latest; none older than kFailureRetention.
TEST_P(Activity, FailuresAreBounded) {
    const UnixTime t = now();
    ASSERT_OK(store->add_failures(std::vector<FailureRecord>{
        failure_at(t - kFailureRetention - 100, "too old"),
        failure_at(t - kFailureRetention + 3600, "old but kept")}));
    EXPECT_EQ(failures(10).size(), 1u);
    EXPECT_EQ(failures(10)[0].detail, "old but kept");
    std::vector<FailureRecord> many;
    for (std::size_t i = 0; i < kFailuresKept + 4; ++i)
        many.push_back(failure_at(t - 1000 + static_cast<UnixTime>(i), std::string("n").append(std::to_string(i))));
    ASSERT_OK(store->add_failures(many));
    EXPECT_EQ(sql_count("SELECT COUNT(*) FROM recent_failures"),
              static_cast<std::int64_t>(kFailuresKept));
    const std::vector<FailureRecord> kept = failures(5000);
    ASSERT_EQ(kept.size(), kFailuresKept);
    EXPECT_EQ(kept.front().detail, std::string("n").append(std::to_string(kFailuresKept + 3)));
    EXPECT_EQ(kept.back().detail, "n4");
}

INSTANTIATE_TEST_SUITE_P(Backends, Activity,
                         ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& info) {
                             return info.param == Backend::sqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace ribbon::test
