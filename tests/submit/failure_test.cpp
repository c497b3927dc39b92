// src/submit/failure.*: the one table every front end answers a signing
// failure from — every kind × action → the exact SMTP reply, enhanced
// status code, sysexits code and log line —, which kind an error is, and
// the rules for reply texts.
#include <gtest/gtest.h>

#include "submit/failure.hpp"

namespace ribbon::test {
namespace {

using submit::Failure;

struct Row {
    FailureKind kind;
    FailureAction action;
    int code;
    const char* enhanced;
    int exit_code;
    const char* log;
};

TEST(SubmitFailureTable, EveryKindAndAction) {
    using K = FailureKind;
    using A = FailureAction;
    const Row rows[] = {
        {K::internal_error, A::tempfail, 451, "4.3.0", 75, "tempfail (on_internal_error = \"tempfail\"): why"},
        {K::internal_error, A::reject, 554, "5.6.0", 65, "rejected (on_internal_error = \"reject\"): why"},
        {K::internal_error, A::accept, 0, "", 0, "passed on unsigned (on_internal_error = \"accept\"): why"},
        {K::no_key, A::tempfail, 451, "4.7.5", 75, "tempfail (on_no_key = \"tempfail\"): why"},
        {K::no_key, A::reject, 554, "5.6.0", 65, "rejected (on_no_key = \"reject\"): why"},
        {K::no_key, A::accept, 0, "", 0, "passed on unsigned (on_no_key = \"accept\"): why"},
        {K::bad_message, A::tempfail, 451, "4.3.0", 75, "tempfail (on_bad_message = \"tempfail\"): why"},
        {K::bad_message, A::reject, 554, "5.6.0", 65, "rejected (on_bad_message = \"reject\"): why"},
        {K::bad_message, A::accept, 0, "", 0, "passed on unsigned (on_bad_message = \"accept\"): why"},
    };
    for (const Row& row : rows) {
        SCOPED_TRACE(row.log);
        Failure f = submit::failure_for(row.kind, row.action, permanent_error(Errc::no_digital_id, "why"));
        EXPECT_EQ(f.kind, row.kind);
        EXPECT_EQ(f.action, row.action);
        EXPECT_EQ(f.reply.code, row.code);
        EXPECT_EQ(f.reply.enhanced, row.enhanced);
        EXPECT_EQ(f.exit_code, row.exit_code);
        EXPECT_EQ(f.log, row.log);
        EXPECT_EQ(f.reason, "why");
        EXPECT_EQ(f.code, Errc::no_digital_id);
        EXPECT_EQ(f.passes(), row.action == A::accept);
        EXPECT_EQ(f.overridden, "");
        switch (row.action) {
            case A::tempfail: EXPECT_EQ(f.reply.text, "ribbon cannot sign this message now, try again later: why"); break;
            case A::reject: EXPECT_EQ(f.reply.text, "ribbon cannot sign this message: why"); break;
            case A::accept: EXPECT_EQ(f.reply.text, ""); break;
        }
    }
}

TEST(SubmitFailureTable, ConfiguredActionsAndTheMiltersRule) {
    FailureActions actions;  // the defaults: tempfail, tempfail, reject
    const Error e = transient_error(Errc::io_error, "disk full");
    EXPECT_EQ(submit::decide_failure(actions, FailureKind::bad_message, e).reply.code, 554);
    EXPECT_EQ(submit::decide_failure(actions, FailureKind::internal_error, e).reply.code, 451);
    actions.on_internal_error = FailureAction::accept;
    Failure before = submit::decide_failure(actions, FailureKind::internal_error, e, false);
    EXPECT_TRUE(before.passes());
    // Once an edit reached the MTA the message cannot go on as it came.
    Failure after = submit::decide_failure(actions, FailureKind::internal_error, e, true);
    EXPECT_EQ(after.action, FailureAction::tempfail);
    EXPECT_EQ(after.reply.code, 451);
    EXPECT_EQ(after.reply.enhanced, "4.3.0");
    EXPECT_EQ(after.exit_code, 75);
    EXPECT_EQ(after.overridden,
              "on_internal_error = \"accept\" cannot apply: part of the signed message already reached the MTA");
    EXPECT_EQ(after.log, "tempfail (on_internal_error = \"tempfail\"): disk full");
}

TEST(SubmitFailureTable, WhichKindAnErrorIs) {
    using submit::failure_kind;
    EXPECT_EQ(failure_kind(internal_error("x"), true), FailureKind::internal_error);
    EXPECT_EQ(failure_kind(permanent_error(Errc::no_digital_id, "x"), true), FailureKind::no_key);
    EXPECT_EQ(failure_kind(permanent_error(Errc::malformed_message, "x"), false), FailureKind::bad_message);
    EXPECT_EQ(failure_kind(permanent_error(Errc::limit_exceeded, "x"), false), FailureKind::bad_message);
    EXPECT_EQ(failure_kind(permanent_error(Errc::from_not_in_certificate, "x"), false), FailureKind::bad_message);
    EXPECT_EQ(failure_kind(transient_error(Errc::token_unavailable, "x"), false), FailureKind::no_key);
    EXPECT_EQ(failure_kind(permanent_error(Errc::certificate_expired, "x"), false), FailureKind::no_key);
    EXPECT_EQ(failure_kind(transient_error(Errc::io_error, "x"), false), FailureKind::internal_error);
    EXPECT_EQ(failure_kind(transient_error(Errc::store_unavailable, "x"), false), FailureKind::internal_error);
}

TEST(SubmitFailureTable, ReplyTextIsOnePrintableLineWithoutPercent) {
    EXPECT_EQ(submit::reply_text("p: ", "a%b\r\nc\td\x7f"), "p: a b  c d ");
    EXPECT_EQ(submit::reply_text("", std::string(1000, 'x')).size(), 400u);
}

// ---- plan and sign ----------------------------------------------------------

}  // namespace
}  // namespace ribbon::test
