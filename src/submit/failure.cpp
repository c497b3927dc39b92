// failure.cpp — see failure.hpp.
#include "submit/failure.hpp"

namespace ribbon::submit {

std::string_view failure_kind_name(FailureKind kind) noexcept {
    switch (kind) {
        case FailureKind::internal_error: return "internal_error";
        case FailureKind::no_key: return "no_key";
        case FailureKind::bad_message: return "bad_message";
    }
    return "internal_error";
}

FailureKind failure_kind(const Error& error, bool lookup) {
    if (error.kind() == ErrorKind::internal) return FailureKind::internal_error;
    if (lookup) return FailureKind::no_key;
    switch (error.code()) {
        case Errc::empty_message:
        case Errc::malformed_message:
        case Errc::limit_exceeded:
        case Errc::no_from:
        case Errc::from_not_in_certificate:
            return FailureKind::bad_message;
        case Errc::token_unavailable:
        case Errc::certificate_expired:
        case Errc::certificate_not_yet_valid:
            return FailureKind::no_key;  // the clock or the token moved since the lookup
        default:
            return FailureKind::internal_error;
    }
}

Failure failure_for(FailureKind kind, FailureAction action, const Error& error) {
    Failure f;
    f.kind = kind;
    f.action = action;
    f.reason = error.message();
    f.code = error.code();
    std::string setting(FailureActions::setting_name(kind));
    std::string because = " (" + setting + " = \"" + std::string(failure_action_name(action)) + "\"): " + f.reason;
    switch (action) {
        case FailureAction::accept:
            f.exit_code = kExitOk;
            f.log = "passed on unsigned" + because;
            return f;
        case FailureAction::reject:
            f.exit_code = kExitDataErr;
            f.reply = {554, "5.6.0", reply_text("ribbon cannot sign this message: ", f.reason)};
            f.log = "rejected" + because;
            return f;
        case FailureAction::tempfail:
            break;
    }
    f.exit_code = kExitTempFail;
    f.reply = {451, kind == FailureKind::no_key ? "4.7.5" : "4.3.0",
               reply_text("ribbon cannot sign this message now, try again later: ", f.reason)};
    f.log = "tempfail" + because;
    return f;
}

Failure decide_failure(const FailureActions& actions, FailureKind kind, const Error& error, bool committed) {
    FailureAction action = actions.action_for(kind);
    if (action != FailureAction::accept || !committed) return failure_for(kind, action, error);
    Failure f = failure_for(kind, FailureAction::tempfail, error);
    f.overridden = std::string(FailureActions::setting_name(kind)) +
                   " = \"accept\" cannot apply: part of the signed message already reached the MTA";
    return f;
}

std::string reply_text(std::string_view prefix, const std::string& detail) {
    std::string text(prefix);
    text += detail;
    for (char& c : text) {
        if (c == '%' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    if (text.size() > 400) text.resize(400);
    return text;
}

}  // namespace ribbon::submit
