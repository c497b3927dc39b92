// server.cpp — see server.hpp.
#include "http/server.hpp"

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <cctype>
#include <chrono>
#include <optional>
#include <thread>


namespace ribbon::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kHeaderLimit = 8 * 1024;

// The password a Basic "Authorization" value carries (RFC 7617 §2:
// base64 of "user-id:password"), or nullopt.
std::optional<std::string> basic_password(std::string_view value) {
    constexpr std::string_view kScheme = "Basic ";
    if (value.size() <= kScheme.size() || value.size() > 1024) return std::nullopt;
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(value[i])) !=
            std::tolower(static_cast<unsigned char>(kScheme[i]))) {
            return std::nullopt;
        }
    }
    std::string_view b64 = value.substr(kScheme.size());
    while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
    while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
    if (b64.empty() || b64.size() % 4 != 0) return std::nullopt;
    std::string decoded(b64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()),
                                  static_cast<int>(b64.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding's zero bytes as data.
    std::size_t size = static_cast<std::size_t>(n);
    if (b64.ends_with("==")) size -= 2;
    else if (b64.ends_with("=")) size -= 1;
    decoded.resize(size);
    const auto colon = decoded.find(':');
    if (colon == std::string::npos) return std::nullopt;
    return decoded.substr(colon + 1);
}

// Equal in time that does not depend on where they differ: both are
// hashed first, so the length does not show either.
bool same_secret(std::string_view a, std::string_view b) {
    unsigned char da[32], db[32];
    unsigned int na = 0, nb = 0;
    if (EVP_Digest(a.data(), a.size(), da, &na, EVP_sha256(), nullptr) != 1 ||
        EVP_Digest(b.data(), b.size(), db, &nb, EVP_sha256(), nullptr) != 1) {
        return false;
    }
    return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

// "address:port" or "[v6 address]:port", port 0..65535 (0: any free one);
// ribbon/network.hpp's parse_host_port takes names and refuses port 0.
std::optional<tcp::endpoint> parse_listen(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size() || text.size() - colon > 6) {
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        return std::nullopt;  // a bare IPv6 address: where does the port start?
    }
    unsigned port = 0;
    for (const char c : text.substr(colon + 1)) {
        if (c < '0' || c > '9') return std::nullopt;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(std::string(host), ec);
    if (ec || port > 65535) return std::nullopt;
    return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

bhttp::response<bhttp::string_body> plain(unsigned status, std::string body) {
    bhttp::response<bhttp::string_body> r(static_cast<bhttp::status>(status), 11);
    r.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    r.body() = std::move(body);
    return r;
}

}  // namespace

bool is_loopback(std::string_view address) {
    boost::system::error_code ec;
    auto a = asio::ip::make_address(std::string(address), ec);
    if (ec) return false;
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
    }
    return a.is_loopback();
}

struct Server::Impl {
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    std::shared_ptr<asio::ssl::context> tls;
    std::string password;
    Handler handler;
    std::thread thread;

    bhttp::response<bhttp::string_body> answer(const bhttp::request_parser<bhttp::empty_body>& parser);
    template <class Stream>
    asio::awaitable<void> exchange(Stream& stream);
    asio::awaitable<void> serve(tcp::socket socket);
    asio::awaitable<void> accept_loop();
};

bhttp::response<bhttp::string_body> Server::Impl::answer(
    const bhttp::request_parser<bhttp::empty_body>& parser) {
    const auto& req = parser.get();
    if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
        auto r = plain(405, "Only GET and HEAD: this is a read-only view.\n");
        r.set(bhttp::field::allow, "GET, HEAD");
        return r;
    }
    if (!password.empty()) {
        const auto header = req[bhttp::field::authorization];
        const auto given = basic_password(std::string_view(header.data(), header.size()));
        if (!given || !same_secret(*given, password)) {
            auto r = plain(401, "A password is needed.\n");
            r.set(bhttp::field::www_authenticate, "Basic realm=\"ribbon\", charset=\"UTF-8\"");
            return r;
        }
    }
    Request request;
    request.method = std::string(req.method_string());
    const std::string_view target(req.target().data(), req.target().size());
    const auto q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    Response out;
    try {
        out = handler(request);
    } catch (const std::exception& e) {
        return plain(500, std::string("Internal error: ") + e.what() + "\n");
    }
    bhttp::response<bhttp::string_body> r(static_cast<bhttp::status>(out.status), 11);
    r.set(bhttp::field::content_type, out.content_type);
    for (const auto& [name, value] : out.headers) r.set(name, value);
    r.body() = std::move(out.body);
    return r;
}

template <class Stream>
asio::awaitable<void> Server::Impl::exchange(Stream& stream) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    bhttp::response<bhttp::string_body> r;
    bool head = false;
    if (ec == bhttp::error::header_limit) {
        r = plain(431, "Request header too large.\n");
    } else if (ec == bhttp::error::unexpected_body || ec == bhttp::error::body_limit) {
        r = plain(413, "A request body is not accepted.\n");
    } else if (ec) {
        co_return;  // closed, timed out or not HTTP: nothing to answer
    } else {
        r = answer(parser);
        head = parser.get().method() == bhttp::verb::head;
    }
    r.set(bhttp::field::server, "ribbon");
    r.set(bhttp::field::cache_control, "no-store");
    r.set("X-Content-Type-Options", "nosniff");
    r.keep_alive(false);
    r.prepare_payload();
    if (head) {
        // The GET's header, Content-Length included, without its body
        // (RFC 9110 §9.3.2).
        const auto length = r.body().size();
        r.body().clear();
        r.content_length(length);
    }
    co_await bhttp::async_write(stream, r, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Server::Impl::serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(kTimeout);
    boost::system::error_code ec;
    if (!tls) {
        co_await exchange(stream);
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        co_return;
    }
    beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), *tls);
    co_await secure.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    co_await exchange(secure);
    beast::get_lowest_layer(secure).expires_after(kTimeout);
    co_await secure.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Server::Impl::accept_loop() {
    while (acceptor.is_open()) {
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        if (ec) {
            // EMFILE and friends: give the system a moment.
            asio::steady_timer pause(io, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
}

Server::Server(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

Server::~Server() {
    asio::post(m_impl->io, [impl = m_impl.get()] {
        boost::system::error_code ec;
        impl->acceptor.close(ec);
        impl->io.stop();
    });
    if (m_impl->thread.joinable()) m_impl->thread.join();
}

std::uint16_t Server::port() const noexcept { return m_impl->acceptor.local_endpoint().port(); }
bool Server::tls() const noexcept { return m_impl->tls != nullptr; }

Result<std::unique_ptr<Server>> Server::start(const ServerSettings& settings, Handler handler) {
    const std::string& what = settings.setting;
    const auto endpoint = parse_listen(settings.listen);
    if (!endpoint) {
        return permanent_error(Errc::bad_config, what + " \"" + settings.listen +
                                                     "\" is not \"address:port\" with an IP address");
    }
    const auto address = endpoint->address();
    if (!settings.allow_remote && !is_loopback(address.to_string())) {
        return permanent_error(Errc::bad_config, what + " \"" + settings.listen +
                                                     "\" is not a loopback address (127.0.0.1, ::1)");
    }
    if (settings.tls_certificate.empty() != settings.tls_key.empty()) {
        return permanent_error(Errc::bad_config, what + ": TLS needs both a certificate and a key file");
    }
    boost::system::error_code ec;
    auto impl = std::make_unique<Impl>();
    impl->password = settings.password;
    impl->handler = std::move(handler);
    if (!settings.tls_certificate.empty()) {
        impl->tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
        impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                               asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                               asio::ssl::context::no_tlsv1_1);
        impl->tls->use_certificate_chain_file(settings.tls_certificate.string(), ec);
        if (!ec) impl->tls->use_private_key_file(settings.tls_key.string(), asio::ssl::context::pem, ec);
        if (ec) {
            return permanent_error(Errc::bad_config, what + ": cannot load the TLS certificate " +
                                                         settings.tls_certificate.string() + " or key " +
                                                         settings.tls_key.string() + ": " + ec.message());
        }
    }
    impl->acceptor.open(endpoint->protocol(), ec);
    if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && address.is_v6()) impl->acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) impl->acceptor.bind(*endpoint, ec);
    if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        return transient_error(Errc::io_error, what + ": cannot listen on " + settings.listen + ": " +
                                                   ec.message());
    }
    Impl* raw = impl.get();
    asio::co_spawn(raw->io, raw->accept_loop(), asio::detached);
    raw->thread = std::thread([raw] { raw->io.run(); });
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace ribbon::http
