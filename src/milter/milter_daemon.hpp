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

// The version of the libmilter this binary runs with, from smfi_version()
// at run time (e.g. "1.0.1"): Sendmail's milter library numbers its API
// apart from Sendmail's own releases.
std::string libmilter_runtime_version();

}  // namespace ribbon::milter
