// decrypt_keys.cpp — the organisation's decryption identities
// (ribbon/decrypt.hpp, core/decrypt_keys.hpp).
#include "core/decrypt_keys.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>

namespace ribbon {

namespace {

int password_callback(char* buf, int size, int /*rwflag*/, void* u) {
    auto* password = static_cast<const std::string_view*>(u);
    if (password == nullptr || password->empty()) return -1;
    int n = static_cast<int>(std::min<std::size_t>(password->size(), static_cast<std::size_t>(size)));
    std::memcpy(buf, password->data(), static_cast<std::size_t>(n));
    return n;
}

Result<ossl::PkeyPtr> parse_key(std::string_view pem, std::string_view password) {
    auto bio = ossl::mem_bio(pem);
    ossl::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, password_callback, &password));
    if (key) return key;
    std::string reasons = ossl::drain_errors();
    if (pem.find("ENCRYPTED PRIVATE KEY") != std::string_view::npos ||
        pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
        return permanent_error(Errc::wrong_password,
                               password.empty() ? "the private key is encrypted and no password was given"
                                                : "wrong password for the encrypted private key");
    }
    return permanent_error(Errc::bad_key, "the private key is not a readable PEM key (" + reasons + ")");
}

}  // namespace

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
    auto key = parse_key(key_pem, password);
    if (!key) return std::move(key).error();
    return add_decryption_key(*this, std::move(*key), cert_pem);
}

}  // namespace ribbon
