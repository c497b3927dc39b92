// verify_bound.cpp — which certificates a verified signature binds to its
// sender, for sealing mail to them (issue 18; verify_signer.hpp).
//
// The certificate set of a SignedData is not covered by the signature (RFC
// 5652 §5.1): anyone relaying a customer's signed message can add a
// certificate to it. A certificate ribbon would seal a bank statement to
// must be one the customer's signature speaks for: the signer's own, or the
// one its signed attributes name as the sender's encryption certificate —
// SMIMEEncryptionKeyPreference (RFC 8551 §2.5.3), which NSS and Thunderbird
// send, or Microsoft's attribute 1.3.6.1.4.1.311.16.4, which Outlook sends
// when its encryption certificate is a separate one. Both name the
// certificate by issuer and serial number (or, for the former, by subject
// key identifier), and the named certificate must then be in the set.
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "core/verify_mime.hpp"
#include "core/verify_signer.hpp"

namespace ribbon::verify {

namespace {

using NamePtr = std::unique_ptr<X509_NAME, ossl::Deleter<X509_NAME_free>>;
using IntegerPtr = std::unique_ptr<ASN1_INTEGER, ossl::Deleter<ASN1_INTEGER_free>>;
using ObjectPtr = std::unique_ptr<ASN1_OBJECT, ossl::Deleter<ASN1_OBJECT_free>>;

// Microsoft's encryption key preference; OpenSSL has no name for it.
constexpr const char* kMicrosoftEncryptionKeyPreference = "1.3.6.1.4.1.311.16.4";

// How a signed attribute names a certificate.
struct KeyReference {
    NamePtr issuer;  // with serial: IssuerAndSerialNumber (RFC 5652 §10.2.4)
    IntegerPtr serial;
    std::string key_id;  // or a SubjectKeyIdentifier (RFC 5280 §4.2.1.2)
};

// The contents of an IssuerAndSerialNumber — `Name, INTEGER`, whatever tag
// wrapped them — and nothing after them.
std::optional<KeyReference> issuer_and_serial(const unsigned char* p, long length) {
    const unsigned char* const end = p + length;
    KeyReference ref;
    ref.issuer.reset(d2i_X509_NAME(nullptr, &p, end - p));
    if (!ref.issuer || p >= end) return std::nullopt;
    ref.serial.reset(d2i_ASN1_INTEGER(nullptr, &p, end - p));
    if (!ref.serial || p != end) return std::nullopt;
    return ref;
}

// The first TLV in [der, der + size): its tag, class, whether constructed,
// its contents, and where it ends. Indefinite lengths are not DER.
struct Element {
    int tag = 0;
    int cls = 0;
    bool constructed = false;
    const unsigned char* contents = nullptr;
    long length = 0;
    const unsigned char* end = nullptr;
};
std::optional<Element> element(const unsigned char* der, long size) {
    Element e;
    const unsigned char* p = der;
    const int rc = ASN1_get_object(&p, &e.length, &e.tag, &e.cls, size);
    if ((rc & 0x80) != 0 || rc == 0x21) return std::nullopt;
    e.constructed = (rc & V_ASN1_CONSTRUCTED) != 0;
    e.contents = p;
    e.end = p + e.length;
    return e;
}

// RFC 8551 §2.5.3: SMIMEEncryptionKeyPreference ::= CHOICE {
//   issuerAndSerialNumber [0] IssuerAndSerialNumber,
//   receipentKeyId        [1] RecipientKeyIdentifier,
//   subjectAltKeyIdentifier [2] SubjectKeyIdentifier }, tagged IMPLICIT
// (the S/MIME module's default). RecipientKeyIdentifier (RFC 5652 §6.2.2)
// starts with the SubjectKeyIdentifier; its optional date and other
// fields do not change which certificate is meant.
std::optional<KeyReference> encryption_key_preference(const Element& e) {
    if (e.cls != V_ASN1_CONTEXT_SPECIFIC) return std::nullopt;
    if (e.tag == 0 && e.constructed) return issuer_and_serial(e.contents, e.length);
    Element id = e;
    if (e.tag == 1 && e.constructed) {
        auto first = element(e.contents, e.length);
        if (!first || first->cls != V_ASN1_UNIVERSAL || first->tag != V_ASN1_OCTET_STRING) return std::nullopt;
        id = *first;
    } else if (e.tag != 2 || e.constructed) {
        return std::nullopt;
    }
    if (id.length <= 0) return std::nullopt;
    return KeyReference{{}, {}, std::string(reinterpret_cast<const char*>(id.contents), static_cast<std::size_t>(id.length))};
}

struct OpensslFree {
    void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};

// The certificate the first signer's signed attributes name for
// encryption; nullopt when none does (or the attribute cannot be read,
// which then names nothing: it is the sender's preference, not a check).
std::optional<KeyReference> named_encryption_certificate(CMS_SignerInfo* si) {
    ObjectPtr microsoft(OBJ_txt2obj(kMicrosoftEncryptionKeyPreference, 1));
    const struct {
        int index;
        bool microsoft;
    } candidates[] = {
        {CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_encrypKeyPref, -1), false},
        {microsoft ? CMS_signed_get_attr_by_OBJ(si, microsoft.get(), -1) : -1, true},
    };
    ERR_clear_error();
    for (const auto& c : candidates) {
        if (c.index < 0) continue;
        ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, c.index), 0);
        if (value == nullptr) continue;
        unsigned char* der = nullptr;
        const int size = i2d_ASN1_TYPE(value, &der);
        if (size <= 0) continue;
        std::unique_ptr<unsigned char, OpensslFree> owned(der);
        auto e = element(der, size);
        if (!e || e->end != der + size) continue;
        std::optional<KeyReference> ref;
        if (c.microsoft) {
            if (e->cls == V_ASN1_UNIVERSAL && e->tag == V_ASN1_SEQUENCE) ref = issuer_and_serial(e->contents, e->length);
        } else {
            ref = encryption_key_preference(*e);
        }
        if (ref) return ref;
    }
    return std::nullopt;
}

bool matches(X509* cert, const KeyReference& ref) {
    if (!ref.key_id.empty()) {
        const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert);
        return ski != nullptr && static_cast<std::size_t>(ASN1_STRING_length(ski)) == ref.key_id.size() &&
               std::memcmp(ASN1_STRING_get0_data(ski), ref.key_id.data(), ref.key_id.size()) == 0;
    }
    return X509_NAME_cmp(X509_get_issuer_name(cert), ref.issuer.get()) == 0 &&
           ASN1_INTEGER_cmp(X509_get0_serialNumber(cert), ref.serial.get()) == 0;
}

std::string der_of(X509* cert) {
    const int len = i2d_X509(cert, nullptr);
    if (len <= 0) return {};
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    return i2d_X509(cert, &out) == len ? der : std::string();
}

}  // namespace

std::vector<std::string> bound_certificates(CMS_ContentInfo* cms, CMS_SignerInfo* first, X509* signer,
                                            STACK_OF(X509) * untrusted, const TrustStore::Impl& trust,
                                            const VerifyOptions& options, const std::vector<std::string>& from) {
    std::vector<std::string> bound;
    if (addresses_covered(from, ossl::describe_certificate(signer).addresses)) {
        if (std::string der = der_of(signer); !der.empty()) bound.push_back(std::move(der));
    }
    const std::optional<KeyReference> named = named_encryption_certificate(first);
    if (!named) return bound;
    ossl::X509StackPtr certs(CMS_get1_certs(cms));
    ERR_clear_error();
    for (int i = 0; certs && i < sk_X509_num(certs.get()); ++i) {
        X509* cert = sk_X509_value(certs.get(), i);
        if (X509_cmp(cert, signer) == 0 || !matches(cert, *named)) continue;
        if (X509_check_ca(cert) != 0 || !addresses_covered(from, ossl::describe_certificate(cert).addresses)) break;
        // Its own chain, for any purpose: whether its key may encrypt is
        // decided where it would be used (seal.hpp), with the rest of the
        // sealing rules.
        std::vector<std::string> subjects;
        std::vector<VerifyWarning> warnings;
        if (!check_chain(trust, cert, untrusted, options, subjects, warnings, X509_PURPOSE_ANY).ok()) break;
        if (std::string der = der_of(cert); !der.empty()) bound.push_back(std::move(der));
        break;
    }
    return bound;
}

}  // namespace ribbon::verify
