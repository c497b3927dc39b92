// config_inbound.cpp — the [inbound] section of ribbon.toml
// (docs/CONFIGURATION.md, docs/RECEIVING.md).
#include <string>

#include "config/config_reader.hpp"

namespace ribbon::cfg {

namespace {

// RFC 8601 §2.2: authserv-id = value (an RFC 2045 token or a
// quoted-string); ribbon takes the token form, the form every MTA writes
// (a domain name, §2.5), so the forged-field rule compares like with like.
bool is_authserv_id(std::string_view id) {
    if (id.empty() || id.size() > 255) return false;
    for (char c : id) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos) {
            return false;
        }
    }
    return true;
}

}  // namespace

void read_inbound(std::string_view origin, const toml::table& t, InboundSettings& in) {
    Section s(origin, t, "inbound");
    if (auto v = s.boolean("verify")) in.verify = *v;
    if (auto v = s.string("authserv_id")) {
        if (!v->empty() && !is_authserv_id(*v)) {
            s.fail(*t.get("authserv_id"), "inbound.authserv_id must be a name such as \"mx.bank.example\" "
                                          "(letters, digits, dots, hyphens; RFC 8601 §2.5), not \"" + *v + "\"");
        }
        in.authserv_id = *v;
    }
    if (auto v = s.string("ca_file")) {
        if (!v->empty() && v->front() != '/') {
            s.fail(*t.get("ca_file"), "inbound.ca_file must be an absolute path, not \"" + *v + "\"");
        }
        in.ca_file = *v;
    }
    if (auto v = s.choice<InboundErrorAction>("on_internal_error", {{"stamp", InboundErrorAction::stamp},
                                                                   {"tempfail", InboundErrorAction::tempfail}})) {
        in.on_internal_error = *v;
    }
    if (auto v = s.boolean("continuity")) in.continuity = *v;
    if (auto v = s.integer("known_domains_refresh", 1, 86400)) in.known_domains_refresh = static_cast<std::uint32_t>(*v);
    if (in.verify && in.authserv_id.empty()) {
        s.fail(t, "inbound.verify = true needs inbound.authserv_id: the name ribbon signs its "
                  "Authentication-Results with (RFC 8601 §2.5), the same on every MX");
    }
    s.finish();
}

std::string inbound_toml(const InboundSettings& in) {
    return std::string("[inbound]\nverify = ") + (in.verify ? "true" : "false") +
           "\nauthserv_id = " + toml_string(in.authserv_id) + "\nca_file = " + toml_string(in.ca_file.string()) +
           "\non_internal_error = \"" + (in.on_internal_error == InboundErrorAction::stamp ? "stamp" : "tempfail") +
           "\"\ncontinuity = " + (in.continuity ? "true" : "false") +
           "\nknown_domains_refresh = " + std::to_string(in.known_domains_refresh) + "\n";
}

}  // namespace ribbon::cfg
