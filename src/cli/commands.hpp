// commands.hpp — the `ribbon` subcommands. Each command file registers its
// CLI11 subcommand and returns the process exit code through `exit_code`;
// main() only dispatches. Front end: translates arguments, files and errors;
// all work is done by libribbon.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ribbon/error.hpp"

namespace ribbon::cli {

// sysexits(3) codes of the commands. A message `ribbon sendmail` cannot
// sign gets its exit code from the submission core's table instead
// (src/submit/failure.hpp), which uses the same 65 and 75.
enum Exit : int {
    kOk = 0,
    kUsage = 64,      // EX_USAGE
    kDataErr = 65,    // EX_DATAERR: this message is refused
    kNoInput = 66,    // EX_NOINPUT
    kSoftware = 70,   // EX_SOFTWARE: internal error
    kCantCreat = 73,  // EX_CANTCREAT
    kTempFail = 75,   // EX_TEMPFAIL
    kConfig = 78,     // EX_CONFIG: the Digital ID cannot be used
};

// The exit code of a one-shot command (sign, verify, keys, learn, …) for
// an error, and of `ribbon sendmail` for errors outside signing (reading
// the message, running the system's sendmail).
int exit_code_for(const Error& error);

// "ribbon sign: <input>: <message> [<code>]" on stderr.
void report_error(std::string_view command, std::string_view input, const Error& error);

// --max-message-size BYTES, as every command that reads messages takes it
// (ribbon/io.hpp); `help` says what a larger message gets and the default.
template <class T>
CLI::Option* add_max_message_size(CLI::App* cmd, T& target, const std::string& help) {
    return cmd->add_option("--max-message-size", target, help)
        ->type_name("BYTES")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
}

void register_sign(CLI::App& app, int& exit_code);
void register_verify(CLI::App& app, int& exit_code);
// decrypt (decrypt_command.cpp)
void register_decrypt(CLI::App& app, int& exit_code);
// doctor (doctor_command.cpp)
void register_doctor(CLI::App& app, int& exit_code);
void register_keys(CLI::App& app, int& exit_code);
// milter, check-config (daemon_commands.cpp)
void register_daemons(CLI::App& app, int& exit_code);
// sendmail (sendmail_command.cpp)
void register_sendmail(CLI::App& app, int& exit_code);
// learn (learn_command.cpp)
void register_learn(CLI::App& app, int& exit_code);
// recipients (recipients_command.cpp, recipients_export.cpp)
void register_recipients(CLI::App& app, int& exit_code);
// senders (senders_command.cpp)
void register_senders(CLI::App& app, int& exit_code);
// dashboard (dashboard_command.cpp, dashboard_api.cpp)
void register_dashboard(CLI::App& app, int& exit_code);

// A password or passphrase, wiped when it goes out of scope.
struct Secret {
    std::string bytes;
    Secret() = default;
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    ~Secret();
};
// The first line of `file` when one is given, else the environment
// variable `env` (left empty when unset); never a command-line argument.
// A file that cannot be read is Errc::io_error.
inline constexpr const char* kKeyPasswordEnv = "RIBBON_KEY_PASSWORD";
Result<void> read_secret(const std::string& file, const char* env, Secret& out);

// `ribbon keys` subcommands kept in files of their own receive the `keys`
// app and the --keystore value (read when their callback runs; empty means
// Keystore::default_dir(), see keystore_for()).
using KeystoreArg = std::shared_ptr<const std::string>;
std::filesystem::path keystore_for(const KeystoreArg& arg);
// After a certificate is filed: a warning on stderr when its chain does not
// lead to a trusted root (the system's, or `ca_files`), naming the link.
void warn_about_chain(std::string_view command, const std::filesystem::path& cert_file,
                      const std::vector<std::string>& ca_files);
// generate, install, renew (keys_requests_command.cpp)
void register_keys_requests(CLI::App& keys, KeystoreArg keystore, int& exit_code);
// import (keys_import_command.cpp)
void register_keys_import(CLI::App& keys, KeystoreArg keystore, int& exit_code);

}  // namespace ribbon::cli
