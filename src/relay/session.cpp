// session.cpp — one SMTP client of `ribbon relay` (RFC 5321), with
// PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8
// (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034/3463), STARTTLS (RFC 3207) and
// AUTH PLAIN/LOGIN (RFC 4954).
//
// The transaction is mirrored to the next hop as it happens (next_hop.hpp):
// MAIL and each RCPT get the next hop's own reply, the message is read
// whole into a Spool, signed on the worker pool (while DATA goes ahead to
// the next hop), handed on, and the client hears 250 only when the next
// hop said 250 for the signed message.
#include <crypt.h>

#include <utility>  // before Boost 1.74's awaitable.hpp, which needs std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/redirect_error.hpp>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "relay/server.hpp"
#include "relay/session_prepare.hpp"
#include "relay/smtp_protocol.hpp"
#include "relay/stream.hpp"
#include "relay/workers.hpp"

namespace ribbon::relay {

namespace {

// Postfix's smtpd_hard_error_limit: a client this wrong is not a mail client.
constexpr int kMaxErrors = 20;
constexpr int kMaxAuthFailures = 3;
constexpr std::size_t kReplyBuffer = 16 * 1024;
// RCPTs held back for one batch to the next hop at most (a 10,000-RCPT
// client is read in batches of this size).
constexpr std::size_t kMaxQueuedRcpts = 100;
// After abort(): how long the client's last writes (a reply in progress, the
// 421) may take, so a client that does not read cannot hold up the stop.
constexpr auto kLastWords = std::chrono::seconds(5);

class Session final : public SessionControl {
public:
    Session(Server& server, tcp::socket socket, const tcp::endpoint& remote, std::string id, bool implicit_tls)
        : m_server(server), m_runtime(server.runtime()), m_implicit_tls(implicit_tls),
          m_stream(std::move(socket), m_runtime->tls ? *m_runtime->tls : plain_context()), m_id(std::move(id)) {
        m_client_ip = remote.address().is_v4() || !remote.address().to_v6().is_v4_mapped()
                          ? remote.address()
                          : asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, remote.address().to_v6()));
        m_stream.set_timeout(m_runtime->config.relay.idle_timeout);
        m_server.enter(this);
    }
    ~Session() override { m_server.leave(this); }

    void stop() override {
        m_stopping = true;
        // Between transactions the session waits for a command: cancel
        // that wait. In a transaction it ends after the reply to it.
        if (!m_delivery && !m_busy) {
            error_code ignored;
            m_stream.socket().cancel(ignored);
        }
    }

    // The stop's grace is over (relay.stop_grace). Whatever the session
    // waits for is interrupted: a client's command or message, the next
    // hop's reply, a connect. What the next hop had already accepted is
    // still said to the client (a 250 for the final dot that arrived in
    // time); every other reply still due becomes one 421 4.3.2 (RFC 5321
    // §3.8), and the connection is closed. A message whose final dot went
    // on without an answer yet may then have been taken by the next hop
    // while the client hears 421 and sends it again: a duplicate, as RFC
    // 1047 describes; never a loss.
    void abort() override {
        m_aborted = true;
        m_stopping = true;
        m_stream.interrupt(false, kLastWords);
        if (m_delivery) m_delivery->interrupt();
    }

    asio::awaitable<void> run();

private:
    static asio::ssl::context& plain_context() {
        // An ssl::stream needs a context even when it never starts TLS.
        static asio::ssl::context ctx(asio::ssl::context::tls_server);
        return ctx;
    }
    const RelaySettings& settings() const { return m_runtime->config.relay; }
    spdlog::logger& log() { return m_server.log(); }

    void reply(int code, std::string_view enhanced, std::string_view text) { reply(make_reply(code, enhanced, text)); }
    void reply(const Reply& r) {
        // After abort() a refusal is the interruption speaking, or could
        // not be acted on anyway: the client hears 421 4.3.2 instead.
        if (m_aborted && !r.positive()) return;
        m_out += r.wire();
    }
    std::string shutting_down() const {
        return make_reply(421, "4.3.2", m_runtime->hostname + " Service shutting down, try again later").wire();
    }
    asio::awaitable<bool> flush();
    // Counts a refused command; false once the client has made too many.
    bool error(int code, std::string_view enhanced, std::string_view text) {
        reply(code, enhanced, text);
        return ++m_errors < kMaxErrors;
    }

    asio::awaitable<bool> command(const Command& c);
    void ehlo(const Command& c);
    asio::awaitable<bool> starttls();
    asio::awaitable<bool> auth(std::string_view argument);
    asio::awaitable<bool> mail(std::string_view argument);
    asio::awaitable<bool> rcpt(std::string_view argument);
    void record_rcpt(const std::string& address, const Reply& r);
    asio::awaitable<void> collect_rcpts();
    asio::awaitable<Reply> deliver_parts(const Prepared& prepared);
    void log_outcome(std::size_t nrcpt, const std::string& outcome, const Reply& r);
    void count_next_hop(const Reply& r);
    // A message the relay itself refuses after DATA, logged as log_outcome()
    // logs what the next hop answered.
    void refuse_message(std::uint64_t size, const std::string& why, const Reply& r);
    asio::awaitable<bool> data();
    asio::awaitable<void> end_transaction();
    bool relay_allowed() const;
    std::string received_header() const;

    Server& m_server;
    std::shared_ptr<const Runtime> m_runtime;
    bool m_implicit_tls;
    Stream m_stream;
    std::string m_id;
    asio::ip::address m_client_ip;
    std::string m_out;
    std::string m_helo;
    bool m_esmtp = false;
    std::string m_user;  // authenticated as
    int m_errors = 0;
    int m_auth_failures = 0;
    bool m_stopping = false;
    bool m_aborted = false;      // abort(): the grace is over
    bool m_said_goodbye = false;  // 221 or 421 is on its way
    bool m_busy = false;  // handling a command (not waiting for one)

    // The transaction.
    std::unique_ptr<Delivery> m_delivery;
    Envelope m_envelope;
    unsigned m_rcpt_seen = 0;
    // RCPTs sent on to the next hop in one batch (RFC 2920) whose replies
    // are not read yet: the address, and where in m_out the reply goes, so
    // the client gets every reply in the order of its commands.
    std::vector<std::pair<std::string, std::size_t>> m_queued_rcpts;
};

asio::awaitable<bool> Session::flush() {
    co_await collect_rcpts();
    if (m_out.empty()) co_return true;
    StreamError e = co_await m_stream.write(m_out);
    m_out.clear();
    co_return e == StreamError::none;
}

bool Session::relay_allowed() const {
    if (!m_user.empty()) return true;
    auto in_mynetworks = [&](const auto& bytes) {
        return std::any_of(m_runtime->mynetworks.begin(), m_runtime->mynetworks.end(),
                           [&](const IpNetwork& n) { return n.contains(bytes.data(), bytes.size()); });
    };
    return m_client_ip.is_v4() ? in_mynetworks(m_client_ip.to_v4().to_bytes())
                               : in_mynetworks(m_client_ip.to_v6().to_bytes());
}

void Session::ehlo(const Command& c) {
    m_helo = std::string(c.argument);
    m_esmtp = c.verb == Verb::ehlo;
    const std::string& host = m_runtime->hostname;
    if (!m_esmtp) {
        reply(250, "", host);
        return;
    }
    Reply r;
    r.code = 250;
    r.lines = {host, "PIPELINING", "SIZE " + std::to_string(settings().max_message_size), "8BITMIME", "SMTPUTF8",
               "ENHANCEDSTATUSCODES"};
    if (m_runtime->tls && !m_stream.encrypted()) r.lines.emplace_back("STARTTLS");
    // RFC 4954 §4: no AUTH over a connection that is not encrypted.
    if (!m_runtime->users.empty() && m_stream.encrypted() && m_user.empty()) r.lines.emplace_back("AUTH PLAIN LOGIN");
    reply(r);
}

asio::awaitable<bool> Session::starttls() {
    if (!m_runtime->tls) co_return error(502, "5.5.1", "STARTTLS is not offered");
    if (m_stream.encrypted()) co_return error(503, "5.5.1", "TLS is already active");
    if (m_delivery) co_return error(503, "5.5.1", "STARTTLS is not allowed inside a transaction");
    reply(220, "2.0.0", "Ready to start TLS");
    if (!co_await flush()) co_return false;
    if (StreamError e = co_await m_stream.handshake(asio::ssl::stream_base::server); e != StreamError::none) {
        log().info("{}: TLS handshake with [{}] failed: {}", m_id, m_client_ip.to_string(), m_stream.last_error());
        co_return false;
    }
    // RFC 3207 §4.2: the client starts again from EHLO.
    m_helo.clear();
    m_esmtp = false;
    co_return true;
}

// crypt(3) from libcrypt checks the users file's hashes (yescrypt,
// sha512-crypt, ...): the one mature implementation on every Debian host.
bool password_matches(const std::string& hash, const std::string& password) {
    auto data = std::make_unique<crypt_data>();
    const char* out = ::crypt_r(password.c_str(), hash.c_str(), data.get());
    return out != nullptr && out[0] != '*' && hash == out;
}

asio::awaitable<bool> Session::auth(std::string_view argument) {
    if (m_runtime->users.empty()) co_return error(502, "5.5.1", "AUTH is not offered");
    if (!m_stream.encrypted()) co_return error(538, "5.7.11", "Encryption required for requested authentication mechanism");
    if (!m_user.empty()) co_return error(503, "5.5.1", "Already authenticated");
    if (m_delivery) co_return error(503, "5.5.1", "AUTH is not allowed inside a transaction");

    std::string_view mechanism = argument.substr(0, argument.find(' '));
    std::string_view initial = mechanism.size() < argument.size() ? argument.substr(mechanism.size() + 1) : "";
    auto ask = [&](std::string_view challenge, std::string_view given) -> asio::awaitable<std::optional<std::string>> {
        std::string line(given);
        if (line.empty()) {
            reply(334, "", challenge);
            if (!co_await flush()) co_return std::nullopt;
            if (co_await m_stream.read_line(line, kMaxCommandLine) != StreamError::none) co_return std::nullopt;
        }
        if (line == "*") co_return std::nullopt;
        if (line == "=") co_return std::string();  // RFC 4954 §4: an empty initial response
        co_return base64_decode(line);
    };
    std::string user, password;
    std::string upper_mech = ascii_upper(mechanism);
    if (upper_mech == "PLAIN") {
        auto resp = co_await ask("", initial);
        if (!resp) co_return error(501, "5.7.0", "Authentication cancelled or malformed");
        // RFC 4616 §2: [authzid] NUL authcid NUL passwd.
        auto a = resp->find('\0'), b = resp->find('\0', a == std::string::npos ? 0 : a + 1);
        if (a == std::string::npos || b == std::string::npos) co_return error(501, "5.5.2", "Malformed AUTH PLAIN response");
        std::string authzid = resp->substr(0, a);
        user = resp->substr(a + 1, b - a - 1);
        password = resp->substr(b + 1);
        if (!authzid.empty() && authzid != user) co_return error(535, "5.7.8", "Authentication credentials invalid");
    } else if (upper_mech == "LOGIN") {
        // (No co_await inside ?: — GCC 12 miscompiles it.)
        auto u = co_await ask("VXNlcm5hbWU6", initial);  // "Username:"
        if (!u) co_return error(501, "5.7.0", "Authentication cancelled or malformed");
        auto p = co_await ask("UGFzc3dvcmQ6", "");  // "Password:"
        if (!p) co_return error(501, "5.7.0", "Authentication cancelled or malformed");
        user = *u;
        password = *p;
    } else {
        co_return error(504, "5.5.4", "Unrecognized authentication type");
    }
    auto it = m_runtime->users.find(user);
    std::string hash = it != m_runtime->users.end() ? it->second : std::string("*");
    auto check = [hash, password] { return password_matches(hash, password); };  // named: see run_on
    bool ok = co_await run_on(m_server.workers(), check);
    if (!ok) {
        log().warn("{}: AUTH failed for \"{}\" from [{}]", m_id, user, m_client_ip.to_string());
        // A pause makes guessing slow; after a few failures the client is dropped.
        asio::steady_timer pause(m_server.io(), std::chrono::seconds(1));
        error_code ec;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        reply(535, "5.7.8", "Authentication credentials invalid");
        co_return ++m_auth_failures < kMaxAuthFailures;
    }
    m_user = user;
    log().info("{}: authenticated as \"{}\"", m_id, user);
    reply(235, "2.7.0", "Authentication successful");
    co_return true;
}

asio::awaitable<bool> Session::mail(std::string_view argument) {
    if (m_helo.empty()) co_return error(503, "5.5.1", "Send HELO or EHLO first");
    if (m_delivery) co_return error(503, "5.5.1", "Nested MAIL command");
    if (!relay_allowed()) co_return error(530, "5.7.0", "Authentication required");
    PathArgument path;
    if (auto refusal = parse_path(argument, true, path)) co_return error(refusal->code, refusal->enhanced, refusal->lines[0]);
    Envelope env;
    env.from = path.address;
    for (const auto& [key, value] : path.params) {
        if (key == "SIZE") {
            std::uint64_t size = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
            if (ec != std::errc() || end != value.data() + value.size()) co_return error(501, "5.5.4", "Bad SIZE value");
            if (size > settings().max_message_size) {
                Reply r = make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
                log().info("{}: client=[{}] from=<{}> declared size={} refused: relay.max_message_size is {}; reply={}",
                           m_id, m_client_ip.to_string(), path.address, size, settings().max_message_size, r.summary());
                co_return error(r.code, r.enhanced, r.lines[0]);
            }
        } else if (key == "BODY") {
            std::string v = ascii_upper(value);
            if (v == "8BITMIME") env.eight_bit = true;
            else if (v != "7BIT") co_return error(555, "5.5.4", "Unsupported BODY type " + value);
        } else if (key == "SMTPUTF8" && value.empty()) {
            env.smtputf8 = true;
        } else if (key != "AUTH") {  // RFC 4954 §5: AUTH= may be ignored
            co_return error(555, "5.5.4", "Unsupported parameter " + key);
        }
    }
    if (!env.smtputf8 && !is_ascii(env.from)) {
        co_return error(553, "5.6.7", "Non-ASCII address without SMTPUTF8");
    }
    // The configuration stays the same for the whole transaction.
    m_runtime = m_server.runtime();
    m_delivery = m_runtime->next_hop->begin();
    m_envelope = std::move(env);
    m_rcpt_seen = 0;
    Reply r = co_await m_delivery->mail(m_envelope.from, m_envelope.smtputf8, m_envelope.eight_bit);
    if (!r.positive()) {
        log().info("{}: from=<{}> refused by next hop: {}", m_id, m_envelope.from, r.summary());
        co_await end_transaction();
    }
    reply(r);
    co_return true;
}

asio::awaitable<bool> Session::rcpt(std::string_view argument) {
    if (!m_delivery) co_return error(503, "5.5.1", "Need MAIL command");
    // RFC 5321 §4.5.3.1.10: 452 asks the client to send the rest later.
    // Attempts count, not only accepted recipients, so a client cannot
    // make the relay ask the next hop about 10,000 refused addresses.
    if (m_rcpt_seen >= settings().max_recipients) {
        reply(452, "4.5.3", "Too many recipients");
        co_return true;
    }
    PathArgument path;
    if (auto refusal = parse_path(argument, false, path)) co_return error(refusal->code, refusal->enhanced, refusal->lines[0]);
    if (!path.params.empty()) co_return error(555, "5.5.4", "Unsupported parameter " + path.params.front().first);
    if (!m_envelope.smtputf8 && !is_ascii(path.address)) co_return error(553, "5.6.7", "Non-ASCII address without SMTPUTF8");
    ++m_rcpt_seen;
    // A pipelining client's RCPTs go on as one batch too: the replies are
    // read when the client's batch is done (flush) or another command
    // needs the transaction's state (command()).
    if (m_delivery->can_queue_rcpt()) {
        m_delivery->queue_rcpt(path.address);
        m_queued_rcpts.emplace_back(path.address, m_out.size());
        if (m_queued_rcpts.size() >= kMaxQueuedRcpts) co_await collect_rcpts();
        co_return true;
    }
    Reply r = co_await m_delivery->rcpt(path.address);
    record_rcpt(path.address, r);
    reply(r);
    co_return true;
}

void Session::record_rcpt(const std::string& address, const Reply& r) {
    if (r.positive()) {
        m_envelope.rcpts.push_back(address);
    } else {
        log().info("{}: to=<{}> refused by next hop: {}", m_id, address, r.summary());
    }
}

asio::awaitable<void> Session::collect_rcpts() {
    if (m_queued_rcpts.empty()) co_return;
    std::string out;
    std::size_t from = 0;
    for (const auto& [address, at] : m_queued_rcpts) {
        Reply r = co_await m_delivery->rcpt_reply();
        record_rcpt(address, r);
        out.append(m_out, from, at - from);
        if (!m_aborted || r.positive()) out += r.wire();  // as reply() does
        from = at;
    }
    out.append(m_out, from, std::string::npos);
    m_out = std::move(out);
    m_queued_rcpts.clear();
}

asio::awaitable<void> Session::end_transaction() {
    if (m_delivery) co_await m_delivery->reset();
    m_delivery.reset();
    m_envelope = {};
    // Every command but RCPT collects first (command()), so RCPTs are still
    // queued here only when the session ends; their replies go nowhere.
    m_queued_rcpts.clear();
}

std::string Session::received_header() const {
    // RFC 5321 §4.4 and RFC 3848 (the "with" keyword).
    std::string helo;
    for (char c : m_helo.substr(0, 255)) helo += (c == '(' || c == ')' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) ? '_' : c;
    std::string ip = m_client_ip.is_v4() ? m_client_ip.to_string() : "IPv6:" + m_client_ip.to_string();
    std::string with = m_esmtp ? "ESMTP" : "SMTP";
    if (m_esmtp && m_envelope.smtputf8) with = "UTF8SMTP";
    if (m_stream.encrypted()) with += "S";
    if (!m_user.empty()) with += "A";
    char date[64];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
    std::string out = "Received: from " + (helo.empty() ? std::string("unknown") : helo) + " ([" + ip + "])\r\n\tby " +
                      m_runtime->hostname + " (ribbon) with " + with + " id " + m_id + "\r\n\t";
    if (m_envelope.rcpts.size() == 1) out += "for <" + m_envelope.rcpts.front() + ">; ";
    return out + date + "\r\n";
}

// The submission core's decision line (submit/submit.hpp), then what the
// next hop said.
// The next hop's answer to one message, by class; one ribbon made up (no
// connection, TLS refused, timeout, the maildir not written) is "error".
void Session::count_next_hop(const Reply& r) {
    m_runtime->telemetry->next_hop_reply(r.received || r.positive() ? r.code : 0);
}

void Session::log_outcome(std::size_t nrcpt, const std::string& outcome, const Reply& r) {
    log().info("{}: {} nrcpt={} relay={} reply={}", m_id, outcome, nrcpt, m_runtime->next_hop->describe(), r.summary());
}

void Session::refuse_message(std::uint64_t size, const std::string& why, const Reply& r) {
    log().info("{}: client=[{}] from=<{}> nrcpt={} size={} refused: {}; reply={}", m_id, m_client_ip.to_string(),
               m_envelope.from, m_envelope.rcpts.size(), size, why, r.summary());
    reply(r);
}

// A message split by the recipient policy: the transaction mirrored so far
// holds every recipient and cannot drop some, so it is reset and each part
// goes in a transaction of its own. The client, who sent one transaction,
// gets one reply: 250 only when every part was taken, else the first
// refusal — the parts already delivered may then be delivered again when
// the client retries (duplicates are possible, loss is not).
asio::awaitable<Reply> Session::deliver_parts(const Prepared& prepared) {
    co_await m_delivery->reset();
    std::optional<Reply> failure;
    for (const Part& part : prepared.parts) {
        // m_delivery, so that abort() reaches the part in progress.
        m_delivery = m_runtime->next_hop->begin();
        if (m_aborted) m_delivery->interrupt();
        Reply r = co_await m_delivery->mail(m_envelope.from, m_envelope.smtputf8, m_envelope.eight_bit);
        for (std::size_t i = 0; r.positive() && i < part.rcpts.size(); ++i) {
            const std::string& rcpt = part.rcpts[i];
            r = co_await m_delivery->rcpt(rcpt);
        }
        if (r.positive()) {
            r = co_await m_delivery->data(*part.message);
        } else {
            co_await m_delivery->reset();
        }
        count_next_hop(r);
        log_outcome(part.rcpts.size(), part.outcome + " part=" + std::string(r.positive() ? "taken" : "refused"), r);
        if (!r.positive() && !failure) failure = r;
    }
    if (failure) co_return *failure;
    co_return make_reply(250, "2.0.0", "Ok: delivered in " + std::to_string(prepared.parts.size()) + " transactions");
}

// GCC 12 at -O2 (the Debian package's flags) inlines this coroutine into
// command() and then takes Asio's recycled frame allocator for a
// mismatched new/delete pair: a false positive, silenced for this
// function only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<bool> Session::data() {
    if (!m_delivery) co_return error(503, "5.5.1", "Need MAIL command");
    if (m_envelope.rcpts.empty()) co_return error(554, "5.5.1", "No valid recipients");
    reply(354, "", "End data with <CR><LF>.<CR><LF>");
    if (!co_await flush()) co_return false;

    const RelaySettings& rs = settings();
    auto received = std::make_unique<Spool>(rs.spool_threshold, rs.spool_dir, rs.max_message_size);
    DataReader reader(rs.max_line_length);
    std::string content;
    std::uint64_t size = 0;
    bool too_big = false;
    Result<void> stored;
    while (true) {
        std::string& in = m_stream.buffered();
        content.clear();
        std::size_t used = reader.feed(in, content);
        in.erase(0, used);
        size += content.size();
        if (size > rs.max_message_size) too_big = true;
        if (!too_big && stored) stored = received->write(content);
        if (reader.done()) break;
        if (StreamError e = co_await m_stream.refill(); e != StreamError::none) {
            log().info("{}: client [{}] {} during DATA ({}); nothing was passed on", m_id, m_client_ip.to_string(),
                       e == StreamError::interrupted ? "was stopped" : "went away", m_stream.last_error());
            co_return false;
        }
    }
    if (too_big) {
        m_runtime->telemetry->refused_message(FailureAction::reject, FailureKind::bad_message,
                                              "relay.max_message_size is " + std::to_string(rs.max_message_size));
        refuse_message(size, "relay.max_message_size is " + std::to_string(rs.max_message_size),
                       make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
        co_await end_transaction();
        co_return true;
    }
    if (reader.line_too_long()) {
        m_runtime->telemetry->refused_message(FailureAction::reject, FailureKind::bad_message,
                                              "relay.max_line_length is " + std::to_string(rs.max_line_length));
        refuse_message(size, "relay.max_line_length is " + std::to_string(rs.max_line_length),
                       make_reply(554, "5.6.0", "Message has a line longer than " + std::to_string(rs.max_line_length) +
                                                    " octets"));
        co_await end_transaction();
        co_return true;
    }
    if (!stored) {
        m_runtime->telemetry->refused_message(FailureAction::tempfail, FailureKind::internal_error,
                                              stored.error().message());
        log().error("{}: {}", m_id, stored.error().message());
        co_await end_transaction();
        reply(451, "4.3.0", "Cannot store the message now, try again later");
        co_return true;
    }

    // One recipient cannot be split by the recipient policy, so the
    // message goes on in this transaction whatever happens: DATA goes to
    // the next hop now and its round trip overlaps the signing.
    if (m_envelope.rcpts.size() == 1) co_await m_delivery->announce_data();
    Job job{m_runtime, std::move(received), received_header(), m_envelope.rcpts, m_id};
    Prepared prepared;
    if (m_runtime->prepare_inline) {
        prepared = prepare(job);
    } else {
        prepared = co_await run_on(m_server.workers(), [&job] { return prepare(job); });
    }
    for (const auto& line : prepared.log) log().log(line.first, "{}: {}", m_id, line.second);
    Reply r;
    if (prepared.refusal) {
        r = *prepared.refusal;
        log_outcome(m_envelope.rcpts.size(), prepared.outcome, r);
    } else if (prepared.parts.size() == 1) {
        r = co_await m_delivery->data(*prepared.parts.front().message);
        count_next_hop(r);
        log_outcome(m_envelope.rcpts.size(), prepared.parts.front().outcome, r);
    } else {
        r = co_await deliver_parts(prepared);
    }
    if (m_aborted && !r.positive()) {
        log().warn("{}: stopped before the next hop's reply to the message ({}): the client gets 421 4.3.2 and will "
                   "send it again, twice if the next hop took it (RFC 1047)", m_id, r.summary());
    }
    co_await end_transaction();
    reply(r);
    co_return true;
}
#pragma GCC diagnostic pop

asio::awaitable<bool> Session::command(const Command& c) {
    if (c.verb != Verb::rcpt) co_await collect_rcpts();
    switch (c.verb) {
        case Verb::helo:
        case Verb::ehlo:
            if (c.argument.empty()) co_return error(501, "5.5.4", "Syntax: EHLO hostname");
            co_await end_transaction();
            ehlo(c);
            co_return true;
        case Verb::starttls: co_return co_await starttls();
        case Verb::auth: co_return co_await auth(c.argument);
        case Verb::mail: co_return co_await mail(c.argument);
        case Verb::rcpt: co_return co_await rcpt(c.argument);
        case Verb::data:
            if (!c.argument.empty()) co_return error(501, "5.5.4", "Syntax: DATA takes no argument");
            co_return co_await data();
        case Verb::rset:
            co_await end_transaction();
            reply(250, "2.0.0", "Ok");
            co_return true;
        case Verb::noop: reply(250, "2.0.0", "Ok"); co_return true;
        case Verb::vrfy: reply(252, "2.5.0", "Cannot VRFY user, but will accept message"); co_return true;
        case Verb::help: reply(214, "2.0.0", "ribbon relay: see RFC 5321"); co_return true;
        case Verb::quit:
            reply(221, "2.0.0", "Bye");
            m_said_goodbye = true;
            co_await flush();
            co_return false;
        case Verb::bdat: co_return error(502, "5.5.1", "CHUNKING is not offered");
        case Verb::unknown: break;
    }
    co_return error(500, "5.5.2", "Error: command not recognized");
}

asio::awaitable<void> Session::run() {
    if (m_server.sessions() > settings().max_connections) {
        reply(421, "4.7.0", m_runtime->hostname + " Too many connections, try again later");
        co_await flush();
        co_await m_stream.shutdown();
        co_return;
    }
    if (m_implicit_tls && m_runtime->tls) {
        if (co_await m_stream.handshake(asio::ssl::stream_base::server) != StreamError::none) {
            log().info("{}: TLS handshake with [{}] failed: {}", m_id, m_client_ip.to_string(), m_stream.last_error());
            co_await m_stream.shutdown();
            co_return;
        }
    }
    reply(220, "", m_runtime->hostname + " ESMTP ribbon");
    bool go = co_await flush();
    std::string line;
    while (go && !m_aborted) {
        if (m_stopping && !m_delivery) {
            m_out += shutting_down();
            m_said_goodbye = true;
            co_await flush();
            break;
        }
        m_busy = false;
        StreamError e = co_await m_stream.read_line(line, kMaxCommandLine);
        m_busy = true;
        if (m_aborted) break;
        if (m_stopping && !m_delivery && e != StreamError::none) continue;  // stop() cancelled the wait
        if (e == StreamError::timeout) {
            reply(421, "4.4.2", m_runtime->hostname + " Error: timeout exceeded");
            m_said_goodbye = true;
            co_await flush();
            break;
        }
        if (e == StreamError::too_long) {
            go = error(500, "5.5.2", "Error: line too long");
        } else if (e != StreamError::none) {
            break;
        } else if (!is_ascii(line) && !line.empty() && parse_command(line).verb != Verb::mail &&
                   parse_command(line).verb != Verb::rcpt) {
            go = error(500, "5.5.2", "Error: 8-bit characters in a command");
        } else {
            go = co_await command(parse_command(line));
        }
        if (m_aborted) break;
        if (!go && m_errors >= kMaxErrors) {
            reply(421, "4.7.0", m_runtime->hostname + " Error: too many errors");
            m_said_goodbye = true;
        }
        if (!go && m_auth_failures >= kMaxAuthFailures) {
            reply(421, "4.7.0", m_runtime->hostname + " Error: too many failed authentication attempts");
            m_said_goodbye = true;
        }
        // RFC 2920 §3.1: replies may wait until the client's batch is read,
        // but no longer than kReplyBuffer: a client that sends and never
        // reads must end up blocking the relay's write (and meet the idle
        // timeout), not its memory.
        if (!go || !m_stream.line_ready() || m_out.size() > kReplyBuffer) go = co_await flush() && go;
    }
    if (m_aborted && !m_said_goodbye) {
        // Replies still due that reply() kept (positive ones) go first.
        m_out += shutting_down();
        m_said_goodbye = true;
        co_await flush();
    }
    co_await end_transaction();
    co_await m_stream.shutdown();
}

}  // namespace

asio::awaitable<void> serve(Server& server, tcp::socket socket, tcp::endpoint remote, std::string id,
                            bool implicit_tls) {
    // Counted open until the session ends, whatever reload happens meanwhile.
    struct Open {
        std::shared_ptr<daemon::Telemetry> telemetry;
        explicit Open(std::shared_ptr<daemon::Telemetry> t) : telemetry(std::move(t)) { telemetry->connection_opened(); }
        ~Open() { telemetry->connection_closed(); }
        Open(const Open&) = delete;
        Open& operator=(const Open&) = delete;
    } open(server.runtime()->telemetry);
    Session session(server, std::move(socket), remote, std::move(id), implicit_tls);
    co_await session.run();
}

}  // namespace ribbon::relay
