// verify_judge.cpp — see verify_judge.hpp.
#include "core/verify_judge.hpp"

#include <chrono>
#include <cstdlib>

#include "core/outer_headers.hpp"
#include "core/verify_mime.hpp"

namespace ribbon::verify {

namespace {

std::string describe_mismatch(const std::vector<ProtectedHeader>& headers) {
    std::string names;
    for (const auto& h : headers) {
        if (h.matches) continue;
        if (!names.empty()) names += ", ";
        names += h.name;
    }
    return "the outer " + names +
           " header differs from the protected copy inside the signature "
           "(RFC 9788): it was changed after signing";
}

// "6 h 0 min", "59 min", "3 d 2 h": a difference people can read.
std::string duration_text(std::int64_t seconds) {
    const std::int64_t minutes = seconds / 60;
    if (minutes < 60) return std::to_string(minutes) + " min";
    const std::int64_t hours = minutes / 60;
    if (hours < 48) return std::to_string(hours) + " h " + std::to_string(minutes % 60) + " min";
    return std::to_string(hours / 24) + " d " + std::to_string(hours % 24) + " h";
}

}  // namespace

Check check_date(const std::optional<TimePoint>& signing_time,
                 const std::optional<std::string>& date) {
    if (!signing_time) return {};
    const std::string signed_at = format_utc(*signing_time);
    if (!date) {
        return {VerifyReason::date_mismatch,
                "the message has no Date header to compare with the signer's signingTime (" +
                    signed_at + ")"};
    }
    const std::string value = normalise_header_value(*date);
    const std::optional<std::int64_t> seconds = outer::date_seconds(value);
    if (!seconds) {
        return {VerifyReason::date_mismatch, "the Date header (" + value +
                                                 ") cannot be read to compare with the "
                                                 "signer's signingTime (" +
                                                 signed_at + ")"};
    }
    const std::int64_t signed_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(signing_time->time_since_epoch()).count();
    const std::int64_t skew = *seconds - signed_seconds;
    if (std::llabs(skew) <= kMaxDateSkewSeconds) return {};
    return {VerifyReason::date_mismatch,
            "the Date header (" + value + ") is " + duration_text(std::llabs(skew)) +
                (skew > 0 ? " after" : " before") + " the signer's signingTime (" + signed_at +
                "); more than an hour apart, the message may have been re-dated"};
}

void judge_layer(const SignerExam& exam, const LayerFacts& facts, SignatureLayer& layer) {
    bool headers_match = true;
    for (const auto& h : facts.protected_headers) headers_match = headers_match && h.matches;
    const Check* failed = nullptr;
    Check no_signer{VerifyReason::untrusted, "no signer certificate could be identified"};
    Check from{VerifyReason::from_not_in_certificate,
               facts.from_present
                   ? "the From address is not in the signer's certificate (RFC 8550 §3)"
                   : "the message has no From address to check against the certificate"};
    Check headers{VerifyReason::protected_header_mismatch,
                  headers_match ? std::string() : describe_mismatch(facts.protected_headers)};
    Check strength{exam.strength.reason, exam.strength.detail};

    if (!exam.signature.ok() && !exam.strength.uncomputable) {
        failed = &exam.signature;
    } else if (!strength.ok()) {
        failed = &strength;
    } else if (!exam.signer) {
        failed = &no_signer;
    } else if (!exam.chain.ok()) {
        failed = &exam.chain;
    } else if (!facts.from_in_certificate) {
        failed = &from;
    } else if (!facts.date.ok()) {
        failed = &facts.date;
    } else if (!headers_match) {
        failed = &headers;
    }
    if (failed != nullptr) {
        layer.verdict = Verdict::invalid;
        layer.reason = failed->reason;
        layer.detail = failed->detail;
        return;
    }
    layer.verdict = Verdict::valid;
    layer.reason = VerifyReason::none;
    layer.detail = "signature, certificate chain and From address verified";
    if (facts.header_protection) layer.detail += "; protected headers match";
}

std::string describe_coverage(const Coverage& coverage, std::size_t top_parts) {
    if (coverage.whole) return "the whole message";
    if (coverage.signed_parts.empty()) return "nothing is signed";
    std::string out;
    for (const auto& part : coverage.signed_parts) {
        out += out.empty() ? "MIME part " : ", part ";
        out += part;
    }
    out += " of " + std::to_string(top_parts);
    for (const auto& u : coverage.unsigned_parts) {
        out += "; part " + u.part + ", " + u.content_type + ", " + std::to_string(u.size) +
               (u.size == 1 ? " byte" : " bytes") + ", is not signed";
    }
    return out;
}

}  // namespace ribbon::verify
