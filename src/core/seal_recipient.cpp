// seal_recipient.cpp — SealRecipient: a recipient's certificate parsed once
// and checked for sealing (RFC 8550 §4.4.2 key usage, RFC 8550 §4.4.4
// extended key usage, RFC 8551 §2.4.2 key sizes).
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/seal_impl.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon {

namespace {

// Names the certificate in an error: its subject and serial come from the
// customer's certificate, so they are made safe for a terminal and a log.
std::string named(const CertificateInfo& info) {
    return "recipient certificate " + terminal_safe(info.subject) + " (serial " + info.serial_hex + ")";
}

Result<ossl::X509Ptr> parse_certificate(std::string_view text) {
    ossl::BioPtr bio = ossl::mem_bio(text);
    ossl::X509Ptr cert;
    if (text.find("-----BEGIN") != std::string_view::npos) {
        cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    } else {
        cert.reset(d2i_X509_bio(bio.get(), nullptr));
    }
    if (!cert) {
        const std::string why = ossl::drain_errors();
        return permanent_error(Errc::bad_certificate,
                               "the recipient certificate is not a PEM or DER certificate" +
                                   (why.empty() ? std::string() : ": " + terminal_safe(why)));
    }
    return cert;
}

// RFC 8550 §4.4.2: without a keyUsage extension any use is allowed; with
// one, sealing needs keyEncipherment (RSA key transport) or keyAgreement
// (ECDH, RFC 5753 §3).
Result<void> check_key_usage(X509* cert, const CertificateInfo& info, SealKeyType type) {
    const uint32_t ku = X509_get_key_usage(cert);
    if (ku == UINT32_MAX) return {};
    const uint32_t needed = type == SealKeyType::rsa ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT;
    if ((ku & needed) != 0) return {};
    return permanent_error(Errc::seal_key_usage,
                           named(info) + ": its keyUsage does not allow " +
                               (type == SealKeyType::rsa ? "keyEncipherment" : "keyAgreement") +
                               ", so mail cannot be sealed to it");
}

// RFC 8550 §4.4.4: an extKeyUsage must include emailProtection (or
// anyExtendedKeyUsage) for the certificate to be used for mail.
Result<void> check_extended_key_usage(X509* cert, const CertificateInfo& info) {
    const uint32_t xku = X509_get_extended_key_usage(cert);
    if (xku == UINT32_MAX || (xku & (XKU_SMIME | XKU_ANYEKU)) != 0) return {};
    return permanent_error(Errc::seal_extended_key_usage,
                           named(info) + ": its extendedKeyUsage does not include emailProtection");
}

Result<SealKeyType> check_key(X509* cert, const CertificateInfo& info) {
    EVP_PKEY* key = X509_get0_pubkey(cert);
    if (key == nullptr) {
        return permanent_error(Errc::seal_unsupported_key, named(info) + ": its public key cannot be read: " +
                                                               terminal_safe(ossl::drain_errors()));
    }
    if (EVP_PKEY_is_a(key, "RSA")) {
        const int bits = EVP_PKEY_get_bits(key);
        // RFC 8551 §2.4.2 / §6: keys below 2048 bits SHOULD NOT be used.
        if (bits < 2048) {
            return permanent_error(Errc::seal_weak_key, named(info) + ": its RSA key has " + std::to_string(bits) +
                                                            " bits; at least 2048 are needed");
        }
        return SealKeyType::rsa;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64] = "";
        size_t len = 0;
        EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len);
        const std::string_view g(group, len);
        // RFC 5753 §7.1 / RFC 8551 §2.4.2: the NIST curves receivers support.
        if (g == "prime256v1" || g == "secp384r1" || g == "secp521r1") return SealKeyType::ec;
        return permanent_error(Errc::seal_unsupported_key,
                               named(info) + ": its EC key is on curve " +
                                   (g.empty() ? std::string("(unnamed)") : terminal_safe(g)) +
                                   "; only P-256, P-384 and P-521 are supported");
    }
    ERR_clear_error();
    return permanent_error(Errc::seal_unsupported_key, named(info) + ": its key is " +
                                                           terminal_safe(info.key_description) +
                                                           "; only RSA and EC keys can be sealed to");
}

}  // namespace

Result<SealRecipient> SealRecipient::from_certificate(std::string_view pem_or_der,
                                                      std::vector<std::string> capabilities, TimePoint now) {
    auto cert = parse_certificate(pem_or_der);
    if (!cert) return std::move(cert).error();
    auto impl = std::make_shared<Impl>();
    impl->info = ossl::describe_certificate(cert->get());
    impl->cert = std::move(*cert);
    impl->capabilities = std::move(capabilities);
    X509* x = impl->cert.get();
    SealRecipient r(impl);
    if (auto v = r.check_valid(now); !v) return std::move(v).error();
    auto type = check_key(x, impl->info);
    if (!type) return std::move(type).error();
    impl->key_type = *type;
    if (auto k = check_key_usage(x, impl->info, *type); !k) return std::move(k).error();
    if (auto e = check_extended_key_usage(x, impl->info); !e) return std::move(e).error();
    return r;
}

Result<void> SealRecipient::check_valid(TimePoint now) const {
    const CertificateInfo& info = m_impl->info;
    if (now < info.not_before) {
        return permanent_error(Errc::seal_certificate_not_yet_valid,
                               named(info) + " is not valid before " + format_utc(info.not_before));
    }
    if (now > info.not_after) {
        return permanent_error(Errc::seal_certificate_expired,
                               named(info) + " expired on " + format_utc(info.not_after));
    }
    return {};
}

const CertificateInfo& SealRecipient::certificate() const noexcept { return m_impl->info; }
SealKeyType SealRecipient::key_type() const noexcept { return m_impl->key_type; }
const std::vector<std::string>& SealRecipient::capabilities() const noexcept { return m_impl->capabilities; }
SealProfile SealRecipient::profile() const { return {m_impl->key_type, m_impl->capabilities}; }

}  // namespace ribbon
