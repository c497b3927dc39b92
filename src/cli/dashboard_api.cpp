// dashboard_api.cpp — what `ribbon dashboard` answers (dashboard.hpp): the
// page, its stylesheet and script (data/dashboard/, built in), Debian's
// Chart.js, and one JSON document per panel. Everything is read when it is
// asked for, so a reload shows the store as it is now.
//
// Text from the store and the certificates goes out as JSON strings only;
// the page puts it into the document with textContent, never as markup.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/dashboard.hpp"
#include "cli/json_out.hpp"

namespace ribbon::cli {
// Generated from data/dashboard/ by CMakeLists.txt.
extern const std::string_view kDashboard_page_html;
extern const std::string_view kDashboard_dashboard_css;
extern const std::string_view kDashboard_dashboard_js;
}  // namespace ribbon::cli

namespace ribbon::cli::dashboard {

namespace {

constexpr UnixTime kHour = 3600;
constexpr int kDefaultDays = 7;
constexpr int kMaxDays = 31;
constexpr std::size_t kFailuresShown = 50;

UnixTime unix_seconds(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

http::Response answer(unsigned status, std::string content_type, std::string body) {
    http::Response r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.body = std::move(body);
    // The page runs its own script and stylesheet only: no inline script,
    // no inline style element, nothing from elsewhere (CSP Level 3). Chart.js
    // sets canvas sizes through the CSSOM, which style-src does not govern.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    return r;
}

http::Response json_answer(const nlohmann::json& j) {
    return answer(200, "application/json", json_line(j));
}

http::Response unavailable(const Error& e) {
    return answer(503, "application/json", json_line({{"error", e.message()}}));
}

// The value of `name` in a query string of name=value pairs; "" when absent.
std::string query_value(const std::string& query, std::string_view name) {
    std::istringstream in(query);
    std::string pair;
    while (std::getline(in, pair, '&')) {
        if (pair.size() > name.size() && pair.compare(0, name.size(), name) == 0 &&
            pair[name.size()] == '=')
            return pair.substr(name.size() + 1);
    }
    return {};
}

int days_of(const std::string& query) {
    const std::string v = query_value(query, "days");
    if (v.empty() || v.size() > 3 || !std::all_of(v.begin(), v.end(), ::isdigit))
        return kDefaultDays;
    return std::clamp(std::stoi(v), 1, kMaxDays);
}

http::Response chart_js(const Sources& sources) {
    std::ifstream in(sources.chart_js, std::ios::binary);
    if (!in) {
        return answer(404, "text/plain; charset=utf-8",
                      "Chart.js is not installed at " + sources.chart_js.string() +
                          " (Debian package libjs-chart.js)\n");
    }
    std::ostringstream body;
    body << in.rdbuf();
    return answer(200, "text/javascript; charset=utf-8", body.str());
}

// What to make of one address's certificates: "ok", "renewed" (the
// current one ends soon but a next one takes over in time), "due",
// "urgent", "expired" (nothing valid now, nothing to come) or "waiting"
// (nothing valid now, a next one to come).
std::string renewal_state(const std::vector<const KeystoreEntry*>& certs) {
    const KeystoreEntry* current = nullptr;
    std::vector<const KeystoreEntry*> next;
    for (const KeystoreEntry* e : certs) {
        if (e->status == IdStatus::current) current = e;
        if (e->status == IdStatus::next) next.push_back(e);
    }
    if (!current) return next.empty() ? "expired" : "waiting";
    if (current->days_left > kRenewalDueDays) return "ok";
    const bool covered = std::any_of(next.begin(), next.end(), [&](const KeystoreEntry* n) {
        return n->certificate.not_before <= current->certificate.not_after;
    });
    if (covered) return "renewed";
    return current->days_left > kRenewalUrgentDays ? "due" : "urgent";
}

}  // namespace

nlohmann::json ids_json(const std::vector<KeystoreEntry>& entries, TimePoint now) {
    nlohmann::json certificates = nlohmann::json::array();
    std::map<std::string, std::vector<const KeystoreEntry*>> by_address;
    for (const KeystoreEntry& e : entries) {
        nlohmann::json j = {{"address", e.address}};
        if (!e.problem.empty()) {
            j["problem"] = e.problem;
            certificates.push_back(std::move(j));
            continue;
        }
        by_address[e.address].push_back(&e);
        j["status"] = std::string(id_status_name(e.status));
        j["serial"] = e.certificate.serial_hex;
        j["subject"] = e.certificate.subject;
        j["issuer"] = e.certificate.issuer;
        j["not_before"] = unix_seconds(e.certificate.not_before);
        j["not_after"] = unix_seconds(e.certificate.not_after);
        j["days_left"] = e.days_left;
        j["key_present"] = e.key_present;
        j["dev_ca"] = e.dev_ca;
        certificates.push_back(std::move(j));
    }
    nlohmann::json addresses = nlohmann::json::array();
    for (const auto& [address, certs] : by_address) {
        nlohmann::json a = {{"address", address}, {"state", renewal_state(certs)}};
        for (const KeystoreEntry* e : certs) {
            if (e->status == IdStatus::current) {
                a["current"] = e->certificate.serial_hex;
                a["days_left"] = e->days_left;
            }
        }
        addresses.push_back(std::move(a));
    }
    return {{"now", unix_seconds(now)},
            {"due_days", kRenewalDueDays},
            {"urgent_days", kRenewalUrgentDays},
            {"addresses", std::move(addresses)},
            {"certificates", std::move(certificates)}};
}

UnixTime messages_since(UnixTime now, int days) {
    return now - now % kHour - (static_cast<UnixTime>(days) * 24 - 1) * kHour;
}

nlohmann::json messages_json(const std::vector<MessageCount>& counts, UnixTime now, int days) {
    const UnixTime since = messages_since(now, days);
    const std::size_t hours = static_cast<std::size_t>(days) * 24;
    std::map<std::string, std::vector<std::uint64_t>> series;
    std::map<std::string, std::uint64_t> totals;
    std::map<std::string, std::map<std::string, std::uint64_t>> reasons;
    for (std::string_view result : kMessageResults) {
        series[std::string(result)].assign(hours, 0);
        totals[std::string(result)] = 0;
    }
    for (const MessageCount& c : counts) {
        const auto it = series.find(c.result);
        if (it == series.end() || c.hour < since) continue;
        const auto slot = static_cast<std::size_t>((c.hour - since) / kHour);
        if (slot >= hours) continue;  // a host whose clock is ahead
        it->second[slot] += c.messages;
        totals[c.result] += c.messages;
        if (c.result != "signed") reasons[c.result][c.reason.empty() ? "-" : c.reason] += c.messages;
    }
    nlohmann::json hour_list = nlohmann::json::array();
    for (std::size_t i = 0; i < hours; ++i) hour_list.push_back(since + static_cast<UnixTime>(i) * kHour);
    return {{"since", since}, {"days", days},   {"hours", std::move(hour_list)},
            {"series", series}, {"totals", totals}, {"reasons", reasons}};
}

nlohmann::json recipients_json(const RecipientStats& stats) {
    nlohmann::json clients = nlohmann::json::array();
    for (const auto& c : stats.clients) {
        clients.push_back({{"name", c.name},
                           {"smime", std::string(smime_support_name(c.smime))},
                           {"addresses", c.addresses}});
    }
    return {{"total", stats.total},         {"supported", stats.supported},
            {"unsupported", stats.unsupported}, {"unknown", stats.unknown},
            {"opted_out", stats.opted_out}, {"overridden", stats.overridden},
            {"clients", std::move(clients)}};
}

nlohmann::json failures_json(const std::vector<FailureRecord>& failures) {
    nlohmann::json list = nlohmann::json::array();
    for (const FailureRecord& f : failures) {
        list.push_back({{"time", f.time},
                        {"host", f.host},
                        {"front_end", f.front_end},
                        {"result", f.result},
                        {"kind", f.kind},
                        {"detail", f.detail}});
    }
    return {{"failures", std::move(list)}};
}

http::Response respond(const http::Request& request, Sources& sources) {
    const std::string& path = request.path;
    if (path == "/" || path == "/index.html")
        return answer(200, "text/html; charset=utf-8", std::string(kDashboard_page_html));
    if (path == "/dashboard.css")
        return answer(200, "text/css; charset=utf-8", std::string(kDashboard_dashboard_css));
    if (path == "/dashboard.js")
        return answer(200, "text/javascript; charset=utf-8", std::string(kDashboard_dashboard_js));
    if (path == "/chart.js") return chart_js(sources);
    const auto now = std::chrono::system_clock::now();
    if (path == "/api/ids") {
        auto entries = Keystore(sources.keystore).list(now);
        if (!entries) return unavailable(entries.error());
        return json_answer(ids_json(*entries, now));
    }
    if (path == "/api/messages") {
        const int days = days_of(request.query);
        const UnixTime t = unix_seconds(now);
        auto counts = sources.store->message_counts(messages_since(t, days));
        if (!counts) return unavailable(counts.error());
        return json_answer(messages_json(*counts, t, days));
    }
    if (path == "/api/recipients") {
        auto stats = sources.store->stats();
        if (!stats) return unavailable(stats.error());
        return json_answer(recipients_json(*stats));
    }
    if (path == "/api/failures") {
        auto failures = sources.store->recent_failures(kFailuresShown);
        if (!failures) return unavailable(failures.error());
        return json_answer(failures_json(*failures));
    }
    return answer(404, "text/plain; charset=utf-8", "not found\n");
}

}  // namespace ribbon::cli::dashboard
