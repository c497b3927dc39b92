// digital_id.cpp — loads and checks a Digital ID (key, certificate, chain).
//
// Trusts nothing it reads: every PEM block is parsed by OpenSSL and every
// property the signer relies on is checked here, once, so signing a message
// never has to parse or check a key again.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

#include "core/digital_id_impl.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon {

namespace {

// Wipes key material read from disk when it goes out of scope.
struct SecretBuffer {
    std::string bytes;
    ~SecretBuffer() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

int password_callback(char* buf, int size, int /*rwflag*/, void* u) {
    auto* password = static_cast<const std::string_view*>(u);
    if (password == nullptr || password->empty()) return -1;
    int n = static_cast<int>(std::min<std::size_t>(password->size(), static_cast<std::size_t>(size)));
    std::memcpy(buf, password->data(), static_cast<std::size_t>(n));
    return n;
}

bool pem_is_encrypted(std::string_view pem) {
    return pem.find("ENCRYPTED PRIVATE KEY") != std::string_view::npos ||
           pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}



Result<void> check_key_type(const CertificateInfo& info) {
    if (info.key_type == KeyType::rsa && info.key_bits < 2048) {
        return permanent_error(Errc::unsupported_key,
                               info.key_description + " is too weak for S/MIME (RSA >= 2048)");
    }
    if (info.key_type == KeyType::ecdsa && info.key_description != "ECDSA P-256" &&
        info.key_description != "ECDSA P-384") {
        return permanent_error(Errc::unsupported_key,
                               info.key_description + " is not an S/MIME curve (P-256, P-384)");
    }
    return {};
}

Result<void> check_usage(X509* cert, const CertificateInfo& info) {
    // X509_get_*key_usage() caches extensions; UINT32_MAX means "absent",
    // which RFC 5280 §4.2.1.3/§4.2.1.12 read as "any use".
    uint32_t ku = X509_get_key_usage(cert);
    if (ku != UINT32_MAX && (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) == 0) {
        return permanent_error(Errc::certificate_usage,
                               "certificate " + info.subject +
                                   " does not allow digitalSignature (keyUsage)");
    }
    uint32_t xku = X509_get_extended_key_usage(cert);
    if (xku != UINT32_MAX && (xku & (XKU_SMIME | XKU_ANYEKU)) == 0) {
        return permanent_error(Errc::certificate_usage,
                               "certificate " + info.subject +
                                   " does not allow emailProtection (extendedKeyUsage)");
    }
    return {};
}

}  // namespace

Result<ossl::PkeyPtr> parse_private_key(std::string_view pem, std::string_view password) {
    auto bio = ossl::mem_bio(pem);
    ossl::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, password_callback, &password));
    if (!key) {
        std::string reasons = ossl::drain_errors();
        if (pem_is_encrypted(pem)) {
            return permanent_error(Errc::wrong_password,
                                   password.empty()
                                       ? "the private key is encrypted and no password was given"
                                       : "wrong password for the encrypted private key");
        }
        return permanent_error(Errc::bad_key, "the private key is not a readable PEM key (" +
                                                  reasons + ")");
    }
    return key;
}

Result<std::vector<ossl::X509Ptr>> parse_pem_certificates(std::string_view pem, const char* what) {
    std::vector<ossl::X509Ptr> certs;
    auto bio = ossl::mem_bio(pem);
    while (true) {
        ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) break;
        certs.push_back(std::move(cert));
    }
    // The loop ends on "no start line" at EOF; anything else is damage.
    unsigned long err = ERR_peek_last_error();
    if (ERR_GET_REASON(err) == PEM_R_NO_START_LINE) ERR_clear_error();
    std::string reasons = ossl::drain_errors();
    if (!reasons.empty()) {
        return permanent_error(Errc::bad_certificate,
                               std::string("the ") + what + " is not valid PEM (" + reasons + ")");
    }
    return certs;
}

Result<DigitalId> DigitalId::from_pem(std::string_view key_pem, std::string_view cert_pem,
                                      std::string_view chain_pem, std::string_view password) {
    auto key = parse_private_key(key_pem, password);
    if (!key) return std::move(key).error();
    return digital_id_from_key(std::move(*key), cert_pem, chain_pem);
}

Result<DigitalId> digital_id_from_key(ossl::PkeyPtr key, std::string_view cert_pem,
                                      std::string_view chain_pem,
                                      std::shared_ptr<std::mutex> token_lock) {
    auto impl = std::make_shared<DigitalId::Impl>();
    impl->key = std::move(key);
    impl->token_lock = std::move(token_lock);

    auto certs = parse_pem_certificates(cert_pem, "certificate file");
    if (!certs) return std::move(certs).error();
    if (certs->empty()) {
        return permanent_error(Errc::bad_certificate, "the certificate file holds no certificate");
    }
    impl->cert = std::move(certs->front());
    auto chain = parse_pem_certificates(chain_pem, "chain file");
    if (!chain) return std::move(chain).error();
    for (std::size_t i = 1; i < certs->size(); ++i) chain->push_back(std::move((*certs)[i]));
    for (auto& c : *chain) {
        // A root in the chain is left out: receivers trust roots on their own
        // and an embedded root only adds bytes (RFC 8551 §2.4.1 lets the
        // sender choose which certificates to include).
        if (X509_self_signed(c.get(), 0) == 1) continue;
        impl->chain.push_back(std::move(c));
    }

    impl->info = ossl::describe_certificate(impl->cert.get());
    std::unique_lock<std::mutex> token;  // comparing may reach into the engine's key
    if (impl->token_lock) token = std::unique_lock<std::mutex>(*impl->token_lock);
    bool matches = X509_check_private_key(impl->cert.get(), impl->key.get()) == 1;
    if (token) token.unlock();
    if (!matches) {
        ossl::drain_errors();
        return permanent_error(Errc::key_mismatch, "the private key does not belong to certificate " +
                                                       impl->info.subject);
    }
    if (auto r = check_key_type(impl->info); !r) return std::move(r).error();
    if (auto r = check_usage(impl->cert.get(), impl->info); !r) return std::move(r).error();
    return DigitalId(std::move(impl));
}

Result<DigitalId> DigitalId::load(const std::filesystem::path& key_file,
                                  const std::filesystem::path& cert_file,
                                  const std::optional<std::filesystem::path>& chain_file,
                                  std::string_view password) {
    SecretBuffer key_pem;
    {
        auto key = read_small_file(key_file, "key file");
        if (!key) return std::move(key).error();
        key_pem.bytes = std::move(*key);
    }
    auto cert_pem = read_small_file(cert_file, "certificate file");
    if (!cert_pem) return std::move(cert_pem).error();
    std::string chain_pem;
    if (chain_file) {
        auto chain = read_small_file(*chain_file, "chain file");
        if (!chain) return std::move(chain).error();
        chain_pem = std::move(*chain);
    }
    return from_pem(key_pem.bytes, *cert_pem, chain_pem, password);
}

const CertificateInfo& DigitalId::certificate() const noexcept { return m_impl->info; }

bool DigitalId::covers_address(std::string_view address) const {
    for (const auto& mine : m_impl->info.addresses) {
        if (same_address(address, mine)) return true;
    }
    return false;
}

EVP_PKEY* digital_id_key(const DigitalId& id) noexcept { return id.impl().key.get(); }

bool digital_id_in_token(const DigitalId& id) noexcept { return id.impl().token_lock != nullptr; }

}  // namespace ribbon
