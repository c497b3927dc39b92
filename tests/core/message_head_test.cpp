// read_message_head() and MessageInput::from_fd(fd, already_read): how
// `ribbon sign --keystore` without --id reads a message from a pipe — the
// header section first (bounded), to pick the Digital ID by From, then the
// rest streamed into the signer — and that nothing is lost or repeated
// between the two, from a pipe or from a regular file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "ribbon/io.hpp"
#include "ribbon/signer.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

// A pipe whose writer sends `pieces` one by one, pausing between them so
// that the reader sees them in separate reads, then closes.
class PipeFeed {
  public:
    explicit PipeFeed(std::vector<std::string> pieces) {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        m_read = fds[0];
        m_writer = std::thread([w = fds[1], pieces = std::move(pieces)] {
            for (const auto& p : pieces) {
                std::size_t done = 0;
                while (done < p.size()) {
                    ssize_t n = ::write(w, p.data() + done, p.size() - done);
                    if (n <= 0) break;
                    done += static_cast<std::size_t>(n);
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            ::close(w);
        });
    }
    ~PipeFeed() {
        ::close(m_read);  // a writer blocked on a full pipe gets EPIPE
        m_writer.join();
    }
    int fd() const { return m_read; }

  private:
    int m_read = -1;
    std::thread m_writer;
};

// Everything left to read on `fd`.
std::string rest_of(int fd) {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

const std::string kHeader =
    "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: statement\r\n\r\n";

TEST(MessageHead, EndsAtTheEmptyLineEvenWhenItIsSplitAcrossReads) {
    // The empty line's CR LF CR LF arrives in three reads.
    PipeFeed feed(
        {kHeader.substr(0, kHeader.size() - 3), "\n\r", "\nbody line 1\r\n", "body line 2\r\n"});
    auto head = read_message_head(feed.fd());
    ASSERT_TRUE(head.ok()) << head.error().message();
    EXPECT_EQ(head->header(), kHeader);
    EXPECT_EQ(head->header_size, kHeader.size());
    // What came with the header and what is still in the pipe are the
    // message, each byte once.
    EXPECT_EQ(head->bytes + rest_of(feed.fd()), kHeader + "body line 1\r\nbody line 2\r\n");
}

TEST(MessageHead, BareLfNoBodyAndNoHeaderFields) {
    {
        PipeFeed feed({"From: a@bank.example\nSubject: x\n\nbody\n"});
        auto head = read_message_head(feed.fd());
        ASSERT_TRUE(head.ok()) << head.error().message();
        EXPECT_EQ(head->header(), "From: a@bank.example\nSubject: x\n\n");
    }
    {
        // A message that ends with its header section.
        PipeFeed feed({"From: a@bank.example\r\nSubject: x\r\n"});
        auto head = read_message_head(feed.fd());
        ASSERT_TRUE(head.ok()) << head.error().message();
        EXPECT_EQ(head->header(), "From: a@bank.example\r\nSubject: x\r\n");
        EXPECT_EQ(head->bytes, head->header());
    }
    {
        // No header fields: the first line is the empty one.
        PipeFeed feed({"\r\nbody\r\n"});
        auto head = read_message_head(feed.fd());
        ASSERT_TRUE(head.ok()) << head.error().message();
        EXPECT_EQ(head->header(), "\r\n");
    }
}

TEST(MessageHead, AHeaderSectionOverTheLimitIsRefused) {
    const std::string fits = "From: a@bank.example\r\nX-Pad: 01234567890123456789\r\n\r\n";
    ASSERT_EQ(fits.size(), 53u);
    {
        PipeFeed feed({fits + "body\r\n"});
        auto head = read_message_head(feed.fd(), 53);
        ASSERT_TRUE(head.ok()) << head.error().message();
        EXPECT_EQ(head->header(), fits);
    }
    {
        PipeFeed feed({fits + "body\r\n"});
        auto head = read_message_head(feed.fd(), 52);
        ASSERT_FALSE(head.ok());
        EXPECT_EQ(head.error().code(), Errc::limit_exceeded);
        EXPECT_EQ(head.error().kind(), ErrorKind::permanent);
        EXPECT_EQ(head.error().message(),
                  "the header section is longer than 52 bytes (no empty line ends it)");
    }
}

// The signer reads the head from memory and the rest from the descriptor:
// the signed content is the whole message, as openssl extracts it.
void expect_signs_whole(int fd, const std::string& body) {
    auto head = read_message_head(fd);
    ASSERT_TRUE(head.ok()) << head.error().message();
    auto from = from_address(MessageInput::from_memory(head->header()));
    ASSERT_TRUE(from.ok()) << from.error().message();
    EXPECT_EQ(*from, "no-reply@bank.example");

    auto id = DigitalId::load(pki().ecdsa.key, pki().ecdsa.cert, pki().chain);
    ASSERT_TRUE(id.ok()) << id.error().message();
    auto signer = Signer::create(*id);
    ASSERT_TRUE(signer.ok()) << signer.error().message();
    StringSink out;
    auto r = signer->sign(MessageInput::from_fd(fd, head->bytes), out);
    ASSERT_TRUE(r.ok()) << r.error().message();
    VerifyResult v = verify_openssl(out.str());
    ASSERT_TRUE(v.ok) << v.details;
    EXPECT_TRUE(v.content.ends_with("\r\n\r\n" + body)) << v.content.size();
}

std::string body_of_lines(int lines) {
    std::string body;
    for (int i = 0; i < lines; ++i) body += "line " + std::to_string(i) + " of the statement\r\n";
    return body;
}

TEST(MessageHead, SignerReadsTheHeadThenTheRestOfAPipe) {
    const std::string body = body_of_lines(20000);  // ~500 KB: many reads
    PipeFeed feed({kHeader + body.substr(0, 100), body.substr(100)});
    expect_signs_whole(feed.fd(), body);
}

TEST(MessageHead, SignerReadsARegularFileInPlaceFromWhereTheHeadBegan) {
    TempDir tmp("ribbon-head");
    const std::string body = body_of_lines(20000);
    // Something before the message: the head starts at the offset, not 0.
    write_file(tmp / "msg", "not part of it" + kHeader + body);
    int fd = ::open((tmp / "msg").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::lseek(fd, 14, SEEK_SET), 14);
    expect_signs_whole(fd, body);
    ::close(fd);
}

}  // namespace
}  // namespace ribbon::test
