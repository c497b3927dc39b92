// files.hpp — the keystore's file rules: address names, key ids, safe
// modes, atomic writes. Internal to libribbon's keystore; core never
// includes it.
#pragma once

#include <openssl/evp.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "ribbon/error.hpp"

namespace ribbon::ks {

// Mode bits a key file must not have (group/other read, write or
// execute): OpenDKIM's RequireSafeKeys, applied to S/MIME keys.
constexpr unsigned kUnsafeKeyBits = 0077;

// Checks that `address` is an addr-spec that is safe as one directory
// name (no '/', no leading '.', no control characters or spaces, exactly
// one '@' with text on both sides, at most 254 octets — RFC 5321 §4.5.3.1.3)
// and returns it in lower case, the form the keystore stores it under.
Result<std::string> normalise_address(std::string_view address);

// The key id that names a key file: hex of the first 160 bits of SHA-256
// over the DER SubjectPublicKeyInfo, so a certificate finds its key by its
// public key alone (the idea of RFC 7093 §2 applied to the whole SPKI).
std::string key_id(EVP_PKEY* public_key);

// Errc::unsafe_key_permissions if `key_file` has any of kUnsafeKeyBits;
// io_error if it cannot be examined.
Result<void> check_key_file(const std::filesystem::path& key_file);

// Creates `dir` (and parents) with mode 0700 where missing: directories
// that hold keys are no one else's business.
Result<void> make_private_dir(const std::filesystem::path& dir);

// Writes `bytes` to `path` with `mode` via a temporary file in the same
// directory, fsync and rename, so readers never see half a key. With
// `exclusive`, an existing `path` is an error (Errc::io_error).
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view bytes,
                               unsigned mode, bool exclusive);

}  // namespace ribbon::ks
