// decryption_keys.cpp — every key of the keystore, for opening sealed mail
// (ribbon/keystore.hpp, decryption_keys()).
#include <chrono>

#include "core/decrypt_keys.hpp"
#include "keystore/files.hpp"
#include "keystore/pkcs11.hpp"
#include "ribbon/io.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon {

namespace {

// One certificate's key into `keys`: a token key through the pkcs11 engine
// (with the engine's lock), a key file under the StrictModes.
Result<void> add_entry(const Keystore& store, const KeystoreEntry& entry, std::string_view password,
                       DecryptionKeys& keys) {
    if (!entry.problem.empty()) return permanent_error(Errc::bad_certificate, entry.problem);
    if (!entry.key_present) return permanent_error(Errc::io_error, "its key is missing");
    auto cert_pem = read_small_file(entry.cert_file, "certificate file");
    if (!cert_pem) return std::move(cert_pem).error();
    ks::SecretString key_text;
    if (auto r = ks::read_key_file(store, entry.key_file, key_text); !r) return std::move(r).error();
    if (entry.key_location == "token") {
        const std::string uri = key_text.bytes.substr(0, key_text.bytes.find_first_of("\r\n"));
        auto key = p11::load_recorded_key(uri);
        if (!key) return std::move(key).error();
        return add_decryption_key(keys, std::move(key->key), *cert_pem, key->lock);
    }
    return keys.add_pem(key_text.bytes, *cert_pem, password);
}

}  // namespace

Result<KeystoreDecryptionKeys> decryption_keys(const Keystore& store, std::string_view password) {
    auto entries = store.list(std::chrono::system_clock::now());
    if (!entries) return std::move(entries).error();
    KeystoreDecryptionKeys out;
    std::optional<Error> first;
    for (const auto& entry : *entries) {
        if (auto r = add_entry(store, entry, password, out.keys); !r) {
            out.skipped.push_back(entry.cert_file.string() + ": " + r.error().message());
            if (!first) first = r.error();
        }
    }
    if (!out.keys.empty()) return out;
    if (first) return *first;
    return permanent_error(Errc::no_digital_id, "the keystore " + store.dir().string() + " holds no certificate");
}

}  // namespace ribbon
