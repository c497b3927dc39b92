// seal_stream.hpp — the two ends of the sealer's OpenSSL stream
// (core/seal.cpp): a BIO that reads the entity to be enveloped (its
// Content-* header fields, then the body from memory or a descriptor, bare
// LF made CRLF: RFC 8551 §3.1.1 canonical form), and a BIO that writes the
// DER it is given as base64 lines of 76 (RFC 2045 §6.8) into a Sink.
// OpenSSL streams between them (CMS_STREAM, i2d_CMS_bio_stream), so a
// large message is read, encrypted and written a buffer at a time.
//
// Why hand-written BIOs: OpenSSL's own base64 BIO writes 64-column LF
// lines (mail wants CRLF), and no OpenSSL BIO reads from a ribbon Sink or
// Spool; both are thin adapters around OpenSSL's BIO_meth_* and
// EVP_EncodeBlock. Private to core; one stream per seal, one thread.
#pragma once

#include <openssl/bio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/openssl_util.hpp"
#include "ribbon/io.hpp"

namespace ribbon::seal {

// Bytes to read: `prefix` (already CRLF), then `body`, then whatever `fd`
// holds (fd < 0: nothing). More than `max_size` bytes in all is
// Errc::limit_exceeded. The BIO reports end of input after an error;
// error() says whether the stream was complete.
class ContentSource {
public:
    ContentSource(std::string prefix, std::string_view body, int fd, std::uint64_t max_size)
        : m_prefix(std::move(prefix)), m_body(body), m_fd(fd), m_max_size(max_size) {}
    // Up to `n` bytes into `out`; 0 at the end (or after an error).
    std::size_t read(char* out, std::size_t n);
    const std::optional<Error>& error() const noexcept { return m_error; }
    std::uint64_t bytes() const noexcept { return m_total; }

private:
    bool refill();
    void stage(std::string_view raw);
    std::string m_prefix;
    std::string_view m_body;
    int m_fd;
    std::uint64_t m_max_size;
    bool m_prefix_done = false;
    bool m_body_done = false;
    bool m_last_cr = false;
    std::string m_staged;
    std::size_t m_pos = 0;
    std::string m_raw;
    std::uint64_t m_total = 0;
    std::optional<Error> m_error;
};

// Base64 lines of 76 characters, CRLF, into `out`, 64 KiB at a time.
class Base64Target {
public:
    explicit Base64Target(Sink& out) : m_out(out) {}
    bool write(std::string_view der);  // false after a failed Sink write
    Result<void> finish();             // the last line, and everything held
    const std::optional<Error>& error() const noexcept { return m_error; }

private:
    bool flush();
    Sink& m_out;
    std::string m_carry;  // < 57 bytes waiting for a whole line
    std::string m_lines;
    std::optional<Error> m_error;
};

// BIOs over the two (not owning them; they must outlive the BIOs).
ossl::BioPtr source_bio(ContentSource& source);
ossl::BioPtr target_bio(Base64Target& target);

}  // namespace ribbon::seal
