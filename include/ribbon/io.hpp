// ribbon/io.hpp — where messages come from and where signed output goes.
//
// MessageInput names a message without reading it: the core decides how to
// read it (a seekable file is parsed in place, so a 100 MB message is never
// held whole in memory; a pipe is spooled first). Sink receives output; the
// signer writes to it only after the whole message has been signed, so a
// failure never leaves partial output behind (apart from a failing Sink).
//
// Every message read is bounded: by MessageInput::max_size() when the core
// reads one, by Spool's maximum when a front end collects one. Past it the
// read stops with Errc::limit_exceeded and whatever was spooled is freed,
// so an endless input (stdin from /dev/zero) cannot fill memory or disk.
//
// Thread-safety: a MessageInput is a value; a Sink is used by one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "ribbon/error.hpp"

namespace ribbon {

// The largest message read unless the caller says otherwise (`ribbon sign
// --max-message-size`, ribbon.toml `max_message_size`, docs/
// CONFIGURATION.md). 256 MiB: above the 100 MB message ribbon is
// benchmarked on and far above what mail systems carry (Postfix's
// message_size_limit defaults to 10 MB, large providers stop at 25 to
// 150 MB), yet an endless input stops after 256 MiB of spool instead of
// filling the disk.
inline constexpr std::uint64_t kDefaultMaxMessageSize = 256ull * 1024 * 1024;

// The largest signed message a message of `max_message_size` bytes can
// become, for spools that hold signed output. The canonical form (RFC 8551
// §3.1) re-encodes 8-bit text as quoted-printable, at worst "=XX" per octet
// plus a soft line break per 25 octets (3.12×); opaque signing base64-encodes
// that again (× 78/57): about 4.3×. 5× and 1 MiB for the outer header,
// protected header copies and the signature bound it.
constexpr std::uint64_t max_signed_size(std::uint64_t max_message_size) noexcept {
    return 5 * max_message_size + 1024 * 1024;
}

// The error for a message past `max_size` (Errc::limit_exceeded, permanent).
Error message_too_large(std::uint64_t max_size);

class MessageInput {
public:
    // The bytes must outlive every use of the input.
    static MessageInput from_memory(std::string_view bytes);
    static MessageInput from_file(std::filesystem::path path);
    // A descriptor the caller owns (stdin, a socket, a pipe). Regular files
    // are read in place; anything else is spooled to memory, then to an
    // unlinked temporary file when large. `already_read`: the bytes the
    // caller has read from `fd` just before (read_message_head()), which
    // come first; they must outlive every use of the input.
    static MessageInput from_fd(int fd, std::string_view already_read = {});

    enum class Source { memory, file, fd };
    Source source() const noexcept { return m_source; }
    // The message (memory), or the bytes already read from fd() (fd).
    std::string_view bytes() const noexcept { return m_bytes; }
    const std::filesystem::path& path() const noexcept { return m_path; }
    int fd() const noexcept { return m_fd; }
    // For error messages: "<stdin>", a file name, or "<memory>".
    std::string describe() const;

    // Reading more than this many bytes is Errc::limit_exceeded (a file
    // larger than it is refused before it is read). A file that is not a
    // regular file (a FIFO, /dev/fd/N, a character device) is read as a
    // stream, like a pipe; a directory is Errc::io_error (permanent).
    std::uint64_t max_size() const noexcept { return m_max_size; }
    MessageInput with_max_size(std::uint64_t max_size) const {
        MessageInput in = *this;
        in.m_max_size = max_size;
        return in;
    }

private:
    Source m_source = Source::memory;
    std::string_view m_bytes;
    std::filesystem::path m_path;
    int m_fd = -1;
    std::uint64_t m_max_size = kDefaultMaxMessageSize;
};

// The most read_small_file() reads. A key, a certificate chain, a trust
// bundle (Debian's whole ca-certificates.crt is about 0.2 MB) or ribbon.toml
// is far below it; /dev/zero or a log file named by mistake is not.
inline constexpr std::size_t kMaxSmallFile = 16 * 1024 * 1024;

// Reads a whole (small) file: keys, certificates, configuration, password
// files. I/O failures are transient (the disk or a mount may come back), a
// missing file, a directory or a file longer than kMaxSmallFile is a
// permanent io_error. Messages name `what` ("chain file").
Result<std::string> read_small_file(const std::filesystem::path& path, const char* what);

// A message file opened for reading, for callers that read it themselves.
struct MessageFile {
    int fd = -1;           // the caller's to close
    bool regular = false;  // a regular file, `size` bytes long; else read it as a stream
    std::uint64_t size = 0;
};
// Opens `path`: a missing file is a permanent io_error ("cannot open PATH:
// ..."), another failure a transient one; a directory is a permanent
// io_error, "PATH is a directory, not a message". Every message file ribbon
// reads is opened here, so each input path names these cases alike.
Result<MessageFile> open_message_file(const std::filesystem::path& path);

// A whole message file (open_message_file()'s errors), read as a stream, so
// a FIFO or /dev/fd/N works; more than `max_size` bytes is limit_exceeded
// (message_too_large), found before the rest is read.
Result<std::string> read_message_file(const std::filesystem::path& path, std::uint64_t max_size);

// The start of a message read from a descriptor that cannot be read
// twice (a pipe): the whole header section (RFC 5322 §2.1: up to and
// including the empty line that ends it), and whatever of the body came
// with the last read. Enough to pick a Digital ID by From before the body
// is read; MessageInput::from_fd(fd, bytes) then gives the whole message.
struct MessageHead {
    std::string bytes;
    std::size_t header_size = 0;  // bytes of the header section within `bytes`
    std::string_view header() const noexcept {
        return std::string_view(bytes).substr(0, header_size);
    }
};

// A header section longer than this is refused rather than held in memory:
// ten times Postfix's header_size_limit default (102400), far above what
// real mail carries.
inline constexpr std::size_t kMaxHeaderSection = 1024 * 1024;

// Reads `fd` up to the end of the header section, or to end of input (a
// message without a body). Errors: no empty line within `limit` bytes →
// Errc::limit_exceeded (permanent); a failing read → io_error (transient).
Result<MessageHead> read_message_head(int fd, std::size_t limit = kMaxHeaderSection);

class Sink {
public:
    virtual ~Sink() = default;
    virtual Result<void> write(std::string_view bytes) = 0;
    // True when output written before a failure can never reach anyone (a
    // temporary file that is removed unless committed). The signer streams
    // into such sinks directly; into others it writes only complete results.
    virtual bool discards_uncommitted() const noexcept { return false; }
};

// Collects output in memory.
class StringSink final : public Sink {
public:
    Result<void> write(std::string_view bytes) override {
        m_data.append(bytes);
        return {};
    }
    const std::string& str() const noexcept { return m_data; }
    std::string take() noexcept { return std::move(m_data); }

private:
    std::string m_data;
};

// Writes to a file descriptor the caller owns (stdout), retrying short writes.
class FdSink final : public Sink {
public:
    explicit FdSink(int fd) : m_fd(fd) {}
    Result<void> write(std::string_view bytes) override;

private:
    int m_fd;
};

// Writes to PATH.tmp.XXXXXX and renames it over PATH on commit(), after an
// fsync of the file and then of its directory, so readers see either no
// file or the whole file, and a committed file survives a crash. Destroying an
// uncommitted AtomicFileSink removes the temporary file.
class AtomicFileSink final : public Sink {
public:
    static Result<AtomicFileSink> create(const std::filesystem::path& path);
    AtomicFileSink(AtomicFileSink&& other) noexcept;
    AtomicFileSink& operator=(AtomicFileSink&&) = delete;
    AtomicFileSink(const AtomicFileSink&) = delete;
    ~AtomicFileSink() override;

    Result<void> write(std::string_view bytes) override;
    bool discards_uncommitted() const noexcept override { return true; }
    Result<void> commit();

private:
    AtomicFileSink(std::filesystem::path path, std::filesystem::path tmp, int fd)
        : m_path(std::move(path)), m_tmp(std::move(tmp)), m_fd(fd) {}
    std::filesystem::path m_path;
    std::filesystem::path m_tmp;
    int m_fd = -1;
};

// Holds bytes until they are complete: in memory up to `memory_limit`, then
// in an unlinked temporary file (O_TMPFILE) in `dir` ($TMPDIR or /tmp when
// empty), so a large message never costs its size in memory and nothing is
// left on disk after a crash. At most `max_size` bytes: a write past it is
// Errc::limit_exceeded, and the spool then drops what it held (the file
// goes with its descriptor) and refuses every later write. One per message.
class Spool final : public Sink {
public:
    static constexpr std::size_t kDefaultMemoryLimit = 4 * 1024 * 1024;
    explicit Spool(std::size_t memory_limit = kDefaultMemoryLimit, std::filesystem::path dir = {},
                   std::uint64_t max_size = kDefaultMaxMessageSize)
        : m_memory_limit(memory_limit), m_dir(std::move(dir)), m_max_size(max_size) {}
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;
    ~Spool() override;

    Result<void> write(std::string_view bytes) override;
    std::uint64_t size() const noexcept { return m_size; }
    bool in_memory() const noexcept { return m_fd < 0; }
    // Writes everything spooled to `out`, in order.
    Result<void> replay(Sink& out) const;
    // Up to `max` bytes from `offset`, for writers that cannot take a Sink
    // (an asynchronous socket): a view of the memory, or of `buffer` after
    // reading the file into it. Empty at the end.
    Result<std::string_view> chunk(std::uint64_t offset, std::size_t max, std::string& buffer) const;
    // The spooled bytes as input for the signer, with this spool's maximum
    // as its max_size(); valid until the next write.
    MessageInput input() const;
    std::uint64_t max_size() const noexcept { return m_max_size; }

private:
    void release() noexcept;
    std::size_t m_memory_limit;
    std::filesystem::path m_dir;
    std::uint64_t m_max_size;
    bool m_overflowed = false;
    std::string m_memory;
    int m_fd = -1;
    std::uint64_t m_size = 0;
};

}  // namespace ribbon
