// ribbon/error.hpp — errors as values.
//
// Every fallible call in libribbon returns a Result<T>: either the value or an
// Error carrying a code (what went wrong), a kind (what the caller should do
// about it) and a message a person can act on. Where a message is being
// submitted (milter, relay, `ribbon sendmail`), the submission core turns an
// error into a failure kind and the operator's on_* action into the reply
// and exit code, in one table (src/submit/failure.hpp); the one-shot
// commands map codes to exit codes in src/cli/errors.cpp.
//
// Thread-safety: plain values; copy freely.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ribbon {

enum class ErrorKind {
    permanent,  // the input or the configuration is wrong: retrying will not help
    transient,  // a resource is unavailable now (I/O, token, database): retry later
    internal,   // a bug or an unexpected library failure: keep the mail, retry later
};

enum class Errc {
    // message input
    empty_message,
    malformed_message,
    limit_exceeded,
    no_from,
    already_signed,
    // Digital ID and signing policy
    from_not_in_certificate,
    certificate_expired,
    certificate_not_yet_valid,
    certificate_usage,
    key_mismatch,
    bad_key,
    bad_certificate,
    unsupported_key,
    wrong_password,
    // keystore
    unsafe_key_permissions,  // a key others may read, or a keystore path others may change
    no_digital_id,           // the keystore holds no Digital ID for the address
    no_matching_key,         // a certificate to install whose key is not in the keystore
    token_unavailable,       // a PKCS#11 token is missing or refused the login: always transient
    // configuration
    bad_config,              // ribbon.toml is unreadable, malformed, or names an unknown key
    // the recipients store (ribbon/recipients.hpp)
    store_unavailable,       // the database is down, locked, read-only or full: always transient
    store_corrupt,           // not a ribbon database, or a schema newer than this ribbon
    // verification input
    not_signed,
    bad_signature_format,
    // sealing (ribbon/seal.hpp): a recipient's certificate refused, or nothing to seal to
    seal_certificate_expired,
    seal_certificate_not_yet_valid,
    seal_key_usage,           // keyUsage allows no key encipherment / key agreement
    seal_extended_key_usage,  // extKeyUsage without emailProtection
    seal_weak_key,            // RSA below 2048 bits
    seal_unsupported_key,     // neither RSA nor EC P-256/384/521
    seal_no_recipients,
    // opening sealed mail (ribbon/decrypt.hpp)
    not_sealed,             // neither enveloped-data nor authEnveloped-data
    not_for_us,             // no RecipientInfo for any of the organisation's certificates
    damaged,                // truncated or garbage CMS, failed tag or padding, wrong key: one kind
    unsupported_algorithm,  // an algorithm ribbon's OpenSSL cannot open, named in the message
    // environment
    io_error,
    crypto_failure,
    internal_error,
};

// Stable lower-case name of a code, for logs and JSON ("from_not_in_certificate").
std::string_view errc_name(Errc code) noexcept;
std::string_view error_kind_name(ErrorKind kind) noexcept;

class Error {
public:
    Error(Errc code, ErrorKind kind, std::string message)
        : m_code(code), m_kind(kind), m_message(std::move(message)) {}

    Errc code() const noexcept { return m_code; }
    ErrorKind kind() const noexcept { return m_kind; }
    const std::string& message() const noexcept { return m_message; }

private:
    Errc m_code;
    ErrorKind m_kind;
    std::string m_message;
};

// Shorthands for the common kinds.
inline Error permanent_error(Errc code, std::string message) {
    return Error(code, ErrorKind::permanent, std::move(message));
}
inline Error transient_error(Errc code, std::string message) {
    return Error(code, ErrorKind::transient, std::move(message));
}
inline Error internal_error(std::string message) {
    return Error(Errc::internal_error, ErrorKind::internal, std::move(message));
}

// A value or an Error. Deliberately small: C++20 has no std::expected.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_state(std::move(value)) {}            // NOLINT: implicit by design
    Result(Error error) : m_state(std::move(error)) {}        // NOLINT: implicit by design

    bool ok() const noexcept { return std::holds_alternative<T>(m_state); }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<T>(m_state); }
    const T& value() const& { return std::get<T>(m_state); }
    T&& value() && { return std::get<T>(std::move(m_state)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const& { return std::get<Error>(m_state); }
    Error&& error() && { return std::get<Error>(std::move(m_state)); }

private:
    std::variant<T, Error> m_state;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)), m_failed(true) {}  // NOLINT

    bool ok() const noexcept { return !m_failed; }
    explicit operator bool() const noexcept { return ok(); }
    const Error& error() const& { return m_error; }
    Error&& error() && { return std::move(m_error); }

private:
    Error m_error{Errc::internal_error, ErrorKind::internal, {}};
    bool m_failed = false;
};

}  // namespace ribbon
