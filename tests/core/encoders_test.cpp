// Unit tests of src/core/encoders.hpp, checked against another
// implementation: GMime's decoders undo ribbon's quoted-printable and base64
// (the reference is another implementation, so the tests do not share the
// encoder's bugs), and OpenSSL's one-shot SHA-256 checks the
// HashingWriter. Each property is also checked with the input fed in random
// chunk sizes, since the signer feeds whatever GMime's stream returns.
#include "core/encoders.hpp"

#include <gmime/gmime.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace ribbon::enc {
namespace {

// Splits `s` at CRLF; asserts there is no bare CR or LF. A final line
// without CRLF is returned too.
std::vector<std::string> crlf_lines(const std::string& s) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < s.size()) {
        std::size_t end = s.find("\r\n", start);
        std::string line = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
        EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << "bare CR or LF in: " << line;
        lines.push_back(line);
        if (end == std::string::npos) break;
        start = end + 2;
    }
    return lines;
}

std::string gmime_decode(GMimeContentEncoding encoding, const std::string& in) {
    GMimeEncoding state;
    g_mime_encoding_init_decode(&state, encoding);
    std::string out(g_mime_encoding_outlen(&state, in.size()) + 16, '\0');
    std::size_t n = g_mime_encoding_step(&state, in.data(), in.size(), out.data());
    n += g_mime_encoding_flush(&state, "", 0, out.data() + n);
    out.resize(n);
    return out;
}

// What the QP encoder promises to preserve: the octets, with every bare LF
// turned into CRLF (a bare CR is data and stays).
std::string crlf_normalised(const std::string& in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) out.push_back('\r');
        out.push_back(in[i]);
    }
    return out;
}

// Feeds `in` to an encoder in chunks of random size (0 = all at once).
template <class Encoder>
std::string encode(const std::string& in, std::mt19937& rng, std::size_t max_chunk) {
    StringSink sink;
    HashingWriter writer(nullptr, sink);
    Encoder encoder;
    std::size_t pos = 0;
    while (pos < in.size()) {
        std::size_t take = max_chunk == 0 ? in.size() : 1 + rng() % max_chunk;
        take = std::min(take, in.size() - pos);
        encoder.feed(std::string_view(in).substr(pos, take), writer);
        pos += take;
    }
    encoder.finish(writer);
    EXPECT_TRUE(writer.finish().ok());
    return sink.take();
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
}

// Text-like random input: mostly printable, with the characters the QP
// rules care about over-represented.
std::string random_text(std::mt19937& rng, std::size_t n) {
    static const std::string kSpecial[] = {" ",  "\t",       "\r\n", "\n",   "\r",
                                           "=",  ".",        "From ",  "\xC3\xA9", std::string(1, '\0'),
                                           "  \r\n", "\t\n", ".\r\n"};
    std::string s;
    while (s.size() < n) {
        if (rng() % 4 == 0) {
            s += kSpecial[rng() % std::size(kSpecial)];
        } else {
            s.push_back(static_cast<char>('!' + rng() % 94));
        }
    }
    return s;
}

void expect_qp_line_rules(const std::string& encoded, const std::string& what) {
    for (const std::string& line : crlf_lines(encoded)) {
        SCOPED_TRACE(what + ", line: \"" + line + "\"");
        EXPECT_LE(line.size(), kMaxLine);
        for (unsigned char c : line) {
            EXPECT_TRUE(c == '\t' || (c >= 0x20 && c <= 0x7E)) << "octet " << int(c);
        }
        if (!line.empty()) {
            EXPECT_NE(line.back(), ' ') << "trailing space";
            EXPECT_NE(line.back(), '\t') << "trailing tab";
        }
        EXPECT_NE(line.rfind("From ", 0), 0u) << "line starts with From ";
        EXPECT_NE(line, ".");
    }
}

void check_qp(const std::string& input, const std::string& what) {
    std::mt19937 rng(static_cast<unsigned>(input.size()) * 7919u + 1);
    const std::string expected = crlf_normalised(input);
    const std::string whole = encode<QpEncoder>(input, rng, 0);
    expect_qp_line_rules(whole, what + " (one feed)");
    EXPECT_EQ(gmime_decode(GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE, whole), expected) << what;
    for (std::size_t max_chunk : {1u, 2u, 5u, 7u, 64u, 1000u}) {
        const std::string chunked = encode<QpEncoder>(input, rng, max_chunk);
        // The chunking must not change the output at all.
        EXPECT_EQ(chunked, whole) << what << ", chunks up to " << max_chunk;
    }
}

TEST(EncodersQp, EdgeCases) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"plain", "Hello, world.\r\nSecond line.\r\n"},
        {"LF only", "one\ntwo\n\nthree"},
        {"bare CR", "one\rtwo\r\rthree\r"},
        {"CR CR LF", "a\r\r\nb"},
        {"trailing space", "text   \r\nmore \nend "},
        {"trailing tab", "text\t\r\nmore\t\nend\t"},
        {"space before CR at end", "x \r"},
        {"From at start", "From me\r\nFrom you\nFrom"},
        {"From not at start", "Mail From here"},
        {"lone dot", ".\r\n.\n.."},
        {"dot at end", "a\r\n."},
        {"equals", "a=b==\r\n=\n=3D"},
        {"8-bit", "Gr\xC3\xBC\xC3\x9F" "e \xFF\x80"},
        {"controls", std::string("a\0b\x01\x1B\x7F", 6)},
        {"long line", std::string(500, 'x')},
        {"long line of spaces", std::string(300, ' ')},
        {"long line of equals", std::string(200, '=')},
        {"long line of dots", std::string(200, '.')},
        {"From after soft break", std::string(75, 'x') + "From here" + std::string(70, 'y') + "From "},
        {"dot after soft break", std::string(75, 'x') + "." + std::string(74, 'y') + ".\r\n"},
        {"space at column 75", std::string(74, 'x') + " y"},
        {"space at column 75 then EOL", std::string(74, 'x') + " \r\n"},
        {"escape straddling the limit", std::string(73, 'x') + "=\xFF" + std::string(3, 'z')},
        {"From with 8-bit", "From \xC3\xA9t\xC3\xA9"},
    };
    for (const auto& [name, input] : cases) check_qp(input, name);
}

TEST(EncodersQp, RandomText) {
    std::mt19937 rng(20240501);
    for (int i = 0; i < 300; ++i) {
        check_qp(random_text(rng, rng() % 2000), "random text #" + std::to_string(i));
    }
}

TEST(EncodersQp, RandomBytes) {
    std::mt19937 rng(42);
    for (int i = 0; i < 100; ++i) {
        check_qp(random_bytes(rng, rng() % 3000), "random bytes #" + std::to_string(i));
    }
}

TEST(EncodersBase64, LinesAndRoundTrip) {
    std::mt19937 rng(7);
    std::vector<std::size_t> sizes = {0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 57 * 1024, 57 * 1025 + 1,
                                      300000};
    for (int i = 0; i < 60; ++i) sizes.push_back(rng() % 5000);
    for (std::size_t n : sizes) {
        SCOPED_TRACE("size " + std::to_string(n));
        const std::string input = random_bytes(rng, n);
        const std::string whole = encode<Base64Encoder>(input, rng, 0);
        // encode_lines() is the unhashed path for the signature part: the
        // same format.
        EXPECT_EQ(Base64Encoder::encode_lines(input), whole);
        if (n > 0) {
            ASSERT_GE(whole.size(), 2u);
            EXPECT_EQ(whole.substr(whole.size() - 2), "\r\n") << "last line not terminated";
        } else {
            EXPECT_EQ(whole, "");
        }
        const std::vector<std::string> lines = crlf_lines(whole);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (i + 1 < lines.size()) {
                ASSERT_EQ(lines[i].size(), kMaxLine) << "line " << i;
            } else {
                ASSERT_LE(lines[i].size(), kMaxLine);
                ASSERT_EQ(lines[i].size() % 4, 0u);
            }
            ASSERT_EQ(lines[i].find_first_not_of(
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
                      std::string::npos);
        }
        EXPECT_EQ(gmime_decode(GMIME_CONTENT_ENCODING_BASE64, whole), input);
        for (std::size_t max_chunk : {1u, 3u, 56u, 57u, 1000u, 70000u}) {
            if (n > 20000 && max_chunk < 56) continue;  // slow and adds nothing
            EXPECT_EQ(encode<Base64Encoder>(input, rng, max_chunk), whole) << "chunks up to " << max_chunk;
        }
    }
}

std::string without_crlf(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s.compare(i, 2, "\r\n") == 0) {
            ++i;
            continue;
        }
        out.push_back(s[i]);
    }
    return out;
}

void check_folding(const std::string& name, const std::string& value, bool fits) {
    SCOPED_TRACE(name + ": " + value);
    const std::string folded = fold_header(name, value);
    ASSERT_GE(folded.size(), 2u);
    EXPECT_EQ(folded.substr(folded.size() - 2), "\r\n");
    // RFC 5322 §2.2.3: unfolding is removing CRLF, and gives the field back.
    EXPECT_EQ(without_crlf(folded), name + ": " + value);
    const std::vector<std::string> lines = crlf_lines(folded.substr(0, folded.size() - 2));
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (fits) {
            EXPECT_LE(lines[i].size(), kMaxLine) << "line " << i;
        }
        if (i > 0) {
            ASSERT_FALSE(lines[i].empty());
            EXPECT_TRUE(lines[i][0] == ' ' || lines[i][0] == '\t') << "continuation without WSP";
        }
    }
}

TEST(EncodersFoldHeader, BreakableValuesFitAndUnfoldExactly) {
    std::mt19937 rng(99);
    const std::vector<std::string> names = {"Subject", "To", "X-Mailer", "Content-Type",
                                            "X-A-Rather-Long-Header-Field-Name"};
    for (int i = 0; i < 500; ++i) {
        const std::string& name = names[rng() % names.size()];
        std::string value;
        std::size_t words = 1 + rng() % 40;
        for (std::size_t w = 0; w < words; ++w) {
            if (w > 0) value.push_back(rng() % 5 == 0 ? '\t' : ' ');
            std::size_t len = 1 + rng() % 30;
            for (std::size_t k = 0; k < len; ++k) value.push_back(static_cast<char>('!' + rng() % 94));
        }
        check_folding(name, value, true);
    }
}

TEST(EncodersFoldHeader, ShortValueIsOneLine) {
    EXPECT_EQ(fold_header("Subject", "Your statement"), "Subject: Your statement\r\n");
}

// Joins pieces; keeps GCC 12's -Wrestrict false positive on
// `"literal" + std::string` out of the build log.
std::string cat(std::initializer_list<std::string> pieces) {
    std::string out;
    for (const auto& p : pieces) out += p;
    return out;
}

TEST(EncodersFoldHeader, UnbreakableTokensStillUnfoldExactly) {
    check_folding("Message-ID", cat({"<", std::string(120, 'a'), "@bank.example>"}), false);
    check_folding("References",
                  cat({"<", std::string(90, 'a'), "@x> <", std::string(90, 'b'), "@y>"}), false);
    check_folding("Subject", cat({"short ", std::string(100, 'c'), " tail words here"}), false);
}

// Writes `data` through a HashingWriter in pieces of every path: single
// characters, small strings, and strings larger than the internal buffer.
void write_in_pieces(HashingWriter& writer, const std::string& data, std::mt19937& rng) {
    std::size_t pos = 0;
    while (pos < data.size()) {
        switch (rng() % 3) {
            case 0:
                writer.put(data[pos]);
                ++pos;
                break;
            case 1: {
                std::size_t take = std::min<std::size_t>(1 + rng() % 5000, data.size() - pos);
                writer.put(std::string_view(data).substr(pos, take));
                pos += take;
                break;
            }
            default: {
                std::size_t take = std::min<std::size_t>(200000 + rng() % 200000, data.size() - pos);
                writer.put(std::string_view(data).substr(pos, take));
                pos += take;
                break;
            }
        }
    }
}

TEST(EncodersHashingWriter, DigestIsSha256OfTheBytesWritten) {
    std::mt19937 rng(5);
    for (std::size_t n : {0u, 1u, 1000u, 262144u, 262145u, 1500000u}) {
        SCOPED_TRACE("size " + std::to_string(n));
        const std::string data = random_bytes(rng, n);
        StringSink sink;
        std::array<unsigned char, 32> digest{};
        {
            HashingWriter writer(EVP_sha256(), sink);
            write_in_pieces(writer, data, rng);
            EXPECT_EQ(writer.bytes_written(), n);
            ASSERT_TRUE(writer.finish(digest).ok());
        }
        std::array<unsigned char, 32> expected{};
        SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), expected.data());
        EXPECT_EQ(digest, expected);
        EXPECT_EQ(sink.str(), data) << "the sink must receive exactly the hashed bytes";
    }
}

// A sink that fails after `limit` bytes, like a full disk.
class FailingSink final : public Sink {
public:
    explicit FailingSink(std::size_t limit) : m_limit(limit) {}
    Result<void> write(std::string_view bytes) override {
        if (m_seen + bytes.size() > m_limit) return transient_error(Errc::io_error, "disk full");
        m_seen += bytes.size();
        return {};
    }

private:
    std::size_t m_limit;
    std::size_t m_seen = 0;
};

TEST(EncodersHashingWriter, SinkErrorIsReportedByFinish) {
    std::mt19937 rng(6);
    const std::string data = random_bytes(rng, 600000);
    FailingSink sink(100000);
    HashingWriter writer(EVP_sha256(), sink);
    write_in_pieces(writer, data, rng);
    std::array<unsigned char, 32> digest{};
    Result<void> r = writer.finish(digest);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().kind(), ErrorKind::transient);
}

TEST(EncodersHashingWriter, WithoutDigestOnlyBuffers) {
    StringSink sink;
    HashingWriter writer(nullptr, sink);
    writer.put("abc");
    writer.put('d');
    EXPECT_TRUE(writer.finish().ok());
    EXPECT_EQ(sink.str(), "abcd");
    std::array<unsigned char, 32> digest{};
    Result<void> r = writer.finish(digest);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::internal_error);
}

// Past one buffer (kFlushAt) the writer hashes on a second thread through a
// ring of HashPipeline::kBufferSize buffers. Sizes at and around each
// handover, and one that goes round the ring several times, must still give
// the one-shot SHA-256 of exactly the bytes the sink received.
TEST(EncodersHashingWriter, PipelinedDigestAtBufferBoundaries) {
    std::mt19937 rng(7);
    constexpr std::size_t first = HashingWriter::kFlushAt;
    constexpr std::size_t ring = HashPipeline::kBufferSize;
    for (std::size_t n : {first - 1, first, first + 1, first + ring - 1, first + ring, first + ring + 1,
                          first + 2 * ring, first + 9 * ring + 12345}) {
        SCOPED_TRACE("size " + std::to_string(n));
        const std::string data = random_bytes(rng, n);
        StringSink sink;
        std::array<unsigned char, 32> digest{};
        {
            HashingWriter writer(EVP_sha256(), sink);
            write_in_pieces(writer, data, rng);
            ASSERT_TRUE(writer.finish(digest).ok());
        }
        std::array<unsigned char, 32> expected{};
        SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), expected.data());
        EXPECT_EQ(digest, expected);
        EXPECT_TRUE(sink.str() == data) << "the sink must receive exactly the hashed bytes";
    }
}

// A holding writer keeps output that fits one buffer for held() and gives
// the sink nothing; one byte more and everything goes to the sink.
TEST(EncodersHashingWriter, HoldKeepsWhatFitsOneBuffer) {
    std::mt19937 rng(8);
    for (std::size_t n : {std::size_t{0}, std::size_t{3000}, HashingWriter::kFlushAt, HashingWriter::kFlushAt + 1}) {
        SCOPED_TRACE("size " + std::to_string(n));
        const std::string data = random_bytes(rng, n);
        StringSink sink;
        HashingWriter writer(EVP_sha256(), sink, true);
        write_in_pieces(writer, data, rng);
        std::array<unsigned char, 32> digest{};
        ASSERT_TRUE(writer.finish(digest).ok());
        std::array<unsigned char, 32> expected{};
        SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), expected.data());
        EXPECT_EQ(digest, expected);
        if (n <= HashingWriter::kFlushAt) {
            ASSERT_TRUE(writer.held().has_value());
            EXPECT_TRUE(*writer.held() == data);
            EXPECT_EQ(sink.str(), "");
        } else {
            EXPECT_FALSE(writer.held().has_value());
            EXPECT_TRUE(sink.str() == data);
        }
    }
}

// LF -> CRLF across every kind of seam at once: the copier's input chunks,
// the writer's first buffer and the pipeline's buffers. A CR LF whose CR
// ends one input chunk (and one output buffer) must not gain a CR; a bare
// LF starting a chunk must.
TEST(EncodersCrlfCopier, SeamsAtBufferBoundaries) {
    constexpr std::size_t first = HashingWriter::kFlushAt;
    constexpr std::size_t ring = HashPipeline::kBufferSize;
    for (std::size_t seam : {first - 1, first, first + ring - 1, first + ring}) {
        for (const char* line_end : {"\r\n", "\n"}) {
            SCOPED_TRACE("seam " + std::to_string(seam) + (line_end[0] == '\r' ? " CRLF" : " LF"));
            // The line end's CR (written or added) sits at output offset
            // `seam`; bare LFs before it each gain a CR.
            std::string in;
            std::size_t out_len = 0;
            while (out_len < seam) {
                if (in.size() % 78 == 77 && out_len + 2 <= seam) {
                    in += '\n';
                    out_len += 2;
                } else {
                    in += 'a';
                    out_len += 1;
                }
            }
            const bool crlf = std::string_view(line_end).size() == 2;
            // The input splits just after the CR, or just before the bare LF.
            const std::size_t cut = in.size() + (crlf ? 1 : 0);
            in += line_end;
            in += std::string(2 * ring, 'b');
            in += "\nend\r\n";
            StringSink sink;
            std::array<unsigned char, 32> digest{};
            {
                HashingWriter writer(EVP_sha256(), sink);
                CrlfCopier copier;
                copier.feed(std::string_view(in).substr(0, cut), writer);
                copier.feed(std::string_view(in).substr(cut), writer);
                ASSERT_TRUE(writer.finish(digest).ok());
            }
            const std::string expected = crlf_normalised(in);
            ASSERT_EQ(sink.str().size(), expected.size());
            EXPECT_TRUE(sink.str() == expected);
            EXPECT_EQ(sink.str().substr(seam, 2), "\r\n");
            std::array<unsigned char, 32> sha{};
            SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), sha.data());
            EXPECT_EQ(digest, sha);
        }
    }
}

// A sink that fails while the hasher runs: finish() reports the sink's own
// error, and nothing is written after the failure.
TEST(EncodersHashingWriter, SinkErrorMidPipeline) {
    std::mt19937 rng(9);
    const std::string data = random_bytes(rng, HashingWriter::kFlushAt + 6 * HashPipeline::kBufferSize);
    class CountingFailingSink final : public Sink {
    public:
        Result<void> write(std::string_view bytes) override {
            ++m_writes;
            if (m_failed || m_seen + bytes.size() > 2 * HashPipeline::kBufferSize) {
                if (m_failed) ++m_after_failure;
                m_failed = true;
                return transient_error(Errc::io_error, "disk full");
            }
            m_seen += bytes.size();
            return {};
        }
        int m_writes = 0;
        int m_after_failure = 0;
        bool m_failed = false;
        std::size_t m_seen = 0;
    } sink;
    HashingWriter writer(EVP_sha256(), sink);
    write_in_pieces(writer, data, rng);
    std::array<unsigned char, 32> digest{};
    Result<void> r = writer.finish(digest);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().kind(), ErrorKind::transient);
    EXPECT_EQ(r.error().message(), "disk full");
    EXPECT_TRUE(sink.m_failed);
    EXPECT_EQ(sink.m_after_failure, 0);
}

// A writer given up before finish() (an error elsewhere) stops its hasher.
TEST(EncodersHashingWriter, AbandonedPipelineStops) {
    std::mt19937 rng(10);
    const std::string data = random_bytes(rng, HashingWriter::kFlushAt + 3 * HashPipeline::kBufferSize);
    for (int i = 0; i < 20; ++i) {
        StringSink sink;
        HashingWriter writer(EVP_sha256(), sink);
        writer.put(data);
    }
    SUCCEED();  // the test would hang or crash (sanitizers: leak) otherwise
}

}  // namespace
}  // namespace ribbon::enc
