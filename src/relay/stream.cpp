// stream.cpp — see stream.hpp.
#include "relay/stream.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <vector>

namespace ribbon::relay {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

// Read buffers of closed connections, kept for the next ones on the same
// thread (the relay's I/O thread). Freeing a 64 KiB block at every
// connection's end made glibc consolidate its fast bins each time (a free
// of 64 KiB or more does, FASTBIN_CONSOLIDATION_THRESHOLD), which slowed
// the small allocations that followed. At most kKeptChunks (1 MiB).
constexpr std::size_t kKeptChunks = 16;
thread_local std::vector<std::unique_ptr<char[]>> t_spare_chunks;

}  // namespace

Stream::Stream(tcp::socket socket, asio::ssl::context& tls)
    : m_socket(std::move(socket)), m_context(tls), m_timer(m_socket.get_executor()) {}

Stream::~Stream() {
    if (m_chunk && t_spare_chunks.size() < kKeptChunks) t_spare_chunks.push_back(std::move(m_chunk));
}

asio::ssl::stream<tcp::socket&>& Stream::tls() {
    if (!m_tls) m_tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(m_socket, m_context);
    return *m_tls;
}

// Makes sure the timer fires no later than m_deadline. The timer is not
// re-armed and cancelled per operation: each operation only moves
// m_deadline forward, and a timer that fires before the deadline of the
// operation then in progress is armed again for it (once per timeout
// period of a busy connection). Arming and cancelling per read and write
// was a timer-queue insertion, a cancellation and an aborted handler run
// through the scheduler, about 20 times per relayed message (issue 17).
void Stream::arm_deadline() {
    if (m_timer_armed && m_timer.expiry() <= m_deadline) return;
    // Moving the expiry cancels the pending wait: its handler sees
    // operation_aborted and leaves the new one alone.
    m_timer.expires_at(m_deadline);
    m_timer_armed = true;
    // The handler may run after the Stream is gone: it acts only for a
    // living one.
    m_timer.async_wait([self = std::weak_ptr<Stream*>(m_self)](const error_code& ec) {
        auto alive = self.lock();
        if (ec || !alive) return;
        Stream& s = **alive;
        s.m_timer_armed = false;
        s.deadline_reached();
    });
}

// The timer fired: the operation in progress, if any, times out when its
// own deadline has passed; otherwise the timer waits for that deadline.
void Stream::deadline_reached() {
    if (m_busy == Busy::no) return;  // the next operation arms it again
    if (std::chrono::steady_clock::now() < m_deadline) {
        arm_deadline();
        return;
    }
    m_timed_out = true;
    error_code ignored;
    socket().cancel(ignored);
}

// Runs one asynchronous operation under the deadline.
template <class Op>
asio::awaitable<StreamError> Stream::guarded(bool reading, Op op) {
    if (m_interrupted && (reading || m_interrupt_writes)) {
        m_error = "interrupted: the relay is stopping";
        co_return StreamError::interrupted;
    }
    m_timed_out = false;
    m_cancelled = false;
    m_deadline = std::chrono::steady_clock::now() + m_timeout;
    arm_deadline();
    m_busy = reading ? Busy::reading : Busy::writing;
    error_code ec;
    co_await op(asio::redirect_error(asio::use_awaitable, ec));
    m_busy = Busy::no;
    if (m_timed_out) {
        m_error = "timed out";
        co_return StreamError::timeout;
    }
    if (!ec) co_return StreamError::none;
    if (m_cancelled) {
        m_error = "interrupted: the relay is stopping";
        co_return StreamError::interrupted;
    }
    m_error = ec.message();
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset) {
        co_return StreamError::closed;
    }
    co_return StreamError::io;
}

void Stream::interrupt(bool writes_too, std::chrono::steady_clock::duration write_limit) {
    m_interrupted = true;
    m_interrupt_writes = writes_too;
    m_timeout = std::min(m_timeout, write_limit);
    if (m_busy == Busy::reading || (m_busy == Busy::writing && writes_too)) {
        m_cancelled = true;
        error_code ignored;
        socket().cancel(ignored);
    } else if (m_busy == Busy::writing) {
        // The write goes on under the shorter deadline.
        m_deadline = std::min(m_deadline, std::chrono::steady_clock::now() + write_limit);
        arm_deadline();
    }
}

asio::awaitable<StreamError> Stream::refill() {
    // Read into a fixed buffer and append what came: growing m_in by the
    // chunk size first would zero-fill 64 KiB per read (measured as the
    // largest cost on the I/O thread).
    if (!m_chunk && !t_spare_chunks.empty()) {
        m_chunk = std::move(t_spare_chunks.back());
        t_spare_chunks.pop_back();
    }
    if (!m_chunk) m_chunk = std::make_unique_for_overwrite<char[]>(kReadChunk);  // not zero-filled: 64 KiB per session
    std::size_t got = 0;
    auto buffer = asio::buffer(m_chunk.get(), kReadChunk);
    StreamError e = co_await guarded(true, [&](auto token) -> asio::awaitable<void> {
        if (m_encrypted) {
            got = co_await m_tls->async_read_some(buffer, token);
        } else {
            got = co_await socket().async_read_some(buffer, token);
        }
    });
    m_in.append(m_chunk.get(), got);
    co_return e;
}

asio::awaitable<StreamError> Stream::read_line(std::string& line, std::size_t max) {
    bool skipping = false;
    std::size_t scanned = 0;
    while (true) {
        auto nl = m_in.find('\n', scanned);
        if (nl != std::string::npos) {
            std::size_t end = nl > 0 && m_in[nl - 1] == '\r' ? nl - 1 : nl;
            if (!skipping && end <= max) line.assign(m_in, 0, end);
            m_in.erase(0, nl + 1);
            co_return skipping || end > max ? StreamError::too_long : StreamError::none;
        }
        if (m_in.size() > max) {  // keep memory bounded while the line goes on
            skipping = true;
            m_in.clear();
        }
        scanned = m_in.size();
        if (StreamError e = co_await refill(); e != StreamError::none) co_return e;
    }
}

asio::awaitable<StreamError> Stream::write(std::string_view bytes) {
    auto buffer = asio::buffer(bytes.data(), bytes.size());
    co_return co_await guarded(false, [&](auto token) -> asio::awaitable<void> {
        if (m_encrypted) {
            co_await asio::async_write(*m_tls, buffer, token);
        } else {
            co_await asio::async_write(socket(), buffer, token);
        }
    });
}

asio::awaitable<StreamError> Stream::handshake(asio::ssl::stream_base::handshake_type type) {
    m_in.clear();
    StreamError e = co_await guarded(true, [&](auto token) -> asio::awaitable<void> {
        co_await tls().async_handshake(type, token);
    });
    if (e == StreamError::none) m_encrypted = true;
    co_return e;
}

asio::awaitable<void> Stream::shutdown() {
    if (m_encrypted) {
        set_timeout(std::chrono::seconds(5));
        co_await guarded(false, [&](auto token) -> asio::awaitable<void> { co_await m_tls->async_shutdown(token); });
    }
    close();
}

void Stream::close() {
    error_code ignored;
    m_timer.cancel();
    m_timer_armed = false;
    // close(2) alone sends the FIN (the descriptor is not shared): a
    // shutdown(2) first was one more system call per connection, which
    // mostly failed with ENOTCONN once the client had gone.
    socket().close(ignored);
}

bool is_ascii(std::string_view s) {
    for (char c : s) {
        if (static_cast<unsigned char>(c) > 0x7e) return false;
    }
    return true;
}

}  // namespace ribbon::relay
