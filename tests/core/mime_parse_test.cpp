// Unit tests of src/core/mime_parse.hpp: reading a message once (memory, a
// file, a pipe, a descriptor part-read), GMime's parse of it, the parser's
// warnings turned into ribbon errors (check_structure), the scanner's route
// for a single part (describe_leaf, load_top_level) and the small helpers.
// Every refusal is asserted by its exact Errc, kind and message, since the
// front ends word replies and exit codes from them.
#include "core/mime_parse.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace ribbon::mime {
namespace {

using namespace std::string_literals;

void expect_error(const Error& e, Errc code, ErrorKind kind, const std::string& message) {
    EXPECT_EQ(errc_name(e.code()), errc_name(code)) << e.message();
    EXPECT_EQ(error_kind_name(e.kind()), error_kind_name(kind)) << e.message();
    EXPECT_EQ(e.message(), message);
}

template <class T>
void expect_error(const Result<T>& r, Errc code, ErrorKind kind, const std::string& message) {
    ASSERT_FALSE(r.ok()) << "expected: " << message;
    expect_error(r.error(), code, kind, message);
}

// The names of a header list, in order.
std::vector<std::string> names_of(const HeaderFields& fields) {
    std::vector<std::string> names;
    for (const auto& f : fields) names.emplace_back(f.name);
    return names;
}

// A pipe whose write end is fed `data` by a thread, then closed.
class Pipe {
  public:
    explicit Pipe(std::string data) : m_data(std::move(data)) {
        if (::pipe(m_fds) != 0) throw std::runtime_error("pipe");
        m_writer = std::thread([this] {
            std::size_t off = 0;
            while (off < m_data.size()) {
                ssize_t n = ::write(m_fds[1], m_data.data() + off, m_data.size() - off);
                if (n <= 0) break;  // the reader stopped early (EPIPE)
                off += static_cast<std::size_t>(n);
            }
            ::close(m_fds[1]);
        });
    }
    ~Pipe() {
        ::close(m_fds[0]);  // a writer blocked on a full pipe gets EPIPE
        m_writer.join();
    }
    int fd() const { return m_fds[0]; }

  private:
    std::string m_data;
    int m_fds[2] = {-1, -1};
    std::thread m_writer;
};

const std::string kPlain =
    "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: s\r\n"
    "Content-Type: text/plain\r\n\r\nHello\r\n";
const std::string kMultipart =
    "From: a@bank.example\r\nSubject: m\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b--\r\n";

// ---- reading the input ------------------------------------------------------

TEST(MimeParse, EmptyInputIsEmptyMessageFromEverySource) {
    const std::string message = "the message is empty";
    expect_error(parse_message(MessageInput::from_memory("")), Errc::empty_message,
                 ErrorKind::permanent, message);
    expect_error(load_top_level(MessageInput::from_memory(""), Limits{}), Errc::empty_message,
                 ErrorKind::permanent, message);
    test::TempDir dir("ribbon-mime");
    test::write_file(dir / "empty", "");
    expect_error(parse_message(MessageInput::from_file(dir / "empty")), Errc::empty_message,
                 ErrorKind::permanent, message);
    expect_error(load_top_level(MessageInput::from_file(dir / "empty"), Limits{}),
                 Errc::empty_message, ErrorKind::permanent, message);
    Pipe pipe("");
    expect_error(parse_message(MessageInput::from_fd(pipe.fd())), Errc::empty_message,
                 ErrorKind::permanent, message);
}

TEST(MimeParse, InputOverTheMaximumIsLimitExceededFromEverySource) {
    const std::string message = "the message is larger than the maximum message size (10 bytes)";
    const auto limited = [](MessageInput in) { return in.with_max_size(10); };
    expect_error(parse_message(limited(MessageInput::from_memory(kPlain))), Errc::limit_exceeded,
                 ErrorKind::permanent, message);
    test::TempDir dir("ribbon-mime");
    test::write_file(dir / "m.eml", kPlain);
    expect_error(parse_message(limited(MessageInput::from_file(dir / "m.eml"))),
                 Errc::limit_exceeded, ErrorKind::permanent, message);
    expect_error(load_top_level(limited(MessageInput::from_file(dir / "m.eml")), Limits{}),
                 Errc::limit_exceeded, ErrorKind::permanent, message);
    {
        Pipe pipe(kPlain);
        expect_error(parse_message(limited(MessageInput::from_fd(pipe.fd()))), Errc::limit_exceeded,
                     ErrorKind::permanent, message);
    }
    {
        // The bytes read before count too.
        Pipe pipe("");
        expect_error(parse_message(limited(MessageInput::from_fd(pipe.fd(), kPlain))),
                     Errc::limit_exceeded, ErrorKind::permanent, message);
    }
    // Exactly at the maximum is accepted.
    EXPECT_TRUE(parse_message(MessageInput::from_memory(kPlain).with_max_size(kPlain.size())).ok());
}

TEST(MimeParse, MissingFileAndDirectoryArePermanentIoErrors) {
    test::TempDir dir("ribbon-mime");
    const auto missing = dir / "missing.eml";
    expect_error(parse_message(MessageInput::from_file(missing)), Errc::io_error,
                 ErrorKind::permanent,
                 "cannot open " + missing.string() + ": No such file or directory");
    expect_error(parse_message(MessageInput::from_file(dir.path())), Errc::io_error,
                 ErrorKind::permanent, dir.path().string() + " is a directory, not a message");
    int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0);
    expect_error(parse_message(MessageInput::from_fd(fd)), Errc::io_error, ErrorKind::permanent,
                 "<fd " + std::to_string(fd) + "> is a directory, not a message");
    ::close(fd);
}

TEST(MimeParse, ThePipeIsReadWholeWithTheBytesReadBeforeFirst) {
    const std::string head = kPlain.substr(0, 20);
    Pipe pipe(kPlain.substr(20));
    auto parsed = parse_message(MessageInput::from_fd(pipe.fd(), head));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(read_stream(parsed->stream()), kPlain);
    EXPECT_TRUE(parsed->check_structure().ok());
}

TEST(MimeParse, ALargePipeIsSpooledToAnUnlinkedFile) {
    // Beyond 8 MiB a pipe is spooled to an O_TMPFILE file in $TMPDIR:
    // parsed in place, and nothing is left in the directory.
    test::TempDir tmp("ribbon-mime-spool");
    const char* old = std::getenv("TMPDIR");
    const std::string saved = old != nullptr ? old : "";
    ::setenv("TMPDIR", tmp.path().c_str(), 1);
    const std::string big =
        "Subject: big\r\nContent-Type: text/plain\r\n\r\n" + std::string(9 * 1024 * 1024, 'a');
    {
        Pipe pipe(big);
        auto parsed = parse_message(MessageInput::from_fd(pipe.fd()));
        ASSERT_TRUE(parsed.ok()) << parsed.error().message();
        EXPECT_EQ(read_stream(parsed->stream()).size(), big.size());
        EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
    }
    {
        // Over the maximum while spooling to the file: refused, and the
        // file went with its descriptor.
        Pipe pipe(big);
        expect_error(
            parse_message(MessageInput::from_fd(pipe.fd()).with_max_size(8 * 1024 * 1024 + 100)),
            Errc::limit_exceeded, ErrorKind::permanent,
            "the message is larger than the maximum message size (8388708 bytes)");
        EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
    }
    if (old != nullptr)
        ::setenv("TMPDIR", saved.c_str(), 1);
    else
        ::unsetenv("TMPDIR");
}

TEST(MimeParse, ADescriptorOfAFileIsParsedFromWhereTheBytesReadBeforeStarted) {
    test::TempDir dir("ribbon-mime");
    test::write_file(dir / "m", "JUNK" + kPlain);
    int fd = ::open((dir / "m").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    char junk[4];
    ASSERT_EQ(::read(fd, junk, 4), 4);
    std::string head(10, '\0');
    ASSERT_EQ(::read(fd, head.data(), head.size()), 10);
    auto parsed = parse_message(MessageInput::from_fd(fd, head));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(read_stream(parsed->stream()), kPlain);
    ::close(fd);
}

TEST(MimeParse, BytesThatDoNotPrecedeTheOffsetAreAnInternalError) {
    test::TempDir dir("ribbon-mime");
    test::write_file(dir / "m", kPlain);
    int fd = ::open((dir / "m").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    // Nothing was read from fd, yet 5 bytes are said to have been.
    expect_error(parse_message(MessageInput::from_fd(fd, "From:")), Errc::internal_error,
                 ErrorKind::internal,
                 "the bytes read from <fd " + std::to_string(fd) + "> do not precede its offset");
    ::close(fd);
}

// ---- what the parser accepts and refuses -----------------------------------

TEST(MimeParse, AHeaderSectionThatEndsMidLineIsTruncated) {
    // RFC 5322 §2.1: every line ends in CRLF; input that stops inside a
    // field name was cut off, and GMime gives up on it.
    expect_error(parse_message(MessageInput::from_memory("Subject: x\r\nFrom")),
                 Errc::malformed_message, ErrorKind::permanent,
                 "malformed MIME: the message is truncated (it ends inside its header section, in "
                 "the middle of a "
                 "line)");
    // Inside a field value GMime makes a message and warns.
    auto parsed = parse_message(MessageInput::from_memory("Subject: x\r\nFrom: a@b.example"));
    ASSERT_TRUE(parsed.ok());
    expect_error(parsed->check_structure(), Errc::malformed_message, ErrorKind::permanent,
                 "malformed MIME: the message is truncated");
}

TEST(MimeParse, InputWithoutAHeaderSectionIsRefused) {
    for (const std::string& m : {":no name\r\n\r\nbody"s, "Bad Name: x\r\n\r\nbody"s}) {
        for (ParseAs as : {ParseAs::message, ParseAs::entity}) {
            expect_error(parse_message(MessageInput::from_memory(m), as), Errc::malformed_message,
                         ErrorKind::permanent, "not an RFC 5322 message (no header section)");
        }
    }
}

TEST(MimeParse, AMessageWithoutBodyIsAccepted) {
    // RFC 5322 §3.5: the body is optional, and the empty line with it.
    for (const std::string& m :
         {"From: a@bank.example\r\nSubject: s\r\n"s, "From: a@bank.example\n"s}) {
        auto parsed = parse_message(MessageInput::from_memory(m));
        ASSERT_TRUE(parsed.ok()) << parsed.error().message();
        EXPECT_TRUE(parsed->check_structure().ok()) << parsed->check_structure().error().message();
    }
    // A multipart without a body to hold its parts is still truncated.
    auto parsed = parse_message(
        MessageInput::from_memory("Subject: s\r\nContent-Type: multipart/mixed; boundary=x\r\n"));
    ASSERT_TRUE(parsed.ok());
    expect_error(parsed->check_structure(), Errc::malformed_message, ErrorKind::permanent,
                 "malformed MIME: the message is truncated");
}

TEST(MimeParse, ANulInTheHeaderSectionIsRefusedAtItsOffset) {
    // RFC 5322 §2.2; GMime's C strings would silently cut the field short.
    for (ParseAs as : {ParseAs::message, ParseAs::entity}) {
        auto parsed =
            parse_message(MessageInput::from_memory("Subject: x\r\nFrom: a\0b\r\n\r\nbody"s), as);
        ASSERT_TRUE(parsed.ok());
        expect_error(parsed->check_structure(), Errc::malformed_message, ErrorKind::permanent,
                     "the header section contains a NUL byte at byte 19");
    }
    // In the body it is content, re-encoded when signed.
    auto body = parse_message(MessageInput::from_memory("Subject: x\r\n\r\na\0b"s));
    ASSERT_TRUE(body.ok());
    EXPECT_TRUE(body->check_structure().ok());
}

TEST(MimeParse, StructuralWarningsAreMalformedMessage) {
    struct Case {
        std::string message;
        std::string error;
    };
    const Case cases[] = {
        {"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nabc\r\n--x--\r\n",
         "malformed MIME: a multipart has no boundary parameter (mixed) at byte 0"},
        {"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nabc\r\n",
         "malformed MIME: the message is truncated"},
        {"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: "
         "text/plain\r\n--x--\r\n",
         "malformed MIME: a part's headers run into a boundary at byte 76"},
        {"From: a@b.example\r\nFrom: c@d.example\r\n\r\nx",
         "malformed MIME: conflicting headers (From) at byte 19"},
        {"Subject: a\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx",
         "malformed MIME: conflicting headers (Content-Type) at byte 38"},
        {"Content-Type: text/plain; charset=a; charset=b\r\n\r\nx",
         "malformed MIME: conflicting header parameters (charset) at byte 0"},
    };
    for (const Case& c : cases) {
        for (ParseAs as : {ParseAs::message, ParseAs::entity}) {
            auto parsed = parse_message(MessageInput::from_memory(c.message), as);
            ASSERT_TRUE(parsed.ok()) << c.message;
            expect_error(parsed->check_structure(), Errc::malformed_message, ErrorKind::permanent,
                         c.error);
        }
    }
}

TEST(MimeParse, RepeatsThatAreNotConflictsAreTolerated) {
    // Trace fields repeat by nature (RFC 5322 §3.6.7); the same Subject
    // twice leaves no doubt which one a reader shows.
    for (const std::string& m :
         {"Received: a\r\nReceived: b\r\nSubject: s\r\n\r\nx"s,
          "Subject: a\r\nSubject: a\r\n\r\nx"s, "X-Tag: 1\r\nX-Tag: 2\r\n\r\nx"s}) {
        for (ParseAs as : {ParseAs::message, ParseAs::entity}) {
            auto parsed = parse_message(MessageInput::from_memory(m), as);
            ASSERT_TRUE(parsed.ok());
            EXPECT_TRUE(parsed->check_structure().ok()) << m;
        }
    }
}

TEST(MimeParse, NestingBeyondGMimesLimitIsLimitExceeded) {
    auto nest = [](int depth) {
        std::string head;
        std::string tail;
        for (int i = 0; i < depth; ++i) {
            // Appended piece by piece: GCC 12 warns falsely on "x" + string.
            std::string b = "b";
            b += std::to_string(i);
            head += "Content-Type: multipart/mixed; boundary=\"";
            head += b;
            head += "\"\r\n\r\n--";
            head += b;
            head += "\r\n";
            std::string close = "\r\n--";
            close += b;
            close += "--\r\n";
            tail.insert(0, close);
        }
        return head + "\r\nx" + tail;
    };
    auto fine = parse_message(MessageInput::from_memory(nest(100)));
    ASSERT_TRUE(fine.ok());
    EXPECT_TRUE(fine->check_structure().ok());
    const std::string deep = nest(1100);
    auto parsed = parse_message(MessageInput::from_memory(deep));
    ASSERT_TRUE(parsed.ok());
    auto r = parsed->check_structure();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::limit_exceeded);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(
        r.error().message().rfind("malformed MIME: MIME parts are nested too deeply at byte ", 0),
        0u)
        << r.error().message();
}

// ---- message or entity ---------------------------------------------------------

TEST(MimeParse, AsMessageTheTopLevelFieldsAreTheMessages) {
    auto parsed = parse_message(MessageInput::from_memory(kMultipart), ParseAs::message);
    ASSERT_TRUE(parsed.ok());
    ASSERT_NE(parsed->message(), nullptr);
    EXPECT_EQ(parsed->header_owner(), GMIME_OBJECT(parsed->message()));
    ASSERT_TRUE(GMIME_IS_MULTIPART(parsed->top()));
    // The message's list holds the fields that are not Content-*; the
    // body part's the Content-* ones.
    EXPECT_EQ(names_of(fields_of(parsed->header_owner())),
              (std::vector<std::string>{"From", "Subject", "MIME-Version"}));
    EXPECT_EQ(names_of(fields_of(parsed->top())), (std::vector<std::string>{"Content-Type"}));
}

TEST(MimeParse, AsEntityOneObjectHoldsEveryTopLevelField) {
    auto parsed = parse_message(MessageInput::from_memory(kMultipart), ParseAs::entity);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->message(), nullptr);
    EXPECT_EQ(parsed->header_owner(), parsed->top());
    ASSERT_TRUE(GMIME_IS_MULTIPART(parsed->top()));
    EXPECT_EQ(names_of(fields_of(parsed->top())),
              (std::vector<std::string>{"From", "Subject", "MIME-Version", "Content-Type"}));
    EXPECT_EQ(g_mime_multipart_get_count(GMIME_MULTIPART(parsed->top())), 1);
}

TEST(MimeParse, TheStreamIsTheExactInput) {
    auto from_memory = parse_message(MessageInput::from_memory(kMultipart));
    ASSERT_TRUE(from_memory.ok());
    EXPECT_EQ(read_stream(from_memory->stream()), kMultipart);
    // Read twice: read_stream() starts from the beginning.
    EXPECT_EQ(read_stream(from_memory->stream()), kMultipart);
    test::TempDir dir("ribbon-mime");
    test::write_file(dir / "m.eml", kMultipart);
    auto from_file = parse_message(MessageInput::from_file(dir / "m.eml"));
    ASSERT_TRUE(from_file.ok());
    EXPECT_EQ(read_stream(from_file->stream()), kMultipart);
}

// ---- the top level to sign -----------------------------------------------------

TEST(MimeParse, ASinglePartInMemoryTakesTheScannersRoute) {
    auto top = load_top_level(MessageInput::from_memory(kPlain), Limits{});
    ASSERT_TRUE(top.ok());
    ASSERT_NE(top->leaf(), nullptr);
    EXPECT_EQ(top->tree(), nullptr);
    EXPECT_EQ(names_of(top->fields()),
              (std::vector<std::string>{"From", "To", "Subject", "Content-Type"}));
    EXPECT_EQ(top->leaf()->bytes, "Hello\r\n");
    EXPECT_TRUE(top->leaf()->in_memory);
    EXPECT_TRUE(top->leaf()->declared_type);
    EXPECT_TRUE(top->leaf()->is_text);
    EXPECT_TRUE(top->check_structure().ok());
}

TEST(MimeParse, AMultipartTakesTheStructureScannersRouteWithEveryTopLevelField) {
    auto top = load_top_level(MessageInput::from_memory(kMultipart), Limits{});
    ASSERT_TRUE(top.ok());
    EXPECT_EQ(top->leaf(), nullptr);
    EXPECT_EQ(top->tree(), nullptr);
    ASSERT_NE(top->multipart(), nullptr);
    EXPECT_EQ(top->multipart()->boundary, "b");
    ASSERT_EQ(top->multipart()->parts.size(), 1u);
    ASSERT_TRUE(top->multipart()->parts[0].leaf.has_value());
    EXPECT_EQ(top->multipart()->parts[0].leaf->bytes, "one");
    EXPECT_EQ(names_of(top->fields()),
              (std::vector<std::string>{"From", "Subject", "MIME-Version", "Content-Type"}));
    EXPECT_TRUE(top->check_structure().ok());
}

TEST(MimeParse, AMultipartTakesGMimesRouteWhenAskedWithEveryTopLevelField) {
    auto top = load_top_level(MessageInput::from_memory(kMultipart), Limits{}, false);
    ASSERT_TRUE(top.ok());
    EXPECT_EQ(top->leaf(), nullptr);
    EXPECT_EQ(top->multipart(), nullptr);
    ASSERT_NE(top->tree(), nullptr);
    EXPECT_TRUE(GMIME_IS_MULTIPART(top->tree()));
    EXPECT_EQ(names_of(top->fields()),
              (std::vector<std::string>{"From", "Subject", "MIME-Version", "Content-Type"}));
    EXPECT_TRUE(top->check_structure().ok());
}

TEST(MimeParse, OnGMimesRouteTheStructureIsChecked) {
    // Conflicting fields are GMime's to judge: the scanner declines.
    const std::string m = "From: a@b.example\r\nFrom: c@d.example\r\n\r\nx";
    auto top = load_top_level(MessageInput::from_memory(m), Limits{});
    ASSERT_TRUE(top.ok());
    EXPECT_EQ(top->leaf(), nullptr);
    expect_error(top->check_structure(), Errc::malformed_message, ErrorKind::permanent,
                 "malformed MIME: conflicting headers (From) at byte 19");
}

TEST(MimeParse, SmallFilesAreReadLargeOnesMappedAndDeclinedOnesParsedInPlace) {
    test::TempDir dir("ribbon-mime");
    test::write_file(dir / "small.eml", kPlain);
    auto small = load_top_level(MessageInput::from_file(dir / "small.eml"), Limits{});
    ASSERT_TRUE(small.ok());
    ASSERT_NE(small->leaf(), nullptr);
    EXPECT_EQ(small->leaf()->bytes, "Hello\r\n");
    EXPECT_EQ(small->leaf()->mapping, nullptr);
    // Over 1 MiB: mapped, still the scanner's route.
    const std::string big = kPlain + std::string(1024 * 1024, 'a');
    test::write_file(dir / "big.eml", big);
    auto large = load_top_level(MessageInput::from_file(dir / "big.eml"), Limits{});
    ASSERT_TRUE(large.ok());
    ASSERT_NE(large->leaf(), nullptr);
    EXPECT_NE(large->leaf()->mapping, nullptr);
    EXPECT_EQ(large->leaf()->bytes, "Hello\r\n" + std::string(1024 * 1024, 'a'));
    // A large file the scanners decline is unmapped and GMime parses it in
    // place; the content is a stream.
    const std::string conflicting = "From: a@b.example\r\nFrom: c@d.example\r\n\r\n" + std::string(1024 * 1024, 'a');
    test::write_file(dir / "declined.eml", conflicting);
    auto declined = load_top_level(MessageInput::from_file(dir / "declined.eml"), Limits{});
    ASSERT_TRUE(declined.ok());
    EXPECT_EQ(declined->leaf(), nullptr);
    ASSERT_NE(declined->tree(), nullptr);
    ASSERT_TRUE(GMIME_IS_PART(declined->tree()));
    LeafPart leaf = leaf_of(GMIME_PART(declined->tree()));
    EXPECT_FALSE(leaf.in_memory);
    ASSERT_NE(leaf.stream, nullptr);
    EXPECT_EQ(read_stream(leaf.stream), std::string(1024 * 1024, 'a'));
}

// ---- the scanner's route on its own -----------------------------------------

TEST(MimeParse, DescribeLeafReadsTheContentFields) {
    struct Case {
        std::string head;
        GMimeContentEncoding encoding;
        bool declared_type;
        bool is_text;
    };
    const Case cases[] = {
        {"Subject: s\r\n", GMIME_CONTENT_ENCODING_DEFAULT, false, true},  // RFC 2045 §5.2
        {"Content-Type: text/html; charset=utf-8\r\n", GMIME_CONTENT_ENCODING_DEFAULT, true, true},
        {"Content-Type: TEXT/Plain\r\nContent-Transfer-Encoding: Quoted-Printable\r\n",
         GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE, true, true},
        {"Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
         "Content-Disposition: attachment; filename=\"a.pdf\"\r\n",
         GMIME_CONTENT_ENCODING_BASE64, true, false},
        {"Content-Transfer-Encoding:\r\n 8bit\r\n", GMIME_CONTENT_ENCODING_8BIT, false, true},
        {"Content-Type: text/plain\r\nContent-Type: text/plain\r\n", GMIME_CONTENT_ENCODING_DEFAULT,
         true, true},
    };
    for (const Case& c : cases) {
        const std::string m = c.head + "\r\nbody\r\n";
        auto leaf = describe_leaf(m, Limits{});
        ASSERT_TRUE(leaf.has_value()) << c.head;
        EXPECT_EQ(leaf->encoding, c.encoding) << c.head;
        EXPECT_EQ(leaf->declared_type, c.declared_type) << c.head;
        EXPECT_EQ(leaf->is_text, c.is_text) << c.head;
        EXPECT_EQ(leaf->bytes, "body\r\n") << c.head;
        EXPECT_TRUE(leaf->in_memory);
        EXPECT_EQ(leaf->stream, nullptr);
    }
}

TEST(MimeParse, DescribeLeafLeavesToGMimeWhatItCannotReadExactly) {
    Limits limits;
    limits.max_header_count = 3;
    const std::string cases[] = {
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
        "Content-Type:  Multipart/Alternative; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
        "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n",
        "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIIB\r\n",
        "Content-Type: application/x-pkcs7-mime\r\n\r\nMIIB\r\n",
        "Content-Type: text/plain; charset=a; charset=b\r\n\r\nx\r\n",  // GMime warns
        "Content-Disposition: attachment; filename=a; filename=b\r\n\r\nx\r\n",
        "Content-Transfer-Encoding: base64 (comment)\r\n\r\nx\r\n",  // not a bare token
        "Subject: a\r\nSubject: b\r\n\r\nx\r\n",                     // conflicting
        "Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx\r\n",
        "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nx\r\n",  // over max_header_count
        "Subject: no end of the header section\r\n",
        "Subject: x\r\nnot a field\r\n\r\nx\r\n",
    };
    for (const std::string& m : cases) EXPECT_FALSE(describe_leaf(m, limits).has_value()) << m;
    // At the field limit it still reads the message.
    EXPECT_TRUE(describe_leaf("A: 1\r\nB: 2\r\nC: 3\r\n\r\nx\r\n", limits).has_value());
}

// ---- helpers ---------------------------------------------------------------------

TEST(MimeParse, ParseEntityNeedsAHeaderSection) {
    expect_error(parse_entity(""), Errc::malformed_message, ErrorKind::permanent,
                 "not a MIME entity");
    expect_error(parse_entity("no colon here"), Errc::malformed_message, ErrorKind::permanent,
                 "not a MIME entity");
    auto entity = parse_entity("Content-Type: application/octet-stream\r\n\r\nabc");
    ASSERT_TRUE(entity.ok());
    ASSERT_TRUE(GMIME_IS_PART(entity->get()));
}

TEST(MimeParse, LeafOfAndDecodedContent) {
    struct Case {
        std::string entity;
        GMimeContentEncoding encoding;
        std::string decoded;
    };
    const Case cases[] = {
        {"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
         "base64\r\n\r\nYWJj\r\n",
         GMIME_CONTENT_ENCODING_BASE64, "abc"},
        {"Content-Type: text/plain\r\nContent-Transfer-Encoding: "
         "quoted-printable\r\n\r\na=3Db=\r\nc\r\n",
         GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE, "a=bc\r\n"},
        {"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
         "begin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n",
         GMIME_CONTENT_ENCODING_UUENCODE, "abc"},
        {"Content-Type: text/plain\r\n\r\nas is\r\n", GMIME_CONTENT_ENCODING_DEFAULT, "as is\r\n"},
    };
    for (const Case& c : cases) {
        auto entity = parse_entity(c.entity);
        ASSERT_TRUE(entity.ok());
        ASSERT_TRUE(GMIME_IS_PART(entity->get()));
        LeafPart leaf = leaf_of(GMIME_PART(entity->get()));
        EXPECT_EQ(leaf.encoding, c.encoding) << c.entity;
        EXPECT_TRUE(leaf.declared_type);
        EXPECT_FALSE(leaf.in_memory);
        ASSERT_NE(leaf.stream, nullptr);
        EXPECT_EQ(read_stream(leaf.stream), c.entity.substr(c.entity.find("\r\n\r\n") + 4));
        EXPECT_EQ(decoded_content(GMIME_PART(entity->get())), c.decoded) << c.entity;
    }
    auto octets = parse_entity("Content-Type: image/png\r\n\r\n\x89PNG");
    ASSERT_TRUE(octets.ok());
    EXPECT_FALSE(leaf_of(GMIME_PART(octets->get())).is_text);
}

TEST(MimeParse, SmimeFormOfAParsedContentType) {
    ensure_gmime();
    struct Case {
        const char* value;
        SmimeForm form;
    };
    const Case cases[] = {
        {"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=x",
         SmimeForm::signed_detached},
        {"application/pkcs7-mime; smime-type=signed-data", SmimeForm::signed_opaque},
        {"application/x-pkcs7-mime; smime-type=\"Enveloped-Data\"", SmimeForm::sealed},
        {"application/pkcs7-mime; smime-type=authEnveloped-data", SmimeForm::sealed},
        {"application/pkcs7-mime; smime-type=compressed-data", SmimeForm::compressed},
        {"application/pkcs7-mime; smime-type=certs-only", SmimeForm::certs_only},
        {"application/pkcs7-mime; name=smime.p7m", SmimeForm::untyped},
        {"application/pkcs7-mime; smime-type=receipt", SmimeForm::other},
        {"multipart/mixed; boundary=x", SmimeForm::none},
        {"application/pkcs7-signature", SmimeForm::none},
    };
    for (const Case& c : cases) {
        GPtr<GMimeContentType> type(g_mime_content_type_parse(nullptr, c.value));
        EXPECT_EQ(smime_form_of(type.get()), c.form) << c.value;
    }
    EXPECT_EQ(smime_form_of(nullptr), SmimeForm::none);
}

}  // namespace
}  // namespace ribbon::mime
