#include "support/cms_inspect.hpp"

#include "support/process.hpp"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace ribbon::test {

namespace {
struct CmsFree { void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); } };
struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
}  // namespace

CmsInfo inspect_cms(const std::string& der) {
    CmsInfo info;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
        d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
    if (!cms) {
        info.error = "not DER CMS";
        return info;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
        info.error = "not SignedData";
        return info;
    }
    info.detached = CMS_is_detached(cms.get()) == 1;
    if (!info.detached) {
        ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
        if (content && *content)
            info.econtent.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*content)),
                                 static_cast<size_t>(ASN1_STRING_length(*content)));
    }
    STACK_OF(X509)* certs = CMS_get1_certs(cms.get());
    for (int i = 0; certs && i < sk_X509_num(certs); ++i) {
        unsigned char* out = nullptr;
        const int len = i2d_X509(sk_X509_value(certs, i), &out);
        if (len > 0) info.certificates_der.emplace_back(reinterpret_cast<char*>(out), len);
        OPENSSL_free(out);
    }
    STACK_OF(CMS_SignerInfo)* sis = CMS_get0_SignerInfos(cms.get());
    info.signer_count = sis ? sk_CMS_SignerInfo_num(sis) : 0;
    if (info.signer_count < 1) {
        sk_X509_pop_free(certs, X509_free);
        return info;
    }
    CMS_SignerInfo* si = sk_CMS_SignerInfo_value(sis, 0);
    EVP_PKEY* pk = nullptr;
    X509* signer = nullptr;
    X509_ALGOR *dig = nullptr, *sig = nullptr;
    CMS_SignerInfo_get0_algs(si, &pk, &signer, &dig, &sig);
    const ASN1_OBJECT* obj = nullptr;
    if (dig) { X509_ALGOR_get0(&obj, nullptr, nullptr, dig); info.digest_nid = OBJ_obj2nid(obj); }
    if (sig) { X509_ALGOR_get0(&obj, nullptr, nullptr, sig); info.signature_nid = OBJ_obj2nid(obj); }
    for (int i = 0; certs && i < sk_X509_num(certs); ++i) {
        X509* c = sk_X509_value(certs, i);
        if (CMS_SignerInfo_cert_cmp(si, c) == 0) {
            if (EVP_PKEY* k = X509_get0_pubkey(c)) info.signer_key_type = EVP_PKEY_get_base_id(k);
        }
    }
    sk_X509_pop_free(certs, X509_free);

    for (int i = 0; i < CMS_signed_get_attr_count(si); ++i) {
        X509_ATTRIBUTE* a = CMS_signed_get_attr(si, i);
        info.signed_attrs.insert(OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a)));
    }
    const int ti = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    if (ti >= 0) {
        ASN1_TYPE* t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, ti), 0);
        if (t && (t->type == V_ASN1_UTCTIME || t->type == V_ASN1_GENERALIZEDTIME)) {
            std::tm tm{};
            if (ASN1_TIME_to_tm(reinterpret_cast<ASN1_TIME*>(t->value.asn1_string), &tm) == 1)
                info.signing_time = ::timegm(&tm);
        }
    }
    const ASN1_STRING* caps = static_cast<const ASN1_STRING*>(CMS_signed_get0_data_by_OBJ(
        si, OBJ_nid2obj(NID_SMIMECapabilities), -3, V_ASN1_SEQUENCE));
    if (caps) {
        const unsigned char* cp = ASN1_STRING_get0_data(caps);
        STACK_OF(X509_ALGOR)* algs = d2i_X509_ALGORS(nullptr, &cp, ASN1_STRING_length(caps));
        for (int i = 0; algs && i < sk_X509_ALGOR_num(algs); ++i) {
            X509_ALGOR_get0(&obj, nullptr, nullptr, sk_X509_ALGOR_value(algs, i));
            info.capabilities.push_back(OBJ_obj2nid(obj));
        }
        sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
    }
    return info;
}

std::string cert_der(const std::filesystem::path& pem) {
    const std::string text = read_file(pem);
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!x) return {};
    unsigned char* out = nullptr;
    const int len = i2d_X509(x, &out);
    std::string der(reinterpret_cast<char*>(out), static_cast<size_t>(len > 0 ? len : 0));
    OPENSSL_free(out);
    X509_free(x);
    return der;
}

}  // namespace ribbon::test
