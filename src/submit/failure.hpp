// submit/failure.hpp — what a message ribbon cannot sign gets, in one table
// for every front end: failure kind × configured action → the SMTP reply
// (milter, relay), the sysexits(3) code (`ribbon sendmail`) and the log
// line, as OpenDKIM's dkimf_libstatus maps its library status to a milter
// answer in one place. No front end spells a reply code or an exit code
// for a signing failure itself.
//
// Thread-safety: plain functions of their arguments.
#pragma once

#include <string>
#include <string_view>

#include "ribbon/config.hpp"
#include "ribbon/error.hpp"

namespace ribbon::submit {

// sysexits(3) codes a failure answers with (as sendmail(8) uses them).
inline constexpr int kExitOk = 0;         // EX_OK: the message went on (unsigned)
inline constexpr int kExitDataErr = 65;   // EX_DATAERR: this message is refused
inline constexpr int kExitTempFail = 75;  // EX_TEMPFAIL: not sent, try again later

// An SMTP reply (RFC 5321 §4.2) with its enhanced status code (RFC 3463).
// Code 0: none (the message goes on and the next hop answers).
struct Reply {
    int code = 0;
    std::string enhanced;
    std::string text;
};

// One failure, decided: every front end answers from these fields alone.
struct Failure {
    FailureKind kind = FailureKind::internal_error;
    FailureAction action = FailureAction::tempfail;  // what happens, after the rule below
    Reply reply;
    int exit_code = kExitTempFail;
    std::string reason;                  // the error's message
    Errc code = Errc::internal_error;    // the error's code (the CLI prints it)
    std::string log;                     // the decision line, e.g. tempfail (on_no_key = "tempfail"): …
    // Set when the configured action was "accept" but part of the signed
    // message had already reached the MTA: the warning to log.
    std::string overridden;

    // Whether the message goes on unsigned (action "accept").
    bool passes() const noexcept { return action == FailureAction::accept; }
};

// The kind's name as metrics label it: "internal_error", "no_key", "bad_message".
std::string_view failure_kind_name(FailureKind kind) noexcept;

// Which kind an error is: `lookup` errors come from SignerPool::get, the
// others from Signer::sign or the front end's own handling of the message.
FailureKind failure_kind(const Error& error, bool lookup);

// The table: `kind` answered with `action`, for `error`.
//   tempfail → 451 4.7.5 (no_key: RFC 3463 X.7.5, a key needed for a
//              cryptographic operation is missing) or 451 4.3.0 (a mail
//              system condition); exit 75
//   reject   → 554 5.6.0 (media error: this message); exit 65
//   accept   → no reply, exit 0: the message goes on unsigned
Failure failure_for(FailureKind kind, FailureAction action, const Error& error);

// The failure as a front end configured with `actions` answers it. Once
// `committed` (an edit reached the MTA, which the milter cannot take back),
// "accept" can no longer pass the message as it came: it becomes tempfail,
// and the MTA drops the edits with the message.
Failure decide_failure(const FailureActions& actions, FailureKind kind, const Error& error, bool committed = false);

// The text of an SMTP refusal built from an error message: one line of
// printable characters, no '%' (Sendmail reads milter reply texts as
// format strings, Postfix drops a single '%'), at most 400 octets (RFC 5321 §4.5.3.1.5 allows 512 a line).
std::string reply_text(std::string_view prefix, const std::string& detail);

}  // namespace ribbon::submit
