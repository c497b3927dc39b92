// errors.cpp — maps ribbon errors to exit codes and stderr lines, once.
#include <cstdio>

#include "cli/commands.hpp"
#include "ribbon/mail_text.hpp"
#include "submit/failure.hpp"

namespace ribbon::cli {

// A refused message is 65 and a retry-later 75 here as in the submission
// core's failure table: the two must never disagree.
static_assert(kDataErr == submit::kExitDataErr && kTempFail == submit::kExitTempFail);

int exit_code_for(const Error& error) {
    switch (error.code()) {
        case Errc::empty_message:
        case Errc::malformed_message:
        case Errc::limit_exceeded:
        case Errc::no_from:
        case Errc::already_signed:
        case Errc::from_not_in_certificate:
        case Errc::not_signed:
        case Errc::bad_signature_format:
        case Errc::not_sealed:
        case Errc::not_for_us:
        case Errc::damaged:
        case Errc::unsupported_algorithm:
            return kDataErr;
        case Errc::certificate_expired:
        case Errc::certificate_not_yet_valid:
        case Errc::certificate_usage:
        case Errc::key_mismatch:
        case Errc::bad_key:
        case Errc::bad_certificate:
        case Errc::unsupported_key:
        case Errc::wrong_password:
        case Errc::unsafe_key_permissions:
        case Errc::no_digital_id:
        case Errc::no_matching_key:
        case Errc::bad_config:
            return kConfig;
        // A recipient's certificate that cannot be sealed to is a refusal
        // of this message (as a From the Digital ID does not cover), not a
        // fault of ribbon's own configuration.
        case Errc::seal_certificate_expired:
        case Errc::seal_certificate_not_yet_valid:
        case Errc::seal_key_usage:
        case Errc::seal_extended_key_usage:
        case Errc::seal_weak_key:
        case Errc::seal_unsupported_key:
        case Errc::seal_no_recipients:
            return kDataErr;
        case Errc::token_unavailable:
            // A token that is unplugged or refuses the PIN may be back
            // later: daemons tempfail rather than bounce (issue 3).
            return kTempFail;
        case Errc::store_unavailable:
            return kTempFail;
        case Errc::store_corrupt:
            return kDataErr;
        case Errc::io_error:
            return error.kind() == ErrorKind::permanent ? kNoInput : kTempFail;
        case Errc::crypto_failure:
        case Errc::internal_error:
            return error.kind() == ErrorKind::transient ? kTempFail : kSoftware;
    }
    return kSoftware;
}

void report_error(std::string_view command, std::string_view input, const Error& error) {
    // Messages quote header values, addresses and file names from mail:
    // escaped so they cannot drive the terminal (ribbon/mail_text.hpp).
    const std::string safe_input = terminal_safe(input);
    std::fprintf(stderr, "ribbon %.*s: %s%s%s [%.*s]\n", static_cast<int>(command.size()),
                 command.data(), safe_input.c_str(), input.empty() ? "" : ": ",
                 terminal_safe(error.message()).c_str(),
                 static_cast<int>(errc_name(error.code()).size()), errc_name(error.code()).data());
}

}  // namespace ribbon::cli
