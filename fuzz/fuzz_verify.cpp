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
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>

#include "ribbon/io.hpp"
#include "ribbon/verifier.hpp"
#include "seed_trust.hpp"

namespace {

using ribbon_fuzz::die;
using ribbon_fuzz::make_trust_store;

constexpr std::size_t kMaxInput = 1024 * 1024;

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
