// client_rules.cpp — reads client rules files (docs/LEARNING.md, "The
// client rules file") and finds the mail client that wrote a message from
// its header fields (ribbon/client_rules.hpp).
//
// Trust: rules files are configuration (the shipped one is built in, an
// operator's is theirs), so a bad one is refused whole with a message that
// names the file, line, rule and problem. Header values are the customer's
// and anyone's: they are only ever matched, never interpreted, and every
// cost is bounded (kMaxMatchedValue; RE2 matches in linear time,
// learn/pattern.hpp).
//
// toml++ reports syntax errors by exception, so the validation below throws
// ConfigError too (base::Section, base/toml_section.hpp); parse_rules() turns
// it into an Error value, the way Config::parse does.
#include "ribbon/client_rules.hpp"

#include <cstdio>
#include <set>
#include <toml++/toml.h>

#include "base/ascii.hpp"
#include "base/toml_section.hpp"
#include "learn/pattern.hpp"
#include "ribbon/io.hpp"

namespace ribbon {

namespace learn {
// data/clients.toml, embedded by CMakeLists.txt (generated/client_rules_data.cpp).
extern const std::string_view kShippedClientRules;
}  // namespace learn

namespace {

using learn::Pattern;

constexpr std::string_view kShippedOrigin = "data/clients.toml (built in)";
constexpr std::size_t kMaxEvidence = 200;
constexpr std::size_t kMaxVersion = 64;
constexpr std::size_t kMaxName = 100;

// RFC 5322 §2.2: a field name is printable US-ASCII except the colon.
bool is_field_name(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 33 || c > 126 || c == ':') return false;
    }
    return true;
}

std::string in_quotes(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
}

}  // namespace

struct ClientRules::Impl {
    struct Signal {
        std::string header;        // as written in the rules file, for evidence
        std::size_t slot = 0;      // index into header_names
        std::optional<Pattern> pattern;  // none: the header's presence is the signal
    };
    struct Rule {
        std::string name;
        SmimeSupport smime = SmimeSupport::unknown;
        double confidence = 0;
        std::string note;
        std::vector<Signal> signals;
    };
    std::vector<Rule> rules;
    std::vector<std::string> header_names;  // distinct, lower case

    std::size_t slot_for(std::string_view header) {
        std::string l = ascii_lower(header);
        for (std::size_t i = 0; i < header_names.size(); ++i) {
            if (header_names[i] == l) return i;
        }
        header_names.push_back(std::move(l));
        return header_names.size() - 1;
    }

    void append(std::vector<Rule> more) {
        for (Rule& r : more) {
            // Slots are per Impl: a rule read for one set is re-slotted here.
            for (Signal& s : r.signals) s.slot = slot_for(s.header);
            rules.push_back(std::move(r));
        }
    }
};

namespace {

using Rule = ClientRules::Impl::Rule;
using Signal = ClientRules::Impl::Signal;

using base::ConfigError;
using base::Section;
using base::parse_document;

std::string required_string(Section& r, const toml::table& t, std::string_view key) {
    auto v = r.string(key);
    if (!v) r.fail(t, "missing " + std::string(key));
    return *v;
}

Signal read_signal(std::string_view origin, const toml::table& t, const std::string& rule_context, std::size_t index) {
    Section r(origin, t, {}, rule_context + ", signal " + std::to_string(index));
    Signal s;
    s.header = required_string(r, t, "header");
    if (!is_field_name(s.header)) r.fail(*r.get("header"), "header " + in_quotes(s.header) + " is not a field name");
    if (auto p = r.string("pattern")) {
        auto compiled = Pattern::compile(*p);
        if (auto* why = std::get_if<std::string>(&compiled)) {
            r.fail(*r.get("pattern"), "pattern '" + *p + "': " + *why);
        }
        s.pattern.emplace(std::move(std::get<Pattern>(compiled)));
    }
    r.finish();
    return s;
}

Rule read_rule(std::string_view origin, const toml::table& t, std::size_t index) {
    // The name first, so that every later message can say which rule.
    std::string context = "client rule " + std::to_string(index);
    if (const toml::node* n = t.get("name"); n != nullptr && n->is_string() && !n->as_string()->get().empty()) {
        context += " (" + in_quotes(n->as_string()->get()) + ")";
    }
    Section r(origin, t, {}, context);
    Rule rule;
    rule.name = required_string(r, t, "name");
    if (rule.name.empty() || rule.name.size() > kMaxName) {
        r.fail(*r.get("name"), "name must be 1 to " + std::to_string(kMaxName) + " octets");
    }
    for (char ch : rule.name) {
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) r.fail(*r.get("name"), "name has a control character");
    }

    std::string smime = required_string(r, t, "smime");
    auto support = parse_smime_support(smime);
    if (!support) r.fail(*r.get("smime"), "smime must be \"supported\", \"unsupported\" or \"unknown\", not " + in_quotes(smime));
    rule.smime = *support;

    const toml::node* c = r.get("confidence");
    if (c == nullptr) r.fail(t, "missing confidence");
    if (c->is_floating_point()) {
        rule.confidence = c->as_floating_point()->get();
    } else if (c->is_integer()) {
        rule.confidence = static_cast<double>(c->as_integer()->get());
    } else {
        r.fail(*c, "confidence must be a number from 0 to 1");
    }
    if (!(rule.confidence >= 0.0 && rule.confidence <= 1.0)) {  // also refuses NaN
        char shown[32];
        std::snprintf(shown, sizeof shown, "%g", rule.confidence);
        r.fail(*c, "confidence must be from 0 to 1, not " + std::string(shown));
    }

    if (auto note = r.string("note")) rule.note = *note;

    const toml::node* sig = r.get("signal");
    if (sig == nullptr) r.fail(t, "no [[client.signal]]: a rule needs at least one");
    const toml::array* arr = sig->as_array();
    if (arr == nullptr || !arr->is_array_of_tables() || arr->empty()) {
        r.fail(*sig, "signal must be written [[client.signal]] tables, at least one");
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
        rule.signals.push_back(read_signal(origin, *arr->get(i)->as_table(), context, i + 1));
    }
    r.finish();
    return rule;
}

std::vector<Rule> read_rules(std::string_view text, std::string_view origin) {
    toml::table doc = parse_document(text, origin);
    std::vector<Rule> rules;
    for (const auto& [key, node] : doc) {
        if (key.str() != "client") {
            throw ConfigError{std::string(origin) + ":" + std::to_string(node.source().begin.line) +
                             ": unknown key " + std::string(key.str()) + " (the file holds [[client]] rules only)"};
        }
    }
    const toml::node* n = doc.get("client");
    if (n == nullptr) return rules;  // an empty file: no rules, which is allowed
    const toml::array* arr = n->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
        throw ConfigError{std::string(origin) + ":" + std::to_string(n->source().begin.line) +
                         ": client must be written [[client]]"};
    }
    std::set<std::string, std::less<>> names;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        Rule r = read_rule(origin, *arr->get(i)->as_table(), i + 1);
        if (!names.insert(r.name).second) {
            // Two rules of one client in one file: its signals belong in one rule.
            throw ConfigError{std::string(origin) + ":" + std::to_string(arr->get(i)->source().begin.line) +
                             ": client rule " + std::to_string(i + 1) + " (" + in_quotes(r.name) +
                             "): the name is used by an earlier rule in this file"};
        }
        rules.push_back(std::move(r));
    }
    return rules;
}

Result<std::vector<Rule>> parse_rules(std::string_view text, std::string_view origin) {
    try {
        return read_rules(text, origin);
    } catch (const ConfigError& e) {
        return permanent_error(Errc::bad_config, e.message);
    }
}

// The built-in rules, parsed once: ribbon cannot run with a broken copy,
// but the error is still a value (a test catches it long before a release).
const Result<std::shared_ptr<const ClientRules::Impl>>& shipped_impl() {
    static const Result<std::shared_ptr<const ClientRules::Impl>> cached =
        []() -> Result<std::shared_ptr<const ClientRules::Impl>> {
        auto rules = parse_rules(learn::kShippedClientRules, kShippedOrigin);
        if (!rules) return std::move(rules).error();
        auto impl = std::make_shared<ClientRules::Impl>();
        impl->append(std::move(*rules));
        return std::shared_ptr<const ClientRules::Impl>(std::move(impl));
    }();
    return cached;
}

std::string cut(std::string s, std::size_t limit) {
    if (s.size() > limit) s.resize(limit);
    return s;
}

}  // namespace

ClientRules::ClientRules(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}
ClientRules::ClientRules(ClientRules&&) noexcept = default;
ClientRules& ClientRules::operator=(ClientRules&&) noexcept = default;
ClientRules::~ClientRules() = default;

Result<ClientRules> ClientRules::shipped() {
    const auto& impl = shipped_impl();
    if (!impl) return impl.error();
    return ClientRules(*impl);
}

Result<ClientRules> ClientRules::parse(std::string_view text, std::string_view origin) {
    auto rules = parse_rules(text, origin);
    if (!rules) return std::move(rules).error();
    auto impl = std::make_shared<Impl>();
    impl->append(std::move(*rules));
    return ClientRules(std::move(impl));
}

Result<ClientRules> ClientRules::load(const std::vector<std::filesystem::path>& operator_files) {
    auto impl = std::make_shared<Impl>();
    for (const auto& path : operator_files) {
        auto text = read_small_file(path, "client rules file");
        if (!text) return permanent_error(Errc::bad_config, text.error().message());
        auto rules = parse_rules(*text, path.string());
        if (!rules) return std::move(rules).error();
        impl->append(std::move(*rules));
    }
    const auto& shipped = shipped_impl();
    if (!shipped) return shipped.error();
    impl->append((*shipped)->rules);
    return ClientRules(std::move(impl));
}

std::size_t ClientRules::size() const noexcept { return m_impl ? m_impl->rules.size() : 0; }

std::vector<std::string> ClientRules::names() const {
    std::vector<std::string> out;
    if (!m_impl) return out;
    for (const auto& r : m_impl->rules) out.push_back(r.name);
    return out;
}

std::optional<ClientMatch> ClientRules::detect(const std::vector<MailHeader>& headers) const {
    if (!m_impl || m_impl->rules.empty()) return std::nullopt;
    const Impl& impl = *m_impl;

    // Which rule header (slot) each field is, once, rather than comparing
    // names for every signal.
    constexpr std::size_t kNoSlot = ~std::size_t{0};
    std::vector<std::size_t> slot_of(headers.size(), kNoSlot);
    for (std::size_t i = 0; i < headers.size(); ++i) {
        for (std::size_t s = 0; s < impl.header_names.size(); ++s) {
            if (ascii_iequals(headers[i].name, impl.header_names[s])) {
                slot_of[i] = s;
                break;
            }
        }
    }

    std::string version;
    for (const Impl::Rule& rule : impl.rules) {
        for (const Impl::Signal& signal : rule.signals) {
            for (std::size_t i = 0; i < headers.size(); ++i) {
                if (slot_of[i] != signal.slot) continue;
                std::string_view value = headers[i].value;
                if (value.size() > kMaxMatchedValue) value = value.substr(0, kMaxMatchedValue);
                version.clear();
                if (signal.pattern && !signal.pattern->search(value, &version)) continue;
                ClientMatch m;
                m.name = rule.name;
                m.version = cut(std::move(version), kMaxVersion);
                m.evidence = cut(headers[i].name + ": " + std::string(value.substr(0, kMaxEvidence)), kMaxEvidence);
                m.smime = rule.smime;
                m.confidence = rule.confidence;
                return m;
            }
        }
    }
    return std::nullopt;
}

std::vector<MailHeader> parse_mail_headers(std::string_view message) {
    std::vector<MailHeader> out;
    bool in_field = false;  // continuation lines belong to out.back()
    std::size_t pos = 0;
    while (pos < message.size()) {
        std::size_t eol = message.find('\n', pos);
        std::string_view line = message.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        pos = (eol == std::string_view::npos) ? message.size() : eol + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;  // the end of the header section

        if (line.front() == ' ' || line.front() == '\t') {
            // RFC 5322 §2.2.3: unfolding removes the line break only, the
            // white space that follows it stays.
            if (in_field) {
                std::string& v = out.back().value;
                if (v.size() < kMaxMailHeaderValue) v.append(line.substr(0, kMaxMailHeaderValue - v.size()));
            }
            continue;
        }
        in_field = false;
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon);
        // RFC 5322 §4.5 obsolete syntax: white space before the colon.
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        if (!is_field_name(name)) continue;
        if (out.size() >= kMaxMailHeaders) break;
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        out.push_back({std::string(name), std::string(value.substr(0, kMaxMailHeaderValue))});
        in_field = true;
    }
    for (MailHeader& h : out) {
        std::string& v = h.value;
        std::size_t b = v.find_first_not_of(" \t\r\n");
        if (b == std::string::npos) {
            v.clear();
            continue;
        }
        std::size_t e = v.find_last_not_of(" \t\r\n");
        v = v.substr(b, e - b + 1);
    }
    return out;
}

}  // namespace ribbon
