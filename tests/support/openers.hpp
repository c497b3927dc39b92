// Independent openers of sealed (enveloped) S/MIME messages: OpenSSL, NSS
// cmsutil and gpgsm, each run as a separate program with the recipient's
// key, for the sealing tests (tests/core/seal_test.cpp,
// tests/e2e/seal_cli_test.cpp). Not thread-safe; throws std::runtime_error
// when a tool cannot be set up (not when it refuses to open).
#pragma once

#include <filesystem>
#include <string>

namespace ribbon::test {

struct OpenResult {
    bool ok = false;
    std::string content;  // the enveloped entity the tool wrote
    std::string details;  // what the tool said (for failure messages)
};

// The DER of a sealed message's base64 body; "" if there is none.
std::string sealed_der(const std::string& message);
// The header section of a message (up to and including the empty line).
std::string header_section(const std::string& message);
// `openssl cms -decrypt -binary` with the recipient's key.
OpenResult open_openssl(const std::string& message, const std::filesystem::path& key,
                        const std::filesystem::path& cert);
// `cmsutil -D` in a fresh NSS database holding the recipient's PKCS#12.
OpenResult open_nss(const std::string& message, const std::filesystem::path& key, const std::filesystem::path& cert);
// `gpgsm --decrypt` in a fresh GNUPGHOME holding the recipient's PKCS#12.
OpenResult open_gpgsm(const std::string& message, const std::filesystem::path& key,
                      const std::filesystem::path& cert);

}  // namespace ribbon::test
