// versions.cpp — see ribbon/versions.hpp.
#include "ribbon/versions.hpp"

#include <gmime/gmime.h>
#include <openssl/crypto.h>

namespace ribbon {

std::string openssl_runtime_version() { return OpenSSL_version(OPENSSL_VERSION); }

std::string gmime_runtime_version() {
    // The library's own variables (gmime/gmime-version.h), not the
    // GMIME_*_VERSION macros of the headers built against.
    return std::to_string(gmime_major_version) + "." + std::to_string(gmime_minor_version) + "." +
           std::to_string(gmime_micro_version);
}

}  // namespace ribbon
