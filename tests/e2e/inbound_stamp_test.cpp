// `ribbon milter` stamping inbound mail ([inbound] verify, docs/RECEIVING.md)
// inside a real Postfix: customers' mail signed by `openssl cms` and NSS
// `cmsutil` (certificates from a CA of the customers' own, which [inbound]
// ca_file trusts), tampered, unsigned, and carrying forged
// Authentication-Results and Ribbon-Continuity fields, is delivered with
// ribbon's two fields at the top, exactly once, and the forged ones gone.
// Ribbon's own failures stamp temperror and deliver, unless told to
// tempfail.
#include <gtest/gtest.h>

#include <ctime>
#include <sys/stat.h>

#include <thread>

#include "base/ascii.hpp"
#include "ribbon/recipients.hpp"
#include "support/inbound_rig.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/postgres.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const std::string kHeaders = customer_headers();
const std::string kContent = customer_content();

// What a valid signature's first message from its address gets.
std::string first_today() { return "Ribbon-Continuity: first; seen=1; since=" + utc_date_today() + "\r\n"; }

// Learning goes on beside stamping: the S/MIME message, offered whole,
// teaches that Alice can read signed mail.
TEST(InboundStamp, OpensslSignedIsStampedPass) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const std::string message = to_crlf(openssl_signed(kHeaders, kContent, customers().alice));
    EXPECT_EQ(s.deliver(message), alice_passes() + first_today() + message);
    std::optional<RecipientRecord> learned;
    for (int i = 0; i < 100 && !learned; ++i) {
        auto store = RecipientStore::open("sqlite://" + (s.rig.dir() / "state" / "ribbon.db").string());
        ASSERT_TRUE(store) << store.error().message();
        auto r = (*store)->find(kAlice);
        ASSERT_TRUE(r) << r.error().message();
        learned = *r;
        if (!learned) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(learned) << s.rig.milter_log();
    EXPECT_EQ(learned->capability, SmimeSupport::supported);
    EXPECT_EQ(learned->message_count, 1u);
    EXPECT_EQ(alice_passes(),
              "Authentication-Results: mx.bank.example; smime=pass\r\n"
              " body.smime-identifier=alice@customer.example body.smime-serial=0A1B2C3D4E5F\r\n"
              " body.smime-issuer=\"CN=Customer Test CA,O=Customer GmbH,C=DE\"\r\n");
}

TEST(InboundStamp, NssSignedIsStampedPass) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    for (bool opaque : {false, true}) {
        const std::string message =
            to_crlf(nss_signed(kHeaders, kContent, customers().alice, customers().ca.root().cert, opaque));
        // The same Message-ID and signed content both times: one message,
        // counted once, known the second time.
        const std::string continuity = opaque ? "Ribbon-Continuity: known; seen=1; since=" + utc_date_today() + "\r\n"
                                              : first_today();
        EXPECT_EQ(s.deliver(message), alice_passes() + continuity + message) << opaque;
    }
}

// GnuPG's gpgsm, signing with the test PKI's RSA leaf under its
// intermediate.
TEST(InboundStamp, GpgsmSignedIsStampedPass) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const std::string headers =
        "From: Bank <no-reply@bank.example>\nTo: support@bank.example\nSubject: Statement\n"
        "Date: " + rfc5322_date(std::time(nullptr)) + "\nMessage-ID: <g1@bank.example>\n";
    const std::string message = to_crlf(gpgsm_signed(headers, kContent, Issued{pki().rsa.key, pki().rsa.cert},
                                                     {pki().intermediate_cert}, pki().root_cert));
    const X509View cert = x509_view(pki().rsa.cert);
    // The test PKI's serials are 20 random bytes: the serial gets a line.
    EXPECT_EQ(s.deliver(message), "Authentication-Results: mx.bank.example; smime=pass\r\n"
                                  " body.smime-identifier=no-reply@bank.example\r\n body.smime-serial=" +
                                      ascii_upper(cert.serial) + "\r\n body.smime-issuer=\"" + cert.issuer +
                                      "\"\r\n" + first_today() + message);
}

TEST(InboundStamp, TamperedFailsUnsignedIsNone) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    std::string tampered = to_crlf(openssl_signed(kHeaders, kContent, customers().alice));
    tampered.replace(tampered.find("Is my card ready?"), 17, "Is my card READY?");
    const X509View cert = x509_view(customers().alice.cert);
    EXPECT_EQ(s.deliver(tampered),
              "Authentication-Results: mx.bank.example; smime=fail\r\n"
              " reason=\"the content does not match the message digest in the signature: it\r\n"
              " was changed after signing\" body.smime-identifier=alice@customer.example\r\n"
              " body.smime-serial=" +
                  ascii_upper(cert.serial) + "\r\n body.smime-issuer=\"" + cert.issuer +
                  "\"\r\nRibbon-Continuity: none\r\n" + tampered);

    const std::string unsigned_ = to_crlf(kHeaders + "\nHello\n");
    EXPECT_EQ(s.deliver(unsigned_),
              "Authentication-Results: mx.bank.example; smime=none\r\nRibbon-Continuity: none\r\n" + unsigned_);
}

// RFC 8601 §5: fields from outside that carry our authserv-id, however
// dressed, and any Ribbon-Continuity, are gone; another ADMD's stay.
TEST(InboundStamp, ForgedFieldsAreRemoved) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const std::string kept_ar = "Authentication-Results: relay.other.example; dkim=pass header.d=customer.example\r\n";
    const std::string forged =
        "Authentication-Results: mx.bank.example; smime=pass body.smime-identifier=ceo@bank.example\r\n" +
        kept_ar +
        "Ribbon-Continuity: known; seen=999; since=2020-01-01\r\n"
        "authentication-results: (ours, honest)\r\n \"MX.Bank.Example\"; smime=pass\r\n"
        "RIBBON-continuity: known; seen=998\r\n"
        "Authentication-Results : mx.bank.example; smime=pass\r\n"  // RFC 5322 §4.5.8 obs-optional
        "Ribbon-Continuity\t: known\r\n";
    const std::string signed_ = to_crlf(openssl_signed(kHeaders, kContent, customers().alice));
    const std::string delivered = s.deliver(forged + signed_);
    EXPECT_EQ(delivered, alice_passes() + first_today() + kept_ar + signed_);
}

// Many forged fields interleaved with another ADMD's: Postfix numbers
// fields of a name as ribbon counts them, and removing the last first keeps
// every index right.
TEST(InboundStamp, HundredsOfForgedFieldsAreRemoved) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    std::string forged, kept;
    for (int i = 0; i < 300; ++i) {
        const std::string other = "Authentication-Results: relay" + std::to_string(i) + ".other.example; spf=pass\r\n";
        forged += "Authentication-Results: mx.bank.example; smime=pass\r\n" + other + "Ribbon-Continuity: known\r\n";
        kept += other;
    }
    const std::string unsigned_ = to_crlf(kHeaders + "\nHello\n");
    EXPECT_EQ(s.deliver(forged + unsigned_),
              "Authentication-Results: mx.bank.example; smime=none\r\nRibbon-Continuity: none\r\n" + kept + unsigned_);
    EXPECT_NE(s.rig.milter_log().find("inbound: removed 600 header field(s) that claimed to be ribbon's"),
              std::string::npos)
        << s.rig.milter_log();
}

// The spool directory is gone, so a message above spool_threshold cannot be
// collected: ribbon's failure, stamped temperror, delivered all the same.
TEST(InboundStamp, InternalFailureStampsTemperrorAndDelivers) {
    SKIP_WITHOUT_MTA();
    StampingMilter s({}, "spool_threshold = 4096\n");
    fs::remove_all(s.rig.dir() / "spool");
    std::string body;
    for (int i = 0; i < 200; ++i) body += std::string(60, 'x') + "\n";
    const std::string message = to_crlf(kHeaders + "\n" + body);
    const std::string delivered = s.deliver(message);
    EXPECT_EQ(delivered, "Authentication-Results: mx.bank.example; smime=temperror\r\n"
                         " reason=\"a temporary failure of the receiving system, not of the message\"\r\n"
                         "Ribbon-Continuity: temperror\r\n" + message);
    EXPECT_NE(s.rig.milter_log().find("inbound: temperror: the message could not be spooled"), std::string::npos)
        << s.rig.milter_log();
}

TEST(InboundStamp, InternalFailureTempfailsWhenToldTo) {
    SKIP_WITHOUT_MTA();
    StampingMilter s("on_internal_error = \"tempfail\"\n", "spool_threshold = 4096\n");
    fs::remove_all(s.rig.dir() / "spool");
    auto sub = s.rig.postfix().submit_smtp(to_crlf(kHeaders + "\n" + std::string(8000, 'x') + "\n"), kAlice,
                                           {kSupport});
    EXPECT_EQ(sub.final_code, 451) << sub.transcript;
    EXPECT_NE(sub.final_reply.find("4.3.0"), std::string::npos) << sub.final_reply;
    EXPECT_EQ(s.rig.sink().count(), 0u);
}

// The store fails under the running milter (as in MilterInbound's test):
// learning logs it, key continuity stamps temperror, the signature's
// verdict stands and the mail is delivered.
TEST(InboundStamp, AFailingStoreNeitherHoldsNorUnstampsMail) {
    SKIP_WITHOUT_MTA();
    StampingMilter s;
    const fs::path db = s.rig.dir() / "state" / "ribbon.db";
    ASSERT_TRUE(fs::exists(db));
    ASSERT_EQ(::chmod(db.c_str(), 0444), 0);
    const std::string message = to_crlf(openssl_signed(kHeaders, kContent, customers().alice));
    EXPECT_EQ(s.deliver(message), alice_passes() + "Ribbon-Continuity: temperror\r\n" + message);
    EXPECT_TRUE(s.rig.milter_running());
}

// A PostgreSQL store that stops under the running milter: learning logs
// it, continuity stamps temperror, the mail is delivered all the same.
TEST(InboundStamp, AStoppedPostgresStoreNeitherHoldsNorUnstampsMail) {
    SKIP_WITHOUT_MTA();
    SKIP_WITHOUT_POSTGRES();
    PostgresServer pg;
    ASSERT_EQ(pg.start(), "");
    ASSERT_EQ(pg.create_database("ribbon"), "");
    StampingMilter s("\n[store]\nurl = \"" + pg.url("ribbon") + "\"\n");
    pg.stop();
    const std::string message = to_crlf(openssl_signed(kHeaders, kContent, customers().alice));
    EXPECT_EQ(s.deliver(message), alice_passes() + "Ribbon-Continuity: temperror\r\n" + message);
    EXPECT_TRUE(s.rig.milter_running());
}

}  // namespace
}  // namespace ribbon::test
