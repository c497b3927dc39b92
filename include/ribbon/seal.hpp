// ribbon/seal.hpp — seals (encrypts) a signed message to its recipients:
// S/MIME enveloped-data (RFC 8551 §3.3) or authEnveloped-data (RFC 5083),
// sign then seal with the signature inside (RFC 8551 §3.7).
//
// Three steps, each usable alone so that the front ends (and later the
// recipients store, which decides which certificate may be used) can stand
// between them:
//  1. SealRecipient: one recipient's certificate, parsed once and checked
//     for sealing (valid, key usage for encryption, emailProtection, a key
//     ribbon accepts), with that customer's sMIMECapabilities as the store
//     keeps them (HarvestedCertificate::capabilities, ribbon/recipients.hpp);
//  2. choose_seal_algorithms: a pure function from the recipients' key
//     types and capabilities to the algorithms (docs/SEALED-FORMAT.md);
//  3. Sealer::seal: the message's Content-* fields and body become the
//     enveloped content, every other header field stays outside.
//
// Thread-safety: SealRecipient and Sealer are immutable after creation and
// may be used from any number of threads at once.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/digital_id.hpp"
#include "ribbon/error.hpp"
#include "ribbon/io.hpp"
#include "ribbon/signer.hpp"

namespace ribbon {

// The content encryption: AES-256-CBC in EnvelopedData (RFC 5652 §6, the
// RFC 8551 §2.7 MUST) or AES-256-GCM in AuthEnvelopedData (RFC 5083, 5084).
enum class SealContentCipher { aes256_cbc, aes256_gcm };

// How one recipient gets the content key.
enum class SealKeyTransport {
    rsa_pkcs1_v15,      // RSAES-PKCS1-v1_5 (RFC 8017 §7.2, RFC 3370 §4.2.1)
    rsa_oaep_sha1,      // RSAES-OAEP with RFC 3560's default parameters (SHA-1, MGF1-SHA-1)
    rsa_oaep_sha256,    // RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 3560 §2.2)
    ecdh_sha256_aes256, // dhSinglePass-stdDH-sha256kdf-scheme + id-aes256-wrap (RFC 5753 §7.1.4, §7.2)
};

std::string_view seal_content_cipher_name(SealContentCipher c) noexcept;  // "aes-256-cbc" | "aes-256-gcm"
std::string_view seal_key_transport_name(SealKeyTransport t) noexcept;    // "rsa-pkcs1-v1_5", "rsa-oaep-sha256", ...

enum class SealKeyType { rsa, ec };

// What choose_seal_algorithms needs to know of one recipient.
struct SealProfile {
    SealKeyType key_type = SealKeyType::rsa;
    // sMIMECapabilities as ribbon stores them: OpenSSL short names in lower
    // case or dotted OIDs, in the sender's order ("aes-256-cbc",
    // "id-aes256-gcm", "rsaes-oaep"). The harvest keeps names, not
    // parameters, so a bare "rsaes-oaep" means RFC 3560's default
    // parameters; "rsaes-oaep-sha256" says SHA-256 is understood, for
    // callers that know it (--seal-capabilities).
    std::vector<std::string> capabilities;
};

struct SealAlgorithms {
    SealContentCipher content = SealContentCipher::aes256_cbc;
    std::vector<SealKeyTransport> key_transport;  // one per profile, in order
    bool operator==(const SealAlgorithms&) const = default;
};

// AES-256-GCM when every recipient lists AES-GCM (id-aes256-gcm or
// id-aes128-gcm: a client that decrypts one decrypts the other), else
// AES-256-CBC; per recipient RSA-OAEP when listed, else PKCS#1 v1.5; ECDH
// for EC keys whatever is listed (RFC 5753 is the only way to an EC key).
// An empty list chooses AES-256-CBC.
SealAlgorithms choose_seal_algorithms(std::span<const SealProfile> recipients);

// The capabilities of `ribbon sign --seal-capabilities`: names separated by
// commas or white space, lower-cased. Never fails: unknown names are kept
// (they choose nothing), as stored capabilities are.
std::vector<std::string> parse_seal_capabilities(std::string_view list);

// One recipient's certificate, checked for sealing.
class SealRecipient {
public:
    // A PEM (or DER) certificate. Refusals, each naming the certificate:
    //  bad_certificate                  not one parseable certificate
    //  seal_certificate_expired         not valid at `now` any more
    //  seal_certificate_not_yet_valid   not valid yet
    //  seal_key_usage                   keyUsage without keyEncipherment (RSA) / keyAgreement (EC)
    //  seal_extended_key_usage          extKeyUsage without emailProtection (nor anyExtendedKeyUsage)
    //  seal_weak_key                    RSA shorter than 2048 bits
    //  seal_unsupported_key             not RSA, or a curve other than P-256/384/521
    static Result<SealRecipient> from_certificate(std::string_view pem_or_der,
                                                  std::vector<std::string> capabilities, TimePoint now);

    const CertificateInfo& certificate() const noexcept;
    SealKeyType key_type() const noexcept;
    const std::vector<std::string>& capabilities() const noexcept;
    SealProfile profile() const;
    // The validity check alone, for a recipient loaded earlier.
    Result<void> check_valid(TimePoint now) const;

    class Impl;
    explicit SealRecipient(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}
    const Impl& impl() const noexcept { return *m_impl; }

private:
    std::shared_ptr<const Impl> m_impl;
};

struct SealOptions {
    // The clock for the recipients' validity; unset: the system clock.
    std::optional<TimePoint> now;
};

struct SealReport {
    SealAlgorithms algorithms;  // recipients first, copy_to last
    std::uint64_t bytes_in = 0;   // the enveloped entity
    std::uint64_t bytes_out = 0;  // the sealed message
};

class Sealer {
public:
    // `copy_to`: the organisation's archive certificate, one more
    // RecipientInfo (last). No recipient at all is Errc::seal_no_recipients.
    static Result<Sealer> create(std::vector<SealRecipient> recipients,
                                 std::optional<SealRecipient> copy_to = {});

    // Seals `message` (as ribbon's Signer writes it: CRLF, the header
    // section, then the signed entity's body): the header fields other
    // than MIME-Version and Content-* stay outside unchanged; the Content-*
    // fields and the body become the enveloped content. Nothing is written
    // to `out` unless sealing succeeds (into a sink that discards
    // uncommitted output the sealed body streams as it is made).
    // Errors: malformed_message (no header section), limit_exceeded,
    // seal_certificate_expired/not_yet_valid (a recipient expired since it
    // was loaded), crypto_failure, io_error.
    Result<SealReport> seal(const MessageInput& message, Sink& out, const SealOptions& options = {}) const;

    const SealAlgorithms& algorithms() const noexcept;
    const std::vector<SealRecipient>& recipients() const noexcept;  // copy_to last

    class Impl;
    explicit Sealer(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}

private:
    std::shared_ptr<const Impl> m_impl;
};

// Sign then seal (RFC 8551 §3.7): signs with `sign_options` (hp="cipher",
// RFC 9788 §2.1, whatever it says) into a spool, then seals that. The
// signed message is held once (in memory up to 4 MiB, then in an unlinked
// temporary file).
struct SignSealReport {
    SignReport sign;
    SealReport seal;
};
Result<SignSealReport> sign_and_seal(const Signer& signer, const Sealer& sealer, const MessageInput& in,
                                     Sink& out, SignOptions sign_options = {}, const SealOptions& seal_options = {});

}  // namespace ribbon
