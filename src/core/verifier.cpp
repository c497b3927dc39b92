// verifier.cpp — checks S/MIME signed mail as a careful receiver does.
//
// Input is untrusted from the first byte: the MIME structure, the CMS object
// and every certificate in it are parsed by GMime and OpenSSL and checked
// before anything they say is believed. The only trusted inputs are the
// TrustStore's roots and the caller's clock (or --at).
//
// Order of checks, each reported as the first failing reason:
//   1. the CMS signature over the exact signed bytes (RFC 5652 §5.6), told
//      apart as "content changed" (messageDigest mismatch) or "signature
//      value wrong", without chain building;
//   2. the algorithm policy (verify_strength.hpp, docs/VERIFY.md): weak
//      digests and signer keys. It comes first instead when the signature
//      could not be computed at all because of a refused digest (MD4);
//   3. the certificate chain to a trusted root, for S/MIME signing, at the
//      verification time (RFC 5280 §6, RFC 8550 §4);
//   4. the From address is in the signer's certificate (RFC 8550 §3);
//   5. protected header copies still match the outer header (RFC 9788).
//
// Policy decisions (see tests/data/corpus/README.md for the evidence):
//  - SHA-1 signatures are invalid (weak_algorithm) unless
//    VerifyOptions::accept_sha1, as Thunderbird since 115; MD5 always.
//  - Signer keys: RSA/DSA below 1024 bits and EC below 160 are invalid
//    (weak_key); below 2048 / P-256 a weak_key warning, still valid.
//  - Only the outermost layer is verified: a signature inside an encrypted
//    part or a multipart/mixed wrapper is not looked for (not_signed).
//  - Thunderbird's Date-vs-signingTime rule is a display policy, not applied.
//
// Thread-safety: verify() is const and shares only the TrustStore, which is
// read-only; everything else is per call.
#include "ribbon/verifier.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "base/ascii.hpp"
#include "core/mime_parse.hpp"
#include "core/openssl_util.hpp"
#include "core/trust_store_impl.hpp"
#include "core/verify_mime.hpp"
#include "core/verify_strength.hpp"

namespace ribbon {

std::string_view verify_reason_name(VerifyReason reason) noexcept {
    switch (reason) {
        case VerifyReason::none:
            return "none";
        case VerifyReason::digest_mismatch:
            return "digest_mismatch";
        case VerifyReason::bad_signature:
            return "bad_signature";
        case VerifyReason::untrusted:
            return "untrusted";
        case VerifyReason::certificate_expired:
            return "certificate_expired";
        case VerifyReason::certificate_not_yet_valid:
            return "certificate_not_yet_valid";
        case VerifyReason::certificate_usage:
            return "certificate_usage";
        case VerifyReason::from_not_in_certificate:
            return "from_not_in_certificate";
        case VerifyReason::protected_header_mismatch:
            return "protected_header_mismatch";
        case VerifyReason::not_signed:
            return "not_signed";
        case VerifyReason::weak_algorithm:
            return "weak_algorithm";
        case VerifyReason::weak_key:
            return "weak_key";
    }
    return "unknown";
}

Verifier::Verifier(TrustStore trust) : m_trust(std::move(trust)) {}

namespace {

// CMS_get0_signers() returns a stack that does not own its certificates.
struct BorrowedX509StackDeleter {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};

// BIO_new_mem_buf takes an int length.
constexpr std::size_t kMaxContent = static_cast<std::size_t>(INT_MAX);

// What was found to verify.
struct Located {
    bool opaque = false;
    ossl::CmsPtr cms;
    // multipart/signed: the first part in canonical (CRLF) form, and the raw
    // bytes when they differ; opaque: the encapsulated content.
    std::string content;
    std::string raw_content;
};

struct Check {
    VerifyReason reason = VerifyReason::none;
    std::string detail;
    bool ok() const { return reason == VerifyReason::none; }
};

std::string lower(const char* s) { return s == nullptr ? std::string() : ascii_lower(s); }

// DER or BER SignedData (RFC 5652 §5.1). Anything else in a signature
// position is a format error, never "not signed": someone meant to sign.
Result<ossl::CmsPtr> decode_signed_data(std::string_view der, const char* where) {
    if (der.empty()) {
        return permanent_error(Errc::bad_signature_format, std::string(where) + " is empty");
    }
    if (der.size() > kMaxContent) {
        return permanent_error(Errc::limit_exceeded, std::string(where) + " is too large");
    }
    auto bio = ossl::mem_bio(der);
    ossl::CmsPtr cms(d2i_CMS_bio(bio.get(), nullptr));
    if (!cms) {
        ERR_clear_error();
        return permanent_error(Errc::bad_signature_format,
                               std::string(where) + " is not a DER/BER CMS object");
    }
    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
        return permanent_error(Errc::bad_signature_format,
                               std::string(where) + " holds CMS content of type " +
                                   OBJ_nid2ln(OBJ_obj2nid(CMS_get0_type(cms.get()))) +
                                   ", not SignedData");
    }
    return cms;
}

// The encapsulated content of a SignedData, if present.
std::optional<std::string_view> econtent(CMS_ContentInfo* cms) {
    ASN1_OCTET_STRING** pos = CMS_get0_content(cms);
    if (pos == nullptr || *pos == nullptr) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*pos)),
                            static_cast<std::size_t>(ASN1_STRING_length(*pos)));
}

Result<std::optional<Located>> locate_multipart_signed(const mime::ParsedMessage& parsed,
                                                       GMimeContentType* type,
                                                       VerifyResult& result) {
    // RFC 8551 §3.5.3; "x-" is the older spelling receivers must accept.
    const std::string protocol = lower(g_mime_content_type_get_parameter(type, "protocol"));
    if (!protocol.empty() && protocol != "application/pkcs7-signature" &&
        protocol != "application/x-pkcs7-signature") {
        result.detail = "multipart/signed with protocol " + protocol + " is not S/MIME";
        return std::optional<Located>();
    }
    const char* boundary = g_mime_content_type_get_parameter(type, "boundary");
    // The signed bytes are taken from the raw message, never from GMime's
    // re-serialisation, which may differ from what was hashed.
    const std::string raw = mime::read_stream(parsed.stream());
    auto body = verify::message_body(raw);
    if (!body) return permanent_error(Errc::malformed_message, "malformed MIME: no message body");
    auto parts = verify::split_multipart_signed(*body, boundary != nullptr ? boundary : "");
    if (!parts) return std::move(parts).error();
    if (parts->content.size() > kMaxContent) {
        return permanent_error(Errc::limit_exceeded, "the signed part is too large");
    }

    auto sig_entity = mime::parse_entity(parts->signature);
    if (!sig_entity) {
        return permanent_error(Errc::bad_signature_format,
                               "the signature part is not a MIME entity");
    }
    GMimeObject* sig = sig_entity->get();
    if (!GMIME_IS_PART(sig)) {
        return permanent_error(
            Errc::bad_signature_format,
            "the signature part is a multipart, not application/pkcs7-signature");
    }
    if (protocol.empty()) {
        GMimeContentType* st = g_mime_object_get_content_type(sig);
        if (!g_mime_content_type_is_type(st, "application", "pkcs7-signature") &&
            !g_mime_content_type_is_type(st, "application", "x-pkcs7-signature")) {
            result.detail =
                "multipart/signed without a protocol and without an S/MIME signature part";
            return std::optional<Located>();
        }
    }
    // GMime undoes the transfer encoding (base64, or none for the binary
    // parts some AS2 senders use).
    auto cms =
        decode_signed_data(mime::decoded_content(GMIME_PART(sig)), "the signature (smime.p7s)");
    if (!cms) return std::move(cms).error();

    Located found;
    found.cms = std::move(*cms);
    // RFC 8551 §3.1.1: the receiver converts to canonical CRLF before
    // hashing; stores and pipes often hold bare LF.
    found.content = verify::to_crlf(parts->content);
    if (found.content != parts->content) found.raw_content = std::string(parts->content);
    return std::optional<Located>(std::move(found));
}

Result<std::optional<Located>> locate_opaque(GMimeObject* top, GMimeContentType* type,
                                             VerifyResult& result) {
    // RFC 8551 §3.2.2: only smime-type=signed-data is a signature; the other
    // types (enveloped-data, compressed-data, certs-only) are not verified.
    const std::string smime_type = lower(g_mime_content_type_get_parameter(type, "smime-type"));
    if (!smime_type.empty() && smime_type != "signed-data") {
        result.detail = "application/pkcs7-mime with smime-type=" + smime_type +
                        " carries no signature to verify";
        return std::optional<Located>();
    }
    if (!GMIME_IS_PART(top)) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: pkcs7-mime is not a leaf part");
    }
    const std::string der = mime::decoded_content(GMIME_PART(top));
    auto cms = decode_signed_data(der, "the application/pkcs7-mime content (smime.p7m)");
    if (!cms) {
        // Without smime-type the part may be enveloped data: not ours to judge.
        if (smime_type.empty() && cms.error().code() == Errc::bad_signature_format &&
            der.size() > 0) {
            auto bio = ossl::mem_bio(der);
            ossl::CmsPtr any(d2i_CMS_bio(bio.get(), nullptr));
            ERR_clear_error();
            if (any) {
                result.detail = "application/pkcs7-mime that is not signed-data";
                return std::optional<Located>();
            }
        }
        return std::move(cms).error();
    }
    auto content = econtent(cms->get());
    if (!content) {
        return permanent_error(Errc::bad_signature_format,
                               "opaque signed-data without encapsulated content");
    }
    Located found;
    found.opaque = true;
    found.content = std::string(*content);
    found.cms = std::move(*cms);
    return std::optional<Located>(std::move(found));
}

Result<std::optional<Located>> locate(const mime::ParsedMessage& parsed, VerifyResult& result) {
    GMimeObject* top = g_mime_message_get_mime_part(parsed.message());
    GMimeContentType* type = top != nullptr ? g_mime_object_get_content_type(top) : nullptr;
    if (type == nullptr) {
        result.detail = "the message has no body";
        return std::optional<Located>();
    }
    if (g_mime_content_type_is_type(type, "multipart", "signed")) {
        return locate_multipart_signed(parsed, type, result);
    }
    if (g_mime_content_type_is_type(type, "application", "pkcs7-mime") ||
        g_mime_content_type_is_type(type, "application", "x-pkcs7-mime")) {
        return locate_opaque(top, type, result);
    }
    result.detail = std::string("the message is ") +
                    lower(g_mime_content_type_get_media_type(type)) + "/" +
                    lower(g_mime_content_type_get_media_subtype(type)) + ", not S/MIME signed";
    return std::optional<Located>();
}

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

// Step 2: the chain, built from the certificates in the message as
// untrusted intermediates, for S/MIME signing (keyUsage digitalSignature or
// nonRepudiation, extendedKeyUsage emailProtection if present).
Check check_chain(const TrustStore::Impl& trust, X509* signer, STACK_OF(X509) * untrusted,
                  const VerifyOptions& options, std::vector<std::string>& chain_out,
                  std::vector<VerifyWarning>& warnings) {
    const std::optional<TimePoint>& at = options.at;
    ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), trust.store.get(), signer, untrusted) != 1) {
        return {VerifyReason::untrusted,
                "cannot set up chain verification: " + ossl::drain_errors()};
    }
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SMIME_SIGN);
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
        verify::Strength s =
            verify::check_chain_strength(X509_STORE_CTX_get0_chain(ctx.get()), options.accept_sha1);
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
        if (!verify::addresses_covered(from, ossl::describe_certificate(cert).addresses)) continue;
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

std::string describe_mismatch(const std::vector<ProtectedHeader>& headers) {
    std::string names;
    for (const auto& h : headers) {
        if (h.matches) continue;
        if (!names.empty()) names += ", ";
        names += h.name;
    }
    return "the outer " + names +
           " header differs from the protected copy inside the signature "
           "(RFC 9788): it was changed after signing";
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

// Fills result.signer (the first signer's certificate, algorithms and
// chain), from_in_certificate and sender_certificates; every signer's
// chain is checked. Runs after the signature check, which set each
// SignerInfo's certificate. The chain's verdict.
Check examine_signers(CMS_ContentInfo* cms, const TrustStore::Impl& trust, const VerifyOptions& options,
                      VerifyResult& result) {
    Check chain;
    STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
    std::unique_ptr<STACK_OF(X509), BorrowedX509StackDeleter> signers(CMS_get0_signers(cms));
    ERR_clear_error();
    if (!signers || sk_X509_num(signers.get()) == 0 || infos == nullptr || sk_CMS_SignerInfo_num(infos) == 0) {
        return chain;
    }
    ossl::X509StackPtr untrusted(CMS_get1_certs(cms));
    SignerDetails details;
    CMS_SignerInfo* first = sk_CMS_SignerInfo_value(infos, 0);
    X509* first_cert = nullptr;
    CMS_SignerInfo_get0_algs(first, nullptr, &first_cert, nullptr, nullptr);
    if (first_cert == nullptr) first_cert = sk_X509_value(signers.get(), 0);
    details.certificate = ossl::describe_certificate(first_cert);
    details.signing_time = signing_time(first);
    X509_ALGOR* digest_alg = nullptr;
    X509_ALGOR* signature_alg = nullptr;
    CMS_SignerInfo_get0_algs(first, nullptr, nullptr, &digest_alg, &signature_alg);
    details.digest_algorithm = algorithm_name(digest_alg);
    details.signature_algorithm = algorithm_name(signature_alg);
    details.smime_capabilities = smime_capabilities(first);
    // Every signer must chain (RFC 8551 §2.4 lets a message carry
    // several; all of them vouch for it).
    for (int i = 0; i < sk_CMS_SignerInfo_num(infos) && chain.ok(); ++i) {
        X509* cert = nullptr;
        CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(infos, i), nullptr, &cert, nullptr, nullptr);
        if (cert == nullptr) continue;
        std::vector<std::string> subjects;
        chain = check_chain(trust, cert, untrusted.get(), options, subjects, result.warnings);
        if (cert == first_cert) details.chain = std::move(subjects);
    }
    result.from_in_certificate = verify::addresses_covered(result.from_addresses, details.certificate.addresses);
    result.signer = std::move(details);
    result.sender_certificates = sender_certificates(cms, first_cert, result.from_addresses);
    return chain;
}

// The verdict from the checks, in the order a reader should hear of them:
// the first failure is the reason.
void judge(VerifyResult& result, const Check& sig, const verify::Strength& strength, const Check& chain) {
    bool headers_match = true;
    for (const auto& h : result.protected_headers) headers_match = headers_match && h.matches;

    result.verdict = Verdict::invalid;
    if (!sig.ok() && !strength.uncomputable) {
        result.reason = sig.reason;
        result.detail = sig.detail;
    } else if (!strength.ok()) {
        result.reason = strength.reason;
        result.detail = strength.detail;
    } else if (!result.signer) {
        result.reason = VerifyReason::untrusted;
        result.detail = "no signer certificate could be identified";
    } else if (!chain.ok()) {
        result.reason = chain.reason;
        result.detail = chain.detail;
    } else if (!result.from_in_certificate) {
        result.reason = VerifyReason::from_not_in_certificate;
        result.detail = result.from_addresses.empty()
                            ? "the message has no From address to check against the certificate"
                            : "the From address is not in the signer's certificate (RFC 8550 §3)";
    } else if (!headers_match) {
        result.reason = VerifyReason::protected_header_mismatch;
        result.detail = describe_mismatch(result.protected_headers);
    } else {
        result.verdict = Verdict::valid;
        result.reason = VerifyReason::none;
        result.detail = "signature, certificate chain and From address verified";
        if (result.header_protection) result.detail += "; protected headers match";
    }
}

Result<VerifyResult> verify_parsed(const mime::ParsedMessage& parsed, const TrustStore::Impl& trust,
                                   const VerifyOptions& options) {
    VerifyResult result;
    result.from_addresses = verify::from_addresses(parsed.message());
    auto located = locate(parsed, result);
    if (!located) return std::move(located).error();
    if (!*located) {
        result.verdict = Verdict::not_signed;
        result.reason = VerifyReason::not_signed;
        return result;
    }
    Located& found = **located;
    result.opaque = found.opaque;
    CMS_ContentInfo* cms = found.cms.get();
    STACK_OF(X509)* candidates = sk_X509_num(trust.anchors.get()) > 0 ? trust.anchors.get() : nullptr;

    Check sig = signature_check(cms, candidates, found);
    // After the signature check, which set each SignerInfo's certificate.
    verify::Strength strength = verify::check_strength(cms, options.accept_sha1);
    result.warnings = std::move(strength.warnings);
    Check chain = examine_signers(cms, trust, options, result);

    // RFC 9788: compare the protected copies with the outer header.
    if (auto inner = mime::parse_entity(found.content)) {
        auto hp = verify::compare_protected_headers(inner->get(), GMIME_OBJECT(parsed.message()));
        result.header_protection = hp.present;
        result.protected_headers = std::move(hp.headers);
    }
    judge(result, sig, strength, chain);
    return result;
}

// For a signed message the signed bytes and the signature come from
// ribbon's own split (which refuses a truncated or malformed
// multipart/signed) and from the CMS decoder, so GMime's complaints about
// the *content* (a signed text without a header section, as `openssl smime
// -sign` makes, or a sloppy inner part) do not make the message unreadable.
// What stays fatal is what makes the outer header ambiguous.
// A header field longer than the signer would ever write is refused as
// unreadable rather than compared, copied into results and printed.
std::optional<Error> oversized_header(GMimeObject* obj) {
    const mime::Limits limits;
    GMimeHeaderList* list = obj != nullptr ? g_mime_object_get_header_list(obj) : nullptr;
    for (int i = 0; list != nullptr && i < g_mime_header_list_get_count(list); ++i) {
        GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
        const char* raw = g_mime_header_get_raw_value(h);
        std::size_t size = raw != nullptr ? std::strlen(raw) : 0;
        if (size > limits.max_header_bytes) {
            return permanent_error(Errc::limit_exceeded,
                                   std::string("header ") + g_mime_header_get_name(h) + " is " +
                                       std::to_string(size) + " bytes long; the limit is " +
                                       std::to_string(limits.max_header_bytes));
        }
    }
    return std::nullopt;
}

std::optional<Error> fatal_issue(const mime::ParsedMessage& parsed) {
    if (auto e = oversized_header(parsed.header_owner())) return e;
    if (auto e = oversized_header(parsed.top())) return e;
    for (const auto& issue : parsed.issues()) {
        if (issue.code == GMIME_CRIT_CONFLICTING_HEADER) {
            return permanent_error(Errc::malformed_message,
                                   "malformed MIME: conflicting headers (" +
                                       issue.item.substr(0, 200) + ") at byte " +
                                       std::to_string(issue.offset));
        }
        if (issue.code == GMIME_CRIT_NESTING_OVERFLOW) {
            return permanent_error(Errc::limit_exceeded, "MIME parts are nested too deeply");
        }
    }
    return std::nullopt;
}

}  // namespace

Result<VerifyResult> Verifier::verify(const MessageInput& in, const VerifyOptions& options) const {
    try {
        auto parsed = mime::parse_message(in);
        if (!parsed) return std::move(parsed).error();
        auto result = verify_parsed(*parsed, m_trust.impl(), options);
        if (!result) return result;
        if (result->verdict == Verdict::not_signed) {
            // Nothing was verified, so GMime's view is all there is: a
            // broken structure is an error, not "not signed".
            if (auto structure = parsed->check_structure(); !structure) {
                return std::move(structure).error();
            }
        } else if (auto fatal = fatal_issue(*parsed)) {
            return std::move(*fatal);
        }
        return result;
    } catch (const std::bad_alloc&) {
        return Error(Errc::internal_error, ErrorKind::transient, "out of memory while verifying");
    }
}

}  // namespace ribbon
