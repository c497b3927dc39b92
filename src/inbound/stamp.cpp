// stamp.cpp — see stamp.hpp.
#include "inbound/stamp.hpp"

#include <glib.h>

#include <ctime>
#include <memory>

#include "base/ascii.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::inbound {

namespace {

// RFC 5322 §2.1.1: lines SHOULD be no longer than 78 characters.
constexpr std::size_t kLineLength = 78;
// reason= is a sentence for people, not a transcript.
constexpr std::size_t kMaxReason = 200;

bool is_token(std::string_view s) {
    for (char c : s) {
        if (!is_token_char(c)) return false;
    }
    return !s.empty();
}

// RFC 5322 §3.2.3 atext.
bool is_atext(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
    for (char c : s) {
        if (c != '.' && !is_atext(c)) return false;
    }
    return true;
}

// Letters, digits and hyphens in dot-separated labels (RFC 1034 §3.5, the
// A-label form of any IDN).
bool is_ldh_domain(std::string_view s) {
    if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.' ||
        s.find("..") != std::string_view::npos) {
        return false;
    }
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

// Text from mail or a certificate, fit for a quoted-string: control and
// bidirectional characters spelled out (terminal_safe), invalid UTF-8
// replaced by U+FFFD (GLib, RFC 6532 §3.2 allows UTF-8 in quoted-strings),
// cut at a character boundary after `max_bytes`.
std::string safe_text(std::string_view text, std::size_t max_bytes) {
    std::string shown = terminal_safe(text);
    std::unique_ptr<gchar, decltype(&g_free)> valid(g_utf8_make_valid(shown.data(), static_cast<gssize>(shown.size())),
                                                    &g_free);
    std::string out = valid ? std::string(valid.get()) : std::string();
    if (out.size() > max_bytes) {
        std::size_t cut = max_bytes;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
        out.resize(cut);
        out += "...";
    }
    return out;
}

// The quoted-string of `text`: about `max_bytes` between the quotes (and
// "..." when cut). Cut after escaping too, not only before: a certificate
// issuer or address of quotes and backslashes (OpenSSL's RFC 2253 form
// already writes a '"' as '\"') doubles when escaped, and the 512-byte
// limit became an unfoldable word over 1,000 octets, past RFC 5322
// §2.1.1's 998-octet line limit.
std::string quoted(std::string_view text, std::size_t max_bytes) {
    const std::string safe = safe_text(text, max_bytes);
    std::string out = "\"";
    std::size_t used = 0;
    for (std::size_t i = 0; i < safe.size(); ++i) {
        const char c = safe[i];
        const bool escape = c == '"' || c == '\\';
        // A character's UTF-8 continuation bytes stay with it.
        const bool starts_char = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        if (starts_char && used + (escape ? 2 : 1) > max_bytes) {
            out += "...";
            break;
        }
        if (escape) out += '\\';
        out += c;
        used += escape ? 2 : 1;
    }
    return out + "\"";
}

// RFC 8601 §2.2 pvalue: an address may stand bare as local-part "@"
// domain-name when both parts are plain; anything else is quoted.
std::string address_value(std::string_view address) {
    std::size_t at = address.rfind('@');
    if (at != std::string_view::npos && is_dot_atom(address.substr(0, at)) && is_ldh_domain(address.substr(at + 1))) {
        return std::string(address);
    }
    return header_value(address);
}

// RFC 5322 §2.2.3 folding: CRLF inserted before a space already in the
// value once a line would pass kLineLength, never leaving a line of white
// space only.
class Folder {
public:
    explicit Folder(std::string_view name) : m_line(name.size() + 1) {}  // "Name:"

    // Adds `unit` (a word, or a name=value with its leading space): on the
    // current line, else on a new one, and there, when it is too long for
    // any line, folded at its own spaces (FWS inside a quoted-string, RFC
    // 5322 §3.2.4).
    // Values ribbon writes have no word longer than a line may be (998).
    void unit(std::string_view u) {
        if (m_line + u.size() <= kLineLength) return append(u);
        if (m_has_text && u.front() == ' ') fold();
        if (m_line + u.size() <= kLineLength) return append(u);
        for (std::size_t pos = 0; pos < u.size();) {
            std::size_t next = u.find(' ', pos + 1);
            if (next == std::string_view::npos) next = u.size();
            std::string_view word = u.substr(pos, next - pos);
            if (m_has_text && word.front() == ' ' && m_line + word.size() > kLineLength) fold();
            append(word);
            pos = next;
        }
    }

    std::string take() { return std::move(m_out); }

private:
    void fold() {
        m_out += "\r\n";
        m_line = 0;
        m_has_text = false;
    }
    void append(std::string_view s) {
        m_out += s;
        m_line += s.size();
        if (s.find_first_not_of(' ') != std::string_view::npos) m_has_text = true;
    }

    std::string m_out;
    std::size_t m_line;
    bool m_has_text = false;
};

// Folds `value` preferring the spaces between its parts (outside
// quoted-strings) over those inside a quoted value.
std::string fold(std::string_view name, std::string_view value) {
    Folder f(name);
    std::size_t start = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (c == ' ' && !quoted && i > start) {
            f.unit(value.substr(start, i - start));
            start = i;
        }
    }
    if (start < value.size()) f.unit(value.substr(start));
    return f.take();
}

// The address the signer's certificate vouches for: the From address when
// the certificate holds it (what the reader sees), else its first address.
std::optional<std::string> identifier(const VerifyResult& v) {
    const auto& addresses = v.signer->certificate.addresses;
    // Not pair by pair: both lists come from the sender (AddressSet).
    const AddressSet certified(addresses);
    for (const auto& from : v.from_addresses) {
        if (auto i = certified.find(from)) return address_ascii_form(addresses[*i]).value_or(addresses[*i]);
    }
    if (addresses.empty()) return std::nullopt;
    return address_ascii_form(addresses.front()).value_or(addresses.front());
}

// What went wrong on ribbon's side (paths, hosts, the store) is for the
// log, not for whoever reads the mail.
constexpr std::string_view kTemperrorReason = "a temporary failure of the receiving system, not of the message";

std::string reason_text(const Assessment& a, SmimeResult result) {
    if (result == SmimeResult::temperror) return std::string(kTemperrorReason);
    if (a.verified) return a.verified->detail;
    if (a.verify_error) return a.verify_error->message();
    return a.temperror_reason;
}

// The verdict names of the Ribbon-Continuity grammar (stamp.hpp): this
// header's contract with mail filters, spelled here.
std::string date(UnixTime t) {
    std::time_t time = static_cast<std::time_t>(t);
    std::tm tm{};
    // The grammar's 4DIGIT year: a time before year 0 or after 9999 (none
    // that a store records) is written as the unknown date, not "-0042".
    if (::gmtime_r(&time, &tm) == nullptr || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) return "0000-00-00";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return buf;
}

}  // namespace

bool is_token_char(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

std::string_view smime_result_name(SmimeResult r) noexcept {
    switch (r) {
        case SmimeResult::none: return "none";
        case SmimeResult::pass: return "pass";
        case SmimeResult::fail: return "fail";
        case SmimeResult::policy: return "policy";
        case SmimeResult::neutral: return "neutral";
        case SmimeResult::temperror: return "temperror";
        case SmimeResult::permerror: return "permerror";
    }
    return "temperror";
}

SmimeResult smime_result(const Assessment& a) noexcept {
    if (a.verified) {
        switch (a.verified->verdict) {
            case Verdict::valid: return SmimeResult::pass;
            case Verdict::not_signed: return SmimeResult::none;
            case Verdict::invalid: break;
        }
        bool weak = a.verified->reason == VerifyReason::weak_algorithm || a.verified->reason == VerifyReason::weak_key;
        return weak ? SmimeResult::policy : SmimeResult::fail;
    }
    if (a.verify_error) {
        if (a.verify_error->kind() != ErrorKind::permanent) return SmimeResult::temperror;
        // A signature that is there but does not parse is RFC 8601's
        // neutral ("contained syntax errors"); a message that is not MIME,
        // or is over the limits, cannot be verified at all: permerror.
        return a.verify_error->code() == Errc::bad_signature_format ? SmimeResult::neutral : SmimeResult::permerror;
    }
    return SmimeResult::temperror;
}

std::string header_value(std::string_view value, std::size_t max_bytes) {
    if (is_token(value) && value.size() <= max_bytes) return std::string(value);
    return quoted(value, max_bytes);
}

std::string authentication_results(std::string_view authserv_id, const Assessment& a) {
    const SmimeResult result = smime_result(a);
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive)
    // on `" " + std::string&&` once inlined.
    std::string v = " ";
    v += header_value(authserv_id);
    v += "; smime=";
    v += smime_result_name(result);
    // RFC 8601 §2.2: resinfo = ";" methodspec [reasonspec] [1*propspec].
    if (result != SmimeResult::pass && result != SmimeResult::none) {
        std::string reason = reason_text(a, result);
        if (!reason.empty()) v += " reason=" + quoted(reason, kMaxReason);
    }
    if (!a.part.empty()) v += " body.smime-part=" + header_value(a.part, 64);
    if (a.verified && a.verified->signer) {
        if (auto id = identifier(*a.verified)) v += " body.smime-identifier=" + address_value(*id);
        // RFC 7281 §3: serial and issuer appear together or not at all.
        const CertificateInfo& cert = a.verified->signer->certificate;
        v += " body.smime-serial=" + header_value(cert.serial_hex, 128);
        v += " body.smime-issuer=" + quoted(cert.issuer, 512);
    }
    return fold(kAuthenticationResults, v);
}

std::string continuity_header(const Assessment& a) {
    std::string v = " ";
    if (a.continuity) {
        const ContinuityReport& c = *a.continuity;
        v += continuity_name(c.verdict);
        if (c.key.messages > 0) {
            v += "; seen=" + std::to_string(c.key.messages) + "; since=" + date(c.key.first_seen);
        }
        bool new_key = c.verdict == Continuity::renewed || c.verdict == Continuity::changed;
        if (new_key && c.previous) {
            v += "; previous-seen=" + std::to_string(c.previous->messages) +
                 "; previous-since=" + date(c.previous->first_seen) + "; previous-last=" + date(c.previous->last_seen);
        }
    } else {
        v += a.temperror ? "temperror" : "none";
    }
    if (a.lookalike && is_ldh_domain(a.lookalike->resembles.domain)) {
        v += "; lookalike=" + ascii_lower(a.lookalike->resembles.domain);
    }
    return fold(kRibbonContinuity, v);
}

}  // namespace ribbon::inbound
