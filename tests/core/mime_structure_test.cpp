// Differential tests of the structure scanner (src/core/mime_structure.cpp):
// whenever it describes a multipart message, the signed entity written from
// its description must be byte for byte the one written from GMime's tree
// of the same message (load_top_level(..., scanners = false)), and GMime
// must find nothing to refuse in it. Inputs: hand-written edge cases, the
// test messages and the corpus of other implementations' mail, thousands
// of generated variations (line ends, nesting, preambles and epilogues,
// long lines, 8-bit, trailing white space, "From " lines, missing close
// delimiters, boundary look-alikes, empty parts), and a mapped file over
// 1 MiB. The cases the scanner must accept are asserted too, so a scanner
// that declined everything would fail here.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/canonical.hpp"
#include "core/mime_parse.hpp"
#include "ribbon/io.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::mime {
namespace {

enum class Route { scanner, declined };

std::string field_list(const HeaderFields& fields) {
    std::string out;
    for (const HeaderField& f : fields) out.append(f.name).append("|").append(f.raw_value).append("\n");
    return out;
}

// The signed entity of `top`, or the error text.
std::string entity_of(const TopLevel& top, bool header_protection) {
    canon::Options options;
    options.header_protection = header_protection;
    options.protected_headers = header_protection ? "Subject: copied\r\n" : "";
    StringSink sink;
    enc::HashingWriter writer(nullptr, sink);
    if (auto r = canon::write_signed_entity(top, options, writer); !r) {
        return "error " + std::to_string(static_cast<int>(r.error().code())) + ": " + r.error().message();
    }
    if (auto r = writer.finish(); !r) return "error: " + r.error().message();
    return sink.take();
}

// Compares both routes for one input; returns which route the scanners took.
Route compare(const MessageInput& in, const std::string& what) {
    auto fast = load_top_level(in, Limits{});
    auto gmime = load_top_level(in, Limits{}, false);
    EXPECT_EQ(fast.ok(), gmime.ok()) << what;
    if (!fast.ok() || !gmime.ok()) return Route::declined;
    if (fast->multipart() == nullptr) return Route::declined;
    EXPECT_TRUE(gmime->check_structure().ok())
        << what << ": the scanner accepted what GMime refuses: " << gmime->check_structure().error().message();
    EXPECT_EQ(field_list(fast->fields()), field_list(gmime->fields())) << what;
    for (bool hp : {true, false}) {
        std::string a = entity_of(*fast, hp);
        std::string b = entity_of(*gmime, hp);
        EXPECT_EQ(a, b) << what << " (header protection " << hp << ")";
    }
    return Route::scanner;
}

Route compare(const std::string& message) {
    return compare(MessageInput::from_memory(message), "message:\n" + message);
}

const std::string kHead = "From: a@bank.example\nSubject: s\nMIME-Version: 1.0\n";

TEST(MimeStructure, PlainMultipartsAreDescribedAsGMimeDoes) {
    const std::vector<std::string> accepted = {
        kHead + "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n",
        kHead + "Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\nContent-Type: text/plain\r\n"
                "\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                "aGVsbG8=\r\n--b--\r\nepilogue\r\n--b\r\n",
        // Mixed line ends around a delimiter (mime_parse.cpp corrects GMime's end).
        kHead + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nabc\r\n--b\r\n"
                "Content-Type: text/plain\r\n\r\nxyz\n--b--",
        // Nested, with a look-alike of each boundary in the content.
        kHead + "Content-Type: multipart/mixed;\n boundary=\"outer\"\n\n--outer\nContent-Type: multipart/alternative;"
                " boundary=inner\n\n--inner\nContent-Type: text/plain\n\n--innerx\n--outer-not\n--inner\n"
                "Content-Type: text/html\n\n<p>x</p>\n--inner--\nnested epilogue\n--outer\n"
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 \n--outer--\n",
        // Content that must be re-encoded: 8-bit, trailing space, "From ", long line, a lone dot.
        kHead + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nFrom me\n.\ntrail \n" +
            std::string(200, 'x') + "\n--b\nContent-Type: image/png\nContent-Transfer-Encoding: binary\n\n" +
            std::string("\x89PNG\0\r\x1a\n--b--\n", 14),
        // Unknown encoding, conforming; a part without a declared type.
        kHead + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: x-gzip64\n\nabc\n"
                "--b\nContent-Description: d\n\n\xe9t\xe9\n--b--\n",
    };
    for (const std::string& m : accepted) EXPECT_EQ(compare(m), Route::scanner) << m;
}

TEST(MimeStructure, WhatGMimeMayReadOtherwiseIsDeclined) {
    const std::string ct = "Content-Type: multipart/mixed; boundary=b\n\n";
    const std::vector<std::string> declined = {
        kHead + ct + "--b\nContent-Type: text/plain\n\nhi\n",                       // no close delimiter
        kHead + ct + "--b--\n",                                                      // no parts
        kHead + ct + "--b \nContent-Type: text/plain\n\nhi\n--b--\n",                // white space after it
        kHead + ct + "--b\nContent-Type: text/plain\n\nhi\n--b-- \n",
        kHead + ct + "--b\n\nno headers\n--b--\n",                                  // part without fields
        kHead + ct + "--b\nContent-Type: text/plain\n\n--b--\n",                     // empty content
        kHead + ct + "--b\nContent-Type: text/plain\n--b--\n",                       // headers run into it
        kHead + ct + "--b\nContent-Type: message/rfc822\n\nFrom: x\n\ny\n--b--\n",  // message/*
        kHead + "Content-Type: multipart/signed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
        kHead + "Content-Type: multipart/digest; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
        kHead + "Content-Type: multipart/mixed\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
        kHead + "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n"
                "--i\nContent-Type: text/plain\n\nx\n--o--\n",                       // parent's boundary inside
        kHead + ct + "--b\nContent-Type: text/plain\nContent-Type: text/html\n\nx\n--b--\n",  // conflict
        kHead + "Content-Type: text/plain\n\n--b\n",                                 // not a multipart
        // fuzz_sign: GMime converts an 8-bit value before reading the
        // boundary, so "b\xe5" is not the "b" the raw value's parse gives.
        kHead + "Content-Type: multipart/mixed; boundary=\"b\xe5\"\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
        kHead + ct + "--b\nContent-Type: text/plain; name=\"\xe5\"\n\nx\n--b--\n",
    };
    for (const std::string& m : declined) EXPECT_EQ(compare(m), Route::declined) << m;
}

// ---- generated variations ------------------------------------------------------

class Generator {
public:
    explicit Generator(unsigned seed) : m_rng(seed) {}

    std::string message() {
        m_eol = pick(3);
        std::string b = boundary();
        std::string m = line("From: a@bank.example") + line("Subject: s") + line("MIME-Version: 1.0");
        m += line("Content-Type: multipart/mixed; boundary=\"" + b + "\"") + line("");
        m += body(b, {b}, 0);
        if (pick(4) == 0) m += line("epilogue") + line("--" + b + (pick(2) ? "" : "--"));
        return m;
    }

private:
    unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(m_rng); }

    std::string eol() {
        switch (m_eol) {
            case 0: return "\n";
            case 1: return "\r\n";
            default: return pick(2) ? "\n" : "\r\n";
        }
    }
    std::string line(const std::string& s) { return s + eol(); }

    std::string boundary() {
        static const char* names[] = {"b", "=_part_1", "----=_NextPart_000", "a'()+_,-./:=?z", "B"};
        return names[pick(5)] + std::to_string(pick(3));
    }

    std::string body(const std::string& b, std::vector<std::string> stack, int depth) {
        std::string m;
        if (pick(3) == 0) m += content_lines(stack);  // preamble
        unsigned parts = pick(4);                     // 0: no parts at all
        for (unsigned i = 0; i < parts; ++i) {
            m += line("--" + b + (pick(30) == 0 ? " " : ""));
            if (depth < 2 && pick(4) == 0) {
                std::string inner = boundary() + "i" + std::to_string(depth);
                stack.push_back(inner);
                m += line("Content-Type: multipart/alternative; boundary=" + inner) + line("");
                m += body(inner, stack, depth + 1);
                stack.pop_back();
                if (pick(3) == 0) m += content_lines(stack);  // epilogue of the inner one
            } else {
                m += leaf_headers();
                if (pick(20) != 0) m += line("");
                if (pick(15) != 0) m += content_lines(stack);
            }
        }
        if (pick(12) != 0) m += line("--" + b + "--" + (pick(30) == 0 ? "\t" : ""));
        return m;
    }

    std::string leaf_headers() {
        static const char* types[] = {"text/plain", "text/plain; charset=utf-8", "text/html",
                                      "application/octet-stream", "image/png; name=\"a.png\"", ""};
        static const char* encodings[] = {"", "7bit", "8bit", "binary", "base64", "quoted-printable",
                                          "x-uuencode", "x-custom"};
        std::string h;
        std::string type = types[pick(6)];
        if (!type.empty()) h += line("Content-Type: " + type);
        std::string cte = encodings[pick(8)];
        if (!cte.empty()) h += line("Content-Transfer-Encoding: " + cte);
        if (pick(3) == 0) h += line("Content-Disposition: attachment; filename=\"f.bin\"");
        if (pick(4) == 0) h += line("Content-ID: <" + std::to_string(pick(100)) + "@x>");
        if (h.empty() && pick(2) == 0) h += line("Content-Description: folded") + line("  continued");
        return h;
    }

    std::string content_lines(const std::vector<std::string>& stack) {
        std::string m;
        unsigned n = 1 + pick(6);
        for (unsigned i = 0; i < n; ++i) {
            const std::string& b = stack[pick(static_cast<unsigned>(stack.size()))];
            switch (pick(14)) {
                case 0: m += line("From the bank"); break;
                case 1: m += line("."); break;
                case 2: m += line("trailing "); break;
                case 3: m += line("caf\xc3\xa9 \xe9"); break;
                case 4: m += line(std::string(70 + pick(20), 'y')); break;
                case 5: m += line("--" + b + "x"); break;
                case 6: m += line("--" + b + "--x"); break;
                case 7: m += line(""); break;
                case 8: m += line("bare\rcr"); break;
                case 9: m += line(std::string("nul\0here", 8)); break;
                case 10: m += line("--" + b + (pick(2) ? "\t" : "-- ")); break;
                case 11: m += line("aGVsbG8gd29ybGQ="); break;
                case 12: m += line("tab\tin\tline"); break;
                default: m += line("plain text"); break;
            }
        }
        if (pick(10) == 0) m += "no line end";
        return m;
    }

    std::mt19937 m_rng;
    unsigned m_eol = 0;
};

TEST(MimeStructure, GeneratedVariationsGiveGMimesBytes) {
    int scanner = 0;
    int declined = 0;
    for (unsigned seed = 0; seed < 3000; ++seed) {
        std::string m = Generator(seed).message();
        (compare(MessageInput::from_memory(m), "seed " + std::to_string(seed) + ":\n" + m) == Route::scanner
             ? scanner
             : declined)++;
        if (testing::Test::HasFailure()) break;
    }
    // Both kinds occur: the generator reaches the scanner's limits.
    EXPECT_GT(scanner, 500);
    EXPECT_GT(declined, 500);
}

TEST(MimeStructure, TestMessagesAndCorpusGiveGMimesBytes) {
    int files = 0;
    for (const char* sub : {"messages", "corpus"}) {
        const std::filesystem::path dir = test::source_dir() / "tests" / "data" / sub;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
            if (!entry.is_regular_file()) continue;
            std::ifstream f(entry.path(), std::ios::binary);
            std::stringstream ss;
            ss << f.rdbuf();
            std::string m = ss.str();
            compare(MessageInput::from_memory(m), entry.path().string());
            ++files;
        }
    }
    EXPECT_GT(files, 50);
}

TEST(MimeStructure, AMappedFileOverOneMebibyteGivesGMimesBytes) {
    std::string m = kHead + "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n"
                            "Your archive is attached.\n--b\nContent-Type: application/pdf\n"
                            "Content-Transfer-Encoding: base64\n\n";
    std::mt19937 rng(7);
    static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 40000; ++i) {
        for (int j = 0; j < 76; ++j) m += kB64[rng() % 64];
        m += '\n';
    }
    m += "--b--\n";
    test::TempDir dir("ribbon-structure");
    test::write_file(dir / "big.eml", m);
    auto top = load_top_level(MessageInput::from_file(dir / "big.eml"), Limits{});
    ASSERT_TRUE(top.ok());
    ASSERT_NE(top->multipart(), nullptr);
    ASSERT_EQ(top->multipart()->parts.size(), 2u);
    EXPECT_NE(top->multipart()->parts[1].leaf->mapping, nullptr);
    EXPECT_EQ(compare(MessageInput::from_file(dir / "big.eml"), "big.eml"), Route::scanner);
}

// The same file cut short by another process after it was mapped and
// scanned: the copy reads past the new end (SIGBUS), which the mapping
// turns into zeros and an io_error, never a crash or a signed message.
TEST(MimeStructure, AMappedFileCutShortWhileSignedIsAnErrorNotACrash) {
    std::string m = kHead + "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n"
                            "Your archive is attached.\n--b\nContent-Type: application/pdf\n"
                            "Content-Transfer-Encoding: base64\n\n";
    for (int i = 0; i < 40000; ++i) m += std::string(76, 'Q') + "\n";
    m += "--b--\n";
    test::TempDir dir("ribbon-structure");
    test::write_file(dir / "big.eml", m);
    auto top = load_top_level(MessageInput::from_file(dir / "big.eml"), Limits{});
    ASSERT_TRUE(top.ok());
    ASSERT_NE(top->mapping(), nullptr);
    EXPECT_FALSE(top->mapping()->damaged());
    ASSERT_EQ(::truncate((dir / "big.eml").c_str(), 64 * 1024), 0);
    EXPECT_EQ(entity_of(*top, false),
              "error " + std::to_string(static_cast<int>(Errc::io_error)) +
                  ": the message file was cut short while it was being signed");
    EXPECT_TRUE(top->mapping()->damaged());
}

// Outside a mapping, SIGBUS keeps its default action: the process dies of
// it (the handler must not swallow faults that are not ribbon's).
TEST(MimeStructureDeathTest, ABusErrorElsewhereStillKills) {
    test::TempDir dir("ribbon-structure");
    test::write_file(dir / "big.eml", kHead + "Content-Type: text/plain\n\n" + std::string(2 << 20, 'x'));
    auto top = load_top_level(MessageInput::from_file(dir / "big.eml"), Limits{});  // installs the handler
    ASSERT_TRUE(top.ok());
    EXPECT_EXIT(
        {
            const int fd = ::open((dir / "big.eml").c_str(), O_RDONLY);
            void* p = ::mmap(nullptr, 1 << 20, PROT_READ, MAP_PRIVATE, fd, 0);
            ::ftruncate(::open((dir / "big.eml").c_str(), O_WRONLY), 0);
            volatile char c = static_cast<const char*>(p)[4096];
            (void)c;
            std::exit(0);
        },
        ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace ribbon::mime
