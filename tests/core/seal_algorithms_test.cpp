// Unit tests of src/core/seal_algorithms.cpp: every combination of key
// type and capabilities that choose_seal_algorithms distinguishes, the
// algorithm names, and --seal-capabilities parsing.
#include <gtest/gtest.h>

#include "ribbon/seal.hpp"

namespace ribbon {
namespace {

using C = SealContentCipher;
using K = SealKeyTransport;

SealAlgorithms choose(std::vector<SealProfile> profiles) { return choose_seal_algorithms(profiles); }

TEST(SealAlgorithms, KeyTransportForEveryKeyTypeAndCapabilityCombination) {
    struct Row {
        SealKeyType key;
        std::vector<std::string> caps;
        K expected;
    };
    const std::vector<Row> rows = {
        {SealKeyType::rsa, {}, K::rsa_pkcs1_v15},
        {SealKeyType::rsa, {"aes-256-cbc", "id-aes256-gcm"}, K::rsa_pkcs1_v15},
        {SealKeyType::rsa, {"aes-256-cbc", "rsaes-oaep"}, K::rsa_oaep_sha1},
        {SealKeyType::rsa, {"1.2.840.113549.1.1.7"}, K::rsa_oaep_sha1},
        {SealKeyType::rsa, {"rsaes-oaep-sha256"}, K::rsa_oaep_sha256},
        {SealKeyType::rsa, {"rsaes-oaep", "rsaes-oaep-sha256"}, K::rsa_oaep_sha256},
        {SealKeyType::rsa, {"RSAES-OAEP"}, K::rsa_pkcs1_v15},  // the store is lower case; this is not a name
        {SealKeyType::ec, {}, K::ecdh_sha256_aes256},
        {SealKeyType::ec, {"rsaes-oaep"}, K::ecdh_sha256_aes256},
        {SealKeyType::ec, {"rsaes-oaep-sha256", "id-aes256-gcm"}, K::ecdh_sha256_aes256},
    };
    for (const Row& r : rows) {
        const SealAlgorithms a = choose({{r.key, r.caps}});
        ASSERT_EQ(a.key_transport.size(), 1u);
        EXPECT_EQ(a.key_transport[0], r.expected)
            << (r.key == SealKeyType::rsa ? "rsa" : "ec") << " with " << r.caps.size() << " capabilities: got "
            << seal_key_transport_name(a.key_transport[0]);
    }
}

TEST(SealAlgorithms, ContentCipherIsGcmOnlyWhenEveryRecipientListsGcm) {
    const std::vector<std::string> gcm256 = {"id-aes256-gcm", "aes-256-cbc"};
    const std::vector<std::string> gcm128 = {"id-aes128-gcm"};
    const std::vector<std::string> gcm256_oid = {"2.16.840.1.101.3.4.1.46"};
    const std::vector<std::string> gcm128_oid = {"2.16.840.1.101.3.4.1.6"};
    const std::vector<std::string> cbc = {"aes-256-cbc", "aes-128-cbc", "des-ede3-cbc"};
    const std::vector<std::string> none;
    EXPECT_EQ(choose({}).content, C::aes256_cbc);
    EXPECT_EQ(choose({{SealKeyType::rsa, none}}).content, C::aes256_cbc);
    EXPECT_EQ(choose({{SealKeyType::rsa, cbc}}).content, C::aes256_cbc);
    EXPECT_EQ(choose({{SealKeyType::rsa, gcm256}}).content, C::aes256_gcm);
    EXPECT_EQ(choose({{SealKeyType::ec, gcm128}}).content, C::aes256_gcm);
    EXPECT_EQ(choose({{SealKeyType::rsa, gcm256_oid}}).content, C::aes256_gcm);
    EXPECT_EQ(choose({{SealKeyType::rsa, gcm128_oid}}).content, C::aes256_gcm);
    EXPECT_EQ(choose({{SealKeyType::rsa, gcm256}, {SealKeyType::ec, gcm128}}).content, C::aes256_gcm);
    EXPECT_EQ(choose({{SealKeyType::rsa, gcm256}, {SealKeyType::ec, cbc}}).content, C::aes256_cbc);
    EXPECT_EQ(choose({{SealKeyType::rsa, none}, {SealKeyType::ec, gcm256}}).content, C::aes256_cbc);
    EXPECT_EQ(choose({{SealKeyType::rsa, gcm256}, {SealKeyType::rsa, gcm256}, {SealKeyType::rsa, none}}).content,
              C::aes256_cbc);
}

TEST(SealAlgorithms, OneKeyTransportPerRecipientInOrder) {
    const SealAlgorithms a =
        choose({{SealKeyType::rsa, {"rsaes-oaep"}}, {SealKeyType::ec, {}}, {SealKeyType::rsa, {}}});
    const SealAlgorithms expected{C::aes256_cbc, {K::rsa_oaep_sha1, K::ecdh_sha256_aes256, K::rsa_pkcs1_v15}};
    EXPECT_EQ(a, expected);
}

TEST(SealAlgorithms, Names) {
    EXPECT_EQ(seal_content_cipher_name(C::aes256_cbc), "aes-256-cbc");
    EXPECT_EQ(seal_content_cipher_name(C::aes256_gcm), "aes-256-gcm");
    EXPECT_EQ(seal_key_transport_name(K::rsa_pkcs1_v15), "rsa-pkcs1-v1_5");
    EXPECT_EQ(seal_key_transport_name(K::rsa_oaep_sha1), "rsa-oaep-sha1");
    EXPECT_EQ(seal_key_transport_name(K::rsa_oaep_sha256), "rsa-oaep-sha256");
    EXPECT_EQ(seal_key_transport_name(K::ecdh_sha256_aes256), "ecdh-sha256kdf-aes256-wrap");
}

TEST(SealAlgorithms, ParseCapabilities) {
    EXPECT_EQ(parse_seal_capabilities(""), std::vector<std::string>{});
    EXPECT_EQ(parse_seal_capabilities("ID-AES256-GCM, rsaes-oaep\tfoo,,"),
              (std::vector<std::string>{"id-aes256-gcm", "rsaes-oaep", "foo"}));
}

}  // namespace
}  // namespace ribbon
