// continuity.cpp — judge_continuity(): the verdict on a signer's key from
// what was seen of the address's keys before (ribbon/continuity.hpp). Pure:
// no clock, no database; the store supplies the history and the time.
#include "ribbon/continuity.hpp"

#include <algorithm>
#include <ctime>

namespace ribbon {

namespace {

// "2026-03-01" (UTC): days are what people compare keys by.
std::string day(UnixTime t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    char buf[32];
    if (gmtime_r(&tt, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm) == 0)
        return std::to_string(t);
    return buf;
}

std::string times(std::uint64_t n) { return n == 1 ? "once" : std::to_string(n) + " times"; }

// "seen 57 times since 2026-03-01, last on 2026-12-06"
std::string seen(const KeyHistory& k) {
    return "seen " + times(k.messages) + " since " + day(k.first_seen) + ", last on " +
           day(k.last_seen);
}

// The other key seen most recently; ties by more messages, then by the
// smaller digest, so the answer does not depend on the history's order.
const KeyHistory* previous_key(const std::vector<KeyHistory>& history, const std::string& own) {
    const KeyHistory* best = nullptr;
    for (const KeyHistory& k : history) {
        if (k.spki_sha256 == own) continue;
        if (!best || k.last_seen > best->last_seen ||
            (k.last_seen == best->last_seen &&
             (k.messages > best->messages ||
              (k.messages == best->messages && k.spki_sha256 < best->spki_sha256)))) {
            best = &k;
        }
    }
    return best;
}

// The previous key's certificate that lasts longest: a key re-certified
// with a later notAfter is not near expiry because its old certificate is.
const SeenCertificate* longest_lived(const KeyHistory& k) {
    const SeenCertificate* best = nullptr;
    for (const SeenCertificate& c : k.certificates) {
        if (!best || c.not_after > best->not_after) best = &c;
    }
    return best;
}

// Why a new key is not a renewal, for the warning's sentence; "" when it is.
std::string not_a_renewal(const SeenCertificate* before, const SeenCertificate& now_cert,
                          UnixTime now) {
    if (!before) return "no certificate of it was kept";
    if (before->not_after > now + kRenewalWindow) {
        return "its certificate is valid until " + day(before->not_after);
    }
    if (before->issuer != now_cert.issuer) return "the new certificate is from another issuer";
    if (before->subject != now_cert.subject) return "the new certificate names another subject";
    return "";
}

}  // namespace

std::string_view continuity_name(Continuity c) noexcept {
    switch (c) {
        case Continuity::first:
            return "first";
        case Continuity::known:
            return "known";
        case Continuity::renewed:
            return "renewed";
        case Continuity::changed:
            return "changed";
    }
    return "changed";
}

ContinuityReport judge_continuity(const KeySighting& sighting,
                                  const std::vector<KeyHistory>& history, UnixTime now) {
    ContinuityReport report;
    const auto own = std::find_if(history.begin(), history.end(), [&](const KeyHistory& k) {
        return k.spki_sha256 == sighting.spki_sha256;
    });
    if (own != history.end()) {
        report.verdict = Continuity::known;
        report.key = *own;
        // The history before this message, while the store's key.messages
        // counts it too: "before" keeps the sentence and the number apart.
        report.detail = "Known key: seen " + times(own->messages) + " before, since " + day(own->first_seen) +
                        ", last on " + day(own->last_seen) + ".";
        return report;
    }
    report.key.spki_sha256 = sighting.spki_sha256;
    const KeyHistory* previous = previous_key(history, sighting.spki_sha256);
    if (!previous) {
        report.verdict = Continuity::first;
        report.detail = "First key seen for this address: no signed message from it was seen before.";
        return report;
    }
    report.previous = *previous;
    const SeenCertificate* before = longest_lived(*previous);
    const std::string why_not = not_a_renewal(before, sighting.certificate, now);
    if (why_not.empty()) {
        report.verdict = Continuity::renewed;
        report.detail = "Renewed key: a new certificate from the same issuer for the same subject; "
                        "the previous key was " +
                        seen(*previous) + ", and its certificate " +
                        (before->not_after < now ? "expired" : "expires") + " on " +
                        day(before->not_after) + ".";
        return report;
    }
    report.verdict = Continuity::changed;
    report.detail = "Changed key: this address signed with another key before (" + seen(*previous) +
                    "), and " + why_not + ".";
    return report;
}

}  // namespace ribbon
