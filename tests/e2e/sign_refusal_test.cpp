// What `ribbon sign` must refuse, and how: exact exit code, one stderr line
// "ribbon sign: <input>: <message> [<code>]", nothing on stdout, and no
// -o file.
#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/sign.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace ribbon::test {
namespace {
namespace fs = std::filesystem;

constexpr int kRefused = 65;
constexpr int kNoInput = 66;
constexpr int kCantCreate = 73;
constexpr int kDigitalIdUnusable = 78;

// The stderr contract: exactly one line, prefix, code in brackets at the end.
void expect_error_line(const ProcessResult& r, const std::string& code,
                       const std::string& input_name = {}) {
    const std::string& e = r.err;
    ASSERT_FALSE(e.empty()) << "no error message";
    EXPECT_TRUE(e.ends_with("\n")) << "error line not terminated: " << e;
    const std::string line = e.ends_with("\n") ? e.substr(0, e.size() - 1) : e;
    EXPECT_EQ(line.find('\n'), std::string::npos) << "more than one stderr line:\n" << e;
    EXPECT_EQ(line.rfind("ribbon sign: ", 0), 0u) << e;
    EXPECT_TRUE(line.ends_with(" [" + code + "]")) << "expected code [" << code << "] in: " << e;
    if (!input_name.empty()) {
        EXPECT_EQ(line.rfind("ribbon sign: " + input_name + ": ", 0), 0u)
            << "input not named: " << e;
    }
}

// Runs the refusal twice: stdin -> stdout, and file -> -o file. Errors about
// the message name the input file; errors about the Digital ID (exit 78)
// name the key or certificate file at fault instead.
void expect_refusal(const std::string& input, SignOptions so, int exit_code,
                    const std::string& code, const std::vector<std::string>& mentions = {},
                    const std::string& named_file = {}) {
    {
        SCOPED_TRACE("stdin -> stdout");
        const ProcessResult r = ribbon_sign(input, so);
        EXPECT_EQ(r.exit_code, exit_code) << r.describe();
        EXPECT_EQ(r.out, "") << "stdout must be empty on error (" << r.out.size() << " bytes)";
        EXPECT_NO_FATAL_FAILURE(expect_error_line(r, code));
        for (const auto& m : mentions)
            EXPECT_NE(r.err.find(m), std::string::npos) << "error does not mention " << m << ": "
                                                       << r.err;
    }
    {
        SCOPED_TRACE("file -> -o file");
        TempDir tmp("ribbon-refuse");
        const fs::path in = tmp / "in.eml";
        const fs::path out = tmp / "out.eml";
        write_file(in, input);
        so.out = out;
        so.extra.push_back(in.string());
        const ProcessResult r = ribbon_sign("", so);
        EXPECT_EQ(r.exit_code, exit_code) << r.describe();
        EXPECT_EQ(r.out, "");
        EXPECT_FALSE(fs::exists(out)) << "-o file created on error";
        EXPECT_NO_FATAL_FAILURE(
            expect_error_line(r, code, named_file.empty() ? in.string() : named_file));
        // No temporary files left next to the output either.
        size_t entries = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path())) ++entries;
        EXPECT_EQ(entries, 1u) << "files left in the output directory";
    }
}

const std::string& plain() { return message("plain_ascii_crlf").data; }

TEST(SignRefusal, FromNotInCertificate) {
    SignOptions so;
    so.leaf = &pki().other;  // other@bank.example; the message is From no-reply@
    expect_refusal(plain(), so, kRefused, "from_not_in_certificate",
                   {"no-reply@bank.example", "other@bank.example"});
}

TEST(SignRefusal, ForgedFromAddress) {
    const std::string input =
        set_header(plain(), "From", "Bank Example <security@bank.example>");
    expect_refusal(input, {}, kRefused, "from_not_in_certificate",
                   {"security@bank.example", "no-reply@bank.example"});
}

TEST(SignRefusal, ExpiredCertificate) {
    SignOptions so;
    so.leaf = &pki().expired;
    expect_refusal(plain(), so, kDigitalIdUnusable, "certificate_expired", {},
                   pki().expired.cert.string());
}

TEST(SignRefusal, NotYetValidCertificate) {
    SignOptions so;
    so.leaf = &pki().not_yet_valid;
    expect_refusal(plain(), so, kDigitalIdUnusable, "certificate_not_yet_valid", {},
                   pki().not_yet_valid.cert.string());
}

TEST(SignRefusal, KeyDoesNotMatchCertificate) {
    SignOptions so;
    so.leaf = &pki().mismatched;
    expect_refusal(plain(), so, kDigitalIdUnusable, "key_mismatch", {},
                   pki().mismatched.key.string());
}

TEST(SignRefusal, CertificateWithoutEmailProtection) {
    SignOptions so;
    so.leaf = &pki().no_email_eku;
    expect_refusal(plain(), so, kDigitalIdUnusable, "certificate_usage", {},
                   pki().no_email_eku.cert.string());
}

TEST(SignRefusal, AlreadySignedDetached) {
    std::string once;
    ASSERT_NO_FATAL_FAILURE(sign_ok(plain(), {}, once));
    expect_refusal(once, {}, kRefused, "already_signed");
}

TEST(SignRefusal, AlreadySignedOpaque) {
    SignOptions so;
    so.opaque = true;
    std::string once;
    ASSERT_NO_FATAL_FAILURE(sign_ok(plain(), so, once));
    expect_refusal(once, {}, kRefused, "already_signed");
    expect_refusal(once, so, kRefused, "already_signed");
}

// Sealed mail (enveloped-data, made by openssl) is S/MIME too: refused as
// already_signed, which every front end turns into "pass unchanged".
TEST(SignRefusal, AlreadySealed) {
    const std::string sealed = openssl_sealed_message(
        "Content-Type: text/plain\r\n\r\nsealed\r\n",
        "From: no-reply@bank.example\r\nTo: c@example.org\r\nSubject: s\r\n");
    expect_refusal(sealed, {}, kRefused, "already_signed",
                   {"the message is already S/MIME (application/pkcs7-mime; smime-type=enveloped-data)"});
}

TEST(SignRefusal, NoFrom) {
    const std::string input = remove_header(plain(), "From");
    ASSERT_EQ(mime::parse_entity(input).count("From"), 0u);
    expect_refusal(input, {}, kRefused, "no_from");
}

TEST(SignRefusal, EmptyInput) { expect_refusal("", {}, kRefused, "empty_message"); }

TEST(SignRefusal, UnreadableInput) {
    TempDir tmp("ribbon-refuse");
    SignOptions so;
    so.extra = {(tmp / "does-not-exist.eml").string()};
    const ProcessResult r = ribbon_sign("", so);
    EXPECT_EQ(r.exit_code, kNoInput) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_NO_FATAL_FAILURE(expect_error_line(r, "io_error", (tmp / "does-not-exist.eml").string()));
}

TEST(SignRefusal, OutputCannotBeCreated) {
    TempDir tmp("ribbon-refuse");
    SignOptions so;
    so.out = tmp / "no-such-dir" / "out.eml";
    const ProcessResult r = ribbon_sign(plain(), so);
    EXPECT_EQ(r.exit_code, kCantCreate) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_NO_FATAL_FAILURE(expect_error_line(r, "io_error"));
    EXPECT_FALSE(fs::exists(so.out));
}

// The good path of the same harness, so a refusal test cannot pass merely
// because signing is broken.
TEST(SignRefusal, ControlSignsWithTheSameSetup) {
    TempDir tmp("ribbon-refuse");
    const fs::path in = tmp / "in.eml";
    const fs::path out = tmp / "out.eml";
    write_file(in, plain());
    SignOptions so;
    so.out = out;
    so.extra = {in.string()};
    const ProcessResult r = ribbon_sign("", so);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "") << "with -o nothing goes to stdout";
    EXPECT_EQ(r.err, "");
    ASSERT_TRUE(fs::exists(out));
    EXPECT_EQ(mime::content_type_of(mime::parse_entity(read_file(out))).type, "multipart/signed");
}

}  // namespace
}  // namespace ribbon::test

namespace ribbon::test {
namespace {

// RFC 5322 §3.6: trace fields repeat by nature (one Received per hop), so
// different Received values must sign; a second, different Subject or From
// makes the message ambiguous and is refused — in a single-part message
// (ribbon's own header scanner) and a multipart one (GMime) alike.
TEST(SignRefusal, RepeatedTraceFieldsSignButConflictingSingleFieldsDoNot) {
    const std::string head = "Received: from a.example by b.example; Mon, 23 Nov 2026 08:00:00 +0000\r\n"
                             "Received: from c.example by d.example; Mon, 23 Nov 2026 08:01:00 +0000\r\n"
                             "From: no-reply@bank.example\r\nTo: customer@example.org\r\nSubject: Statement\r\n"
                             "Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n";
    const std::string single = head + "\r\nHello.\r\n";
    const std::string multi = head + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                                     "--b\r\n\r\nHello.\r\n--b--\r\n";
    for (const std::string* input : {&single, &multi}) {
        std::string out;
        ASSERT_NO_FATAL_FAILURE(sign_ok(*input, {}, out));
        EXPECT_NE(out.find("Received: from a.example"), std::string::npos);
        EXPECT_NE(out.find("Received: from c.example"), std::string::npos);
        std::string twice = *input;
        twice.insert(twice.find("Date:"), "Subject: Something else\r\n");
        expect_refusal(twice, {}, 65, "malformed_message", {"conflicting headers (Subject)"});
    }
}

}  // namespace
}  // namespace ribbon::test
