// Unit tests of src/core/io.cpp (ribbon/io.hpp, except Spool: spool_test):
// MessageInput's description and size bound, the small-file and message-file
// readers with each refusal's exact kind and message (missing, directory,
// too large — a FIFO read as a stream), the header-section reader's limits,
// and the sinks: FdSink's errors and AtomicFileSink's all-or-nothing file.
#include "ribbon/io.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "support/process.hpp"

namespace ribbon {
namespace {

namespace fs = std::filesystem;

void expect_error(const Error& e, Errc code, ErrorKind kind, const std::string& message) {
    EXPECT_EQ(errc_name(e.code()), errc_name(code)) << e.message();
    EXPECT_EQ(error_kind_name(e.kind()), error_kind_name(kind)) << e.message();
    EXPECT_EQ(e.message(), message);
}

// A FIFO at `path` fed `data` by a thread (opening blocks until a reader
// comes, so the thread is joined after the read).
class Fifo {
  public:
    Fifo(fs::path path, std::string data) : m_path(std::move(path)) {
        if (::mkfifo(m_path.c_str(), 0600) != 0) throw std::runtime_error("mkfifo");
        m_writer = std::thread([this, data = std::move(data)] {
            int fd = ::open(m_path.c_str(), O_WRONLY);
            if (fd < 0) return;
            std::size_t off = 0;
            while (off < data.size()) {
                ssize_t n = ::write(fd, data.data() + off, data.size() - off);
                if (n <= 0) break;
                off += static_cast<std::size_t>(n);
            }
            ::close(fd);
        });
    }
    ~Fifo() { m_writer.join(); }
    const fs::path& path() const { return m_path; }

  private:
    fs::path m_path;
    std::thread m_writer;
};

// ---- MessageInput ---------------------------------------------------------------

TEST(Io, MessageInputDescribesItsSource) {
    const std::string bytes = "Subject: s\r\n\r\n";
    MessageInput memory = MessageInput::from_memory(bytes);
    EXPECT_EQ(memory.source(), MessageInput::Source::memory);
    EXPECT_EQ(memory.bytes(), bytes);
    EXPECT_EQ(memory.describe(), "<memory>");
    MessageInput file = MessageInput::from_file("/var/mail/x.eml");
    EXPECT_EQ(file.source(), MessageInput::Source::file);
    EXPECT_EQ(file.describe(), "/var/mail/x.eml");
    EXPECT_EQ(MessageInput::from_fd(0).describe(), "<stdin>");
    MessageInput fd = MessageInput::from_fd(7, "Sub");
    EXPECT_EQ(fd.describe(), "<fd 7>");
    EXPECT_EQ(fd.fd(), 7);
    EXPECT_EQ(fd.bytes(), "Sub");
}

TEST(Io, MessageInputMaximumDefaultsAndCopies) {
    MessageInput in = MessageInput::from_memory("x");
    EXPECT_EQ(in.max_size(), kDefaultMaxMessageSize);
    EXPECT_EQ(kDefaultMaxMessageSize, 256ull * 1024 * 1024);
    MessageInput small = in.with_max_size(10);
    EXPECT_EQ(small.max_size(), 10u);
    EXPECT_EQ(in.max_size(), kDefaultMaxMessageSize);  // a copy, not a change
    EXPECT_EQ(small.bytes(), "x");
    // io.hpp: 5× and 1 MiB bound what a message becomes when signed.
    static_assert(max_signed_size(0) == 1024 * 1024);
    EXPECT_EQ(max_signed_size(100), 500u + 1024 * 1024);
    expect_error(message_too_large(42), Errc::limit_exceeded, ErrorKind::permanent,
                 "the message is larger than the maximum message size (42 bytes)");
}

// ---- reading files --------------------------------------------------------------

TEST(Io, ReadSmallFileReadsWholeFilesAndFifos) {
    test::TempDir dir("ribbon-io");
    test::write_file(dir / "a.pem", std::string("a\0b", 3));
    auto r = read_small_file(dir / "a.pem", "certificate file");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, std::string("a\0b", 3));
    Fifo fifo(dir / "fifo", "from a pipe");
    auto f = read_small_file(fifo.path(), "password file");
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ(*f, "from a pipe");
}

TEST(Io, ReadSmallFileRefusals) {
    test::TempDir dir("ribbon-io");
    expect_error(read_small_file(dir / "none", "key file").error(), Errc::io_error,
                 ErrorKind::permanent,
                 "cannot read key file " + (dir / "none").string() + ": No such file or directory");
    expect_error(read_small_file(dir.path(), "key file").error(), Errc::io_error,
                 ErrorKind::permanent,
                 "cannot read key file " + dir.path().string() + ": it is a directory");
    test::write_file(dir / "big", std::string(kMaxSmallFile + 1, 'x'));
    expect_error(
        read_small_file(dir / "big", "chain file").error(), Errc::io_error, ErrorKind::permanent,
        "cannot read chain file " + (dir / "big").string() + ": it is larger than 16777216 bytes");
    test::write_file(dir / "fits", std::string(kMaxSmallFile, 'x'));
    auto fits = read_small_file(dir / "fits", "chain file");
    ASSERT_TRUE(fits.ok());
    EXPECT_EQ(fits->size(), kMaxSmallFile);
    // An endless stream stops at the bound.
    auto zero = read_small_file("/dev/zero", "key file");
    ASSERT_FALSE(zero.ok());
    EXPECT_EQ(zero.error().message(),
              "cannot read key file /dev/zero: it is larger than 16777216 bytes");
}

TEST(Io, OpenMessageFileSaysWhatItOpened) {
    test::TempDir dir("ribbon-io");
    test::write_file(dir / "m.eml", "12345");
    auto regular = open_message_file(dir / "m.eml");
    ASSERT_TRUE(regular.ok());
    EXPECT_TRUE(regular->regular);
    EXPECT_EQ(regular->size, 5u);
    EXPECT_GE(regular->fd, 0);
    ::close(regular->fd);
    ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
    int keep_open =
        ::open((dir / "fifo").c_str(), O_RDWR);  // so opening for reading does not block
    auto fifo = open_message_file(dir / "fifo");
    ASSERT_TRUE(fifo.ok());
    EXPECT_FALSE(fifo->regular);
    EXPECT_EQ(fifo->size, 0u);
    ::close(fifo->fd);
    ::close(keep_open);
    expect_error(open_message_file(dir / "none").error(), Errc::io_error, ErrorKind::permanent,
                 "cannot open " + (dir / "none").string() + ": No such file or directory");
    expect_error(open_message_file(dir.path()).error(), Errc::io_error, ErrorKind::permanent,
                 dir.path().string() + " is a directory, not a message");
}

TEST(Io, ReadMessageFileStopsAtTheMaximum) {
    test::TempDir dir("ribbon-io");
    test::write_file(dir / "m.eml", std::string(100, 'm'));
    auto exact = read_message_file(dir / "m.eml", 100);
    ASSERT_TRUE(exact.ok());
    EXPECT_EQ(exact->size(), 100u);
    expect_error(read_message_file(dir / "m.eml", 99).error(), Errc::limit_exceeded,
                 ErrorKind::permanent,
                 "the message is larger than the maximum message size (99 bytes)");
    Fifo fifo(dir / "fifo", std::string(100, 'p'));
    expect_error(read_message_file(fifo.path(), 99).error(), Errc::limit_exceeded,
                 ErrorKind::permanent,
                 "the message is larger than the maximum message size (99 bytes)");
    expect_error(read_message_file(dir / "none", 99).error(), Errc::io_error, ErrorKind::permanent,
                 "cannot open " + (dir / "none").string() + ": No such file or directory");
}

// ---- the header section of a stream ---------------------------------------------

Result<MessageHead> head_of(const std::string& data, std::size_t limit = kMaxHeaderSection) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    std::thread writer([&] {
        std::size_t off = 0;
        while (off < data.size()) {
            ssize_t n = ::write(fds[1], data.data() + off, data.size() - off);
            if (n <= 0) break;
            off += static_cast<std::size_t>(n);
        }
        ::close(fds[1]);
    });
    auto r = read_message_head(fds[0], limit);
    ::close(fds[0]);
    writer.join();
    return r;
}

TEST(Io, ReadMessageHeadEndsAtTheEmptyLine) {
    auto crlf = head_of("From: a\r\nTo: b\r\n\r\nbody");
    ASSERT_TRUE(crlf.ok());
    EXPECT_EQ(crlf->header(), "From: a\r\nTo: b\r\n\r\n");
    EXPECT_EQ(crlf->bytes, "From: a\r\nTo: b\r\n\r\nbody");  // the rest of the read comes along
    auto lf = head_of("From: a\n\nbody");
    ASSERT_TRUE(lf.ok());
    EXPECT_EQ(lf->header(), "From: a\n\n");
    auto first = head_of("\r\nbody");
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->header(), "\r\n");
    // No body: the whole input is the header section (RFC 5322 §3.5).
    auto headers_only = head_of("From: a\r\n");
    ASSERT_TRUE(headers_only.ok());
    EXPECT_EQ(headers_only->header(), "From: a\r\n");
}

TEST(Io, ReadMessageHeadRefusesAHeaderSectionOverTheLimit) {
    const std::string m = "From: a\r\nSubject: " + std::string(100, 's') + "\r\n\r\nbody";
    auto ok = head_of(m, m.find("body"));
    ASSERT_TRUE(ok.ok());
    auto r = head_of(m, m.find("body") - 1);
    ASSERT_FALSE(r.ok());
    expect_error(r.error(), Errc::limit_exceeded, ErrorKind::permanent,
                 "the header section is longer than " + std::to_string(m.find("body") - 1) +
                     " bytes (no empty line ends it)");
}

// ---- sinks ----------------------------------------------------------------------

TEST(Io, FdSinkWritesEverythingOrSaysWhy) {
    test::TempDir dir("ribbon-io");
    int fd = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    FdSink sink(fd);
    ASSERT_TRUE(sink.write("one ").ok());
    ASSERT_TRUE(sink.write(std::string(200000, 'x')).ok());
    ::close(fd);
    EXPECT_EQ(test::read_file(dir / "out"), "one " + std::string(200000, 'x'));
    int ro = ::open((dir / "out").c_str(), O_RDONLY);
    FdSink read_only(ro);
    auto r = read_only.write("x");
    ::close(ro);
    ASSERT_FALSE(r.ok());
    expect_error(r.error(), Errc::io_error, ErrorKind::transient,
                 "cannot write output: Bad file descriptor");
    EXPECT_FALSE(read_only.discards_uncommitted());
}

TEST(Io, AtomicFileSinkShowsAllOrNothing) {
    test::TempDir dir("ribbon-io");
    const fs::path target = dir / "signed.eml";
    test::write_file(target, "old");
    {
        auto sink = AtomicFileSink::create(target);
        ASSERT_TRUE(sink.ok());
        EXPECT_TRUE(sink->discards_uncommitted());
        ASSERT_TRUE(sink->write("new ").ok());
        ASSERT_TRUE(sink->write("content").ok());
        EXPECT_EQ(test::read_file(target), "old");  // readers see the old file until commit
        ASSERT_TRUE(sink->commit().ok());
    }
    EXPECT_EQ(test::read_file(target), "new content");
    {
        // Not committed: the target keeps its content, no temporary stays.
        auto sink = AtomicFileSink::create(target);
        ASSERT_TRUE(sink.ok());
        ASSERT_TRUE(sink->write("half").ok());
        AtomicFileSink moved(std::move(*sink));  // the moved-from one owns nothing
        ASSERT_TRUE(moved.write(" written").ok());
    }
    EXPECT_EQ(test::read_file(target), "new content");
    int entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
    EXPECT_EQ(entries, 1);
}

TEST(Io, AtomicFileSinkInAMissingDirectoryIsPermanent) {
    test::TempDir dir("ribbon-io");
    const fs::path target = dir / "missing" / "out.eml";
    auto sink = AtomicFileSink::create(target);
    ASSERT_FALSE(sink.ok());
    EXPECT_EQ(sink.error().code(), Errc::io_error);
    EXPECT_EQ(sink.error().kind(), ErrorKind::permanent);
    const std::string& m = sink.error().message();
    EXPECT_EQ(m.rfind("cannot create " + target.string() + ".tmp.", 0), 0u) << m;
    EXPECT_EQ(m.substr(m.size() - 27), ": No such file or directory") << m;
}

TEST(Io, StringSinkCollects) {
    StringSink sink;
    ASSERT_TRUE(sink.write("a").ok());
    ASSERT_TRUE(sink.write("").ok());
    ASSERT_TRUE(sink.write("bc").ok());
    EXPECT_EQ(sink.str(), "abc");
    EXPECT_EQ(sink.take(), "abc");
}

}  // namespace
}  // namespace ribbon
