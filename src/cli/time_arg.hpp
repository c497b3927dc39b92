// time_arg.hpp — the TIME of `--at TIME` (ribbon verify, ribbon decrypt).
#pragma once

#include <optional>
#include <string_view>

#include "ribbon/digital_id.hpp"

namespace ribbon::cli {

// "@UNIX-SECONDS", "YYYY-MM-DD", or "YYYY-MM-DDTHH:MM:SS" followed by "Z" or
// "+HH:MM"/"-HH:MM" (ISO 8601 / RFC 3339 §5.6); nullopt for anything else.
std::optional<TimePoint> parse_time(std::string_view s);

}  // namespace ribbon::cli
