// config_learn.cpp — the [store] and [learn] sections of ribbon.toml
// (docs/CONFIGURATION.md).
#include <string>

#include "config/config_reader.hpp"

namespace ribbon {

namespace cfg {

namespace {

// The URL is checked for its scheme only: the rest is the backend's to
// judge when it opens it (RecipientStore::open names what is wrong).
bool known_store_url(std::string_view url) {
    return url.empty() || url.starts_with("sqlite:") || url.starts_with("postgresql://") ||
           url.starts_with("postgres://");
}

}  // namespace

void read_store(std::string_view origin, const toml::table& t, StoreSettings& st) {
    Section s(origin, t, "store");
    if (auto v = s.string("url")) {
        if (!known_store_url(*v)) {
            s.fail(*t.get("url"), "store.url must be \"sqlite:///path\" or \"postgresql://...\" (or \"\" for none)");
        }
        st.url = *v;
    }
    if (auto v = s.integer("cache_ttl", 0, 86400)) st.cache_ttl = std::chrono::seconds(*v);
    if (auto v = s.integer("cache_size", 0, 100'000'000)) st.cache_size = static_cast<std::size_t>(*v);
    s.finish();
}

void read_learn(std::string_view origin, const toml::table& t, LearnSettings& l) {
    Section s(origin, t, "learn");
    if (auto v = s.strings("rules")) {
        l.rules.clear();
        for (const auto& path : *v) {
            if (path.empty() || path.front() != '/') {
                s.fail(*t.get("rules"), "learn.rules must hold absolute paths, not \"" + path + "\"");
            }
            l.rules.emplace_back(path);
        }
    }
    if (t.contains("domains")) l.domains = read_domains(s, t, "domains");
    if (auto v = s.integer("queue", 1, 1'000'000)) l.queue = static_cast<std::size_t>(*v);
    if (auto v = s.integer("max_message_size", 1024, std::int64_t{1} << 40)) l.max_message_size = *v;
    s.finish();
}

std::string store_learn_toml(const StoreSettings& st, const LearnSettings& l) {
    std::vector<std::string> rules;
    for (const auto& p : l.rules) rules.push_back(p.string());
    return "[store]\nurl = " + toml_string(st.url) + "\ncache_ttl = " + std::to_string(st.cache_ttl.count()) +
           "\ncache_size = " + std::to_string(st.cache_size) + "\n\n[learn]\nrules = " + strings_toml(rules) +
           "\ndomains = " + strings_toml(l.domains) + "\nqueue = " + std::to_string(l.queue) + "\nmax_message_size = " + std::to_string(l.max_message_size) + "\n";
}

}  // namespace cfg
}  // namespace ribbon
