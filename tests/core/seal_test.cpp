// Unit tests of src/core/seal*.cpp: which certificates may be sealed to
// (each refusal its own Errc), the sealed message's shape (which header
// fields stay outside, what is enveloped, byte for byte), and that OpenSSL
// — another implementation — opens every variant with the algorithms the
// capabilities chose. NSS and gpgsm: tests/e2e/seal_cli_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include "ribbon/seal.hpp"
#include "support/cert_maker.hpp"
#include "support/openers.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

using std::chrono::hours;

// A recipient with its key and certificate in files, for the openers.
struct Recipient {
    MadeCert made;
    std::filesystem::path key, cert;
};

// Each its own issuer name, so that a RecipientInfo's issuerAndSerialNumber
// (RFC 5652 §6.2.1) names one of them only.
Recipient make_recipient(const TempDir& dir, const std::string& name, CertSpec spec) {
    spec.subject = {{"CN", "Customer " + name}};
    Recipient r{make_self_signed(spec), dir / (name + ".key"), dir / (name + ".pem")};
    write_file(r.key, r.made.key_pem);
    write_file(r.cert, r.made.cert_pem);
    return r;
}

CertSpec rsa_spec(const std::string& bits = "2048") {
    CertSpec s;
    s.key = "RSA:" + bits;
    s.subject = {{"CN", "Customer RSA"}};
    s.key_usage = "critical,digitalSignature,keyEncipherment";
    s.extended_key_usage = "emailProtection";
    return s;
}

CertSpec ec_spec(const std::string& curve = "P-256") {
    CertSpec s;
    s.key = "EC:" + curve;
    s.subject = {{"CN", "Customer EC"}};
    s.key_usage = "critical,digitalSignature,keyAgreement";
    s.extended_key_usage = "emailProtection";
    return s;
}

Result<SealRecipient> load(const CertSpec& spec, std::vector<std::string> caps = {}) {
    MadeCert made = make_self_signed(spec);
    return SealRecipient::from_certificate(made.cert_pem, std::move(caps), std::chrono::system_clock::now());
}

Errc refusal(const CertSpec& spec) {
    auto r = load(spec);
    EXPECT_FALSE(r.ok());
    return r.ok() ? Errc::internal_error : r.error().code();
}

Sealer sealer_for(std::vector<SealRecipient> recipients, std::optional<SealRecipient> copy_to = {}) {
    auto s = Sealer::create(std::move(recipients), std::move(copy_to));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    return *s;
}

SealRecipient recipient_of(const Recipient& r, std::vector<std::string> caps = {}) {
    auto loaded = SealRecipient::from_certificate(r.made.cert_pem, std::move(caps), std::chrono::system_clock::now());
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message());
    return *loaded;
}

std::string seal(const Sealer& sealer, const std::string& message) {
    StringSink out;
    auto r = sealer.seal(MessageInput::from_memory(message), out);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return out.take();
}

std::string cms_print(const std::string& message) {
    TempDir dir("ribbon-seal-print");
    write_file(dir / "in.der", sealed_der(message));
    return run_process({"openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", (dir / "in.der").string()})
        .out;
}

TEST(SealRecipient, AcceptsEncryptionCertificates) {
    EXPECT_TRUE(load(rsa_spec()).ok());
    EXPECT_TRUE(load(rsa_spec("4096")).ok());
    EXPECT_TRUE(load(ec_spec()).ok());
    EXPECT_TRUE(load(ec_spec("P-384")).ok());
    EXPECT_TRUE(load(ec_spec("P-521")).ok());
    CertSpec bare = rsa_spec();  // no keyUsage, no extKeyUsage: any use (RFC 5280 §4.2.1.3, §4.2.1.12)
    bare.key_usage.clear();
    bare.extended_key_usage.clear();
    EXPECT_TRUE(load(bare).ok());
    CertSpec any = ec_spec();
    any.extended_key_usage = "anyExtendedKeyUsage";
    EXPECT_TRUE(load(any).ok());
    auto r = load(ec_spec(), {"id-aes256-gcm"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->key_type(), SealKeyType::ec);
    EXPECT_EQ(r->capabilities(), std::vector<std::string>{"id-aes256-gcm"});
    EXPECT_EQ(r->certificate().subject, "CN=Customer EC");
}

TEST(SealRecipient, EachRefusalHasItsOwnCode) {
    CertSpec expired = rsa_spec();
    expired.not_before = "20190101000000Z";
    expired.not_after = "20200101000000Z";
    EXPECT_EQ(refusal(expired), Errc::seal_certificate_expired);
    CertSpec future = rsa_spec();
    future.not_before = "20400101000000Z";
    future.not_after = "20410101000000Z";
    EXPECT_EQ(refusal(future), Errc::seal_certificate_not_yet_valid);
    CertSpec sign_only = rsa_spec();
    sign_only.key_usage = "critical,digitalSignature";
    EXPECT_EQ(refusal(sign_only), Errc::seal_key_usage);
    CertSpec ec_transport = ec_spec();  // EC needs keyAgreement, not keyEncipherment
    ec_transport.key_usage = "critical,digitalSignature,keyEncipherment";
    EXPECT_EQ(refusal(ec_transport), Errc::seal_key_usage);
    CertSpec client = rsa_spec();
    client.extended_key_usage = "clientAuth";
    EXPECT_EQ(refusal(client), Errc::seal_extended_key_usage);
    EXPECT_EQ(refusal(rsa_spec("1024")), Errc::seal_weak_key);
    EXPECT_EQ(refusal(ec_spec("secp256k1")), Errc::seal_unsupported_key);
    auto garbage = SealRecipient::from_certificate("not a certificate", {}, std::chrono::system_clock::now());
    ASSERT_FALSE(garbage.ok());
    EXPECT_EQ(garbage.error().code(), Errc::bad_certificate);
    auto none = Sealer::create({});
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), Errc::seal_no_recipients);
}

TEST(SealRecipient, HostileSubjectIsMadeSafeInTheError) {
    CertSpec s = rsa_spec("1024");
    s.subject = {{"CN", "evil\x1b]0;owned\x07"}};
    auto r = load(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message().find('\x1b'), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find('\x07'), std::string::npos) << r.error().message();
}

const std::string kSigned =
    "Received: from app by mx; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
    "From: Bank <no-reply@bank.example>\r\n"
    "To: c@example.org\r\n"
    "Subject: Your statement\r\n"
    "Message-ID: <1@bank.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
    " micalg=sha-256; boundary=\"b\"\r\n"
    "X-Mailer: after the content type\r\n"
    "\r\n"
    "This is a cryptographically signed message in MIME format.\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b--\r\n";

TEST(Sealer, HeaderFieldsStayOutsideAndContentFieldsGoInside) {
    TempDir dir("ribbon-seal-shape");
    const Recipient rsa = make_recipient(dir, "rsa", rsa_spec());
    const std::string sealed = seal(sealer_for({recipient_of(rsa)}), kSigned);
    EXPECT_EQ(header_section(sealed),
              "Received: from app by mx; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
              "From: Bank <no-reply@bank.example>\r\n"
              "To: c@example.org\r\n"
              "Subject: Your statement\r\n"
              "Message-ID: <1@bank.example>\r\n"
              "X-Mailer: after the content type\r\n"
              "MIME-Version: 1.0\r\n"
              "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n"
              " name=\"smime.p7m\"\r\n"
              "Content-Transfer-Encoding: base64\r\n"
              "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n");
    // Base64 in CRLF lines of 76 (the last one shorter), nothing else.
    const std::string body = sealed.substr(header_section(sealed).size());
    std::size_t at = 0;
    while (at < body.size()) {
        const std::size_t end = body.find("\r\n", at);
        ASSERT_NE(end, std::string::npos);
        const std::size_t len = end - at;
        if (end + 2 < body.size()) {
            EXPECT_EQ(len, 76u);
        }
        EXPECT_LE(len, 76u);
        at = end + 2;
    }
    const OpenResult opened = open_openssl(sealed, rsa.key, rsa.cert);
    ASSERT_TRUE(opened.ok) << opened.details;
    EXPECT_EQ(opened.content,
              "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
              " micalg=sha-256; boundary=\"b\"\r\n"
              "\r\n"
              "This is a cryptographically signed message in MIME format.\r\n\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b--\r\n");
}

TEST(Sealer, BareLineEndsBecomeCrlfInsideAndOutside) {
    TempDir dir("ribbon-seal-lf");
    const Recipient rsa = make_recipient(dir, "rsa", rsa_spec());
    const std::string lf = "From: a@bank.example\nSubject: x\nContent-Type: text/plain\n\nline 1\nline 2\n";
    const std::string sealed = seal(sealer_for({recipient_of(rsa)}), lf);
    EXPECT_EQ(sealed.find("From: a@bank.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"), 0u);
    const OpenResult opened = open_openssl(sealed, rsa.key, rsa.cert);
    ASSERT_TRUE(opened.ok) << opened.details;
    EXPECT_EQ(opened.content, "Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n");
}

// Each variant: the algorithms chosen, the CMS as OpenSSL prints it, and
// OpenSSL opening it.
struct Variant {
    const char* name;
    CertSpec spec;
    std::vector<std::string> caps;
    std::vector<std::string> printed;  // must all appear in `openssl cms -cmsout -print`
    const char* smime_type;
};

TEST(Sealer, OpensslOpensEveryVariant) {
    TempDir dir("ribbon-seal-variants");
    const std::vector<Variant> variants = {
        {"rsa-pkcs1", rsa_spec(), {}, {"rsaEncryption", "aes-256-cbc"}, "enveloped-data"},
        {"rsa-oaep", rsa_spec(), {"rsaes-oaep"}, {"rsaesOaep", "aes-256-cbc"}, "enveloped-data"},
        {"rsa-oaep256", rsa_spec(), {"rsaes-oaep-sha256"}, {"rsaesOaep", "sha256", "aes-256-cbc"}, "enveloped-data"},
        {"ec-p256", ec_spec(), {}, {"dhSinglePass-stdDH-sha256kdf-scheme", "id-aes256-wrap", "aes-256-cbc"},
         "enveloped-data"},
        {"ec-p384", ec_spec("P-384"), {}, {"dhSinglePass-stdDH-sha256kdf-scheme", "id-aes256-wrap"}, "enveloped-data"},
        {"rsa-gcm", rsa_spec(), {"id-aes256-gcm"}, {"aes-256-gcm", "rsaEncryption"}, "authEnveloped-data"},
        {"ec-gcm", ec_spec(), {"id-aes128-gcm"}, {"aes-256-gcm", "dhSinglePass-stdDH-sha256kdf-scheme"},
         "authEnveloped-data"},
    };
    for (const Variant& v : variants) {
        SCOPED_TRACE(v.name);
        const Recipient r = make_recipient(dir, v.name, v.spec);
        const std::string sealed = seal(sealer_for({recipient_of(r, v.caps)}), kSigned);
        EXPECT_NE(sealed.find(std::string("smime-type=") + v.smime_type + ";"), std::string::npos);
        const std::string printed = cms_print(sealed);
        for (const std::string& p : v.printed) EXPECT_NE(printed.find(p), std::string::npos) << p << "\n" << printed;
        const OpenResult opened = open_openssl(sealed, r.key, r.cert);
        ASSERT_TRUE(opened.ok) << opened.details;
        EXPECT_EQ(opened.content.substr(0, 30), "Content-Type: multipart/signed");
    }
}

TEST(Sealer, EveryRecipientAndTheArchiveCopyCanOpen) {
    TempDir dir("ribbon-seal-many");
    const Recipient a = make_recipient(dir, "a", rsa_spec());
    const Recipient b = make_recipient(dir, "b", ec_spec());
    const Recipient archive = make_recipient(dir, "archive", rsa_spec("3072"));
    const Recipient stranger = make_recipient(dir, "stranger", rsa_spec());
    const Sealer sealer = sealer_for({recipient_of(a, {"rsaes-oaep"}), recipient_of(b)}, recipient_of(archive));
    const SealAlgorithms expected{SealContentCipher::aes256_cbc,
                                  {SealKeyTransport::rsa_oaep_sha1, SealKeyTransport::ecdh_sha256_aes256,
                                   SealKeyTransport::rsa_pkcs1_v15}};
    EXPECT_EQ(sealer.algorithms(), expected);
    const std::string sealed = seal(sealer, kSigned);
    std::string first;
    for (const Recipient* r : {&a, &b, &archive}) {
        const OpenResult opened = open_openssl(sealed, r->key, r->cert);
        ASSERT_TRUE(opened.ok) << opened.details;
        if (first.empty()) first = opened.content;
        EXPECT_EQ(opened.content, first);
    }
    EXPECT_FALSE(open_openssl(sealed, stranger.key, stranger.cert).ok);
}

TEST(Sealer, NothingWrittenWhenARecipientExpiredSinceLoading) {
    TempDir dir("ribbon-seal-expired");
    const Recipient a = make_recipient(dir, "a", rsa_spec());
    const Sealer sealer = sealer_for({recipient_of(a)});
    StringSink out;
    SealOptions later;
    later.now = std::chrono::system_clock::now() + hours(24 * 365 * 40);
    auto r = sealer.seal(MessageInput::from_memory(kSigned), out, later);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::seal_certificate_expired);
    EXPECT_EQ(out.str(), "");
    auto headless = sealer.seal(MessageInput::from_memory("no header section"), out);
    ASSERT_FALSE(headless.ok());
    EXPECT_EQ(headless.error().code(), Errc::malformed_message);
    EXPECT_EQ(out.str(), "");
}

// A pipe whose header section was read already (read_message_head, as
// `ribbon sign` does for stdin): the rest comes from the descriptor.
TEST(Sealer, ReadsThePipeAfterTheBytesReadAlready) {
    TempDir dir("ribbon-seal-pipe");
    const Recipient rsa = make_recipient(dir, "rsa", rsa_spec());
    const std::size_t split = kSigned.find("\r\n\r\n") + 4 + 10;  // the header and part of the body
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const std::string rest = kSigned.substr(split);
    ASSERT_EQ(::write(fds[1], rest.data(), rest.size()), static_cast<ssize_t>(rest.size()));
    ::close(fds[1]);
    const std::string already = kSigned.substr(0, split);
    StringSink out;
    auto r = sealer_for({recipient_of(rsa)}).seal(MessageInput::from_fd(fds[0], already), out);
    ::close(fds[0]);
    ASSERT_TRUE(r.ok()) << r.error().message();
    const OpenResult by_pipe = open_openssl(out.str(), rsa.key, rsa.cert);
    const OpenResult by_memory = open_openssl(seal(sealer_for({recipient_of(rsa)}), kSigned), rsa.key, rsa.cert);
    ASSERT_TRUE(by_pipe.ok) << by_pipe.details;
    EXPECT_EQ(by_pipe.content, by_memory.content);
    EXPECT_EQ(header_section(out.str()), header_section(seal(sealer_for({recipient_of(rsa)}), kSigned)));
}

Signer pki_signer() {
    auto id = DigitalId::load(pki().rsa.key, pki().rsa.cert, pki().chain);
    EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.error().message());
    auto signer = Signer::create(*id);
    EXPECT_TRUE(signer.ok());
    return *signer;
}

const std::string kStatement =
    "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\nSubject: Statement\r\n"
    "Message-ID: <s1@bank.example>\r\n\r\nYour statement is ready.\r\n";

TEST(Sealer, SignedEntityIsEnvelopedByteForByteAndStillVerifies) {
    TempDir dir("ribbon-seal-signed");
    const Recipient r = make_recipient(dir, "r", rsa_spec());
    SignOptions opts;
    opts.will_be_sealed = true;
    StringSink signed_out;
    ASSERT_TRUE(pki_signer().sign(MessageInput::from_memory(kStatement), signed_out, opts).ok());
    const std::string signed_message = signed_out.take();
    const std::string sealed = seal(sealer_for({recipient_of(r)}), signed_message);
    const OpenResult opened = open_openssl(sealed, r.key, r.cert);
    ASSERT_TRUE(opened.ok) << opened.details;
    const std::size_t mime = signed_message.find("MIME-Version: 1.0\r\n");
    ASSERT_NE(mime, std::string::npos);
    EXPECT_EQ(opened.content, signed_message.substr(mime + 19));
    // The receiver's view: the outer fields, then the opened entity.
    const std::string outer = header_section(sealed);
    const std::string received = outer.substr(0, outer.find("MIME-Version: ")) + "MIME-Version: 1.0\r\n" + opened.content;
    EXPECT_TRUE(verify_openssl(received).ok) << verify_openssl(received).details;
    EXPECT_TRUE(verify_ribbon(received).ok) << verify_ribbon(received).details;
}

TEST(Sealer, SignAndSealSaysCipherInsideTheSignature) {
    TempDir dir("ribbon-seal-hp");
    const Recipient r = make_recipient(dir, "r", ec_spec());
    StringSink out;
    auto report = sign_and_seal(pki_signer(), sealer_for({recipient_of(r, {"id-aes256-gcm"})}),
                                MessageInput::from_memory(kStatement), out);
    ASSERT_TRUE(report.ok()) << report.error().message();
    EXPECT_EQ(report->seal.algorithms.content, SealContentCipher::aes256_gcm);
    const std::string sealed = out.take();
    EXPECT_NE(header_section(sealed).find("Subject: Statement\r\n"), std::string::npos);
    const OpenResult opened = open_openssl(sealed, r.key, r.cert);
    ASSERT_TRUE(opened.ok) << opened.details;
    // RFC 9788 §2.1 / §2.2 on the cryptographic payload inside the signature.
    EXPECT_NE(opened.content.find("; hp=\"cipher\""), std::string::npos) << opened.content;
    EXPECT_EQ(opened.content.find("hp=\"clear\""), std::string::npos);
    EXPECT_NE(opened.content.find("\r\nSubject: Statement\r\n"), std::string::npos) << opened.content;
    EXPECT_EQ(opened.content.find("HP-Outer"), std::string::npos);  // not yet: docs/SEALED-FORMAT.md
    const std::string outer = header_section(sealed);
    const std::string received = outer.substr(0, outer.find("MIME-Version: ")) + "MIME-Version: 1.0\r\n" + opened.content;
    EXPECT_TRUE(verify_openssl(received).ok) << verify_openssl(received).details;
    EXPECT_TRUE(verify_ribbon(received).ok) << verify_ribbon(received).details;
}

}  // namespace
}  // namespace ribbon::test
