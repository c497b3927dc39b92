// Unit tests of src/core/error.cpp and ribbon/error.hpp: the stable names
// logs, JSON output and tests rely on (one per code and kind, each the
// enumerator's own spelling, none shared), the kind each shorthand gives,
// and Result's value-or-error behaviour.
#include "ribbon/error.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ribbon {
namespace {

TEST(Error, EveryCodeHasItsOwnStableName) {
    // The full list, in declaration order: a new code must be named here
    // and in errc_name(), and no name may change (JSON readers match them).
    const std::pair<Errc, const char*> names[] = {
        {Errc::empty_message, "empty_message"},
        {Errc::malformed_message, "malformed_message"},
        {Errc::limit_exceeded, "limit_exceeded"},
        {Errc::no_from, "no_from"},
        {Errc::already_signed, "already_signed"},
        {Errc::from_not_in_certificate, "from_not_in_certificate"},
        {Errc::certificate_expired, "certificate_expired"},
        {Errc::certificate_not_yet_valid, "certificate_not_yet_valid"},
        {Errc::certificate_usage, "certificate_usage"},
        {Errc::key_mismatch, "key_mismatch"},
        {Errc::bad_key, "bad_key"},
        {Errc::bad_certificate, "bad_certificate"},
        {Errc::unsupported_key, "unsupported_key"},
        {Errc::wrong_password, "wrong_password"},
        {Errc::unsafe_key_permissions, "unsafe_key_permissions"},
        {Errc::no_digital_id, "no_digital_id"},
        {Errc::no_matching_key, "no_matching_key"},
        {Errc::token_unavailable, "token_unavailable"},
        {Errc::bad_config, "bad_config"},
        {Errc::store_unavailable, "store_unavailable"},
        {Errc::store_corrupt, "store_corrupt"},
        {Errc::not_signed, "not_signed"},
        {Errc::bad_signature_format, "bad_signature_format"},
        {Errc::seal_certificate_expired, "seal_certificate_expired"},
        {Errc::seal_certificate_not_yet_valid, "seal_certificate_not_yet_valid"},
        {Errc::seal_key_usage, "seal_key_usage"},
        {Errc::seal_extended_key_usage, "seal_extended_key_usage"},
        {Errc::seal_weak_key, "seal_weak_key"},
        {Errc::seal_unsupported_key, "seal_unsupported_key"},
        {Errc::seal_no_recipients, "seal_no_recipients"},
        {Errc::not_sealed, "not_sealed"},
        {Errc::not_for_us, "not_for_us"},
        {Errc::damaged, "damaged"},
        {Errc::unsupported_algorithm, "unsupported_algorithm"},
        {Errc::io_error, "io_error"},
        {Errc::crypto_failure, "crypto_failure"},
        {Errc::internal_error, "internal_error"},
    };
    std::set<std::string_view> seen;
    int expected_value = 0;
    for (const auto& [code, name] : names) {
        EXPECT_EQ(static_cast<int>(code), expected_value++)
            << name << ": the list above is out of order";
        EXPECT_EQ(errc_name(code), name);
        EXPECT_TRUE(seen.insert(errc_name(code)).second) << name;
    }
    // One past the last code is no code.
    EXPECT_EQ(errc_name(static_cast<Errc>(expected_value)), "unknown");
}

TEST(Error, KindsHaveStableNames) {
    EXPECT_EQ(error_kind_name(ErrorKind::permanent), "permanent");
    EXPECT_EQ(error_kind_name(ErrorKind::transient), "transient");
    EXPECT_EQ(error_kind_name(ErrorKind::internal), "internal");
    EXPECT_EQ(error_kind_name(static_cast<ErrorKind>(3)), "unknown");
}

TEST(Error, ShorthandsSetTheKind) {
    Error p = permanent_error(Errc::no_from, "no From");
    EXPECT_EQ(p.code(), Errc::no_from);
    EXPECT_EQ(p.kind(), ErrorKind::permanent);
    EXPECT_EQ(p.message(), "no From");
    Error t = transient_error(Errc::store_unavailable, "down");
    EXPECT_EQ(t.kind(), ErrorKind::transient);
    Error i = internal_error("bug");
    EXPECT_EQ(i.code(), Errc::internal_error);
    EXPECT_EQ(i.kind(), ErrorKind::internal);
}

TEST(Error, ResultHoldsAValueOrAnError) {
    Result<int> value = 7;
    ASSERT_TRUE(value.ok());
    EXPECT_TRUE(static_cast<bool>(value));
    EXPECT_EQ(*value, 7);
    Result<std::string> failed = permanent_error(Errc::bad_key, "bad");
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code(), Errc::bad_key);
    Error moved = std::move(failed).error();
    EXPECT_EQ(moved.message(), "bad");
    Result<std::string> text = std::string("abc");
    EXPECT_EQ(text->size(), 3u);
    std::string taken = std::move(text).value();
    EXPECT_EQ(taken, "abc");

    Result<void> fine;
    EXPECT_TRUE(fine.ok());
    Result<void> bad = transient_error(Errc::io_error, "disk");
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().kind(), ErrorKind::transient);
    EXPECT_EQ(bad.error().message(), "disk");
}

}  // namespace
}  // namespace ribbon
