// store_config.cpp — see store_config.hpp.
#include "cli/store_config.hpp"

#include <cstdio>

namespace ribbon::cli {

void add_store_options(CLI::App& cmd, StoreArgs& args) {
    cmd.add_option("-c,--config", args.config,
                   "Configuration file (default $RIBBON_CONFIG or /etc/ribbon/ribbon.toml, if it exists)");
    cmd.add_option("--store", args.url, "Store URL (sqlite:///path or postgresql://...), instead of [store] url");
}

std::optional<StoreSetup> open_store_and_config(const StoreArgs& args, const char* command, int& exit_code,
                                                StoreAccess access) {
    StoreSetup setup;
    const std::filesystem::path path = args.config.empty() ? Config::default_path() : std::filesystem::path(args.config);
    std::error_code ec;
    if (!args.config.empty() || std::filesystem::exists(path, ec)) {
        auto config = Config::load(path);
        if (!config) {
            report_error(command, "", config.error());
            exit_code = kConfig;
            return std::nullopt;
        }
        setup.config = std::move(*config);
    }
    const std::string url = args.url.empty() ? setup.config.store.url : args.url;
    if (url.empty()) {
        std::fprintf(stderr, "ribbon %s: no store: [store] url is empty and --store is not given [bad_config]\n",
                     command);
        exit_code = kConfig;
        return std::nullopt;
    }
    auto store = RecipientStore::open(url, access);
    if (!store) {
        report_error(command, "", store.error());
        exit_code = exit_code_for(store.error());
        return std::nullopt;
    }
    setup.store = std::move(*store);
    return setup;
}

}  // namespace ribbon::cli
