// Which certificates a customer's signature binds to them (issue 18:
// VerifyResult::bound_certificates, HarvestedCertificate::bound), for the
// attribute forms no command-line tool writes: Microsoft's encryption key
// preference (1.3.6.1.4.1.311.16.4, as Outlook sends it) and RFC 8551
// §2.5.3's subjectAltKeyIdentifier choice. The messages are signed here
// through OpenSSL's CMS API with exactly the attribute under test; NSS's
// issuerAndSerialNumber form is covered with cmsutil in learn_test.cpp.
#include <gtest/gtest.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <map>
#include <memory>

#include "ribbon/learn.hpp"
#include "support/customers.hpp"
#include "support/messages.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAlice = "alice@customer.example";
constexpr UnixTime kNow = 1700000000;

struct Customers {
    CustomerCa ca;
    Issued alice = ca.issue("alice", "/C=DE/O=Customer GmbH/CN=Alice Customer", signing_extensions(kAlice), "0a01");
    Issued sub_ca = ca.issue("sub-ca", "/C=DE/O=Customer GmbH/CN=Customer Encryption CA",
                             "basicConstraints = critical, CA:TRUE, pathlen:0\n"
                             "keyUsage = critical, keyCertSign, cRLSign\n"
                             "subjectKeyIdentifier = hash\n",
                             "02");
    // Alice's encryption certificate, from the other CA (Outlook's
    // organisations often issue them separately).
    Issued alice_encryption = ca.issue("alice-enc", "/C=DE/O=Customer GmbH/CN=Alice Customer (encryption)",
                                       "basicConstraints = critical, CA:FALSE\n"
                                       "keyUsage = critical, keyAgreement\n"
                                       "extendedKeyUsage = emailProtection\n"
                                       "subjectKeyIdentifier = hash\n"
                                       "subjectAltName = email:alice@customer.example\n",
                                       "0e01", &sub_ca);
    // Someone else's, from the same CA.
    Issued bob_encryption = ca.issue("bob-enc", "/C=DE/O=Customer GmbH/CN=Bob Customer (encryption)",
                                     "basicConstraints = critical, CA:FALSE\n"
                                     "keyUsage = critical, keyAgreement\n"
                                     "subjectKeyIdentifier = hash\n"
                                     "subjectAltName = email:bob@customer.example\n",
                                     "0e02", &sub_ca);
};

const Customers& customers() {
    static const Customers c;
    return c;
}

template <auto Fn>
struct Free {
    template <class T>
    void operator()(T* p) const noexcept {
        Fn(p);
    }
};
using X509Owner = std::unique_ptr<X509, Free<X509_free>>;
// sk_X509_free is a macro; the stack does not own the certificates.
struct StackFree {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};

X509Owner load_cert(const fs::path& pem) {
    std::unique_ptr<BIO, Free<BIO_free>> bio(BIO_new_file(pem.c_str(), "r"));
    X509Owner cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert) throw std::runtime_error("cannot read " + pem.string());
    return cert;
}

std::string der_of(X509* cert) {
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

// The DER of one TLV: `tag`, then `contents` (short or two-byte lengths).
std::string tlv(unsigned char tag, const std::string& contents) {
    std::string out(1, static_cast<char>(tag));
    if (contents.size() < 128) {
        out += static_cast<char>(contents.size());
    } else {
        out += '\x82';
        out += static_cast<char>(contents.size() >> 8);
        out += static_cast<char>(contents.size() & 0xff);
    }
    return out + contents;
}

// IssuerAndSerialNumber's contents (RFC 5652 §10.2.4): Name, INTEGER.
std::string issuer_and_serial(X509* cert) {
    unsigned char* name = nullptr;
    const int n = i2d_X509_NAME(X509_get_issuer_name(cert), &name);
    unsigned char* serial = nullptr;
    const int s = i2d_ASN1_INTEGER(X509_get_serialNumber(cert), &serial);
    std::string out(reinterpret_cast<char*>(name), static_cast<std::size_t>(n));
    out.append(reinterpret_cast<char*>(serial), static_cast<std::size_t>(s));
    OPENSSL_free(name);
    OPENSSL_free(serial);
    return out;
}

std::string key_id(X509* cert) {
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert);
    if (ski == nullptr) throw std::runtime_error("no subjectKeyIdentifier");
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                       static_cast<std::size_t>(ASN1_STRING_length(ski)));
}

// A detached signature by `signer` over `content` (canonical CRLF), with
// `extra` in the certificate set and one more signed attribute, `oid` =
// `value` (the DER of the attribute value), unless `oid` is empty.
std::string signed_with_attribute(const std::string& content, const Issued& signer, const std::vector<fs::path>& extra,
                                  const std::string& oid, const std::string& value) {
    X509Owner cert = load_cert(signer.cert);
    std::unique_ptr<BIO, Free<BIO_free>> kb(BIO_new_file(signer.key.c_str(), "r"));
    std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    std::unique_ptr<STACK_OF(X509), StackFree> certs(sk_X509_new_null());
    std::vector<X509Owner> held;
    for (const fs::path& p : extra) {
        held.push_back(load_cert(p));
        sk_X509_push(certs.get(), held.back().get());
    }
    std::string crlf;
    for (char c : content) {
        if (c == '\n') crlf += '\r';
        crlf += c;
    }
    const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
    std::unique_ptr<CMS_ContentInfo, Free<CMS_ContentInfo_free>> cms(
        CMS_sign(nullptr, nullptr, certs.get(), nullptr, flags));
    CMS_SignerInfo* si = cms ? CMS_add1_signer(cms.get(), cert.get(), key.get(), EVP_sha256(), flags) : nullptr;
    if (si == nullptr) throw std::runtime_error("CMS_add1_signer failed");
    if (!oid.empty()) {
        // Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY }
        // (RFC 5652 §5.3), written out whole so that any value goes in as is.
        std::unique_ptr<ASN1_OBJECT, Free<ASN1_OBJECT_free>> obj(OBJ_txt2obj(oid.c_str(), 1));
        unsigned char* oid_der = nullptr;
        const int oid_len = obj ? i2d_ASN1_OBJECT(obj.get(), &oid_der) : -1;
        if (oid_len <= 0) throw std::runtime_error("bad OID for the test");
        const std::string attr = tlv(0x30, std::string(reinterpret_cast<char*>(oid_der), oid_len) + tlv(0x31, value));
        OPENSSL_free(oid_der);
        const auto* p = reinterpret_cast<const unsigned char*>(attr.data());
        std::unique_ptr<X509_ATTRIBUTE, Free<X509_ATTRIBUTE_free>> a(
            d2i_X509_ATTRIBUTE(nullptr, &p, static_cast<long>(attr.size())));
        if (!a || CMS_signed_add1_attr(si, a.get()) != 1) throw std::runtime_error("cannot add the attribute");
    }
    std::unique_ptr<BIO, Free<BIO_free>> data(BIO_new_mem_buf(crlf.data(), static_cast<int>(crlf.size())));
    if (CMS_final(cms.get(), data.get(), nullptr, flags) != 1) throw std::runtime_error("CMS_final failed");
    unsigned char* der = nullptr;
    const int n = i2d_CMS_ContentInfo(cms.get(), &der);
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    TempDir tmp("ribbon-bound");
    write_file(tmp / "sig.der", out);
    const std::string b64 = tool({"openssl", "base64", "-e", "-in", (tmp / "sig.der").string()});
    const std::string headers = "From: Alice <alice@customer.example>\nTo: service@bank.example\nSubject: Hello\n"
                                "Date: " + rfc5322_date(std::time(nullptr)) + "\n";
    return multipart_signed(headers, content, "bound-test-7d1f", b64);
}

const std::string kContent = "Content-Type: text/plain; charset=UTF-8\n\nPlease seal my statements.\n";
constexpr const char* kMicrosoft = "1.3.6.1.4.1.311.16.4";
constexpr const char* kEncrypKeyPref = "1.2.840.113549.1.9.16.2.11";

Observation observe(const std::string& message) {
    auto rules = ClientRules::shipped();
    auto trust = TrustStore::from_files({customers().ca.root().cert});
    if (!rules || !trust) throw std::runtime_error("set-up");
    Learner learner(std::move(*rules), std::move(*trust));
    auto lesson = learner.observe(message, kNow);
    if (!lesson || !lesson->observation) throw std::runtime_error("nothing learned");
    return *lesson->observation;
}

// sha256 → bound, for what was harvested.
std::map<std::string, bool> bound_by_der(const Observation& o) {
    std::map<std::string, bool> out;
    for (const HarvestedCertificate& h : o.certificates) out[h.der] = h.bound;
    return out;
}

TEST(LearnBound, OutlooksAttributeBindsAnEncryptionCertificateFromAnotherIssuer) {
    const Customers& c = customers();
    X509Owner enc = load_cert(c.alice_encryption.cert);
    const std::string message = signed_with_attribute(kContent, c.alice, {c.alice_encryption.cert, c.sub_ca.cert},
                                                      kMicrosoft, tlv(0x30, issuer_and_serial(enc.get())));
    const Observation o = observe(message);
    EXPECT_EQ(o.capability_evidence, "signed message, signature verified");
    const auto bound = bound_by_der(o);
    ASSERT_EQ(bound.size(), 2u);
    EXPECT_TRUE(bound.at(der_of(enc.get())));
    EXPECT_TRUE(bound.at(der_of(load_cert(c.alice.cert).get())));
}

TEST(LearnBound, TheSameCertificateOnlyBesideTheSignatureIsNotBound) {
    const Customers& c = customers();
    const std::string message =
        signed_with_attribute(kContent, c.alice, {c.alice_encryption.cert, c.sub_ca.cert}, "", "");
    const auto bound = bound_by_der(observe(message));
    // Another issuer than the signer's and not named: not even harvested.
    ASSERT_EQ(bound.size(), 1u);
    EXPECT_TRUE(bound.at(der_of(load_cert(c.alice.cert).get())));
}

TEST(LearnBound, Rfc8551SubjectKeyIdentifierChoiceBinds) {
    const Customers& c = customers();
    X509Owner enc = load_cert(c.alice_encryption.cert);
    // subjectAltKeyIdentifier [2] IMPLICIT SubjectKeyIdentifier.
    const std::string message = signed_with_attribute(kContent, c.alice, {c.alice_encryption.cert, c.sub_ca.cert},
                                                      kEncrypKeyPref, tlv(0x82, key_id(enc.get())));
    EXPECT_TRUE(bound_by_der(observe(message)).at(der_of(enc.get())));
}

TEST(LearnBound, ACertificateTheAttributeNamesForAnotherAddressIsNotBound) {
    const Customers& c = customers();
    X509Owner bob = load_cert(c.bob_encryption.cert);
    const std::string message = signed_with_attribute(kContent, c.alice, {c.bob_encryption.cert, c.sub_ca.cert},
                                                      kMicrosoft, tlv(0x30, issuer_and_serial(bob.get())));
    const auto bound = bound_by_der(observe(message));
    ASSERT_EQ(bound.size(), 1u);  // Bob's is neither harvested nor bound
    EXPECT_EQ(bound.count(der_of(bob.get())), 0u);
}

TEST(LearnBound, ANamedCertificateWithoutItsChainIsNotBound) {
    const Customers& c = customers();
    X509Owner enc = load_cert(c.alice_encryption.cert);
    // The issuing CA is left out: the named certificate cannot be chained.
    const std::string message = signed_with_attribute(kContent, c.alice, {c.alice_encryption.cert}, kMicrosoft,
                                                      tlv(0x30, issuer_and_serial(enc.get())));
    const auto bound = bound_by_der(observe(message));
    EXPECT_EQ(bound.count(der_of(enc.get())), 0u);
    EXPECT_TRUE(bound.at(der_of(load_cert(c.alice.cert).get())));
}

TEST(LearnBound, AGarbledAttributeNamesNothingAndTheSignerStaysBound) {
    const Customers& c = customers();
    // [0] holding an INTEGER where a Name belongs, then a truncated SKI.
    for (const std::string& value : {tlv(0xA0, tlv(0x02, "\x01")), tlv(0x82, ""), tlv(0xA1, tlv(0x02, "\x05"))}) {
        const std::string message = signed_with_attribute(kContent, c.alice, {c.alice_encryption.cert, c.sub_ca.cert},
                                                          kEncrypKeyPref, value);
        const auto bound = bound_by_der(observe(message));
        ASSERT_EQ(bound.size(), 1u);
        EXPECT_TRUE(bound.begin()->second);
    }
}

}  // namespace
}  // namespace ribbon::test
