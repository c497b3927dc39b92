// fingerprint_table.hpp — a compact multimap from a key's 64-bit hash to
// 32-bit values, for indexes that verify every hit against the real key
// anyway (lookalike.cpp). Private to the core.
//
// Why not std::unordered_multimap: it allocates a node per entry (about
// 40 bytes with the bucket array), and the lookalike index holds about
// fifteen entries per known domain (a domain's deletion neighbourhood),
// 1.5 million for 100,000 domains. Here an entry is one 8-byte slot: the
// upper 32 bits of the hash as a fingerprint, the value below, in an
// open-addressed table with linear probing kept at most 7/8 full: a miss
// then reads about 32 slots on average, four cache lines, and the table
// costs 9 to 18 bytes an entry. Two keys with the same fingerprint share
// hits; the caller's check sorts them out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ribbon {

class FingerprintTable {
public:
    // Adds `value` (below 2^32) under `hash`; duplicates are kept.
    void insert(std::uint64_t hash, std::uint32_t value) {
        if ((m_count + 1) * 8 > m_slots.size() * 7) grow();
        place(slot_of(fingerprint(hash), value));
        ++m_count;
    }

    // Room for `entries` in all without growing: one rehash now rather
    // than one per doubling while an index of known size is built.
    void reserve(std::size_t entries) {
        unsigned bits = m_slots.empty() ? 10 : m_bits;
        while (entries * 8 > (std::size_t{1} << bits) * 7) ++bits;
        if (bits > m_bits || m_slots.empty()) rehash(bits);
    }

    // Calls f(value) for each value inserted under a hash with the same
    // fingerprint as `hash` (in no promised order) until f returns false.
    template <class F>
    void for_each(std::uint64_t hash, F&& f) const {
        if (m_slots.empty()) return;
        const std::uint32_t fp = fingerprint(hash);
        const std::size_t mask = m_slots.size() - 1;
        for (std::size_t i = home(fp);; i = (i + 1) & mask) {
            const std::uint64_t slot = m_slots[i];
            if (slot == 0) return;
            if (static_cast<std::uint32_t>(slot >> 32) == fp) {
                if (!f(static_cast<std::uint32_t>(slot))) return;
            }
        }
    }

    std::size_t size() const noexcept { return m_count; }
    std::size_t bytes() const noexcept { return m_slots.capacity() * sizeof(std::uint64_t); }

private:
    // Never 0, so an occupied slot is never 0.
    static std::uint32_t fingerprint(std::uint64_t hash) noexcept {
        const auto fp = static_cast<std::uint32_t>(hash >> 32);
        return fp != 0 ? fp : 1;
    }
    static std::uint64_t slot_of(std::uint32_t fp, std::uint32_t value) noexcept {
        return (static_cast<std::uint64_t>(fp) << 32) | value;
    }
    // Fibonacci hashing of the fingerprint: the top bits of the product.
    std::size_t home(std::uint32_t fp) const noexcept {
        return static_cast<std::size_t>((fp * 0x9e3779b97f4a7c15ULL) >> (64 - m_bits));
    }
    void place(std::uint64_t slot) {
        const std::size_t mask = m_slots.size() - 1;
        std::size_t i = home(static_cast<std::uint32_t>(slot >> 32));
        while (m_slots[i] != 0) i = (i + 1) & mask;
        m_slots[i] = slot;
    }
    void grow() { rehash(m_slots.empty() ? 10 : m_bits + 1); }
    void rehash(unsigned bits) {
        std::vector<std::uint64_t> old;
        old.swap(m_slots);
        m_bits = bits;
        m_slots.assign(std::size_t{1} << m_bits, 0);
        for (const std::uint64_t slot : old) {
            if (slot != 0) place(slot);
        }
    }

    std::vector<std::uint64_t> m_slots;
    std::size_t m_count = 0;
    unsigned m_bits = 0;
};

}  // namespace ribbon
