// config.cpp — reads and validates ribbon.toml (see ribbon/config.hpp and
// docs/CONFIGURATION.md) with toml++.
//
// toml++ reports syntax errors by exception, so the validation below also
// throws one private exception type; parse() is the only place either is
// caught and turned into an Error value. Every message names the file and
// line, the way Postfix's postconf names main.cf lines.
#include "ribbon/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "base/ascii.hpp"
#include "config/config_reader.hpp"
#include "policy/addresses.hpp"

namespace ribbon {

std::string_view failure_action_name(FailureAction action) noexcept {
    switch (action) {
        case FailureAction::tempfail: return "tempfail";
        case FailureAction::accept: return "accept";
        case FailureAction::reject: return "reject";
    }
    return "tempfail";
}

FailureAction FailureActions::action_for(FailureKind kind) const noexcept {
    switch (kind) {
        case FailureKind::no_key: return on_no_key;
        case FailureKind::bad_message: return on_bad_message;
        case FailureKind::internal_error: break;
    }
    return on_internal_error;
}

std::string_view FailureActions::setting_name(FailureKind kind) noexcept {
    switch (kind) {
        case FailureKind::no_key: return "on_no_key";
        case FailureKind::bad_message: return "on_bad_message";
        case FailureKind::internal_error: break;
    }
    return "on_internal_error";
}

// The ribbon.toml reader's own namespace (src/config); the [[signer]]
// address rules it checks patterns with are the policy layer's.
namespace cfg {

using policy::check_address;
using policy::check_from_pattern;
using policy::comparable_address;

namespace {

void read_keystore(std::string_view origin, const toml::table& t, Config& c) {
    Section s(origin, t, "keystore");
    if (auto v = s.string("path")) c.keystore = *v;
    if (auto v = s.string("password_file")) c.key_password_file = *v;
    s.finish();
}

SignerRule read_signer(std::string_view origin, const toml::table& t, std::size_t index) {
    Section s(origin, t, "signer[" + std::to_string(index + 1) + "]");
    SignerRule r;
    auto from = s.string("from");
    if (!from) s.fail(t, s.where("from") + " is required: the sending address or \"*@domain\"");
    r.from = comparable_address(*from);
    if (auto err = check_from_pattern(r.from)) s.fail(*t.get("from"), s.where("from") + ": " + *err);
    if (auto v = s.string("id")) {
        r.id = ascii_lower(*v);
        if (auto err = check_address(r.id)) s.fail(*t.get("id"), s.where("id") + ": " + *err);
    }
    if (auto v = s.choice<SignMode>("mode", {{"detached", SignMode::detached}, {"opaque", SignMode::opaque}})) {
        r.mode = *v;
    }
    if (auto v = s.boolean("header_protection")) r.header_protection = *v;
    if (auto v = s.boolean("trace_header")) r.trace_header = *v;
    if (auto v = s.choice<RecipientsMode>("recipients", {{"always", RecipientsMode::always},
                                                         {"unless-incapable", RecipientsMode::unless_incapable},
                                                         {"capable-only", RecipientsMode::capable_only}})) {
        r.recipients = *v;
    }
    s.finish();
    return r;
}

}  // namespace

void read_actions(Section& s, FailureActions& a) {
    using A = FailureAction;
    if (auto v = s.choice<A>("on_internal_error", {{"tempfail", A::tempfail}, {"accept", A::accept}})) {
        a.on_internal_error = *v;
    }
    if (auto v = s.choice<A>("on_no_key", {{"tempfail", A::tempfail}, {"accept", A::accept}})) a.on_no_key = *v;
    if (auto v = s.choice<A>("on_bad_message",
                             {{"reject", A::reject}, {"tempfail", A::tempfail}, {"accept", A::accept}})) {
        a.on_bad_message = *v;
    }
}

std::vector<std::string> read_domains(Section& s, const toml::table& t, std::string_view key) {
    std::vector<std::string> out;
    for (const auto& d : s.strings(key).value_or(std::vector<std::string>{})) {
        std::string domain = ascii_lower(d);
        if (domain.empty() || domain.find_first_of("@ \t") != std::string::npos) {
            s.fail(*t.get(key), s.where(key) + ": \"" + d + "\" is not a domain");
        }
        out.push_back(std::move(domain));
    }
    return out;
}

namespace {

// [milter] and [sendmail] mixed: neither can split a message.
void read_mixed(Section& s, MixedAnswer& mixed) {
    if (auto v = s.choice<MixedAnswer>("mixed", {{"sign", MixedAnswer::sign}, {"unsigned", MixedAnswer::unsigned_}})) {
        mixed = *v;
    }
}

void read_sendmail(std::string_view origin, const toml::table& t, SendmailSettings& m) {
    Section s(origin, t, "sendmail");
    if (auto v = s.string("path")) {
        if (v->empty() || v->front() != '/') {
            s.fail(*t.get("path"), "sendmail.path must be an absolute path, not \"" + *v + "\"");
        }
        m.path = *v;
    }
    if (auto v = s.strings("args")) m.args = *v;
    if (auto v = s.integer("max_message_size", 1024, std::int64_t{1} << 40)) m.max_message_size = *v;
    read_actions(s, m);
    if (t.contains("opaque_for")) m.opaque_for = read_domains(s, t, "opaque_for");
    read_mixed(s, m.mixed);
    s.finish();
}

void read_milter(std::string_view origin, const toml::table& t, MilterSettings& m) {
    Section s(origin, t, "milter");
    if (auto v = s.string("socket")) {
        static constexpr std::string_view kKinds[] = {"unix:", "local:", "inet:", "inet6:"};
        if (std::none_of(std::begin(kKinds), std::end(kKinds), [&](auto k) { return v->starts_with(k); }) ||
            v->find(':') + 1 == v->size()) {
            s.fail(*t.get("socket"), "milter.socket must be \"unix:/path\" or \"inet:port@host\", not \"" + *v + "\"");
        }
        m.socket = *v;
    }
    if (auto v = s.string("socket_mode")) {
        char* end = nullptr;
        unsigned long mode = std::strtoul(v->c_str(), &end, 8);
        if (v->empty() || *end != '\0' || mode > 0777) {
            s.fail(*t.get("socket_mode"), "milter.socket_mode must be octal permissions such as \"0660\"");
        }
        m.socket_mode = static_cast<unsigned>(mode);
    }
    read_actions(s, m);
    if (t.contains("opaque_for")) m.opaque_for = read_domains(s, t, "opaque_for");
    if (auto v = s.integer("spool_threshold", 4096, std::int64_t{1} << 40)) m.spool_threshold = *v;
    if (auto v = s.string("spool_dir")) m.spool_dir = *v;
    if (auto v = s.integer("max_message_size", 1024, std::int64_t{1} << 40)) m.max_message_size = *v;
    if (auto v = s.integer("timeout", 1, 86400)) m.timeout = std::chrono::seconds(*v);
    if (auto v = s.choice<MilterRole>("role", {{"outbound", MilterRole::outbound},
                                                {"inbound", MilterRole::inbound},
                                                {"both", MilterRole::both}})) {
        m.role = *v;
    }
    read_mixed(s, m.mixed);
    s.finish();
}

void read_daemon(std::string_view origin, const toml::table& t, DaemonSettings& d) {
    Section s(origin, t, "daemon");
    if (auto v = s.string("user")) d.user = *v;
    if (auto v = s.string("group")) d.group = *v;
    if (auto v = s.choice<std::string>("log", {{"stderr", "stderr"}, {"syslog", "syslog"}})) d.log = *v;
    s.finish();
}

Config read(std::string_view text, std::string_view origin) {
    toml::table doc = parse_document(text, origin);
    Config c;
    Section root(origin, doc, "");
    const toml::table empty;
    read_keystore(origin, sub_table(root, doc, "keystore", empty), c);
    read_milter(origin, sub_table(root, doc, "milter", empty), c.milter);
    read_sendmail(origin, sub_table(root, doc, "sendmail", empty), c.sendmail);
    read_daemon(origin, sub_table(root, doc, "daemon", empty), c.daemon);
    read_relay(origin, sub_table(root, doc, "relay", empty), c.relay);
    read_store(origin, sub_table(root, doc, "store", empty), c.store);
    read_learn(origin, sub_table(root, doc, "learn", empty), c.learn);
    read_inbound(origin, sub_table(root, doc, "inbound", empty), c.inbound);
    read_metrics(origin, sub_table(root, doc, "metrics", empty), c.metrics);
    if (c.inbound.verify && c.milter.role == MilterRole::outbound) {
        root.fail(*root.get("inbound"), "inbound.verify = true needs milter.role = \"inbound\" or \"both\": "
                                        "only the milter receives inbound mail");
    }
    if (c.milter.role == MilterRole::both && c.learn.domains.empty()) {
        root.fail(*root.get("milter"), "milter.role = \"both\" needs learn.domains: the domains whose mail is inbound");
    }
    if (const toml::node* n = root.get("signer")) {
        const toml::array* arr = n->as_array();
        if (arr == nullptr || !arr->is_array_of_tables()) root.fail(*n, "signer must be written [[signer]]");
        std::set<std::string> seen;
        for (std::size_t i = 0; i < arr->size(); ++i) {
            SignerRule r = read_signer(origin, *arr->get(i)->as_table(), i);
            if (!seen.insert(r.from).second) {
                root.fail(*arr->get(i), "[[signer]] from = \"" + r.from + "\" appears twice");
            }
            c.signers.push_back(std::move(r));
        }
    }
    root.finish();
    return c;
}

}  // namespace

// A TOML basic string (TOML 1.0 §String): quotes, backslashes and control
// characters escaped.
std::string toml_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string strings_toml(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_string(v[i]);
    return out + "]";
}

std::string actions_toml(const FailureActions& a) {
    return "on_internal_error = \"" + std::string(failure_action_name(a.on_internal_error)) + "\"\n" +
           "on_no_key = \"" + std::string(failure_action_name(a.on_no_key)) + "\"\n" +
           "on_bad_message = \"" + std::string(failure_action_name(a.on_bad_message)) + "\"\n";
}

}  // namespace cfg

using cfg::actions_toml;
using cfg::strings_toml;
using cfg::toml_string;

std::filesystem::path Config::default_path() {
    const char* env = std::getenv("RIBBON_CONFIG");
    return env != nullptr && *env != '\0' ? std::filesystem::path(env) : "/etc/ribbon/ribbon.toml";
}

Result<Config> Config::parse(std::string_view text, std::string_view origin) {
    try {
        return cfg::read(text, origin);
    } catch (const cfg::ConfigError& e) {
        return permanent_error(Errc::bad_config, e.message);
    }
}

Result<Config> Config::load(const std::filesystem::path& path) {
    auto text = read_small_file(path, "configuration file");
    if (!text) return permanent_error(Errc::bad_config, text.error().message());
    auto c = parse(*text, path.string());
    if (c) c->source = path;
    return c;
}

const SignerRule* Config::signer_for(std::string_view from_address) const {
    return policy::signer_for(signers, from_address);
}

std::string Config::to_toml() const {
    std::ostringstream o;
    auto b = [](bool v) { return v ? "true" : "false"; };
    o << "[keystore]\npath = " << toml_string(keystore.string()) << "\n";
    if (!key_password_file.empty()) o << "password_file = " << toml_string(key_password_file.string()) << "\n";
    for (const SignerRule& r : signers) {
        o << "\n[[signer]]\nfrom = " << toml_string(r.from) << "\n";
        if (!r.id.empty()) o << "id = " << toml_string(r.id) << "\n";
        o << "mode = \"" << (r.mode == SignMode::opaque ? "opaque" : "detached") << "\"\n"
          << "header_protection = " << b(r.header_protection) << "\n"
          << "trace_header = " << b(r.trace_header) << "\n"
          << "recipients = \"" << recipients_mode_name(r.recipients) << "\"\n";
    }
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", milter.socket_mode);
    o << "\n[milter]\nsocket = " << toml_string(milter.socket) << "\nsocket_mode = \"" << mode << "\"\n"
      << actions_toml(milter) << "opaque_for = " << strings_toml(milter.opaque_for) << "\nspool_threshold = " << milter.spool_threshold << "\n"
      << "spool_dir = " << toml_string(milter.spool_dir.string()) << "\n"
      << "max_message_size = " << milter.max_message_size << "\n"
      << "timeout = " << milter.timeout.count() << "\n"
      << "role = \"" << (milter.role == MilterRole::outbound ? "outbound" : milter.role == MilterRole::inbound ? "inbound" : "both")
      << "\"\nmixed = \"" << (milter.mixed == MixedAnswer::sign ? "sign" : "unsigned") << "\"\n";
    o << "\n[sendmail]\npath = " << toml_string(sendmail.path.string()) << "\nargs = " << strings_toml(sendmail.args)
      << "\nmax_message_size = " << sendmail.max_message_size << "\n" << actions_toml(sendmail)
      << "opaque_for = " << strings_toml(sendmail.opaque_for) << "\nmixed = \"" << (sendmail.mixed == MixedAnswer::sign ? "sign" : "unsigned") << "\"\n";
    o << "\n[daemon]\nuser = " << toml_string(daemon.user) << "\ngroup = " << toml_string(daemon.group)
      << "\nlog = " << toml_string(daemon.log) << "\n";
    o << "\n" << cfg::relay_toml(relay);
    o << "\n" << cfg::store_learn_toml(store, learn);
    o << "\n" << cfg::inbound_toml(inbound);
    o << "\n" << cfg::metrics_toml(metrics);
    return o.str();
}

}  // namespace ribbon
