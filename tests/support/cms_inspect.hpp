// Reads a CMS SignedData (DER) with OpenSSL's C API, for assertions.
#pragma once

#include <ctime>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace ribbon::test {

struct CmsInfo {
    std::string error;            // non-empty if not a parsable SignedData
    bool detached = false;
    int signer_count = 0;
    int digest_nid = 0;           // signer 0
    int signature_nid = 0;        // signer 0 (may be a *WithSHA256 or the key type)
    int signer_key_type = 0;      // EVP_PKEY_RSA / EVP_PKEY_EC of the signer certificate
    std::set<int> signed_attrs;   // NIDs
    std::time_t signing_time = -1;
    std::vector<int> capabilities;  // NIDs in sMIMECapabilities, in order
    std::vector<std::string> certificates_der;
    std::string econtent;         // encapsulated content (opaque)
};

CmsInfo inspect_cms(const std::string& der);

// DER of the first certificate in a PEM file.
std::string cert_der(const std::filesystem::path& pem);

}  // namespace ribbon::test
