// io.cpp — MessageInput and the sinks (see ribbon/io.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "ribbon/io.hpp"

namespace ribbon {

Error message_too_large(std::uint64_t max_size) {
    return permanent_error(Errc::limit_exceeded, "the message is larger than the maximum message size (" +
                                                     std::to_string(max_size) + " bytes)");
}

MessageInput MessageInput::from_memory(std::string_view bytes) {
    MessageInput in;
    in.m_source = Source::memory;
    in.m_bytes = bytes;
    return in;
}

MessageInput MessageInput::from_file(std::filesystem::path path) {
    MessageInput in;
    in.m_source = Source::file;
    in.m_path = std::move(path);
    return in;
}

MessageInput MessageInput::from_fd(int fd, std::string_view already_read) {
    MessageInput in;
    in.m_source = Source::fd;
    in.m_fd = fd;
    in.m_bytes = already_read;
    return in;
}

Result<MessageHead> read_message_head(int fd, std::size_t limit) {
    static constexpr std::size_t kChunk = 64 * 1024;
    MessageHead head;
    // The empty line may be CRLF CRLF or LF LF (messages from local
    // programs), and may be the very first line (no header fields).
    char prev = '\n';
    char prev2 = 0;
    std::size_t scanned = 0;
    while (true) {
        for (; scanned < head.bytes.size() && scanned < limit; ++scanned) {
            char c = head.bytes[scanned];
            if (c == '\n' && (prev == '\n' || (prev == '\r' && prev2 == '\n'))) {
                head.header_size = scanned + 1;
                return head;
            }
            prev2 = prev;
            prev = c;
        }
        if (scanned == limit) {
            return permanent_error(Errc::limit_exceeded, "the header section is longer than " +
                                                             std::to_string(limit) +
                                                             " bytes (no empty line ends it)");
        }
        std::size_t at = head.bytes.size();
        head.bytes.resize(at + kChunk);
        ssize_t n = ::read(fd, head.bytes.data() + at, kChunk);
        int err = errno;
        head.bytes.resize(at + static_cast<std::size_t>(n > 0 ? n : 0));
        if (n < 0 && err == EINTR) continue;
        if (n < 0) {
            return transient_error(Errc::io_error,
                                   std::string("cannot read the message: ") + std::strerror(err));
        }
        if (n == 0) {
            head.header_size = head.bytes.size();
            return head;
        }
    }
}

namespace {

// Reads `fd` to its end into `out`, at most `max` bytes: 0, EFBIG when
// there is more (one byte past `max` is read to tell), or a read's errno.
// `size`: a regular file's size, 0 for a stream. `out` is sized once from
// it: growing it would leave copies of a key's bytes behind in freed
// memory. The stack buffer is wiped for the same reason.
int read_to_end(int fd, std::uint64_t size, std::uint64_t max, std::string& out) {
    out.reserve(static_cast<std::size_t>(std::min(size, max)) + 1);
    char buf[65536];
    int result = 0;
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            result = errno;
            break;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max) {
            result = EFBIG;
            break;
        }
    }
    explicit_bzero(buf, sizeof buf);
    return result;
}

}  // namespace

Result<std::string> read_small_file(const std::filesystem::path& path, const char* what) {
    auto failed = [&](const std::string& why, ErrorKind kind) {
        return Error(Errc::io_error, kind, std::string("cannot read ") + what + " " + path.string() + ": " + why);
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return failed(std::strerror(err), err == ENOENT ? ErrorKind::permanent : ErrorKind::transient);
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        return failed("it is a directory", ErrorKind::permanent);
    }
    // Read as a stream: a FIFO or /dev/fd/N works too.
    std::string out;
    const int err =
        read_to_end(fd, S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0, kMaxSmallFile, out);
    ::close(fd);
    if (err == EFBIG) {
        return failed("it is larger than " + std::to_string(kMaxSmallFile) + " bytes", ErrorKind::permanent);
    }
    if (err != 0) return failed(std::strerror(err), ErrorKind::transient);
    return out;
}

Result<MessageFile> open_message_file(const std::filesystem::path& path) {
    MessageFile file;
    file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (file.fd < 0) {
        const int err = errno;
        return Error(Errc::io_error, err == ENOENT ? ErrorKind::permanent : ErrorKind::transient,
                     "cannot open " + path.string() + ": " + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) {
        const int err = errno;
        ::close(file.fd);
        return transient_error(Errc::io_error, "cannot stat " + path.string() + ": " + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(file.fd);
        return permanent_error(Errc::io_error, path.string() + " is a directory, not a message");
    }
    file.regular = S_ISREG(st.st_mode);
    file.size = file.regular ? static_cast<std::uint64_t>(st.st_size) : 0;
    return file;
}

Result<std::string> read_message_file(const std::filesystem::path& path, std::uint64_t max_size) {
    auto file = open_message_file(path);
    if (!file) return std::move(file).error();
    if (file->regular && file->size > max_size) {
        ::close(file->fd);
        return message_too_large(max_size);
    }
    std::string bytes;
    const int err = read_to_end(file->fd, file->size, max_size, bytes);
    ::close(file->fd);
    if (err == EFBIG) return message_too_large(max_size);
    if (err != 0) {
        return transient_error(Errc::io_error, "cannot read " + path.string() + ": " + std::strerror(err));
    }
    return bytes;
}

std::string MessageInput::describe() const {
    switch (m_source) {
        case Source::memory: return "<memory>";
        case Source::file: return m_path.string();
        case Source::fd: return m_fd == 0 ? "<stdin>" : "<fd " + std::to_string(m_fd) + ">";
    }
    return "<input>";
}

namespace {

Result<void> write_all(int fd, std::string_view bytes, const char* what) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            return transient_error(Errc::io_error, std::string("cannot write ") + what + ": " +
                                                       std::strerror(errno));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

}  // namespace

Result<void> FdSink::write(std::string_view bytes) { return write_all(m_fd, bytes, "output"); }

Result<AtomicFileSink> AtomicFileSink::create(const std::filesystem::path& path) {
    std::random_device rd;
    for (int attempt = 0; attempt < 16; ++attempt) {
        auto tmp = path;
        tmp += ".tmp." + std::to_string(rd());
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) return AtomicFileSink(path, tmp, fd);
        if (errno != EEXIST) {
            return Error(Errc::io_error, ErrorKind::permanent,
                         "cannot create " + tmp.string() + ": " + std::strerror(errno));
        }
    }
    return transient_error(Errc::io_error, "cannot create a temporary file next to " + path.string());
}

AtomicFileSink::AtomicFileSink(AtomicFileSink&& other) noexcept
    : m_path(std::move(other.m_path)), m_tmp(std::move(other.m_tmp)), m_fd(other.m_fd) {
    other.m_fd = -1;
    other.m_tmp.clear();
}

AtomicFileSink::~AtomicFileSink() {
    if (m_fd >= 0) ::close(m_fd);
    if (!m_tmp.empty()) ::unlink(m_tmp.c_str());
}

Result<void> AtomicFileSink::write(std::string_view bytes) {
    return write_all(m_fd, bytes, m_tmp.c_str());
}

Result<void> AtomicFileSink::commit() {
    if (::fsync(m_fd) != 0 || ::close(m_fd) != 0) {
        m_fd = -1;
        return transient_error(Errc::io_error, "cannot flush " + m_tmp.string() + ": " +
                                                   std::strerror(errno));
    }
    m_fd = -1;
    if (::rename(m_tmp.c_str(), m_path.c_str()) != 0) {
        return transient_error(Errc::io_error, "cannot rename " + m_tmp.string() + " to " +
                                                   m_path.string() + ": " + std::strerror(errno));
    }
    m_tmp.clear();
    // The rename is durable only once the directory is synced: until then a
    // crash could lose the new name, so success waits for it.
    std::filesystem::path dir = m_path.parent_path();
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) {
        int err = errno;
        if (dfd >= 0) ::close(dfd);
        return transient_error(Errc::io_error, "cannot sync directory " + dir.string() + ": " +
                                                   std::strerror(err));
    }
    ::close(dfd);
    return {};
}

}  // namespace ribbon
