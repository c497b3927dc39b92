// digital_id_impl.hpp — what a loaded DigitalId holds. Private to core:
// other layers use core/openssl_objects.hpp.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/openssl_objects.hpp"
#include "core/openssl_util.hpp"
#include "ribbon/digital_id.hpp"
#include "ribbon/io.hpp"

namespace ribbon {

class DigitalId::Impl {
public:
    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        // A token key is freed under its lock too: libp11 releases its
        // token objects when the engine's EVP_PKEY goes.
        std::unique_lock<std::mutex> held;
        if (token_lock) held = std::unique_lock<std::mutex>(*token_lock);
        key.reset();
    }

    ossl::PkeyPtr key;
    ossl::X509Ptr cert;
    std::vector<ossl::X509Ptr> chain;  // intermediates only, leaf-most first
    CertificateInfo info;
    // Set for a key in a PKCS#11 token (keystore/pkcs11.hpp): every use of
    // `key` holds this lock, and `key` is never copied (EVP_PKEY_dup would
    // copy libp11's pointer to its token object without a reference, and
    // each copy would free it). Why one lock: keystore/pkcs11_engine.cpp.
    // Null for a key file, whose operations take no lock at all.
    std::shared_ptr<std::mutex> token_lock;
};

}  // namespace ribbon
