// milter.hpp — the libmilter side of `ribbon milter`: the per-message
// callbacks (milter.cpp) and the state they share with the daemon
// (milter_daemon.cpp). Front end: all signing is the core's.
#pragma once

#include <libmilter/mfapi.h>
#include <spdlog/logger.h>

#include <memory>

#include "daemon/learn_queue.hpp"
#include "ribbon/config.hpp"
#include "ribbon/recipient_policy.hpp"
#include "ribbon/signer_pool.hpp"

namespace ribbon::milter {

// A configuration and its loaded Digital IDs. Each message takes the one in
// effect when it starts and keeps it, so a reload never changes the rules
// under a message in flight.
struct Runtime {
    Config config;
    std::shared_ptr<SignerPool> pool;
    // Who of the recipients gets signed mail ([store], [[signer]] recipients).
    std::shared_ptr<RecipientPolicy> policy;
    // Inbound mail to learn from ([milter] role "inbound" or "both"), else null.
    std::shared_ptr<daemon::LearnQueue> learning;
};

void set_runtime(std::shared_ptr<const Runtime> runtime);
std::shared_ptr<const Runtime> current_runtime();

void set_logger(std::shared_ptr<spdlog::logger> logger);
spdlog::logger& log();
std::shared_ptr<spdlog::logger> logger();

// The filter description for smfi_register: name, flags and callbacks.
smfiDesc& filter_description();

}  // namespace ribbon::milter
