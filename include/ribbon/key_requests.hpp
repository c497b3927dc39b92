// ribbon/key_requests.hpp — the CA request life cycle of a Digital ID:
// a new key and a PKCS#10 certificate request (RFC 2986) to hand to a CA,
// filing the certificate the CA sends back next to its key, and the yearly
// renewal. Files and flow: docs/KEYSTORE.md, "Requests, installing and
// renewal".
//
// Like Keystore, these functions read and write the keystore directory on
// each call; every file is written under a temporary name and renamed into
// place (files.hpp), so a concurrent reader never sees half a file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ribbon/digital_id.hpp"
#include "ribbon/error.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon {

struct KeyRequestOptions {
    NewKeyType type = NewKeyType::rsa3072;
    // The subject's organizationName (O=); empty: none.
    std::string organisation;
    // Non-empty: generate the key in a PKCS#11 token, named by this RFC 7512
    // URI (object= label, optional id=), instead of in a key file.
    std::string pkcs11_uri;
    // The token's user PIN (from --pin-file); unset: $RIBBON_PKCS11_PIN or
    // the URI's pin-value / pin-source.
    std::optional<std::string> pin;
};

// A key filed in the keystore and the request for its certificate.
struct KeyRequest {
    // <keystore>/<address>/<key-id>.key, 0600; for a token key
    // <key-id>.key.uri, its URI (the key itself stays in the token)
    std::filesystem::path key_file;
    std::filesystem::path csr_file;  // <keystore>/<address>/<key-id>.csr, 0644, PEM
};

// A new key and a CSR signed with it (proof of possession, RFC 2986 §3):
// subject CN=address (and O=organisation), an extensionRequest
// (RFC 2985 §5.4.2) asking for subjectAltName rfc822Name address
// (RFC 8550 §4.4.2), keyUsage digitalSignature (§4.4.3) and
// extendedKeyUsage emailProtection (§4.4.4). Errors: an address unfit for
// a directory name → malformed_message; io_error; crypto_failure; a token
// that is missing or refuses the PIN → token_unavailable (transient).
Result<KeyRequest> generate_key_request(const Keystore& store, std::string_view address,
                                        const KeyRequestOptions& options = {});

// The yearly renewal: like generate_key_request, but only while `address`
// has a certificate valid at `now` (Keystore::digital_id_for's errors
// otherwise, the message saying that renewal needs one).
Result<KeyRequest> renew_key_request(const Keystore& store, std::string_view address,
                                     TimePoint now, const KeyRequestOptions& options = {});

// Files the CA-issued certificate in `cert_file` (PEM; with its chain from
// `chain_file` when given) next to the keystore key whose public key it
// carries, with Keystore::add's checks, and removes that key's .csr.
// The key is matched by its recorded public key (<key-id>.pub.pem, else
// its .csr), so an encrypted key file needs no passphrase and a token key
// no token; only a key with neither is read, `password` decrypting it.
// Returns the certificate's path in the keystore. Errors, each naming the
// file: unreadable or not a PEM certificate → bad_certificate (io_error
// when it cannot be read); no key in the keystore for its public key →
// no_matching_key; without digitalSignature or emailProtection →
// certificate_usage; not for the address its key is filed under →
// from_not_in_certificate; key readable by others →
// unsafe_key_permissions; an encrypted key without a public key on record
// and no or a wrong `password` → wrong_password.
Result<std::filesystem::path> install_certificate(
    const Keystore& store, const std::filesystem::path& cert_file,
    const std::optional<std::filesystem::path>& chain_file = std::nullopt,
    std::string_view password = {});

}  // namespace ribbon
