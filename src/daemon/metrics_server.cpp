// metrics_server.cpp — see metrics_server.hpp.
#include "daemon/metrics_server.hpp"

namespace ribbon::daemon {

Result<std::unique_ptr<http::Server>> serve_metrics(const MetricsSettings& settings,
                                                    std::shared_ptr<Telemetry> telemetry) {
    if (settings.listen.empty()) return std::unique_ptr<http::Server>();
    http::ServerSettings server;
    server.listen = settings.listen;
    server.setting = "metrics.listen";
    server.allow_remote = settings.allow_remote;
    return http::Server::start(server, [telemetry = std::move(telemetry)](const http::Request& request) {
        http::Response response;
        if (request.path != "/metrics") {
            response.status = 404;
            response.body = "ribbon serves its metrics at /metrics\n";
            return response;
        }
        // The text exposition format, version 0.0.4 (what Prometheus asks
        // for in its Accept header and promtool reads).
        response.content_type = "text/plain; version=0.0.4; charset=utf-8";
        response.body = telemetry->scrape();
        return response;
    });
}

}  // namespace ribbon::daemon
