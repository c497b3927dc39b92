// verify_signer.cpp — see verify_signer.hpp.
//
// Input is untrusted: every certificate in the SignedData is only a
// candidate until the chain to a TrustStore root is built, and nothing a
// SignerInfo says is believed before its signature verifies.
#include "core/verify_signer.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/sha.h>

#include <algorithm>

#include "base/ascii.hpp"
#include "core/verify_mime.hpp"

namespace ribbon::verify {

namespace {

// CMS_get0_signers() returns a stack that does not own its certificates.
struct BorrowedX509StackDeleter {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};

// Step 1: the signature alone. CMS_verify reports a messageDigest mismatch
// and a bad signature value with the same reason code
// (CMS_R_VERIFICATION_FAILURE), so on failure each signer's signature over
// its signed attributes is checked separately: if those all verify, only
// the content can be wrong.
Check check_signature(CMS_ContentInfo* cms, STACK_OF(X509) * candidates, const Located& found,
                      std::string_view content) {
    ERR_clear_error();
    ossl::BioPtr dcont;
    if (!found.opaque) {
        // A buffering BIO on top of the memory BIO: given a memory BIO
        // directly, OpenSSL 3.0's CMS_verify copies it into a BIO of its own
        // and leaks that copy when CMS_dataInit fails (seen with an empty
        // digestAlgorithms SET); any other BIO type is used as is.
        dcont.reset(BIO_new(BIO_f_buffer()));
        ossl::BioPtr mem = ossl::mem_bio(content);
        if (!dcont || !mem) return {VerifyReason::bad_signature, "out of memory"};
        BIO_push(dcont.get(), mem.release());
    }
    // CMS_BINARY: the content is already canonical; OpenSSL's own text
    // conversion would change it (docs/FIELD-NOTES.md, openssl #7763).
    const unsigned flags = CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
    if (CMS_verify(cms, candidates, nullptr, dcont.get(), nullptr, flags) == 1) return {};

    bool signer_missing = false;
    bool verification_failure = false;  // the only reason a digest mismatch gives
    std::string why;
    char text[256];
    for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
        if (ERR_GET_LIB(e) == ERR_LIB_CMS) {
            const int reason = ERR_GET_REASON(e);
            signer_missing = signer_missing || reason == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND;
            verification_failure = verification_failure || reason == CMS_R_VERIFICATION_FAILURE;
        }
        ERR_error_string_n(e, text, sizeof text);
        if (!why.empty()) why += "; ";
        why += text;
    }
    STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
    if (infos == nullptr || sk_CMS_SignerInfo_num(infos) == 0) {
        return {VerifyReason::bad_signature, "the SignedData has no signer"};
    }
    const char* kNoCert =
        "the signer's certificate is neither in the signature nor among the trust anchors";
    if (signer_missing) return {VerifyReason::untrusted, kNoCert};
    bool without_attributes = false;
    for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
        CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, i);
        X509* signer = nullptr;
        CMS_SignerInfo_get0_algs(si, nullptr, &signer, nullptr, nullptr);
        if (signer == nullptr) return {VerifyReason::untrusted, kNoCert};
        if (CMS_signed_get_attr_count(si) < 0) {
            without_attributes = true;
            continue;
        }
        if (CMS_SignerInfo_verify(si) != 1) {
            std::string why = ossl::drain_errors();
            return {VerifyReason::bad_signature,
                    "the signature value does not verify with the signer's key" +
                        (why.empty() ? std::string() : " (" + why + ")")};
        }
    }
    ERR_clear_error();
    if (!verification_failure) {
        // Not a comparison that failed but one that could not be made: an
        // unsupported or missing digest algorithm (e.g. an empty
        // digestAlgorithms SET, MD4), a malformed structure.
        return {VerifyReason::bad_signature,
                "the signature cannot be checked (" +
                    (why.empty() ? std::string("OpenSSL gives no reason") : why) + ")"};
    }
    if (without_attributes) {
        // RFC 5652 §5.4: without signed attributes the signature covers the
        // content digest directly, so the two failures cannot be told apart.
        return {VerifyReason::bad_signature,
                "the signature does not verify over the content (no signed attributes, so a "
                "changed content and a wrong signature look the same)"};
    }
    return {VerifyReason::digest_mismatch,
            "the content does not match the message digest in the signature: it was changed "
            "after signing"};
}

std::optional<TimePoint> signing_time(CMS_SignerInfo* si) {
    const int index = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    if (index < 0) return std::nullopt;
    ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, index), 0);
    // RFC 5652 §11.3: UTCTime through 2049, GeneralizedTime after.
    if (value == nullptr ||
        (value->type != V_ASN1_UTCTIME && value->type != V_ASN1_GENERALIZEDTIME)) {
        return std::nullopt;
    }
    TimePoint t = ossl::asn1_time_to_timepoint(value->value.asn1_string);
    if (t == TimePoint{}) return std::nullopt;
    return t;
}

std::string algorithm_name(const X509_ALGOR* alg) {
    if (alg == nullptr) return {};
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, alg);
    const int nid = OBJ_obj2nid(oid);
    if (nid == NID_undef) return "unknown";
    return ascii_lower(OBJ_nid2sn(nid));
}

// RFC 8551 §2.5.2: SMIMECapabilities ::= SEQUENCE OF SMIMECapability, each
// an AlgorithmIdentifier-shaped pair, which is what X509_ALGORS decodes.
// Parameters (RC2's key size) are not kept: nothing ribbon decides uses them.
std::vector<std::string> smime_capabilities(CMS_SignerInfo* si) {
    std::vector<std::string> names;
    const int index = CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities, -1);
    if (index < 0) return names;
    ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, index), 0);
    if (value == nullptr || value->type != V_ASN1_SEQUENCE) return names;
    const unsigned char* p = value->value.sequence->data;
    STACK_OF(X509_ALGOR)* algs = d2i_X509_ALGORS(nullptr, &p, value->value.sequence->length);
    if (algs == nullptr) {
        ERR_clear_error();
        return names;
    }
    for (int i = 0; i < sk_X509_ALGOR_num(algs); ++i) {
        const ASN1_OBJECT* oid = nullptr;
        X509_ALGOR_get0(&oid, nullptr, nullptr, sk_X509_ALGOR_value(algs, i));
        const int nid = OBJ_obj2nid(oid);
        if (nid != NID_undef) {
            names.push_back(ascii_lower(OBJ_nid2sn(nid)));
            continue;
        }
        char text[128];
        if (OBJ_obj2txt(text, sizeof text, oid, 1) > 0) names.emplace_back(text);
    }
    sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
    return names;
}

// The end-entity certificates carried in the SignedData that name one of
// the From addresses (CA certificates never do, and are skipped anyway):
// the signer's own, and others from the signer's issuer (Outlook's
// separate encryption certificate). The certificate set is not covered by
// the signature (RFC 5652 §5.1), so anyone relaying a customer's signed
// message could add one: requiring the signer's issuer means an added
// certificate needs that CA to have issued it for the customer's address.
std::vector<std::string> sender_certificates(CMS_ContentInfo* cms, X509* signer,
                                             const std::vector<std::string>& from) {
    std::vector<std::string> found;
    ossl::X509StackPtr certs(CMS_get1_certs(cms));
    ERR_clear_error();
    for (int i = 0; certs && i < sk_X509_num(certs.get()); ++i) {
        X509* cert = sk_X509_value(certs.get(), i);
        if (X509_check_ca(cert) != 0) continue;
        if (X509_cmp(cert, signer) != 0 &&
            X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_issuer_name(signer)) != 0) {
            continue;
        }
        if (!addresses_covered(from, ossl::describe_certificate(cert).addresses)) continue;
        const int len = i2d_X509(cert, nullptr);
        if (len <= 0) continue;
        std::string der(static_cast<std::size_t>(len), '\0');
        auto* out = reinterpret_cast<unsigned char*>(der.data());
        if (i2d_X509(cert, &out) != len) continue;
        // NSS's cmsutil puts the signer's certificate in twice.
        if (std::find(found.begin(), found.end(), der) == found.end())
            found.push_back(std::move(der));
    }
    return found;
}

// The CMS signature over the signed content (and the detached form's rule).
Check signature_check(CMS_ContentInfo* cms, STACK_OF(X509) * candidates, const Located& found) {
    Check sig = check_signature(cms, candidates, found, found.content);
    if (sig.reason == VerifyReason::digest_mismatch && !found.raw_content.empty()) {
        // Some senders (AS2 gateways, MimeKit's test corpus) hash the bytes
        // as sent with mixed line endings; those bytes are what the
        // receiver shows, so a signature over them is as good.
        if (check_signature(cms, candidates, found, found.raw_content).ok()) sig = {};
    }
    if (!found.opaque && sig.ok() && econtent(cms)) {
        // RFC 8551 §3.5.3: a detached signature has no eContent. One that
        // has both invites a reader to show content nobody compared.
        sig = {VerifyReason::bad_signature,
               "the detached signature also carries embedded content (RFC 8551 §3.5.3)"};
    }
    return sig;
}

// SHA-256 of DER, in lower-case hex; empty when `len` says encoding failed.
template <class T, class Encode>
std::string der_sha256(const T* object, Encode encode) {
    const int len = encode(object, nullptr);
    if (len <= 0) return {};
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (encode(object, &out) != len) return {};
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(), digest);
    return ossl::hex(digest, sizeof digest);
}

// The first signer's certificate, algorithms and key digests (its chain is
// added by examine_signers).
SignerDetails describe_signer(CMS_SignerInfo* first, X509* cert) {
    SignerDetails details;
    details.certificate = ossl::describe_certificate(cert);
    details.signing_time = signing_time(first);
    X509_ALGOR* digest_alg = nullptr;
    X509_ALGOR* signature_alg = nullptr;
    CMS_SignerInfo_get0_algs(first, nullptr, nullptr, &digest_alg, &signature_alg);
    details.digest_algorithm = algorithm_name(digest_alg);
    details.signature_algorithm = algorithm_name(signature_alg);
    details.smime_capabilities = smime_capabilities(first);
    // The SubjectPublicKeyInfo as encoded in the certificate, so the digest
    // is the same whatever OpenSSL would re-encode.
    details.spki_sha256 = der_sha256(X509_get_X509_PUBKEY(cert), i2d_X509_PUBKEY);
    details.certificate_sha256 = der_sha256(cert, i2d_X509);
    return details;
}

// Fills exam.signer (the first signer's certificate, algorithms and
// chain) and sender_certificates; every signer's chain is checked. Runs
// after the signature check, which set each SignerInfo's certificate.
void examine_signers(CMS_ContentInfo* cms, const TrustStore::Impl& trust,
                     const VerifyOptions& options, const std::vector<std::string>& from,
                     SignerExam& exam) {
    STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
    std::unique_ptr<STACK_OF(X509), BorrowedX509StackDeleter> signers(CMS_get0_signers(cms));
    ERR_clear_error();
    if (!signers || sk_X509_num(signers.get()) == 0 || infos == nullptr ||
        sk_CMS_SignerInfo_num(infos) == 0) {
        return;
    }
    ossl::X509StackPtr untrusted(CMS_get1_certs(cms));
    CMS_SignerInfo* first = sk_CMS_SignerInfo_value(infos, 0);
    X509* first_cert = nullptr;
    CMS_SignerInfo_get0_algs(first, nullptr, &first_cert, nullptr, nullptr);
    if (first_cert == nullptr) first_cert = sk_X509_value(signers.get(), 0);
    SignerDetails details = describe_signer(first, first_cert);
    // Every signer must chain (RFC 8551 §2.4 lets a message carry
    // several; all of them vouch for it).
    for (int i = 0; i < sk_CMS_SignerInfo_num(infos) && exam.chain.ok(); ++i) {
        X509* cert = nullptr;
        CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(infos, i), nullptr, &cert, nullptr,
                                 nullptr);
        if (cert == nullptr) continue;
        std::vector<std::string> subjects;
        exam.chain = check_chain(trust, cert, untrusted.get(), options, subjects, exam.warnings);
        if (cert == first_cert) details.chain = std::move(subjects);
    }
    exam.signer = std::move(details);
    exam.sender_certificates = sender_certificates(cms, first_cert, from);
    exam.bound_certificates = bound_certificates(cms, first, first_cert, untrusted.get(), trust, options, from);
}

}  // namespace

Check check_chain(const TrustStore::Impl& trust, X509* signer, STACK_OF(X509) * untrusted,
                  const VerifyOptions& options, std::vector<std::string>& chain_out,
                  std::vector<VerifyWarning>& warnings, int purpose) {
    const std::optional<TimePoint>& at = options.at;
    ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), trust.store.get(), signer, untrusted) != 1) {
        return {VerifyReason::untrusted,
                "cannot set up chain verification: " + ossl::drain_errors()};
    }
    X509_STORE_CTX_set_purpose(ctx.get(), purpose);
    // RFC 5280 §6.1 policy processing: off by default in OpenSSL, which then
    // accepts paths PKITS says must fail (e.g. anyPolicy in policyMappings,
    // 4.10.7). Paths without policies still pass: no explicit policy is
    // required.
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_POLICY_CHECK);
    if (at) X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(*at));
    const int rc = X509_verify_cert(ctx.get());
    ERR_clear_error();
    if (STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get())) {
        chain_out.clear();
        for (int i = 0; i < sk_X509_num(chain); ++i) {
            chain_out.push_back(
                ossl::name_to_string(X509_get_subject_name(sk_X509_value(chain, i))));
        }
    }
    if (rc == 1) {
        // The chain holds; now the algorithms its certificates were signed
        // with (docs/VERIFY.md, "Weak algorithms and keys").
        Strength s =
            check_chain_strength(X509_STORE_CTX_get0_chain(ctx.get()), options.accept_sha1);
        warnings.insert(warnings.end(), s.warnings.begin(), s.warnings.end());
        if (!s.ok()) return {s.reason, s.detail};
        return {};
    }
    const int err = X509_STORE_CTX_get_error(ctx.get());
    std::string detail = X509_verify_cert_error_string(err);
    if (X509* current = X509_STORE_CTX_get_current_cert(ctx.get())) {
        detail += " (" + ossl::name_to_string(X509_get_subject_name(current)) + ")";
    }
    switch (err) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return {VerifyReason::certificate_expired, detail};
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return {VerifyReason::certificate_not_yet_valid, detail};
        case X509_V_ERR_INVALID_PURPOSE:
        case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
            return {VerifyReason::certificate_usage, detail};
        default:
            // Name the anchors: "untrusted" is often "wrong --ca".
            return {VerifyReason::untrusted, detail + "; trusted roots: " + trust.description};
    }
}

SignerExam examine(const Located& found, const TrustStore::Impl& trust,
                   const VerifyOptions& options, const std::vector<std::string>& from) {
    SignerExam exam;
    CMS_ContentInfo* cms = found.cms.get();
    STACK_OF(X509)* candidates =
        sk_X509_num(trust.anchors.get()) > 0 ? trust.anchors.get() : nullptr;
    exam.signature = signature_check(cms, candidates, found);
    // After the signature check, which set each SignerInfo's certificate.
    exam.strength = check_strength(cms, options.accept_sha1);
    exam.warnings = std::move(exam.strength.warnings);
    exam.strength.warnings.clear();
    examine_signers(cms, trust, options, from, exam);
    // Only a signature that holds, by a signer whose chain holds, binds.
    if (!exam.signature.ok() || !exam.strength.ok() || !exam.chain.ok()) exam.bound_certificates.clear();
    for (const std::string& der : exam.bound_certificates) {
        // A certificate named in a signed attribute may come from another
        // issuer than the signer's; it vouches for the sender all the same.
        auto& senders = exam.sender_certificates;
        if (std::find(senders.begin(), senders.end(), der) == senders.end()) senders.push_back(der);
    }
    return exam;
}

}  // namespace ribbon::verify
