// counting_sink.hpp — a Sink that counts the octets it passes on, for the
// signer's and the sealer's reports (bytes_out). Private to core.
#pragma once

#include <cstdint>
#include <string_view>

#include "ribbon/io.hpp"

namespace ribbon {

class CountingSink final : public Sink {
public:
    explicit CountingSink(Sink& out) : m_out(out) {}
    Result<void> write(std::string_view bytes) override {
        m_count += bytes.size();
        return m_out.write(bytes);
    }
    bool discards_uncommitted() const noexcept override { return m_out.discards_uncommitted(); }
    std::uint64_t count() const noexcept { return m_count; }

private:
    Sink& m_out;
    std::uint64_t m_count = 0;
};

}  // namespace ribbon
