// decrypt_keys.hpp — DecryptionKeys as OpenSSL objects: for opening sealed
// mail (decrypt_cms.cpp) and for the keystore, which adds token keys it
// loaded through the pkcs11 engine (src/keystore/decryption_keys.cpp).
// Exported by core (CMakeLists.txt); keeps OpenSSL types out of
// include/ribbon/decrypt.hpp.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/openssl_util.hpp"
#include "ribbon/decrypt.hpp"

namespace ribbon {

struct DecryptionIdentity {
    DecryptionIdentity() = default;
    DecryptionIdentity(const DecryptionIdentity&) = delete;
    DecryptionIdentity& operator=(const DecryptionIdentity&) = delete;
    // A token key is freed under its lock, as DigitalId::Impl does: libp11
    // releases its token objects when the engine's EVP_PKEY goes.
    ~DecryptionIdentity();

    ossl::PkeyPtr key;
    ossl::X509Ptr cert;
    std::string description;  // "subject, serial HEX"
    // Set for a key in a PKCS#11 token: every use of `key` holds it
    // (keystore/pkcs11_engine.cpp says why one lock for all).
    std::shared_ptr<std::mutex> token_lock;
};

class DecryptionKeys::Impl {
public:
    std::vector<std::unique_ptr<DecryptionIdentity>> ids;
};

// Adds a key that is already loaded (a token key, with the engine's lock)
// with the first certificate of `cert_pem`; a key that is not the
// certificate's is Errc::key_mismatch.
Result<void> add_decryption_key(DecryptionKeys& keys, ossl::PkeyPtr key, std::string_view cert_pem,
                                std::shared_ptr<std::mutex> token_lock = nullptr);

}  // namespace ribbon
