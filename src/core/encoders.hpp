// encoders.hpp — the transfer encodings and header folding that make a
// signed part survive transit (RFC 8551 §3.1.1–3.1.3), and the buffered
// writer that hashes exactly the bytes it emits.
//
// Hand-written rather than GMime's encoders because the rules here are
// stricter than RFC 2045's: besides quoted-printable's own rules, a line may
// not start with "From " (mbox escaping would change it) or be a lone "."
// (SMTP dot handling), and output lines stay within 76 octets. GMime's QP
// encoder does not guarantee the first two.
//
// Private to core. Not thread-safe; one per message.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/hash_pipeline.hpp"
#include "core/openssl_util.hpp"
#include "ribbon/io.hpp"

namespace ribbon::enc {

constexpr std::size_t kMaxLine = 76;

// Where canonical bytes go: a buffer that hashes (SHA-256) what it passes on,
// or, with a null `md`, only buffers. Write errors are sticky and reported
// by finish().
//
// The buffer (kFlushAt bytes) and the digest context are taken from a
// per-thread cache and given back by the destructor: a message costs no
// allocation and no EVP_MD_CTX_new() for them (the 256 KB stay with the
// thread, like GMime's per-thread parser).
//
// A signed part larger than one buffer is hashed on a second thread while
// this one goes on producing and writing it (core/hash_pipeline.hpp): the
// writer then fills and writes the 256 KiB buffers of a bounded ring.
//
// With `hold`, nothing reaches `out` until more than kFlushAt bytes have
// been put: a signed part that fits stays in the buffer, and finish()
// leaves it there for held(), so the signer writes it once, next to the
// outer header and the signature, instead of spooling and replaying it.
class HashingWriter {
public:
    HashingWriter(const EVP_MD* md, Sink& out, bool hold = false);
    ~HashingWriter();
    HashingWriter(const HashingWriter&) = delete;
    HashingWriter& operator=(const HashingWriter&) = delete;
    Result<void> finish();  // without a digest
    // Inline while the bytes fit the buffer: content is put line by line.
    void put(std::string_view bytes) {
        if (bytes.size() > m_capacity - m_size) return put_slow(bytes);
        if (!bytes.empty()) std::memcpy(m_buffer + m_size, bytes.data(), bytes.size());
        m_size += bytes.size();
    }
    void put(char c) {
        if (m_size == m_capacity) return put_slow(std::string_view(&c, 1));
        m_buffer[m_size++] = c;
    }
    // For bulk producers (CrlfCopier): free space in the buffer, at least
    // kMinSpace bytes (a full buffer is flushed first), to be filled and
    // then handed on with commit().
    static constexpr std::size_t kMinSpace = 128;
    char* space(std::size_t& available) {
        if (m_capacity - m_size < kMinSpace) flush(true);
        available = m_capacity - m_size;
        return m_buffer + m_size;
    }
    void commit(std::size_t n) noexcept { m_size += n; }
    Result<void> finish(std::array<unsigned char, 32>& digest);
    std::uint64_t bytes_written() const noexcept { return m_total + m_size; }
    // After finish() of a holding writer: the whole output, if it never
    // left the buffer (valid until the writer is destroyed); else nullopt
    // and it went to `out`.
    std::optional<std::string_view> held() const noexcept {
        if (!m_holding) return std::nullopt;
        return std::string_view(m_buffer, m_size);
    }

    static constexpr std::size_t kFlushAt = 256 * 1024;

private:
    void put_slow(std::string_view bytes);
    // `full`: the buffer filled up (more is coming), which may start the
    // pipeline; otherwise the writer is finishing.
    void flush(bool full = false);
    void hash(const char* data, std::size_t n);
    void stop_pipeline();  // waits for the hasher; its failure becomes m_error
    EVP_MD_CTX* m_ctx = nullptr;  // from the thread's cache, or null
    Sink& m_out;
    char* m_own = nullptr;        // kFlushAt bytes from the thread's cache, never zero-filled
    char* m_buffer = nullptr;     // m_own, or a buffer of the pipeline's ring
    std::size_t m_capacity = kFlushAt;
    std::unique_ptr<HashPipeline> m_pipeline;
    std::size_t m_size = 0;
    std::uint64_t m_total = 0;
    bool m_holding = false;
    std::optional<Error> m_error;
};

// Quoted-printable (RFC 2045 §6.7) for text: line breaks (CRLF or LF) become
// CRLF; trailing whitespace, '=', control and 8-bit octets are encoded; a
// leading "From " has its F encoded and a leading '.' is encoded; soft breaks
// keep every line within 76 octets.
class QpEncoder {
public:
    void feed(std::string_view in, HashingWriter& out) { process(in, false, out); }
    void finish(HashingWriter& out) { process({}, true, out); }

private:
    void process(std::string_view in, bool final, HashingWriter& out);
    std::string m_pending;
    std::size_t m_col = 0;
};

// Base64 (RFC 2045 §6.8) in lines of exactly 76 characters, CRLF.
class Base64Encoder {
public:
    void feed(std::string_view in, HashingWriter& out);
    void finish(HashingWriter& out);
    // For output that is not hashed (the signature part).
    static std::string encode_lines(std::string_view in);
    // The same, appended to `out`.
    static void append_lines(std::string& out, std::string_view in);

private:
    std::string m_pending;  // < 57 bytes carried to the next feed
};

// Copies already-conforming content, turning bare LF into CRLF, straight
// into the writer's buffer: 16 octets at a time (SSE2), one step more per
// line end. A 100 MB attachment is 1.3 million lines; a memchr() and two
// copies per line cost about three times as much.
class CrlfCopier {
public:
    void feed(std::string_view in, HashingWriter& out);

private:
    bool m_last_cr = false;
};

// One header field as "Name: value\r\n", folded at whitespace so that no line
// exceeds 76 octets where the value allows it (RFC 5322 §2.2.3: folding is
// inserting CRLF before whitespace, so unfolding restores the value exactly).
std::string fold_header(std::string_view name, std::string_view unfolded_value);
// The same, appended to `out` (no string per field).
void append_folded(std::string& out, std::string_view name, std::string_view unfolded_value);

// Removes CR and LF (RFC 5322 unfolding) and trims surrounding whitespace.
std::string unfold(std::string_view raw_value);
// The same into `out`, reusing its storage.
void unfold_into(std::string& out, std::string_view raw_value);

}  // namespace ribbon::enc
