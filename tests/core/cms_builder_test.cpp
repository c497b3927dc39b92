// Unit tests of src/core/cms_builder.hpp: the CMS SignedData (RFC 5652 §5)
// that SignedDataBuilder assembles by hand instead of CMS_sign(). The
// references are other readers of the same bytes: the `openssl cms` command
// (-verify and -cmsout -print), OpenSSL's parser in process
// (support/cms_inspect.hpp, and d2i/i2d, whose re-encoding is strict DER)
// and the test PKI's certificates. Asserted: version 1 and id-data
// (§5.1, §5.2), SHA-256 with absent parameters (RFC 5754 §2),
// rsaEncryption with NULL (RFC 3370 §3.2) or ecdsa-with-SHA256 with absent
// parameters (RFC 5758 §3.2), exactly the signed attributes contentType,
// signingTime, messageDigest and sMIMECapabilities (RFC 8551 §2.5), the
// signing time's UTCTime/GeneralizedTime switch (RFC 5652 §11.3), the
// certificates carried, and detached versus encapsulated content, with
// encapsulated lengths across every DER length-of-length step.
#include "core/cms_builder.hpp"

#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "support/cms_inspect.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::cms {
namespace {

using test::pki;

DigitalId load_id(const test::Leaf& leaf, bool chain = true) {
    auto id =
        DigitalId::load(leaf.key, leaf.cert,
                        chain ? std::optional<std::filesystem::path>(pki().chain) : std::nullopt);
    if (!id) throw std::runtime_error("test Digital ID: " + id.error().message());
    return std::move(*id);
}

std::unique_ptr<SignedDataBuilder> builder_for(const DigitalId& id) {
    auto b = SignedDataBuilder::create(id.impl());
    if (!b) throw std::runtime_error("SignedDataBuilder::create: " + b.error().message());
    return std::move(*b);
}

Digest sha256_of(std::string_view data) {
    Digest d{};
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
    return d;
}

// 2026-12-06T10:20:30Z
const TimePoint kTime = std::chrono::system_clock::from_time_t(1796552430);
const std::string kContent = "Content-Type: text/plain\r\n\r\nStatement ready.\r\n";

std::string der_of_content_info(const std::string& der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ossl::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
    if (!cms) return "<unparsable>";
    if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
        return "<trailing bytes>";
    unsigned char* out = nullptr;
    int len = i2d_CMS_ContentInfo(cms.get(), &out);
    std::string re(reinterpret_cast<char*>(out), static_cast<std::size_t>(std::max(len, 0)));
    OPENSSL_free(out);
    return re;
}

// The messageDigest attribute's value, read by OpenSSL.
std::string message_digest_attribute(const std::string& der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ossl::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
    if (!cms) return {};
    CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
    auto* md = static_cast<ASN1_OCTET_STRING*>(CMS_signed_get0_data_by_OBJ(
        si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING));
    if (md == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(md)),
                       static_cast<std::size_t>(ASN1_STRING_length(md)));
}

// `openssl cms -verify` against the test root, the signed content
// detached in `content` (empty: encapsulated). Returns the run.
test::ProcessResult openssl_verify(const std::string& der, const std::string* content) {
    test::TempDir dir("ribbon-cms");
    test::write_file(dir / "sig.der", der);
    std::vector<std::string> argv = {"openssl",
                                     "cms",
                                     "-verify",
                                     "-inform",
                                     "DER",
                                     "-in",
                                     (dir / "sig.der").string(),
                                     "-binary",
                                     "-CAfile",
                                     pki().root_cert.string(),
                                     "-out",
                                     (dir / "out").string()};
    if (content != nullptr) {
        test::write_file(dir / "content", *content);
        argv.insert(argv.end(), {"-content", (dir / "content").string()});
    }
    auto r = test::run_process(argv);
    r.out = test::read_file(dir / "out");
    return r;
}

// `openssl cms -cmsout -print`, each line without its indentation.
std::string openssl_print(const std::string& der) {
    test::TempDir dir("ribbon-cms");
    test::write_file(dir / "sig.der", der);
    auto r = test::run_process({"openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in",
                                (dir / "sig.der").string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    std::string flat;
    bool line_start = true;
    for (char c : r.out) {
        if (line_start && c == ' ') continue;
        flat.push_back(c);
        line_start = c == '\n';
    }
    return flat;
}

// OpenSSL's CMS_verify() in process against the test root, and `also`
// (PEM, may be empty) as further trusted certificates: CMS_verify() builds
// the path from the store and the certificates in the message only.
// Empty when verified, else OpenSSL's reasons.
std::string verify_in_process(const std::string& der, const std::string& content,
                              const std::filesystem::path& also = {}) {
    ossl::X509StorePtr store(X509_STORE_new());
    if (X509_STORE_load_file(store.get(), pki().root_cert.c_str()) != 1)
        return "cannot load the root";
    if (!also.empty() && X509_STORE_load_file(store.get(), also.c_str()) != 1)
        return "cannot load " + also.string();
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ossl::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
    if (!cms) return "not DER CMS";
    ossl::BioPtr data = ossl::mem_bio(content);
    if (CMS_verify(cms.get(), nullptr, store.get(), data.get(), nullptr, CMS_BINARY) != 1) {
        std::string why = ossl::drain_errors();
        return why.empty() ? "not verified" : why;
    }
    return "";
}

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string der_bytes(std::initializer_list<unsigned char> b) {
    return std::string(b.begin(), b.end());
}

// ---- detached -----------------------------------------------------------

TEST(CmsBuilder, DetachedRsaVerifiesWithOpensslOverTheContent) {
    DigitalId id = load_id(pki().rsa);
    auto der = builder_for(id)->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(der.ok()) << der.error().message();
    auto r = openssl_verify(*der, &kContent);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "Verification successful")) << r.err;
    EXPECT_EQ(r.out, kContent);
    // Other content, same signature: the messageDigest no longer matches.
    const std::string other = kContent + "x";
    auto bad = openssl_verify(*der, &other);
    EXPECT_NE(bad.exit_code, 0) << bad.describe();
    EXPECT_TRUE(contains(bad.err, "content verify error")) << bad.err;
}

TEST(CmsBuilder, DetachedEcdsaVerifiesWithOpensslOverTheContent) {
    DigitalId id = load_id(pki().ecdsa);
    auto der = builder_for(id)->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(der.ok()) << der.error().message();
    auto r = openssl_verify(*der, &kContent);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "Verification successful")) << r.err;
}

TEST(CmsBuilder, SignedAttributesAreExactlyTheFourWithTheirValues) {
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        DigitalId id = load_id(*leaf);
        const Digest digest = sha256_of(kContent);
        auto der = builder_for(id)->detached(digest, kTime);
        ASSERT_TRUE(der.ok());
        test::CmsInfo info = test::inspect_cms(*der);
        ASSERT_EQ(info.error, "");
        EXPECT_EQ(info.signed_attrs,
                  (std::set<int>{NID_pkcs9_contentType, NID_pkcs9_signingTime,
                                 NID_pkcs9_messageDigest, NID_SMIMECapabilities}));
        EXPECT_EQ(info.signing_time, std::chrono::system_clock::to_time_t(kTime));
        EXPECT_EQ(message_digest_attribute(*der),
                  std::string(reinterpret_cast<const char*>(digest.data()), digest.size()));
        // RFC 8551 §2.5.2: the ciphers the organisation can decrypt,
        // strongest first.
        EXPECT_EQ(info.capabilities, (std::vector<int>{NID_aes_256_gcm, NID_aes_128_gcm,
                                                       NID_aes_256_cbc, NID_aes_128_cbc}));
        // contentType = id-data, as an attribute (RFC 5652 §11.1).
        const std::string content_type_attr = der_bytes(
            {0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03,
             0x31, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01});
        EXPECT_TRUE(contains(*der, content_type_attr));
    }
}

TEST(CmsBuilder, AlgorithmsAreSha256AndTheKeysSignature) {
    DigitalId rsa = load_id(pki().rsa);
    auto rsa_der = builder_for(rsa)->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(rsa_der.ok());
    test::CmsInfo ri = test::inspect_cms(*rsa_der);
    EXPECT_EQ(ri.digest_nid, NID_sha256);
    EXPECT_EQ(ri.signature_nid, NID_rsaEncryption);
    EXPECT_EQ(ri.signer_key_type, EVP_PKEY_RSA);
    // RFC 3370 §3.2: rsaEncryption with NULL parameters; RFC 5754 §2:
    // SHA-256 with parameters absent.
    const std::string printed = openssl_print(*rsa_der);
    EXPECT_TRUE(contains(printed,
                         "algorithm: sha256 (2.16.840.1.101.3.4.2.1)\n"
                         "parameter: <ABSENT>"))
        << printed;
    EXPECT_TRUE(contains(printed,
                         "algorithm: rsaEncryption (1.2.840.113549.1.1.1)\n"
                         "parameter: NULL"))
        << printed;

    DigitalId ec = load_id(pki().ecdsa);
    auto ec_der = builder_for(ec)->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(ec_der.ok());
    test::CmsInfo ei = test::inspect_cms(*ec_der);
    EXPECT_EQ(ei.digest_nid, NID_sha256);
    EXPECT_EQ(ei.signature_nid, NID_ecdsa_with_SHA256);
    EXPECT_EQ(ei.signer_key_type, EVP_PKEY_EC);
    // RFC 5758 §3.2: ecdsa-with-SHA256 with parameters absent.
    const std::string ec_printed = openssl_print(*ec_der);
    EXPECT_TRUE(contains(ec_printed,
                         "algorithm: ecdsa-with-SHA256 (1.2.840.10045.4.3.2)\n"
                         "parameter: <ABSENT>"))
        << ec_printed;
}

TEST(CmsBuilder, DetachedStructureVersionsAndSignerIdentifier) {
    DigitalId id = load_id(pki().rsa);
    auto der = builder_for(id)->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(der.ok());
    const std::string printed = openssl_print(*der);
    // RFC 5652 §5.1: version 1 (id-data, issuerAndSerialNumber, no
    // attribute certificates); §5.2: no eContent in a detached signature;
    // §5.3: SignerInfo version 1 with issuerAndSerialNumber.
    EXPECT_TRUE(contains(printed, "contentType: pkcs7-signedData (1.2.840.113549.1.7.2)"))
        << printed;
    EXPECT_TRUE(contains(printed, "d.signedData: \nversion: 1\n")) << printed;
    EXPECT_TRUE(contains(printed,
                         "eContentType: pkcs7-data (1.2.840.113549.1.7.1)\n"
                         "eContent: <ABSENT>"))
        << printed;
    EXPECT_TRUE(contains(printed, "signerInfos:\nversion: 1\nd.issuerAndSerialNumber: "))
        << printed;
    EXPECT_TRUE(contains(printed, "crls:\n<ABSENT>")) << printed;
    test::CmsInfo info = test::inspect_cms(*der);
    EXPECT_TRUE(info.detached);
    EXPECT_EQ(info.signer_count, 1);
    EXPECT_EQ(info.econtent, "");
}

TEST(CmsBuilder, IsStrictDer) {
    // OpenSSL re-encodes what it parsed in DER (SET OF sorted, minimal
    // lengths): the same bytes back means ribbon's hand-made encoding is
    // DER too, as the signature over the attributes requires (§5.4).
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        DigitalId id = load_id(*leaf);
        auto b = builder_for(id);
        auto der = b->detached(sha256_of(kContent), kTime);
        ASSERT_TRUE(der.ok());
        EXPECT_EQ(der_of_content_info(*der), *der);
        auto enc = b->encapsulated(sha256_of(kContent), kTime, kContent.size());
        ASSERT_TRUE(enc.ok());
        const std::string whole = enc->prefix + kContent + enc->suffix;
        EXPECT_EQ(der_of_content_info(whole), whole);
    }
}

// ---- certificates -----------------------------------------------------------

TEST(CmsBuilder, CarriesTheSignerCertificateAndIntermediatesInDerOrder) {
    DigitalId id = load_id(pki().rsa);
    auto der = builder_for(id)->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(der.ok());
    test::CmsInfo info = test::inspect_cms(*der);
    std::vector<std::string> expected = {test::cert_der(pki().rsa.cert),
                                         test::cert_der(pki().intermediate_cert)};
    std::sort(expected.begin(), expected.end());  // X.690 §11.6: SET OF in DER order
    EXPECT_EQ(info.certificates_der, expected);
    // The root is the receiver's to trust, never sent.
    EXPECT_EQ(std::count(info.certificates_der.begin(), info.certificates_der.end(),
                         test::cert_der(pki().root_cert)),
              0);
}

TEST(CmsBuilder, WithoutAChainOnlyTheSignerCertificate) {
    DigitalId id = load_id(pki().ecdsa, false);
    auto der = builder_for(id)->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(der.ok());
    test::CmsInfo info = test::inspect_cms(*der);
    EXPECT_EQ(info.certificates_der, std::vector<std::string>{test::cert_der(pki().ecdsa.cert)});
    EXPECT_EQ(info.signer_key_type, EVP_PKEY_EC);
    // Without the intermediate a receiver cannot build the path; with it,
    // it can.
    EXPECT_NE(verify_in_process(*der, kContent), "");
    EXPECT_EQ(verify_in_process(*der, kContent, pki().chain), "");
}

// ---- signingTime (RFC 5652 §11.3) -------------------------------------------

TEST(CmsBuilder, SigningTimeIsUtcTimeUntil2049AndGeneralizedTimeFrom2050) {
    DigitalId id = load_id(pki().ecdsa);
    auto b = builder_for(id);
    struct Case {
        std::time_t t;
        std::string encoded;
    };
    const Case cases[] = {
        {1796552430, der_bytes({0x17, 0x0d}) + "261206102030Z"},
        {2524607999, der_bytes({0x17, 0x0d}) + "491231235959Z"},    // 2049-12-31T23:59:59Z
        {2524608000, der_bytes({0x18, 0x0f}) + "20500101000000Z"},  // 2050-01-01T00:00:00Z
        {4102444800, der_bytes({0x18, 0x0f}) + "21000101000000Z"},
    };
    for (const Case& c : cases) {
        auto der = b->detached(sha256_of(kContent), std::chrono::system_clock::from_time_t(c.t));
        ASSERT_TRUE(der.ok());
        EXPECT_TRUE(contains(*der, c.encoded)) << c.t;
        EXPECT_EQ(test::inspect_cms(*der).signing_time, c.t);
        EXPECT_EQ(der_of_content_info(*der), *der) << c.t;
    }
}

TEST(CmsBuilder, SigningTimeDropsFractionsOfASecond) {
    DigitalId id = load_id(pki().ecdsa);
    auto der =
        builder_for(id)->detached(sha256_of(kContent), kTime + std::chrono::milliseconds(999));
    ASSERT_TRUE(der.ok());
    EXPECT_EQ(test::inspect_cms(*der).signing_time, std::chrono::system_clock::to_time_t(kTime));
}

// ---- encapsulated (opaque) ----------------------------------------------------

TEST(CmsBuilder, EncapsulatedVerifiesAndCarriesTheContent) {
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        DigitalId id = load_id(*leaf);
        auto enc = builder_for(id)->encapsulated(sha256_of(kContent), kTime, kContent.size());
        ASSERT_TRUE(enc.ok()) << enc.error().message();
        const std::string whole = enc->prefix + kContent + enc->suffix;
        test::CmsInfo info = test::inspect_cms(whole);
        ASSERT_EQ(info.error, "");
        EXPECT_FALSE(info.detached);
        EXPECT_EQ(info.econtent, kContent);
        EXPECT_EQ(info.signed_attrs.size(), 4u);
        auto r = openssl_verify(whole, nullptr);
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_EQ(r.out, kContent);
        const std::string printed = openssl_print(whole);
        EXPECT_TRUE(
            contains(printed, "eContentType: pkcs7-data (1.2.840.113549.1.7.1)\neContent: \n"))
            << printed;
    }
}

TEST(CmsBuilder, EncapsulatedLengthsAcrossEveryDerLengthForm) {
    // X.690 §8.1.3: short form below 128, then 1, 2, 3 and 4 length
    // octets; the enclosing lengths cross their own steps at other sizes.
    DigitalId id = load_id(pki().ecdsa);
    auto b = builder_for(id);
    for (std::size_t n :
         {0ul, 1ul, 127ul, 128ul, 255ul, 256ul, 65535ul, 65536ul, 16777215ul, 16777216ul}) {
        const std::string content(n, 'c');
        auto enc = b->encapsulated(sha256_of(content), kTime, n);
        ASSERT_TRUE(enc.ok());
        const std::string whole = enc->prefix + content + enc->suffix;
        test::CmsInfo info = test::inspect_cms(whole);
        ASSERT_EQ(info.error, "") << n;
        EXPECT_EQ(info.econtent.size(), n);
        EXPECT_EQ(info.econtent, content) << n;
        EXPECT_EQ(der_of_content_info(whole) == whole, true) << n;
    }
}

TEST(CmsBuilder, EncapsulatedLargeContentVerifiesWithOpenssl) {
    DigitalId id = load_id(pki().rsa);
    const std::string content(70000, 'z');
    auto enc = builder_for(id)->encapsulated(sha256_of(content), kTime, content.size());
    ASSERT_TRUE(enc.ok());
    auto r = openssl_verify(enc->prefix + content + enc->suffix, nullptr);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, content);
}

// ---- use ----------------------------------------------------------------------

TEST(CmsBuilder, RsaSignaturesAreDeterministic) {
    // PKCS#1 v1.5 (RFC 8017 §8.2) has no randomness: one digest and one
    // time give the same bytes, whichever pooled key context signs.
    DigitalId id = load_id(pki().rsa);
    auto b = builder_for(id);
    auto one = b->detached(sha256_of(kContent), kTime);
    auto two = b->detached(sha256_of(kContent), kTime);
    ASSERT_TRUE(one.ok() && two.ok());
    EXPECT_EQ(*one, *two);
    auto later = b->detached(sha256_of(kContent), kTime + std::chrono::seconds(1));
    ASSERT_TRUE(later.ok());
    EXPECT_NE(*one, *later);
}

TEST(CmsBuilder, ConcurrentSignersEachGetAValidSignature) {
    // detached() is const and may run on many threads at once; the key
    // contexts come from a pool, so no two threads share one.
    for (const test::Leaf* leaf : {&pki().rsa, &pki().ecdsa}) {
        DigitalId id = load_id(*leaf);
        auto b = builder_for(id);
        constexpr int kThreads = 4;
        constexpr int kEach = 25;
        std::vector<std::vector<std::string>> results(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < kEach; ++i) {
                    const std::string content = kContent + std::to_string(t * 1000 + i);
                    auto der = b->detached(sha256_of(content), kTime);
                    results[t].push_back(der.ok() ? *der : std::string());
                }
            });
        }
        for (auto& th : threads) th.join();
        for (int t = 0; t < kThreads; ++t) {
            ASSERT_EQ(results[t].size(), static_cast<std::size_t>(kEach));
            for (int i = 0; i < kEach; ++i) {
                const std::string content = kContent + std::to_string(t * 1000 + i);
                EXPECT_EQ(verify_in_process(results[t][i], content), "") << t << "/" << i;
            }
        }
    }
}

TEST(CmsBuilder, AKeyThatCannotSignGivesCryptoFailureAndNoSignature) {
    // A Digital ID holding only the certificate's public key (as when a
    // certificate is filed without its key). OpenSSL 3.0 prepares a signing
    // context for a public key, so create() cannot tell; the signature then
    // fails as a private-key operation does (transient: a token may return).
    const std::string cert_pem = test::read_file(pki().rsa.cert);
    ossl::BioPtr bio = ossl::mem_bio(cert_pem);
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(cert);
    auto id = digital_id_from_key(ossl::PkeyPtr(X509_get_pubkey(cert.get())), cert_pem, "");
    ASSERT_TRUE(id.ok()) << id.error().message();
    auto b = SignedDataBuilder::create(id->impl());
    ASSERT_TRUE(b.ok()) << b.error().message();
    auto der = (*b)->detached(sha256_of(kContent), kTime);
    ASSERT_FALSE(der.ok());
    EXPECT_EQ(der.error().code(), Errc::crypto_failure);
    EXPECT_EQ(der.error().kind(), ErrorKind::transient);
    EXPECT_EQ(der.error().message().rfind("the private key operation failed (", 0), 0u)
        << der.error().message();
    auto enc = (*b)->encapsulated(sha256_of(kContent), kTime, kContent.size());
    ASSERT_FALSE(enc.ok());
    EXPECT_EQ(enc.error().code(), Errc::crypto_failure);
}

}  // namespace
}  // namespace ribbon::cms
