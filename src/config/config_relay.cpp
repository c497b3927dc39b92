// config_relay.cpp — the [relay] and [relay.next_hop] sections of
// ribbon.toml (docs/CONFIGURATION.md).
#include <sstream>

#include "config/config_reader.hpp"
#include "ribbon/network.hpp"

namespace ribbon::cfg {

namespace {

constexpr std::int64_t kMaxSeconds = 86400;

void read_next_hop(std::string_view origin, const toml::table& t, NextHopSettings& n) {
    Section s(origin, t, "relay.next_hop");
    if (auto url = s.string("url")) {
        n.url = *url;
        const toml::node& at = *t.get("url");
        if (url->starts_with("maildir:")) {
            n.kind = NextHopSettings::Kind::maildir;
            n.maildir = url->substr(8);
            if (n.maildir.empty()) s.fail(at, "relay.next_hop.url: \"maildir:\" needs a directory");
        } else {
            bool smtps = url->starts_with("smtps://");
            if (!smtps && !url->starts_with("smtp://")) {
                s.fail(at, "relay.next_hop.url must be \"smtp://host:port\", \"smtps://host:port\" or "
                           "\"maildir:/path\", not \"" + *url + "\"");
            }
            n.kind = smtps ? NextHopSettings::Kind::smtps : NextHopSettings::Kind::smtp;
            auto hp = parse_host_port(std::string_view(*url).substr(smtps ? 8 : 7), smtps ? 465 : 25);
            if (!hp) s.fail(at, "relay.next_hop.url: \"" + *url + "\" has no usable host and port");
            n.host = hp->host;
            n.port = hp->port;
        }
    }
    using T = NextHopTls;
    if (auto v = s.choice<T>("tls", {{"required", T::required}, {"opportunistic", T::opportunistic}, {"none", T::none}})) {
        n.tls = *v;
    }
    if (auto v = s.boolean("verify")) n.verify = *v;
    if (auto v = s.string("ca_file")) n.ca_file = *v;
    if (auto v = s.string("auth_user")) n.auth_user = *v;
    if (auto v = s.string("auth_password_file")) n.auth_password_file = *v;
    if (auto v = s.integer("connect_timeout", 1, kMaxSeconds)) n.connect_timeout = std::chrono::seconds(*v);
    if (auto v = s.integer("timeout", 1, kMaxSeconds)) n.timeout = std::chrono::seconds(*v);
    if (n.auth_user.empty() != n.auth_password_file.empty()) {
        s.fail(t, "relay.next_hop.auth_user and auth_password_file go together");
    }
    // RFC 4954 §4: credentials only over an encrypted connection.
    if (!n.auth_user.empty() && n.kind == NextHopSettings::Kind::smtp && n.tls != NextHopTls::required) {
        s.fail(t, "relay.next_hop.auth_user needs tls = \"required\" (or smtps://): the password must not "
                  "cross the network in the clear");
    }
    s.finish();
}

}  // namespace

void read_relay(std::string_view origin, const toml::table& t, RelaySettings& r) {
    Section s(origin, t, "relay");
    for (auto [key, list] : {std::pair{"listen", &r.listen}, std::pair{"listen_tls", &r.listen_tls}}) {
        auto v = s.strings(key);
        if (!v) continue;
        for (const auto& l : *v) {
            if (!parse_host_port(l)) {
                s.fail(*t.get(key), s.where(key) + ": \"" + l + "\" is not \"host:port\" or \"[v6]:port\"");
            }
        }
        *list = *v;
    }
    if (r.listen.empty() && r.listen_tls.empty()) {
        s.fail(t, "relay.listen and relay.listen_tls are both empty: the relay would not listen at all");
    }
    if (auto v = s.string("hostname")) r.hostname = *v;
    if (auto v = s.strings("mynetworks")) {
        for (const auto& n : *v) {
            if (!IpNetwork::parse(n)) s.fail(*t.get("mynetworks"), "relay.mynetworks: \"" + n + "\" is not a network");
        }
        r.mynetworks = *v;
    }
    if (auto v = s.string("tls_cert_file")) r.tls_cert_file = *v;
    if (auto v = s.string("tls_key_file")) r.tls_key_file = *v;
    if (r.tls_cert_file.empty() != r.tls_key_file.empty()) {
        s.fail(t, "relay.tls_cert_file and relay.tls_key_file go together");
    }
    if (auto v = s.string("auth_users_file")) r.auth_users_file = *v;
    if (!r.listen_tls.empty() && r.tls_cert_file.empty()) s.fail(t, "relay.listen_tls needs tls_cert_file");
    if (!r.auth_users_file.empty() && r.tls_cert_file.empty()) {
        s.fail(t, "relay.auth_users_file needs tls_cert_file: AUTH is offered after STARTTLS only");
    }
    if (auto v = s.integer("max_message_size", 1024, std::int64_t{1} << 40)) r.max_message_size = *v;
    if (auto v = s.integer("max_recipients", 1, 100000)) r.max_recipients = static_cast<unsigned>(*v);
    if (auto v = s.integer("max_line_length", 1000, std::int64_t{1} << 30)) r.max_line_length = *v;
    if (auto v = s.integer("max_connections", 1, 100000)) r.max_connections = static_cast<unsigned>(*v);
    if (auto v = s.integer("idle_timeout", 1, kMaxSeconds)) r.idle_timeout = std::chrono::seconds(*v);
    if (auto v = s.integer("stop_grace", 1, 3600)) r.stop_grace = std::chrono::seconds(*v);
    if (t.contains("opaque_for")) r.opaque_for = read_domains(s, t, "opaque_for");
    if (auto v = s.integer("spool_threshold", 4096, std::int64_t{1} << 40)) r.spool_threshold = *v;
    if (auto v = s.string("spool_dir")) r.spool_dir = *v;
    if (auto v = s.integer("workers", 0, 1024)) r.workers = static_cast<unsigned>(*v);
    read_actions(s, r);
    const toml::table empty;
    read_next_hop(origin, sub_table(s, t, "next_hop", empty), r.next_hop);
    s.finish();
}

std::string relay_toml(const RelaySettings& r) {
    std::ostringstream o;
    o << "[relay]\nlisten = " << strings_toml(r.listen) << "\nlisten_tls = " << strings_toml(r.listen_tls)
      << "\nhostname = " << toml_string(r.hostname)
      << "\nmynetworks = " << strings_toml(r.mynetworks) << "\n";
    if (!r.tls_cert_file.empty()) {
        o << "tls_cert_file = " << toml_string(r.tls_cert_file.string()) << "\ntls_key_file = "
          << toml_string(r.tls_key_file.string()) << "\n";
    }
    if (!r.auth_users_file.empty()) o << "auth_users_file = " << toml_string(r.auth_users_file.string()) << "\n";
    o << "max_message_size = " << r.max_message_size << "\nmax_recipients = " << r.max_recipients
      << "\nmax_line_length = " << r.max_line_length << "\nmax_connections = " << r.max_connections
      << "\nidle_timeout = " << r.idle_timeout.count() << "\nstop_grace = " << r.stop_grace.count()
      << "\nopaque_for = " << strings_toml(r.opaque_for)
      << "\nspool_threshold = " << r.spool_threshold << "\nspool_dir = " << toml_string(r.spool_dir.string())
      << "\nworkers = " << r.workers << "\n"
      << actions_toml(r);
    const NextHopSettings& n = r.next_hop;
    static constexpr const char* kTls[] = {"required", "opportunistic", "none"};
    o << "\n[relay.next_hop]\nurl = " << toml_string(n.url) << "\ntls = \"" << kTls[static_cast<int>(n.tls)]
      << "\"\nverify = " << (n.verify ? "true" : "false") << "\n";
    if (!n.ca_file.empty()) o << "ca_file = " << toml_string(n.ca_file.string()) << "\n";
    if (!n.auth_user.empty()) {
        o << "auth_user = " << toml_string(n.auth_user) << "\nauth_password_file = "
          << toml_string(n.auth_password_file.string()) << "\n";
    }
    o << "connect_timeout = " << n.connect_timeout.count() << "\ntimeout = " << n.timeout.count() << "\n";
    return o.str();
}

}  // namespace ribbon::cfg
