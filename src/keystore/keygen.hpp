// keygen.hpp — new private keys and their PEM form, shared by the dev CA
// (dev_ca.cpp) and key requests (requests.cpp). Private to the
// keystore layer.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

#include "core/openssl_util.hpp"
#include "keystore/files.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon::ks {

// A fresh key of `type`: RSA with e=65537, or ECDSA on P-256 (RFC 8550
// §4.4.1 / RFC 5753 name both as S/MIME signing keys).
inline Result<ossl::PkeyPtr> generate_key(NewKeyType type) {
    ossl::PkeyPtr key;
    switch (type) {
        case NewKeyType::rsa2048:
            key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
            break;
        case NewKeyType::rsa3072:
            key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072}));
            break;
        case NewKeyType::ec_p256:
            key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
            break;
    }
    if (!key) return ossl::crypto_error("key generation failed");
    return key;
}

// The key as unencrypted PKCS#8 PEM; the BIO's copy is wiped, so the only
// copy left is the returned string (put it in a SecretString).
inline Result<std::string> key_to_pem(EVP_PKEY* key) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return ossl::crypto_error("cannot write the key");
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    std::string pem(data, static_cast<std::size_t>(len));
    OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    return pem;
}

}  // namespace ribbon::ks
