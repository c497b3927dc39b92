// error.cpp — stable names for error codes and kinds (logs, JSON, tests).
#include "ribbon/error.hpp"

namespace ribbon {

std::string_view errc_name(Errc code) noexcept {
    switch (code) {
        case Errc::empty_message: return "empty_message";
        case Errc::malformed_message: return "malformed_message";
        case Errc::limit_exceeded: return "limit_exceeded";
        case Errc::no_from: return "no_from";
        case Errc::already_signed: return "already_signed";
        case Errc::from_not_in_certificate: return "from_not_in_certificate";
        case Errc::certificate_expired: return "certificate_expired";
        case Errc::certificate_not_yet_valid: return "certificate_not_yet_valid";
        case Errc::certificate_usage: return "certificate_usage";
        case Errc::key_mismatch: return "key_mismatch";
        case Errc::bad_key: return "bad_key";
        case Errc::bad_certificate: return "bad_certificate";
        case Errc::unsupported_key: return "unsupported_key";
        case Errc::wrong_password: return "wrong_password";
        case Errc::unsafe_key_permissions: return "unsafe_key_permissions";
        case Errc::no_digital_id: return "no_digital_id";
        case Errc::no_matching_key: return "no_matching_key";
        case Errc::bad_config: return "bad_config";
        case Errc::token_unavailable: return "token_unavailable";
        case Errc::store_unavailable: return "store_unavailable";
        case Errc::store_corrupt: return "store_corrupt";
        case Errc::not_signed: return "not_signed";
        case Errc::bad_signature_format: return "bad_signature_format";
        case Errc::seal_certificate_expired: return "seal_certificate_expired";
        case Errc::seal_certificate_not_yet_valid: return "seal_certificate_not_yet_valid";
        case Errc::seal_key_usage: return "seal_key_usage";
        case Errc::seal_extended_key_usage: return "seal_extended_key_usage";
        case Errc::seal_weak_key: return "seal_weak_key";
        case Errc::seal_unsupported_key: return "seal_unsupported_key";
        case Errc::seal_no_recipients: return "seal_no_recipients";
        case Errc::not_sealed: return "not_sealed";
        case Errc::not_for_us: return "not_for_us";
        case Errc::damaged: return "damaged";
        case Errc::unsupported_algorithm: return "unsupported_algorithm";
        case Errc::io_error: return "io_error";
        case Errc::crypto_failure: return "crypto_failure";
        case Errc::internal_error: return "internal_error";
    }
    return "unknown";
}

std::string_view error_kind_name(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::permanent: return "permanent";
        case ErrorKind::transient: return "transient";
        case ErrorKind::internal: return "internal";
    }
    return "unknown";
}

}  // namespace ribbon
