// server.cpp — see server.hpp.
#include "relay/server.hpp"

#include <sched.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdio>

#include "ribbon/io.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon::relay {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// relay.auth_users_file: "name:hash" per line, '#' comments, as
// Dovecot's passwd-file and Apache's htpasswd keep them.
Result<std::map<std::string, std::string, std::less<>>> read_users(const std::filesystem::path& path) {
    std::map<std::string, std::string, std::less<>> users;
    if (path.empty()) return users;
    auto text = read_small_file(path, "relay.auth_users_file");
    if (!text) return permanent_error(Errc::bad_config, text.error().message());
    std::size_t number = 0;
    for (std::size_t start = 0; start < text->size();) {
        std::size_t end = text->find('\n', start);
        if (end == std::string::npos) end = text->size();
        std::string line = text->substr(start, end - start);
        start = end + 1;
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        auto colon = line.find(':');
        if (colon == 0 || colon == std::string::npos || colon + 1 == line.size() || line[colon + 1] != '$') {
            return permanent_error(Errc::bad_config, path.string() + ":" + std::to_string(number) +
                                                         ": expected \"name:$hash\" (make the hash with `openssl passwd -6`)");
        }
        users[line.substr(0, colon)] = line.substr(colon + 1);
    }
    if (users.empty()) return permanent_error(Errc::bad_config, path.string() + " lists no users");
    return users;
}

Result<std::shared_ptr<asio::ssl::context>> server_tls(const RelaySettings& rs) {
    if (rs.tls_cert_file.empty()) return std::shared_ptr<asio::ssl::context>();
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(rs.tls_cert_file.string(), ec);
    if (ec) {
        return permanent_error(Errc::bad_config, "relay.tls_cert_file " + rs.tls_cert_file.string() +
                                                     " cannot be used: " + ec.message());
    }
    ctx->use_private_key_file(rs.tls_key_file.string(), asio::ssl::context::pem, ec);
    if (ec) {
        return permanent_error(Errc::bad_config, "relay.tls_key_file " + rs.tls_key_file.string() +
                                                     " cannot be used: " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        return permanent_error(Errc::bad_config, "relay.tls_key_file does not belong to relay.tls_cert_file");
    }
    return ctx;
}

// Whether messages are best prepared on the I/O thread. When the relay may
// run on one CPU only (its affinity: `taskset -c N`, a one-CPU cpuset), a
// worker cannot sign while the I/O thread works: the two only take turns
// on that CPU, and each turn is a wake-up and two context switches. With
// 20 sessions that was 17 switches and 11 epoll_wait calls per signed
// message, and 0.06 of the relay's ratio to `openssl speed` (issue 17).
// On the I/O thread a signature delays the other sessions by its own
// time (a fraction of a millisecond), and what arrived meanwhile is read
// in one pass afterwards. Not with a key in a PKCS#11 token nor with a
// PostgreSQL store: a token's signature waits for the device, a store's
// answer for the network, which the I/O thread must not do (a token key
// filed after this check takes effect at the next reload).
bool prepares_inline(const Config& config) {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    if (::sched_getaffinity(0, sizeof cpus, &cpus) != 0 || CPU_COUNT(&cpus) != 1) return false;
    if (config.store.url.starts_with("postgres")) return false;
    auto entries = Keystore(config.keystore).list(std::chrono::system_clock::now());
    if (!entries) return false;
    return std::none_of(entries->begin(), entries->end(),
                        [](const KeystoreEntry& e) { return e.key_location == "token"; });
}

}  // namespace

Result<std::shared_ptr<const Runtime>> load_runtime(const std::filesystem::path& path, asio::io_context& io,
                                                    asio::thread_pool& workers,
                                                    std::shared_ptr<daemon::Telemetry> telemetry) {
    auto rt = std::make_shared<Runtime>();
    if (auto r = daemon::load_runtime(path, *rt, std::move(telemetry)); !r) return std::move(r).error();
    const RelaySettings& rs = rt->config.relay;
    for (const auto& n : rs.mynetworks) rt->mynetworks.push_back(*IpNetwork::parse(n));  // checked by Config
    auto users = read_users(rs.auth_users_file);
    if (!users) return std::move(users).error();
    rt->users = std::move(*users);
    auto tls = server_tls(rs);
    if (!tls) return std::move(tls).error();
    rt->tls = std::move(*tls);
    rt->prepare_inline = prepares_inline(rt->config);
    rt->hostname = rs.hostname;
    if (rt->hostname.empty()) {
        char name[256] = {};
        ::gethostname(name, sizeof name - 1);
        rt->hostname = *name != '\0' ? name : "localhost";
    }
    auto hop = NextHop::create(io, workers, rs.next_hop, rt->hostname);
    if (!hop) return std::move(hop).error();
    rt->next_hop = std::move(*hop);
    return std::shared_ptr<const Runtime>(std::move(rt));
}

Server::Server(asio::io_context& io, asio::thread_pool& workers, std::shared_ptr<spdlog::logger> log)
    : m_io(io), m_workers(workers), m_log(std::move(log)) {}

Result<void> Server::listen(const std::vector<std::string>& endpoints, bool implicit_tls) {
    for (const auto& text : endpoints) {
        auto hp = parse_host_port(text);  // checked by Config
        boost::system::error_code ec;
        auto address = asio::ip::make_address(hp->host, ec);
        if (ec) {
            return permanent_error(Errc::bad_config, "relay.listen \"" + text + "\": \"" + hp->host +
                                                         "\" is not an IP address");
        }
        tcp::endpoint endpoint(address, hp->port);
        auto acceptor = std::make_unique<tcp::acceptor>(m_io);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        // Replies go out as soon as they are written (RFC 2920 batches are
        // one write already). Set here rather than on each connection:
        // Linux gives accepted sockets the listener's TCP_NODELAY, which
        // saves a system call per client.
        if (!ec) acceptor->set_option(tcp::no_delay(true), ec);
        if (!ec && address.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return transient_error(Errc::io_error, "cannot listen on " + text + ": " + ec.message());
        m_acceptors.emplace_back(std::move(acceptor), implicit_tls);
    }
    return {};
}

void Server::start() {
    for (auto& [a, tls] : m_acceptors) asio::co_spawn(m_io, accept_loop(*a, tls), asio::detached);
}

void Server::stop() {
    asio::post(m_io, [this] {
        m_stopping = true;
        for (auto& [a, tls] : m_acceptors) {
            boost::system::error_code ignored;
            a->close(ignored);
        }
        // stop() may end a session, which leaves the set: iterate a copy.
        auto sessions = m_controls;
        for (SessionControl* s : sessions) s->stop();
    });
}

void Server::abort() {
    asio::post(m_io, [this] {
        auto sessions = m_controls;
        for (SessionControl* s : sessions) s->abort();
    });
}

void Server::close_idle_next_hops() {
    asio::post(m_io, [this] { runtime()->next_hop->close_idle(); });
}

void Server::set_runtime(std::shared_ptr<const Runtime> runtime) {
    std::lock_guard lock(m_runtime_mutex);
    m_runtime = std::move(runtime);
}

std::shared_ptr<const Runtime> Server::runtime() const {
    std::lock_guard lock(m_runtime_mutex);
    return m_runtime;
}

asio::awaitable<void> Server::accept_loop(tcp::acceptor& acceptor, bool implicit_tls) {
    while (acceptor.is_open()) {
        boost::system::error_code ec;
        // The peer's address comes with accept(2): no getpeername(2) per client.
        tcp::endpoint remote;
        tcp::socket socket = co_await acceptor.async_accept(remote, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        if (ec) {
            // EMFILE and friends: say so, and give the system a moment.
            m_log->error("accept: {}", ec.message());
            asio::steady_timer pause(m_io, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        char id[32];
        std::snprintf(id, sizeof id, "R%08lX", ++m_next_id);
        ++m_sessions;
        asio::co_spawn(m_io, serve(*this, std::move(socket), remote, id, implicit_tls), [this, sid = std::string(id)](std::exception_ptr e) {
            --m_sessions;
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                m_log->error("{}: session ended by an internal error: {}", sid, ex.what());
            }
        });
    }
}

}  // namespace ribbon::relay
