// stream.hpp — one SMTP connection's byte stream for `ribbon relay`, on
// either side: a TCP socket that may switch to TLS mid-stream (STARTTLS,
// RFC 3207) or start in TLS (smtps), with a buffered line reader and a
// deadline on every operation.
//
// All operations are Boost.Asio C++20 coroutines run on the relay's I/O
// thread; errors come back as values (std::error_code), never exceptions.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace ribbon::relay {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Why a stream operation failed, for the reply and the log.
// `interrupted`: interrupt() ended it (the relay is stopping).
enum class StreamError { none, closed, timeout, too_long, io, interrupted };

class Stream {
public:
    Stream(tcp::socket socket, asio::ssl::context& tls);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    tcp::socket& socket() { return m_socket; }
    bool encrypted() const noexcept { return m_encrypted; }
    // The TLS session's handle, for settings before handshake().
    SSL* ssl() { return tls().native_handle(); }

    // The deadline for each following operation.
    void set_timeout(std::chrono::steady_clock::duration timeout) { m_timeout = timeout; }

    // One line without its line end (CRLF or bare LF). A line longer than
    // `max` is skipped to its end and reported as too_long.
    asio::awaitable<StreamError> read_line(std::string& line, std::size_t max);
    // Bytes received but not consumed yet (for DATA); refill() adds more.
    std::string& buffered() { return m_in; }
    asio::awaitable<StreamError> refill();
    // Whether a whole line is already waiting (a pipelining client).
    bool line_ready() const noexcept { return m_in.find('\n') != std::string::npos; }

    asio::awaitable<StreamError> write(std::string_view bytes);
    // TLS handshake; buffered plaintext is dropped first (RFC 3207 §4.2:
    // nothing sent before the handshake may be taken as said after it).
    asio::awaitable<StreamError> handshake(asio::ssl::stream_base::handshake_type type);
    // Closes the TLS session (when there is one) and the socket.
    asio::awaitable<void> shutdown();
    void close();

    // For stopping the relay (I/O thread only): the read or handshake in
    // progress, and every later one, end with `interrupted`. With
    // `writes_too` writes and the TLS shutdown do as well; otherwise they
    // still go (so a client can be told 421), each under a deadline of at
    // most `write_limit`. An operation that had already completed keeps its
    // result: a reply that arrived is not thrown away.
    void interrupt(bool writes_too, std::chrono::steady_clock::duration write_limit);

    // The failure's system message, for logs.
    const std::string& last_error() const noexcept { return m_error; }

private:
    // `reading`: a read or handshake, which interrupt() always ends.
    template <class Op>
    asio::awaitable<StreamError> guarded(bool reading, Op op);
    void arm_deadline();
    void deadline_reached();
    asio::ssl::stream<tcp::socket&>& tls();

    tcp::socket m_socket;
    asio::ssl::context& m_context;
    // Made at the first use of TLS: an SSL object and its two 17 KB record
    // buffers (zero-filled) per connection were about 6 % of the relay's
    // own CPU per plain-text client (perf, issue 17).
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> m_tls;
    asio::steady_timer m_timer;
    std::chrono::steady_clock::duration m_timeout = std::chrono::minutes(5);
    bool m_encrypted = false;
    bool m_timed_out = false;
    bool m_interrupted = false;        // interrupt() was called
    bool m_interrupt_writes = false;   // ... with writes_too
    bool m_cancelled = false;          // interrupt() cancelled the operation in progress
    enum class Busy { no, reading, writing } m_busy = Busy::no;
    std::string m_in;
    std::unique_ptr<char[]> m_chunk;  // what one read fills
    std::string m_error;
    // The operation in progress ends with `timeout` at m_deadline; the
    // timer is armed for it or for an earlier point (arm_deadline()).
    std::chrono::steady_clock::time_point m_deadline;
    bool m_timer_armed = false;
    // For the deadline's handler: whether this Stream still exists.
    std::shared_ptr<Stream*> m_self = std::make_shared<Stream*>(this);
};

// Whether a command line is printable ASCII: a client sending 8-bit
// octets outside an SMTPUTF8 address gets a syntax error.
bool is_ascii(std::string_view s);

}  // namespace ribbon::relay
