// ribbon/signer.hpp — turns an outgoing RFC 5322 message into an S/MIME
// signed one (RFC 8551), in a form that survives what mail systems do to
// messages in transit.
//
// A Signer is built once from a DigitalId and then used for any number of
// messages from any number of threads concurrently: keys, certificates,
// algorithms and the constant parts of the CMS structure are prepared once
// at construction; signing a message parses no key or certificate and
// fetches no algorithm.
//
// What sign() produces (see docs/SIGNED-FORMAT.md for the reasoning):
//  - multipart/signed (RFC 8551 §3.5.3) or opaque application/pkcs7-mime
//    signed-data (§3.5.2);
//  - the signed part carries the Content-* headers; every other header stays
//    outside; with header protection, copies of From, To, Cc, Reply-To,
//    Subject, Date and Message-ID inside and hp="clear" (RFC 9788 §2);
//  - every part 7-bit, CRLF, lines <= 76, no trailing whitespace, no line
//    starting "From " (RFC 8551 §3.1); the bytes emitted are the bytes hashed;
//  - CMS SignedData (RFC 5652) with SHA-256, signed attributes contentType,
//    messageDigest, signingTime and sMIMECapabilities, the signer certificate
//    and intermediates embedded.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ribbon/digital_id.hpp"
#include "ribbon/error.hpp"
#include "ribbon/io.hpp"

namespace ribbon {

enum class SignMode { detached, opaque };

struct SignOptions {
    SignMode mode = SignMode::detached;
    bool header_protection = true;
    // The signed message will be sealed (ribbon/seal.hpp): with header
    // protection, hp="cipher" instead of "clear" (RFC 9788 §2.1).
    // sign_and_seal sets it.
    bool will_be_sealed = false;
    // The clock used for certificate validity and signingTime; unset means
    // the system clock at the time of the call. Tests move it.
    std::optional<TimePoint> now;
};

// What the signer decided, for logs.
struct SignReport {
    TimePoint signing_time;
    // The message had no Date header: one was added (= signing_time).
    bool date_added = false;
    // The Date was older than the signing clock by more than the tolerance
    // mail clients apply, and signingTime was set to the Date (see docs).
    bool signing_time_aligned = false;
    // The Date could not be used (unparseable, in the future, or before the
    // certificate's validity) and was replaced by the signing time.
    bool date_replaced = false;
    std::uint64_t bytes_out = 0;
};

// The sender of a message: the first addr-spec of its From field (RFC 5322
// §3.6.2), as written. Used to pick a Digital ID from a keystore before
// signing; sign() still checks that the certificate covers every From
// mailbox. Reads the input: a descriptor that is not a regular file (a
// pipe) cannot be read again, so callers give it the header section
// instead (read_message_head(), ribbon/io.hpp).
// Errors: no_from, malformed_message, io_error.
Result<std::string> from_address(const MessageInput& in);

class Signer {
public:
    static Result<Signer> create(const DigitalId& id);

    // Signs one message. Nothing is written to `out` unless signing succeeds.
    // A signed part larger than 256 KiB is hashed on a second, short-lived
    // thread while this one canonicalises and writes it, through a ring of
    // four 256 KiB buffers (core/hash_pipeline.hpp); smaller ones cost no
    // thread and, detached, reach `out` in one write with the signature.
    Result<SignReport> sign(const MessageInput& in, Sink& out, const SignOptions& options = {}) const;

    // Errc::certificate_expired / certificate_not_yet_valid if the Digital
    // ID cannot sign at `now`; front ends call it at start-up to fail early.
    Result<void> check_usable(TimePoint now) const;

    const DigitalId& digital_id() const noexcept;

    class Impl;
    explicit Signer(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}

private:
    std::shared_ptr<const Impl> m_impl;
};

}  // namespace ribbon
