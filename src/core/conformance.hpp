// conformance.hpp — the scan that decides whether a part's content may be
// signed as it is (RFC 8551 §3.1), shared by the canonical writer and the
// structure scanner (mime_structure.cpp), which runs it while it looks for
// the part's end so that a large part is read once before it is copied.
//
// Private to core.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#ifdef __SSE2__
#include <emmintrin.h>
#else
#include <endian.h>
#endif

#include "core/encoders.hpp"
#include "core/mime_parse.hpp"

namespace ribbon::canon {

using LeafScan = mime::ContentScan;

// Scans encoded content for anything RFC 8551 §3.1 forbids in a signed part.
// Runs over every byte of every part, so the common case (printable ASCII)
// is checked a block at a time (16 octets with SSE2, else 8 in a word):
// a block's first octet outside 0x20–0x7E — a line end, a CR, a tab, a
// control or 8-bit octet — is found from a mask without looking at the
// others, and only those octets are looked at one by one. One pass finds
// the line ends too (no memchr per line).
class Scanner {
public:
    void feed(std::string_view in) {
        const char* p = in.data();
        const char* const end = p + in.size();
        while (p < end) {
            if (!m_after_cr && m_utf8_need == 0) {
                p = printable_run(p, end);
                if (p == end) break;
            }
            unsigned char c = static_cast<unsigned char>(*p++);
            if (c == '\n') end_line();
            else byte(c);
        }
    }
    LeafScan finish() {
        if (m_after_cr) m_scan.conforms = false;
        end_line();
        if (m_utf8_need > 0) m_scan.valid_utf8 = false;
        return m_scan;
    }

private:
#ifdef __SSE2__
    static constexpr std::size_t kBlock = 16;
    // Bit i set when octet i is below 0x20, 0x7F, or above it (signed
    // compare: 0x80–0xFF are negative).
    static unsigned special_mask(const char* p) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
        __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
        return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(low, del)));
    }
    static unsigned first_special(unsigned mask) { return static_cast<unsigned>(__builtin_ctz(mask)); }
#else
    static constexpr std::size_t kBlock = 8;
    // High bit of octet i set when it is below 0x20 or above 0x7E (SWAR).
    // A borrow or carry only ever crosses from an octet that is flagged
    // itself, so the lowest flag is exact, which is all that is used.
    static std::uint64_t special_mask(const char* p) {
        constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
        constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        w = le64toh(w);
        std::uint64_t below = (w - kOnes * 0x20) & ~w & kHigh;
        std::uint64_t above = ((w + kOnes) | w) & kHigh;
        return below | above;
    }
    static unsigned first_special(std::uint64_t mask) { return static_cast<unsigned>(__builtin_ctzll(mask)) / 8; }
#endif

    // Takes printable octets and line ends from p on; returns the first
    // octet that needs looking at one by one (or end). Line ends are taken
    // here, without leaving the loop: most content is short printable lines.
    const char* printable_run(const char* p, const char* end) {
        const char* run = p;  // start of the printable octets not yet taken
        const char* q = p;
        while (static_cast<std::size_t>(end - q) >= kBlock) {
            auto mask = special_mask(q);
            if (mask == 0) {
                q += kBlock;
                continue;
            }
            q += first_special(mask);
            if (*q != '\n') break;
            take(run, q);
            end_line();
            run = ++q;
        }
        // Fewer than a block left (or an octet to look at): one by one.
        while (q < end) {
            if (*q >= 0x20 && *q < 0x7F) {
                ++q;
            } else if (*q == '\n') {
                take(run, q);
                end_line();
                run = ++q;
            } else {
                break;
            }
        }
        take(run, q);
        return q;
    }

    // Printable octets [run, stop) join the current line.
    void take(const char* run, const char* stop) {
        if (stop == run) return;
        std::size_t n = static_cast<std::size_t>(stop - run);
        if (m_len < 5) note_head(run, n);
        m_len += n;
        m_last = static_cast<unsigned char>(stop[-1]);
    }

    void note_head(const char* p, std::size_t n) {
        for (std::size_t i = 0; m_len + i < 5 && i < n; ++i) m_head[m_len + i] = p[i];
    }

    void byte(unsigned char c) {
        if (m_after_cr) m_scan.conforms = false;  // bare CR
        m_after_cr = c == '\r';
        if (c == '\r') return;
        if (c >= 0x80) {
            m_scan.eight_bit = true;
            m_scan.conforms = false;
            utf8_step(c);
        } else {
            if (m_utf8_need > 0) m_scan.valid_utf8 = false, m_utf8_need = 0;
            if ((c < 32 && c != '\t') || c == 127) m_scan.conforms = false;
        }
        if (m_len < 5) m_head[m_len] = static_cast<char>(c);
        ++m_len;
        m_last = c;
    }

    void end_line() {
        if (m_len > kMaxLineLen) m_scan.conforms = false;
        if (m_len > 0 && (m_last == ' ' || m_last == '\t')) m_scan.conforms = false;
        if (m_len >= 5 && std::string_view(m_head, 5) == "From ") m_scan.conforms = false;
        if (m_len == 1 && m_head[0] == '.') m_scan.conforms = false;
        m_len = 0;
        m_after_cr = false;
        m_last = 0;
    }
    void utf8_step(unsigned char c) {
        if (m_utf8_need > 0) {
            if ((c & 0xC0) == 0x80) {
                --m_utf8_need;
                return;
            }
            m_scan.valid_utf8 = false;
            m_utf8_need = 0;
        }
        if ((c & 0xE0) == 0xC0) m_utf8_need = 1;
        else if ((c & 0xF0) == 0xE0) m_utf8_need = 2;
        else if ((c & 0xF8) == 0xF0) m_utf8_need = 3;
        else m_scan.valid_utf8 = false;
    }
    static constexpr std::size_t kMaxLineLen = enc::kMaxLine;
    LeafScan m_scan;
    std::size_t m_len = 0;
    char m_head[5] = {};
    unsigned char m_last = 0;
    bool m_after_cr = false;
    int m_utf8_need = 0;
};

}  // namespace ribbon::canon
