// inbound::SightingRecorder (src/inbound/sighting_recorder.cpp): group
// commit of key sightings into a real SQLite store. Many threads recording
// at once share transactions and still get the verdicts and counts of
// recording one at a time; a store that cannot be opened is every waiting
// thread's error, and the recorder recovers once it can.
#include "inbound/sighting_recorder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace ribbon::inbound {
namespace {

constexpr UnixTime kT0 = 1'796'000'000;  // 2026-11-30

KeySighting sighting(const std::string& address, char key, const std::string& message) {
    KeySighting s;
    s.address = address;
    s.spki_sha256 = std::string(64, key);
    s.certificate.sha256 = std::string(64, 'f');
    s.certificate.subject = "CN=" + address;
    s.certificate.issuer = "CN=Customer CA";
    s.certificate.serial_hex = "0A";
    s.certificate.not_before = kT0 - 30 * 86400;
    s.certificate.not_after = kT0 + 365 * 86400;
    s.message_key = message;
    s.time = kT0;
    return s;
}

// 8 threads × 50 new messages under one new key: one of them is the first,
// the counts the threads see are exactly 1..400, each once, the store holds
// 400, and fewer transactions than sightings were committed.
TEST(SightingRecorder, ThreadsShareCommitsAndCountAsOneByOne) {
    test::TempDir dir("ribbon-recorder");
    const std::string url = "sqlite://" + (dir / "ribbon.db").string();
    constexpr int kThreads = 8, kEach = 50;
    std::vector<std::vector<ContinuityReport>> seen(kThreads);
    std::vector<std::string> errors(kThreads);
    SightingRecorder recorder(url);
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < kEach; ++i) {
                    const std::string m = std::string("<").append(std::to_string(t * kEach + i)).append("@x>");
                    auto r = recorder.record(sighting("alice@customer.example", 'a', m));
                    if (!r) {
                        errors[t] = r.error().message();
                        return;
                    }
                    seen[t].push_back(*r);
                }
            });
        }
        for (auto& t : threads) t.join();
    }
    std::vector<std::uint64_t> counts;
    int first = 0;
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(errors[t], "");
        for (const ContinuityReport& r : seen[t]) {
            EXPECT_TRUE(r.recorded);
            counts.push_back(r.key.messages);
            if (r.verdict == Continuity::first) ++first;
            else EXPECT_EQ(r.verdict, Continuity::known);
        }
    }
    EXPECT_EQ(first, 1);
    std::sort(counts.begin(), counts.end());
    ASSERT_EQ(counts.size(), static_cast<std::size_t>(kThreads * kEach));
    for (std::size_t i = 0; i < counts.size(); ++i) EXPECT_EQ(counts[i], i + 1);
    const SightingRecorder::Counts c = recorder.counts();
    EXPECT_EQ(c.sightings, static_cast<std::uint64_t>(kThreads * kEach));
    EXPECT_LT(c.transactions, c.sightings);

    auto store = RecipientStore::open(url);
    ASSERT_TRUE(store.ok());
    auto sender = (*store)->find_sender("alice@customer.example");
    ASSERT_TRUE(sender.ok() && sender->has_value());
    EXPECT_EQ((*sender)->keys.at(0).messages, static_cast<std::uint64_t>(kThreads * kEach));
}

TEST(SightingRecorder, AStoreThatCannotOpenIsTheErrorThenRecovers) {
    test::TempDir dir("ribbon-recorder");
    const std::filesystem::path missing = dir / "not-yet";
    SightingRecorder recorder("sqlite://" + (missing / "ribbon.db").string());
    auto r = recorder.record(sighting("alice@customer.example", 'a', "<1@x>"));
    ASSERT_FALSE(r.ok());
    // A missing directory is the configuration's fault (the store says which).
    EXPECT_EQ(r.error().code(), Errc::bad_config) << r.error().message();
    EXPECT_NE(r.error().message().find("not-yet"), std::string::npos) << r.error().message();
    std::filesystem::create_directory(missing);
    r = recorder.record(sighting("alice@customer.example", 'a', "<2@x>"));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->verdict, Continuity::first);
    EXPECT_TRUE(r->recorded);
    // A sighting the store refuses is that sighting's error only.
    r = recorder.record(sighting("not an address", 'a', "<3@x>"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::malformed_message);
    r = recorder.record(sighting("alice@customer.example", 'a', "<4@x>"));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->key.messages, 2u);
}

}  // namespace
}  // namespace ribbon::inbound
