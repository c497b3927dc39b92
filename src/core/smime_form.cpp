// smime_form.cpp — which S/MIME form a top-level Content-Type declares
// (ribbon/smime_form.hpp). GMime parses the field (RFC 2045 §5.1, RFC 2231),
// so a quoted, commented or continued smime-type is read as any mail
// client writes it; nothing here is trusted beyond being a header value.
#include "ribbon/smime_form.hpp"

#include <strings.h>

#include <string>

#include "core/mime_parse.hpp"

namespace ribbon {

namespace mime {

SmimeForm smime_form_of(GMimeContentType* type) {
    if (type == nullptr) return SmimeForm::none;
    if (g_mime_content_type_is_type(type, "multipart", "signed")) return SmimeForm::signed_detached;
    if (!g_mime_content_type_is_type(type, "application", "pkcs7-mime") &&
        !g_mime_content_type_is_type(type, "application", "x-pkcs7-mime")) {
        return SmimeForm::none;
    }
    const char* smime_type = g_mime_content_type_get_parameter(type, "smime-type");
    if (smime_type == nullptr) return SmimeForm::untyped;
    struct Named {
        const char* name;
        SmimeForm form;
    };
    // RFC 8551 §3.2.2's smime-type values (authEnveloped-data from §3.4).
    static constexpr Named kNamed[] = {
        {"signed-data", SmimeForm::signed_opaque},     {"enveloped-data", SmimeForm::sealed},
        {"authenveloped-data", SmimeForm::sealed},     {"compressed-data", SmimeForm::compressed},
        {"certs-only", SmimeForm::certs_only},
    };
    for (const Named& n : kNamed) {
        if (::strcasecmp(smime_type, n.name) == 0) return n.form;
    }
    return SmimeForm::other;
}

}  // namespace mime

SmimeForm smime_form(std::string_view content_type) {
    if (content_type.empty()) return SmimeForm::none;
    mime::ensure_gmime();
    const std::string value(content_type);  // GMime wants a C string
    mime::GPtr<GMimeContentType> type(g_mime_content_type_parse(nullptr, value.c_str()));
    return mime::smime_form_of(type.get());
}

std::string_view smime_form_description(SmimeForm form) noexcept {
    switch (form) {
        case SmimeForm::none: return "not S/MIME";
        case SmimeForm::signed_detached: return "multipart/signed";
        case SmimeForm::signed_opaque: return "application/pkcs7-mime; smime-type=signed-data";
        case SmimeForm::sealed: return "application/pkcs7-mime; smime-type=enveloped-data";
        case SmimeForm::compressed: return "application/pkcs7-mime; smime-type=compressed-data";
        case SmimeForm::certs_only: return "application/pkcs7-mime; smime-type=certs-only";
        case SmimeForm::untyped: return "application/pkcs7-mime without smime-type";
        case SmimeForm::other: return "application/pkcs7-mime with an unknown smime-type";
    }
    return "S/MIME";
}

}  // namespace ribbon
