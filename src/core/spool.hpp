// spool.hpp — holds output until it is complete: in memory while small,
// then in an unlinked temporary file, so a large message never costs its
// size in memory and a failed one never reaches a sink that cannot take
// output back. Internal; one per message.
#pragma once

#include <string>

#include "ribbon/io.hpp"

namespace ribbon {

class Spool final : public Sink {
public:
    Spool() = default;
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;
    ~Spool() override;

    Result<void> write(std::string_view bytes) override;
    std::uint64_t size() const noexcept { return m_size; }
    // Writes everything spooled to `out`, in order.
    Result<void> replay(Sink& out) const;

private:
    static constexpr std::size_t kMemoryLimit = 4 * 1024 * 1024;
    std::string m_memory;
    int m_fd = -1;
    std::uint64_t m_size = 0;
};

}  // namespace ribbon
