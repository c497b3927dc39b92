// ribbon/verifier.hpp — checks S/MIME signed mail (RFC 8551) the way a
// careful receiver does: the CMS signature over the canonical content, the
// certificate chain up to a trusted root, that the From address is in the
// signer's certificate (RFC 8550 §3), and, for header-protected messages
// (RFC 9788), that the outer headers still match the protected copies, and
// that the message's Date is within an hour of the CMS signingTime.
// Weak algorithms and keys are verdicts too; the policy is in docs/VERIFY.md.
//
// Every signature layer is verified (a signature around a signature, RFC
// 8551 §3.7), and when the message as a whole is not signed, signed parts
// inside multipart/mixed are (a mailing-list footer added after signing);
// VerifyResult::coverage then says what the signatures do not cover.
//
// A TrustStore and a Verifier are immutable after construction and may be
// shared by any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ribbon/digital_id.hpp"
#include "ribbon/error.hpp"
#include "ribbon/io.hpp"

namespace ribbon {

class TrustStore {
  public:
    // The system's roots (/etc/ssl/certs).
    static Result<TrustStore> system();
    // Only the given PEM files (each may hold several certificates).
    static Result<TrustStore> from_files(const std::vector<std::filesystem::path>& ca_files);

    class Impl;
    const Impl& impl() const noexcept { return *m_impl; }
    explicit TrustStore(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}

  private:
    std::shared_ptr<const Impl> m_impl;
};

enum class Verdict {
    valid,       // signature good, chain trusted, From in certificate, headers intact
    invalid,     // signed, but one of those checks failed: see reason
    not_signed,  // no S/MIME signature in the message
};

// Why a message is not valid; stable names for JSON and tests.
enum class VerifyReason {
    none,
    digest_mismatch,            // content changed after signing
    bad_signature,              // signature value does not verify
    untrusted,                  // chain does not reach a trusted root
    certificate_expired,        // at the verification time
    certificate_not_yet_valid,  // at the verification time
    certificate_usage,          // not for S/MIME signing
    from_not_in_certificate,
    protected_header_mismatch,  // RFC 9788: outer header differs from the protected copy
    not_signed,
    // The algorithm policy (docs/VERIFY.md): a broken digest (MD5; SHA-1
    // unless accepted), or a signer key too small to be trusted. weak_key is
    // also the code of the warning for keys below today's minimum.
    weak_algorithm,
    weak_key,
    // The message's Date is missing, unreadable, or more than an hour from
    // the signer's signingTime (Thunderbird's rule, docs/VERIFY.md).
    date_mismatch,
    // Only part of the message is signed and VerifyOptions::require_whole.
    partial_coverage,
};
std::string_view verify_reason_name(VerifyReason reason) noexcept;

struct SignerDetails {
    CertificateInfo certificate;
    std::optional<TimePoint> signing_time;
    std::vector<std::string> chain;  // subjects, signer first, trust anchor last
    std::string digest_algorithm;    // "sha256"
    // The SignerInfo's signatureAlgorithm, OpenSSL short name in lower case:
    // "rsaencryption", "ecdsa-with-sha256", "rsassa-pss", "rsa-md5".
    std::string signature_algorithm;
    // The signer's sMIMECapabilities signed attribute (RFC 8551 §2.5.2), in
    // its order of preference: OpenSSL short names in lower case
    // ("aes-256-cbc", "id-aes128-gcm") or dotted OIDs for algorithms OpenSSL
    // does not name. Empty when the attribute is absent.
    std::vector<std::string> smime_capabilities;
    // Lower-case hex SHA-256 of the signer certificate's DER
    // SubjectPublicKeyInfo (the key, whichever certificate carries it) and of
    // the whole certificate's DER: what key continuity (ribbon/continuity.hpp)
    // is keyed on.
    std::string spki_sha256;
    std::string certificate_sha256;
};

struct ProtectedHeader {
    std::string name;
    std::string outer;  // empty when missing
    std::string inner;
    bool matches = false;
};

// Something a receiver should know that does not make the signature
// invalid: a signer key below today's minimum (weak_key), a SHA-1 signature
// accepted on request (weak_algorithm).
struct VerifyWarning {
    VerifyReason code = VerifyReason::none;
    std::string detail;
};

enum class LayerKind {
    multipart_signed,  // RFC 8551 §3.5.3 (detached)
    opaque,            // application/pkcs7-mime; smime-type=signed-data
    sealed,            // enveloped-data or authEnveloped-data: not opened
};
std::string_view layer_kind_name(
    LayerKind kind) noexcept;  // "multipart-signed" | "opaque" | "sealed"

// One signature layer, or the sealed layer that ended the walk.
struct SignatureLayer {
    LayerKind kind = LayerKind::multipart_signed;
    // The MIME part that carries it: "" the whole message, "1", "2.1" (RFC
    // 3501 §6.4.5 numbering). The first part of a multipart/signed at P is
    // P.1; an opaque signature's content keeps its part's number.
    std::string part;
    // valid or invalid; not_signed for a sealed layer (reason none).
    Verdict verdict = Verdict::not_signed;
    VerifyReason reason = VerifyReason::none;
    std::string detail;
    bool opaque = false;
    std::optional<SignerDetails> signer;
    bool from_in_certificate = false;
    std::vector<VerifyWarning> warnings;
};

// A part of the message that no signature covers.
struct UnsignedPart {
    std::string part;          // "2", "1.3"
    std::string content_type;  // "text/plain", "message/rfc822"
    std::uint64_t size = 0;    // its bytes in the message, header section included
};

// What the signatures cover. whole: the message's own body is the signed
// content of its outermost layer. Otherwise signed_parts lists the parts
// that are signed and unsigned_parts every leaf part (or attached message)
// outside them; an attached message/rfc822 is another message and is never
// verified as this one.
struct Coverage {
    bool whole = false;
    std::vector<std::string> signed_parts;
    std::vector<UnsignedPart> unsigned_parts;
    // For people: "the whole message", "MIME part 1 of 2; part 2,
    // text/plain, 214 bytes, is not signed".
    std::string description;
};

// The top-level fields describe the outermost signature (or, when only
// parts are signed, the first one), as before layers were reported; the
// verdict and reason are those of the whole message: invalid when any layer
// is, with the first failing layer's reason.
struct VerifyResult {
    Verdict verdict = Verdict::not_signed;
    VerifyReason reason = VerifyReason::not_signed;
    std::string detail;  // a sentence for people
    bool opaque = false;
    std::optional<SignerDetails> signer;
    std::vector<std::string> from_addresses;
    bool from_in_certificate = false;
    // Every certificate in the SignedData that vouches for a From address
    // (DER): the sender's signing certificate and, as Outlook sends it, their
    // encryption certificate. What `ribbon learn` harvests.
    std::vector<std::string> sender_certificates;
    // Those of them the signature binds to the sender, so that mail may be
    // sealed to them (issue 18): the signer's own certificate and the
    // encryption certificate its signed attributes name
    // (SMIMEEncryptionKeyPreference, RFC 8551 §2.5.3, or Microsoft's
    // 1.3.6.1.4.1.311.16.4), each naming a From address and chaining to a
    // trusted root. Empty unless the signature, its algorithms and the
    // signer's chain all hold. A certificate only carried beside the
    // signature is in sender_certificates, never here.
    std::vector<std::string> bound_certificates;
    bool header_protection = false;
    std::vector<ProtectedHeader> protected_headers;
    std::vector<VerifyWarning> warnings;  // whatever the verdict, every layer's
    // Every layer, outermost first; for signed parts, part by part.
    std::vector<SignatureLayer> layers;
    Coverage coverage;
    // The message's Message-ID without angle brackets (empty when none),
    // and the lower-case hex SHA-256 of the outermost layer's signed
    // content (empty when not signed): a message is the same message when
    // both are.
    std::string message_id;
    std::string content_sha256;
};

struct VerifyOptions {
    // Verify the chain as of this time instead of now (for certificates that
    // have since expired).
    std::optional<TimePoint> at;
    // SHA-1 signatures are invalid (weak_algorithm) unless this is set; then
    // they are judged like any other, with a weak_algorithm warning. The
    // counterpart of Thunderbird's
    // mail.smime.accept_insecure_sha1_message_signatures.
    bool accept_sha1 = false;
    // A signature over part of the message only (a footer added after
    // signing) makes the verdict invalid, reason partial_coverage.
    bool require_whole = false;
};

// At most this many signature layers are verified; a message with more is
// refused (Errc::limit_exceeded).
inline constexpr int kMaxSignatureLayers = 8;

class Verifier {
  public:
    explicit Verifier(TrustStore trust);

    // Err only when the message cannot be read or parsed (CLI exit 3);
    // every verdict, including not_signed, is a value.
    Result<VerifyResult> verify(const MessageInput& in, const VerifyOptions& options = {}) const;

  private:
    TrustStore m_trust;
};

}  // namespace ribbon
