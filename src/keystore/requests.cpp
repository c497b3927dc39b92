// requests.cpp — the CA request life cycle (ribbon/key_requests.hpp,
// docs/KEYSTORE.md): new key + PKCS#10 request, installing the issued
// certificate next to its key, renewal.
//
// The key never leaves the keystore: the CA gets the CSR, and the
// certificate it returns finds its key by public key (the key id of
// files.hpp), so nothing but the public key ties the two together.
#include "ribbon/key_requests.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/openssl_objects.hpp"
#include "core/openssl_util.hpp"
#include "keystore/files.hpp"
#include "keystore/keygen.hpp"
#include "keystore/pkcs11.hpp"

namespace ribbon {

namespace fs = std::filesystem;

namespace {

using ReqPtr = std::unique_ptr<X509_REQ, ossl::Deleter<X509_REQ_free>>;

struct ExtStackDeleter {
    void operator()(STACK_OF(X509_EXTENSION) * s) const noexcept {
        sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
    }
};
using ExtStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtStackDeleter>;

Result<void> add_name_entry(X509_NAME* name, int nid, const std::string& value) {
    if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1) {
        return ossl::crypto_error("cannot put \"" + value + "\" in the request's subject");
    }
    return {};
}

// The CSR for `key`, signed with it, as PEM. `signer` is the same key when
// it is in a token (the engine's handle; `key` is then its public half).
Result<std::string> make_csr(EVP_PKEY* key, const std::string& address,
                             const std::string& organisation, EVP_PKEY* signer = nullptr) {
    if (signer == nullptr) signer = key;
    ReqPtr req(X509_REQ_new());
    // RFC 2986 §4.1: version 0 is the only one defined.
    if (!req || X509_REQ_set_version(req.get(), 0) != 1) return ossl::crypto_error("X509_REQ_new");
    X509_NAME* subject = X509_REQ_get_subject_name(req.get());
    if (!organisation.empty()) {
        if (auto r = add_name_entry(subject, NID_organizationName, organisation); !r)
            return std::move(r).error();
    }
    if (auto r = add_name_entry(subject, NID_commonName, address); !r) return std::move(r).error();
    if (X509_REQ_set_pubkey(req.get(), key) != 1) return ossl::crypto_error("X509_REQ_set_pubkey");

    // What an S/MIME signing certificate needs (RFC 8550 §4.4.2-4.4.4),
    // asked for in the extensionRequest attribute (RFC 2985 §5.4.2); CAs
    // decide what they copy, and install checks what came back.
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
    ExtStackPtr exts(sk_X509_EXTENSION_new_null());
    if (!exts) return ossl::crypto_error("sk_X509_EXTENSION_new_null");
    const std::pair<int, std::string> wanted[] = {
        {NID_subject_alt_name, "email:" + address},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "emailProtection"},
    };
    for (const auto& [nid, value] : wanted) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
        if (ext == nullptr || sk_X509_EXTENSION_push(exts.get(), ext) <= 0) {
            X509_EXTENSION_free(ext);
            return ossl::crypto_error("cannot make the request extension " + value);
        }
    }
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1)
        return ossl::crypto_error("X509_REQ_add_extensions");
    // Signed with the new key itself: the CA's proof that the requester
    // holds it (RFC 2986 §3).
    if (X509_REQ_sign(req.get(), signer, EVP_sha256()) <= 0)
        return ossl::crypto_error("cannot sign the request");

    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1)
        return ossl::crypto_error("cannot write the request");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

Error with_file(const Error& e, const fs::path& file) {
    return Error(e.code(), e.kind(), file.string() + ": " + e.message());
}

// The address directories that may hold the key for a certificate: those
// of the addresses it vouches for first, then every other one, so a key
// filed under an address the certificate does not name is still found
// (and then refused by Keystore::add with from_not_in_certificate).
std::vector<std::string> candidate_addresses(const Keystore& store,
                                             const std::vector<std::string>& cert_addresses) {
    std::vector<std::string> out;
    for (const auto& a : cert_addresses) {
        if (auto n = ks::normalise_address(a); n) out.push_back(*n);
    }
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(store.dir(), ec)) {
        std::string name = item.path().filename().string();
        if (!item.is_directory(ec) || name.find('@') == std::string::npos) continue;
        if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    return out;
}

// Files a new key's records in `dir`: the key (<id><key_suffix>, 0600: a
// key file, or a token key's URI), its public key (<id>.pub.pem) and its
// request (<id>.csr), both public (0644). All or nothing: a key without
// its request is of no use to anyone.
Result<KeyRequest> file_request(const fs::path& dir, const std::string& id,
                                std::string_view key_suffix, std::string_view key_bytes,
                                std::string_view pub_pem, std::string_view csr) {
    KeyRequest out{dir / (id + std::string(key_suffix)), dir / (id + ".csr")};
    const std::pair<fs::path, std::string_view> files[] = {
        {out.key_file, key_bytes},
        {dir / (id + std::string(ks::kPublicKeySuffix)), pub_pem},
        {out.csr_file, csr},
    };
    for (const auto& [path, bytes] : files) {
        unsigned mode = path == out.key_file ? 0600 : 0644;
        if (auto r = ks::write_file_atomic(path, bytes, mode, true); !r) {
            std::error_code ec;
            for (const auto& [p, b] : files) {
                if (p == path) break;  // not ours: it was there before (exclusive)
                fs::remove(p, ec);
            }
            return std::move(r).error();
        }
    }
    return out;
}

// generate_key_request for a key made in a PKCS#11 token: the keystore
// records the key's URI (<key-id>.key.uri) and public key (<key-id>.pub.pem,
// which install matches certificates against without the token); the
// private key never leaves the token, which signs the CSR itself.
Result<KeyRequest> generate_token_request(const Keystore& store, const std::string& address,
                                          const KeyRequestOptions& options) {
    auto uri = p11::parse_uri(options.pkcs11_uri);
    if (!uri) return std::move(uri).error();
    auto pin = p11::pin_for(*uri, options.pin);
    if (!pin) return std::move(pin).error();
    fs::path dir = store.dir() / address;
    // Before the token is touched, so a keystore that cannot be written
    // does not leave an orphan key in the token.
    if (auto r = ks::make_private_dir(dir); !r) return std::move(r).error();
    auto recorded = p11::generate_on_token(*uri, options.type, *pin);
    if (!recorded) return std::move(recorded).error();
    std::string module = p11::module_path(*uri);
    auto pub = p11::load_public_key(*recorded, module, *pin);
    if (!pub) return std::move(pub).error();
    auto priv = p11::load_private_key(*recorded, module, *pin);
    if (!priv) return std::move(priv).error();
    std::string id;
    auto pub_pem = [&]() -> Result<std::string> {
        // The engine's keys are used under its lock (pkcs11_engine.cpp).
        std::lock_guard<std::mutex> token(*p11::engine_lock());
        id = ks::key_id(pub->key.get());
        return ks::public_key_pem(pub->key.get());
    }();
    if (!pub_pem) return std::move(pub_pem).error();
    auto csr = [&] {
        // The token signs the request.
        std::lock_guard<std::mutex> token(*p11::engine_lock());
        return make_csr(pub->key.get(), address, options.organisation, priv->key.get());
    }();
    if (!csr) return std::move(csr).error();
    // The URI names no secret (no PIN is recorded) but says where the key
    // is: 0600 like a key file.
    return file_request(dir, id, ks::kTokenKeySuffix, *recorded + "\n", *pub_pem, *csr);
}

// The public key recorded for the key <stem>.key (or .key.uri), read
// without touching the private key, which may be encrypted or in a token:
// <stem>.pub.pem, else the key's request <stem>.csr, whose signature shows
// it was made with that key (RFC 2986 §3) — keystores from before file keys
// had a .pub.pem. Null when neither is there: the request was answered, or
// the key was filed by hand.
Result<ossl::PkeyPtr> recorded_public_key(const fs::path& stem) {
    std::error_code ec;
    fs::path pub_file = stem.string() + std::string(ks::kPublicKeySuffix);
    if (fs::exists(pub_file, ec)) {
        auto pem = read_small_file(pub_file, "public key file");
        if (!pem) return std::move(pem).error();
        auto bio = ossl::mem_bio(*pem);
        ossl::PkeyPtr pub(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
        if (!pub) {
            return permanent_error(Errc::bad_key, pub_file.string() + " is not a PEM public key (" +
                                                      ossl::drain_errors() + ")");
        }
        return pub;
    }
    fs::path csr_file = stem.string() + ".csr";
    if (!fs::exists(csr_file, ec)) return ossl::PkeyPtr();
    auto pem = read_small_file(csr_file, "request file");
    if (!pem) return std::move(pem).error();
    auto bio = ossl::mem_bio(*pem);
    ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    EVP_PKEY* pub = req ? X509_REQ_get0_pubkey(req.get()) : nullptr;
    if (pub == nullptr || X509_REQ_verify(req.get(), pub) != 1) {
        return permanent_error(Errc::bad_key, csr_file.string() +
                                                  " is not a request signed by its key (" +
                                                  ossl::drain_errors() + ")");
    }
    EVP_PKEY_up_ref(pub);
    return ossl::PkeyPtr(pub);
}

// install_certificate for the key <stem>.key, or <stem>.key.uri in a
// token, filed under `address`. The certificate is matched against the
// key's recorded public key when there is one, so neither the passphrase
// of an encrypted key nor the token is needed; otherwise the key file is
// read, with `password` when it is encrypted. Either way the Digital ID is
// checked as Keystore::add checks it (type, usage, address) and filed
// without rewriting the key.
Result<fs::path> install_for_key(const Keystore& store, const std::string& address,
                                 const fs::path& stem, X509* cert, const std::string& cert_pem,
                                 const std::string& chain_pem, std::string_view password) {
    std::error_code ec;
    fs::path key_file = stem.string() + ".key";
    bool in_token = !fs::exists(key_file, ec);
    // The key goes through the keystore's StrictModes (refused unread when
    // unsafe) whether or not its public key is on record.
    ks::SecretString key_pem;
    if (!in_token) {
        if (auto r = ks::read_key_file(store, key_file, key_pem); !r) return std::move(r).error();
    }
    auto pub = recorded_public_key(stem);
    if (!pub) return std::move(pub).error();
    if (*pub) {
        if (EVP_PKEY_eq(pub->get(), X509_get0_pubkey(cert)) != 1) {
            ossl::drain_errors();
            return permanent_error(Errc::no_matching_key, "the public key recorded for the key " +
                                                              stem.string() +
                                                              ".* is not the certificate's");
        }
        auto id = digital_id_from_key(std::move(*pub), cert_pem, chain_pem);
        if (!id) return std::move(id).error();
        return ks::file_digital_id(store, address, *id, {}, cert_pem, chain_pem);
    }
    if (in_token) {
        return permanent_error(Errc::no_matching_key,
                               "the token key " + stem.string() + std::string(ks::kTokenKeySuffix) +
                                   " has no recorded public key (" + stem.string() +
                                   std::string(ks::kPublicKeySuffix) + ")");
    }
    auto id = DigitalId::from_pem(key_pem.bytes, cert_pem, chain_pem, password);
    if (!id && id.error().code() == Errc::wrong_password && password.empty()) {
        return permanent_error(Errc::wrong_password,
                               id.error().message() + ": " + key_file.string() +
                                   " has no public key on record (.pub.pem or .csr) to match "
                                   "without it; give --password-file or set "
                                   "RIBBON_KEY_PASSWORD");
    }
    if (!id) return std::move(id).error();
    return ks::file_digital_id(store, address, *id, {}, cert_pem, chain_pem);
}

}  // namespace

Result<KeyRequest> generate_key_request(const Keystore& store, std::string_view address,
                                        const KeyRequestOptions& options) {
    auto normal = ks::normalise_address(address);
    if (!normal) return std::move(normal).error();
    if (!options.pkcs11_uri.empty()) return generate_token_request(store, *normal, options);
    auto key = ks::generate_key(options.type);
    if (!key) return std::move(key).error();
    auto csr = make_csr(key->get(), *normal, options.organisation);
    if (!csr) return std::move(csr).error();
    ks::SecretString key_pem;
    {
        auto pem = ks::key_to_pem(key->get());
        if (!pem) return std::move(pem).error();
        key_pem.bytes = std::move(*pem);
    }
    auto pub_pem = ks::public_key_pem(key->get());
    if (!pub_pem) return std::move(pub_pem).error();
    fs::path dir = store.dir() / *normal;
    if (auto r = ks::make_private_dir(dir); !r) return std::move(r).error();
    return file_request(dir, ks::key_id(key->get()), ".key", key_pem.bytes, *pub_pem, *csr);
}

Result<KeyRequest> renew_key_request(const Keystore& store, std::string_view address,
                                     TimePoint now, const KeyRequestOptions& options) {
    // Renewal is for an ID that works: a lapsed or missing one is a new
    // request (`keys generate`), so the operator notices the gap.
    auto current = store.digital_id_for(address, now);
    // An encrypted key cannot be loaded without its passphrase, but
    // renewal does not use the old key: a current certificate with its key
    // on file is all it needs.
    if (!current && current.error().code() == Errc::wrong_password) {
        auto entries = store.list(now);
        auto normal = ks::normalise_address(address);
        if (entries && normal) {
            for (const KeystoreEntry& e : *entries) {
                if (e.address == *normal && e.status == IdStatus::current && e.key_present && e.problem.empty()) {
                    return generate_key_request(store, address, options);
                }
            }
        }
    }
    if (!current) {
        const Error& e = current.error();
        return Error(e.code(), e.kind(),
                     "renewal needs a certificate for " + std::string(address) +
                         " that is valid now (use `ribbon keys generate` otherwise): " +
                         e.message());
    }
    return generate_key_request(store, address, options);
}

Result<fs::path> install_certificate(const Keystore& store, const fs::path& cert_file,
                                     const std::optional<fs::path>& chain_file,
                                     std::string_view password) {
    auto cert_pem = read_small_file(cert_file, "certificate file");
    if (!cert_pem) return std::move(cert_pem).error();
    std::string chain_pem;
    if (chain_file) {
        auto c = read_small_file(*chain_file, "chain file");
        if (!c) return std::move(c).error();
        chain_pem = std::move(*c);
    }
    auto bio = ossl::mem_bio(*cert_pem);
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        return permanent_error(Errc::bad_certificate, cert_file.string() +
                                                          ": not a PEM certificate (" +
                                                          ossl::drain_errors() + ")");
    }
    CertificateInfo info = ossl::describe_certificate(cert.get());
    std::string id = ks::key_id(X509_get0_pubkey(cert.get()));
    std::error_code ec;
    if (!fs::is_directory(store.dir(), ec)) {
        return permanent_error(Errc::io_error, "the keystore " + store.dir().string() +
                                                   " does not exist");
    }
    for (const auto& address : candidate_addresses(store, info.addresses)) {
        fs::path stem = store.dir() / address / id;
        if (!fs::exists(stem.string() + ".key", ec) &&
            !fs::exists(stem.string() + std::string(ks::kTokenKeySuffix), ec)) {
            continue;
        }
        auto filed =
            install_for_key(store, address, stem, cert.get(), *cert_pem, chain_pem, password);
        if (!filed) return with_file(filed.error(), cert_file);
        // The request is answered; the key stays, now with its certificate.
        fs::remove(stem.string() + ".csr", ec);
        return filed;
    }
    return permanent_error(Errc::no_matching_key,
                           cert_file.string() + ": no key in the keystore " +
                               store.dir().string() + " matches the certificate " + info.subject +
                               " (key id " + id + "); was its request made with `ribbon keys "
                               "generate` in this keystore?");
}

}  // namespace ribbon
