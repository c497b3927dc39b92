// store_config.hpp — what `ribbon learn` and `ribbon recipients` share: the
// configuration file (optional: without one the defaults apply) and the
// store it names, which --store overrides.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "ribbon/config.hpp"
#include "ribbon/recipients.hpp"

namespace ribbon::cli {

struct StoreArgs {
    std::string config;  // -c; empty: $RIBBON_CONFIG or /etc/ribbon/ribbon.toml if it exists
    std::string url;     // --store; empty: [store] url
};

void add_store_options(CLI::App& cmd, StoreArgs& args);

struct StoreSetup {
    Config config;
    std::unique_ptr<RecipientStore> store;
};

// The configuration and the open store, or nullopt with the error reported
// on stderr and `exit_code` set (78 for a bad file or URL, 75 when the
// store cannot be reached, 65 for a corrupt store). Commands that only read
// pass StoreAccess::read_only (RecipientStore::open).
std::optional<StoreSetup> open_store_and_config(const StoreArgs& args, const char* command, int& exit_code,
                                                StoreAccess access = StoreAccess::read_write);

}  // namespace ribbon::cli
