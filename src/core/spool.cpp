// spool.cpp — Spool (ribbon/io.hpp): a message collected by a front end
// (the milter's body chunks, the relay's DATA, `ribbon sendmail`'s stdin)
// or the signer's output, in memory and then in an unlinked file, up to a
// maximum size that no writer can pass.
#include "ribbon/io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <algorithm>
#include <cstring>

namespace ribbon {

Spool::~Spool() {
    if (m_fd >= 0) ::close(m_fd);
}

void Spool::release() noexcept {
    // Closing the only descriptor of an O_TMPFILE file frees its blocks.
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
    std::string().swap(m_memory);
    m_size = 0;
}

Result<void> Spool::write(std::string_view bytes) {
    if (m_overflowed || bytes.size() > m_max_size - m_size) {
        // Nothing more can make the message acceptable: free the disk now
        // rather than when the owner lets go of the spool.
        release();
        m_overflowed = true;
        return message_too_large(m_max_size);
    }
    m_size += bytes.size();
    if (m_fd < 0 && m_memory.size() + bytes.size() <= m_memory_limit) {
        m_memory.append(bytes);
        return {};
    }
    if (m_fd < 0) {
        const char* env = std::getenv("TMPDIR");
        std::string dir = !m_dir.empty() ? m_dir.string() : env != nullptr && *env != '\0' ? env : "/tmp";
        m_fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (m_fd < 0) {
            return transient_error(Errc::io_error, "cannot create a spool file in " + dir + ": " +
                                                       std::strerror(errno));
        }
        FdSink sink(m_fd);
        if (auto r = sink.write(m_memory); !r) return r;
        std::string().swap(m_memory);
    }
    FdSink sink(m_fd);
    return sink.write(bytes);
}

Result<void> Spool::replay(Sink& out) const {
    if (m_fd < 0) return out.write(m_memory);
    std::string buf(1024 * 1024, '\0');
    off_t offset = 0;
    while (true) {
        ssize_t n = ::pread(m_fd, buf.data(), buf.size(), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            return transient_error(Errc::io_error, std::string("cannot read the spool file: ") +
                                                       std::strerror(errno));
        }
        if (n == 0) break;
        offset += n;
        if (auto r = out.write(std::string_view(buf.data(), static_cast<std::size_t>(n))); !r) return r;
    }
    return {};
}

Result<std::string_view> Spool::chunk(std::uint64_t offset, std::size_t max, std::string& buffer) const {
    if (offset >= m_size) return std::string_view();
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(max, m_size - offset));
    if (m_fd < 0) return std::string_view(m_memory).substr(static_cast<std::size_t>(offset), n);
    buffer.resize(n);
    std::size_t got = 0;
    while (got < n) {
        ssize_t r = ::pread(m_fd, buffer.data() + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            return transient_error(Errc::io_error, std::string("cannot read the spool file: ") +
                                                       (r < 0 ? std::strerror(errno) : "it is shorter than written"));
        }
        got += static_cast<std::size_t>(r);
    }
    return std::string_view(buffer);
}

MessageInput Spool::input() const {
    if (m_fd < 0) return MessageInput::from_memory(m_memory).with_max_size(m_max_size);
    // The signer reads a regular file from its current offset.
    ::lseek(m_fd, 0, SEEK_SET);
    return MessageInput::from_fd(m_fd).with_max_size(m_max_size);
}

}  // namespace ribbon
