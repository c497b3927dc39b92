// trust_store_impl.hpp — what a TrustStore holds. Private to core:
// other layers use core/openssl_objects.hpp.
//
// The X509_STORE is built once and then only read: OpenSSL 3 locks the
// store's own object cache, so any number of verifications may build chains
// against it concurrently (each with its own X509_STORE_CTX).
#pragma once

#include <string>
#include <vector>

#include "core/openssl_util.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon {

class TrustStore::Impl {
  public:
    ossl::X509StorePtr store;
    // The certificates loaded from explicit --ca files, also offered to CMS
    // as candidate signer certificates: some signers (gpgsm, KMail) embed no
    // certificate at all, and a receiver that was given the signer's own
    // certificate as trusted must still be able to find it. Empty for the
    // system store (its roots never sign mail).
    ossl::X509StackPtr anchors;
    // For messages: "/etc/ssl/certs" or the file names.
    std::string description;
};

}  // namespace ribbon
