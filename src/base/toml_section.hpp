// toml_section.hpp — the strict TOML table reader: every key typed and
// range-checked, every message naming the file and line, any key left
// unread reported as unknown (a misspelt key must not be ignored). Used by
// the two layers that read TOML files: the configuration reader
// (src/config/, ribbon.toml) and learning (src/learn/, client rules files).
// Header-only; a layer that includes it links toml++.
//
// toml++ reports syntax errors by exception, so validation throws one
// private exception type too (ConfigError); Config::parse and
// ClientRules' parse_rules are the only places either is caught and turned
// into an Error value.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <utility>
#include <vector>

namespace ribbon::base {

struct ConfigError {
    std::string message;
};

// The TOML document in `text`; a syntax error is a ConfigError naming
// `origin` and the line, as every other complaint about the file is.
inline toml::table parse_document(std::string_view text, std::string_view origin) {
    try {
        return toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        throw ConfigError{std::string(origin) + ":" + std::to_string(e.source().begin.line) + ": " +
                          std::string(e.description())};
    }
}

// One TOML table being read: remembers which keys were used, so anything
// left over is reported as unknown (a misspelt key must not be ignored).
// `name` prefixes keys in messages ("relay.listen"); `context`, when given,
// prefixes every message (a client rules file's "client rule 3 (\"X\")").
class Section {
public:
    Section(std::string_view origin, const toml::table& table, std::string name, std::string context = {})
        : m_origin(origin), m_table(table), m_name(std::move(name)), m_context(std::move(context)) {}

    [[noreturn]] void fail(const toml::node& at, const std::string& what) const {
        throw ConfigError{m_origin + ":" + std::to_string(at.source().begin.line) + ": " +
                          (m_context.empty() ? what : m_context + ": " + what)};
    }

    const toml::node* get(std::string_view key) {
        m_used.emplace(key);
        return m_table.get(key);
    }

    std::optional<std::string> string(std::string_view key) {
        const toml::node* n = get(key);
        if (n == nullptr) return std::nullopt;
        if (!n->is_string()) fail(*n, where(key) + " must be a string");
        return n->as_string()->get();
    }

    std::optional<bool> boolean(std::string_view key) {
        const toml::node* n = get(key);
        if (n == nullptr) return std::nullopt;
        if (!n->is_boolean()) fail(*n, where(key) + " must be true or false");
        return n->as_boolean()->get();
    }

    std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) {
        const toml::node* n = get(key);
        if (n == nullptr) return std::nullopt;
        if (!n->is_integer()) fail(*n, where(key) + " must be an integer");
        std::int64_t v = n->as_integer()->get();
        if (v < min || v > max) {
            fail(*n, where(key) + " must be between " + std::to_string(min) + " and " +
                         std::to_string(max) + ", not " + std::to_string(v));
        }
        return v;
    }

    std::optional<std::vector<std::string>> strings(std::string_view key) {
        const toml::node* n = get(key);
        if (n == nullptr) return std::nullopt;
        const toml::array* arr = n->as_array();
        if (arr == nullptr) fail(*n, where(key) + " must be an array of strings");
        std::vector<std::string> out;
        for (const toml::node& e : *arr) {
            if (!e.is_string()) fail(e, where(key) + " must contain only strings");
            out.push_back(e.as_string()->get());
        }
        return out;
    }

    // A string that must be one of `choices`.
    template <class T>
    std::optional<T> choice(std::string_view key, std::initializer_list<std::pair<std::string_view, T>> choices) {
        auto s = string(key);
        if (!s) return std::nullopt;
        for (const auto& [name, value] : choices) {
            if (*s == name) return value;
        }
        std::string names;
        for (const auto& c : choices) names += (names.empty() ? "\"" : ", \"") + std::string(c.first) + "\"";
        fail(*m_table.get(key), where(key) + " must be one of " + names + ", not \"" + *s + "\"");
    }

    void finish() const {
        for (const auto& [k, v] : m_table) {
            if (!m_used.contains(std::string(k.str()))) {
                fail(v, "unknown key " + where(k.str()));
            }
        }
    }

    std::string where(std::string_view key) const {
        return m_name.empty() ? std::string(key) : m_name + "." + std::string(key);
    }

private:
    std::string m_origin;
    const toml::table& m_table;
    std::string m_name;
    std::string m_context;
    std::set<std::string, std::less<>> m_used;
};

inline const toml::table& sub_table(Section& root, const toml::table& doc, std::string_view key,
                             const toml::table& empty) {
    const toml::node* n = root.get(key);
    if (n == nullptr) return empty;
    if (!n->is_table()) {
        // Appended, not `"[" + ...`: GCC 12 warns (-Wrestrict, a false
        // positive) on that operator+ once inlined here.
        std::string what = root.where(key);
        what.insert(what.begin(), '[');
        what += "] must be a table";
        root.fail(*n, what);
    }
    return *doc.get(key)->as_table();
}

}  // namespace ribbon::base
