// smime_form_test.cpp — "is this message already S/MIME?" (ribbon/smime_form.hpp),
// the one answer the signer, the milter, the relay and learning share.
// Values as mail clients write them: the x- media type of old clients,
// upper case, quotes, comments and RFC 2231 parameters.
#include <gtest/gtest.h>

#include "ribbon/smime_form.hpp"

namespace ribbon::test {
namespace {

TEST(SmimeForm, EveryFormRfc8551Names) {
    const std::pair<const char*, SmimeForm> cases[] = {
        {"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=x",
         SmimeForm::signed_detached},
        {"Multipart/Signed; protocol=\"application/x-pkcs7-signature\"", SmimeForm::signed_detached},
        {"application/pkcs7-mime; smime-type=signed-data; name=smime.p7m", SmimeForm::signed_opaque},
        {"application/x-pkcs7-mime; smime-type=\"Signed-Data\"", SmimeForm::signed_opaque},
        {"application/pkcs7-mime; smime-type=enveloped-data", SmimeForm::sealed},
        {"APPLICATION/PKCS7-MIME (sealed); smime-type=authEnveloped-data", SmimeForm::sealed},
        {"application/pkcs7-mime; smime-type*=us-ascii''enveloped-data", SmimeForm::sealed},
        {"application/pkcs7-mime; smime-type=compressed-data", SmimeForm::compressed},
        {"application/pkcs7-mime; smime-type=certs-only", SmimeForm::certs_only},
        {"application/pkcs7-mime; name=smime.p7m", SmimeForm::untyped},
        {"application/pkcs7-mime; smime-type=something-new", SmimeForm::other},
    };
    for (const auto& [value, form] : cases) {
        EXPECT_EQ(smime_form(value), form) << value;
        EXPECT_TRUE(is_smime(smime_form(value))) << value;
    }
}

TEST(SmimeForm, OtherMailIsNotSmime) {
    for (const char* value : {"", "text/plain; charset=utf-8", "multipart/mixed; boundary=b",
                              "application/pkcs7-signature; name=smime.p7s", "application/pkcs7",
                              "multipart/encrypted; protocol=\"application/pgp-encrypted\"", ";;;",
                              "\x01\x02"}) {
        EXPECT_EQ(smime_form(value), SmimeForm::none) << value;
        EXPECT_FALSE(is_smime(smime_form(value))) << value;
    }
}

TEST(SmimeForm, DescriptionsNameTheForm) {
    EXPECT_EQ(smime_form_description(SmimeForm::sealed), "application/pkcs7-mime; smime-type=enveloped-data");
    EXPECT_EQ(smime_form_description(SmimeForm::signed_detached), "multipart/signed");
    EXPECT_EQ(smime_form_description(SmimeForm::untyped), "application/pkcs7-mime without smime-type");
}

}  // namespace
}  // namespace ribbon::test
