// seed_trust.hpp — the trust store of fuzz_verify and fuzz_inbound: the
// self-signed certificate that signed the seeds in fuzz/corpus/verify (its
// private key was thrown away after signing them), so that mutations of
// those seeds reach the checks after the chain.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "ribbon/verifier.hpp"

namespace ribbon_fuzz {

// CN=ribbon fuzz seed signer, P-256, SAN email:no-reply@bank.example,
// keyUsage digitalSignature, extendedKeyUsage emailProtection, valid
// 2026-11-23 .. 2126-10-30. Public: a certificate, not a key.
inline constexpr std::string_view kSeedSignerPem = R"(-----BEGIN CERTIFICATE-----
MIIBvjCCAWSgAwIBAgIUWWN+1myE4RBcnU+Czy4yeEQZM/UwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXcmliYm9uIGZ1enogc2VlZCBzaWduZXIwIBcNMjYxMTIzMDQ0
MzE2WhgPMjEyNjEwMzAwNDQzMTZaMCIxIDAeBgNVBAMMF3JpYmJvbiBmdXp6IHNl
ZWQgc2lnbmVyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEiieAf4WiyEiMcD84
cVtp1kMjulGpny59FRRAEYcnF9pdKfhSulrsDpVD1Oeopy0jsu0YiiYMDQ/xBfuV
/GVU9KN2MHQwDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAww
CgYIKwYBBQUHAwQwIAYDVR0RBBkwF4EVbm8tcmVwbHlAYmFuay5leGFtcGxlMB0G
A1UdDgQWBBQn/A5HFsZIxndjLgS8cLBDeCdHBDAKBggqhkjOPQQDAgNIADBFAiBP
cVDZ3ZGyzYEJSxu7/Wjyz21KtrI4qNCSoYnUjZNncAIhAP15PGRtq7wy9YxNiEY5
cEaKqTT2mgT56D05LWAAlQiB
-----END CERTIFICATE-----
)";

[[noreturn]] inline void die(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// TrustStore::from_files() reads paths: write the certificate to a private
// temporary file, load it, and remove it again at once.
inline ribbon::TrustStore make_trust_store() {
    const char* dir = std::getenv("TMPDIR");
    std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/ribbon-fuzz-ca.XXXXXX";
    int fd = ::mkstemp(path.data());
    if (fd < 0) die("cannot create a temporary CA file");
    bool written = ::write(fd, kSeedSignerPem.data(), kSeedSignerPem.size()) ==
                   static_cast<ssize_t>(kSeedSignerPem.size());
    ::close(fd);
    auto trust = written ? ribbon::TrustStore::from_files({path})
                         : ribbon::Result<ribbon::TrustStore>(ribbon::internal_error("short write"));
    std::filesystem::remove(path);
    if (!trust) die("TrustStore::from_files failed", trust.error().message());
    return std::move(*trust);
}

}  // namespace ribbon_fuzz
