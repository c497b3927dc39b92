// server.hpp — the small HTTP/1.1 server ribbon's operator pages run on:
// the daemons' Prometheus metrics ([metrics], docs/MONITORING.md) and
// `ribbon dashboard`. Boost.Beast does the protocol (RFC 9112); this file
// only adds what both need around it:
//   - GET and HEAD only (both are read-only views), 405 for the rest;
//   - a request of at most 8 KiB of header and no body, 10 s to send it,
//     10 s to take the answer: a slow or hostile client costs a coroutine
//     and a socket for seconds, never a thread;
//   - optional TLS (a certificate and key file, as the relay's) and
//     optional HTTP Basic authentication (RFC 7617) with one password;
//   - one connection, one request ("Connection: close"): scrapers and a
//     page's few fetches do not need keep-alive.
// Which addresses may listen is the caller's policy (ServerSettings::
// allow_remote); is_loopback() says what counts.
//
// Runs on one thread of its own; the handler is called on it, one request
// at a time, so it may be slow only as far as the other clients can wait.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ribbon/error.hpp"

namespace ribbon::http {

struct Request {
    std::string method;  // "GET" or "HEAD"
    std::string path;    // the target up to '?', as sent (not decoded)
    std::string query;   // after '?', as sent
};

struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    // Added to the defaults (Cache-Control: no-store, X-Content-Type-Options:
    // nosniff, Connection: close).
    std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Response(const Request&)>;

struct ServerSettings {
    // "address:port" ("[::1]:9425" for IPv6), an IP address, not a name:
    // what the server listens on must not depend on DNS. Port 0 picks a
    // free one (port() says which).
    std::string listen;
    // The setting's name in messages, e.g. "metrics.listen".
    std::string setting;
    // Whether an address other than a loopback one is allowed at all.
    bool allow_remote = false;
    // Both or neither: HTTPS with this certificate (chain) and key, PEM.
    std::filesystem::path tls_certificate;
    std::filesystem::path tls_key;
    // HTTP Basic: any user name with this password; empty: none asked.
    std::string password;
};

// 127.0.0.0/8, ::1 and an IPv4-mapped loopback address. `address` is an IP
// address in text; anything else is not loopback.
bool is_loopback(std::string_view address);

class Server {
public:
    // Binds and starts serving. Refuses (bad_config) a listen value that is
    // not "address:port", a remote address without allow_remote, and TLS
    // files that cannot be loaded; io_error when the port is taken.
    static Result<std::unique_ptr<Server>> start(const ServerSettings& settings, Handler handler);
    // Stops accepting, ends the connections, joins the thread.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    std::uint16_t port() const noexcept;
    bool tls() const noexcept;

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace ribbon::http
