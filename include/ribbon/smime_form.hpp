// ribbon/smime_form.hpp — "is this message already S/MIME?", answered once
// for every front end (the milter, the relay, `ribbon sign`, `ribbon
// sendmail`) and for learning, from the top-level Content-Type alone.
//
// Outbound, ribbon passes any S/MIME message on unchanged: a signature is
// not ribbon's to wrap again, and a signature layer around a sealed part is
// ignored by Thunderbird (docs/SIGNED-FORMAT.md). The signer refuses such a
// message with Errc::already_signed, which each front end turns into "pass
// unchanged" (the CLI: exit 65).
//
// Thread-safety: plain functions; call from any thread.
#pragma once

#include <string_view>

namespace ribbon {

enum class SmimeForm {
    none,             // not S/MIME at the top level
    signed_detached,  // multipart/signed (RFC 8551 §3.5.3; RFC 1847 §2.1)
    signed_opaque,    // application/pkcs7-mime; smime-type=signed-data (§3.5.2)
    sealed,           // smime-type=enveloped-data (§3.3) or authEnveloped-data (§3.4)
    compressed,       // smime-type=compressed-data (§3.6, RFC 3274)
    certs_only,       // smime-type=certs-only (§3.7)
    untyped,          // application/pkcs7-mime without smime-type: old clients omit it
                      // (§3.2.2), and only the CMS content tells what it is
    other,            // application/pkcs7-mime with an smime-type RFC 8551 does not name
};

// The form a top-level Content-Type field value declares (RFC 2045 §5.1
// syntax: comments, quoting and RFC 2231 parameters included; media type
// and smime-type compared without regard to case). application/pkcs7-mime
// and the older application/x-pkcs7-mime are the same (RFC 8551 §3.2.1).
// An empty or unparsable value is `none`.
SmimeForm smime_form(std::string_view content_type);

// True for every form but `none`.
constexpr bool is_smime(SmimeForm form) noexcept { return form != SmimeForm::none; }

// What a person reads in a log line or an error: "multipart/signed",
// "application/pkcs7-mime; smime-type=enveloped-data", ...
std::string_view smime_form_description(SmimeForm form) noexcept;

}  // namespace ribbon
