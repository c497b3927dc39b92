// verify_judge.hpp — what the checks of one signature layer add up to (the
// first failing check, in the order a reader should hear of them, is the
// reason), the Date-versus-signingTime rule, and the sentence that says
// what the signatures of a message cover.
//
// Pure functions over values; private to core, called by verifier.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/verify_signer.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon::verify {

// More than this between the message's Date and a signer's signingTime is
// date_mismatch: Thunderbird's limit (nsCMS, mimemcms: a difference over
// 3600 s is VERIFY_TIME_MISMATCH; docs/FIELD-NOTES.md).
inline constexpr std::int64_t kMaxDateSkewSeconds = 3600;

// The rule itself: no signingTime, no check; otherwise the Date field
// (`date`, its raw value, nullopt when the message has none) must be
// readable and within kMaxDateSkewSeconds of it.
Check check_date(const std::optional<TimePoint>& signing_time,
                 const std::optional<std::string>& date);

// What one layer's judge needs besides its SignerExam.
struct LayerFacts {
    bool from_present = false;
    bool from_in_certificate = false;
    Check date;  // check_date()'s outcome for this layer's signer
    std::vector<ProtectedHeader> protected_headers;
    bool header_protection = false;
};

// The layer's verdict (valid or invalid), reason and detail. Order: the
// signature (unless its digest cannot be computed, then the policy first),
// the algorithm policy, a signer at all, the chain, the From address (RFC
// 8550 §3), Date versus signingTime, the protected headers (RFC 9788).
void judge_layer(const SignerExam& exam, const LayerFacts& facts, SignatureLayer& layer);

// "the whole message", or "MIME part 1 of 2; part 2, text/plain, 214
// bytes, is not signed"; `top_parts` is the number of parts of the
// message's top-level multipart.
std::string describe_coverage(const Coverage& coverage, std::size_t top_parts);

}  // namespace ribbon::verify
