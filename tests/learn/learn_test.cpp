// The Learner (ribbon/learn.hpp) on customers' mail made by other
// implementations: signed with `openssl cms` and NSS `cmsutil` by
// certificates minted here by a CA of the customers' own, sealed with
// `openssl cms -encrypt`, the inbound header corpus (tests/data/inbound),
// mail that teaches nothing, and broken input. What ribbon harvests is
// compared with what openssl says about the same certificate and the same
// SignedData, never with ribbon's own reading.
#include "ribbon/learn.hpp"

#include <gtest/gtest.h>
#include <strings.h>
#include <time.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "support/customers.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr UnixTime kNow = 1700000000;
constexpr const char* kAlice = "alice@customer.example";

// What `openssl cms -sign` (3.0) puts in sMIMECapabilities unless told
// otherwise, as `openssl cms -cmsout -print` shows it. RC2 appears three
// times because OpenSSL offers it with 128-, 64- and 40-bit keys; the key
// size is a parameter, which ribbon does not keep (verifier.cpp).
const std::vector<std::string> kOpensslDefaultCapabilities = {
    "aes-256-cbc", "aes-192-cbc", "aes-128-cbc", "des-ede3-cbc",
    "rc2-cbc",     "rc2-cbc",     "des-cbc",     "rc2-cbc"};
// NSS's `cmsutil -P` list (3.87): no AES-192, and RC2 at 128, 64 and 40 bits.
const std::vector<std::string> kNssCapabilities = {
    "aes-256-cbc", "aes-128-cbc", "des-ede3-cbc", "rc2-cbc", "rc2-cbc", "des-cbc", "rc2-cbc"};

// The customers' certificates, made once per test process.
struct Customers {
    CustomerCa ca;
    Issued alice = ca.issue("alice", "/C=DE/O=Customer GmbH/CN=Alice Customer",
                            signing_extensions(kAlice), "0a1b2c3d4e5f");
    // Outlook sends the encryption certificate beside the signing one.
    Issued alice_encryption =
        ca.issue("alice-enc", "/C=DE/O=Customer GmbH/CN=Alice Customer (encryption)",
                 "basicConstraints = critical, CA:FALSE\n"
                 "keyUsage = critical, keyAgreement\n"
                 "extendedKeyUsage = emailProtection\n"
                 "subjectAltName = email:alice@customer.example\n",
                 "0a1b2c3d4e60");
    Issued bob = ca.issue("bob", "/C=DE/O=Customer GmbH/CN=Bob Customer",
                          signing_extensions("bob@customer.example"), "7f00000000000001");
    // An intermediate that (oddly, but nothing forbids it) names Dave's
    // address too: it must not be harvested for being a CA, not for its name.
    Issued sub_ca = ca.issue("sub-ca", "/C=DE/O=Customer GmbH/CN=Customer Issuing CA",
                             "basicConstraints = critical, CA:TRUE, pathlen:0\n"
                             "keyUsage = critical, keyCertSign, cRLSign\n"
                             "subjectAltName = email:dave@customer.example\n",
                             "02");
    Issued dave = ca.issue("dave", "/C=DE/O=Customer GmbH/CN=Dave Customer",
                           signing_extensions("dave@customer.example"), "0d0d0d", &sub_ca);
    // A certificate for Alice's address from another issuer, as someone
    // relaying Alice's signed mail could add to its (unsigned) certificate set.
    Issued alice_planted = ca.issue("alice-planted", "/C=DE/O=Elsewhere/CN=Alice (planted)",
                                    signing_extensions(kAlice), "0bad", &sub_ca);
};

const Customers& customers() {
    static const Customers c;
    return c;
}

Learner learner(const fs::path& trusted_ca, std::function<bool(std::string_view)> own = {}) {
    auto rules = ClientRules::shipped();
    if (!rules) throw std::runtime_error(describe(rules.error()));
    auto trust = TrustStore::from_files({trusted_ca});
    if (!trust) throw std::runtime_error(describe(trust.error()));
    return Learner(std::move(*rules), std::move(*trust), std::move(own));
}

// Trusts the customers' CA, as a receiver that knows it would.
Learner trusting_learner() { return learner(customers().ca.root().cert); }

std::string headers_from(const std::string& from, const std::string& extra = {}) {
    return "From: A Customer <" + from +
           ">\n"
           "To: Customer Service <service@bank.example>\n"
           "Subject: My statement\n"
           "Date: " + rfc5322_date(std::time(nullptr)) + "\n"
           "Message-ID: <5e1f0a2c@customer.example>\n" +
           extra;
}

constexpr const char* kThunderbird =
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1\n";

const std::string kContent =
    "Content-Type: text/plain; charset=UTF-8\n"
    "\n"
    "Please send me my statement for October.\n"
    "From the desk of Alice.\n";

Learner::Lesson must_learn(const Learner& l, const std::string& message) {
    auto lesson = l.observe(message, kNow);
    EXPECT_TRUE(lesson.ok()) << describe(lesson.error());
    if (!lesson.ok()) return {};
    EXPECT_TRUE(lesson->observation.has_value()) << "skipped: " << lesson->skipped;
    EXPECT_EQ(lesson->skipped, "");
    return *lesson;
}

// `h` is exactly the certificate in `pem`, as openssl reads it.
void expect_harvested(const HarvestedCertificate& h, const fs::path& pem,
                      const std::vector<std::string>& caps) {
    const X509View v = x509_view(pem);
    EXPECT_EQ(h.sha256, v.sha256);
    EXPECT_EQ(h.der, v.der);
    EXPECT_EQ(h.subject, v.subject);
    EXPECT_EQ(h.issuer, v.issuer);
    EXPECT_EQ(h.serial, v.serial);
    EXPECT_EQ(h.not_after, v.not_after);
    EXPECT_EQ(h.capabilities, caps);
}

// ---- signed mail --------------------------------------------------------------

TEST(LearnSigned, OpensslDetachedSignatureProvesSupportAndHarvestsTheCertificate) {
    const Customers& c = customers();
    const std::string message =
        openssl_signed(headers_from(kAlice, kThunderbird), kContent, c.alice);
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.address, kAlice);
    EXPECT_EQ(o.time, kNow);
    ASSERT_TRUE(o.client);
    EXPECT_EQ(o.client->name, "Thunderbird");
    EXPECT_EQ(o.client->version, "115.3.1");
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified");

    const std::vector<std::string> printed = printed_capabilities(split_smime(message).der);
    EXPECT_EQ(printed, kOpensslDefaultCapabilities);
    ASSERT_EQ(o.certificates.size(), 1u);
    // OpenSSL's long names for these ciphers are its short names in lower
    // case, which is what ribbon stores.
    expect_harvested(o.certificates[0], c.alice.cert, printed);
}

// The CLI trusts the system's roots, which never include a customer's own
// CA: the signature still proves the client, and the certificate is still
// harvested (nothing is trusted because of the harvest).
TEST(LearnSigned, CertificateFromAnUntrustedCaIsStillHarvested) {
    const Customers& c = customers();
    const std::string message = openssl_signed(headers_from(kAlice), kContent, c.alice);
    const Learner::Lesson lesson = must_learn(learner(pki().root_cert), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_FALSE(o.client);
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified (untrusted)");
    ASSERT_EQ(o.certificates.size(), 1u);
    expect_harvested(o.certificates[0], c.alice.cert, kOpensslDefaultCapabilities);
    EXPECT_FALSE(o.certificates[0].bound);
}

TEST(LearnSigned, NssDetachedSignatureProvesSupportAndHarvestsTheCertificate) {
    const Customers& c = customers();
    const std::string message =
        nss_signed(headers_from(kAlice, kThunderbird), kContent, c.alice, c.ca.root().cert, false);
    ASSERT_TRUE(verify_openssl(message, c.ca.root().cert).ok) << "the test's own message is broken";
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified");
    const std::vector<std::string> printed = printed_capabilities(split_smime(message).der);
    EXPECT_EQ(printed, kNssCapabilities);
    ASSERT_EQ(o.certificates.size(), 1u);
    expect_harvested(o.certificates[0], c.alice.cert, printed);
}

TEST(LearnSigned, NssOpaqueSignatureProvesSupportAndHarvestsTheCertificate) {
    const Customers& c = customers();
    const std::string message =
        nss_signed(headers_from(kAlice), kContent, c.alice, c.ca.root().cert, true);
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified");
    ASSERT_EQ(o.certificates.size(), 1u);
    expect_harvested(o.certificates[0], c.alice.cert, kNssCapabilities);
}

TEST(LearnSigned, OpaqueSignedDataProvesSupportAndHarvestsTheCertificate) {
    const Customers& c = customers();
    const std::string message =
        openssl_signed(headers_from(kAlice), kContent, c.alice, {.opaque = true});
    ASSERT_NE(message.find("smime-type=signed-data"), std::string::npos) << message;
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified");
    ASSERT_EQ(o.certificates.size(), 1u);
    expect_harvested(o.certificates[0], c.alice.cert, kOpensslDefaultCapabilities);
}

// RFC 8551 §3.2.2 lets old clients omit smime-type; the .p7m is then
// whatever its content says. Signed data must still be read as signed
// (and harvested), not taken for sealed mail.
TEST(LearnSigned, OpaqueSignedDataWithoutSmimeTypeIsReadAsSigned) {
    const Customers& c = customers();
    std::string message = openssl_signed(headers_from(kAlice), kContent, c.alice, {.opaque = true});
    const std::string parameter = " smime-type=signed-data;";
    const auto at = message.find(parameter);
    ASSERT_NE(at, std::string::npos) << message;
    message.erase(at, parameter.size());
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified");
    ASSERT_EQ(o.certificates.size(), 1u);
    expect_harvested(o.certificates[0], c.alice.cert, kOpensslDefaultCapabilities);
}

TEST(LearnSigned, ChangedBodyIsADamagedSignatureAndHarvestsNothing) {
    const Customers& c = customers();
    std::string message = openssl_signed(headers_from(kAlice, kThunderbird), kContent, c.alice);
    const auto at = message.find("for October");
    ASSERT_NE(at, std::string::npos);
    message.replace(at, 11, "for SEPTEMB");
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    ASSERT_TRUE(o.client);
    EXPECT_EQ(o.client->name, "Thunderbird");
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 0.7);
    EXPECT_EQ(o.capability_evidence,
              "signed message whose signature does not hold (digest_mismatch)");
    EXPECT_TRUE(o.certificates.empty());
}

// Bob's certificate on mail from Alice: his client makes S/MIME, but
// nothing may be stored under Alice's address, not even Alice's own
// certificate riding along in the SignedData (its certificates are not
// covered by the signature: anyone can add one).
TEST(LearnSigned, CertificateWithoutTheFromAddressHarvestsNothing) {
    const Customers& c = customers();
    const std::string message =
        openssl_signed(headers_from(kAlice), kContent, c.bob, {.extra_certs = {c.alice.cert}});
    for (const fs::path& ca : {customers().ca.root().cert, pki().root_cert}) {
        SCOPED_TRACE(ca.string());
        const Learner::Lesson lesson = must_learn(learner(ca), message);
        ASSERT_TRUE(lesson.observation);
        const Observation& o = *lesson.observation;
        EXPECT_EQ(o.address, kAlice);
        EXPECT_EQ(o.capability, SmimeSupport::supported);
        EXPECT_EQ(o.confidence, 0.7);
        EXPECT_EQ(o.capability_evidence,
                  "signed message, but the signer's certificate does not name the From address");
        EXPECT_TRUE(o.certificates.empty());
    }
}

TEST(LearnSigned, CaCertificatesInTheChainAreNotHarvested) {
    const Customers& c = customers();
    const std::string dave = "dave@customer.example";
    const std::string message = openssl_signed(headers_from(dave), kContent, c.dave,
                                               {.extra_certs = {c.sub_ca.cert, c.ca.root().cert}});
    ASSERT_EQ(split_smime(message).error, "");
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.address, dave);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified");
    ASSERT_EQ(o.certificates.size(), 1u);
    expect_harvested(o.certificates[0], c.dave.cert, kOpensslDefaultCapabilities);
}

// Outlook signs with one certificate and adds the encryption certificate
// for the same address: both are the customer's.
TEST(LearnSigned, SigningAndEncryptionCertificatesAreBothHarvested) {
    const Customers& c = customers();
    const std::string message = openssl_signed(headers_from(kAlice), kContent, c.alice,
                                               {.extra_certs = {c.alice_encryption.cert}});
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.confidence, 1.0);
    ASSERT_EQ(o.certificates.size(), 2u);
    const bool signing_first = o.certificates[0].sha256 == x509_view(c.alice.cert).sha256;
    // The sMIMECapabilities are the sender's client's, so both carry them.
    expect_harvested(o.certificates[signing_first ? 0 : 1], c.alice.cert,
                     kOpensslDefaultCapabilities);
    expect_harvested(o.certificates[signing_first ? 1 : 0], c.alice_encryption.cert,
                     kOpensslDefaultCapabilities);
    // Only the signer's own certificate is bound: nothing signed names the
    // other one, so mail is never sealed to it (issue 18).
    EXPECT_TRUE(o.certificates[signing_first ? 0 : 1].bound);
    EXPECT_FALSE(o.certificates[signing_first ? 1 : 0].bound);
}

// NSS (as Thunderbird) names the encryption certificate in the signed
// SMIMEEncryptionKeyPreference attribute (RFC 8551 §2.5.3): the signature
// binds it, so it may be sealed to.
TEST(LearnSigned, AnEncryptionCertificateTheSignatureNamesIsBound) {
    const Customers& c = customers();
    const std::string message =
        nss_signed(headers_from(kAlice), kContent, c.alice, c.ca.root().cert, false, &c.alice_encryption);
    const std::string printed = run_process({"openssl", "cms", "-cmsout", "-print", "-inform", "DER"},
                                            split_smime(message).der).out;
    ASSERT_NE(printed.find("id-smime-aa-encrypKeyPref"), std::string::npos) << "NSS did not name it";
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    ASSERT_EQ(o.certificates.size(), 2u);
    for (const HarvestedCertificate& h : o.certificates) EXPECT_TRUE(h.bound) << h.subject;
    const bool signing_first = o.certificates[0].sha256 == x509_view(c.alice.cert).sha256;
    expect_harvested(o.certificates[signing_first ? 1 : 0], c.alice_encryption.cert, kNssCapabilities);
}

// The same message from a CA the receiver does not trust binds nothing.
TEST(LearnSigned, AnUntrustedSignatureBindsNoCertificate) {
    const Customers& c = customers();
    const std::string message =
        nss_signed(headers_from(kAlice), kContent, c.alice, c.ca.root().cert, false, &c.alice_encryption);
    const Learner::Lesson lesson = must_learn(learner(pki().root_cert), message);
    ASSERT_TRUE(lesson.observation);
    ASSERT_EQ(lesson.observation->certificates.size(), 2u);
    for (const HarvestedCertificate& h : lesson.observation->certificates) EXPECT_FALSE(h.bound) << h.subject;
}

// Thunderbird's test corpus (NSS-signed): the attribute names the signer's
// own certificate, the one certificate bound.
TEST(LearnSigned, TheThunderbirdCorpusSignerIsBound) {
    const fs::path dir = source_dir() / "tests" / "data" / "corpus" / "thunderbird" / "smime";
    const std::string message = read_file(dir / "alice.dsig.SHA256.multipart.eml");
    auto trust = TrustStore::from_files({dir / "TestCA.pem"});
    ASSERT_TRUE(trust.ok());
    auto verified = Verifier(std::move(*trust)).verify(MessageInput::from_memory(message));
    ASSERT_TRUE(verified.ok());
    const ribbon::VerifyResult& r = *verified;
    ASSERT_EQ(r.verdict, Verdict::valid) << r.detail;
    // NSS names the signer's own certificate for encryption too.
    ASSERT_EQ(r.bound_certificates.size(), 1u);
    ASSERT_EQ(r.sender_certificates.size(), 1u);
    EXPECT_EQ(r.bound_certificates[0], r.sender_certificates[0]);
}

TEST(LearnSigned, ACertificateFromAnotherIssuerBesideTheSignerIsNotHarvested) {
    const Customers& c = customers();
    const std::string message = openssl_signed(headers_from(kAlice), kContent, c.alice,
                                               {.extra_certs = {c.alice_planted.cert}});
    ASSERT_NE(message.find("smime.p7s"), std::string::npos);
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.confidence, 1.0);
    ASSERT_EQ(o.certificates.size(), 1u);
    EXPECT_EQ(o.certificates[0].sha256, x509_view(c.alice.cert).sha256);
    EXPECT_TRUE(o.certificates[0].bound);
}

// ---- sealed mail --------------------------------------------------------------

TEST(LearnSealed, EnvelopedDataToTheOrganisationProvesSupport) {
    TempDir tmp("ribbon-learn-seal");
    write_file(tmp / "content.txt", kContent);
    const std::string sealed = headers_from(kAlice, kThunderbird) +
                               tool({"openssl", "cms", "-encrypt", "-aes256", "-in",
                                     (tmp / "content.txt").string(), pki().rsa.cert.string()});
    ASSERT_NE(sealed.find("smime-type=enveloped-data"), std::string::npos) << sealed;
    const Learner::Lesson lesson = must_learn(trusting_learner(), sealed);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    ASSERT_TRUE(o.client);
    EXPECT_EQ(o.client->name, "Thunderbird");
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 1.0);
    EXPECT_EQ(o.capability_evidence, "sealed message (S/MIME enveloped-data)");
    EXPECT_TRUE(o.certificates.empty());
}

// An old client's .p7m without smime-type: the CMS content says sealed.
TEST(LearnSealed, EnvelopedDataWithoutSmimeTypeProvesSupport) {
    TempDir tmp("ribbon-learn-seal");
    write_file(tmp / "content.txt", kContent);
    std::string sealed =
        headers_from(kAlice) + tool({"openssl", "cms", "-encrypt", "-aes256", "-in",
                                     (tmp / "content.txt").string(), pki().rsa.cert.string()});
    const std::string parameter = " smime-type=enveloped-data;";
    const auto at = sealed.find(parameter);
    ASSERT_NE(at, std::string::npos) << sealed;
    sealed.erase(at, parameter.size());
    const Learner::Lesson lesson = must_learn(trusting_learner(), sealed);
    ASSERT_TRUE(lesson.observation);
    EXPECT_EQ(lesson.observation->capability, SmimeSupport::supported);
    EXPECT_EQ(lesson.observation->confidence, 1.0);
    EXPECT_EQ(lesson.observation->capability_evidence, "sealed message (S/MIME enveloped-data)");
    EXPECT_TRUE(lesson.observation->certificates.empty());
}

// ---- the header corpus ----------------------------------------------------------

// Every sample of tests/data/inbound, as mail from a customer: the client
// and capability EXPECTED.tsv names, at the rule's confidence (0 when the
// rule does not know whether the client shows signatures).
TEST(LearnCorpus, ClientAndCapabilityMatchTheManifest) {
    const fs::path dir = source_dir() / "tests" / "data" / "inbound";
    std::ifstream manifest(dir / "EXPECTED.tsv");
    ASSERT_TRUE(manifest) << dir;
    const Learner l = trusting_learner();
    auto rules = ClientRules::shipped();
    ASSERT_TRUE(rules.ok());
    std::string line;
    int samples = 0;
    while (std::getline(manifest, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string file, client, version, smime;
        std::getline(fields, file, '\t');
        std::getline(fields, client, '\t');
        std::getline(fields, version, '\t');
        std::getline(fields, smime, '\t');
        SCOPED_TRACE(file);
        ++samples;
        std::string message = read_file(dir / file);
        // Three samples have no From (an empty file, a leading blank line,
        // binary junk); a customer's message always has one.
        const auto headers = parse_mail_headers(message);
        if (std::none_of(headers.begin(), headers.end(), [](const MailHeader& h) {
                return h.name.size() == 4 && strncasecmp(h.name.c_str(), "From", 4) == 0;
            })) {
            message = "From: <customer@example.org>\n" + message;
        }
        auto lesson = l.observe(message, kNow);
        ASSERT_TRUE(lesson.ok()) << describe(lesson.error());
        ASSERT_TRUE(lesson->observation) << lesson->skipped;
        const Observation& o = *lesson->observation;
        if (client == "-") {
            EXPECT_FALSE(o.client) << o.client->name;
            EXPECT_EQ(o.capability, SmimeSupport::unknown);
            EXPECT_EQ(o.confidence, 0.0);
            EXPECT_EQ(o.capability_evidence, "");
            continue;
        }
        ASSERT_TRUE(o.client);
        EXPECT_EQ(o.client->name, client);
        EXPECT_EQ(o.client->version, version == "-" ? "" : version);
        EXPECT_EQ(smime_support_name(o.client->smime), smime);
        EXPECT_EQ(smime_support_name(o.capability), smime);
        const auto match = rules->detect(parse_mail_headers(message));
        ASSERT_TRUE(match);
        EXPECT_EQ(o.confidence, o.capability == SmimeSupport::unknown ? 0.0 : match->confidence);
        EXPECT_EQ(o.client->evidence, match->evidence);
        EXPECT_EQ(o.capability_evidence, "client " + client + " (" + match->evidence + ")");
        EXPECT_TRUE(o.certificates.empty());
    }
    EXPECT_EQ(samples, 49);
}

// What the learning path costs per inbound message without a signature
// (the milter runs it on every one): observe() over every sample of the
// corpus, the client rules included. The thread's CPU time, not the wall
// clock, so that other load on a shared machine counts less. Printed for
// docs/LEARNING.md; the bound only catches a disaster.
double thread_cpu_us() {
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

TEST(LearnCost, ObserveOverTheCorpus) {
    const fs::path dir = source_dir() / "tests" / "data" / "inbound";
    std::vector<std::string> messages;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".eml") continue;
        std::string message = read_file(entry.path());
        const auto headers = parse_mail_headers(message);
        if (std::none_of(headers.begin(), headers.end(), [](const MailHeader& h) {
                return h.name.size() == 4 && strncasecmp(h.name.c_str(), "From", 4) == 0;
            })) {
            message = "From: <customer@example.org>\n" + message;
        }
        messages.push_back(std::move(message));
    }
    ASSERT_EQ(messages.size(), 49u);
    const Learner l = trusting_learner();
    constexpr int kRounds = 200;
    std::size_t learned = 0;
    const double start = thread_cpu_us();
    for (int round = 0; round < kRounds; ++round) {
        for (const auto& m : messages) {
            auto lesson = l.observe(m, kNow);
            learned += lesson.ok() && lesson->observation.has_value();
        }
    }
    const double us = (thread_cpu_us() - start) / static_cast<double>(messages.size() * kRounds);
    EXPECT_EQ(learned, messages.size() * kRounds);
    std::cout << "[ cost     ] observe() over " << messages.size() << " corpus messages: " << us
              << " us CPU per message\n";
    RecordProperty("observe_us", std::to_string(us));
    EXPECT_LT(us, 5000.0);
}

// ---- mail that teaches nothing ----------------------------------------------------

std::string plain(const std::string& from, const std::string& extra) {
    return headers_from(from, extra + kThunderbird) + kContent;
}

std::string skipped(const Learner& l, const std::string& message) {
    auto lesson = l.observe(message, kNow);
    EXPECT_TRUE(lesson.ok()) << describe(lesson.error());
    if (!lesson.ok()) return "(error)";
    EXPECT_FALSE(lesson->observation) << lesson->observation->address;
    return lesson->skipped;
}

TEST(LearnSkips, AutomaticRepliesReportsBulkAndDaemons) {
    const Learner l = trusting_learner();
    EXPECT_EQ(skipped(l, plain(kAlice, "Auto-Submitted: auto-replied\n")),
              "an automatic message (Auto-Submitted: auto-replied)");
    EXPECT_EQ(skipped(l, plain(kAlice, "Auto-Submitted: Auto-Generated (vacation)\n")),
              "an automatic message (Auto-Submitted: auto-generated)");
    EXPECT_EQ(
        skipped(l, headers_from(kAlice,
                                "MIME-Version: 1.0\n"
                                "Content-Type: multipart/report; report-type=delivery-status;\n"
                                " boundary=\"r\"\n\n--r\n\nfailed\n--r--\n")),
        "a delivery or read report (multipart/report)");
    EXPECT_EQ(skipped(l, plain(kAlice, "Precedence: bulk\n")), "bulk mail (Precedence: bulk)");
    EXPECT_EQ(skipped(l, plain(kAlice, "Precedence: junk\n")), "bulk mail (Precedence: junk)");
    EXPECT_EQ(skipped(l, plain("MAILER-DAEMON@mx.customer.example", "")),
              "mail from a mailer daemon");
}

TEST(LearnSkips, TheOrganisationsOwnAddresses) {
    const Learner l = learner(customers().ca.root().cert,
                              [](std::string_view a) { return a == "no-reply@bank.example"; });
    // The predicate sees the address in lower case.
    EXPECT_EQ(skipped(l, plain("No-Reply@Bank.Example", "")),
              "mail from the organisation's own address no-reply@bank.example");
    // Even a signed message from the organisation teaches nothing.
    EXPECT_EQ(skipped(l, openssl_signed(headers_from("no-reply@bank.example"), kContent,
                                        customers().alice)),
              "mail from the organisation's own address no-reply@bank.example");
    const Learner::Lesson other = must_learn(l, plain(kAlice, ""));
    ASSERT_TRUE(other.observation);
    EXPECT_EQ(other.observation->address, kAlice);
}

// RFC 3834 §5: "no" is what a person's message may say.
TEST(LearnSkips, AutoSubmittedNoIsLearned) {
    const Learner::Lesson lesson =
        must_learn(trusting_learner(), plain(kAlice, "Auto-Submitted: no\n"));
    ASSERT_TRUE(lesson.observation);
    ASSERT_TRUE(lesson.observation->client);
    EXPECT_EQ(lesson.observation->client->name, "Thunderbird");
    EXPECT_EQ(lesson.observation->capability, SmimeSupport::supported);
    EXPECT_EQ(lesson.observation->confidence, 0.9);
}

// ---- bad input ------------------------------------------------------------------

void expect_error(const Result<Learner::Lesson>& r, Errc code) {
    ASSERT_FALSE(r.ok()) << (r->observation ? r->observation->capability_evidence : r->skipped);
    EXPECT_EQ(r.error().code(), code) << describe(r.error());
    EXPECT_EQ(r.error().kind(), ErrorKind::permanent) << describe(r.error());
}

TEST(LearnBadInput, NoFrom) {
    const Learner l = trusting_learner();
    expect_error(l.observe("To: service@bank.example\nSubject: hi\n\nbody\n", kNow), Errc::no_from);
    expect_error(l.observe("From: \nSubject: hi\n\nbody\n", kNow), Errc::no_from);
}

TEST(LearnBadInput, GarbageBytes) {
    std::mt19937 random(6);
    std::string junk(4096, '\0');
    for (char& ch : junk) ch = static_cast<char>(random() & 0xFF);
    const Learner l = trusting_learner();
    expect_error(l.observe(junk, kNow), Errc::malformed_message);
    expect_error(l.observe("", kNow), Errc::empty_message);
}

// parse_mail_headers() keeps 64 KiB of a value and detect() looks at 4 KiB:
// a 200 KB field costs nothing and hides nothing around it.
TEST(LearnBadInput, HugeHeaderValue) {
    const std::string huge = "X-Filler: " + std::string(200 * 1024, 'a') + "\n";
    const Learner::Lesson lesson = must_learn(trusting_learner(), plain(kAlice, huge));
    ASSERT_TRUE(lesson.observation);
    ASSERT_TRUE(lesson.observation->client);
    EXPECT_EQ(lesson.observation->client->name, "Thunderbird");
    EXPECT_EQ(lesson.observation->confidence, 0.9);
}

// A signature the mail system broke beyond reading is still a signature
// the customer's client made (docs/LEARNING.md): supported at 0.7, nothing
// harvested, and never an error that would drop the whole lesson.
void expect_unreadable_signature(const std::string& message, const std::string& why) {
    const Learner::Lesson lesson = must_learn(trusting_learner(), message);
    ASSERT_TRUE(lesson.observation);
    const Observation& o = *lesson.observation;
    EXPECT_EQ(o.address, kAlice);
    ASSERT_TRUE(o.client);
    EXPECT_EQ(o.client->name, "Thunderbird");
    EXPECT_EQ(o.capability, SmimeSupport::supported);
    EXPECT_EQ(o.confidence, 0.7);
    EXPECT_EQ(o.capability_evidence, "S/MIME message that cannot be read (" + why + ")");
    EXPECT_TRUE(o.certificates.empty());
}

TEST(LearnBadInput, TruncatedMultipartSigned) {
    const std::string message =
        openssl_signed(headers_from(kAlice, kThunderbird), kContent, customers().alice);
    const auto signature = message.find("smime.p7s");
    ASSERT_NE(signature, std::string::npos);
    expect_unreadable_signature(message.substr(0, signature + 200), "malformed_message");
    // Cut before the signature part even begins.
    expect_unreadable_signature(message.substr(0, message.find("From the desk")),
                                "malformed_message");
}

TEST(LearnBadInput, GarbageInTheSignature) {
    std::string message =
        openssl_signed(headers_from(kAlice, kThunderbird), kContent, customers().alice);
    const std::string signature_header_end = "filename=\"smime.p7s\"\n\n";
    const auto body = message.find(signature_header_end);
    ASSERT_NE(body, std::string::npos) << message;
    message.replace(body + signature_header_end.size(), 300,
                    "!!!! this is not base64 ####\n@@@@\n");
    expect_unreadable_signature(message, "bad_signature_format");

    // Valid base64 of something that is not CMS.
    std::string opaque = openssl_signed(headers_from(kAlice, kThunderbird), kContent,
                                        customers().alice, {.opaque = true});
    const auto start = opaque.find("\n\n") + 2;
    opaque.replace(start, std::string::npos, "aGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IENNUw==\n");
    expect_unreadable_signature(opaque, "bad_signature_format");
}

// The verifier refuses a header field over 64 KiB in signed mail rather
// than compare and print it; what the client made is still learned.
TEST(LearnBadInput, HugeHeaderInASignedMessage) {
    const std::string huge = "X-Filler: " + std::string(200 * 1024, 'a') + "\n";
    expect_unreadable_signature(
        openssl_signed(headers_from(kAlice, kThunderbird + huge), kContent, customers().alice),
        "limit_exceeded");
}

}  // namespace
}  // namespace ribbon::test
