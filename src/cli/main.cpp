// main.cpp — the `ribbon` command: dispatches to the subcommands.
#include <cstdio>

#include "cli/commands.hpp"
#include "milter/milter_daemon.hpp"
#include "ribbon/versions.hpp"
#include "ribbon_version.hpp"

namespace {

// `ribbon --version`: ribbon's own version (CMake's project VERSION), then
// the libraries it runs with as loaded now, which a security update may
// have changed since the build (ribbon/versions.hpp), and the milter
// protocol version `ribbon milter` speaks (its own engine, no libmilter).
std::string version_text() {
    return std::string("ribbon ") + RIBBON_VERSION_STRING + "\n" + ribbon::openssl_runtime_version() +
           "\nGMime " + ribbon::gmime_runtime_version() + "\nmilter protocol " + ribbon::milter::protocol_version();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"ribbon — S/MIME signing for the automated mail organisations send"};
    app.set_version_flag("--version", version_text);
    app.require_subcommand(1);
    int exit_code = 0;
    ribbon::cli::register_sign(app, exit_code);
    ribbon::cli::register_verify(app, exit_code);
    ribbon::cli::register_decrypt(app, exit_code);
    ribbon::cli::register_doctor(app, exit_code);
    ribbon::cli::register_keys(app, exit_code);
    ribbon::cli::register_daemons(app, exit_code);
    ribbon::cli::register_sendmail(app, exit_code);
    ribbon::cli::register_learn(app, exit_code);
    ribbon::cli::register_recipients(app, exit_code);
    ribbon::cli::register_senders(app, exit_code);
    ribbon::cli::register_dashboard(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : ribbon::cli::kUsage;
    }
    return exit_code;
}
