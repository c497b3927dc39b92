// pkcs12.cpp — imports a PKCS#12 bundle (RFC 7292) into the keystore.
//
// The order of the checks is what lets each failure get its own answer:
// the DER must parse (else the file is damaged), then the MAC (RFC 7292
// §5.1) must verify with the password (else the password is wrong), then
// the bags must decrypt (else an algorithm is missing, or the file is
// damaged), and only then is the content checked as a Digital ID and filed
// with Keystore::add, which applies the keystore's own rules.
#include "ribbon/pkcs12.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include <mutex>
#include <string>
#include <vector>

#include "base/ascii.hpp"
#include "core/openssl_objects.hpp"
#include "core/openssl_util.hpp"

namespace ribbon {

namespace fs = std::filesystem;

namespace {

using Pkcs12Ptr = std::unique_ptr<PKCS12, ossl::Deleter<PKCS12_free>>;

// Bytes that must not outlive their use (the password, the exported key):
// wiped before the memory goes back to the allocator.
struct Secret {
    std::string bytes;
    Secret() = default;
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    ~Secret() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

// OpenSSL 3.0 moved RC2, RC4, DES and friends to the "legacy" provider,
// which is not loaded by default. Older PKCS#12 files — NSS exports,
// Windows "TripleDES-SHA1" exports, `openssl pkcs12 -legacy` — encrypt
// their bags with pbeWithSHAAnd40BitRC2-CBC and pbeWithSHAAnd3-KeyTriple-
// DES-CBC (RFC 7292 Appendix C), so they need it. It is loaded only when a
// bundle actually fails for an unsupported algorithm, once per process, and
// together with "default": explicitly loading one provider would otherwise
// stop OpenSSL from loading the default one implicitly.
bool load_legacy_provider() {
    static std::once_flag once;
    static bool loaded = false;
    std::call_once(once, [] {
        OSSL_PROVIDER* def = OSSL_PROVIDER_load(nullptr, "default");
        OSSL_PROVIDER* legacy = OSSL_PROVIDER_load(nullptr, "legacy");
        // Both stay loaded for the life of the process.
        loaded = def != nullptr && legacy != nullptr;
    });
    return loaded;
}

// OpenSSL's error queue, drained: whether it says an algorithm is not
// available (as opposed to bad data), and its text for the message.
struct QueuedErrors {
    bool unsupported = false;
    std::string text;
};

QueuedErrors drain_and_classify() {
    QueuedErrors out;
    char buf[256];
    for (unsigned long e; (e = ERR_get_error()) != 0;) {
        int reason = ERR_GET_REASON(e);
        if (reason == ERR_R_UNSUPPORTED ||
            (ERR_GET_LIB(e) == ERR_LIB_EVP &&
             (reason == EVP_R_UNSUPPORTED_ALGORITHM || reason == EVP_R_UNKNOWN_CIPHER ||
              reason == EVP_R_UNSUPPORTED_CIPHER || reason == EVP_R_UNKNOWN_DIGEST ||
              reason == EVP_R_UNSUPPORTED_PRF))) {
            out.unsupported = true;
        }
        ERR_error_string_n(e, buf, sizeof buf);
        out.text += (out.text.empty() ? "" : "; ") + std::string(buf);
    }
    return out;
}

Error in_file(const fs::path& file, const Error& e) {
    return Error(e.code(), e.kind(), file.string() + ": " + e.message());
}

enum class MacCheck { ok, absent, wrong_password, unusable };

// RFC 7292 §5.1: the MAC over the bundle is keyed by the password, so it
// tells a wrong password (the MAC does not match: OpenSSL returns 0 and
// queues no error) from a MAC that cannot be computed at all (damage, or
// an unknown digest: an error is queued). An empty password is tried as
// both the empty string and "no password", as PKCS12_parse does, because
// exporters disagree on how to encode it.
MacCheck check_mac(PKCS12* p12, const Secret& password, const char** pass_used) {
    if (PKCS12_mac_present(p12) != 1) return MacCheck::absent;
    std::vector<const char*> candidates;
    if (password.bytes.empty()) {
        candidates = {nullptr, ""};
    } else {
        candidates = {password.bytes.c_str()};
    }
    ERR_clear_error();
    for (const char* pass : candidates) {
        if (PKCS12_verify_mac(p12, pass, -1) == 1) {
            *pass_used = pass;
            return MacCheck::ok;
        }
        if (ERR_peek_error() != 0) return MacCheck::unusable;
    }
    return MacCheck::wrong_password;
}

// A MAC that does not verify means a wrong password or a damaged file
// (RFC 7292 §5.1 keys the MAC by the password, over the contents). They
// differ in what the password does to the encrypted parts (RFC 7292 §4.1:
// an encryptedData safe, a pkcs8ShroudedKeyBag): a right password decrypts
// the ones that are intact — the padding checks and the plaintext parses as
// DER — where a wrong one decrypts none (the odds of a wrong key giving valid
// padding and DER are far below one in a million). So if any part decrypts,
// the password is right and the file is damaged.
struct Pkcs7StackDeleter {
    void operator()(STACK_OF(PKCS7) * s) const noexcept { sk_PKCS7_pop_free(s, PKCS7_free); }
};
using Pkcs7Stack = std::unique_ptr<STACK_OF(PKCS7), Pkcs7StackDeleter>;
struct BagStackDeleter {
    void operator()(STACK_OF(PKCS12_SAFEBAG) * s) const noexcept {
        sk_PKCS12_SAFEBAG_pop_free(s, PKCS12_SAFEBAG_free);
    }
};
using BagStack = std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), BagStackDeleter>;

bool password_opens_a_part(PKCS12* p12, const char* pass) {
    const int len = pass == nullptr ? 0 : -1;
    Pkcs7Stack safes(PKCS12_unpack_authsafes(p12));
    if (!safes) return false;
    for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
        PKCS7* safe = sk_PKCS7_value(safes.get(), i);
        const int type = OBJ_obj2nid(safe->type);
        if (type == NID_pkcs7_encrypted) {
            if (BagStack(PKCS12_unpack_p7encdata(safe, pass, len))) return true;
            continue;
        }
        if (type != NID_pkcs7_data) continue;
        BagStack bags(PKCS12_unpack_p7data(safe));
        for (int j = 0; bags && j < sk_PKCS12_SAFEBAG_num(bags.get()); ++j) {
            const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags.get(), j);
            if (PKCS12_SAFEBAG_get_nid(bag) != NID_pkcs8ShroudedKeyBag) continue;
            if (PKCS8_PRIV_KEY_INFO* p8 = PKCS12_decrypt_skey(bag, pass, len)) {
                PKCS8_PRIV_KEY_INFO_free(p8);
                return true;
            }
        }
    }
    return false;
}

// Whether `password` (both forms of an empty one, as check_mac tries them)
// decrypts any part of the bundle; the legacy provider is loaded when an
// algorithm was missing, as for the import itself.
bool password_is_right(PKCS12* p12, const Secret& password) {
    std::vector<const char*> candidates = {password.bytes.c_str()};
    if (password.bytes.empty()) candidates = {nullptr, ""};
    for (int attempt = 0; attempt < 2; ++attempt) {
        ERR_clear_error();
        for (const char* pass : candidates) {
            if (password_opens_a_part(p12, pass)) return true;
        }
        if (!drain_and_classify().unsupported || !load_legacy_provider()) break;
    }
    ERR_clear_error();
    return false;
}

// The certificates of `ca` that lead from `leaf` towards a root, leaf-most
// first, without the self-signed root itself: what a signer sends along
// (RFC 8551 §2.4.1 leaves the choice to the sender; receivers bring their
// own roots). Unrelated certificates some exporters add are left out.
std::vector<X509*> chain_for(X509* leaf, STACK_OF(X509) * ca) {
    std::vector<X509*> chain;
    X509* current = leaf;
    for (int guard = 0; ca != nullptr && guard < sk_X509_num(ca); ++guard) {
        X509* issuer = nullptr;
        for (int i = 0; i < sk_X509_num(ca); ++i) {
            X509* c = sk_X509_value(ca, i);
            if (c != current && X509_check_issued(c, current) == X509_V_OK) {
                issuer = c;
                break;
            }
        }
        if (issuer == nullptr || X509_self_signed(issuer, 0) == 1) break;
        chain.push_back(issuer);
        current = issuer;
    }
    return chain;
}

Result<std::string> cert_pem(X509* cert) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
        return ossl::crypto_error("cannot write a certificate as PEM");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// The key as unencrypted PKCS#8 PEM, the keystore's form (docs/KEYSTORE.md).
// The memory BIO's buffer is cleared when freed (BUF_MEM_free uses
// OPENSSL_clear_free); the copy in `out` is the caller's Secret.
Result<void> key_pem(EVP_PKEY* key, Secret& out) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return ossl::crypto_error("cannot write the private key as PEM");
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    out.bytes.assign(data, static_cast<std::size_t>(n));
    return {};
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

// The address to file under: the certificate's only one, or the one the
// operator picked from several.
Result<std::string> pick_address(const fs::path& file, const DigitalId& id,
                                 std::string_view wanted) {
    const auto& addresses = id.certificate().addresses;
    if (!wanted.empty()) {
        if (id.covers_address(wanted)) return ascii_lower(wanted);
        return permanent_error(Errc::from_not_in_certificate,
                               file.string() + ": the certificate " + id.certificate().subject +
                                   " is not for " + std::string(wanted) + "; it is for: " +
                                   (addresses.empty() ? "no address" : join(addresses)));
    }
    if (addresses.size() == 1) return ascii_lower(addresses.front());
    if (addresses.empty()) {
        return permanent_error(Errc::from_not_in_certificate,
                               file.string() + ": the certificate " + id.certificate().subject +
                                   " names no mail address (RFC 8550 §3), so it cannot sign mail");
    }
    return permanent_error(Errc::from_not_in_certificate,
                           file.string() + ": the certificate is for several addresses (" +
                               join(addresses) + "); choose one with --address");
}

// The bundle's integrity MAC checked with `password`: a wrong password and
// a damaged file get different errors. `pass` is what PKCS12_parse must be
// given afterwards (check_mac may find the empty password is meant as NULL).
Result<void> check_password(PKCS12* p12, const std::string& name, const Secret& password,
                            bool password_given, const char** pass) {
    switch (check_mac(p12, password, pass)) {
        case MacCheck::ok:
        case MacCheck::absent:
            return {};
        case MacCheck::wrong_password:
            if (password_is_right(p12, password)) {
                return permanent_error(Errc::bad_certificate,
                                       name +
                                           ": the PKCS#12 bundle is damaged: its integrity MAC "
                                           "does not verify, although the password decrypts "
                                           "its contents");
            }
            return permanent_error(
                Errc::wrong_password,
                !password_given
                    ? name +
                          ": the PKCS#12 bundle needs a password (--password-file or "
                          "RIBBON_P12_PASSWORD), or it is damaged: its integrity MAC does not "
                          "verify without one"
                    : name +
                          ": wrong password for the PKCS#12 bundle, or the file is damaged: "
                          "its integrity MAC does not verify and the password decrypts none "
                          "of its contents");
        case MacCheck::unusable:
            break;
    }
    std::string reasons = ossl::drain_errors();
    return permanent_error(Errc::bad_certificate,
                           name +
                               ": the PKCS#12 bundle's integrity MAC cannot be "
                               "checked; the file is damaged (" +
                               reasons + ")");
}

// What a bundle holds, decrypted.
struct Contents {
    ossl::PkeyPtr key;
    ossl::X509Ptr cert;
    ossl::X509StackPtr ca;
    bool legacy = false;  // needed OpenSSL's legacy provider (RC2, 3DES)
};

Result<Contents> decrypt(PKCS12* p12, const std::string& name, const char* pass) {
    Contents out;
    EVP_PKEY* raw_key = nullptr;
    X509* raw_cert = nullptr;
    STACK_OF(X509)* raw_ca = nullptr;
    ERR_clear_error();
    int parsed = PKCS12_parse(p12, pass, &raw_key, &raw_cert, &raw_ca);
    QueuedErrors failure;
    if (parsed != 1) {
        failure = drain_and_classify();
        if (failure.unsupported && load_legacy_provider()) {
            out.legacy = true;
            parsed = PKCS12_parse(p12, pass, &raw_key, &raw_cert, &raw_ca);
            if (parsed != 1) failure = drain_and_classify();
        }
    }
    out.key.reset(raw_key);
    out.cert.reset(raw_cert);
    out.ca.reset(raw_ca);
    if (parsed != 1) {
        const std::string& reasons = failure.text;
        if (PKCS12_mac_present(p12) != 1) {
            // Without a MAC nothing tells a wrong password from damage.
            return permanent_error(Errc::wrong_password,
                                   name +
                                       ": cannot decrypt the PKCS#12 bundle, which has no "
                                       "integrity MAC: wrong password or damaged file (" +
                                       reasons + ")");
        }
        return permanent_error(Errc::bad_certificate,
                               name +
                                   ": the PKCS#12 bundle cannot be decrypted although its "
                                   "password is right; it is damaged or uses an algorithm "
                                   "OpenSSL lacks (" +
                                   reasons + ")");
    }
    if (!out.key) {
        return permanent_error(Errc::bad_key, name +
                                                  " holds no private key (a bundle exported "
                                                  "without the key cannot sign)");
    }
    if (!out.cert) {
        return permanent_error(Errc::bad_certificate,
                               name + " holds no certificate for its private key");
    }
    return out;
}

// The bundle's Digital ID in the keystore's PEM forms.
struct PemForms {
    Secret key;
    std::string leaf;
    std::string chain;
    std::size_t chain_certificates = 0;
};

Result<void> pem_forms(const fs::path& p12_file, const Contents& contents, PemForms& out) {
    if (auto r = key_pem(contents.key.get(), out.key); !r) return in_file(p12_file, r.error());
    auto leaf_text = cert_pem(contents.cert.get());
    if (!leaf_text) return in_file(p12_file, leaf_text.error());
    out.leaf = std::move(*leaf_text);
    std::vector<X509*> chain = chain_for(contents.cert.get(), contents.ca.get());
    for (X509* c : chain) {
        auto text = cert_pem(c);
        if (!text) return in_file(p12_file, text.error());
        out.chain += *text;
    }
    out.chain_certificates = chain.size();
    return {};
}

}  // namespace

Result<Pkcs12Imported> import_pkcs12(const Keystore& keystore, const fs::path& p12_file,
                                     const Pkcs12ImportOptions& options) {
    const std::string name = p12_file.string();
    auto der = read_small_file(p12_file, "PKCS#12 bundle");
    if (!der) return std::move(der).error();

    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der->size())));
    if (!p12) {
        std::string reasons = ossl::drain_errors();
        return permanent_error(Errc::bad_certificate,
                               name +
                                   " is not a PKCS#12 bundle: it is truncated, damaged or in "
                                   "another format (" +
                                   reasons + ")");
    }

    // PKCS12_parse wants a NUL-terminated password; this copy is wiped.
    Secret password;
    password.bytes.assign(options.password);
    const char* pass = password.bytes.c_str();
    if (auto r = check_password(p12.get(), name, password, !options.password.empty(), &pass); !r) {
        return std::move(r).error();
    }
    auto contents = decrypt(p12.get(), name, pass);
    if (!contents) return std::move(contents).error();
    PemForms pem;
    if (auto r = pem_forms(p12_file, *contents, pem); !r) return std::move(r).error();

    // The same checks Keystore::add makes, done first so that the address
    // can be chosen from the certificate and every error names the file.
    auto id = DigitalId::from_pem(pem.key.bytes, pem.leaf, pem.chain);
    if (!id) return in_file(p12_file, id.error());
    auto address = pick_address(p12_file, *id, options.address);
    if (!address) return std::move(address).error();
    // An expired certificate can never sign again (the rollover rule skips
    // it), so filing it would only add a CRITICAL to `keys check`. One not
    // valid yet is filed: it is the "next" certificate of a renewal.
    if (id->certificate().not_after < options.now) {
        return permanent_error(Errc::certificate_expired,
                               name + ": the certificate " + id->certificate().subject +
                                   " expired on " + format_utc(id->certificate().not_after) +
                                   "; not imported");
    }

    auto filed = keystore.add(*address, pem.key.bytes, pem.leaf, pem.chain);
    if (!filed) return in_file(p12_file, filed.error());
    Pkcs12Imported out;
    out.address = *address;
    out.cert_file = *filed;
    out.certificate = id->certificate();
    out.chain_certificates = pem.chain_certificates;
    out.legacy_algorithms = contents->legacy;
    return out;
}

}  // namespace ribbon
