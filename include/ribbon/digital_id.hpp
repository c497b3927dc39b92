// ribbon/digital_id.hpp — an organisation's Digital ID: private key,
// certificate and intermediate chain, parsed and checked once.
//
// A DigitalId is immutable after loading and cheap to copy (shared
// ownership); it may be used from any number of threads. Loading checks what
// can be checked without a clock: the key matches the certificate, the key
// type is one S/MIME signers may use (RSA >= 2048, ECDSA P-256/P-384), and
// the certificate allows digitalSignature and emailProtection. Validity dates
// are checked when signing, against the signer's clock.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"

namespace ribbon {

using TimePoint = std::chrono::system_clock::time_point;

// ISO 8601 in UTC, e.g. "2026-11-23T04:28:00Z": the one form ribbon prints.
std::string format_utc(TimePoint t);

// Unix seconds to a TimePoint, saturating: system_clock counts nanoseconds
// in 64 bits and ends in 2262, while certificates say "until 9999" and Date
// headers and command lines say anything.
TimePoint time_from_unix(std::int64_t seconds);

enum class KeyType { rsa, ecdsa };

struct CertificateInfo {
    std::string subject;     // RFC 2253 form, e.g. "CN=Bank,O=Bank Ltd"
    std::string issuer;
    std::string serial_hex;  // upper-case hex, no separators
    TimePoint not_before;
    TimePoint not_after;
    // Mail addresses the certificate vouches for, as the certificate writes
    // them: subjectAltName rfc822Name and SmtpUTF8Mailbox (RFC 8398, UTF-8)
    // entries, else emailAddress attributes of the subject (RFC 8550 §3).
    std::vector<std::string> addresses;
    KeyType key_type = KeyType::rsa;
    int key_bits = 0;
    std::string key_description;  // "RSA-2048", "ECDSA P-256"
};

class DigitalId {
public:
    // PEM files. The chain file holds intermediates (a root in it is dropped:
    // receivers must already trust the root). An encrypted key needs
    // `password`; a wrong one is Errc::wrong_password.
    static Result<DigitalId> load(const std::filesystem::path& key_file,
                                  const std::filesystem::path& cert_file,
                                  const std::optional<std::filesystem::path>& chain_file = {},
                                  std::string_view password = {});
    static Result<DigitalId> from_pem(std::string_view key_pem, std::string_view cert_pem,
                                      std::string_view chain_pem = {},
                                      std::string_view password = {});

    const CertificateInfo& certificate() const noexcept;
    // True if `address` (addr-spec) is one of the certificate's addresses,
    // by same_address (ribbon/mail_text.hpp): domains in A-label form and
    // case-insensitively, the local part's ASCII letters too, as every mail
    // client does in practice.
    bool covers_address(std::string_view address) const;

    class Impl;  // internal: src/core/digital_id_impl.hpp
    const Impl& impl() const noexcept { return *m_impl; }
    explicit DigitalId(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}

private:
    std::shared_ptr<const Impl> m_impl;
};

}  // namespace ribbon
