// metrics_server.hpp — [metrics] listen: a daemon's Telemetry served in the
// Prometheus text format at /metrics (docs/MONITORING.md), over ribbon's
// HTTP server (src/http).
#pragma once

#include <memory>

#include "daemon/telemetry.hpp"
#include "http/server.hpp"
#include "ribbon/config.hpp"
#include "ribbon/error.hpp"

namespace ribbon::daemon {

// Where `front_end` serves its metrics: [metrics] listen, or for the relay
// relay_listen when set (both daemons read one file). Empty: nowhere.
const std::string& metrics_listen(const MetricsSettings& settings, FrontEndKind front_end);

// Starts listening there (call before dropping root: any port may be
// configured); null when that is empty. The server keeps `telemetry` alive.
Result<std::unique_ptr<http::Server>> serve_metrics(const MetricsSettings& settings,
                                                    std::shared_ptr<Telemetry> telemetry);

}  // namespace ribbon::daemon
