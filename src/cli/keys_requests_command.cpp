// keys_requests_command.cpp — `ribbon keys generate | install | renew`:
// the CA request life cycle (docs/KEYSTORE.md). Front end only: the work
// is in ribbon/key_requests.hpp; this file prints paths and picks exit
// codes (exit_code_for).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "ribbon/key_requests.hpp"

namespace ribbon::cli {

namespace {

struct RequestArgs {
    std::string address;
    std::string type = "rsa3072";
    std::string org;
    std::string cert;
    std::string chain;
    std::string pkcs11;
    std::string pin_file;
    std::string password_file;
    std::vector<std::string> ca_files;
};

KeyRequestOptions options_of(const RequestArgs& args) {
    KeyRequestOptions o;
    o.type = *parse_new_key_type(args.type);  // CLI::IsMember checked it
    o.organisation = args.org;
    o.pkcs11_uri = args.pkcs11;
    return o;
}

// The token PIN from --pin-file: its first line. The PIN is never an
// argument, where every user's `ps` would show it.
Result<KeyRequestOptions> options_with_pin(const RequestArgs& args) {
    KeyRequestOptions o = options_of(args);
    if (args.pin_file.empty()) return o;
    std::ifstream in(args.pin_file, std::ios::binary);
    std::string line;
    if (!in || !std::getline(in, line)) {
        return permanent_error(Errc::io_error, "cannot read the PIN file " + args.pin_file);
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    o.pin = std::move(line);
    return o;
}

int print_csr(const char* command, const RequestArgs& args, const Result<KeyRequest>& r) {
    if (!r) {
        report_error(command, args.address, r.error());
        return exit_code_for(r.error());
    }
    std::printf("%s\n", r->csr_file.c_str());
    return kOk;
}

void add_key_options(CLI::App* cmd, const std::shared_ptr<RequestArgs>& args) {
    cmd->add_option("address", args->address, "Sending address, e.g. no-reply@bank.example")
        ->required();
    cmd->add_option("--type", args->type, "Key type (default rsa3072)")
        ->check(CLI::IsMember({"rsa2048", "rsa3072", "ec-p256"}));
    cmd->add_option("--org", args->org, "Organisation name for the subject (O=)");
    cmd->add_option("--pkcs11", args->pkcs11,
                    "Generate the key in a PKCS#11 token: an RFC 7512 URI, e.g. "
                    "\"pkcs11:token=hsm;object=no-reply\" (module: $RIBBON_PKCS11_MODULE)");
    cmd->add_option("--pin-file", args->pin_file,
                    "File whose first line is the token's user PIN (else $RIBBON_PKCS11_PIN)");
}

int request(const char* command, const RequestArgs& args, KeystoreArg keystore, bool renew) {
    Keystore store(keystore_for(keystore));
    auto options = options_with_pin(args);
    if (!options) {
        report_error(command, args.address, options.error());
        return exit_code_for(options.error());
    }
    return print_csr(command, args,
                     renew ? renew_key_request(store, args.address,
                                               std::chrono::system_clock::now(), *options)
                           : generate_key_request(store, args.address, *options));
}

}  // namespace

void register_keys_requests(CLI::App& keys, KeystoreArg keystore, int& exit_code) {
    auto args = std::make_shared<RequestArgs>();

    CLI::App* generate = keys.add_subcommand(
        "generate", "A new key and a certificate request (CSR) for ADDRESS; prints the CSR's path");
    add_key_options(generate, args);
    generate->callback([args, keystore, &exit_code] {
        exit_code = request("keys generate", *args, keystore, false);
    });

    CLI::App* install = keys.add_subcommand(
        "install", "File a CA-issued certificate next to its key; prints its path");
    install->add_option("cert", args->cert, "The certificate (PEM)")->required();
    install->add_option("--chain", args->chain, "Its intermediate certificates (PEM)");
    install->add_option("--ca", args->ca_files,
                        "Roots to check the chain against (default: the system's); repeatable");
    install->add_option("--password-file", args->password_file,
                        "File whose first line is the key's passphrase, for an encrypted key "
                        "whose public key is not on record (or set RIBBON_KEY_PASSWORD)");
    install->callback([args, keystore, &exit_code] {
        Keystore store(keystore_for(keystore));
        std::optional<std::filesystem::path> chain;
        if (!args->chain.empty()) chain = args->chain;
        Secret password;
        if (auto r = read_secret(args->password_file, kKeyPasswordEnv, password); !r) {
            report_error("keys install", "", r.error());
            exit_code = exit_code_for(r.error());
            return;
        }
        auto filed = install_certificate(store, args->cert, chain, password.bytes);
        if (!filed) {
            report_error("keys install", "", filed.error());
            exit_code = exit_code_for(filed.error());
            return;
        }
        std::printf("%s\n", filed->c_str());
        warn_about_chain("keys install", *filed, args->ca_files);
        exit_code = kOk;
    });

    CLI::App* renew = keys.add_subcommand(
        "renew", "The yearly renewal: a new key and CSR while the current certificate is valid");
    add_key_options(renew, args);
    renew->callback([args, keystore, &exit_code] {
        exit_code = request("keys renew", *args, keystore, true);
    });
}

}  // namespace ribbon::cli
