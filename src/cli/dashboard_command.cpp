// dashboard_command.cpp — `ribbon dashboard`: serves the dashboard page
// (dashboard_api.cpp) until SIGTERM or SIGINT.
//
// A command of its own rather than a page of the daemons (docs/DASHBOARD.md):
// it only reads, so it needs read access to the store and to the keystore's
// certificates, never to the signing keys; the processes that hold the keys
// get no HTTP surface for it; and one dashboard shows every host that
// shares a PostgreSQL store.
//
// The rule for where it listens: loopback by default; any other address
// only with TLS and a password, since the page shows customers' failures
// and the organisation's certificates, and a password sent without TLS is
// no protection (RFC 7617 §4).
#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/commands.hpp"
#include "cli/dashboard.hpp"
#include "cli/store_config.hpp"
#include "daemon/daemon.hpp"
#include "http/server.hpp"

namespace ribbon::cli {

namespace {

constexpr const char* kPasswordEnv = "RIBBON_DASHBOARD_PASSWORD";

struct DashboardArgs {
    StoreArgs store;
    std::string keystore;
    std::string listen = "127.0.0.1:9426";
    std::string tls_cert;
    std::string tls_key;
    std::string password_file;
};

// The address part of "address:port" or "[v6]:port".
std::string listen_address(const std::string& listen) {
    if (listen.starts_with('[')) {
        const auto close = listen.find(']');
        return close == std::string::npos ? listen : listen.substr(1, close - 1);
    }
    const auto colon = listen.rfind(':');
    return colon == std::string::npos ? listen : listen.substr(0, colon);
}

bool is_ip_address(const std::string& text) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// The server's settings, or nullopt with the reason on stderr.
std::optional<http::ServerSettings> server_settings(const DashboardArgs& args, Secret& password) {
    http::ServerSettings s;
    s.listen = args.listen;
    s.setting = "--listen";
    s.tls_certificate = args.tls_cert;
    s.tls_key = args.tls_key;
    if (auto r = read_secret(args.password_file, kPasswordEnv, password); !r) {
        report_error("dashboard", args.password_file, r.error());
        return std::nullopt;
    }
    if (!args.password_file.empty() && password.bytes.empty()) {
        std::fprintf(stderr, "ribbon dashboard: %s: the password is empty [bad_config]\n",
                     args.password_file.c_str());
        return std::nullopt;
    }
    s.password = password.bytes;
    // A value that is no IP address at all is left to Server::start, which
    // says what is wrong with it.
    const std::string address = listen_address(args.listen);
    if (is_ip_address(address) && !http::is_loopback(address)) {
        if (args.tls_cert.empty() || args.tls_key.empty() || s.password.empty()) {
            std::fprintf(stderr,
                         "ribbon dashboard: --listen %s is not a loopback address: a dashboard "
                         "other hosts can reach needs --tls-cert, --tls-key and --password-file "
                         "(docs/DASHBOARD.md) [bad_config]\n",
                         args.listen.c_str());
            return std::nullopt;
        }
        s.allow_remote = true;
    }
    return s;
}

int run_dashboard(const DashboardArgs& args) {
    Secret password;
    auto settings = server_settings(args, password);
    if (!settings) return kConfig;
    int exit_code = kOk;
    // Read-only: a user who may only read the SQLite file can run it.
    auto setup = open_store_and_config(args.store, "dashboard", exit_code, StoreAccess::read_only);
    if (!setup) return exit_code;
    dashboard::Sources sources;
    sources.store = setup->store.get();
    if (!args.keystore.empty())
        sources.keystore = args.keystore;
    else if (!args.store.config.empty() || std::filesystem::exists(Config::default_path()))
        sources.keystore = setup->config.keystore;
    else
        sources.keystore = Keystore::default_dir();
    if (!std::filesystem::exists(sources.chart_js)) {
        std::fprintf(stderr,
                     "ribbon dashboard: warning: %s is missing (install libjs-chart.js): the page "
                     "shows tables only\n",
                     sources.chart_js.c_str());
    }
    // Before the server's thread starts, so that it inherits the mask.
    daemon::block_control_signals();
    auto server = http::Server::start(
        *settings, [&sources](const http::Request& r) { return dashboard::respond(r, sources); });
    if (!server) {
        report_error("dashboard", "", server.error());
        return exit_code_for(server.error());
    }
    std::fprintf(stderr, "ribbon dashboard: serving %s://%s:%u/ (keystore %s, store %s)\n",
                 (*server)->tls() ? "https" : "http", listen_address(args.listen).c_str(),
                 static_cast<unsigned>((*server)->port()), sources.keystore.c_str(),
                 redacted_store_url(args.store.url.empty() ? setup->config.store.url
                                                           : args.store.url)
                     .c_str());
    // Everything is read per request: SIGHUP has nothing to reload.
    daemon::run_signal_loop([] {}, [] {}, [] { return false; });
    return kOk;
}

}  // namespace

void register_dashboard(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<DashboardArgs>();
    CLI::App* cmd = app.add_subcommand(
        "dashboard", "Serve a read-only page of charts: Digital IDs, messages, recipients, failures");
    add_store_options(*cmd, args->store);
    cmd->add_option("--keystore", args->keystore,
                    "Keystore directory, instead of the configuration's (default "
                    "$RIBBON_KEYSTORE, else /var/lib/ribbon/ids)");
    cmd->add_option("--listen", args->listen,
                    "address:port to serve on (default 127.0.0.1:9426); not loopback: needs "
                    "--tls-cert, --tls-key and --password-file");
    cmd->add_option("--tls-cert", args->tls_cert, "Certificate (chain) for HTTPS, PEM")
        ->type_name("FILE");
    cmd->add_option("--tls-key", args->tls_key, "Private key for HTTPS, PEM")->type_name("FILE");
    cmd->add_option("--password-file", args->password_file,
                    "HTTP Basic password (any user name), the file's first line (else "
                    "$RIBBON_DASHBOARD_PASSWORD)")
        ->type_name("FILE");
    cmd->callback([args, &exit_code] { exit_code = run_dashboard(*args); });
}

}  // namespace ribbon::cli
