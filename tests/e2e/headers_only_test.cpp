// A message of header fields only (issue 13, item 10c). RFC 5322 §3.5:
// "the body ... is optional", and the empty line that separates it goes
// with it, so a message may end right after its last header field's line
// end. ribbon signs it with an empty body (openssl verifies the result) and
// `ribbon verify` judges it as the message it is; a message cut off inside
// a header line (no line end) is still refused as truncated.
#include <gtest/gtest.h>

#include <string>

#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/sign.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

constexpr int kRefused = 65;

std::string fields(const std::string& eol) {
    return "From: Bank <no-reply@bank.example>" + eol + "To: alice@customer.example" + eol +
           "Subject: Your password was changed" + eol + "Message-ID: <headers-only@bank.example>" + eol;
}

void expect_signed_with_empty_body(const std::string& input, bool opaque) {
    SignOptions so;
    so.opaque = opaque;
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(input, so, out));
    VerifyResult v = verify_openssl(out);
    ASSERT_TRUE(v.ok) << v.details;
    // The signed part: its header section (Content-Type and the protected
    // copies), the empty line, and no body.
    EXPECT_EQ(v.content.find("\r\n\r\n"), v.content.size() - 4) << v.content;
    EXPECT_NE(v.content.find("Content-Type: text/plain"), std::string::npos) << v.content;
    VerifyResult r = verify_ribbon(out);
    EXPECT_TRUE(r.ok) << r.details;
}

TEST(HeadersOnly, SignedWithoutTheEmptyLineCrlf) {
    expect_signed_with_empty_body(fields("\r\n"), false);
    expect_signed_with_empty_body(fields("\r\n"), true);
}

TEST(HeadersOnly, SignedWithoutTheEmptyLineLf) { expect_signed_with_empty_body(fields("\n"), false); }

TEST(HeadersOnly, FromAFileAsWellAsStdin) {
    TempDir tmp("ribbon-headers-only");
    write_file(tmp / "m.eml", fields("\r\n"));
    SignOptions so;
    so.extra.push_back((tmp / "m.eml").string());
    ProcessResult r = ribbon_sign("", so);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    VerifyResult v = verify_openssl(r.out);
    EXPECT_TRUE(v.ok) << v.details;
}

TEST(HeadersOnly, VerifyCallsItNotSigned) {
    ProcessResult r = run_process({ribbon_binary(), "verify", "--ca", pki().root_cert.string()}, fields("\r\n"));
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_EQ(r.err, "");
}

TEST(HeadersOnly, ALineCutOffIsStillTruncated) {
    // Inside a field body: GMime's truncation warning stands.
    ProcessResult r = ribbon_sign(fields("\r\n") + "Date: Mon, 13 Nov 20");
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, "ribbon sign: <stdin>: malformed MIME: the message is truncated [malformed_message]\n");
    EXPECT_EQ(r.out, "");
    // Inside a field name, where GMime finds no header section at all.
    r = ribbon_sign(fields("\r\n") + "Dat");
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err,
              "ribbon sign: <stdin>: malformed MIME: the message is truncated (it ends inside its header "
              "section, in the middle of a line) [malformed_message]\n");
    r = run_process({ribbon_binary(), "verify"}, fields("\r\n") + "Date: Mon, 13 Nov 20");
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    EXPECT_EQ(r.err, "ribbon verify: <stdin>: malformed MIME: the message is truncated [malformed_message]\n");
}

TEST(HeadersOnly, AMultipartWithoutItsBodyIsStillTruncated) {
    // The header section may end the message, but a multipart needs parts.
    ProcessResult r = ribbon_sign(fields("\r\n") + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n");
    EXPECT_EQ(r.exit_code, kRefused) << r.describe();
    EXPECT_EQ(r.err, "ribbon sign: <stdin>: malformed MIME: the message is truncated [malformed_message]\n");
}

}  // namespace
}  // namespace ribbon::test
