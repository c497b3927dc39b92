// fuzz_doctor.cpp — libFuzzer target for ribbon::diagnose(), what `ribbon
// doctor` runs on a received message: MIME, base64, CMS, the byte-level
// walk of the signed part and every undone change are attacker-controlled.
// Any verdict or Error is a documented outcome; the point is that no input
// crashes, leaks, reads out of bounds or hits undefined behaviour.
//
// The input is split at the first "\n=====\n" into the received message and
// ORIGINAL, so the comparison is fuzzed too. The search budget is smaller
// than the command's, to keep each run well under libFuzzer's timeout.
#include <cstdint>
#include <optional>
#include <string_view>

#include "ribbon/doctor.hpp"

namespace {
constexpr std::size_t kMaxInput = 1024 * 1024;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > kMaxInput) return -1;  // -1: keep out of the corpus
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string_view received = input;
    std::optional<std::string_view> original;
    const std::size_t split = input.find("\n=====\n");
    if (split != std::string_view::npos) {
        received = input.substr(0, split + 1);
        original = input.substr(split + 7);
    }
    ribbon::DoctorOptions options;
    options.max_digest_bytes = 16 * 1024 * 1024;
    auto report = ribbon::diagnose(received, original, options);
    // Touch the result so that a dangling or uninitialised field shows up
    // under the sanitizers.
    std::size_t n = 0;
    if (report) {
        n += report->detail.size() + report->findings.size() + report->digest_algorithm.size();
        for (const auto& f : report->findings) n += f.evidence.size() + f.advice.size();
        for (const auto& c : report->outer_header_changes) n += c.field.size() + c.received.size();
    } else {
        n += report.error().message().size();
    }
    return n == static_cast<std::size_t>(-1) ? 1 : 0;
}
