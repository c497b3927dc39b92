// milter.hpp — the filter side of `ribbon milter`: the per-message work
// (milter.cpp, a Filter of the milter engine, engine.hpp) and the state it
// shares with the daemon (milter_daemon.cpp). Front end: all signing is the core's.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "daemon/runtime.hpp"
#include "milter/engine.hpp"

namespace ribbon::milter {

// The configuration in effect (daemon/runtime.hpp), with the learning
// queue when [milter] role learns.
using Runtime = daemon::Runtime;

void set_runtime(std::shared_ptr<const Runtime> runtime);
std::shared_ptr<const Runtime> current_runtime();

void set_logger(std::shared_ptr<spdlog::logger> logger);
spdlog::logger& log();
std::shared_ptr<spdlog::logger> logger();

// Option negotiation for each MTA connection: ribbon's Filter, with the
// actions and steps it asks for.
FilterFactory filter_factory();

}  // namespace ribbon::milter
