// fuzz_verify.cpp — libFuzzer target for ribbon::Verifier::verify().
//
// The input is an untrusted message, exactly what `ribbon verify` reads:
// MIME structure, base64, CMS, certificates, all attacker-controlled. Every
// verdict and every Error is a documented outcome here; the point is that
// no input crashes, leaks, reads out of bounds or hits undefined behaviour.
//
// The trust store holds the self-signed certificate that signed the seeds in
// fuzz/corpus/verify (its private key was thrown away after signing them),
// so mutations of the seeds reach the checks after the chain: the From
// address, the Date rule and the RFC 9788 header comparison. The same entry
// point walks every signature layer (a signed seed's content mutated into
// another signature, up to 8 layers) and searches multipart bodies for
// signed parts, so those paths need no entry of their own.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string_view>

#include "ribbon/io.hpp"
#include "ribbon/verifier.hpp"

namespace {

constexpr std::size_t kMaxInput = 1024 * 1024;

// CN=ribbon fuzz seed signer, P-256, SAN email:no-reply@bank.example,
// keyUsage digitalSignature, extendedKeyUsage emailProtection, valid
// 2026-11-23 .. 2126-10-30. Public: a certificate, not a key.
constexpr std::string_view kSeedSignerPem = R"(-----BEGIN CERTIFICATE-----
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

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_verify: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// TrustStore::from_files() reads paths: write the certificate to a private
// temporary file, load it, and remove it again at once.
ribbon::TrustStore make_trust_store() {
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

// Fixed, inside the seed signer's validity, so reproducers do not depend
// on the day they are run.
const ribbon::VerifyOptions kOptions{std::chrono::system_clock::from_time_t(1800000000)};  // 2027-01-15

std::optional<ribbon::Verifier> g_verifier;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    g_verifier.emplace(make_trust_store());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > kMaxInput) return -1;  // -1: keep out of the corpus
    const std::string_view message(reinterpret_cast<const char*>(data), size);
    auto result = g_verifier->verify(ribbon::MessageInput::from_memory(message), kOptions);
    // Any verdict or error is fine; touch the result so that a dangling or
    // uninitialised field would show up under the sanitizers.
    if (result) {
        std::size_t n = result->detail.size() + result->from_addresses.size();
        for (const auto& h : result->protected_headers) n += h.name.size() + h.outer.size() + h.inner.size();
        if (result->signer) n += result->signer->certificate.subject.size() + result->signer->chain.size();
        for (const auto& l : result->layers) {
            n += l.part.size() + l.detail.size() + l.warnings.size();
            if (l.signer) n += l.signer->spki_sha256.size() + l.signer->certificate_sha256.size();
        }
        for (const auto& u : result->coverage.unsigned_parts) n += u.part.size() + u.content_type.size();
        n += result->coverage.description.size() + result->message_id.size() + result->content_sha256.size();
        if (n == static_cast<std::size_t>(-1)) die("impossible");
    } else if (result.error().message().empty()) {
        die("an Error without a message", ribbon::errc_name(result.error().code()));
    }
    return 0;
}
