// Hostile and broken input to the `ribbon` CLI: the exact exit code and
// error code for each, nothing on stdout, and no output file (nor a stray
// temporary file) after a refusal. Complements sign_refusal_test.cpp, which
// covers policy refusals; this file covers damaged and oversized messages.
//
// Exit codes: `ribbon sign` refuses a bad message with 65 (EX_DATAERR,
// src/cli/errors.cpp); `ribbon verify` exits 3 when the message or its
// signature object cannot be read or parsed (src/cli/verify_command.cpp,
// Verifier::verify in include/ribbon/verifier.hpp).
#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/sign.hpp"
#include "support/verifiers.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace ribbon::test {
namespace {
namespace fs = std::filesystem;

constexpr int kRefused = 65;
constexpr int kVerifyUnreadable = 3;

std::string headers() {
    return "From: Bank Example <no-reply@bank.example>\r\n"
           "To: Alice Customer <alice@customer.example>\r\n"
           "Subject: Your statement is ready\r\n"
           "Date: " + rfc5322_date(std::time(nullptr) - 60) + "\r\n"
           "Message-ID: <bad-input@bank.example>\r\n"
           "MIME-Version: 1.0\r\n";
}

std::string text_message(const std::string& body) {
    return headers() + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body;
}

// Deterministic, so a failure reproduces.
std::string random_binary(unsigned seed, std::size_t n) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
}

bool ends_with_code(const std::string& err, const std::string& code) {
    return err.ends_with(" [" + code + "]\n");
}

// `ribbon sign` must refuse `input` with exit 65 and one of `codes`, both
// from stdin to stdout and from a file to -o; nothing may be written.
void expect_sign_refusal(const std::string& input, const std::vector<std::string>& codes) {
    auto code_ok = [&](const ProcessResult& r) {
        for (const auto& c : codes) {
            if (ends_with_code(r.err, c)) return true;
        }
        return false;
    };
    {
        SCOPED_TRACE("stdin -> stdout");
        const ProcessResult r = ribbon_sign(input);
        EXPECT_EQ(r.exit_code, kRefused) << r.describe();
        EXPECT_TRUE(code_ok(r)) << "unexpected error: " << r.err;
        EXPECT_EQ(r.out.size(), 0u) << "stdout must be empty on error";
    }
    {
        SCOPED_TRACE("file -> -o file");
        TempDir tmp("ribbon-bad-input");
        const fs::path in = tmp / "in.eml";
        const fs::path out = tmp / "out.eml";
        write_file(in, input);
        SignOptions so;
        so.out = out;
        so.extra.push_back(in.string());
        const ProcessResult r = ribbon_sign("", so);
        EXPECT_EQ(r.exit_code, kRefused) << r.describe();
        EXPECT_TRUE(code_ok(r)) << "unexpected error: " << r.err;
        EXPECT_EQ(r.out.size(), 0u);
        EXPECT_FALSE(fs::exists(out)) << "-o file created on error";
        std::vector<std::string> left;
        for (const auto& e : fs::directory_iterator(tmp.path())) {
            if (e.path() != in) left.push_back(e.path().filename().string());
        }
        EXPECT_TRUE(left.empty()) << "left in the output directory: " << left.front();
    }
}

TEST(BadInputSign, TruncatedMultipart) {
    // The closing boundary never comes: the input was cut short.
    expect_sign_refusal(headers() +
                            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                            "--b1\r\nContent-Type: text/plain\r\n\r\nThe statement is attached.\r\n"
                            "--b1\r\nContent-Type: application/pdf\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n",
                        {"malformed_message"});
}

TEST(BadInputSign, MultipartWithoutBoundaryParameter) {
    expect_sign_refusal(headers() + "Content-Type: multipart/mixed\r\n\r\n"
                                    "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n",
                        {"malformed_message"});
}

TEST(BadInputSign, BoundaryThatNeverOccurs) {
    expect_sign_refusal(headers() + "Content-Type: multipart/mixed; boundary=\"not-used\"\r\n\r\n"
                                    "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n",
                        {"malformed_message"});
}

TEST(BadInputSign, TenThousandNestedMultiparts) {
    constexpr int kDepth = 10000;
    std::string m = headers() + "Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n";
    for (int i = 0; i < kDepth; ++i) {
        m += "--b" + std::to_string(i) + "\r\nContent-Type: multipart/mixed; boundary=\"b" +
             std::to_string(i + 1) + "\"\r\n\r\n";
    }
    const std::string inner = std::to_string(kDepth);
    m += "--b" + inner + "\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b" + inner + "--\r\n";
    for (int i = kDepth - 1; i >= 0; --i) m += "--b" + std::to_string(i) + "--\r\n";
    expect_sign_refusal(m, {"limit_exceeded"});
}

TEST(BadInputSign, TenMegabyteHeaderLine) {
    std::string m = headers() + "X-Padding: " + std::string(10 * 1024 * 1024, 'a') + "\r\n" +
                    "Content-Type: text/plain\r\n\r\nhello\r\n";
    expect_sign_refusal(m, {"limit_exceeded"});
}

TEST(BadInputSign, NulInHeaderSection) {
    std::string m = text_message("hello\r\n");
    const std::string subject = "Subject: Your statement";
    m.insert(m.find(subject) + subject.size(), 1, '\0');
    expect_sign_refusal(m, {"malformed_message"});
}

TEST(BadInputSign, RandomBinary) {
    // Either GMime finds no header section (malformed) or it finds one
    // without a From: both are refusals of the message, never a crash.
    expect_sign_refusal(random_binary(20240501, 64 * 1024), {"malformed_message", "no_from"});
}

TEST(BadInputSign, EmptyFile) { expect_sign_refusal("", {"empty_message"}); }

TEST(BadInputSign, NoFrom) {
    expect_sign_refusal(remove_header(text_message("hello\r\n"), "From"), {"no_from"});
}

TEST(BadInputSign, NulInTextBodyIsSignedAndKept) {
    // RFC 8551 §3.1: the signed part must be 7-bit text, so the NULs are
    // quoted-printable encoded (=00) rather than dropped or refused.
    using namespace std::string_literals;
    const std::string body = "before\0after\r\n\0\0\r\nend\r\n"s;
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(text_message(body), {}, out));
    const VerifyResult v = verify_openssl(out);
    ASSERT_TRUE(v.ok) << v.details;
    const mime::Entity signed_part = mime::parse_entity(v.content);
    EXPECT_EQ(mime::transfer_encoding_of(signed_part), "quoted-printable");
    EXPECT_EQ(mime::qp_decode(signed_part.body), body);
}

// ---- ribbon verify -------------------------------------------------------

ProcessResult run_ribbon_verify(const std::string& message) {
    TempDir tmp("ribbon-bad-verify");
    write_file(tmp / "in.eml", message);
    return run_process({ribbon_binary(), "verify", "--ca", pki().root_cert.string(),
                        (tmp / "in.eml").string()});
}

void expect_unreadable(const std::string& message, const std::string& code) {
    const ProcessResult r = run_ribbon_verify(message);
    EXPECT_EQ(r.exit_code, kVerifyUnreadable) << r.describe();
    EXPECT_TRUE(r.err.rfind("ribbon verify: ", 0) == 0 && ends_with_code(r.err, code))
        << "expected [" << code << "] in: " << r.err;
    EXPECT_EQ(r.out, "");
}

// `signed_message` (ribbon's multipart/signed) with the smime.p7s body
// replaced (kept when `new_body` is empty); empty if the message does not
// have that shape.
std::string with_signature_body(const std::string& signed_message, const std::string& new_body) {
    mime::Entity top = mime::parse_entity(signed_message);
    const std::string boundary = mime::content_type_of(top).param("boundary");
    auto parts = mime::split_multipart(top.body, boundary);
    if (!parts || parts->parts.size() != 2) return {};
    mime::Entity sig = mime::parse_entity(parts->parts[1]);
    if (!new_body.empty()) sig.body = new_body;  // empty: reassemble unchanged (the control)
    parts->parts[1] = sig.raw();
    top.body = parts->join();
    return top.raw();
}

TEST(BadInputVerify, EmptyFile) { expect_unreadable("", "empty_message"); }

TEST(BadInputVerify, RandomBinary) {
    // GMime finds no RFC 5322 header section in these bytes, so the message
    // cannot be parsed at all: 3, not 2 ("parsed, but not signed").
    expect_unreadable(random_binary(20240501, 64 * 1024), "malformed_message");
}

TEST(BadInputVerify, GarbageInSignaturePart) {
    std::string signed_message;
    ASSERT_NO_FATAL_FAILURE(sign_ok(text_message("Your statement is ready.\r\n"), {}, signed_message));
    const std::string m = with_signature_body(signed_message, "This is !!! not @@ a signature ###\r\n");
    ASSERT_FALSE(m.empty()) << "ribbon's output is not a two-part multipart/signed";
    expect_unreadable(m, "bad_signature_format");
}

TEST(BadInputVerify, SignatureThatIsNotDer) {
    // Valid base64, so only the CMS decoder can object.
    std::string signed_message;
    ASSERT_NO_FATAL_FAILURE(sign_ok(text_message("Your statement is ready.\r\n"), {}, signed_message));
    const std::string m = with_signature_body(
        signed_message, mime::base64_encode(random_binary(7, 1500), 76, "\r\n"));
    ASSERT_FALSE(m.empty()) << "ribbon's output is not a two-part multipart/signed";
    expect_unreadable(m, "bad_signature_format");
}

TEST(BadInputVerify, OversizedHeaderField) {
    // The verifier applies the signer's 64 KiB limit on one header field.
    std::string signed_message;
    ASSERT_NO_FATAL_FAILURE(sign_ok(text_message("Your statement is ready.\r\n"), {}, signed_message));
    expect_unreadable("X-Big: " + std::string(100 * 1024, 'a') + "\r\n" + signed_message,
                      "limit_exceeded");
    // Just under the limit is still a message to judge, not an error.
    const VerifyResult v =
        verify_ribbon("X-Big: " + std::string(60 * 1024, 'a') + "\r\n" + signed_message);
    EXPECT_TRUE(v.ok) << v.details;
}

TEST(BadInputVerify, SplicingAloneBreaksNothing) {
    // Control for the two tests above: taking the message apart and putting
    // it back together with the original signature still verifies.
    std::string signed_message;
    ASSERT_NO_FATAL_FAILURE(sign_ok(text_message("Your statement is ready.\r\n"), {}, signed_message));
    const std::string same = with_signature_body(signed_message, {});
    ASSERT_EQ(same, signed_message) << "the splice is not byte-exact";
    const VerifyResult v = verify_ribbon(same);
    EXPECT_TRUE(v.ok) << v.details;
}

}  // namespace
}  // namespace ribbon::test
