// decrypt_cms.hpp — the CMS half of opening sealed mail: which of our
// certificates a sealed object is for, whether OpenSSL can open it, and
// the decryption itself (ribbon/decrypt.hpp says what each error means).
#pragma once

#include <string>
#include <string_view>

#include "ribbon/decrypt.hpp"

namespace ribbon::sealed {

struct Decrypted {
    std::string content;  // the decrypted bytes, exactly
    bool auth_enveloped = false;
    std::string content_encryption;
    std::string key_management;
    std::string recipient;
};

// `cms`: a ContentInfo in DER or BER, or in PEM ("-----BEGIN CMS-----" or
// PKCS7) when `pem`. Errors: damaged (not a CMS object, or it cannot be
// decrypted), not_sealed (another CMS content type: signed-data, ...),
// not_for_us, unsupported_algorithm.
Result<Decrypted> decrypt_cms(std::string_view cms, bool pem, const DecryptionKeys& keys);

// The encapsulated content of an opaque SignedData (RFC 5652 §5.2), for a
// signature made around a sealed entity: damaged when it is not one.
Result<std::string> signed_content(std::string_view der);

}  // namespace ribbon::sealed
