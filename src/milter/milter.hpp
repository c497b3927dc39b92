// milter.hpp — the libmilter side of `ribbon milter`: the per-message
// callbacks (milter.cpp) and the state they share with the daemon
// (milter_daemon.cpp). Front end: all signing is the core's.
#pragma once

#include <libmilter/mfapi.h>
#include <spdlog/logger.h>

#include <memory>

#include "daemon/runtime.hpp"

namespace ribbon::milter {

// The configuration in effect (daemon/runtime.hpp), with the learning
// queue when [milter] role learns.
using Runtime = daemon::Runtime;

void set_runtime(std::shared_ptr<const Runtime> runtime);
std::shared_ptr<const Runtime> current_runtime();

void set_logger(std::shared_ptr<spdlog::logger> logger);
spdlog::logger& log();
std::shared_ptr<spdlog::logger> logger();

// The filter description for smfi_register: name, flags and callbacks.
smfiDesc& filter_description();

}  // namespace ribbon::milter
