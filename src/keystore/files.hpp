// files.hpp — the keystore's file rules: address names, key ids, safe
// modes and owners (the keystore's StrictModes), atomic writes. Private to
// the keystore layer.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "ribbon/error.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon::ks {

// Mode bits a key file must not have (group/other read, write or
// execute): OpenDKIM's RequireSafeKeys, applied to S/MIME keys.
constexpr unsigned kUnsafeKeyBits = 0077;
// Mode bits a keystore directory must not have (group/other write): who
// can write in a directory can plant a key or a certificate there, as
// OpenSSH's StrictModes and OpenDKIM's safe-file checks say.
constexpr unsigned kUnsafeDirBits = 0022;

// The key id that names a key file: hex of the first 160 bits of SHA-256
// over the DER SubjectPublicKeyInfo, so a certificate finds its key by its
// public key alone (the idea of RFC 7093 §2 applied to the whole SPKI).
std::string key_id(EVP_PKEY* public_key);

// Private key bytes that are wiped when they go out of scope.
struct SecretString {
    std::string bytes;
    SecretString() = default;
    SecretString(const SecretString&) = delete;
    SecretString& operator=(const SecretString&) = delete;
    ~SecretString() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

// Reads a key file of `store` (a <key-id>.key, a token key's .key.uri,
// the dev CA's key) into `out` — the one way the keystore reads a key, so
// signing, `keys check`, install and the dev CA cannot disagree about it
// (docs/KEYSTORE.md "Safe keys"):
//  - a symbolic link is followed only when the file it leads to is inside
//    the keystore (its real path under the keystore's real path);
//  - every directory from that file's up to the keystore itself must not
//    be writable by group or others and must belong to root or to the
//    keystore's user (the effective user; when ribbon runs as root, the
//    keystore directory's owner);
//  - the file itself must be a regular file of root or that user with no
//    group or other permission bit.
// Any of these failing is Errc::unsafe_key_permissions and nothing of the
// key is read; a missing file is io_error.
Result<void> read_key_file(const Keystore& store, const std::filesystem::path& key_file,
                           SecretString& out);

// Creates `dir` (and parents) with mode 0700 where missing: directories
// that hold keys are no one else's business.
Result<void> make_private_dir(const std::filesystem::path& dir);

// Writes `bytes` to `path` with `mode` via a temporary file in the same
// directory, fsync and rename, so readers never see half a key. With
// `exclusive`, an existing `path` is an error (Errc::io_error).
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view bytes,
                               unsigned mode, bool exclusive);

// A key kept in a PKCS#11 token is recorded as <key-id>.key.uri, holding
// its RFC 7512 URI. Every key, in a file or a token, has its public key
// next to it as <key-id>.pub.pem, so a certificate can be matched to the
// key without the token or the passphrase of an encrypted key file
// (docs/KEYSTORE.md).
inline constexpr std::string_view kTokenKeySuffix = ".key.uri";
inline constexpr std::string_view kPublicKeySuffix = ".pub.pem";

// The SubjectPublicKeyInfo of `key` (a private or a public key) as PEM,
// the content of a <key-id>.pub.pem.
Result<std::string> public_key_pem(EVP_PKEY* key);

// Files a checked Digital ID for `address` (Keystore::add's rules after
// loading): the key as <key-id>.key unless `key_pem` is empty (a key
// filed before its certificate, in a file or a token), its public key as
// <key-id>.pub.pem where missing, the chain, then the certificate.
Result<std::filesystem::path> file_digital_id(const Keystore& store, std::string_view address,
                                              const DigitalId& id, std::string_view key_pem,
                                              std::string_view cert_pem,
                                              std::string_view chain_pem);

// The Digital ID of a keystore entry whose key is in a token: its URI file
// read (with read_key_file's rules), the key loaded through the pkcs11
// engine. Token errors are Errc::token_unavailable (transient).
Result<DigitalId> load_token_digital_id(const Keystore& store, const KeystoreEntry& entry);

}  // namespace ribbon::ks
