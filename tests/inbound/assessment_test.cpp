// Assessor::assess on mail signed by other implementations (`openssl cms`,
// NSS `cmsutil`) with certificates minted by the openssl CLI, and the
// Authentication-Results it turns into: the identifier, serial and issuer
// are compared with what `openssl x509` says about the certificate.
#include "inbound/assessment.hpp"

#include <gtest/gtest.h>

#include <ctime>

#include "base/ascii.hpp"
#include "inbound/stamp.hpp"
#include "support/customers.hpp"
#include "support/messages.hpp"

namespace ribbon::test {
namespace {

using inbound::Assessment;
using inbound::Assessor;

constexpr const char* kAlice = "alice@customer.example";
const std::string kHeaders =
    "From: Alice Customer <alice@customer.example>\nTo: support@bank.example\nSubject: Card\n"
    "Date: " + rfc5322_date(std::time(nullptr)) + "\nMessage-ID: <a1@customer.example>\n";
const std::string kContent = "Content-Type: text/plain; charset=utf-8\n\nIs my card ready?\n";

struct Fixture {
    CustomerCa ca;
    Issued alice = ca.issue("alice", "/C=DE/O=Customer GmbH, Cards/CN=Alice Customer", signing_extensions(kAlice),
                            "0a1b2c3d4e5f");
    Assessor assessor = [this] {
        auto trust = TrustStore::from_files({ca.root().cert});
        EXPECT_TRUE(trust) << trust.error().message();
        return Assessor(Verifier(std::move(*trust)));
    }();
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

std::string unfolded(std::string s) {
    for (std::size_t p; (p = s.find("\r\n")) != std::string::npos;) s.erase(p, 2);
    return s;
}

std::string expected_pass(const X509View& cert) {
    return " mx.bank.example; smime=pass body.smime-identifier=alice@customer.example body.smime-serial=" +
           ascii_upper(cert.serial) + " body.smime-issuer=\"" + cert.issuer + "\"";
}

TEST(Assess, OpensslSignedPasses) {
    Fixture& f = fixture();
    const std::string message = openssl_signed(kHeaders, kContent, f.alice);
    Assessment a = f.assessor.assess(MessageInput::from_memory(message));
    ASSERT_TRUE(a.verified) << (a.verify_error ? a.verify_error->message() : "");
    EXPECT_EQ(a.verified->verdict, Verdict::valid) << a.verified->detail;
    EXPECT_FALSE(a.temperror);
    EXPECT_EQ(unfolded(inbound::authentication_results("mx.bank.example", a)), expected_pass(x509_view(f.alice.cert)));
    EXPECT_EQ(inbound::continuity_header(a), " none");
}

TEST(Assess, NssSignedOpaquePasses) {
    Fixture& f = fixture();
    const std::string message = nss_signed(kHeaders, kContent, f.alice, f.ca.root().cert, true);
    Assessment a = f.assessor.assess(MessageInput::from_memory(message));
    ASSERT_TRUE(a.verified);
    EXPECT_EQ(unfolded(inbound::authentication_results("mx.bank.example", a)), expected_pass(x509_view(f.alice.cert)));
}

TEST(Assess, TamperedFailsUnsignedIsNone) {
    Fixture& f = fixture();
    std::string message = openssl_signed(kHeaders, kContent, f.alice);
    message.replace(message.find("Is my card ready?"), 17, "Is my card READY?");
    Assessment a = f.assessor.assess(MessageInput::from_memory(message));
    EXPECT_EQ(inbound::smime_result(a), inbound::SmimeResult::fail);
    EXPECT_EQ(unfolded(inbound::authentication_results("mx.bank.example", a)).rfind(
                  " mx.bank.example; smime=fail reason=\"", 0),
              0u);

    Assessment none = f.assessor.assess(MessageInput::from_memory(kHeaders + "\nHello\n"));
    EXPECT_EQ(inbound::authentication_results("mx.bank.example", none), " mx.bank.example; smime=none");
}

TEST(Assess, GarbageSignatureIsNeutral) {
    Fixture& f = fixture();
    const std::string message = kHeaders +
                                "MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=signed-data;"
                                " name=smime.p7m\nContent-Transfer-Encoding: base64\n\nTm90IENNUw==\n";
    Assessment a = f.assessor.assess(MessageInput::from_memory(message));
    ASSERT_TRUE(a.verify_error);
    EXPECT_EQ(a.verify_error->code(), Errc::bad_signature_format) << a.verify_error->message();
    EXPECT_EQ(inbound::smime_result(a), inbound::SmimeResult::neutral);
    EXPECT_FALSE(a.temperror);
}

}  // namespace
}  // namespace ribbon::test
