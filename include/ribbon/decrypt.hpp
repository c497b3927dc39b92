// ribbon/decrypt.hpp — opening mail sealed to the organisation: S/MIME
// enveloped-data (RFC 8551 §3.3) and authEnveloped-data (§3.4, RFC 5083)
// addressed to one of its certificates, current or old (mail sealed to last
// year's certificate still arrives).
//
// What opens: RSA key transport with PKCS#1 v1.5 or RSA-OAEP (RFC 8017),
// ECDH ephemeral-static key agreement on the NIST curves (RFC 5753), and
// AES-CBC, 3DES-CBC or AES-GCM (RFC 5084) content encryption — what
// OpenSSL 3.0's CMS implements. What it lacks (X25519/X448 key agreement,
// RFC 8418; ChaCha20-Poly1305, RFC 8103; RC2 without the legacy provider)
// is Errc::unsupported_algorithm naming the algorithm.
//
// Every outcome but "opened" is an Error with its own code:
//   not_sealed            the message is not sealed at all
//   not_for_us            sealed, but to none of our certificates; the message
//                         names the recipients it is for (issuer and serial,
//                         or subjectKeyIdentifier)
//   damaged               truncated or garbage CMS, a failed authentication
//                         tag or padding, or a key that does not fit: one
//                         code, so that no caller can tell the steps apart
//                         (the Bleichenbacher/MMA oracle, src/core/decrypt_cms.cpp)
//   unsupported_algorithm named
//   limit_exceeded        more than MessageInput::max_size() bytes
//
// Thread-safety: DecryptionKeys is built by one thread, then read by any
// number; open_sealed() may be called from any thread (a token key is used
// under the keystore's engine lock).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"
#include "ribbon/io.hpp"
#include "ribbon/smime_form.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon {

// The organisation's decryption identities: private keys with their
// certificates. Unlike a DigitalId, the certificate's key usage is not
// checked (a separate encryption certificate carries keyEncipherment or
// keyAgreement only) and neither are its dates: an expired certificate's
// key still opens the mail sealed to it. Copies share the same keys.
class DecryptionKeys {
public:
    DecryptionKeys();

    // A PEM private key (encrypted: `password`, else Errc::wrong_password)
    // and the first certificate of a PEM text. A key that is not the
    // certificate's is Errc::key_mismatch.
    Result<void> add_pem(std::string_view key_pem, std::string_view cert_pem,
                         std::string_view password = {});

    std::size_t size() const noexcept;
    bool empty() const noexcept { return size() == 0; }
    // "subject, serial HEX" of each identity, in the order added.
    std::vector<std::string> describe() const;

    class Impl;  // internal: src/core/decrypt_keys.hpp
    Impl& impl() noexcept { return *m_impl; }
    const Impl& impl() const noexcept { return *m_impl; }

private:
    std::shared_ptr<Impl> m_impl;
};

struct OpenedMessage {
    // The opened message: the outer header section without its Content-*
    // fields, then the inner entity (its header section and body). With
    // RFC 9788 header protection the protected fields replace their outer
    // counterparts and a legacy-display part is removed. Line ends follow
    // the input's header section (CRLF or LF). For a bare CMS object (DER
    // or PEM, no MIME around it) the decrypted content, byte for byte.
    std::string message;
    bool bare_cms = false;
    bool auth_enveloped = false;        // authEnveloped-data (RFC 5083)
    std::string content_encryption;     // "AES-256-GCM", "AES-128-CBC", ...
    std::string key_management;         // "RSA PKCS#1 v1.5", "RSA-OAEP", "ECDH (dhSinglePass-stdDH-sha256kdf-scheme)"
    std::string recipient;              // our certificate that opened it: "subject, serial HEX"
    bool header_protection = false;     // RFC 9788 protected header fields restored
    bool legacy_display_removed = false;
    SmimeForm inner_form = SmimeForm::none;  // what the opened entity is (signed, ...)
};

// Opens `in` with one of `keys`. The whole message is read (at most
// in.max_size() bytes, else Errc::limit_exceeded); the CMS object, the
// plaintext and the output each take at most about that much memory more.
Result<OpenedMessage> open_sealed(const MessageInput& in, const DecryptionKeys& keys);

// The opened message and, when the opened entity is signed (signed, then
// sealed: RFC 8551 §3.7), the verifier's verdict on it — or, when the
// verifier cannot read the signed entity, its error (the message is opened
// all the same).
struct OpenedAndVerified {
    OpenedMessage opened;
    std::optional<VerifyResult> inner;
    std::optional<Error> inner_error;
};
Result<OpenedAndVerified> open_and_verify(const MessageInput& in, const DecryptionKeys& keys,
                                          const Verifier& verifier,
                                          const VerifyOptions& options = {});

}  // namespace ribbon
