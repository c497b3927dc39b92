// trust_store.cpp — the roots a Verifier trusts: the system's, or only the
// certificates in files the operator names.
//
// Trusts the files it is given (that is their purpose) but parses every
// certificate with OpenSSL; a file that holds no certificate is an error, so
// a typo in --ca never silently means "trust nothing".
#include <openssl/err.h>
#include <openssl/pem.h>

#include <climits>
#include <filesystem>
#include <system_error>

#include "core/digital_id_impl.hpp"
#include "core/trust_store_impl.hpp"

namespace ribbon {

namespace {

constexpr const char* kSystemBundle = "/etc/ssl/certs/ca-certificates.crt";
constexpr const char* kSystemDir = "/etc/ssl/certs";

// PEM (any number of certificates) or a single DER certificate, as CA
// certificates are commonly published (.pem, .crt, .cer).
Result<std::vector<ossl::X509Ptr>> parse_ca_file(std::string_view bytes, const std::string& name) {
    std::vector<ossl::X509Ptr> certs;
    auto bio = ossl::mem_bio(bytes);
    while (true) {
        ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) break;
        certs.push_back(std::move(cert));
    }
    ERR_clear_error();  // the loop always ends with "no start line"
    if (certs.empty() && bytes.size() <= static_cast<std::size_t>(INT_MAX)) {
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(bytes.size())));
        ERR_clear_error();
        if (cert) certs.push_back(std::move(cert));
    }
    if (certs.empty()) {
        return permanent_error(Errc::bad_certificate,
                               "no certificate (PEM or DER) in trust anchor file " + name);
    }
    return certs;
}

}  // namespace

Result<TrustStore> TrustStore::system() {
    auto impl = std::make_shared<Impl>();
    impl->store.reset(X509_STORE_new());
    impl->anchors.reset(sk_X509_new_null());
    if (!impl->store || !impl->anchors) return ossl::crypto_error("out of memory");
    std::error_code ec;
    // Debian's bundle is loaded once into memory; the hashed directory is the
    // fallback for systems that only have that (looked up lazily, under the
    // store's lock).
    if (std::filesystem::exists(kSystemBundle, ec)) {
        if (X509_STORE_load_file(impl->store.get(), kSystemBundle) != 1) {
            return Error(Errc::io_error, ErrorKind::transient,
                         std::string("cannot load the system roots from ") + kSystemBundle + " (" +
                             ossl::drain_errors() + ")");
        }
    } else if (X509_STORE_load_path(impl->store.get(), kSystemDir) != 1) {
        return Error(Errc::io_error, ErrorKind::transient,
                     std::string("cannot use the system roots in ") + kSystemDir + " (" +
                         ossl::drain_errors() + ")");
    }
    impl->description = kSystemDir;
    return TrustStore(std::move(impl));
}

Result<TrustStore> TrustStore::from_files(const std::vector<std::filesystem::path>& ca_files) {
    if (ca_files.empty()) {
        return permanent_error(Errc::bad_certificate, "no trust anchor file given");
    }
    auto impl = std::make_shared<Impl>();
    impl->store.reset(X509_STORE_new());
    impl->anchors.reset(sk_X509_new_null());
    if (!impl->store || !impl->anchors) return ossl::crypto_error("out of memory");
    for (const auto& file : ca_files) {
        auto bytes = read_small_file(file, "trust anchor file");
        if (!bytes) return std::move(bytes).error();
        auto certs = parse_ca_file(*bytes, file.string());
        if (!certs) return std::move(certs).error();
        for (auto& cert : *certs) {
            // Adding the same certificate twice (two files naming one root)
            // is harmless: OpenSSL 3 ignores the duplicate.
            if (X509_STORE_add_cert(impl->store.get(), cert.get()) != 1) {
                return ossl::crypto_error("cannot add a certificate from " + file.string());
            }
            // The stack takes ownership only when the push succeeds.
            if (sk_X509_push(impl->anchors.get(), cert.get()) <= 0) {
                return ossl::crypto_error("out of memory");
            }
            static_cast<void>(cert.release());
        }
        if (!impl->description.empty()) impl->description += ", ";
        impl->description += file.string();
    }
    return TrustStore(std::move(impl));
}

X509_STORE* trust_store_roots(const TrustStore& trust) noexcept { return trust.impl().store.get(); }

const std::string& trust_store_description(const TrustStore& trust) noexcept { return trust.impl().description; }

}  // namespace ribbon
