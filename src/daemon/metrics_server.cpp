// metrics_server.cpp — see metrics_server.hpp.
#include "daemon/metrics_server.hpp"

namespace ribbon::daemon {

const std::string& metrics_listen(const MetricsSettings& settings, FrontEndKind front_end) {
    return front_end == FrontEndKind::relay && !settings.relay_listen.empty() ? settings.relay_listen
                                                                              : settings.listen;
}

Result<std::unique_ptr<http::Server>> serve_metrics(const MetricsSettings& settings,
                                                    std::shared_ptr<Telemetry> telemetry) {
    const FrontEndKind front_end = telemetry->front_end();
    const std::string& listen = metrics_listen(settings, front_end);
    if (listen.empty()) return std::unique_ptr<http::Server>();
    http::ServerSettings server;
    server.listen = listen;
    server.setting = &listen == &settings.relay_listen ? "metrics.relay_listen" : "metrics.listen";
    server.allow_remote = settings.allow_remote;
    auto started = http::Server::start(server, [telemetry = std::move(telemetry)](const http::Request& request) {
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
    // The likeliest reason, when both daemons read one file.
    if (!started && started.error().code() == Errc::io_error && settings.relay_listen.empty()) {
        return Error(Errc::io_error, started.error().kind(),
                     started.error().message() + " (the milter and the relay need a port each: set "
                                                 "metrics.relay_listen for the relay)");
    }
    return started;
}

}  // namespace ribbon::daemon
