// Unit tests of src/core/spool.cpp, ribbon::Spool (ribbon/io.hpp): bytes
// held in memory up to a limit, then in an unlinked O_TMPFILE file that
// leaves nothing in its directory; the maximum no writer can pass, after
// which everything is dropped and every write refused; and the three ways
// to read a spool back (replay, chunk, input) giving exactly what was
// written, on both sides of the memory limit.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/mime_parse.hpp"
#include "ribbon/io.hpp"
#include "support/process.hpp"

namespace ribbon {
namespace {

namespace fs = std::filesystem;

std::string replayed(const Spool& spool) {
    StringSink sink;
    EXPECT_TRUE(spool.replay(sink).ok());
    return sink.take();
}

// Everything, read back with chunk() in pieces of `step`.
std::string chunked(const Spool& spool, std::size_t step) {
    std::string out;
    std::string buffer;
    for (std::uint64_t offset = 0;;) {
        auto c = spool.chunk(offset, step, buffer);
        EXPECT_TRUE(c.ok());
        if (!c.ok() || c->empty()) break;
        EXPECT_LE(c->size(), step);
        out.append(*c);
        offset += c->size();
    }
    return out;
}

// Bytes that differ at every offset, so a misplaced chunk shows.
std::string pattern(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 % 251);
    return s;
}

TEST(Spool, SmallContentStaysInMemory) {
    test::TempDir dir("ribbon-spool");
    Spool spool(100, dir.path());
    ASSERT_TRUE(spool.write("Subject: s\r\n").ok());
    ASSERT_TRUE(spool.write("").ok());
    ASSERT_TRUE(spool.write("\r\nbody\r\n").ok());
    EXPECT_EQ(spool.size(), 20u);
    EXPECT_TRUE(spool.in_memory());
    EXPECT_EQ(replayed(spool), "Subject: s\r\n\r\nbody\r\n");
    EXPECT_EQ(chunked(spool, 3), "Subject: s\r\n\r\nbody\r\n");
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(Spool, ExactlyTheMemoryLimitStaysInMemoryAndOneMoreGoesToAFile) {
    test::TempDir dir("ribbon-spool");
    Spool spool(10, dir.path());
    ASSERT_TRUE(spool.write(std::string(10, 'a')).ok());
    EXPECT_TRUE(spool.in_memory());
    ASSERT_TRUE(spool.write("b").ok());
    EXPECT_FALSE(spool.in_memory());
    EXPECT_EQ(spool.size(), 11u);
    EXPECT_EQ(replayed(spool), std::string(10, 'a') + "b");
    // O_TMPFILE: no name in the directory, nothing left after a crash.
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(Spool, AFileSpoolReadsBackExactlyEveryWay) {
    test::TempDir dir("ribbon-spool");
    Spool spool(4096, dir.path());
    const std::string head = "Subject: big\r\nContent-Type: application/octet-stream\r\n\r\n";
    const std::string body = pattern(3 * 1024 * 1024 + 17, 'x');  // past replay()'s 1 MiB reads
    ASSERT_TRUE(spool.write(head).ok());
    for (std::size_t at = 0; at < body.size(); at += 100000) {
        ASSERT_TRUE(spool.write(std::string_view(body).substr(at, 100000)).ok());
    }
    const std::string all = head + body;
    EXPECT_EQ(spool.size(), all.size());
    EXPECT_FALSE(spool.in_memory());
    EXPECT_TRUE(replayed(spool) == all);
    EXPECT_TRUE(chunked(spool, 65536) == all);
    std::string buffer;
    auto middle = spool.chunk(head.size() + 5, 10, buffer);
    ASSERT_TRUE(middle.ok());
    EXPECT_EQ(*middle, body.substr(5, 10));
    auto past = spool.chunk(all.size(), 10, buffer);
    ASSERT_TRUE(past.ok());
    EXPECT_TRUE(past->empty());
    // input(): the signer's view, from the start even after reads.
    MessageInput in = spool.input();
    EXPECT_EQ(in.source(), MessageInput::Source::fd);
    EXPECT_EQ(in.max_size(), spool.max_size());
    auto parsed = mime::parse_message(in);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_TRUE(mime::read_stream(parsed->stream()) == all);
}

TEST(Spool, InputOfAMemorySpoolIsTheBytes) {
    Spool spool(1024, {}, 500);
    ASSERT_TRUE(spool.write("Subject: s\r\n\r\nx").ok());
    MessageInput in = spool.input();
    EXPECT_EQ(in.source(), MessageInput::Source::memory);
    EXPECT_EQ(in.bytes(), "Subject: s\r\n\r\nx");
    EXPECT_EQ(in.max_size(), 500u);
}

TEST(Spool, TheMaximumIsExactAndPassingItDropsEverything) {
    for (std::size_t memory_limit : {std::size_t{1000}, std::size_t{10}}) {
        test::TempDir dir("ribbon-spool");
        Spool spool(memory_limit, dir.path(), 100);
        ASSERT_TRUE(spool.write(std::string(60, 'a')).ok());
        ASSERT_TRUE(spool.write(std::string(40, 'b')).ok());  // exactly 100
        EXPECT_EQ(spool.size(), 100u);
        auto over = spool.write("c");
        ASSERT_FALSE(over.ok());
        EXPECT_EQ(over.error().code(), Errc::limit_exceeded);
        EXPECT_EQ(over.error().kind(), ErrorKind::permanent);
        EXPECT_EQ(over.error().message(),
                  "the message is larger than the maximum message size (100 bytes)");
        // Dropped at once, memory or file, and refused from now on.
        EXPECT_EQ(spool.size(), 0u);
        EXPECT_TRUE(spool.in_memory());
        EXPECT_EQ(replayed(spool), "");
        auto later = spool.write("");
        ASSERT_FALSE(later.ok());
        EXPECT_EQ(later.error().code(), Errc::limit_exceeded);
        EXPECT_TRUE(fs::is_empty(dir.path()));
    }
}

TEST(Spool, OneWriteLargerThanTheMaximumIsRefusedWhole) {
    Spool spool(10, {}, 100);
    auto r = spool.write(std::string(101, 'a'));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::limit_exceeded);
    EXPECT_EQ(spool.size(), 0u);
}

TEST(Spool, AnUnusableDirectoryIsATransientIoError) {
    test::TempDir dir("ribbon-spool");
    const fs::path missing = dir / "missing";
    Spool spool(4, missing);
    ASSERT_TRUE(spool.write("abcd").ok());  // still in memory
    auto r = spool.write("e");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().kind(), ErrorKind::transient);
    EXPECT_EQ(r.error().message(),
              "cannot create a spool file in " + missing.string() + ": No such file or directory");
}

TEST(Spool, DefaultsAreDocumented) {
    Spool spool;
    EXPECT_EQ(spool.max_size(), kDefaultMaxMessageSize);
    ASSERT_TRUE(spool.write(std::string(Spool::kDefaultMemoryLimit, 'a')).ok());
    EXPECT_TRUE(spool.in_memory());
    ASSERT_TRUE(spool.write("a").ok());
    EXPECT_FALSE(spool.in_memory());
}

}  // namespace
}  // namespace ribbon
