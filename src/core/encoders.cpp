// encoders.cpp — see encoders.hpp.
#include "core/encoders.hpp"

#include <endian.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace ribbon::enc {

namespace {

// Buffers and digest contexts of finished writers, per thread, for the next
// message. Two of each cover a writer nested in another (doctor); more are
// freed.
struct WriterCache {
    static constexpr std::size_t kKeep = 2;
    std::vector<std::unique_ptr<char[]>> buffers;
    std::vector<ossl::MdCtxPtr> contexts;
};
thread_local WriterCache t_writer_cache;

}  // namespace

HashingWriter::HashingWriter(const EVP_MD* md, Sink& out, bool hold) : m_out(out), m_holding(hold) {
    WriterCache& cache = t_writer_cache;
    if (!cache.buffers.empty()) {
        m_own = cache.buffers.back().release();
        cache.buffers.pop_back();
    } else {
        m_own = new char[kFlushAt];
    }
    m_buffer = m_own;
    // The EVP_MD was fetched once by the Signer: no per-message fetch.
    if (md == nullptr) return;
    if (!cache.contexts.empty()) {
        m_ctx = cache.contexts.back().release();
        cache.contexts.pop_back();
    } else {
        m_ctx = EVP_MD_CTX_new();
    }
    // A context that held this digest before restarts with a null type,
    // which keeps the provider's state allocated (OpenSSL 3.0).
    if (m_ctx != nullptr && EVP_MD_CTX_get0_md(m_ctx) == md) md = nullptr;
    if (m_ctx == nullptr || EVP_DigestInit_ex2(m_ctx, md, nullptr) != 1) {
        m_error = ossl::crypto_error("cannot start SHA-256");
    }
}

HashingWriter::~HashingWriter() {
    m_pipeline.reset();  // stops its thread, which may be using m_ctx
    WriterCache& cache = t_writer_cache;
    if (cache.buffers.size() < WriterCache::kKeep) cache.buffers.emplace_back(m_own);
    else delete[] m_own;
    if (m_ctx == nullptr) return;
    if (cache.contexts.size() < WriterCache::kKeep) cache.contexts.emplace_back(m_ctx);
    else EVP_MD_CTX_free(m_ctx);
}

Result<void> HashingWriter::finish() {
    flush();
    stop_pipeline();
    if (m_error) return *m_error;
    return {};
}

void HashingWriter::stop_pipeline() {
    if (!m_pipeline) return;
    Result<void> hashed = m_pipeline->finish();
    m_pipeline.reset();
    m_buffer = m_own;
    m_capacity = kFlushAt;
    if (!hashed && !m_error) m_error = std::move(hashed).error();
}

void HashingWriter::hash(const char* data, std::size_t n) {
    if (m_ctx != nullptr && !m_error && EVP_DigestUpdate(m_ctx, data, n) != 1) {
        m_error = ossl::crypto_error("SHA-256 failed");
    }
}

void HashingWriter::put_slow(std::string_view bytes) {
    while (!bytes.empty()) {
        if (m_size == m_capacity) flush(true);
        std::size_t n = std::min(bytes.size(), m_capacity - m_size);
        std::memcpy(m_buffer + m_size, bytes.data(), n);
        m_size += n;
        bytes.remove_prefix(n);
    }
}

void HashingWriter::flush(bool full) {
    m_holding = false;
    if (m_size == 0) return;
    if (!m_error) {
        if (auto r = m_out.write(std::string_view(m_buffer, m_size)); !r) m_error = std::move(r).error();
    }
    m_total += m_size;
    if (m_pipeline) {
        m_pipeline->submit(m_buffer, m_size);
        m_buffer = m_pipeline->acquire();
    } else {
        hash(m_buffer, m_size);
        // More than one buffer's worth: the rest is hashed on a thread of
        // its own (hash_pipeline.hpp), in the ring's larger buffers.
        if (full && m_ctx != nullptr && !m_error) {
            m_pipeline = HashPipeline::start(m_ctx);
            if (m_pipeline) {
                m_buffer = m_pipeline->acquire();
                m_capacity = HashPipeline::kBufferSize;
            }
        }
    }
    m_size = 0;
}

Result<void> HashingWriter::finish(std::array<unsigned char, 32>& digest) {
    if (m_holding) {
        hash(m_buffer, m_size);  // stays in the buffer for held()
    } else {
        flush();
    }
    stop_pipeline();
    if (m_error) return *m_error;
    unsigned int len = 0;
    if (m_ctx == nullptr) return internal_error("digest requested from a writer that does not hash");
    if (EVP_DigestFinal_ex(m_ctx, digest.data(), &len) != 1 || len != digest.size()) {
        return ossl::crypto_error("SHA-256 failed");
    }
    return {};
}

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// Base64 (RFC 4648 §4) of `n` bytes, padded; returns the characters
// written, 4 per started group of 3. The same output as EVP_EncodeBlock(),
// at about a third of its instructions: it runs over every signature and
// every re-encoded part.
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Two output characters per 12 input bits: half the lookups of a 6-bit table.
struct Base64Pairs {
    char pairs[4096 * 2];
    constexpr Base64Pairs() : pairs() {
        for (int i = 0; i < 4096; ++i) {
            pairs[2 * i] = kBase64[i >> 6];
            pairs[2 * i + 1] = kBase64[i & 63];
        }
    }
};
constexpr Base64Pairs kBase64Pairs;

void put_pair(char* w, std::uint64_t twelve_bits) {
    std::memcpy(w, &kBase64Pairs.pairs[2 * (twelve_bits & 0xfff)], 2);
}

std::size_t base64_block(const unsigned char* in, std::size_t n, char* out) {
    char* w = out;
    std::size_t i = 0;
    // Six octets (eight characters) per step while eight can be loaded.
    for (; i + 8 <= n; i += 6) {
        std::uint64_t v = 0;
        std::memcpy(&v, in + i, 8);
        v = be64toh(v);  // in[i] in the top octet
        put_pair(w, v >> 52);
        put_pair(w + 2, v >> 40);
        put_pair(w + 4, v >> 28);
        put_pair(w + 6, v >> 16);
        w += 8;
    }
    for (; i + 3 <= n; i += 3) {
        std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
        std::memcpy(w, &kBase64Pairs.pairs[2 * (v >> 12)], 2);
        std::memcpy(w + 2, &kBase64Pairs.pairs[2 * (v & 0xfff)], 2);
        w += 4;
    }
    if (i < n) {
        bool two = i + 1 < n;
        std::uint32_t v = (std::uint32_t{in[i]} << 16) | (two ? std::uint32_t{in[i + 1]} << 8 : 0);
        w[0] = kBase64[v >> 18];
        w[1] = kBase64[(v >> 12) & 63];
        w[2] = two ? kBase64[(v >> 6) & 63] : '=';
        w[3] = '=';
        w += 4;
    }
    return static_cast<std::size_t>(w - out);
}

void append_escaped(std::string& out, unsigned char c) {
    out.push_back('=');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
}

}  // namespace

void QpEncoder::process(std::string_view in, bool final, HashingWriter& out) {
    m_pending.append(in);
    const std::string& p = m_pending;
    const std::size_t n = p.size();
    std::string o;
    o.reserve(n + n / 4 + 16);
    std::size_t i = 0;
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        // Hard line breaks: LF or CRLF in the text.
        if (c == '\n') {
            o.append("\r\n");
            m_col = 0;
            ++i;
            continue;
        }
        if (c == '\r') {
            if (i + 1 >= n && !final) break;  // need to see whether LF follows
            if (i + 1 < n && p[i + 1] == '\n') {
                o.append("\r\n");
                m_col = 0;
                i += 2;
                continue;
            }
        }
        // Enough lookahead to know whether whitespace ends a line and whether
        // a line starts with "From ".
        if (!final && i + 5 > n) break;
        bool escape;
        if (c == ' ' || c == '\t') {
            std::size_t j = i + 1;
            bool at_eol = j >= n || p[j] == '\n' || (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n') ||
                          (p[j] == '\r' && j + 1 >= n);
            escape = at_eol;  // RFC 2045 §6.7 rule 3: no trailing whitespace
        } else if (c == '=' || c < 32 || c > 126) {
            escape = true;
        } else if (m_col == 0 && c == '.') {
            escape = true;  // a lone "." line would end an SMTP DATA phase
        } else if (m_col == 0 && c == 'F' && p.compare(i, 5, "From ") == 0) {
            escape = true;  // RFC 8551 §3.1.3 / mbox ">From " escaping
        } else {
            escape = false;
        }
        std::size_t width = escape ? 3 : 1;
        if (m_col + width > kMaxLine - 1) {  // leave room for the soft break "="
            o.append("=\r\n");
            m_col = 0;
            continue;  // re-evaluate this octet at the start of a line
        }
        if (escape) {
            append_escaped(o, c);
        } else {
            o.push_back(static_cast<char>(c));
        }
        m_col += width;
        ++i;
    }
    m_pending.erase(0, i);
    out.put(o);
}

void Base64Encoder::feed(std::string_view in, HashingWriter& out) {
    constexpr std::size_t kGroup = 57;  // 57 octets → 76 characters
    std::string o;
    auto encode_groups = [&](const unsigned char* data, std::size_t groups) {
        o.resize(groups * (kMaxLine + 2));
        char* w = o.data();
        for (std::size_t g = 0; g < groups; ++g) {
            w += base64_block(data + g * kGroup, kGroup, w);
            *w++ = '\r';
            *w++ = '\n';
        }
        out.put(std::string_view(o.data(), groups * (kMaxLine + 2)));
    };
    if (!m_pending.empty()) {
        std::size_t take = std::min(kGroup - m_pending.size(), in.size());
        m_pending.append(in.substr(0, take));
        in.remove_prefix(take);
        if (m_pending.size() < kGroup) return;
        encode_groups(reinterpret_cast<const unsigned char*>(m_pending.data()), 1);
        m_pending.clear();
    }
    std::size_t groups = in.size() / kGroup;
    // Bounded chunks keep the temporary small for large parts.
    constexpr std::size_t kChunkGroups = 1024;
    for (std::size_t done = 0; done < groups; done += kChunkGroups) {
        std::size_t g = std::min(kChunkGroups, groups - done);
        encode_groups(reinterpret_cast<const unsigned char*>(in.data()) + done * kGroup, g);
    }
    m_pending.assign(in.substr(groups * kGroup));
}

void Base64Encoder::finish(HashingWriter& out) {
    if (m_pending.empty()) return;
    char o[kMaxLine + 2];
    std::size_t len = base64_block(reinterpret_cast<const unsigned char*>(m_pending.data()),
                                   m_pending.size(), o);
    o[len++] = '\r';
    o[len++] = '\n';
    out.put(std::string_view(o, len));
    m_pending.clear();
}

std::string Base64Encoder::encode_lines(std::string_view in) {
    std::string out;
    append_lines(out, in);
    return out;
}

void Base64Encoder::append_lines(std::string& out, std::string_view in) {
    // Sixteen lines at a time through a local block: resizing `out` first
    // would zero-fill what is then overwritten.
    constexpr std::size_t kLines = 16;
    char block[kLines * (kMaxLine + 2)];
    const auto* data = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t off = 0;
    while (off < in.size()) {
        char* w = block;
        for (std::size_t line = 0; line < kLines && off < in.size(); ++line, off += 57) {
            std::size_t take = std::min<std::size_t>(57, in.size() - off);
            w += base64_block(data + off, take, w);
            *w++ = '\r';
            *w++ = '\n';
        }
        out.append(block, static_cast<std::size_t>(w - block));
    }
}

void CrlfCopier::feed(std::string_view in, HashingWriter& out) {
    const char* s = in.data();
    const char* const end = s + in.size();
    bool last_cr = m_last_cr;  // the octet before s is a CR
    while (s < end) {
        std::size_t available = 0;
        char* const start = out.space(available);
        char* d = start;
        char* const limit = start + available;
#ifdef __SSE2__
        // Each step stores 16 octets and moves on by at most 17 (a CR
        // inserted): kMinSpace leaves room for the last one.
        const __m128i lf = _mm_set1_epi8('\n');
        while (end - s >= 16 && limit - d >= 34) {
            __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(d), v);
            unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)));
            if (mask == 0) {
                last_cr = s[15] == '\r';
                s += 16;
                d += 16;
                continue;
            }
            unsigned i = static_cast<unsigned>(__builtin_ctz(mask));
            if (i > 0 ? s[i - 1] == '\r' : last_cr) {
                s += i + 1;  // a CRLF already
                d += i + 1;
            } else {
                d[i] = '\r';
                d[i + 1] = '\n';
                s += i + 1;
                d += i + 2;
            }
            last_cr = false;
        }
#endif
        // The rest (or everything without SSE2), an octet at a time.
        while (s < end && limit - d >= 2) {
            char c = *s++;
            if (c == '\n' && !last_cr) *d++ = '\r';
            *d++ = c;
            last_cr = c == '\r';
        }
        out.commit(static_cast<std::size_t>(d - start));
    }
    m_last_cr = last_cr;
}

void unfold_into(std::string& out, std::string_view raw) {
    // Trimming CR, LF, space and tab from both ends first is the same as
    // removing CR/LF and then trimming whitespace; what is left is copied
    // once and closed up in place (runs per header field).
    auto trimmed = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    std::size_t b = 0;
    std::size_t e = raw.size();
    while (b < e && trimmed(raw[b])) ++b;
    while (e > b && trimmed(raw[e - 1])) --e;
    out.assign(raw.substr(b, e - b));
    // A plain loop: find_first_of() calls memchr() once per character.
    out.erase(std::remove_if(out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }),
              out.end());
}

std::string unfold(std::string_view raw) {
    std::string out;
    unfold_into(out, raw);
    return out;
}

void append_folded(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.push_back(':');
    std::size_t col = name.size() + 1;
    if (col + 1 + value.size() <= kMaxLine) {
        // Fits on one line, as most fields do: no folding, no copy of the value.
        out.push_back(' ');
        out.append(value);
        out.append("\r\n");
        return;
    }
    std::string s = " ";
    s.append(value);
    std::size_t pos = 0;
    while (col + (s.size() - pos) > kMaxLine) {
        // Last whitespace at which a break keeps this line within the limit.
        std::size_t limit = pos + (kMaxLine - col);
        std::size_t brk = std::string::npos;
        for (std::size_t k = std::min(limit, s.size() - 1); k > pos; --k) {
            if (s[k] == ' ' || s[k] == '\t') {
                brk = k;
                break;
            }
        }
        if (brk == std::string::npos) {
            // An unbreakable token longer than the line: break after it.
            brk = s.find_first_of(" \t", pos + 1);
            if (brk == std::string::npos) break;
        }
        out.append(s, pos, brk - pos);
        out.append("\r\n");
        pos = brk;
        col = 0;
    }
    out.append(s, pos, std::string::npos);
    out.append("\r\n");
}

std::string fold_header(std::string_view name, std::string_view value) {
    std::string out;
    out.reserve(name.size() + value.size() + 16);
    append_folded(out, name, value);
    return out;
}

}  // namespace ribbon::enc
