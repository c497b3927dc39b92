// verifier_test.cpp — `ribbon verify` and ribbon::Verifier on messages signed
// by other implementations (the openssl CLI and NSS cmsutil) with the test
// PKI from tests/support/pki.hpp: every verdict, every reason, every
// unreadable-input error, exactly.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ribbon/verifier.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/sign.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBoundary = "=-ribbon-test-sig";
constexpr const char* kBodyLine = "Your statement for May is ready.";

std::string base64_lines(std::string_view der) {
    std::string out;
    for (std::size_t pos = 0; pos < der.size(); pos += 57) {  // 57 bytes -> 76 columns
        const std::size_t n = std::min<std::size_t>(57, der.size() - pos);
        std::string line(4 * ((n + 2) / 3) + 1, '\0');
        const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(line.data()),
                                        reinterpret_cast<const unsigned char*>(der.data() + pos),
                                        static_cast<int>(n));
        line.resize(static_cast<std::size_t>(len));
        out += line + "\r\n";
    }
    return out;
}

// The first occurrence only: the outer header comes before the protected copy.
std::string replace_first(std::string s, std::string_view from, std::string_view to) {
    const std::size_t pos = s.find(from);
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
}

std::string replace_all(const std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    std::size_t start = 0;
    for (std::size_t pos; (pos = s.find(from, start)) != std::string::npos;
         start = pos + from.size()) {
        out.append(s, start, pos - start).append(to);
    }
    return out.append(s, start, std::string::npos);
}

struct Headers {
    std::string from = "Bank Example <no-reply@bank.example>";
    std::string to = "customer@example.net";
    std::string subject = "Your statement";
    // Now: openssl signs with signingTime now, and a Date more than an hour
    // away from it is date_mismatch.
    std::string date = rfc5322_date(std::time(nullptr));
    std::string message_id = "<statement-1@bank.example>";
};

std::string header_block(const Headers& h) {
    return "From: " + h.from + "\r\nTo: " + h.to + "\r\nSubject: " + h.subject +
           "\r\nDate: " + h.date + "\r\nMessage-ID: " + h.message_id + "\r\n";
}

// The signed entity: Content-* headers, and with header protection the
// RFC 9788 copies and hp="clear".
std::string entity(bool protect = false, const Headers& h = {}) {
    std::string e = "Content-Type: text/plain; charset=us-ascii";
    e += protect ? "; hp=\"clear\"\r\n" + header_block(h) : std::string("\r\n");
    e += "Content-Transfer-Encoding: 7bit\r\n\r\nHello,\r\n\r\n" + std::string(kBodyLine) + "\r\n";
    return e;
}

std::string outer(const Headers& h, const std::string& content_type) {
    return header_block(h) + "MIME-Version: 1.0\r\nContent-Type: " + content_type + "\r\n\r\n";
}

std::string multipart_signed(const Headers& h, const std::string& signed_entity,
                             const std::string& signature_part) {
    return outer(h, std::string("multipart/signed; protocol=\"application/pkcs7-signature\"; "
                                "micalg=sha-256; boundary=\"") +
                        kBoundary + "\"") +
           "This is an S/MIME signed message.\r\n--" + kBoundary + "\r\n" + signed_entity +
           "\r\n--" + kBoundary + "\r\n" + signature_part + "\r\n--" + kBoundary + "--\r\n";
}

std::string p7s_part(std::string_view der) {
    std::string b64 = base64_lines(der);
    if (b64.size() >= 2) b64.resize(b64.size() - 2);  // the CRLF before the delimiter belongs to it
    return "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
           "Content-Transfer-Encoding: base64\r\n"
           "Content-Disposition: attachment; filename=smime.p7s\r\n\r\n" +
           b64;
}

std::string opaque_message(const Headers& h, std::string_view der) {
    return header_block(h) +
           "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; "
           "name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
           base64_lines(der);
}

void must_run(const std::vector<std::string>& argv, const ProcessOptions& o = {}) {
    const ProcessResult r = run_process(argv, o);
    ASSERT_EQ(r.exit_code, 0) << argv[0] << " " << argv[1] << ": " << r.describe();
}

class VerifyTest : public ::testing::Test {
  protected:
    const Pki& p = pki();
    TempDir tmp{"ribbon-verify-test"};

    // Detached (default) or opaque SignedData made by `openssl cms -sign`.
    std::string openssl_sign(const Leaf& leaf, const std::string& content, bool opaque = false) {
        return openssl_cms_sign(leaf, content, opaque);
    }

    std::string signed_message(const Leaf& leaf, const Headers& h = {}, bool protect = false) {
        const std::string e = entity(protect, h);
        return multipart_signed(h, e, p7s_part(openssl_sign(leaf, e)));
    }

    // Writes the message and runs `ribbon verify ARGS... FILE`.
    ProcessResult verify(const std::string& message, std::vector<std::string> args = {}) {
        write_file(tmp / "message.eml", message);
        std::vector<std::string> argv = {ribbon_binary(), "verify"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back((tmp / "message.eml").string());
        return run_process(argv);
    }

    std::vector<std::string> ca() const { return {"--ca", p.root_cert.string()}; }

    nlohmann::json verify_json(const std::string& message, int expected_exit,
                               std::vector<std::string> extra = {}) {
        std::vector<std::string> args = ca();
        args.push_back("--json");
        args.insert(args.end(), extra.begin(), extra.end());
        const ProcessResult r = verify(message, args);
        EXPECT_EQ(r.exit_code, expected_exit) << r.describe();
        return nlohmann::json::parse(r.out);
    }
};

std::string iso(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// ---- valid -------------------------------------------------------------

TEST_F(VerifyTest, OpensslDetachedIsValid) {
    const ProcessResult r = verify(signed_message(p.rsa), ca());
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("verdict: valid\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("chain: CN=Bank Example no-reply,O=Bank Example > CN=Ribbon Test Mail CA,"
                         "O=Ribbon Test > CN=Ribbon Test Root CA,O=Ribbon Test\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("from: no-reply@bank.example (in certificate)\n"), std::string::npos);
    EXPECT_NE(r.out.find("layer 1: multipart-signed, whole message: valid, signed by "
                         "no-reply@bank.example\ncoverage: the whole message\n"),
              std::string::npos)
        << r.out;
}

TEST_F(VerifyTest, OpensslOpaqueIsValid) {
    const auto j = verify_json(opaque_message({}, openssl_sign(p.rsa, entity(), true)), 0);
    EXPECT_EQ(j.at("verdict"), "valid");
    EXPECT_EQ(j.at("opaque"), true);
}

TEST_F(VerifyTest, EcdsaIsValid) {
    const auto j = verify_json(signed_message(p.ecdsa), 0);
    EXPECT_EQ(j.at("signer").at("key"), "ECDSA P-256");
}

TEST_F(VerifyTest, NssCmsutilDetachedIsValid) {
    // NSS signs from its own database: import the leaf, its key and the
    // intermediate, then build the multipart/signed around the DER.
    const fs::path db = tmp / "nssdb";
    fs::copy(p.nss_db, db, fs::copy_options::recursive);
    must_run({"openssl", "pkcs12", "-export", "-inkey", p.rsa.key.string(), "-in",
              p.rsa.cert.string(), "-certfile", p.chain.string(), "-name", "ribbon-signer",
              "-passout", "pass:test", "-out", (tmp / "leaf.p12").string()});
    must_run({"pk12util", "-i", (tmp / "leaf.p12").string(), "-d", "sql:" + db.string(), "-W",
              "test", "-K", ""});
    const std::string e = entity();
    write_file(tmp / "content", e);
    // -Y NONE: no EncryptionKeyPreference attribute (it would want a
    // keyEncipherment certificate, which a signing-only leaf is not).
    must_run({"cmsutil", "-S", "-T", "-G", "-Y", "NONE", "-H", "SHA256", "-N", "ribbon-signer",
              "-d", "sql:" + db.string(), "-i", (tmp / "content").string(), "-o",
              (tmp / "nss.der").string()});
    const auto j = verify_json(multipart_signed({}, e, p7s_part(read_file(tmp / "nss.der"))), 0);
    EXPECT_EQ(j.at("signer").at("digest_algorithm"), "sha256");
    EXPECT_FALSE(j.at("signer").at("signing_time").is_null());
}

TEST_F(VerifyTest, BareLfMessageIsCanonicalisedAndValid) {
    // RFC 8551 §3.1.1: a store that dropped every CR does not break it.
    const std::string lf = replace_all(signed_message(p.rsa), "\r\n", "\n");
    ASSERT_EQ(lf.find('\r'), std::string::npos);
    EXPECT_EQ(verify(lf, ca()).exit_code, 0);
}

TEST_F(VerifyTest, FromComparesCaseInsensitively) {
    Headers h;
    h.from = "No-Reply@Bank.EXAMPLE";
    EXPECT_EQ(verify(signed_message(p.rsa, h), ca()).exit_code, 0);
}

TEST_F(VerifyTest, ReadsStdin) {
    const std::string message = signed_message(p.rsa);
    const ProcessResult r =
        run_process({ribbon_binary(), "verify", "--ca", p.root_cert.string()}, message);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    const ProcessResult dash =
        run_process({ribbon_binary(), "verify", "--ca", p.root_cert.string(), "-"}, message);
    EXPECT_EQ(dash.exit_code, 0) << dash.describe();
}

// ---- invalid -----------------------------------------------------------

TEST_F(VerifyTest, TamperedBodyIsDigestMismatch) {
    std::string message = signed_message(p.rsa);
    message = replace_all(message, kBodyLine, "Your statement for May is READY.");
    const auto j = verify_json(message, 1);
    EXPECT_EQ(j.at("reason"), "digest_mismatch");
}

TEST_F(VerifyTest, DamagedSignatureValueIsBadSignature) {
    std::string der = openssl_sign(p.rsa, entity());
    der.back() = static_cast<char>(der.back() ^ 0x01);  // last byte of the signature value
    const auto j = verify_json(multipart_signed({}, entity(), p7s_part(der)), 1);
    EXPECT_EQ(j.at("reason"), "bad_signature");
}

TEST_F(VerifyTest, ChangedProtectedSubjectIsMismatch) {
    Headers signed_headers;
    std::string message = signed_message(p.rsa, signed_headers, true);
    ASSERT_EQ(verify(message, ca()).exit_code, 0);
    message = replace_first(message, "\r\nSubject: Your statement\r\nDate",
                            "\r\nSubject: Your statement - act now\r\nDate");
    const auto j = verify_json(message, 1);
    EXPECT_EQ(j.at("reason"), "protected_header_mismatch");
    EXPECT_NE(j.at("detail").get<std::string>().find("Subject"), std::string::npos);
    EXPECT_EQ(j.at("header_protection"), true);
    bool seen = false;
    for (const auto& h : j.at("protected_headers")) {
        if (h.at("name") != "Subject") {
            EXPECT_TRUE(h.at("matches").get<bool>()) << h.dump();
            continue;
        }
        seen = true;
        EXPECT_FALSE(h.at("matches").get<bool>());
        EXPECT_EQ(h.at("outer"), "Your statement - act now");
        EXPECT_EQ(h.at("inner"), "Your statement");
    }
    EXPECT_TRUE(seen);
}

TEST_F(VerifyTest, ReplyToAddedOutsideProtectedHeadersIsMismatch) {
    // hp="clear" declares the inner header complete (RFC 9788 §2): a
    // Reply-To added in transit redirects answers and must not pass.
    std::string message = signed_message(p.rsa, {}, true);
    message = "Reply-To: collect@attacker.example\r\n" + message;
    const auto j = verify_json(message, 1);
    EXPECT_EQ(j.at("reason"), "protected_header_mismatch");
    EXPECT_NE(j.at("detail").get<std::string>().find("Reply-To"), std::string::npos) << j.dump();
    const auto& reply_to = j.at("protected_headers").at(2);  // From, To, Reply-To, Subject, ...
    EXPECT_EQ(reply_to, (nlohmann::json{{"name", "Reply-To"},
                                        {"outer", "collect@attacker.example"},
                                        {"inner", ""},
                                        {"matches", false}}));
}

TEST_F(VerifyTest, RefoldedProtectedSubjectStillMatches) {
    Headers h;
    h.subject = "Your monthly statement from Bank Example";
    std::string message = signed_message(p.rsa, h, true);
    message =
        replace_first(message, "\r\nSubject: Your monthly statement from Bank Example\r\nDate",
                      "\r\nSubject: Your monthly\r\n   statement from\tBank Example\r\nDate");
    const auto j = verify_json(message, 0);
    EXPECT_EQ(j.at("protected_headers").size(), 5u);
}

TEST_F(VerifyTest, WrongRootIsUntrusted) {
    const ProcessResult r =
        verify(signed_message(p.rsa), {"--json", "--ca", p.wrong_root_cert.string()});
    ASSERT_EQ(r.exit_code, 1) << r.describe();
    const auto k = nlohmann::json::parse(r.out);
    EXPECT_EQ(k.at("reason"), "untrusted");
    EXPECT_NE(k.at("detail").get<std::string>().find("unable to get"), std::string::npos);
}

TEST_F(VerifyTest, ExpiredCertificateAndAtInsideValidity) {
    const std::string message = signed_message(p.expired);
    auto j = verify_json(message, 1);
    EXPECT_EQ(j.at("reason"), "certificate_expired");
    // Inside the leaf's validity (60 days ago .. yesterday) and the CAs'
    // (from 10 days ago).
    const std::time_t inside = std::time(nullptr) - 5L * 24 * 3600;
    j = verify_json(message, 0, {"--at", "@" + std::to_string(inside)});
    EXPECT_EQ(j.at("verdict"), "valid");
    j = verify_json(message, 0, {"--at", iso(inside)});
    EXPECT_EQ(j.at("verdict"), "valid");
}

TEST_F(VerifyTest, NotYetValidCertificate) {
    const auto j = verify_json(signed_message(p.not_yet_valid), 1);
    EXPECT_EQ(j.at("reason"), "certificate_not_yet_valid");
}

TEST_F(VerifyTest, CertificateWithoutEmailProtectionIsUsage) {
    const auto j = verify_json(signed_message(p.no_email_eku), 1);
    EXPECT_EQ(j.at("reason"), "certificate_usage");
}

TEST_F(VerifyTest, FromNotInCertificate) {
    const auto j = verify_json(signed_message(p.other), 1);  // other@bank.example signs no-reply@
    EXPECT_EQ(j.at("reason"), "from_not_in_certificate");
    EXPECT_EQ(j.at("from_in_certificate"), false);
    EXPECT_EQ(j.at("from_addresses"), nlohmann::json::array({"no-reply@bank.example"}));
    EXPECT_EQ(j.at("signer").at("addresses"), nlohmann::json::array({"other@bank.example"}));
}

// ---- not signed, unreadable --------------------------------------------

TEST_F(VerifyTest, UnsignedMessageIsNotSigned) {
    const ProcessResult r = verify(outer({}, "text/plain") + "Hello.\r\n", ca());
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.out.find("verdict: not_signed\n"), std::string::npos);
}

void expect_unreadable(const ProcessResult& r, std::string_view code) {
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    EXPECT_NE(r.err.find("[" + std::string(code) + "]"), std::string::npos) << r.err;
}

TEST_F(VerifyTest, EmptyInputIsUnreadable) {
    expect_unreadable(verify("", ca()), "empty_message");
    const ProcessResult r = verify("", {"--json", "--ca", p.root_cert.string()});
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("verdict"), "error");
    EXPECT_EQ(j.at("error").at("code"), "empty_message");
}

TEST_F(VerifyTest, GarbageSignatureIsBadFormat) {
    const std::string part =
        "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nVGhpcyBpcyBub3QgYSBzaWduYXR1cmUu";
    expect_unreadable(verify(multipart_signed({}, entity(), part), ca()), "bad_signature_format");
}

TEST_F(VerifyTest, PemInsteadOfDerIsBadFormat) {
    // A signature part holding PEM text instead of base64 DER.
    const std::string der = openssl_sign(p.rsa, entity());
    std::string b64 = base64_lines(der);
    b64.resize(b64.size() - 2);
    const std::string part =
        "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        "Content-Transfer-Encoding: 7bit\r\n\r\n-----BEGIN CMS-----\r\n" +
        b64 + "\r\n-----END CMS-----";
    expect_unreadable(verify(multipart_signed({}, entity(), part), ca()), "bad_signature_format");
}

TEST_F(VerifyTest, TruncatedMessageIsMalformed) {
    const std::string message = signed_message(p.rsa);
    const std::size_t cut = message.rfind("\r\n--");  // drop the close delimiter
    expect_unreadable(verify(message.substr(0, cut - 40), ca()), "malformed_message");
}

TEST_F(VerifyTest, SignaturePartMissingIsMalformed) {
    const std::string message = outer({}, std::string("multipart/signed; protocol=\"application/"
                                                      "pkcs7-signature\"; boundary=\"") +
                                              kBoundary + "\"") +
                                "--" + kBoundary + "\r\n" + entity() + "\r\n--" + kBoundary +
                                "--\r\n";
    expect_unreadable(verify(message, ca()), "malformed_message");
}

TEST_F(VerifyTest, BadUsage) {
    EXPECT_EQ(verify(signed_message(p.rsa), {"--at", "yesterday"}).exit_code, 64);
    expect_unreadable(verify(signed_message(p.rsa), {"--ca", (tmp / "missing.pem").string()}),
                      "io_error");
}

// ---- JSON ---------------------------------------------------------------

TEST_F(VerifyTest, JsonReportHasEveryField) {
    const auto j = verify_json(signed_message(p.rsa, {}, true), 0);
    EXPECT_EQ(j.at("verdict"), "valid");
    EXPECT_EQ(j.at("reason"), "none");
    EXPECT_FALSE(j.at("detail").get<std::string>().empty());
    EXPECT_EQ(j.at("opaque"), false);
    EXPECT_EQ(j.at("from_addresses"), nlohmann::json::array({"no-reply@bank.example"}));
    EXPECT_EQ(j.at("from_in_certificate"), true);
    EXPECT_EQ(j.at("header_protection"), true);
    ASSERT_EQ(j.at("protected_headers").size(), 5u);
    EXPECT_EQ(j.at("protected_headers").at(0),
              (nlohmann::json{{"name", "From"},
                              {"outer", "Bank Example <no-reply@bank.example>"},
                              {"inner", "Bank Example <no-reply@bank.example>"},
                              {"matches", true}}));
    const auto& s = j.at("signer");
    EXPECT_EQ(s.at("subject"), "CN=Bank Example no-reply,O=Bank Example");
    EXPECT_EQ(s.at("issuer"), "CN=Ribbon Test Mail CA,O=Ribbon Test");
    EXPECT_FALSE(s.at("serial").get<std::string>().empty());
    EXPECT_EQ(s.at("addresses"), nlohmann::json::array({"no-reply@bank.example"}));
    EXPECT_EQ(s.at("key"), "RSA-2048");
    EXPECT_EQ(s.at("digest_algorithm"), "sha256");
    EXPECT_EQ(s.at("signature_algorithm"), "rsaencryption");
    EXPECT_EQ(j.at("warnings"), nlohmann::json::array());  // docs/VERIFY.md
    EXPECT_EQ(s.at("chain"), nlohmann::json::array({"CN=Bank Example no-reply,O=Bank Example",
                                                    "CN=Ribbon Test Mail CA,O=Ribbon Test",
                                                    "CN=Ribbon Test Root CA,O=Ribbon Test"}));
    // signingTime is the openssl CLI's clock: within the last hour.
    const std::string signed_at = s.at("signing_time");
    EXPECT_EQ(signed_at.size(), 20u);
    EXPECT_GE(signed_at, iso(std::time(nullptr) - 3600));
    EXPECT_TRUE(s.contains("not_before"));
    EXPECT_TRUE(s.contains("not_after"));
    EXPECT_EQ(s.at("spki_sha256").get<std::string>().size(), 64u);
    EXPECT_EQ(s.at("certificate_sha256").get<std::string>().size(), 64u);
    // Layers and coverage (docs/VERIFY.md).
    ASSERT_EQ(j.at("layers").size(), 1u);
    const auto& l = j.at("layers").at(0);
    EXPECT_EQ(l.at("kind"), "multipart-signed");
    EXPECT_EQ(l.at("part"), "");
    EXPECT_EQ(l.at("verdict"), "valid");
    EXPECT_EQ(l.at("reason"), "none");
    EXPECT_EQ(l.at("signer").at("spki_sha256"), s.at("spki_sha256"));
    EXPECT_EQ(j.at("coverage"), (nlohmann::json{{"whole", true},
                                                {"signed_parts", {""}},
                                                {"unsigned_parts", nlohmann::json::array()},
                                                {"description", "the whole message"}}));
    EXPECT_EQ(j.at("message_id"), "statement-1@bank.example");
    EXPECT_EQ(j.at("content_sha256").get<std::string>().size(), 64u);
}

// ---- the library directly -------------------------------------------------

TEST_F(VerifyTest, TrustStoreErrors) {
    auto missing = TrustStore::from_files({tmp / "missing.pem"});
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), Errc::io_error);
    write_file(tmp / "not-a-cert.pem", "hello\n");
    auto junk = TrustStore::from_files({tmp / "not-a-cert.pem"});
    ASSERT_FALSE(junk.ok());
    EXPECT_EQ(junk.error().code(), Errc::bad_certificate);
    EXPECT_TRUE(TrustStore::system().ok());
}

TEST_F(VerifyTest, VerifierIsSharedAcrossThreads) {
    auto trust = TrustStore::from_files({p.root_cert});
    ASSERT_TRUE(trust.ok()) << trust.error().message();
    const Verifier verifier(std::move(*trust));
    const std::string good = signed_message(p.rsa);
    const std::string bad = replace_all(good, kBodyLine, "Pay to account 666.");
    std::vector<int> valid(2, 0), mismatched(2, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) {
                auto g = verifier.verify(MessageInput::from_memory(good));
                auto b = verifier.verify(MessageInput::from_memory(bad));
                if (g.ok() && g->verdict == Verdict::valid) ++valid[t];
                if (b.ok() && b->reason == VerifyReason::digest_mismatch) ++mismatched[t];
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(valid, (std::vector<int>{20, 20}));
    EXPECT_EQ(mismatched, (std::vector<int>{20, 20}));
}

TEST(VerifyReasonName, StableNames) {
    EXPECT_EQ(verify_reason_name(VerifyReason::none), "none");
    EXPECT_EQ(verify_reason_name(VerifyReason::digest_mismatch), "digest_mismatch");
    EXPECT_EQ(verify_reason_name(VerifyReason::bad_signature), "bad_signature");
    EXPECT_EQ(verify_reason_name(VerifyReason::untrusted), "untrusted");
    EXPECT_EQ(verify_reason_name(VerifyReason::certificate_expired), "certificate_expired");
    EXPECT_EQ(verify_reason_name(VerifyReason::certificate_not_yet_valid),
              "certificate_not_yet_valid");
    EXPECT_EQ(verify_reason_name(VerifyReason::certificate_usage), "certificate_usage");
    EXPECT_EQ(verify_reason_name(VerifyReason::from_not_in_certificate), "from_not_in_certificate");
    EXPECT_EQ(verify_reason_name(VerifyReason::protected_header_mismatch),
              "protected_header_mismatch");
    EXPECT_EQ(verify_reason_name(VerifyReason::not_signed), "not_signed");
    EXPECT_EQ(verify_reason_name(VerifyReason::date_mismatch), "date_mismatch");
    EXPECT_EQ(verify_reason_name(VerifyReason::partial_coverage), "partial_coverage");
    EXPECT_EQ(layer_kind_name(LayerKind::multipart_signed), "multipart-signed");
    EXPECT_EQ(layer_kind_name(LayerKind::opaque), "opaque");
    EXPECT_EQ(layer_kind_name(LayerKind::sealed), "sealed");
}

}  // namespace
}  // namespace ribbon::test
