// decrypt_keys.cpp — the organisation's decryption identities
// (ribbon/decrypt.hpp, core/decrypt_keys.hpp).
#include "core/decrypt_keys.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/openssl_objects.hpp"

namespace ribbon {

DecryptionIdentity::~DecryptionIdentity() {
    std::unique_lock<std::mutex> held;
    if (token_lock) held = std::unique_lock<std::mutex>(*token_lock);
    key.reset();
}

DecryptionKeys::DecryptionKeys() : m_impl(std::make_shared<Impl>()) {}

std::size_t DecryptionKeys::size() const noexcept { return m_impl->ids.size(); }

std::vector<std::string> DecryptionKeys::describe() const {
    std::vector<std::string> out;
    for (const auto& id : m_impl->ids) out.push_back(id->description);
    return out;
}

Result<void> add_decryption_key(DecryptionKeys& keys, ossl::PkeyPtr key, std::string_view cert_pem,
                                std::shared_ptr<std::mutex> token_lock) {
    auto identity = std::make_unique<DecryptionIdentity>();
    identity->token_lock = std::move(token_lock);
    identity->key = std::move(key);
    auto bio = ossl::mem_bio(cert_pem);
    identity->cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!identity->cert) {
        ossl::drain_errors();
        return permanent_error(Errc::bad_certificate, "the certificate is not a readable PEM certificate");
    }
    // The public halves must be equal; for a token key this compares the
    // public key the engine exposes, without using the private key.
    if (X509_check_private_key(identity->cert.get(), identity->key.get()) != 1) {
        ossl::drain_errors();
        return permanent_error(Errc::key_mismatch, "the private key does not belong to the certificate");
    }
    const CertificateInfo info = ossl::describe_certificate(identity->cert.get());
    identity->description = info.subject + ", serial " + info.serial_hex;
    keys.impl().ids.push_back(std::move(identity));
    return {};
}

Result<void> DecryptionKeys::add_pem(std::string_view key_pem, std::string_view cert_pem,
                                     std::string_view password) {
    auto key = parse_private_key(key_pem, password);
    if (!key) return std::move(key).error();
    return add_decryption_key(*this, std::move(*key), cert_pem);
}

}  // namespace ribbon
