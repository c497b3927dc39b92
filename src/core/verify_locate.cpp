// verify_locate.cpp — see verify_locate.hpp.
//
// The CMS object and the MIME structure are untrusted: anything in a
// signature position that is not a SignedData is a format error, and the
// signed bytes of a multipart/signed are cut from the bytes as received,
// never from GMime's re-serialisation, which may differ from what was
// hashed.
#include "core/verify_locate.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>

#include <climits>

#include "base/ascii.hpp"
#include "core/mime_parse.hpp"
#include "core/verify_mime.hpp"

namespace ribbon::verify {

namespace {

// BIO_new_mem_buf takes an int length.
constexpr std::size_t kMaxContent = static_cast<std::size_t>(INT_MAX);

std::string lower(const char* s) { return s == nullptr ? std::string() : ascii_lower(s); }

Located nothing(std::string detail) {
    Located l;
    l.detail = std::move(detail);
    return l;
}

Located sealed(std::string detail) {
    Located l;
    l.holds = Holds::sealed;
    l.detail = std::move(detail);
    return l;
}

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

Result<Located> locate_multipart_signed(GMimeContentType* type, std::string_view bytes) {
    // RFC 8551 §3.5.3; "x-" is the older spelling receivers must accept.
    const std::string protocol = lower(g_mime_content_type_get_parameter(type, "protocol"));
    if (!protocol.empty() && protocol != "application/pkcs7-signature" &&
        protocol != "application/x-pkcs7-signature") {
        return nothing("multipart/signed with protocol " + protocol + " is not S/MIME");
    }
    const char* boundary = g_mime_content_type_get_parameter(type, "boundary");
    auto body = message_body(bytes);
    if (!body) return permanent_error(Errc::malformed_message, "malformed MIME: no message body");
    auto parts = split_multipart_signed(*body, boundary != nullptr ? boundary : "");
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
            return nothing(
                "multipart/signed without a protocol and without an S/MIME signature part");
        }
    }
    // GMime undoes the transfer encoding (base64, or none for the binary
    // parts some AS2 senders use).
    auto cms =
        decode_signed_data(mime::decoded_content(GMIME_PART(sig)), "the signature (smime.p7s)");
    if (!cms) return std::move(cms).error();

    Located found;
    found.holds = Holds::signed_data;
    found.cms = std::move(*cms);
    // RFC 8551 §3.1.1: the receiver converts to canonical CRLF before
    // hashing; stores and pipes often hold bare LF.
    found.content = to_crlf(parts->content);
    if (found.content != parts->content) found.raw_content = std::string(parts->content);
    return found;
}

// A CMS object that is not SignedData: enveloped (RFC 5652 §6) or
// authEnveloped (RFC 5083) is a sealed layer; anything else, nothing.
Located not_signed_data(CMS_ContentInfo* any) {
    const int nid = OBJ_obj2nid(CMS_get0_type(any));
    if (nid == NID_pkcs7_enveloped) return sealed("enveloped-data (RFC 8551 §3.3)");
    if (nid == NID_id_smime_ct_authEnvelopedData) {
        return sealed("authEnveloped-data (RFC 8551 §3.4)");
    }
    return nothing("application/pkcs7-mime that is not signed-data");
}

Result<Located> locate_opaque(GMimeObject* entity, GMimeContentType* type) {
    // RFC 8551 §3.2.2: only smime-type=signed-data is a signature;
    // enveloped-data and authEnveloped-data are sealed layers, the others
    // (compressed-data, certs-only) carry nothing to verify.
    const std::string smime_type = lower(g_mime_content_type_get_parameter(type, "smime-type"));
    if (smime_type == "enveloped-data") return sealed("enveloped-data (RFC 8551 §3.3)");
    if (smime_type == "authenveloped-data") return sealed("authEnveloped-data (RFC 8551 §3.4)");
    if (!smime_type.empty() && smime_type != "signed-data") {
        return nothing("application/pkcs7-mime with smime-type=" + smime_type +
                       " carries no signature to verify");
    }
    if (!GMIME_IS_PART(entity)) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: pkcs7-mime is not a leaf part");
    }
    const std::string der = mime::decoded_content(GMIME_PART(entity));
    auto cms = decode_signed_data(der, "the application/pkcs7-mime content (smime.p7m)");
    if (!cms) {
        // Without smime-type the part may be enveloped data: only the CMS
        // content type tells.
        if (smime_type.empty() && cms.error().code() == Errc::bad_signature_format &&
            !der.empty()) {
            auto bio = ossl::mem_bio(der);
            ossl::CmsPtr any(d2i_CMS_bio(bio.get(), nullptr));
            ERR_clear_error();
            if (any) return not_signed_data(any.get());
        }
        return std::move(cms).error();
    }
    auto content = econtent(cms->get());
    if (!content) {
        return permanent_error(Errc::bad_signature_format,
                               "opaque signed-data without encapsulated content");
    }
    Located found;
    found.holds = Holds::signed_data;
    found.opaque = true;
    found.content = std::string(*content);
    found.cms = std::move(*cms);
    return found;
}

}  // namespace

std::optional<std::string_view> econtent(CMS_ContentInfo* cms) {
    ASN1_OCTET_STRING** pos = CMS_get0_content(cms);
    if (pos == nullptr || *pos == nullptr) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*pos)),
                            static_cast<std::size_t>(ASN1_STRING_length(*pos)));
}

Result<Located> locate(GMimeObject* entity, std::string_view bytes) {
    GMimeContentType* type = entity != nullptr ? g_mime_object_get_content_type(entity) : nullptr;
    if (type == nullptr) return nothing("the message has no body");
    if (g_mime_content_type_is_type(type, "multipart", "signed")) {
        return locate_multipart_signed(type, bytes);
    }
    if (g_mime_content_type_is_type(type, "application", "pkcs7-mime") ||
        g_mime_content_type_is_type(type, "application", "x-pkcs7-mime")) {
        return locate_opaque(entity, type);
    }
    return nothing(std::string("the message is ") +
                   lower(g_mime_content_type_get_media_type(type)) + "/" +
                   lower(g_mime_content_type_get_media_subtype(type)) + ", not S/MIME signed");
}

Result<std::vector<std::string_view>> multipart_parts(std::string_view bytes,
                                                      std::string_view boundary) {
    auto body = message_body(bytes);
    if (!body) return permanent_error(Errc::malformed_message, "malformed MIME: no message body");
    return split_multipart(*body, boundary);
}

}  // namespace ribbon::verify
