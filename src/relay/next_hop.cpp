// next_hop.cpp — the client side of `ribbon relay`: SMTP towards a
// smarthost (RFC 5321, STARTTLS RFC 3207, implicit TLS RFC 8314, AUTH
// RFC 4954) and maildir delivery (maildir(5): write in tmp/, fsync, rename
// into new/, fsync the directory — the message is on disk before 250).
#include "relay/next_hop.hpp"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <arpa/inet.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include "relay/stream.hpp"
#include "relay/workers.hpp"
#include "ribbon/io.hpp"

namespace ribbon::relay {

namespace {

// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; some servers send
// longer texts.
constexpr std::size_t kMaxReplyLine = 8192;
constexpr std::size_t kWriteChunk = 64 * 1024;
constexpr std::size_t kMaxIdle = 16;
constexpr auto kIdleLimit = std::chrono::seconds(2);
constexpr std::string_view kData = "DATA\r\n";

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Reply connection_failure(const std::string& peer, StreamError e, const std::string& detail) {
    switch (e) {
        case StreamError::timeout: return make_reply(451, "4.4.2", "next hop " + peer + " timed out");
        case StreamError::closed: return make_reply(451, "4.4.2", "next hop " + peer + " closed the connection");
        default: return make_reply(451, "4.4.2", "connection to next hop " + peer + " failed: " + detail);
    }
}

}  // namespace

class SmtpConnection {
public:
    SmtpConnection(tcp::socket socket, asio::ssl::context& tls, std::string peer)
        : stream(std::move(socket), tls), peer(std::move(peer)) {}

    Stream stream;
    std::string peer;
    std::set<std::string, std::less<>> extensions;  // EHLO keywords, upper case
    std::string auth_mechanisms;                    // the AUTH line's argument, upper case
    bool broken = false;
    std::chrono::steady_clock::time_point idle_since;

    bool has(std::string_view keyword) const { return extensions.contains(keyword); }

    asio::awaitable<Reply> read_reply() {
        ReplyParser parser;
        std::string line;
        while (true) {
            StreamError e = co_await stream.read_line(line, kMaxReplyLine);
            if (e != StreamError::none && e != StreamError::too_long) {
                broken = true;
                co_return connection_failure(peer, e, stream.last_error());
            }
            auto state = e == StreamError::too_long ? ReplyParser::State::invalid : parser.add(line);
            if (state == ReplyParser::State::done) {
                Reply r = parser.take();
                // 421: the next hop is closing the connection (RFC 5321
                // §3.8). Towards the client that is this transaction's
                // failure, not the client's connection's.
                if (r.code == 421) {
                    broken = true;
                    co_return make_reply(451, "4.4.2", "next hop " + peer + " closed the connection: " + r.summary());
                }
                co_return r;
            }
            if (state == ReplyParser::State::invalid) {
                broken = true;
                co_return make_reply(451, "4.5.0", "next hop " + peer + " sent a malformed reply");
            }
        }
    }

    // Sends one command line (without CRLF) and reads the reply.
    asio::awaitable<Reply> exchange(std::string_view command) {
        std::string line = std::string(command) + "\r\n";
        if (StreamError e = co_await stream.write(line); e != StreamError::none) {
            broken = true;
            co_return connection_failure(peer, e, stream.last_error());
        }
        co_return co_await read_reply();
    }

    void learn_extensions(const Reply& ehlo) {
        extensions.clear();
        auth_mechanisms.clear();  // RFC 3207 §4.2: after STARTTLS only the new EHLO counts
        for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
            std::string_view l = ehlo.lines[i];
            std::string word = ascii_upper(l.substr(0, l.find(' ')));
            if (word == "AUTH" && l.size() > 5) auth_mechanisms = " " + ascii_upper(l.substr(5)) + " ";
            extensions.insert(std::move(word));
        }
    }
};

// A connection being opened (NextHop::connect), shared with its deadline's
// handler, which may run after connect() returned, and with the delivery,
// which may interrupt() it.
struct Opening {
    explicit Opening(asio::io_context& io) : resolver(io), socket(io) {}
    tcp::resolver resolver;
    tcp::socket socket;
    SmtpConnection* connection = nullptr;  // set from the greeting on, while connect() runs
    bool finished = false;
    bool timed_out = false;
    bool interrupted = false;

    void interrupt() {
        interrupted = true;
        resolver.cancel();
        error_code ignored;
        socket.close(ignored);
        if (connection) connection->stream.interrupt(true, std::chrono::seconds(0));
    }
};

// Says QUIT and closes, without anyone waiting for it.
asio::awaitable<void> quit(std::unique_ptr<SmtpConnection> c) {
    c->stream.set_timeout(std::chrono::seconds(5));
    if (!c->broken) co_await c->exchange("QUIT");
    co_await c->stream.shutdown();
}

void dismiss(asio::io_context& io, std::unique_ptr<SmtpConnection> c) {
    if (c) asio::co_spawn(io, quit(std::move(c)), asio::detached);
}

// ---- SMTP ------------------------------------------------------------------

class SmtpDelivery final : public Delivery {
public:
    explicit SmtpDelivery(std::shared_ptr<NextHop> hop) : m_hop(std::move(hop)) {}
    ~SmtpDelivery() override { dismiss(m_hop->m_io, std::move(m_conn)); }

    asio::awaitable<Reply> mail(const std::string& from, bool smtputf8, bool eight_bit) override {
        // A cached connection may have been closed by the server since; one
        // fresh attempt follows, which is safe: nothing was sent yet.
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (m_interrupted) co_return lost();
            bool fresh = false;
            m_conn = attempt == 0 ? m_hop->unpark() : nullptr;
            if (!m_conn) {
                Reply failure;
                m_opening = std::make_shared<Opening>(m_hop->m_io);
                m_conn = co_await m_hop->connect(failure, m_opening);
                m_opening.reset();
                if (!m_conn) co_return failure;
                fresh = true;
            }
            if (smtputf8 && !m_conn->has("SMTPUTF8")) {
                m_hop->park(std::move(m_conn));
                // RFC 6531 §3.5: a message that needs SMTPUTF8 cannot go on.
                co_return make_reply(553, "5.6.7", "the next hop does not support SMTPUTF8 addresses");
            }
            std::string line = "MAIL FROM:<" + from + ">";
            if (eight_bit && m_conn->has("8BITMIME")) line += " BODY=8BITMIME";
            if (smtputf8) line += " SMTPUTF8";
            Reply r = co_await m_conn->exchange(line);
            if (!fresh && m_conn->broken) {
                dismiss(m_hop->m_io, std::move(m_conn));
                continue;
            }
            m_open = r.positive();
            co_return r;
        }
        co_return make_reply(451, "4.4.2", "next hop " + m_hop->describe() + " is not answering");
    }

    asio::awaitable<Reply> rcpt(const std::string& to) override {
        if (!usable()) co_return lost();
        co_return co_await m_conn->exchange("RCPT TO:<" + to + ">");
    }

    bool can_queue_rcpt() const override { return usable() && m_conn->has("PIPELINING"); }

    void queue_rcpt(const std::string& to) override {
        m_queued += "RCPT TO:<" + to + ">\r\n";
        ++m_unread;
    }

    asio::awaitable<Reply> rcpt_reply() override {
        if (!m_queued.empty()) {
            std::string batch = std::move(m_queued);
            m_queued.clear();
            StreamError e = StreamError::none;
            if (usable()) e = co_await m_conn->stream.write(batch);
            if (e != StreamError::none) m_conn->broken = true;
        }
        --m_unread;
        if (!usable()) co_return lost();
        co_return co_await m_conn->read_reply();
    }

    asio::awaitable<void> announce_data() override {
        if (!usable() || m_announced) co_return;
        m_announced = true;
        StreamError e = co_await m_conn->stream.write(kData);
        if (e != StreamError::none) m_conn->broken = true;
        co_return;
    }

    asio::awaitable<Reply> data(const Spool& message) override {
        if (!usable()) co_return lost();
        Reply go;
        if (m_announced) {
            go = co_await m_conn->read_reply();
        } else {
            go = co_await m_conn->exchange("DATA");
        }
        m_announced = false;
        if (go.code != 354) co_return go;
        DotStuffer stuffer;
        std::string buffer, out;
        for (std::uint64_t offset = 0;;) {
            auto chunk = message.chunk(offset, kWriteChunk, buffer);
            if (!chunk) {
                // The next hop has part of a message; only closing the
                // connection stops it from taking that part as complete.
                m_conn->broken = true;
                co_return make_reply(451, "4.3.0", chunk.error().message());
            }
            offset += chunk->size();
            out.clear();
            stuffer.add(*chunk, out);
            // The last piece and the terminator go in one write (one
            // segment for a small message).
            bool last = chunk->empty() || offset >= message.size();
            if (last) stuffer.finish(out);
            if (StreamError e = co_await m_conn->stream.write(out); e != StreamError::none) {
                m_conn->broken = true;
                co_return connection_failure(m_conn->peer, e, m_conn->stream.last_error());
            }
            if (last) break;
        }
        Reply r = co_await m_conn->read_reply();
        m_open = false;  // whatever the reply, the transaction is over
        if (!m_conn->broken) m_hop->park(std::move(m_conn));
        co_return r;
    }

    void interrupt() override {
        m_interrupted = true;
        if (m_opening) m_opening->interrupt();
        if (m_conn) {
            m_conn->broken = true;  // not parked, no QUIT: closed
            m_conn->stream.interrupt(true, std::chrono::seconds(0));
        }
    }

    asio::awaitable<void> reset() override {
        // DATA went ahead and no message followed: only closing the
        // connection keeps the next hop from waiting for one (it discards
        // a message whose final "." never came).
        if (m_conn && m_announced) m_conn->broken = true;
        m_announced = false;
        // Replies still unread would be taken for the RSET's.
        if (m_conn && m_unread > 0) m_conn->broken = true;
        m_unread = 0;
        m_queued.clear();
        if (m_conn && !m_conn->broken && m_open) {
            Reply r = co_await m_conn->exchange("RSET");
            if (r.code != 250) m_conn->broken = true;
        }
        m_open = false;
        if (m_conn && !m_conn->broken) {
            m_hop->park(std::move(m_conn));
        } else {
            dismiss(m_hop->m_io, std::move(m_conn));
        }
    }

private:
    bool usable() const { return m_conn && !m_conn->broken && m_open; }
    Reply lost() const { return make_reply(451, "4.4.2", "the connection to next hop " + m_hop->describe() + " was lost"); }

    std::shared_ptr<NextHop> m_hop;
    std::unique_ptr<SmtpConnection> m_conn;
    std::shared_ptr<Opening> m_opening;  // while connect() runs
    bool m_interrupted = false;
    bool m_open = false;  // MAIL was accepted and the transaction not ended
    bool m_announced = false;  // DATA sent ahead, its reply not read yet
    std::string m_queued;      // RCPT commands held back (queue_rcpt)
    std::size_t m_unread = 0;  // replies to queued RCPTs not read yet
};

// ---- maildir ---------------------------------------------------------------

namespace {

// maildir(5) names: "seconds.MmicrosecondsPpidQcount.host", unique on
// this host; '/' and ':' in the host name are replaced as the format says.
std::string maildir_name(const std::string& hostname) {
    static std::atomic<unsigned long> counter{0};
    timeval tv{};
    ::gettimeofday(&tv, nullptr);
    std::string host;
    for (char c : hostname) {
        if (c == '/') host += "\\057";
        else if (c == ':') host += "\\072";
        else host += c;
    }
    return std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" + std::to_string(::getpid()) + "Q" +
           std::to_string(++counter) + "." + host;
}

Result<void> fsync_dir(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return transient_error(Errc::io_error, "cannot sync " + dir.string() + ": " + why);
    }
    ::close(fd);
    return {};
}

Result<std::string> write_maildir(const std::filesystem::path& dir, const std::string& hostname,
                                  const std::string& envelope, const Spool& message) {
    std::string name = maildir_name(hostname);
    std::filesystem::path tmp = dir / "tmp" / name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return transient_error(Errc::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
    FdSink sink(fd);
    Result<void> r = sink.write(envelope);
    if (r) r = message.replay(sink);
    if (r && ::fsync(fd) != 0) r = transient_error(Errc::io_error, "cannot sync " + tmp.string() + ": " + std::strerror(errno));
    if (::close(fd) != 0 && r) r = transient_error(Errc::io_error, "cannot write " + tmp.string() + ": " + std::strerror(errno));
    if (r && ::rename(tmp.c_str(), (dir / "new" / name).c_str()) != 0) {
        r = transient_error(Errc::io_error, "cannot move the message into " + (dir / "new").string() + ": " +
                                                std::strerror(errno));
    }
    if (!r) {
        ::unlink(tmp.c_str());
        return std::move(r).error();
    }
    if (auto s = fsync_dir(dir / "new"); !s) return std::move(s).error();
    return name;
}

}  // namespace

class MaildirDelivery final : public Delivery {
public:
    explicit MaildirDelivery(std::shared_ptr<NextHop> hop, boost::asio::thread_pool& workers, std::filesystem::path dir,
                             std::string hostname)
        : m_hop(std::move(hop)), m_workers(workers), m_dir(std::move(dir)), m_hostname(std::move(hostname)) {}

    asio::awaitable<Reply> mail(const std::string& from, bool, bool) override {
        // As a delivery agent would (RFC 5321 §4.4): the envelope on top.
        m_envelope = "Return-Path: <" + from + ">\r\n";
        co_return make_reply(250, "2.1.0", "Ok");
    }
    asio::awaitable<Reply> rcpt(const std::string& to) override {
        m_envelope += "X-Original-To: " + to + "\r\n";
        co_return make_reply(250, "2.1.5", "Ok");
    }
    // Maildir delivery answers at once: nothing to pipeline.
    bool can_queue_rcpt() const override { return false; }
    void queue_rcpt(const std::string&) override {}
    asio::awaitable<Reply> rcpt_reply() override { co_return make_reply(451, "4.3.0", "nothing queued"); }
    asio::awaitable<void> announce_data() override { co_return; }
    asio::awaitable<Reply> data(const Spool& message) override {
        auto name = co_await run_on(m_workers, [&] { return write_maildir(m_dir, m_hostname, m_envelope, message); });
        if (!name) co_return make_reply(451, "4.3.0", "cannot deliver to the maildir: " + name.error().message());
        co_return make_reply(250, "2.0.0", "Ok: delivered to maildir as " + *name);
    }
    asio::awaitable<void> reset() override {
        m_envelope.clear();
        co_return;
    }
    // A maildir write is bounded by the disk: it is let finish.
    void interrupt() override {}

private:
    std::shared_ptr<NextHop> m_hop;
    boost::asio::thread_pool& m_workers;
    std::filesystem::path m_dir;
    std::string m_hostname;
    std::string m_envelope;
};

// ---- NextHop ---------------------------------------------------------------

NextHop::NextHop(asio::io_context& io, asio::thread_pool& workers, NextHopSettings settings, std::string hostname)
    : m_io(io), m_workers(workers), m_settings(std::move(settings)), m_hostname(std::move(hostname)),
      m_tls(asio::ssl::context::tls_client), m_idle_timer(io) {}

NextHop::~NextHop() {
    for (auto& c : m_idle) c->stream.close();
}

Result<std::shared_ptr<NextHop>> NextHop::create(asio::io_context& io, asio::thread_pool& workers,
                                                 const NextHopSettings& settings, std::string hostname) {
    std::shared_ptr<NextHop> hop(new NextHop(io, workers, settings, std::move(hostname)));
    if (settings.kind == NextHopSettings::Kind::maildir) {
        for (const char* sub : {"tmp", "new", "cur"}) {
            std::error_code ec;
            std::filesystem::create_directories(settings.maildir / sub, ec);
            if (ec) {
                return transient_error(Errc::io_error, "cannot create the maildir " + (settings.maildir / sub).string() +
                                                           ": " + ec.message());
            }
        }
        return hop;
    }
    if (!settings.auth_password_file.empty()) {
        auto text = read_small_file(settings.auth_password_file, "relay.next_hop.auth_password_file");
        if (!text) return permanent_error(Errc::bad_config, text.error().message());
        hop->m_password = text->substr(0, text->find_first_of("\r\n"));
    }
    SSL_CTX* ctx = hop->m_tls.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    error_code ec;
    if (!settings.ca_file.empty()) {
        hop->m_tls.load_verify_file(settings.ca_file.string(), ec);
    } else {
        hop->m_tls.set_default_verify_paths(ec);
    }
    if (ec) {
        return permanent_error(Errc::bad_config, "relay.next_hop.ca_file " + settings.ca_file.string() +
                                                     " cannot be used: " + ec.message());
    }
    hop->m_tls.set_verify_mode(settings.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
    return hop;
}

std::unique_ptr<Delivery> NextHop::begin() {
    // Every Delivery keeps its NextHop alive: a reload may replace it mid-transaction.
    if (m_settings.kind == NextHopSettings::Kind::maildir) {
        return std::make_unique<MaildirDelivery>(shared_from_this(), m_workers, m_settings.maildir, m_hostname);
    }
    return std::make_unique<SmtpDelivery>(shared_from_this());
}

void NextHop::park(std::unique_ptr<SmtpConnection> c) {
    c->idle_since = std::chrono::steady_clock::now();
    if (m_idle.size() >= kMaxIdle) {
        dismiss(m_io, std::move(c));
        return;
    }
    m_idle.push_back(std::move(c));
    arm_idle_timer();
}

void NextHop::arm_idle_timer() {
    if (m_idle_timer_armed || m_idle.empty()) return;
    // m_idle is in the order connections were parked: the first is the oldest.
    m_idle_timer.expires_at(m_idle.front()->idle_since + kIdleLimit);
    m_idle_timer_armed = true;
    // The timer dies with this NextHop (a reload replaces it): its handler
    // may then still run, and must not touch it.
    m_idle_timer.async_wait([self = weak_from_this()](const error_code& ec) {
        auto hop = self.lock();
        if (!hop || ec) return;  // gone, or close_idle() cancelled it
        hop->m_idle_timer_armed = false;
        auto now = std::chrono::steady_clock::now();
        std::erase_if(hop->m_idle, [&](std::unique_ptr<SmtpConnection>& c) {
            if (now - c->idle_since < kIdleLimit) return false;
            dismiss(hop->m_io, std::move(c));
            return true;
        });
        hop->arm_idle_timer();
    });
}

void NextHop::close_idle() {
    m_idle_timer.cancel();
    m_idle_timer_armed = false;
    for (auto& c : m_idle) dismiss(m_io, std::move(c));
    m_idle.clear();
}

std::unique_ptr<SmtpConnection> NextHop::unpark() {
    auto now = std::chrono::steady_clock::now();
    while (!m_idle.empty()) {
        auto c = std::move(m_idle.back());
        m_idle.pop_back();
        if (now - c->idle_since < kIdleLimit) return c;
        dismiss(m_io, std::move(c));
    }
    return nullptr;
}

asio::awaitable<std::unique_ptr<SmtpConnection>> NextHop::connect(Reply& failure, std::shared_ptr<Opening> attempt) {
    const std::string peer = m_settings.host + ":" + std::to_string(m_settings.port);
    // The resolver and the connect share one deadline. The timer's handler
    // may already be queued when the connect completes, so what it touches
    // is shared with it (`attempt`) rather than left on this frame.
    asio::steady_timer timer(m_io);
    timer.expires_after(m_settings.connect_timeout);
    timer.async_wait([attempt](const error_code& ec) {
        if (ec || attempt->finished) return;
        attempt->timed_out = true;
        attempt->resolver.cancel();
        error_code ignored;
        attempt->socket.close(ignored);
    });
    error_code ec;
    auto endpoints = co_await attempt->resolver.async_resolve(m_settings.host, std::to_string(m_settings.port),
                                                              asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !attempt->timed_out && !attempt->interrupted) {
        co_await asio::async_connect(attempt->socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    }
    attempt->finished = true;
    timer.cancel();
    bool timed_out = attempt->timed_out;
    tcp::socket socket = std::move(attempt->socket);
    if (ec || timed_out || attempt->interrupted) {
        failure = make_reply(451, "4.4.1", "next hop " + peer + " is not reachable: " +
                                               (timed_out              ? std::string("timed out")
                                                : attempt->interrupted ? std::string("the relay is stopping")
                                                                       : ec.message()));
        co_return nullptr;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto c = std::make_unique<SmtpConnection>(std::move(socket), m_tls, peer);
    c->stream.set_timeout(m_settings.timeout);
    attempt->connection = c.get();
    auto refused = co_await open_session(*c);
    attempt->connection = nullptr;
    if (refused) {
        failure = std::move(*refused);
        dismiss(m_io, std::move(c));
        co_return nullptr;
    }
    co_return c;
}

// From the greeting to a connection ready for MAIL: TLS (from the first
// byte, or STARTTLS as relay.next_hop.tls says), EHLO and AUTH. The reply
// the client should get when any step fails.
asio::awaitable<std::optional<Reply>> NextHop::open_session(SmtpConnection& c) {
    if (m_settings.kind == NextHopSettings::Kind::smtps) {
        if (auto r = co_await start_tls(c)) co_return r;
    }
    Reply greeting = co_await c.read_reply();
    if (greeting.code != 220) {
        co_return c.broken ? greeting
                           : make_reply(451, "4.4.0", "next hop " + c.peer + " refused the connection: " +
                                                          greeting.summary());
    }
    if (auto r = co_await hello(c)) co_return r;
    if (m_settings.kind == NextHopSettings::Kind::smtp && m_settings.tls != NextHopTls::none) {
        if (c.has("STARTTLS")) {
            Reply r = co_await c.exchange("STARTTLS");
            if (r.code != 220) {
                co_return c.broken ? r : make_reply(451, "4.7.5", "next hop " + c.peer + " refused STARTTLS: " +
                                                                      r.summary());
            }
            if (auto t = co_await start_tls(c)) co_return t;
            if (auto h = co_await hello(c)) co_return h;  // RFC 3207 §4.2: forget what was said before
        } else if (m_settings.tls == NextHopTls::required) {
            co_return make_reply(451, "4.7.5", "next hop " + c.peer +
                                                   " does not offer STARTTLS, which relay.next_hop.tls requires");
        }
    }
    if (!m_settings.auth_user.empty()) co_return co_await authenticate(c);
    co_return std::nullopt;
}

asio::awaitable<std::optional<Reply>> NextHop::start_tls(SmtpConnection& c) {
    SSL* ssl = c.stream.ssl();
    bool literal = is_ip_literal(m_settings.host);
    if (!literal) SSL_set_tlsext_host_name(ssl, m_settings.host.c_str());  // SNI, RFC 6066 §3
    if (m_settings.verify) {
        // RFC 6125: the certificate must name the host ribbon connected to.
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (literal) {
            X509_VERIFY_PARAM_set1_ip_asc(param, m_settings.host.c_str());
        } else {
            X509_VERIFY_PARAM_set1_host(param, m_settings.host.c_str(), 0);
        }
    }
    StreamError e = co_await c.stream.handshake(asio::ssl::stream_base::client);
    if (e == StreamError::none) co_return std::nullopt;
    c.broken = true;
    co_return make_reply(451, "4.7.5", "TLS with next hop " + c.peer + " failed: " + c.stream.last_error());
}

asio::awaitable<std::optional<Reply>> NextHop::hello(SmtpConnection& c) {
    Reply r = co_await c.exchange("EHLO " + m_hostname);
    if (r.code == 250) {
        c.learn_extensions(r);
        co_return std::nullopt;
    }
    if (c.broken) co_return r;
    if (r.code >= 500) {  // RFC 5321 §3.2: an old server; HELO instead
        r = co_await c.exchange("HELO " + m_hostname);
        if (r.code == 250) {
            c.extensions.clear();
            co_return std::nullopt;
        }
    }
    co_return c.broken ? r : make_reply(451, "4.4.0", "next hop " + c.peer + " refused EHLO: " + r.summary());
}

asio::awaitable<std::optional<Reply>> NextHop::authenticate(SmtpConnection& c) {
    Reply r;
    if (c.auth_mechanisms.find(" PLAIN ") != std::string::npos) {
        // RFC 4616: authzid NUL authcid NUL password.
        r = co_await c.exchange("AUTH PLAIN " + base64_encode(std::string(1, '\0') + m_settings.auth_user +
                                                              std::string(1, '\0') + m_password));
    } else if (c.auth_mechanisms.find(" LOGIN ") != std::string::npos) {
        r = co_await c.exchange("AUTH LOGIN");
        if (r.code == 334) r = co_await c.exchange(base64_encode(m_settings.auth_user));
        if (r.code == 334) r = co_await c.exchange(base64_encode(m_password));
    } else {
        co_return make_reply(451, "4.7.0", "next hop " + c.peer + " offers neither AUTH PLAIN nor LOGIN");
    }
    if (r.code == 235) co_return std::nullopt;
    co_return c.broken ? r : make_reply(451, "4.7.0", "next hop " + c.peer + " refused ribbon's credentials: " +
                                                          r.summary());
}

}  // namespace ribbon::relay
