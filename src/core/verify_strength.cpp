// verify_strength.cpp — see verify_strength.hpp; the policy in words is in
// docs/VERIFY.md ("Weak algorithms and keys").
//
// Everything read here comes from the message (the SignerInfo) or from a
// certificate in it: OIDs that OpenSSL does not know are not judged here
// (the signature check already fails on a digest it cannot compute).
#include "core/verify_strength.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>

#include "core/openssl_util.hpp"

namespace ribbon::verify {

namespace {

// Below these a signer key is refused: less than 80 bits of security (NIST
// SP 800-57 Part 1 Rev. 5, Table 2); RSA-768 and RSA-829 have been factored
// in public ...
constexpr int kMinRsaBits = 1024;
constexpr int kMinEcBits = 160;
// ... and below these it is reported: the CA/Browser Forum S/MIME Baseline
// Requirements (§6.1.5, key sizes) let CAs issue only RSA of 2048 bits and
// more and ECDSA on P-256 or larger.
constexpr int kWarnRsaBits = 2048;
constexpr int kWarnEcBits = 256;

struct Finding {
    VerifyReason reason = VerifyReason::none;
    std::string detail;
    bool uncomputable = false;
};

std::string digest_label(int nid) {
    switch (nid) {
        case NID_md2:
            return "MD2";
        case NID_md4:
            return "MD4";
        case NID_md5:
            return "MD5";
        case NID_sha1:
            return "SHA-1";
        default:
            return OBJ_nid2sn(nid);
    }
}

// A digest's standing: broken digests are refused; SHA-1 is refused unless
// the caller accepts it (RFC 8551 §2.1 requires receivers to support
// SHA-256 and SHA-512; SHA-1 collisions are practical: "SHAttered" 2017,
// chosen-prefix 2020). `where` names the field for the detail.
std::optional<Finding> judge_digest(int nid, const char* where, bool accept_sha1,
                                    std::vector<VerifyWarning>& warnings) {
    const bool broken = nid == NID_md2 || nid == NID_md4 || nid == NID_md5;
    if (nid == NID_sha1) {
        if (accept_sha1) {
            warnings.push_back({VerifyReason::weak_algorithm,
                                std::string("the ") + where +
                                    " is SHA-1, accepted because SHA-1 signatures were allowed; "
                                    "SHA-1 collisions are practical"});
            return std::nullopt;
        }
        return Finding{VerifyReason::weak_algorithm,
                       std::string("the ") + where +
                           " is SHA-1, which is no longer safe for signatures (collisions are "
                           "practical); accept it with "
                           "--accept-sha1"};
    }
    if (!broken) return std::nullopt;
    Finding f{VerifyReason::weak_algorithm,
              std::string("the ") + where + " is " + digest_label(nid) +
                  ", which is broken (RFC 6151) and never accepted for signatures"};
    f.uncomputable = !ossl::MdPtr(EVP_MD_fetch(nullptr, OBJ_nid2sn(nid), nullptr));
    ERR_clear_error();
    return f;
}

// RFC 4055 §3.1: RSASSA-PSS-params; an absent hashAlgorithm means SHA-1.
int pss_hash_nid(const X509_ALGOR* alg) {
    int ptype = 0;
    const void* pval = nullptr;
    X509_ALGOR_get0(nullptr, &ptype, &pval, alg);
    if (ptype != V_ASN1_SEQUENCE || pval == nullptr) return NID_sha1;
    const auto* seq = static_cast<const ASN1_STRING*>(pval);
    const unsigned char* p = ASN1_STRING_get0_data(seq);
    std::unique_ptr<RSA_PSS_PARAMS, ossl::Deleter<RSA_PSS_PARAMS_free>> params(
        d2i_RSA_PSS_PARAMS(nullptr, &p, ASN1_STRING_length(seq)));
    if (!params) {
        ERR_clear_error();
        return NID_undef;  // malformed: the signature check refuses it
    }
    if (params->hashAlgorithm == nullptr) return NID_sha1;
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, params->hashAlgorithm);
    return OBJ_obj2nid(oid);
}

// The digest a signatureAlgorithm names, if any: md5WithRSAEncryption,
// sha1WithRSAEncryption, ecdsa-with-SHA1 (RFC 5754 §3 allows such OIDs in
// the SignerInfo), or RSASSA-PSS's hash parameter. rsaEncryption names none.
int signature_digest_nid(const X509_ALGOR* alg) {
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, alg);
    const int nid = OBJ_obj2nid(oid);
    if (nid == NID_rsassaPss) return pss_hash_nid(alg);
    int digest = NID_undef;
    if (nid == NID_undef || OBJ_find_sigid_algs(nid, &digest, nullptr) != 1) return NID_undef;
    return digest;
}

std::optional<Finding> judge_key(X509* cert, std::vector<VerifyWarning>& warnings) {
    EVP_PKEY* key = cert != nullptr ? X509_get0_pubkey(cert) : nullptr;
    ERR_clear_error();
    if (key == nullptr) return std::nullopt;  // no key to judge: the signature check failed
    const int bits = EVP_PKEY_get_bits(key);
    int refuse = 0, warn = 0;
    std::string what;
    if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
        refuse = kMinRsaBits;
        warn = kWarnRsaBits;
        what = "RSA";
    } else if (EVP_PKEY_is_a(key, "DSA")) {
        // Same arithmetic strength as RSA for the size of p.
        refuse = kMinRsaBits;
        warn = kWarnRsaBits;
        what = "DSA";
    } else if (EVP_PKEY_is_a(key, "EC")) {
        refuse = kMinEcBits;
        warn = kWarnEcBits;
        what = "EC";
    } else {
        return std::nullopt;  // Ed25519, Ed448: fixed sizes, both strong
    }
    const std::string key_text =
        "the signer's " + what + " key has " + std::to_string(bits) + " bits";
    if (bits < refuse) {
        return Finding{VerifyReason::weak_key, key_text + ", below the " + std::to_string(refuse) +
                                                   "-bit minimum: signatures with it can be "
                                                   "forged"};
    }
    if (bits < warn) {
        warnings.push_back(
            {VerifyReason::weak_key, key_text + ", below the " + std::to_string(warn) +
                                         " bits current S/MIME certificates must have"});
    }
    return std::nullopt;
}

}  // namespace

Strength check_strength(CMS_ContentInfo* cms, bool accept_sha1) {
    Strength out;
    STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
    const int count = infos != nullptr ? sk_CMS_SignerInfo_num(infos) : 0;
    for (int i = 0; i < count; ++i) {
        CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, i);
        X509* cert = nullptr;
        X509_ALGOR* digest = nullptr;
        X509_ALGOR* signature = nullptr;
        CMS_SignerInfo_get0_algs(si, nullptr, &cert, &digest, &signature);
        const std::size_t before = out.warnings.size();
        std::optional<Finding> found;
        if (digest != nullptr) {
            const ASN1_OBJECT* oid = nullptr;
            X509_ALGOR_get0(&oid, nullptr, nullptr, digest);
            found = judge_digest(OBJ_obj2nid(oid), "digest algorithm", accept_sha1, out.warnings);
        }
        if (!found && signature != nullptr) {
            const int nid = signature_digest_nid(signature);
            // Said once: a SHA-1 digestAlgorithm usually comes with a
            // SHA-1 signatureAlgorithm (ecdsa-with-SHA1).
            std::vector<VerifyWarning> ignored;
            found = judge_digest(nid, "digest named by the signature algorithm", accept_sha1,
                                 out.warnings.size() > before ? ignored : out.warnings);
            // OpenSSL hashes with the digestAlgorithm whatever this field
            // names, so it never keeps the signature from being checked.
            if (found) found->uncomputable = false;
        }
        // Judged even after a refused digest, for its warning.
        std::optional<Finding> key = judge_key(cert, out.warnings);
        if (!found) found = std::move(key);
        if (count > 1) {
            const std::string prefix = "signer " + std::to_string(i + 1) + ": ";
            for (std::size_t w = before; w < out.warnings.size(); ++w) {
                out.warnings[w].detail.insert(0, prefix);
            }
            if (found) found->detail.insert(0, prefix);
        }
        if (found && out.ok()) {
            out.reason = found->reason;
            out.detail = std::move(found->detail);
            out.uncomputable = found->uncomputable;
        }
    }
    return out;
}

Strength check_chain_strength(STACK_OF(X509) * chain, bool accept_sha1) {
    Strength out;
    const int count = chain != nullptr ? sk_X509_num(chain) : 0;
    // The last certificate is the trust anchor: its own signature is not
    // what makes it trusted (RFC 5280 §6.1.1 (d)), so it is not judged.
    for (int i = 0; i + 1 < count && out.ok(); ++i) {
        X509* cert = sk_X509_value(chain, i);
        const X509_ALGOR* alg = nullptr;
        X509_get0_signature(nullptr, &alg, cert);
        const int nid = alg != nullptr ? signature_digest_nid(alg) : NID_undef;
        const std::string where =
            "signature on the certificate of " + ossl::name_to_string(X509_get_subject_name(cert));
        if (auto found = judge_digest(nid, where.c_str(), accept_sha1, out.warnings)) {
            out.reason = found->reason;
            out.detail = std::move(found->detail);
        }
    }
    return out;
}

}  // namespace ribbon::verify
