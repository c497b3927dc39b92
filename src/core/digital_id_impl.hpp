// digital_id_impl.hpp — what a loaded DigitalId holds. Internal.
#pragma once

#include <string>
#include <vector>

#include "core/openssl_util.hpp"
#include "ribbon/digital_id.hpp"
#include "ribbon/io.hpp"

namespace ribbon {

class DigitalId::Impl {
public:
    ossl::PkeyPtr key;
    ossl::X509Ptr cert;
    std::vector<ossl::X509Ptr> chain;  // intermediates only, leaf-most first
    CertificateInfo info;
    std::vector<std::string> addresses_lower;
};

// A DigitalId around a key that is already loaded — a token key from the
// pkcs11 engine (keystore/pkcs11.hpp), or only the public key when filing a
// certificate for a token key — with the same checks as DigitalId::from_pem.
// Keeps OpenSSL types out of include/ribbon/.
Result<DigitalId> digital_id_from_key(ossl::PkeyPtr key, std::string_view cert_pem,
                                      std::string_view chain_pem);

// Every certificate in a PEM text, in order; damage is Errc::bad_certificate
// naming `what` ("chain file").
Result<std::vector<ossl::X509Ptr>> parse_pem_certificates(std::string_view pem, const char* what);

}  // namespace ribbon
