// idn.cpp — IDNA conversions and UTS #39 skeletons by ICU (core/idn.hpp).
//
// Why ICU (libicu-dev) and not libidn2: ribbon needs two things, the
// IDNA conversion (UTS #46 on top of IDNA2008, RFC 5891) and the UTS #39
// spoof data (skeletons, restriction levels: the policy Chromium's IDN
// display follows). libidn2 does only the first; ICU does both, from the
// same Unicode data, and is already on every Debian system. Neither table
// is written by hand here.
#include "core/idn.hpp"

#include <unicode/uidna.h>
#include <unicode/uspoof.h>

#include "base/ascii.hpp"

namespace ribbon::idn {

namespace {

// UTS #46 nontransitional processing (ß, ς, ZWJ/ZWNJ kept, as IDNA2008
// and every current browser do), with the IDNA2008 Bidi (RFC 5893) and
// CONTEXTJ (RFC 5892 Appendix A) rules. STD3 rules are off: mail domains
// are host names, but a certificate's or header's odd ASCII label is
// compared as it is rather than refused.
const UIDNA* idna() {
    static const UIDNA* const instance = [] {
        UErrorCode status = U_ZERO_ERROR;
        UIDNA* u =
            uidna_openUTS46(UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE |
                                UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ,
                            &status);
        return U_SUCCESS(status) ? u : nullptr;
    }();
    return instance;
}

// Skeletons do not depend on the checks a checker is set to make.
const USpoofChecker* skeleton_checker() {
    static const USpoofChecker* const instance = []() -> USpoofChecker* {
        UErrorCode status = U_ZERO_ERROR;
        USpoofChecker* sc = uspoof_open(&status);
        if (U_FAILURE(status)) {
            uspoof_close(sc);
            return nullptr;
        }
        return sc;
    }();
    return instance;
}

using Convert = int32_t (*)(const UIDNA*, const char*, int32_t, char*, int32_t, UIDNAInfo*,
                            UErrorCode*);

std::optional<std::string> convert(Convert fn, std::string_view domain) {
    const UIDNA* u = idna();
    if (u == nullptr || domain.empty() || domain.size() > kMaxDomainBytes) return std::nullopt;
    char out[kMaxDomainBytes];
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    UErrorCode status = U_ZERO_ERROR;
    const int32_t n = fn(u, domain.data(), static_cast<int32_t>(domain.size()), out,
                         kMaxDomainBytes, &info, &status);
    if (U_FAILURE(status) || info.errors != 0 || n <= 0 ||
        static_cast<std::size_t>(n) > kMaxDomainBytes) {
        return std::nullopt;
    }
    return std::string(out, static_cast<std::size_t>(n));
}

}  // namespace

bool is_ascii(std::string_view s) noexcept {
    for (unsigned char c : s) {
        if (c >= 0x80) return false;
    }
    return true;
}

bool has_ace_label(std::string_view lower_domain) noexcept {
    for (std::size_t pos = 0; pos <= lower_domain.size();) {
        if (lower_domain.substr(pos, 4) == "xn--") return true;
        const std::size_t dot = lower_domain.find('.', pos);
        if (dot == std::string_view::npos) break;
        pos = dot + 1;
    }
    return false;
}

std::optional<std::string> domain_ascii(std::string_view domain) {
    if (is_ascii(domain)) {
        std::string lower = ascii_lower(domain);
        // Plain ASCII host names need no IDNA processing: only A-labels
        // must be checked to decode (RFC 5891 §5.4).
        if (!has_ace_label(lower)) return lower;
    }
    auto ascii = convert(uidna_nameToASCII_UTF8, domain);
    if (!ascii) return std::nullopt;
    return ascii_lower(*ascii);
}

std::optional<std::string> domain_unicode(std::string_view ascii_domain) {
    return convert(uidna_nameToUnicodeUTF8, ascii_domain);
}

std::optional<std::string> skeleton(std::string_view text) {
    const USpoofChecker* sc = skeleton_checker();
    if (sc == nullptr || text.size() > kMaxDomainBytes) return std::nullopt;
    // confusables.txt maps one character to at most a few; four times the
    // input is ample, and a longer result is an error, not a truncation.
    char out[4 * kMaxDomainBytes];
    UErrorCode status = U_ZERO_ERROR;
    const int32_t n = uspoof_getSkeletonUTF8(sc, 0, text.data(), static_cast<int32_t>(text.size()),
                                             out, static_cast<int32_t>(sizeof out), &status);
    if (U_FAILURE(status) || n < 0 || static_cast<std::size_t>(n) > sizeof out) return std::nullopt;
    return std::string(out, static_cast<std::size_t>(n));
}

}  // namespace ribbon::idn
