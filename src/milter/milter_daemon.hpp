// milter_daemon.hpp — runs `ribbon milter` until SIGTERM.
#pragma once

#include <filesystem>

#include "ribbon/error.hpp"

namespace ribbon::milter {

// Loads the configuration (refusing a bad one), opens the socket, drops
// root, serves the MTA, reloads on SIGHUP; returns after SIGTERM/SIGINT.
// Start-up errors are returned before anything listens.
Result<void> run(const std::filesystem::path& config_path);

}  // namespace ribbon::milter
