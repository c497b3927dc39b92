// server.hpp — `ribbon relay`'s listening side: the configuration in
// effect (replaced whole on SIGHUP), the acceptors, and the SMTP sessions
// (session.cpp). Runs on one I/O thread; signing and other CPU-bound work
// go to the worker pool (workers.hpp).
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <spdlog/logger.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "daemon/runtime.hpp"
#include "relay/next_hop.hpp"
#include "ribbon/network.hpp"

namespace ribbon::relay {

// A configuration with everything it names loaded: what both daemons hold
// (daemon/runtime.hpp), and the relay's transport — the next hop, the TLS
// certificate, the users. A session takes the one in effect at MAIL FROM
// and keeps it to the end of the transaction.
struct Runtime : daemon::Runtime {
    std::shared_ptr<NextHop> next_hop;
    std::vector<IpNetwork> mynetworks;
    std::map<std::string, std::string, std::less<>> users;  // name → crypt(3) hash
    std::shared_ptr<boost::asio::ssl::context> tls;         // null: no STARTTLS
    std::string hostname;
    // Messages are prepared (planned and signed) on the I/O thread itself,
    // not on the worker pool: see prepares_inline() in server.cpp.
    bool prepare_inline = false;
};

// `telemetry`: the daemon's, shared by every Runtime it loads.
Result<std::shared_ptr<const Runtime>> load_runtime(const std::filesystem::path& path, boost::asio::io_context& io,
                                                    boost::asio::thread_pool& workers,
                                                    std::shared_ptr<daemon::Telemetry> telemetry);

// What the server can ask of a session while stopping (I/O thread only).
class SessionControl {
public:
    virtual ~SessionControl() = default;
    // Ends the session now when it is between transactions, else after the
    // one in progress, with 421.
    virtual void stop() = 0;
    // The stop's grace period is over: ends the session now, transaction or
    // not, with 421 4.3.2 (see Session::abort()).
    virtual void abort() = 0;
};

class Server {
public:
    Server(boost::asio::io_context& io, boost::asio::thread_pool& workers, std::shared_ptr<spdlog::logger> log);

    // Binds every relay.listen (and, with `implicit_tls`, relay.listen_tls)
    // address, before root is dropped.
    Result<void> listen(const std::vector<std::string>& endpoints, bool implicit_tls);
    // Starts accepting; sessions run until they end or the io_context stops.
    void start();
    // Stops accepting new connections and asks every session to end: idle
    // ones at once, the others after their transaction.
    void stop();
    // After stop(), once relay.stop_grace has passed: ends every session
    // still open at once (a transaction in progress gets 421 4.3.2). Each
    // session then ends within seconds: every operation it may still wait
    // for is bounded.
    void abort();
    // Once no session is left: says QUIT on the next hop's cached
    // connections and closes them, so nothing keeps the I/O thread busy.
    void close_idle_next_hops();
    bool stopping() const noexcept { return m_stopping; }
    // Sessions enter and leave (I/O thread only).
    void enter(SessionControl* s) { m_controls.insert(s); }
    void leave(SessionControl* s) { m_controls.erase(s); }

    void set_runtime(std::shared_ptr<const Runtime> runtime);
    std::shared_ptr<const Runtime> runtime() const;

    boost::asio::io_context& io() noexcept { return m_io; }
    boost::asio::thread_pool& workers() noexcept { return m_workers; }
    spdlog::logger& log() noexcept { return *m_log; }
    // Sessions now open.
    unsigned sessions() const noexcept { return m_sessions.load(); }

private:
    boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor, bool implicit_tls);

    boost::asio::io_context& m_io;
    boost::asio::thread_pool& m_workers;
    std::shared_ptr<spdlog::logger> m_log;
    std::vector<std::pair<std::unique_ptr<boost::asio::ip::tcp::acceptor>, bool>> m_acceptors;  // bool: implicit TLS
    mutable std::mutex m_runtime_mutex;
    std::shared_ptr<const Runtime> m_runtime;
    std::atomic<unsigned> m_sessions{0};
    std::atomic<unsigned long> m_next_id{0};
    bool m_stopping = false;  // I/O thread only
    std::set<SessionControl*> m_controls;

};

// One client connection, from greeting to QUIT (session.cpp); `remote`:
// the client's address, as accept(2) gave it.
boost::asio::awaitable<void> serve(Server& server, boost::asio::ip::tcp::socket socket,
                                   boost::asio::ip::tcp::endpoint remote, std::string id,
                                   bool implicit_tls);

}  // namespace ribbon::relay
