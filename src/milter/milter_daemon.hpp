// milter_daemon.hpp — runs `ribbon milter` until SIGTERM.
#pragma once

#include <filesystem>
#include <string>

#include "ribbon/error.hpp"

namespace ribbon::milter {

// Loads the configuration (refusing a bad one), opens the socket, drops
// root, serves the MTA, reloads on SIGHUP; returns after SIGTERM/SIGINT.
// Start-up errors are returned before anything listens.
Result<void> run(const std::filesystem::path& config_path);

// The milter protocol version `ribbon milter` speaks ("6": Sendmail 8.14's,
// which Postfix offers with milter_protocol = 6), for `ribbon --version`.
std::string protocol_version();

}  // namespace ribbon::milter
