// openssl_objects.hpp — a DigitalId and a TrustStore seen as OpenSSL
// objects, for the keystore: building a DigitalId around a key it loaded
// itself (a token key, or only the public key when filing a certificate),
// reading PEM certificates, key ids of a loaded key, and the chain check
// against a TrustStore.
//
// Core exports this header, not the Impl classes behind DigitalId and
// TrustStore (core/digital_id_impl.hpp, core/trust_store_impl.hpp), so what
// a loaded Digital ID holds can change inside core alone. Keeps OpenSSL
// types out of include/ribbon/.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/openssl_util.hpp"
#include "ribbon/digital_id.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon {

// A DigitalId around a key that is already loaded — a token key from the
// pkcs11 engine (keystore/pkcs11.hpp) with the engine's `token_lock`, or
// only the public key when filing a certificate without reading the key —
// with the same checks as DigitalId::from_pem.
Result<DigitalId> digital_id_from_key(ossl::PkeyPtr key, std::string_view cert_pem,
                                      std::string_view chain_pem,
                                      std::shared_ptr<std::mutex> token_lock = nullptr);

// A PEM private key, decrypted with `password` when it is encrypted:
// Errc::wrong_password (none given, or the wrong one) or Errc::bad_key.
Result<ossl::PkeyPtr> parse_private_key(std::string_view pem, std::string_view password);

// Every certificate in a PEM text, in order; damage is Errc::bad_certificate
// naming `what` ("chain file").
Result<std::vector<ossl::X509Ptr>> parse_pem_certificates(std::string_view pem, const char* what);

// The Digital ID's key, borrowed for as long as `id` lives: for reading its
// public half (key ids, <key-id>.pub.pem), never for signing, which goes
// through Signer and the token lock.
EVP_PKEY* digital_id_key(const DigitalId& id) noexcept;

// Whether the key is in a PKCS#11 token (every use holds the engine's
// lock, keystore/pkcs11_engine.cpp) rather than in a key file.
bool digital_id_in_token(const DigitalId& id) noexcept;

// The roots a TrustStore verifies against, borrowed and only ever read
// (OpenSSL 3 locks the store's own cache), and what they are for messages
// ("/etc/ssl/certs" or the --ca file names).
X509_STORE* trust_store_roots(const TrustStore& trust) noexcept;
const std::string& trust_store_description(const TrustStore& trust) noexcept;

}  // namespace ribbon
