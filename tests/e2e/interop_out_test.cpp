// Interop, outbound: what `ribbon sign` writes must verify in OpenSSL, NSS
// (Thunderbird's library), GnuPG's gpgsm and ribbon's own verifier, and
// must still say what the input said.
#include "support/messages.hpp"
#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/sign.hpp"
#include "support/verifiers.hpp"

#include <gtest/gtest.h>

#include <tuple>

namespace ribbon::test {
namespace {

// Text leaves are compared after LF normalisation and without trailing
// line breaks; everything else byte for byte.
std::string comparable(const mime::Leaf& l) {
    if (l.type.rfind("text/", 0) != 0) return l.data;
    std::string s = mime::to_lf(l.data);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

// The decoded leaves of the signed content equal those of the input
// (the signature part of a multipart/signed is not content).
void expect_same_content(const std::string& input, const std::string& signed_content) {
    const auto in = mime::decoded_leaves(input);
    const auto out = mime::decoded_leaves(signed_content);
    ASSERT_EQ(in.size(), out.size()) << "number of leaf parts changed";
    for (size_t i = 0; i < in.size(); ++i) {
        EXPECT_EQ(in[i].type, out[i].type) << "leaf " << i;
        EXPECT_EQ(in[i].filename, out[i].filename) << "leaf " << i;
        const std::string a = comparable(in[i]), b = comparable(out[i]);
        EXPECT_TRUE(a == b) << "leaf " << i << " (" << in[i].type << ") content differs: input "
                            << a.size() << " bytes, signed " << b.size() << " bytes\n--- input ---\n"
                            << a.substr(0, 600) << "\n--- signed ---\n" << b.substr(0, 600);
    }
}

void expect_none_verify(const std::string& msg) {
    const VerifyResult o = verify_openssl(msg);
    EXPECT_FALSE(o.ok) << "openssl accepted a tampered message\n" << o.details;
    const VerifyResult n = verify_nss(msg);
    EXPECT_FALSE(n.ok) << "NSS accepted a tampered message\n" << n.details;
    const VerifyResult g = verify_gpgsm(msg);
    EXPECT_FALSE(g.ok) << "gpgsm accepted a tampered message\n" << g.details;
}

// ---------------------------------------------------------------------------
using InteropParam = std::tuple<std::string, bool /*opaque*/, KeyKind>;

class InteropOut : public ::testing::TestWithParam<InteropParam> {};

TEST_P(InteropOut, VerifiesEverywhereAndKeepsContent) {
    const auto& [name, opaque, key] = GetParam();
    const TestMessage& msg = message(name);
    SignOptions so;
    so.opaque = opaque;
    so.key = key;
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(msg.data, so, out));

    const SmimeParts parts = split_smime(out);
    ASSERT_TRUE(parts.error.empty()) << parts.error;
    EXPECT_EQ(parts.opaque, opaque);

    const EveryVerifier all = expect_verified_everywhere(out);
    const VerifyResult& o = all.openssl;

    // The content a receiver gets: the detached first part, or what the
    // verifier extracted from the opaque SignedData.
    const std::string content = opaque ? o.content : parts.content;
    if (opaque) {
        ASSERT_TRUE(o.ok) << "no content to compare";
        EXPECT_EQ(all.gpgsm.content, o.content) << "gpgsm and openssl extracted different content";
    }
    expect_same_content(msg.data, content);
}

std::string interop_name(const ::testing::TestParamInfo<InteropParam>& info) {
    const auto& [name, opaque, key] = info.param;
    return name + (opaque ? "_opaque" : "_detached") + (key == KeyKind::Ecdsa ? "_ecdsa" : "_rsa");
}

INSTANTIATE_TEST_SUITE_P(Messages, InteropOut,
                         ::testing::Combine(::testing::ValuesIn(all_message_names()),
                                            ::testing::Bool(),
                                            ::testing::Values(KeyKind::Rsa, KeyKind::Ecdsa)),
                         interop_name);

// ---------------------------------------------------------------------------
// Tampering must be caught by every verifier (shows the checks can fail).

// Changes one letter in the middle of the first part's body.
std::string tamper_detached(const std::string& signed_msg) {
    const mime::Entity top = mime::parse_entity(signed_msg);
    auto mp = mime::split_multipart(top.body, mime::content_type_of(top).param("boundary"));
    if (!mp || mp->parts.size() != 2) return {};
    mime::Entity part = mime::parse_entity(mp->parts[0]);
    for (size_t i = part.body.size() / 2; i < part.body.size(); ++i) {
        char& c = part.body[i];
        if (c >= 'a' && c <= 'y') { ++c; break; }
        if (c >= 'A' && c <= 'Y') { ++c; break; }
    }
    mp->parts[0] = part.raw();
    mime::Entity t = top;
    t.body = mp->join();
    return t.raw();
}

TEST(InteropOutTamper, ChangedSignedPartFailsEveryVerifier) {
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message("plain_ascii_lf").data, {}, out));
    const std::string bad = tamper_detached(out);
    ASSERT_FALSE(bad.empty());
    ASSERT_NE(bad, out);
    expect_none_verify(bad);
    const VerifyResult r = verify_ribbon(bad);
    EXPECT_FALSE(r.ok) << r.details;
    EXPECT_NE(r.details.find("exit=1"), std::string::npos) << r.details;
}

TEST(InteropOutTamper, ChangedOpaqueContentFailsEveryVerifier) {
    SignOptions so;
    so.opaque = true;
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message("plain_ascii_lf").data, so, out));
    const SmimeParts parts = split_smime(out);
    ASSERT_TRUE(parts.opaque) << parts.error;
    std::string der = parts.der;
    const auto at = der.find("statement");
    ASSERT_NE(at, std::string::npos) << "content not found in the SignedData";
    der[at] = 'S';
    const mime::Entity top = mime::parse_entity(out);
    mime::Entity t = top;
    t.body = mime::base64_encode(der, 76, "\r\n");
    expect_none_verify(t.raw());
}

TEST(InteropOutTamper, WrongTrustAnchorFailsOpensslAndRibbon) {
    std::string out;
    ASSERT_NO_FATAL_FAILURE(sign_ok(message("plain_ascii_lf").data, {}, out));
    const VerifyResult o = verify_openssl(out, pki().wrong_root_cert);
    EXPECT_FALSE(o.ok) << o.details;
    const VerifyResult r = verify_ribbon(out, pki().wrong_root_cert);
    EXPECT_FALSE(r.ok) << r.details;
    EXPECT_NE(r.details.find("exit=1"), std::string::npos) << r.details;
}

// ---------------------------------------------------------------------------
// The harness itself, with messages signed by `openssl cms` (no ribbon):
// the verifiers accept a good signature and reject a changed one.
const char* kHarnessOuter =
    "From: Bank Example <no-reply@bank.example>\r\nTo: alice@customer.example\r\n"
    "Subject: harness\r\nDate: Mon, 04 Mar 2024 09:15:00 +0000\r\n";
const char* kHarnessContent =
    "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    "Your statement is ready.\r\n";

TEST(VerifierSelfTest, AcceptsOpensslSignedDetached) {
    const std::string m = openssl_signed_message(kHarnessContent, kHarnessOuter);
    const VerifyResult o = verify_openssl(m);
    EXPECT_TRUE(o.ok) << o.details;
    const VerifyResult n = verify_nss(m);
    EXPECT_TRUE(n.ok) << n.details;
    const VerifyResult g = verify_gpgsm(m);
    EXPECT_TRUE(g.ok) << g.details;
    // LF storage does not matter to receivers that canonicalise.
    const std::string lf = mime::to_lf(m);
    EXPECT_TRUE(verify_nss(lf).ok);
    EXPECT_TRUE(verify_gpgsm(lf).ok);
    EXPECT_TRUE(verify_openssl(lf).ok);
}

TEST(VerifierSelfTest, AcceptsOpensslSignedOpaque) {
    const std::string m = openssl_signed_message(kHarnessContent, kHarnessOuter, true);
    const VerifyResult o = verify_openssl(m);
    EXPECT_TRUE(o.ok) << o.details;
    EXPECT_EQ(o.content, kHarnessContent);
    const VerifyResult n = verify_nss(m);
    EXPECT_TRUE(n.ok) << n.details;
    const VerifyResult g = verify_gpgsm(m);
    EXPECT_TRUE(g.ok) << g.details;
    EXPECT_EQ(g.content, kHarnessContent);
}

TEST(VerifierSelfTest, RejectsTamperedDetached) {
    const std::string m = openssl_signed_message(kHarnessContent, kHarnessOuter);
    std::string bad = m;
    const auto at = bad.find("statement");
    ASSERT_NE(at, std::string::npos);
    bad[at] = 'S';
    expect_none_verify(bad);
    const VerifyResult n = verify_nss(bad);
    EXPECT_NE(n.details.find("signer0.status=DigestMismatch"), std::string::npos) << n.details;
    const VerifyResult g = verify_gpgsm(bad);
    EXPECT_NE(g.details.find("[GNUPG:] BADSIG"), std::string::npos) << g.details;
}

TEST(VerifierSelfTest, RejectsUntrustedRoot) {
    const std::string m = openssl_signed_message(kHarnessContent, kHarnessOuter);
    const VerifyResult o = verify_openssl(m, pki().wrong_root_cert);
    EXPECT_FALSE(o.ok) << o.details;
}

TEST(VerifierSelfTest, SplitFindsBothParts) {
    const std::string m = openssl_signed_message(kHarnessContent, kHarnessOuter);
    const SmimeParts p = split_smime(m);
    ASSERT_TRUE(p.error.empty()) << p.error;
    EXPECT_FALSE(p.opaque);
    EXPECT_EQ(p.content, kHarnessContent);
    EXPECT_EQ(static_cast<unsigned char>(p.der.at(0)), 0x30);
}

}  // namespace
}  // namespace ribbon::test
