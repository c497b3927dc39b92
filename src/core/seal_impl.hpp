// seal_impl.hpp — what a SealRecipient holds (ribbon/seal.hpp): the parsed
// certificate, owned once, and the facts the sealer reads. Private to core.
#pragma once

#include "core/openssl_util.hpp"
#include "ribbon/seal.hpp"

namespace ribbon {

class SealRecipient::Impl {
public:
    ossl::X509Ptr cert;
    CertificateInfo info;
    SealKeyType key_type = SealKeyType::rsa;
    std::vector<std::string> capabilities;
};

}  // namespace ribbon
