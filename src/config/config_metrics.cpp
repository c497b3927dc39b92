// config_metrics.cpp — the [metrics] section of ribbon.toml
// (docs/CONFIGURATION.md, docs/MONITORING.md).
#include <arpa/inet.h>

#include <cstring>
#include <optional>
#include <string>

#include "config/config_reader.hpp"
#include "ribbon/network.hpp"

namespace ribbon::cfg {

namespace {

// Nothing when `host` is no IP address; else whether it is a loopback
// one: 127.0.0.0/8 and ::1 (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3), an
// IPv4-mapped loopback address counting as the IPv4 one.
std::optional<bool> loopback(const std::string& host) {
    unsigned char bytes[16];
    if (::inet_pton(AF_INET, host.c_str(), bytes) == 1) return bytes[0] == 127;
    if (::inet_pton(AF_INET6, host.c_str(), bytes) != 1) return std::nullopt;
    static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes, kMapped, 12) == 0) return bytes[12] == 127;
    return std::memcmp(bytes, kLoopback, 16) == 0;
}

}  // namespace

void read_metrics(std::string_view origin, const toml::table& t, MetricsSettings& m) {
    Section s(origin, t, "metrics");
    if (auto v = s.boolean("allow_remote")) m.allow_remote = *v;
    for (const char* key : {"listen", "relay_listen"}) {
        auto v = s.string(key);
        if (!v) continue;
        (std::string_view(key) == "listen" ? m.listen : m.relay_listen) = *v;
        if (v->empty()) continue;
        const std::string name = std::string("metrics.") + key;
        auto hp = parse_host_port(*v);
        // An address, not a name: where the daemon listens must not
        // depend on DNS at start-up.
        auto is_loopback = hp ? loopback(hp->host) : std::nullopt;
        if (!is_loopback) {
            s.fail(*t.get(key), name + " must be \"address:port\" with an IP address, such as "
                                     "\"127.0.0.1:9425\" or \"[::1]:9425\", not \"" + *v + "\"");
        }
        if (!m.allow_remote && !*is_loopback) {
            s.fail(*t.get(key), name + " \"" + *v + "\" is not a loopback address: set "
                                     "metrics.allow_remote = true to serve the metrics to other hosts "
                                     "(and firewall the port)");
        }
    }
    if (!m.relay_listen.empty() && m.relay_listen == m.listen) {
        s.fail(*t.get("relay_listen"), "metrics.relay_listen must differ from metrics.listen: the milter and the "
                                       "relay cannot share a port");
    }
    s.finish();
}

std::string metrics_toml(const MetricsSettings& m) {
    return "[metrics]\nlisten = " + toml_string(m.listen) + "\nrelay_listen = " + toml_string(m.relay_listen) +
           "\nallow_remote = " + (m.allow_remote ? "true" : "false") + "\n";
}

}  // namespace ribbon::cfg
