// engine.cpp — the listener and the connection threads (engine.hpp); the
// command loop is in connection.cpp.
#include "milter/engine.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>

namespace ribbon::milter {

namespace {

Error socket_error(const std::string& socket, const std::string& what) {
    return transient_error(Errc::io_error, "milter socket " + socket + ": " + what + ": " + std::strerror(errno));
}

Result<int> listen_unix(const std::string& spec, const std::string& path) {
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        return permanent_error(Errc::bad_config, "milter.socket \"" + spec + "\": the path is empty or too long");
    }
    // A socket left by a previous run is removed (nothing listens on it
    // any more, or bind below fails); any other kind of file is not ours.
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return permanent_error(Errc::bad_config, "milter.socket \"" + spec + "\": " + path + " is not a socket");
        }
        if (::unlink(path.c_str()) != 0) return socket_error(spec, "removing the old socket");
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return socket_error(spec, "socket");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, SOMAXCONN) != 0) {
        Error e = socket_error(spec, "cannot listen (is the directory there?)");
        ::close(fd);
        return e;
    }
    return fd;
}

// "port@host" or "port" (every address), as libmilter's smfi_setconn.
Result<int> listen_inet(const std::string& spec, const std::string& where, int family) {
    const std::size_t at = where.find('@');
    const std::string port = where.substr(0, at);
    const std::string host = at == std::string::npos ? std::string() : where.substr(at + 1);
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (port.empty() || ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found) != 0) {
        return permanent_error(Errc::bad_config, "milter.socket \"" + spec + "\": not a usable port@host");
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, ::freeaddrinfo);
    int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return socket_error(spec, "socket");
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
        Error e = socket_error(spec, "cannot listen (is the port in use?)");
        ::close(fd);
        return e;
    }
    return fd;
}

}  // namespace

// One accepted connection, as the engine tracks it for stop().
// `busy` is set without the engine's lock (twice a message, from the
// connection's thread): stop() may read it just before a message starts and
// cut that connection, and the MTA then keeps the message (its
// milter_default_action), which is what a stop may do anyway.
struct Engine::Connection {
    int fd = -1;
    std::atomic<bool> busy{false};  // a message is in progress
};

Engine::Engine(EngineSettings settings, FilterFactory factory, std::function<void(const std::string&)> log_error)
    : m_settings(std::move(settings)), m_factory(std::move(factory)), m_log_error(std::move(log_error)) {}

Engine::~Engine() {
    if (m_listener >= 0) ::close(m_listener);
}

Result<void> Engine::listen() {
    const std::string& s = m_settings.socket;
    Result<int> fd = permanent_error(Errc::bad_config, "milter.socket \"" + s + "\" is not unix:/path or inet:port@host");
    for (std::string_view prefix : {"unix:", "local:"}) {
        if (s.starts_with(prefix)) fd = listen_unix(s, s.substr(prefix.size()));
    }
    if (s.starts_with("inet:")) fd = listen_inet(s, s.substr(5), AF_INET);
    if (s.starts_with("inet6:")) fd = listen_inet(s, s.substr(6), AF_INET6);
    if (!fd) return std::move(fd).error();
    m_listener = *fd;
    return {};
}

Result<void> Engine::run() {
    while (!m_stopping) {
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [&] { return m_stopping || m_connections.size() < m_settings.max_connections; });
        }
        if (m_stopping) break;
        const int fd = ::accept4(m_listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (m_stopping) break;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                m_log_error(std::string("milter: accept: ") + std::strerror(errno));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            continue;  // EINTR, ECONNABORTED and the like: the next one
        }
        auto c = std::make_shared<Connection>();
        c->fd = fd;
        start(std::move(c));
    }
    std::unique_lock lock(m_mutex);
    m_work.notify_all();  // idle threads leave
    // Messages in progress may finish within the grace; then every
    // connection is cut (the MTA keeps those messages: tempfail by its
    // milter_default_action).
    auto done = [&] { return m_connections.empty() && m_threads == 0; };
    if (!m_changed.wait_for(lock, m_settings.grace, done)) {
        for (const auto& c : m_connections) ::shutdown(c->fd, SHUT_RDWR);
        m_changed.wait(lock, done);
    }
    return {};
}

// Hands the connection to an idle thread, or to a new one.
void Engine::start(std::shared_ptr<Connection> c) {
    std::lock_guard lock(m_mutex);
    m_connections.insert(c);
    m_ready.push_back(std::move(c));
    if (m_idle > m_ready.size() - 1) {
        m_work.notify_one();
        return;
    }
    ++m_threads;
    try {
        std::thread(&Engine::work, this).detach();
    } catch (const std::system_error& e) {
        // No thread for it: the MTA sees the connection close and applies
        // its milter_default_action.
        --m_threads;
        m_log_error(std::string("milter: cannot start a thread: ") + e.what());
        ::close(m_ready.back()->fd);
        m_connections.erase(m_ready.back());
        m_ready.pop_back();
    }
}

// A connection thread: serves connections one after the other; leaves when
// none came for kIdleFor, or on stop.
void Engine::work() {
    constexpr auto kIdleFor = std::chrono::seconds(60);
    std::unique_lock lock(m_mutex);
    for (;;) {
        ++m_idle;
        const bool got = m_work.wait_for(lock, kIdleFor, [&] { return !m_ready.empty() || m_stopping; });
        --m_idle;
        if (!got || m_ready.empty()) break;
        auto c = std::move(m_ready.back());
        m_ready.pop_back();
        lock.unlock();
        serve(c);
        lock.lock();
        ::close(c->fd);
        m_connections.erase(c);
        m_changed.notify_all();
    }
    --m_threads;
    // Notified under the lock: once run() sees no thread left, this thread
    // touches the engine no more.
    m_changed.notify_all();
}

void Engine::serve(const std::shared_ptr<Connection>& c) {
    ConnectionHooks hooks;
    hooks.on_error = m_log_error;
    hooks.stopping = &m_stopping;
    hooks.on_message = [c](bool busy) { c->busy.store(busy, std::memory_order_relaxed); };
    // Nothing in ribbon throws across its APIs; an allocation that fails
    // does. It ends this connection only (the MTA keeps the message by its
    // milter_default_action), not the daemon with every connection.
    try {
        serve_connection(c->fd, m_settings.timeout, m_factory, hooks);
    } catch (const std::exception& e) {
        m_log_error(std::string("milter: closing the MTA connection: ") + e.what());
    }
}

void Engine::close_idle() {
    std::lock_guard lock(m_mutex);
    for (const auto& c : m_connections) {
        if (!c->busy.load(std::memory_order_relaxed)) ::shutdown(c->fd, SHUT_RD);  // its read returns end of file
    }
}

void Engine::stop() {
    m_stopping = true;
    if (m_listener >= 0) ::shutdown(m_listener, SHUT_RDWR);  // wakes accept()
    close_idle();
    std::lock_guard lock(m_mutex);
    m_changed.notify_all();
}

}  // namespace ribbon::milter
