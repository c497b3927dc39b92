// doctor_check.cpp — see doctor_check.hpp.
#include "core/doctor_check.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>

#include "base/ascii.hpp"

namespace ribbon::doctor {

Result<DigestCheck> DigestCheck::create(CMS_ContentInfo* cms) {
    STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
    if (infos == nullptr || sk_CMS_SignerInfo_num(infos) == 0) {
        return permanent_error(Errc::bad_signature_format, "the SignedData has no signer");
    }
    DigestCheck check;
    check.m_cms = cms;
    check.m_signer = sk_CMS_SignerInfo_value(infos, 0);
    // Lets CMS_SignerInfo_verify find the signer's certificate among those
    // the SignedData carries; missing is not an error here.
    CMS_set1_signers_certs(cms, nullptr, 0);
    ERR_clear_error();

    X509_ALGOR* digest_alg = nullptr;
    CMS_SignerInfo_get0_algs(check.m_signer, nullptr, nullptr, &digest_alg, nullptr);
    const ASN1_OBJECT* oid = nullptr;
    if (digest_alg != nullptr) X509_ALGOR_get0(&oid, nullptr, nullptr, digest_alg);
    const int nid = oid != nullptr ? OBJ_obj2nid(oid) : NID_undef;
    const char* name = nid != NID_undef ? OBJ_nid2sn(nid) : nullptr;
    if (name != nullptr) check.m_md.reset(EVP_MD_fetch(nullptr, name, nullptr));
    ERR_clear_error();
    if (!check.m_md) {
        return permanent_error(Errc::bad_signature_format,
                               "the signer's digest algorithm cannot be computed");
    }
    check.m_algorithm = ascii_lower(name);

    // RFC 5652 §5.3: with signed attributes, messageDigest is required.
    if (CMS_signed_get_attr_count(check.m_signer) >= 0) {
        auto* md = static_cast<ASN1_OCTET_STRING*>(CMS_signed_get0_data_by_OBJ(
            check.m_signer, OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING));
        if (md == nullptr) {
            return permanent_error(Errc::bad_signature_format,
                                   "the signer's signed attributes have no messageDigest");
        }
        check.m_expected.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(md)),
                                static_cast<std::size_t>(ASN1_STRING_length(md)));
    }
    return check;
}

std::optional<bool> DigestCheck::signature_holds() const {
    if (m_expected.empty()) return std::nullopt;
    X509* cert = nullptr;
    CMS_SignerInfo_get0_algs(m_signer, nullptr, &cert, nullptr, nullptr);
    if (cert == nullptr) return std::nullopt;
    const bool ok = CMS_SignerInfo_verify(m_signer) == 1;
    ERR_clear_error();
    return ok;
}

bool DigestCheck::matches(std::string_view content) {
    ++m_count;
    m_bytes += content.size();
    if (!m_expected.empty()) {
        unsigned char out[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (EVP_Digest(content.data(), content.size(), out, &len, m_md.get(), nullptr) != 1) {
            ERR_clear_error();
            return false;
        }
        return std::string_view(reinterpret_cast<const char*>(out), len) == m_expected;
    }
    // RFC 5652 §5.4: without signed attributes the signature is over the
    // content's digest itself, so only the whole signature can tell. A
    // buffering BIO on the memory BIO: see verify_signer.cpp.
    ossl::BioPtr dcont(BIO_new(BIO_f_buffer()));
    ossl::BioPtr mem = ossl::mem_bio(content);
    if (!dcont || !mem) return false;
    BIO_push(dcont.get(), mem.release());
    const unsigned flags = CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
    const bool ok = CMS_verify(m_cms, nullptr, nullptr, dcont.get(), nullptr, flags) == 1;
    ERR_clear_error();
    return ok;
}

}  // namespace ribbon::doctor
