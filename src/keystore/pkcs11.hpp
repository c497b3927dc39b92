// pkcs11.hpp — keys in a hardware token, named by RFC 7512 `pkcs11:` URIs.
// Private to the keystore layer (docs/KEYSTORE.md, "Keys in a token").
//
// Two halves: key generation talks PKCS#11 to the module directly
// (pkcs11.cpp), because libp11 0.4.12 (Debian 12) can only generate RSA keys;
// using a key goes through OpenSSL's pkcs11 engine (pkcs11_engine.cpp), which
// hands back an EVP_PKEY whose private half stays on the token.
//
// Every failure to reach the token or to log in to it is
// Errc::token_unavailable, transient: a token that is unplugged or refuses
// the PIN may be fine again later, so daemons tempfail instead of bouncing.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/openssl_util.hpp"
#include "ribbon/error.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon::p11 {

// The parts of an RFC 7512 URI ribbon uses, percent-decoded.
struct Uri {
    std::string token;        // path attribute "token" (CKA token label)
    std::string object;       // "object" (CKA_LABEL)
    std::string id;           // "id" (CKA_ID), raw bytes
    std::string pin_value;    // query "pin-value" (§2.3)
    std::string pin_source;   // query "pin-source" (§2.3): a file
    std::string module_path;  // query "module-path" (§2.3)
    // The URI to record and to give the engine: the path attributes only,
    // so no PIN is ever written to the keystore, plus pin-source.
    std::string recorded;
};

// Parses `text`; a URI without the "pkcs11:" scheme or without an object
// label or id is Errc::bad_key (permanent: the configuration is wrong).
Result<Uri> parse_uri(std::string_view text);

// The PKCS#11 module to load: $RIBBON_PKCS11_MODULE, else the URI's
// module-path, else p11-kit's proxy (which loads every module the system
// has registered); empty when none of these exists.
std::string module_path(const Uri& uri);

// The user PIN: `given` (from --pin-file) if set, else $RIBBON_PKCS11_PIN,
// else the URI's pin-value, else the file named by its pin-source. Never
// from argv, where `ps` shows it to every user.
Result<std::string> pin_for(const Uri& uri, const std::optional<std::string>& given = {});

// Generates a key pair of `type` on the token (CKA_TOKEN, private key
// CKA_SENSITIVE and not CKA_EXTRACTABLE: it never leaves the token),
// labelled and identified as the URI says (a random CKA_ID when the URI has
// none). Returns the URI to record, which names the new key by its id too.
Result<std::string> generate_on_token(const Uri& uri, NewKeyType type, const std::string& pin);

// The lock every use of the engine and of the keys it hands out holds
// (why one lock for all: pkcs11_engine.cpp). The keys' DigitalIds share it
// (DigitalId::Impl::token_lock). The functions below take it themselves.
std::shared_ptr<std::mutex> engine_lock();

// A key the engine handed out. Using it is the holder's business, under
// `lock`; freeing it takes `lock` by itself. Move `key` out (with `lock`)
// to hand it on, e.g. to a DigitalId.
struct TokenKey {
    TokenKey(std::shared_ptr<std::mutex> l, ossl::PkeyPtr k)
        : lock(std::move(l)), key(std::move(k)) {}
    TokenKey(TokenKey&&) noexcept = default;
    TokenKey& operator=(TokenKey&&) = delete;
    ~TokenKey();

    std::shared_ptr<std::mutex> lock;
    ossl::PkeyPtr key;
};

// The token key from the pkcs11 engine: signing with it is done by the
// token. `uri` is a recorded URI.
Result<TokenKey> load_private_key(const std::string& uri, const std::string& module,
                                  const std::string& pin);
// Its public key (for the CSR and for matching certificates).
Result<TokenKey> load_public_key(const std::string& uri, const std::string& module,
                                 const std::string& pin);

// Both of the above in one: the private key of a recorded URI, with the
// module and PIN found as module_path()/pin_for() say.
Result<TokenKey> load_recorded_key(const std::string& recorded_uri);

inline Error unavailable(std::string message) {
    return transient_error(Errc::token_unavailable, std::move(message));
}

}  // namespace ribbon::p11
