// relay_daemon.hpp — runs `ribbon relay` until SIGTERM.
#pragma once

#include <filesystem>

#include "ribbon/error.hpp"

namespace ribbon::relay {

// Loads the configuration (refusing a bad one), listens, drops root, serves
// clients, reloads on SIGHUP; returns after SIGTERM/SIGINT once the
// transactions in progress have ended (at most 30 s).
Result<void> run(const std::filesystem::path& config_path);

}  // namespace ribbon::relay
