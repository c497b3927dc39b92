// Survival: a detached signature made by `ribbon sign` must still verify
// after what mail systems do to messages in transit (docs/FIELD-NOTES.md).
#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/sign.hpp"
#include "support/transit.hpp"
#include "support/verifiers.hpp"

#include <gtest/gtest.h>

#include <tuple>

namespace ribbon::test {
namespace {

using SurvivalParam = std::tuple<std::string /*message*/, std::string /*transform*/>;

const transit::Transform& transform(const std::string& name) {
    for (const auto& t : transit::all_transforms())
        if (t.name == name) return t;
    throw std::runtime_error("no transform " + name);
}

std::vector<std::string> transform_names() {
    std::vector<std::string> n;
    for (const auto& t : transit::all_transforms()) n.push_back(t.name);
    return n;
}

class Survival : public ::testing::TestWithParam<SurvivalParam> {};

TEST_P(Survival, StillVerifiesAfterTransit) {
    const auto& [name, tname] = GetParam();
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message(name).data, {}, out));
    const std::string moved = transform(tname).apply(out);
    SCOPED_TRACE("transform " + tname + (moved == out ? " (no change)" : " (changed the message)"));

    expect_verified_everywhere(moved);
}

std::string survival_name(const ::testing::TestParamInfo<SurvivalParam>& info) {
    return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Messages, Survival,
                         ::testing::Combine(::testing::ValuesIn(all_message_names()),
                                            ::testing::ValuesIn(transform_names())),
                         survival_name);

// ---------------------------------------------------------------------------
// The transformations themselves: each damages a naive signature (so a
// pass above means ribbon's output resisted it, not that nothing happened).

// Signed part that is NOT damage-proof: 8bit, trailing space, a "From "
// line, a 1200-octet line, base64 at 64 columns.
std::string fragile_content() {
    std::string c =
        "Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n"
        "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Gr\xC3\xBC\xC3\x9F" "e   \r\nFrom the bank\r\n" + std::string(1200, 'x') + "\r\n"
        "--inner\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n";
    c += mime::base64_encode(std::string(300, '\x07'), 64, "\r\n");
    c += "--inner--\r\n";
    return c;
}

class TransitSelfTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TransitSelfTest, BreaksANaiveSignature) {
    const std::string m = openssl_signed_message(
        fragile_content(), "From: no-reply@bank.example\r\nSubject: fragile\r\n");
    const VerifyResult before = verify_openssl(m);
    ASSERT_TRUE(before.ok) << before.details;
    const std::string moved = transform(GetParam()).apply(m);
    ASSERT_NE(moved, m);
    const VerifyResult o = verify_openssl(moved);
    EXPECT_FALSE(o.ok) << o.details;
    const VerifyResult n = verify_nss(moved);
    EXPECT_FALSE(n.ok) << n.details;
}

INSTANTIATE_TEST_SUITE_P(Damaging, TransitSelfTest,
                         ::testing::Values("strip_trailing_whitespace", "mbox_from_escape",
                                           "split_long_lines", "rewrap_base64",
                                           "downgrade_8bit"),
                         [](const auto& info) { return info.param; });

TEST(TransitHelpers, HarmlessOnesKeepANaiveSignatureValid) {
    const std::string m = openssl_signed_message(
        fragile_content(), "From: no-reply@bank.example\r\nSubject: a subject long enough to be "
                           "refolded at forty columns\r\n");
    for (const char* t : {"crlf_to_lf", "lf_to_crlf", "prepend_received", "refold_outer_headers"}) {
        const std::string moved = transform(t).apply(m);
        EXPECT_TRUE(verify_nss(moved).ok) << t;
        EXPECT_TRUE(verify_gpgsm(moved).ok) << t;
    }
}

TEST(TransitHelpers, Examples) {
    EXPECT_EQ(transit::crlf_to_lf("a\r\nb\r\n"), "a\nb\n");
    EXPECT_EQ(transit::lf_to_crlf("a\nb\r\n"), "a\r\nb\r\n");
    EXPECT_EQ(transit::strip_trailing_whitespace("a \t\r\nb\n c  "), "a\r\nb\n c");
    EXPECT_EQ(transit::mbox_from_escape("From x\r\nxFrom y\r\nFrom: z\r\n"),
              ">From x\r\nxFrom y\r\nFrom: z\r\n");
    EXPECT_EQ(transit::split_long_lines(std::string(5, 'a') + "\r\n", 2), "aa\r\naa\r\na\r\n");
    EXPECT_EQ(transit::refold_outer_headers("Subject: aaaa bbbb \"c d\" eeee\r\n\r\nbody\r\n", 12),
              "Subject:\r\n aaaa bbbb\r\n \"c d\" eeee\r\n\r\nbody\r\n");
    EXPECT_EQ(transit::refold_outer_headers("To: a,\r\n b\r\n\r\nx", 40), "To: a, b\r\n\r\nx");
    EXPECT_EQ(transit::rewrap_base64("Content-Transfer-Encoding: base64\n\nQUJD\nREVG\n", 6),
              "Content-Transfer-Encoding: base64\n\nQUJDRE\nVG\n");
    EXPECT_EQ(transit::rewrap_base64("Content-Transfer-Encoding: base64\n\nQUJD\nREVG", 6),
              "Content-Transfer-Encoding: base64\n\nQUJDRE\nVG");
    EXPECT_EQ(transit::downgrade_8bit("Content-Transfer-Encoding: 8bit\r\n\r\nGr\xC3\xBC\xC3\x9F" "e\r\n"),
              "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n");
    EXPECT_EQ(transit::prepend_received("A: b\n\nc").rfind("Received: ", 0), 0u);
}

}  // namespace
}  // namespace ribbon::test
