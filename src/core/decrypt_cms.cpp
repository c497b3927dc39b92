// decrypt_cms.cpp — opening a CMS EnvelopedData (RFC 5652 §6) or
// AuthEnvelopedData (RFC 5083) with OpenSSL 3's CMS: choosing the
// RecipientInfo that names one of our certificates, refusing by name what
// OpenSSL 3.0 cannot open, and decrypting.
#include "core/decrypt_cms.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include "core/decrypt_keys.hpp"

namespace ribbon::sealed {

namespace {

struct OpensslFree {
    void operator()(void* p) const noexcept { OPENSSL_free(p); }
};

// ---- names ----------------------------------------------------------------

// Algorithms OpenSSL 3.0 has no name for, or names in a way no one
// recognises; the rest are named by OpenSSL's long name.
struct KnownOid {
    const char* oid;
    const char* name;
};
constexpr KnownOid kKnownOids[] = {
    {"1.2.840.113549.1.9.16.3.18", "ChaCha20-Poly1305 (RFC 8103)"},
    {"1.2.840.113549.1.9.16.3.19", "HKDF-SHA256 (RFC 8619)"},
    {"1.2.840.113549.1.9.16.3.20", "HKDF-SHA384 (RFC 8619)"},
    {"1.2.840.113549.1.9.16.3.21", "HKDF-SHA512 (RFC 8619)"},
    {"1.3.101.110", "X25519 (RFC 8418)"},
    {"1.3.101.111", "X448 (RFC 8418)"},
};

std::string dotted(const ASN1_OBJECT* obj) {
    char buf[128];
    int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
    return n > 0 && static_cast<std::size_t>(n) < sizeof buf ? std::string(buf) : std::string("?");
}

// "AES-256-GCM", "ChaCha20-Poly1305 (RFC 8103)", "rsaesOaep", or the
// dotted OID of an algorithm no one knows.
std::string algorithm_name(const ASN1_OBJECT* obj) {
    if (obj == nullptr) return "(none)";
    const std::string oid = dotted(obj);
    for (const auto& k : kKnownOids) {
        if (oid == k.oid) return k.name;
    }
    const int nid = OBJ_obj2nid(obj);
    if (nid == NID_undef) return "OID " + oid;
    std::string name = OBJ_nid2ln(nid);
    if (EVP_get_cipherbynid(nid) != nullptr) {
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    }
    return name;
}

std::string serial_hex(const ASN1_INTEGER* serial) {
    std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>> bn(ASN1_INTEGER_to_BN(serial, nullptr));
    if (!bn) return "?";
    std::unique_ptr<char, OpensslFree> text(BN_bn2hex(bn.get()));
    return text ? std::string(text.get()) : std::string("?");
}

std::string recipient_id(const ASN1_OCTET_STRING* keyid, const X509_NAME* issuer,
                         const ASN1_INTEGER* serial) {
    if (keyid != nullptr) {
        return "subjectKeyIdentifier " +
               ossl::hex(ASN1_STRING_get0_data(keyid), static_cast<std::size_t>(ASN1_STRING_length(keyid)));
    }
    if (issuer != nullptr && serial != nullptr) {
        return "issuer " + ossl::name_to_string(issuer) + ", serial " + serial_hex(serial);
    }
    return "an unnamed recipient";
}

// Whom the sealed object is for, one entry per recipient it names.
std::vector<std::string> recipients_of(CMS_ContentInfo* cms) {
    std::vector<std::string> out;
    STACK_OF(CMS_RecipientInfo)* ris = CMS_get0_RecipientInfos(cms);
    for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); ++i) {
        CMS_RecipientInfo* ri = sk_CMS_RecipientInfo_value(ris, i);
        switch (CMS_RecipientInfo_type(ri)) {
            case CMS_RECIPINFO_TRANS: {
                ASN1_OCTET_STRING* keyid = nullptr;
                X509_NAME* issuer = nullptr;
                ASN1_INTEGER* sno = nullptr;
                CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &issuer, &sno);
                out.push_back(recipient_id(keyid, issuer, sno));
                break;
            }
            case CMS_RECIPINFO_AGREE: {
                STACK_OF(CMS_RecipientEncryptedKey)* reks = CMS_RecipientInfo_kari_get0_reks(ri);
                for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); ++j) {
                    ASN1_OCTET_STRING* keyid = nullptr;
                    X509_NAME* issuer = nullptr;
                    ASN1_INTEGER* sno = nullptr;
                    CMS_RecipientEncryptedKey_get0_id(sk_CMS_RecipientEncryptedKey_value(reks, j), &keyid,
                                                      nullptr, nullptr, &issuer, &sno);
                    out.push_back(recipient_id(keyid, issuer, sno));
                }
                break;
            }
            case CMS_RECIPINFO_KEK: {
                ASN1_OCTET_STRING* id = nullptr;
                CMS_RecipientInfo_kekri_get0_id(ri, nullptr, &id, nullptr, nullptr, nullptr);
                out.push_back("a key-encryption key (KEKRecipientInfo) " +
                              (id ? ossl::hex(ASN1_STRING_get0_data(id),
                                              static_cast<std::size_t>(ASN1_STRING_length(id)))
                                  : std::string("without an id")));
                break;
            }
            case CMS_RECIPINFO_PASS:
                out.push_back("a password (PasswordRecipientInfo)");
                break;
            default:
                out.push_back("a recipient of an unknown kind");
        }
    }
    return out;
}

// ---- the content-encryption algorithm -------------------------------------

// OpenSSL 3.0 has no getter for the EncryptedContentInfo's algorithm, so it
// is read from the DER: ContentInfo { contentType, [0] { version,
// [0] originatorInfo OPTIONAL, recipientInfos SET, encryptedContentInfo
// { contentType, contentEncryptionAlgorithm { algorithm ...} } } } (RFC 5652
// §6.1, RFC 5083 §2.1: the same up to that field). ASN1_get_object reads
// each header and checks its length against what is left. Nullopt when the
// encoding uses indefinite lengths (BER) or is not what it should be.
struct Tlv {
    const unsigned char* start = nullptr;
    const unsigned char* content = nullptr;
    long length = 0;
    int tag = 0;
    int cls = 0;
};

bool read_tlv(const unsigned char*& p, const unsigned char* end, Tlv& t) {
    t.start = p;
    const unsigned char* q = p;
    const int r = ASN1_get_object(&q, &t.length, &t.tag, &t.cls, end - p);
    if ((r & 0x80) != 0 || r == 0x21 || t.length > end - q) return false;
    t.content = q;
    p = q + t.length;
    return true;
}

std::optional<std::string> content_encryption_in(const unsigned char* p, const unsigned char* end) {
    Tlv t;
    // ContentInfo, its contentType, [0], the (Auth)EnvelopedData, version.
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_SEQUENCE) return std::nullopt;
    p = t.content, end = t.content + t.length;
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_OBJECT) return std::nullopt;
    if (!read_tlv(p, end, t) || t.cls != V_ASN1_CONTEXT_SPECIFIC || t.tag != 0) return std::nullopt;
    p = t.content, end = t.content + t.length;
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_SEQUENCE) return std::nullopt;
    p = t.content, end = t.content + t.length;
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_INTEGER) return std::nullopt;
    if (!read_tlv(p, end, t)) return std::nullopt;
    if (t.cls == V_ASN1_CONTEXT_SPECIFIC && !read_tlv(p, end, t)) return std::nullopt;  // originatorInfo
    if (t.tag != V_ASN1_SET) return std::nullopt;
    // encryptedContentInfo, its contentType, the AlgorithmIdentifier, its OID.
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_SEQUENCE) return std::nullopt;
    p = t.content, end = t.content + t.length;
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_OBJECT) return std::nullopt;
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_SEQUENCE) return std::nullopt;
    p = t.content, end = t.content + t.length;
    if (!read_tlv(p, end, t) || t.tag != V_ASN1_OBJECT) return std::nullopt;
    const unsigned char* oid = t.start;
    std::unique_ptr<ASN1_OBJECT, ossl::Deleter<ASN1_OBJECT_free>> obj(
        d2i_ASN1_OBJECT(nullptr, &oid, p - t.start));
    if (!obj) return std::nullopt;
    return dotted(obj.get());
}

// The algorithm's OID from the bytes as received, or — when they use BER's
// indefinite lengths — from OpenSSL's DER re-encoding of the parsed object.
std::optional<std::string> content_encryption_oid(CMS_ContentInfo* cms, std::string_view der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    if (auto oid = content_encryption_in(p, p + der.size())) return oid;
    unsigned char* buf = nullptr;
    const int n = i2d_CMS_ContentInfo(cms, &buf);
    if (n <= 0) return std::nullopt;
    std::unique_ptr<unsigned char, OpensslFree> owned(buf);
    return content_encryption_in(buf, buf + n);
}

}  // namespace

namespace {

// ---- which of our identities, and can OpenSSL use it ----------------------

struct Match {
    const DecryptionIdentity* id = nullptr;
    CMS_RecipientInfo* ri = nullptr;
};

bool names_certificate(CMS_RecipientInfo* ri, X509* cert) {
    switch (CMS_RecipientInfo_type(ri)) {
        case CMS_RECIPINFO_TRANS:
            return CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0;
        case CMS_RECIPINFO_AGREE: {
            STACK_OF(CMS_RecipientEncryptedKey)* reks = CMS_RecipientInfo_kari_get0_reks(ri);
            for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); ++j) {
                if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, j), cert) == 0)
                    return true;
            }
            return false;
        }
        default:
            return false;  // KEK and password recipients name no certificate
    }
}

// Every (identity, RecipientInfo) pair in the order of the RecipientInfos.
std::vector<Match> matches_of(CMS_ContentInfo* cms, const DecryptionKeys& keys) {
    std::vector<Match> out;
    STACK_OF(CMS_RecipientInfo)* ris = CMS_get0_RecipientInfos(cms);
    for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); ++i) {
        CMS_RecipientInfo* ri = sk_CMS_RecipientInfo_value(ris, i);
        for (const auto& id : keys.impl().ids) {
            if (names_certificate(ri, id->cert.get())) out.push_back({id.get(), ri});
        }
    }
    return out;
}

std::string key_management_of(CMS_RecipientInfo* ri) {
    X509_ALGOR* alg = nullptr;
    if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS) {
        CMS_RecipientInfo_ktri_get0_algs(ri, nullptr, nullptr, &alg);
        const ASN1_OBJECT* obj = nullptr;
        if (alg != nullptr) X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
        const int nid = OBJ_obj2nid(obj);
        if (nid == NID_rsaEncryption) return "RSA PKCS#1 v1.5";
        if (nid == NID_rsaesOaep) return "RSA-OAEP";
        return algorithm_name(obj);
    }
    CMS_RecipientInfo_kari_get0_alg(ri, &alg, nullptr);
    const ASN1_OBJECT* obj = nullptr;
    if (alg != nullptr) X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
    return "ECDH (" + algorithm_name(obj) + ")";
}

// Why OpenSSL 3.0 cannot use this RecipientInfo with this key, naming the
// algorithm; nullopt when it can. Asked before decrypting, so that what
// OpenSSL lacks is never reported as damage.
std::optional<std::string> unsupported_key_management(const Match& m) {
    X509_ALGOR* alg = nullptr;
    const ASN1_OBJECT* obj = nullptr;
    const int key_type = EVP_PKEY_get_base_id(m.id->key.get());
    if (CMS_RecipientInfo_type(m.ri) == CMS_RECIPINFO_TRANS) {
        CMS_RecipientInfo_ktri_get0_algs(m.ri, nullptr, nullptr, &alg);
        if (alg != nullptr) X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
        const int nid = OBJ_obj2nid(obj);
        if ((nid == NID_rsaEncryption || nid == NID_rsaesOaep) && key_type == EVP_PKEY_RSA) return std::nullopt;
        return "key transport " + algorithm_name(obj);
    }
    if (key_type == EVP_PKEY_X25519 || key_type == EVP_PKEY_X448) {
        return std::string("key agreement with ") + (key_type == EVP_PKEY_X25519 ? "X25519" : "X448") +
               " (RFC 8418)";
    }
    CMS_RecipientInfo_kari_get0_alg(m.ri, &alg, nullptr);
    if (alg != nullptr) X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
    // RFC 5753 §7.1.4's dhSinglePass schemes: OpenSSL maps each to its KDF
    // and digest (crypto/cms/cms_ec.c); anything else, such as RFC 8418's
    // HKDF, it cannot derive the key-encryption key with.
    int kdf = NID_undef;
    if (key_type == EVP_PKEY_EC && OBJ_find_sigid_algs(OBJ_obj2nid(obj), nullptr, &kdf) != 0 &&
        (kdf == NID_dh_std_kdf || kdf == NID_dh_cofactor_kdf)) {
        return std::nullopt;
    }
    return "key agreement " + algorithm_name(obj);
}

// The content-encryption algorithm's name, or an unsupported_algorithm
// error naming it: OpenSSL 3.0 opens AuthEnvelopedData with AES-GCM only
// and EnvelopedData with the block ciphers its default provider has (RC2
// and DES are in the legacy provider, which ribbon does not load).
Result<std::string> content_encryption(CMS_ContentInfo* cms, std::string_view der, bool auth) {
    auto oid = content_encryption_oid(cms, der);
    if (!oid) return permanent_error(Errc::damaged, "the sealed object's EncryptedContentInfo is malformed");
    std::unique_ptr<ASN1_OBJECT, ossl::Deleter<ASN1_OBJECT_free>> obj(OBJ_txt2obj(oid->c_str(), 1));
    const std::string name = algorithm_name(obj.get());
    const int nid = OBJ_obj2nid(obj.get());
    std::unique_ptr<EVP_CIPHER, ossl::Deleter<EVP_CIPHER_free>> cipher(
        nid == NID_undef ? nullptr : EVP_CIPHER_fetch(nullptr, OBJ_nid2sn(nid), nullptr));
    ERR_clear_error();
    const bool gcm = cipher && EVP_CIPHER_get_mode(cipher.get()) == EVP_CIPH_GCM_MODE;
    const bool aead = cipher && (EVP_CIPHER_get_flags(cipher.get()) & EVP_CIPH_FLAG_AEAD_CIPHER) != 0;
    if (!cipher || (auth ? !gcm : aead)) {
        return permanent_error(Errc::unsupported_algorithm,
                               "the content is encrypted with " + name + " (" + *oid +
                                   "), which ribbon's OpenSSL cannot decrypt");
    }
    return name;
}

// The DER inside a PEM "CMS" or "PKCS7" block (RFC 7468 §9, §10).
std::optional<std::string> pem_body(std::string_view bytes) {
    auto bio = ossl::mem_bio(bytes);
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) return std::nullopt;
    std::unique_ptr<char, OpensslFree> n(name), h(header);
    std::unique_ptr<unsigned char, OpensslFree> d(data);
    if (std::string_view(name) != "CMS" && std::string_view(name) != "PKCS7") return std::nullopt;
    return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
}

Result<ossl::CmsPtr> parse(std::string_view bytes) {
    auto bio = ossl::mem_bio(bytes);
    ossl::CmsPtr cms(d2i_CMS_bio(bio.get(), nullptr));
    if (!cms) {
        ossl::drain_errors();
        return permanent_error(Errc::damaged, "the sealed content is not a readable CMS object (truncated or damaged)");
    }
    return cms;
}

Error not_for_us(CMS_ContentInfo* cms, const DecryptionKeys& keys) {
    std::string who;
    for (const auto& r : recipients_of(cms)) who += (who.empty() ? "" : "; ") + r;
    if (who.empty()) who = "no one (it has no RecipientInfo)";
    return permanent_error(Errc::not_for_us, "sealed for " + who + ", not for any of our " +
                                                 std::to_string(keys.size()) + " certificate(s)");
}

// The decryption. Against the Bleichenbacher/MMA oracle (RFC 3218 §2.3):
// CMS_decrypt is given the certificate, and without CMS_DEBUG_DECRYPT,
// OpenSSL then treats an RSA PKCS#1 v1.5 key transport that fails to
// unwrap like one that succeeds and decrypts the content with a random
// key (crypto/cms/cms_smime.c, cms_enc.c), so a bad key or padding shows
// only at the end, as damaged content — the same error, with OpenSSL's
// reasons discarded, as a truncated object, a failed GCM tag or CBC
// padding. No caller can tell which step failed. A random key whose CBC
// padding happens to check out (about 1 in 256) yields garbage "opened"
// content: the price of the countermeasure, paid only by a sender who
// sealed to our certificate with another key. AES-GCM's tag never lets
// that through.
Result<std::string> decrypt_with(CMS_ContentInfo* cms, const DecryptionIdentity& id) {
    ossl::BioPtr out(BIO_new(BIO_s_mem()));
    if (!out) return ossl::crypto_error("cannot allocate the output buffer");
    int ok = 0;
    {
        std::unique_lock<std::mutex> held;
        if (id.token_lock) held = std::unique_lock<std::mutex>(*id.token_lock);
        ok = CMS_decrypt(cms, id.key.get(), id.cert.get(), nullptr, out.get(), 0);
    }
    ERR_clear_error();
    if (ok != 1) {
        return permanent_error(Errc::damaged,
                               "the sealed content cannot be opened: it is damaged, or was not sealed "
                               "with this certificate's key");
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<std::size_t>(std::max(n, 0L)));
}

}  // namespace

Result<Decrypted> decrypt_cms(std::string_view bytes, bool pem, const DecryptionKeys& keys) {
    std::optional<std::string> der;
    if (pem) {
        der = pem_body(bytes);
        ERR_clear_error();
        if (!der) return permanent_error(Errc::damaged, "the PEM text holds no readable CMS object");
        bytes = *der;
    }
    auto cms = parse(bytes);
    if (!cms) return std::move(cms).error();
    const int type = OBJ_obj2nid(CMS_get0_type(cms->get()));
    if (type != NID_pkcs7_enveloped && type != NID_id_smime_ct_authEnvelopedData) {
        return permanent_error(Errc::not_sealed, "the CMS object is " + algorithm_name(CMS_get0_type(cms->get())) +
                                                     ", not enveloped-data or authEnveloped-data");
    }
    Decrypted d;
    d.auth_enveloped = type == NID_id_smime_ct_authEnvelopedData;
    ASN1_OCTET_STRING** content = CMS_get0_content(cms->get());
    if (content == nullptr || *content == nullptr) {
        return permanent_error(Errc::damaged, "the sealed object carries no encrypted content");
    }
    const std::vector<Match> matches = matches_of(cms->get(), keys);
    if (matches.empty()) return not_for_us(cms->get(), keys);
    auto cipher = content_encryption(cms->get(), bytes, d.auth_enveloped);
    if (!cipher) return std::move(cipher).error();
    d.content_encryption = std::move(*cipher);
    // The first RecipientInfo OpenSSL can use; if none, the first reason.
    std::optional<std::string> unsupported;
    for (const Match& m : matches) {
        auto why = unsupported_key_management(m);
        if (why) {
            if (!unsupported) unsupported = std::move(why);
            continue;
        }
        auto plain = decrypt_with(cms->get(), *m.id);
        if (!plain) return std::move(plain).error();
        d.content = std::move(*plain);
        d.key_management = key_management_of(m.ri);
        d.recipient = m.id->description;
        return d;
    }
    return permanent_error(Errc::unsupported_algorithm,
                           "sealed for our certificate " + matches.front().id->description + " with " +
                               *unsupported + ", which ribbon's OpenSSL cannot do");
}

Result<std::string> signed_content(std::string_view der) {
    auto cms = parse(der);
    if (!cms) return std::move(cms).error();
    if (OBJ_obj2nid(CMS_get0_type(cms->get())) != NID_pkcs7_signed) {
        return permanent_error(Errc::not_sealed, "the application/pkcs7-mime part is neither signed nor sealed");
    }
    ASN1_OCTET_STRING** content = CMS_get0_content(cms->get());
    if (content == nullptr || *content == nullptr) {
        return permanent_error(Errc::not_sealed, "the signed-data carries no content");
    }
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*content)),
                       static_cast<std::size_t>(ASN1_STRING_length(*content)));
}

}  // namespace ribbon::sealed
