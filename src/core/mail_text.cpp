// mail_text.cpp — addresses compared in one form and shown safely, and
// terminal escaping, for every front end (ribbon/mail_text.hpp).
//
// The IDNA conversions and UTS #39 skeletons are core/idn.hpp's (ICU);
// the spoof checks that decide what is safe to show are here.
//
// Input is untrusted: header values and certificate names of any length and
// any bytes. ICU is given explicit lengths, and a failed conversion is a
// value (nullopt), never an exception or a crash.
#include "ribbon/mail_text.hpp"

#include <unicode/uset.h>
#include <unicode/utf8.h>
#include <unicode/uspoof.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>

#include "base/ascii.hpp"
#include "core/idn.hpp"
#include "core/openssl_util.hpp"

namespace ribbon {

namespace {

// UTS #39 §5.2 "highly restrictive": one script per label, or Latin with
// Han/Hiragana/Katakana, Han/Bopomofo or Han/Hangul, the combinations
// browsers accept; only characters recommended for identifiers (UTS #39
// Table 1); no invisible characters; no mixed digit sets.
const USpoofChecker* spoof_checker() {
    static const USpoofChecker* const instance = []() -> USpoofChecker* {
        UErrorCode status = U_ZERO_ERROR;
        USpoofChecker* sc = uspoof_open(&status);
        USet* allowed = uset_openEmpty();
        uset_addAll(allowed, uspoof_getRecommendedSet(&status));
        uset_addAll(allowed, uspoof_getInclusionSet(&status));
        uspoof_setAllowedChars(sc, allowed, &status);
        uset_close(allowed);
        uspoof_setRestrictionLevel(sc, USPOOF_HIGHLY_RESTRICTIVE);
        uspoof_setChecks(
            sc,
            USPOOF_RESTRICTION_LEVEL | USPOOF_CHAR_LIMIT | USPOOF_INVISIBLE | USPOOF_MIXED_NUMBERS,
            &status);
        if (U_FAILURE(status)) {
            uspoof_close(sc);
            return nullptr;
        }
        return sc;
    }();
    return instance;
}

// True when every non-ASCII label of the Unicode domain passes the spoof
// checks. Checked per label, as Chromium does: "пример.example" (one
// Cyrillic label, one Latin) is readable, "bаnk" (two scripts in one
// label) is not.
bool safe_to_show(std::string_view unicode_domain) {
    const USpoofChecker* sc = spoof_checker();
    if (sc == nullptr) return false;
    std::size_t pos = 0;
    while (pos <= unicode_domain.size()) {
        std::size_t dot = unicode_domain.find('.', pos);
        if (dot == std::string_view::npos) dot = unicode_domain.size();
        const std::string_view label = unicode_domain.substr(pos, dot - pos);
        if (!idn::is_ascii(label)) {
            const auto length = static_cast<int32_t>(label.size());
            UErrorCode status = U_ZERO_ERROR;
            const int32_t failed = uspoof_checkUTF8(sc, label.data(), length, nullptr, &status);
            if (U_FAILURE(status) || failed != 0) return false;
            // A whole-script lookalike: one script, but every character
            // looks like an ASCII one ("аре" in Cyrillic reads "ape"). Its
            // UTS #39 §4 skeleton is then plain ASCII.
            const auto skeleton = idn::skeleton(label);
            if (!skeleton || skeleton->empty() || idn::is_ascii(*skeleton)) return false;
        }
        pos = dot + 1;
    }
    return true;
}

}  // namespace

std::optional<std::string> address_ascii_form(std::string_view address) {
    // The last '@': a quoted local part may hold one (RFC 5322 §3.4.1).
    const std::size_t at = address.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    auto domain = idn::domain_ascii(address.substr(at + 1));
    if (!domain) return std::nullopt;
    return std::string(address.substr(0, at + 1)) + *domain;
}

bool same_address(std::string_view a, std::string_view b) {
    // The same octets but for ASCII case have the same A-label form, or
    // both none (UTS #46 maps ASCII case before it validates), so they are
    // the same address either way: the common case (a From address checked
    // against its certificate), answered without converting either.
    if (ascii_iequals(a, b)) return true;
    auto ka = address_ascii_form(a);
    auto kb = address_ascii_form(b);
    if (ka && kb) return ascii_lower(*ka) == ascii_lower(*kb);
    // A domain that is not a valid IDN has no A-label form: only the very
    // same bytes name the same thing.
    return ascii_lower(a) == ascii_lower(b);
}

AddressSet::AddressSet(const std::vector<std::string>& addresses) {
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        std::string raw = ascii_lower(addresses[i]);
        if (auto form = address_ascii_form(addresses[i])) {
            m_ascii.emplace(ascii_lower(*form), i);
        } else {
            m_raw_without_form.emplace(raw, i);
        }
        m_raw.emplace(std::move(raw), i);
    }
}

// same_address(a, c) holds when both have an A-label form and those are
// equal, or when one has none and the bytes are equal (ASCII case aside).
std::optional<std::size_t> AddressSet::find(std::string_view address) const {
    const std::string raw = ascii_lower(address);
    auto first = [](const auto& map, const std::string& key) -> std::optional<std::size_t> {
        auto it = map.find(key);
        if (it == map.end()) return std::nullopt;
        return it->second;
    };
    auto form = address_ascii_form(address);
    if (!form) return first(m_raw, raw);
    auto by_form = first(m_ascii, ascii_lower(*form));
    auto by_bytes = first(m_raw_without_form, raw);
    if (by_form && by_bytes) return std::min(*by_form, *by_bytes);
    return by_form ? by_form : by_bytes;
}

std::string display_address(std::string_view address) {
    const std::size_t raw_at = address.rfind('@');
    if (raw_at == std::string_view::npos) return std::string(address);
    const std::string_view raw_domain = address.substr(raw_at + 1);
    // A plain ASCII domain is shown as written, case and all.
    if (idn::is_ascii(raw_domain) && !idn::has_ace_label(ascii_lower(raw_domain))) {
        return std::string(address);
    }
    auto ascii = address_ascii_form(address);
    if (!ascii) return std::string(address);
    const std::size_t at = ascii->rfind('@');
    const std::string_view domain = std::string_view(*ascii).substr(at + 1);
    auto unicode = idn::domain_unicode(domain);
    if (!unicode || !safe_to_show(*unicode)) return *ascii;
    return ascii->substr(0, at + 1) + *unicode;
}

namespace {

// Characters that reorder or break the line a person reads without being
// visible: the bidirectional controls of Unicode's UAX #9 (the "Trojan
// Source" characters, CVE-2021-42574: a display name with U+202E shows its
// text reversed) and the line and paragraph separators.
bool invisible_layout_control(long cp) {
    return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string terminal_safe(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    char buf[12];
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
    const auto length = static_cast<std::int32_t>(std::min<std::size_t>(text.size(), INT32_MAX));
    std::int32_t i = 0;
    while (i < length) {
        const std::int32_t start = i;
        UChar32 cp = 0;
        U8_NEXT(bytes, i, length, cp);
        if (cp < 0) {
            // Not UTF-8: each byte on its own. A lone 0x9B is CSI to a
            // terminal that reads 8-bit controls; shown, it is harmless.
            for (std::int32_t k = start; k < i; ++k) {
                std::snprintf(buf, sizeof buf, "\\x%02x", bytes[k]);
                out += buf;
            }
        } else if (cp < 0x20 || cp == 0x7f) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
            out += buf;
        } else if ((cp >= 0x80 && cp <= 0x9f) || invisible_layout_control(cp)) {
            // C1 controls (CSI, OSC), which some terminals obey, and the
            // invisible layout controls.
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            out.append(text.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(i - start)));
        }
    }
    return out;
}

}  // namespace ribbon
