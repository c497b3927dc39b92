// next_hop.hpp — where `ribbon relay` hands messages on: an SMTP server
// (smtp:// with STARTTLS, smtps://) or a maildir. One Delivery per client
// transaction mirrors it step by step — MAIL, each RCPT, then the message —
// so every reply the client gets is the next hop's own answer, and 250
// after DATA means the next hop has the message (before-queue proxying:
// no local queue, nothing to lose).
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relay/smtp_protocol.hpp"
#include "ribbon/config.hpp"
#include "ribbon/error.hpp"
#include "ribbon/io.hpp"

namespace ribbon::relay {

class SmtpConnection;
struct Opening;

// One transaction towards the next hop. Used by one session on the I/O
// thread; each step is answered with the reply for the client.
class Delivery {
public:
    virtual ~Delivery() = default;
    // `smtputf8`/`eight_bit`: the client declared SMTPUTF8 or BODY=8BITMIME.
    virtual boost::asio::awaitable<Reply> mail(const std::string& from, bool smtputf8, bool eight_bit) = 0;
    virtual boost::asio::awaitable<Reply> rcpt(const std::string& to) = 0;
    // RFC 2920 towards the next hop: whether RCPT commands may be queued
    // (the next hop offers PIPELINING and the transaction is open), then
    // queue_rcpt() holds one back and rcpt_reply() sends all held ones in
    // one write and reads their replies, one call per queued command, in
    // order. A reset() with replies unread closes the connection.
    virtual bool can_queue_rcpt() const = 0;
    virtual void queue_rcpt(const std::string& to) = 0;
    virtual boost::asio::awaitable<Reply> rcpt_reply() = 0;
    // Sends DATA ahead, without waiting for its 354, so that the next
    // hop's round trip overlaps the signing; data() then reads the 354.
    // After this, reset() can only end the transaction by closing the
    // connection (no RSET inside DATA, RFC 5321 §4.1.1.4): callers use it
    // when the message will go on in this transaction whatever signing
    // decides, i.e. it cannot be split by the recipient policy.
    virtual boost::asio::awaitable<void> announce_data() = 0;
    // The message (CRLF lines, not dot-stuffed). Called once, after at
    // least one RCPT was accepted.
    virtual boost::asio::awaitable<Reply> data(const Spool& message) = 0;
    // Ends the transaction without a message (RSET, client gone). The
    // connection is kept for the next transaction when it is clean.
    virtual boost::asio::awaitable<void> reset() = 0;
    // The relay is stopping and cannot wait any longer (I/O thread only):
    // the step in progress and every later one end at once with a 4xx, and
    // the connection is closed without QUIT, which makes the next hop
    // discard the transaction unless it already answered the final dot
    // (RFC 5321 §4.1.1.4). A reply already received is still returned.
    virtual void interrupt() = 0;
};

class NextHop : public std::enable_shared_from_this<NextHop> {
public:
    // Reads the password file and CA file now, so a bad configuration is
    // refused at start-up or reload, not at the first message.
    static Result<std::shared_ptr<NextHop>> create(boost::asio::io_context& io, boost::asio::thread_pool& workers,
                                                   const NextHopSettings& settings, std::string hostname);
    ~NextHop();

    std::unique_ptr<Delivery> begin();
    // Says QUIT on every cached connection and closes it (the relay is
    // stopping). I/O thread only.
    void close_idle();
    // "smtp://host:port" or the maildir, for logs.
    const std::string& describe() const noexcept { return m_settings.url; }

private:
    friend class SmtpDelivery;
    NextHop(boost::asio::io_context& io, boost::asio::thread_pool& workers, NextHopSettings settings,
            std::string hostname);

    // `opening` lets the delivery interrupt() the connect in progress.
    boost::asio::awaitable<std::unique_ptr<SmtpConnection>> connect(Reply& failure, std::shared_ptr<Opening> opening);
    // The steps of connect() after the TCP connection; each returns the
    // reply for the client when the step fails, nothing when it succeeded.
    boost::asio::awaitable<std::optional<Reply>> open_session(SmtpConnection& c);
    boost::asio::awaitable<std::optional<Reply>> start_tls(SmtpConnection& c);
    boost::asio::awaitable<std::optional<Reply>> hello(SmtpConnection& c);
    boost::asio::awaitable<std::optional<Reply>> authenticate(SmtpConnection& c);
    void park(std::unique_ptr<SmtpConnection> connection);
    std::unique_ptr<SmtpConnection> unpark();
    // Closes cached connections once they have been idle for kIdleLimit.
    void arm_idle_timer();

    boost::asio::io_context& m_io;
    boost::asio::thread_pool& m_workers;
    NextHopSettings m_settings;
    std::string m_hostname;
    std::string m_password;
    boost::asio::ssl::context m_tls;
    // Connections that finished a transaction cleanly, for the next one
    // (Postfix's connection cache, with the same 2 s limit as its
    // smtp_connection_cache_time_limit): QUIT and closed by m_idle_timer
    // once idle that long, as Postfix's scache closes them.
    std::vector<std::unique_ptr<SmtpConnection>> m_idle;
    boost::asio::steady_timer m_idle_timer;
    bool m_idle_timer_armed = false;
};

}  // namespace ribbon::relay
