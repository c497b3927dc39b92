// runtime.hpp — what both daemons (milter, relay) hold of one configuration:
// the file as read, the Digital IDs it names, the recipient policy over its
// [store], and the milter's learning queue. One loader fills it, for start-
// up and for SIGHUP alike; the relay adds its transport (relay/server.hpp).
//
// Each message takes the Runtime in effect when it starts and keeps it, so
// a reload never changes the rules under a message in flight; a reload
// replaces the whole Runtime only once the new one has loaded completely.
#pragma once

#include <spdlog/logger.h>

#include <filesystem>
#include <memory>

#include "daemon/daemon.hpp"
#include "daemon/learn_queue.hpp"
#include "daemon/telemetry.hpp"
#include "inbound/assessment.hpp"
#include "ribbon/config.hpp"
#include "ribbon/recipient_policy.hpp"
#include "ribbon/signer_pool.hpp"
#include "submit/submit.hpp"

namespace ribbon::daemon {

struct Runtime {
    Config config;
    std::shared_ptr<SignerPool> pool;
    // Who of the recipients gets signed mail ([store], [[signer]] recipients).
    std::shared_ptr<RecipientPolicy> policy;
    // Inbound mail to learn from ([milter] role "inbound" or "both"), else null.
    std::shared_ptr<LearnQueue> learning;
    // Inbound mail to verify and stamp ([inbound] verify with [milter] role
    // "inbound" or "both"), else null.
    std::shared_ptr<const inbound::Assessor> inbound;
    // The daemon's metrics: one for its whole life, shared by every Runtime.
    std::shared_ptr<Telemetry> telemetry;

    // What the submission core reads (valid while this Runtime lives).
    submit::Snapshot snapshot() const { return {config, pool.get(), *policy}; }
};

// Reads `path` into `rt`: the configuration (checked whole), every fixed
// Digital ID (one that cannot sign now is an error), and the recipient
// policy, not yet connected (see connect_store), reporting its store calls
// to `telemetry`.
Result<void> load_runtime(const std::filesystem::path& path, Runtime& rt, std::shared_ptr<Telemetry> telemetry);

// SIGHUP's check of a freshly loaded runtime: it loaded, and its store
// opens (connect_store). Otherwise logs why, "keeping the previous
// configuration", and returns null.
template <class R>
std::shared_ptr<const R> checked_for_reload(Result<std::shared_ptr<const R>> next, spdlog::logger& log) {
    if (!next) {
        log.error("reload: {}; keeping the previous configuration", next.error().message());
        return nullptr;
    }
    if (auto r = connect_store(*(*next)->policy, log); !r) {
        log.error("reload: {}; keeping the previous configuration", r.error().message());
        return nullptr;
    }
    return std::move(*next);
}

}  // namespace ribbon::daemon
