// The libribbon API as a C++ application uses it: one Signer shared by many
// threads, encrypted keys, the sign report, the signer's clock, error kinds.
// Outputs are checked with openssl (another implementation), not ribbon.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>

#include "ribbon/signer.hpp"
#include "support/cms_inspect.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

using std::chrono::hours;
using std::chrono::system_clock;

Signer rsa_signer() {
    auto id = DigitalId::load(pki().rsa.key, pki().rsa.cert, pki().chain);
    EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.error().message());
    auto signer = Signer::create(*id);
    EXPECT_TRUE(signer.ok());
    return *signer;
}

std::string statement(const std::string& subject, const std::string& date_header) {
    std::string m = "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: " + subject +
                    "\r\n";
    if (!date_header.empty()) m += "Date: " + date_header + "\r\n";
    return m + "\r\nYour statement is ready.\r\n";
}

std::string cms_of(const std::string& signed_message) {
    SmimeParts parts = split_smime(signed_message);
    EXPECT_EQ(parts.error, "");
    return parts.der;
}

TEST(SignerApi, OneSignerManyThreads) {
    const Signer signer = rsa_signer();
    constexpr int kThreads = 8;
    constexpr int kPerThread = 12;
    std::vector<std::string> outputs(kThreads * kPerThread);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                std::string in = statement("message " + std::to_string(t) + "-" + std::to_string(i),
                                           rfc5322_date(std::time(nullptr)));
                StringSink out;
                if (!signer.sign(MessageInput::from_memory(in), out)) ++failures;
                outputs[static_cast<std::size_t>(t * kPerThread + i)] = out.take();
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);
    // Every output verifies and carries its own subject: nothing was mixed
    // up between threads. Checking a sample with openssl keeps this fast.
    for (int k = 0; k < kThreads * kPerThread; ++k) {
        const std::string subject =
            "Subject: message " + std::to_string(k / kPerThread) + "-" + std::to_string(k % kPerThread);
        ASSERT_NE(outputs[static_cast<std::size_t>(k)].find(subject + "\r\n"), std::string::npos);
        if (k % 7 == 0) {
            VerifyResult v = verify_openssl(outputs[static_cast<std::size_t>(k)]);
            EXPECT_TRUE(v.ok) << v.details;
        }
    }
}

TEST(SignerApi, EncryptedKeyNeedsTheRightPassword) {
    TempDir tmp("ribbon-enc-key");
    const auto enc = tmp / "enc.key";
    ProcessResult r = run_process({"openssl", "pkey", "-in", pki().rsa.key.string(), "-aes256",
                                   "-passout", "pass:correct horse", "-out", enc.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();

    auto none = DigitalId::load(enc, pki().rsa.cert, pki().chain);
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), Errc::wrong_password);
    EXPECT_EQ(none.error().message(), "the private key is encrypted and no password was given");

    auto wrong = DigitalId::load(enc, pki().rsa.cert, pki().chain, "battery staple");
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code(), Errc::wrong_password);
    EXPECT_EQ(wrong.error().kind(), ErrorKind::permanent);

    auto right = DigitalId::load(enc, pki().rsa.cert, pki().chain, "correct horse");
    ASSERT_TRUE(right.ok()) << right.error().message();
    EXPECT_TRUE(right->covers_address("No-Reply@Bank.Example"));

    // The command reads it from a file or the environment, never argv.
    write_file(tmp / "pw", "correct horse\n");
    const std::string in = statement("pw", rfc5322_date(std::time(nullptr)));
    r = run_process({ribbon_binary(), "sign", "--key", enc.string(), "--cert", pki().rsa.cert.string(),
                     "--chain", pki().chain.string(), "--password-file", (tmp / "pw").string()},
                    in);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(verify_openssl(r.out).ok);
    ProcessOptions po;
    po.stdin_data = in;
    po.env = {{"RIBBON_KEY_PASSWORD", "correct horse"}};
    r = run_process({ribbon_binary(), "sign", "--key", enc.string(), "--cert", pki().rsa.cert.string()},
                    po);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    po.env = {{"RIBBON_KEY_PASSWORD", "nope"}};
    r = run_process({ribbon_binary(), "sign", "--key", enc.string(), "--cert", pki().rsa.cert.string()},
                    po);
    EXPECT_EQ(r.exit_code, 78);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("[wrong_password]"), std::string::npos) << r.err;
}

TEST(SignerApi, BrokenKeyAndCertificateFiles) {
    auto key = DigitalId::from_pem("not a key", read_file(pki().rsa.cert));
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.error().code(), Errc::bad_key);
    auto cert = DigitalId::from_pem(read_file(pki().rsa.key), "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                              "-----END CERTIFICATE-----\n");
    ASSERT_FALSE(cert.ok());
    EXPECT_EQ(cert.error().code(), Errc::bad_certificate);
    auto missing = DigitalId::load("/nonexistent/key.pem", pki().rsa.cert);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), Errc::io_error);
    EXPECT_EQ(missing.error().kind(), ErrorKind::permanent);
}

TEST(SignerApi, RootInTheChainFileIsLeftOut) {
    TempDir tmp("ribbon-chain");
    write_file(tmp / "chain.pem", read_file(pki().chain) + read_file(pki().root_cert));
    auto id = DigitalId::load(pki().rsa.key, pki().rsa.cert, tmp / "chain.pem");
    ASSERT_TRUE(id.ok());
    auto signer = Signer::create(*id);
    ASSERT_TRUE(signer.ok());
    StringSink out;
    ASSERT_TRUE(signer->sign(MessageInput::from_memory(statement("chain", "")), out).ok());
    CmsInfo info = inspect_cms(cms_of(out.str()));
    ASSERT_EQ(info.error, "");
    ASSERT_EQ(info.certificates_der.size(), 2u);
    for (const auto& der : info.certificates_der) EXPECT_NE(der, cert_der(pki().root_cert));
}

TEST(SignerApi, DateRulesAreReported) {
    const Signer signer = rsa_signer();
    const auto now = system_clock::now();
    auto sign = [&](const std::string& date_header, SignReport& report, std::string& output) {
        StringSink out;
        auto r = signer.sign(MessageInput::from_memory(statement("date", date_header)), out);
        ASSERT_TRUE(r.ok()) << r.error().message();
        report = *r;
        output = out.take();
    };
    SignReport rep;
    std::string out;

    ASSERT_NO_FATAL_FAILURE(sign("", rep, out));
    EXPECT_TRUE(rep.date_added);
    EXPECT_FALSE(rep.signing_time_aligned);
    EXPECT_NE(out.find("\r\nDate: "), std::string::npos);

    const std::time_t five_hours_ago = system_clock::to_time_t(now - hours(5));
    ASSERT_NO_FATAL_FAILURE(sign(rfc5322_date(five_hours_ago), rep, out));
    EXPECT_TRUE(rep.signing_time_aligned);
    EXPECT_EQ(system_clock::to_time_t(rep.signing_time), five_hours_ago);
    EXPECT_EQ(inspect_cms(cms_of(out)).signing_time, five_hours_ago);
    EXPECT_NE(out.find("Date: " + rfc5322_date(five_hours_ago) + "\r\n"), std::string::npos);

    const std::time_t future = system_clock::to_time_t(now + hours(3));
    ASSERT_NO_FATAL_FAILURE(sign(rfc5322_date(future), rep, out));
    EXPECT_TRUE(rep.date_replaced);
    EXPECT_EQ(out.find(rfc5322_date(future)), std::string::npos);

    // Older than the certificate itself: the Date cannot be the signing time.
    const std::time_t ancient = system_clock::to_time_t(now - hours(24 * 400));
    ASSERT_NO_FATAL_FAILURE(sign(rfc5322_date(ancient), rep, out));
    EXPECT_TRUE(rep.date_replaced);
    EXPECT_TRUE(verify_openssl(out).ok);

    ASSERT_NO_FATAL_FAILURE(sign("not a date at all", rep, out));
    EXPECT_TRUE(rep.date_replaced);
}

TEST(SignerApi, TheSignersClockDecidesValidity) {
    const Signer signer = rsa_signer();
    const CertificateInfo& cert = signer.digital_id().certificate();
    SignOptions late;
    late.now = cert.not_after + hours(1);
    StringSink out;
    auto r = signer.sign(MessageInput::from_memory(statement("late", "")), out, late);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::certificate_expired);
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(out.str(), "");
    SignOptions early;
    early.now = cert.not_before - hours(1);
    r = signer.sign(MessageInput::from_memory(statement("early", "")), out, early);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::certificate_not_yet_valid);
    EXPECT_TRUE(signer.check_usable(system_clock::now()).ok());
}

TEST(SignerApi, ErrorNamesAreStable) {
    EXPECT_EQ(errc_name(Errc::from_not_in_certificate), "from_not_in_certificate");
    EXPECT_EQ(errc_name(Errc::limit_exceeded), "limit_exceeded");
    EXPECT_EQ(error_kind_name(ErrorKind::transient), "transient");
}

// A message whose body is `lines` base64 lines (LF line ends), and that body
// as the signed part must carry it (CRLF).
struct LargeMessage {
    std::string message;
    std::string signed_body;
};
LargeMessage large_message(std::size_t lines, unsigned seed) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::mt19937 rng(seed);
    LargeMessage m;
    m.message = "From: Bank <no-reply@bank.example>\nTo: c@example.org\nSubject: Archive\n"
                "MIME-Version: 1.0\nContent-Type: application/pdf; name=\"a.pdf\"\n"
                "Content-Transfer-Encoding: base64\n\n";
    std::string line(76, 'A');
    for (std::size_t i = 0; i < lines; ++i) {
        for (char& c : line) c = kAlphabet[rng() % 64];
        m.message += line + "\n";
        m.signed_body += line + "\r\n";
    }
    return m;
}

// Streams into a sink that throws away uncommitted output, like
// AtomicFileSink; can be told to fail after `limit` bytes.
class DiscardingSink final : public Sink {
public:
    explicit DiscardingSink(std::size_t limit = SIZE_MAX) : m_limit(limit) {}
    Result<void> write(std::string_view bytes) override {
        if (m_data.size() + bytes.size() > m_limit) return transient_error(Errc::io_error, "disk full");
        m_data.append(bytes);
        return {};
    }
    bool discards_uncommitted() const noexcept override { return true; }
    const std::string& str() const noexcept { return m_data; }

private:
    std::size_t m_limit;
    std::string m_data;
};

// A signed part larger than the writer's buffer is hashed on a second
// thread while it is written (core/hash_pipeline.hpp), streamed or spooled
// depending on the sink. Sizes just under and over the first buffer
// (256 KiB), across one ring buffer, and round the ring: the signed part
// carries the body exactly, and openssl verifies the signature over it.
TEST(SignerApi, LargeMessagesAreHashedWhileWritten) {
    const Signer signer = rsa_signer();
    unsigned seed = 1;
    for (std::size_t lines : {3300u, 3400u, 17000u, 80000u}) {
        const LargeMessage m = large_message(lines, seed++);
        for (bool discarding : {false, true}) {
            SCOPED_TRACE(std::to_string(lines) + " lines, " + (discarding ? "streamed" : "spooled"));
            StringSink spooled;
            DiscardingSink streamed;
            Sink& sink = discarding ? static_cast<Sink&>(streamed) : static_cast<Sink&>(spooled);
            auto r = signer.sign(MessageInput::from_memory(m.message), sink);
            ASSERT_TRUE(r.ok()) << r.error().message();
            const std::string& out = discarding ? streamed.str() : spooled.str();
            EXPECT_EQ(r->bytes_out, out.size());
            SmimeParts parts = split_smime(out);
            ASSERT_EQ(parts.error, "");
            ASSERT_GE(parts.content.size(), m.signed_body.size());
            EXPECT_TRUE(parts.content.compare(parts.content.size() - m.signed_body.size(), std::string::npos,
                                              m.signed_body) == 0)
                << "the signed part must end with the body, CRLF";
            VerifyResult v = verify_openssl(out);
            EXPECT_TRUE(v.ok) << v.details;
        }
    }
}

// A sink that fails while the signed part streams into it: the signer
// returns the sink's error, not a signature.
TEST(SignerApi, SinkFailingMidStream) {
    const Signer signer = rsa_signer();
    const LargeMessage m = large_message(60000, 99);
    DiscardingSink sink(1024 * 1024);
    auto r = signer.sign(MessageInput::from_memory(m.message), sink);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::io_error);
    EXPECT_EQ(r.error().kind(), ErrorKind::transient);
    EXPECT_EQ(r.error().message(), "disk full");
    EXPECT_EQ(sink.str().find("smime.p7s"), std::string::npos) << "no signature part after a failure";
}

}  // namespace
}  // namespace ribbon::test
