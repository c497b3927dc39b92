// store.cpp — RecipientStore::open: which backend a URL names
// (docs/STORE.md, "URLs"). Trusts nothing in the URL; it comes from
// ribbon.toml or the command line, and may hold a password, which no error
// message repeats.
#include <vector>

#include "base/ascii.hpp"
#include "ribbon/recipients.hpp"
#include "store/backends.hpp"
#include "store/sql_store.hpp"

namespace ribbon {

namespace store {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Error bad_url(std::string_view url, const std::string& why) {
    return permanent_error(Errc::bad_config,
                           "recipients store URL \"" + mask_url(url) + "\": " + why);
}

// sqlite:///var/lib/ribbon/ribbon.db (RFC 8089's file: form: an empty or
// "localhost" authority) or sqlite:/var/lib/ribbon/ribbon.db. Relative
// paths are refused: a daemon's working directory is "/" or unknown, and
// "the database moved when ribbon was started elsewhere" is a bad surprise.
// %XX escapes are decoded, so any file name can be written.
Result<std::filesystem::path> sqlite_path(std::string_view url) {
    std::string_view rest = url.substr(std::string_view("sqlite:").size());
    if (rest.starts_with("//")) {
        rest.remove_prefix(2);
        const std::size_t slash = rest.find('/');
        const std::string_view authority = rest.substr(0, slash);
        if (slash == std::string_view::npos || !(authority.empty() || authority == "localhost")) {
            return bad_url(url, "a SQLite store is a local file: sqlite:///absolute/path.db");
        }
        rest.remove_prefix(slash);
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
        return bad_url(url, "a SQLite store URL takes no parameters (write '?' as %3F)");
    }
    std::string path;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] != '%') {
            path += rest[i];
            continue;
        }
        const int hi = i + 2 < rest.size() ? hex_digit(rest[i + 1]) : -1;
        const int lo = hi >= 0 ? hex_digit(rest[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) return bad_url(url, "bad %-escape");
        path += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    if (path.empty() || path.front() != '/') {
        return bad_url(url, "the path must be absolute: sqlite:///absolute/path.db");
    }
    if (path.back() == '/') return bad_url(url, "the path names a directory, not a file");
    return std::filesystem::path(path);
}

}  // namespace

namespace {

// Where the secrets are in `url`: [begin, end) of the password in its user
// information and of each "password=" parameter's value, in order.
std::vector<std::pair<std::size_t, std::size_t>> secret_spans(std::string_view url) {
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    // postgresql://user:password@host/...: the user information ends at the
    // authority's last '@' (RFC 3986 §3.2.1). A password with a stray '/'
    // in it must not escape, so the last '@' before the query counts, at the
    // cost of masking too much in a URL whose database name holds an '@'.
    if (const std::size_t scheme = url.find("://"); scheme != std::string_view::npos) {
        const std::size_t start = scheme + 3;
        std::size_t end = url.find_first_of("?#", start);
        if (end == std::string_view::npos) end = url.size();
        const std::size_t at = end > start ? url.rfind('@', end - 1) : std::string_view::npos;
        if (at != std::string_view::npos && at >= start) {
            const std::size_t colon = url.find(':', start);
            if (colon < at) spans.emplace_back(colon + 1, at);
        }
    }
    // ?password=... and sslpassword=... (libpq URI parameters), also in a
    // key=value connection string someone wrote by mistake.
    const std::string lower = ascii_lower(url);
    std::size_t pos = 0;
    while ((pos = lower.find("password=", pos)) != std::string::npos) {
        const std::size_t value = pos + 9;
        std::size_t end = lower.find_first_of("& #", value);
        if (end == std::string::npos) end = lower.size();
        if (spans.empty() || value >= spans.back().second) spans.emplace_back(value, end);
        pos = end;
    }
    return spans;
}

}  // namespace

std::string mask_url(std::string_view url) {
    std::string out(url);
    const auto spans = secret_spans(url);
    for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        out.replace(it->first, it->second - it->first, "***");
    }
    return out;
}

std::string without_secrets(std::string text, std::string_view url) {
    for (const auto& [begin, end] : secret_spans(url)) {
        const std::string secret(url.substr(begin, end - begin));
        if (secret.empty()) continue;
        for (std::size_t pos = 0; (pos = text.find(secret, pos)) != std::string::npos; pos += 3) {
            text.replace(pos, secret.size(), "***");
        }
    }
    return text;
}

}  // namespace store

std::string redacted_store_url(std::string_view url) { return store::mask_url(url); }

std::optional<std::filesystem::path> sqlite_store_file(std::string_view url) {
    if (!ascii_istarts_with(url, "sqlite:")) return std::nullopt;
    auto path = store::sqlite_path(url);
    if (!path) return std::nullopt;
    return *path;
}

std::optional<std::string> recipient_address_key(std::string_view address) {
    return store::normalise_address(address);
}

Result<std::unique_ptr<RecipientStore>> RecipientStore::open(std::string_view url,
                                                              StoreAccess access) {
    // Schemes are case-insensitive (RFC 3986 §3.1); libpq wants lower case.
    if (ascii_istarts_with(url, "sqlite:")) {
        auto path = store::sqlite_path(url);
        if (!path) return std::move(path).error();
        return store::open_sqlite(*path, access);
    }
    for (std::string_view scheme : {"postgresql://", "postgres://"}) {
        if (ascii_istarts_with(url, scheme)) {
            std::string lowered(url);
            for (std::size_t i = 0; i < scheme.size(); ++i) lowered[i] = scheme[i];
            return store::open_postgres(lowered);
        }
    }
    return store::bad_url(url, "use sqlite:///path/to/file.db or postgresql://user@host/dbname");
}

}  // namespace ribbon
