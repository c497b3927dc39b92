// dev_ca.cpp — ribbon's throw-away test CA (docs/KEYSTORE.md): a root in
// <keystore>/dev-ca/ and S/MIME certificates from it, made with OpenSSL's
// C API so that trying ribbon needs no openssl command line.
//
// Nothing it makes is trusted by anyone: the issuer says "TEST ONLY", and
// the keystore flags every Digital ID it issued (KeystoreEntry::dev_ca).
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "core/openssl_objects.hpp"
#include "core/openssl_util.hpp"
#include "keystore/files.hpp"
#include "keystore/keygen.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon {

namespace fs = std::filesystem;

namespace {

using ks::generate_key;
using ks::key_to_pem;
using ks::SecretString;

// RFC 5280 §4.1.2.2: a positive integer of at most 20 octets; 128 random
// bits make serials unpredictable (CA/Browser Forum asks for 64 or more).
Result<void> set_random_serial(X509* cert) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return ossl::crypto_error("no random serial");
    bytes[0] &= 0x7f;  // positive
    bytes[0] |= 0x40;  // and a full 16 octets, so every serial has the same length
    BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
    bool ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
    BN_free(bn);
    if (!ok) return ossl::crypto_error("cannot set the serial number");
    return {};
}

Result<void> add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    bool ok = ext != nullptr && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    if (!ok) return ossl::crypto_error("cannot add extension " + value);
    return {};
}

std::time_t to_time_t(TimePoint t) { return std::chrono::system_clock::to_time_t(t); }

// The parts every certificate shares: v3, serial, names, validity, key.
Result<ossl::X509Ptr> new_certificate(const std::string& subject_cn, X509_NAME* issuer_name,
                                      EVP_PKEY* subject_key, TimePoint not_before,
                                      TimePoint not_after) {
    ossl::X509Ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
        return ossl::crypto_error("X509_new");
    if (auto r = set_random_serial(cert.get()); !r) return std::move(r).error();
    X509_NAME* subject = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(subject_cn.c_str()), -1,
                                   -1, 0) != 1) {
        return ossl::crypto_error("cannot set the subject");
    }
    if (X509_set_issuer_name(cert.get(), issuer_name != nullptr ? issuer_name : subject) != 1 ||
        // ASN1_TIME_set picks UTCTime up to 2049 and GeneralizedTime after,
        // as RFC 5280 §4.1.2.5 requires.
        ASN1_TIME_set(X509_getm_notBefore(cert.get()), to_time_t(not_before)) == nullptr ||
        ASN1_TIME_set(X509_getm_notAfter(cert.get()), to_time_t(not_after)) == nullptr ||
        X509_set_pubkey(cert.get(), subject_key) != 1) {
        return ossl::crypto_error("cannot fill in the certificate");
    }
    return cert;
}

Result<std::string> cert_to_pem(X509* cert) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_X509(bio.get(), cert) != 1)
        return ossl::crypto_error("cannot write the certificate");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

// A new key and its certificate as PEM, ready to file; the key's PEM is
// wiped when it goes out of scope.
struct PemPair {
    SecretString key;
    std::string cert;
};

Result<void> to_pem(EVP_PKEY* key, X509* cert, PemPair& out) {
    auto kp = key_to_pem(key);
    if (!kp) return std::move(kp).error();
    out.key.bytes = std::move(*kp);
    auto cp = cert_to_pem(cert);
    if (!cp) return std::move(cp).error();
    out.cert = std::move(*cp);
    return {};
}

}  // namespace

std::optional<NewKeyType> parse_new_key_type(std::string_view name) {
    if (name == "rsa2048") return NewKeyType::rsa2048;
    if (name == "rsa3072") return NewKeyType::rsa3072;
    if (name == "ec-p256") return NewKeyType::ec_p256;
    return std::nullopt;
}

fs::path DevCa::key_file(const Keystore& store) { return store.dir() / "dev-ca" / "ca.key"; }
fs::path DevCa::cert_file(const Keystore& store) { return store.dir() / "dev-ca" / "ca.pem"; }

Result<fs::path> DevCa::init(const Keystore& store, NewKeyType type) {
    if (type == NewKeyType::rsa2048) {
        return permanent_error(Errc::unsupported_key, "the dev CA's root is ec-p256 or rsa3072");
    }
    std::error_code ec;
    if (fs::exists(key_file(store), ec) || fs::exists(cert_file(store), ec)) {
        return permanent_error(Errc::io_error,
                               "a dev CA already exists in " + (store.dir() / "dev-ca").string());
    }
    if (auto r = ks::make_private_dir(store.dir() / "dev-ca"); !r) return std::move(r).error();
    auto key = generate_key(type);
    if (!key) return std::move(key).error();
    auto now = std::chrono::system_clock::now();
    auto cert = new_certificate(std::string(kDevCaName), nullptr, key->get(),
                                now - std::chrono::hours(1), now + std::chrono::hours(24 * 3650));
    if (!cert) return std::move(cert).error();
    X509* c = cert->get();
    // RFC 5280 §4.2.1.9 / §4.2.1.3: a CA certificate, for signing
    // certificates (and CRLs) only.
    for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                              std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                              std::pair{NID_subject_key_identifier, "hash"}}) {
        if (auto r = add_ext(c, c, nid, value); !r) return std::move(r).error();
    }
    if (X509_sign(c, key->get(), EVP_sha256()) <= 0)
        return ossl::crypto_error("cannot sign the root");
    PemPair pem;
    if (auto r = to_pem(key->get(), c, pem); !r) return std::move(r).error();
    if (auto r = ks::write_file_atomic(key_file(store), pem.key.bytes, 0600, true); !r) {
        return std::move(r).error();
    }
    if (auto r = ks::write_file_atomic(cert_file(store), pem.cert, 0644, true); !r) {
        return std::move(r).error();
    }
    return cert_file(store);
}

Result<fs::path> DevCa::issue(const Keystore& store, std::string_view address,
                              const DevCaIssueOptions& options) {
    auto normal = ks::normalise_address(address);
    if (!normal) return std::move(normal).error();
    std::error_code ec;
    if (!fs::exists(key_file(store), ec)) {
        return permanent_error(Errc::io_error, "no dev CA in " + store.dir().string() +
                                                   " (run `ribbon keys dev-ca init` first)");
    }
    // The CA's key is a key like any other, read by the same rules.
    SecretString ca_key_pem;
    if (auto r = ks::read_key_file(store, key_file(store), ca_key_pem); !r)
        return std::move(r).error();
    auto ca_cert_pem = read_small_file(cert_file(store), "dev CA certificate");
    if (!ca_cert_pem) return std::move(ca_cert_pem).error();
    auto kbio = ossl::mem_bio(ca_key_pem.bytes);
    ossl::PkeyPtr ca_key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
    auto cbio = ossl::mem_bio(*ca_cert_pem);
    ossl::X509Ptr ca_cert(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
    if (!ca_key || !ca_cert) {
        ossl::drain_errors();
        return permanent_error(
            Errc::bad_key, "the dev CA in " + (store.dir() / "dev-ca").string() + " is damaged");
    }

    auto now = std::chrono::system_clock::now();
    TimePoint not_before = options.not_before.value_or(now - std::chrono::hours(1));
    TimePoint not_after = options.not_after.value_or(now + std::chrono::hours(24) * options.days);
    if (not_after <= not_before) {
        return permanent_error(Errc::bad_certificate, "the certificate would end before it starts");
    }
    auto key = generate_key(options.type);
    if (!key) return std::move(key).error();
    auto cert = new_certificate(*normal, X509_get_subject_name(ca_cert.get()), key->get(),
                                not_before, not_after);
    if (!cert) return std::move(cert).error();
    X509* c = cert->get();
    // RFC 8550 §4.4.2: the address in subjectAltName rfc822Name; §4.4.3:
    // digitalSignature (critical, as CAs mark it); §4.4.4: emailProtection.
    const std::pair<int, std::string> extensions[] = {
        {NID_basic_constraints, "critical,CA:FALSE"}, {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "emailProtection"},       {NID_subject_alt_name, "email:" + *normal},
        {NID_subject_key_identifier, "hash"},         {NID_authority_key_identifier, "keyid"},
    };
    for (const auto& [nid, value] : extensions) {
        if (auto r = add_ext(c, ca_cert.get(), nid, value); !r) return std::move(r).error();
    }
    if (X509_sign(c, ca_key.get(), EVP_sha256()) <= 0) {
        return ossl::crypto_error("cannot sign the certificate");
    }
    PemPair pem;
    if (auto r = to_pem(key->get(), c, pem); !r) return std::move(r).error();
    return store.add(*normal, pem.key.bytes, pem.cert);
}

}  // namespace ribbon
