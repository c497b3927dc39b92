// daemon::HistoryWriter (src/daemon/history_writer.cpp): Telemetry's
// history into a real SQLite store, as the dashboard reads it; a store
// that cannot be opened keeps the rows for the next try, and nothing is
// counted twice.
#include "daemon/history_writer.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "support/process.hpp"

namespace ribbon::daemon {
namespace {

submit::Failure no_key() {
    submit::Failure f;
    f.kind = FailureKind::no_key;
    f.action = FailureAction::tempfail;
    f.log = "tempfail (on_no_key = \"tempfail\"): no Digital ID for x";
    return f;
}

struct Logged {
    std::ostringstream out;
    std::shared_ptr<spdlog::logger> log = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
};

std::map<std::string, std::uint64_t> stored_counts(const std::string& url) {
    auto store = RecipientStore::open(url, StoreAccess::read_only);
    EXPECT_TRUE(store.ok()) << store.error().message();
    std::map<std::string, std::uint64_t> by;
    if (!store.ok()) return by;
    auto counts = (*store)->message_counts(0);
    EXPECT_TRUE(counts.ok()) << counts.error().message();
    if (!counts.ok()) return by;
    for (const MessageCount& c : *counts) {
        EXPECT_EQ(c.host, "mx1");
        EXPECT_EQ(c.front_end, "milter");
        by[c.result + "/" + c.reason] += c.messages;
    }
    return by;
}

TEST(HistoryWriter, WritesWhatTelemetryCountedAsTheStoreKeepsIt) {
    test::TempDir dir("ribbon-history");
    const std::string url = "sqlite://" + (dir / "ribbon.db").string();
    auto t = std::make_shared<Telemetry>(FrontEndKind::milter);
    Logged logged;
    {
        HistoryWriter writer(url, "mx1", t, logged.log, std::chrono::hours(1));
        t->signed_message(std::chrono::milliseconds(2));
        t->signed_message(std::chrono::milliseconds(2));
        t->unsigned_message(submit::Unsigned::no_signer);
        t->failed_message(no_key());
        t->refused_message(FailureAction::reject, FailureKind::bad_message, "too big");
        EXPECT_TRUE(writer.flush());
        EXPECT_EQ(stored_counts(url), (std::map<std::string, std::uint64_t>{{"signed/", 2},
                                                                           {"unsigned/no_signer", 1},
                                                                           {"tempfail/no_key", 1},
                                                                           {"reject/bad_message", 1}}));
        t->signed_message(std::chrono::milliseconds(2));
    }  // the last rows when it stops
    EXPECT_EQ(stored_counts(url)["signed/"], 3u);
    auto store = RecipientStore::open(url, StoreAccess::read_only);
    ASSERT_TRUE(store.ok());
    auto failures = (*store)->recent_failures(10);
    ASSERT_TRUE(failures.ok());
    ASSERT_EQ(failures->size(), 2u);
    std::map<std::string, std::string> by_kind;
    for (const FailureRecord& f : *failures) by_kind[f.result + "/" + f.kind] = f.detail;
    EXPECT_EQ(by_kind["tempfail/no_key"], "tempfail (on_no_key = \"tempfail\"): no Digital ID for x");
    EXPECT_EQ(by_kind["reject/bad_message"], "too big");
    EXPECT_EQ(logged.out.str(), "");
}

TEST(HistoryWriter, AnUnwritableStoreKeepsTheRowsAndCountsThemOnce) {
    test::TempDir dir("ribbon-history");
    const std::filesystem::path later = dir / "later";
    const std::string url = "sqlite://" + (later / "ribbon.db").string();
    auto t = std::make_shared<Telemetry>(FrontEndKind::milter);
    Logged logged;
    HistoryWriter writer(url, "mx1", t, logged.log, std::chrono::hours(1));
    t->signed_message(std::chrono::milliseconds(2));
    EXPECT_FALSE(writer.flush());
    t->signed_message(std::chrono::milliseconds(2));
    EXPECT_FALSE(writer.flush());  // said once
    const std::string said = logged.out.str();
    EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 1) << said;
    EXPECT_NE(said.find("message history: not written, kept for the next try"), std::string::npos) << said;
    std::filesystem::create_directory(later);
    EXPECT_TRUE(writer.flush());
    EXPECT_NE(logged.out.str().find("message history: written again"), std::string::npos);
    EXPECT_TRUE(writer.flush());  // nothing new: nothing added twice
    EXPECT_EQ(stored_counts(url), (std::map<std::string, std::uint64_t>{{"signed/", 2}}));
}

}  // namespace
}  // namespace ribbon::daemon
