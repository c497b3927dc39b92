// daemon_commands.cpp — `ribbon milter`, `ribbon relay` and `ribbon check-config`: the
// command-line side of the daemons (the work is in src/milter).
#include <cstdio>

#include "cli/commands.hpp"
#include "milter/milter_daemon.hpp"
#include "relay/relay_daemon.hpp"
#include "ribbon/client_rules.hpp"
#include "ribbon/config.hpp"
#include "ribbon/signer_pool.hpp"

namespace ribbon::cli {

namespace {

struct DaemonArgs {
    std::string config;
    bool quiet = false;
};

std::filesystem::path config_path(const DaemonArgs& args) {
    return args.config.empty() ? Config::default_path() : std::filesystem::path(args.config);
}

}  // namespace

void register_daemons(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<DaemonArgs>();

    using Run = Result<void> (*)(const std::filesystem::path&);
    static constexpr struct {
        const char* name;
        const char* help;
        Run run;
    } kDaemons[] = {
        {"milter", "Sign outgoing mail inside Postfix or Sendmail (runs in the foreground)", milter::run},
        {"relay", "Sign outgoing mail as an SMTP proxy in front of a smarthost (runs in the foreground)", relay::run},
    };
    for (const auto& d : kDaemons) {
        CLI::App* cmd = app.add_subcommand(d.name, d.help);
        cmd->add_option("-c,--config", args->config,
                        "Configuration file (default $RIBBON_CONFIG or /etc/ribbon/ribbon.toml)");
        cmd->callback([args, &exit_code, &d] {
            auto path = config_path(*args);
            if (auto r = d.run(path); !r) {
                report_error(d.name, path.string(), r.error());
                exit_code = exit_code_for(r.error());
            }
        });
    }

    CLI::App* check = app.add_subcommand(
        "check-config", "Validate the configuration, load its Digital IDs and print the settings in effect");
    check->add_option("-c,--config", args->config,
                      "Configuration file (default $RIBBON_CONFIG or /etc/ribbon/ribbon.toml)");
    check->add_flag("-q,--quiet", args->quiet, "Print nothing when the configuration is good");
    check->callback([args, &exit_code] {
        auto path = config_path(*args);
        auto config = Config::load(path);
        if (!config) {
            report_error("check-config", "", config.error());
            exit_code = exit_code_for(config.error());
            return;
        }
        auto pool = SignerPool::create(config->keystore_settings(), config->signers, std::chrono::system_clock::now());
        if (!pool) {
            report_error("check-config", path.string(), pool.error());
            exit_code = exit_code_for(pool.error());
            return;
        }
        // The operator's client rules files, as the milter will read them.
        if (auto rules = ClientRules::load(config->learn.rules); !rules) {
            report_error("check-config", path.string(), rules.error());
            exit_code = exit_code_for(rules.error());
            return;
        }
        for (const auto& w : (*pool)->warnings()) std::fprintf(stderr, "ribbon check-config: warning: %s\n", w.c_str());
        if (!args->quiet) std::fputs(("# " + path.string() + "\n" + config->to_toml()).c_str(), stdout);
    });
}

}  // namespace ribbon::cli
