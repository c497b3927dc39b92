// dashboard.hpp — `ribbon dashboard` (docs/DASHBOARD.md): one page of
// charts over what the keystore and the recipients store hold, served by
// http::Server. dashboard_command.cpp is the command (options, the TLS and
// password rule, the server's life); dashboard_api.cpp answers requests:
// the page's files and one JSON document per panel, each built by a pure
// function below so tests can compare them with what the store holds.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http/server.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/recipients.hpp"

namespace ribbon::cli::dashboard {

// Debian's libjs-chart.js (Chart.js 3, the UMD build), served as chart.js.
inline constexpr const char* kChartJs = "/usr/share/javascript/chart.js/chart.min.js";

// What the answers are read from. The store is used by the server's one
// thread only (RecipientStore: one thread at a time).
struct Sources {
    std::filesystem::path keystore;
    RecipientStore* store = nullptr;
    std::filesystem::path chart_js = kChartJs;
};

// The answer to one request (GET or HEAD; http::Server sends no body for HEAD).
http::Response respond(const http::Request& request, Sources& sources);

// A certificate's days left at which its renewal is due (as `ribbon keys
// check`'s default --warn-days) and urgent (--critical-days).
inline constexpr std::int64_t kRenewalDueDays = 30;
inline constexpr std::int64_t kRenewalUrgentDays = 7;

// /api/ids: every certificate of the keystore, and per address whether a
// renewal is due. Times are Unix seconds.
nlohmann::json ids_json(const std::vector<KeystoreEntry>& entries, TimePoint now);

// /api/messages: per hour of the last `days` days up to the current hour,
// the messages signed, passed unsigned, tempfailed and rejected, summed
// over hosts and front ends; totals; the reasons of all but "signed".
nlohmann::json messages_json(const std::vector<MessageCount>& counts, UnixTime now, int days);
// The first hour messages_json covers.
UnixTime messages_since(UnixTime now, int days);

// /api/recipients: RecipientStats as it is.
nlohmann::json recipients_json(const RecipientStats& stats);

// /api/failures: the latest failures, newest first.
nlohmann::json failures_json(const std::vector<FailureRecord>& failures);

}  // namespace ribbon::cli::dashboard
