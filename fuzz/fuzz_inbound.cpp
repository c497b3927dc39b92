// fuzz_inbound.cpp — libFuzzer target for the receiving path the milter's
// inbound role runs on every message (docs/RECEIVING.md):
// inbound::Assessor::assess() (Verifier::verify() on every signature
// layer), then the two header fields ribbon adds, built from that
// Assessment by inbound::authentication_results() and
// inbound::continuity_header(), and inbound::forged_fields() on the
// message's own header fields.
//
// The input is the whole message. The trust store is fuzz_verify's
// (seed_trust.hpp), so the signed seeds verify and their mutations reach
// every verdict. A store is not fuzzed here (SenderMemory needs a
// database): the continuity report and lookalike match are synthetic, made
// from the input's last bytes (see Tail), so the formatting of every
// verdict, count, date and domain is reached.
//
// Aborts when a produced field value breaks the wire format: a CR or LF
// other than CRLF followed by SP or HTAB (RFC 5322 §2.2.3 folding), any
// other byte below 0x20 or DEL, a line (with "Name:" on the first) over
// 998 octets (§2.1.1), a continuation line of white space only, or a value
// not starting with a space; a Ribbon-Continuity value outside the grammar
// of stamp.hpp; ribbon's own Authentication-Results not recognised as
// ribbon's by forged_fields(); and a removal that names another field, an
// index outside its name's fields, or an order that would shift the
// indexes still to come.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ascii.hpp"
#include "inbound/assessment.hpp"
#include "inbound/forged.hpp"
#include "inbound/stamp.hpp"
#include "ribbon/io.hpp"
#include "seed_trust.hpp"

namespace {

using namespace ribbon;
using ribbon_fuzz::die;

constexpr std::size_t kMaxInput = 1024 * 1024;
constexpr std::string_view kAuthservId = "mx.bank.example";
const VerifyOptions kOptions{std::chrono::system_clock::from_time_t(1800000000)};  // 2027-01-15

std::optional<inbound::Assessor> g_assessor;

// Reads the input's bytes from its end, 0 once they run out: the tail of a
// message is its body, whose changes the verifier mostly reports as one
// digest mismatch, so the synthetic values vary without hiding the rest.
class Tail {
public:
    explicit Tail(std::string_view data) : m_data(data), m_pos(data.size()) {}
    std::uint8_t byte() { return m_pos == 0 ? 0 : static_cast<std::uint8_t>(m_data[--m_pos]); }
    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = v << 8 | byte();
        return v;
    }

private:
    std::string_view m_data;
    std::size_t m_pos;
};

// The message's last line (after the last LF), at most 300 bytes: raw
// text for a domain, a detail, an authserv-id.
std::string last_line(std::string_view data) {
    std::size_t nl = data.rfind('\n');
    std::string_view line = nl == std::string_view::npos ? data : data.substr(nl + 1);
    return std::string(line.substr(0, 300));
}

KeyHistory history(Tail& t) {
    KeyHistory k;
    k.spki_sha256 = std::string(64, 'a');
    k.messages = t.u64();
    k.first_seen = static_cast<UnixTime>(t.u64());
    k.last_seen = static_cast<UnixTime>(t.u64());
    return k;
}

void add_synthetic_memory(inbound::Assessment& a, std::string_view data) {
    Tail t(data);
    const std::uint8_t flags = t.byte();
    if (flags & 1) {
        ContinuityReport c;
        c.verdict = static_cast<Continuity>(t.byte() % 4);
        c.key = history(t);
        if (flags & 2) c.previous = history(t);
        c.recorded = flags & 4;
        a.continuity = std::move(c);
    }
    if (flags & 8) {
        LookalikeMatch m;
        m.domain = last_line(data);
        m.resembles.domain = (flags & 16) ? "bank.example" : m.domain;
        m.detail = m.domain;
        a.lookalike = std::move(m);
    }
    if (flags & 32) {
        a.temperror = true;
        a.temperror_reason = last_line(data);
    }
}

// The header fields of `data`, read simply: lines up to the first empty
// one, a line starting with SP or HTAB continuing the field before it (its
// line break kept, LF or CRLF as it came), a line without ':' skipped.
std::vector<inbound::Field> header_fields(std::string_view data) {
    std::vector<inbound::Field> fields;
    std::size_t pos = 0;
    bool continuing = false;
    while (pos < data.size() && fields.size() < 1000) {
        std::size_t end = data.find('\n', pos);
        std::string_view line = data.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        std::string_view bare = line.ends_with('\r') ? line.substr(0, line.size() - 1) : line;
        if (bare.empty()) break;
        if ((bare.front() == ' ' || bare.front() == '\t') && continuing) {
            fields.back().value += std::string(line.ends_with('\r') ? "\r\n" : "\n") + std::string(bare);
        } else if (std::size_t colon = bare.find(':'); colon != std::string_view::npos) {
            fields.push_back({std::string(bare.substr(0, colon)), std::string(bare.substr(colon + 1))});
            continuing = true;
        } else {
            continuing = false;
        }
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
    return fields;
}

void check_wire(std::string_view name, const std::string& value) {
    if (value.empty() || value.front() != ' ') die("a value not starting with a space", value);
    std::size_t line = name.size() + 1;  // "Name:"
    bool line_has_text = true;           // the first line has the name
    for (std::size_t i = 0; i < value.size(); ++i) {
        const auto c = static_cast<unsigned char>(value[i]);
        if (c == '\r') {
            if (value.compare(i, 3, "\r\n ") != 0 && value.compare(i, 3, "\r\n\t") != 0) {
                die("a CR that is not CRLF followed by white space", value);
            }
            if (!line_has_text) die("a continuation line of white space only", value);
            ++i;  // the LF
            line = 0;
            line_has_text = false;
            continue;
        }
        if ((c < 0x20 && !(c == '\t' && line == 0)) || c == 0x7f) die("a control byte in a value", value);
        if (c != ' ' && c != '\t') line_has_text = true;
        if (++line > 998) die("a line over 998 octets", value);
    }
    if (!line_has_text) die("a last line of white space only", value);
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

bool is_date(std::string_view s) {
    return s.size() == 10 && all_digits(s.substr(0, 4)) && s[4] == '-' && all_digits(s.substr(5, 2)) &&
           s[7] == '-' && all_digits(s.substr(8, 2));
}

bool is_domain(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    }
    return true;
}

// stamp.hpp's grammar: a verdict, then "; name=value" parameters in their
// order, each at most once.
void check_continuity_grammar(const std::string& value) {
    std::string v;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value.compare(i, 2, "\r\n") == 0) {
            ++i;
            continue;
        }
        v += value[i];
    }
    std::vector<std::string_view> parts;
    std::string_view rest = std::string_view(v).substr(1);
    for (std::size_t sep; (sep = rest.find("; ")) != std::string_view::npos; rest = rest.substr(sep + 2)) {
        parts.push_back(rest.substr(0, sep));
    }
    parts.push_back(rest);
    static const std::vector<std::string_view> kVerdicts = {"first", "known", "renewed", "changed", "none", "temperror"};
    if (std::find(kVerdicts.begin(), kVerdicts.end(), parts[0]) == kVerdicts.end()) {
        die("Ribbon-Continuity: not a verdict", value);
    }
    static const std::vector<std::string_view> kOrder = {"seen", "since", "previous-seen", "previous-since",
                                                         "previous-last", "lookalike"};
    std::size_t next = 0;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const std::size_t eq = parts[i].find('=');
        if (eq == std::string_view::npos) die("Ribbon-Continuity: a parameter without '='", value);
        const std::string_view key = parts[i].substr(0, eq);
        const std::string_view val = parts[i].substr(eq + 1);
        auto at = std::find(kOrder.begin() + static_cast<std::ptrdiff_t>(next), kOrder.end(), key);
        if (at == kOrder.end()) die("Ribbon-Continuity: a parameter unknown, repeated or out of order", value);
        next = static_cast<std::size_t>(at - kOrder.begin()) + 1;
        const bool ok = key == "lookalike" ? is_domain(val)
                        : key.ends_with("seen") ? all_digits(val)
                                                : is_date(val);
        if (!ok) die("Ribbon-Continuity: a parameter value outside the grammar", value);
    }
}

void check_removals(const std::vector<inbound::Field>& header, const std::vector<inbound::Removal>& removals) {
    std::map<std::string, int> count;
    for (const auto& f : header) ++count[ascii_lower(f.name)];
    std::map<std::string, int> last;
    for (const auto& r : removals) {
        const std::string name = ascii_lower(r.name);
        if (name != "authentication-results" && name != "ribbon-continuity") die("a removal of another field", r.name);
        if (r.index < 1 || r.index > count[name]) die("a removal index outside the fields of its name", r.name);
        if (last.count(name) != 0 && last[name] <= r.index) die("removals that shift the indexes to come", r.name);
        last[name] = r.index;
    }
    // Every Ribbon-Continuity field goes, whatever it says.
    const auto rc = std::count_if(removals.begin(), removals.end(),
                                  [](const inbound::Removal& r) { return ascii_lower(r.name) == "ribbon-continuity"; });
    if (rc != count["ribbon-continuity"]) die("a Ribbon-Continuity field kept");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    g_assessor.emplace(Verifier(ribbon_fuzz::make_trust_store()), kOptions);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > kMaxInput) return -1;  // -1: keep out of the corpus
    const std::string_view message(reinterpret_cast<const char*>(data), size);
    inbound::Assessment a = g_assessor->assess(MessageInput::from_memory(message));
    if (!a.verified && !a.verify_error && !a.temperror) die("an assessment with no outcome");
    add_synthetic_memory(a, message);

    const std::string ar = inbound::authentication_results(kAuthservId, a);
    check_wire(inbound::kAuthenticationResults, ar);
    const std::string continuity = inbound::continuity_header(a);
    check_wire(inbound::kRibbonContinuity, continuity);
    check_continuity_grammar(continuity);
    // Any authserv-id, as the configuration may hold one.
    check_wire(inbound::kAuthenticationResults, inbound::authentication_results(last_line(message), a));
    check_wire("X", " " + inbound::header_value(last_line(message), Tail(message).byte()));

    // The message's own fields, then ribbon's two: its own must be found
    // as ribbon's (the milter would otherwise keep a stale copy next time).
    std::vector<inbound::Field> header = header_fields(message);
    check_removals(header, inbound::forged_fields(header, kAuthservId));
    const std::vector<inbound::Field> ours = {{std::string(inbound::kAuthenticationResults), ar},
                                              {std::string(inbound::kRibbonContinuity), continuity}};
    const std::vector<inbound::Removal> expected = {{std::string(inbound::kRibbonContinuity), 1},
                                                    {std::string(inbound::kAuthenticationResults), 1}};
    if (inbound::forged_fields(ours, kAuthservId) != expected) die("ribbon's own fields not found as ribbon's", ar);
    return 0;
}
