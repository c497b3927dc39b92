// keys_requests_command.cpp — `ribbon keys generate | install | renew`:
// the CA request life cycle (docs/KEYSTORE.md). Front end only: the work
// is in ribbon/key_requests.hpp; this file prints paths and picks exit
// codes (exit_code_for).
#include <chrono>
#include <cstdio>
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
};

KeyRequestOptions options_of(const RequestArgs& args) {
    KeyRequestOptions o;
    o.type = *parse_new_key_type(args.type);  // CLI::IsMember checked it
    o.organisation = args.org;
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
}

}  // namespace

void register_keys_requests(CLI::App& keys, KeystoreArg keystore, int& exit_code) {
    auto args = std::make_shared<RequestArgs>();

    CLI::App* generate = keys.add_subcommand(
        "generate", "A new key and a certificate request (CSR) for ADDRESS; prints the CSR's path");
    add_key_options(generate, args);
    generate->callback([args, keystore, &exit_code] {
        Keystore store(keystore_for(keystore));
        exit_code = print_csr("keys generate", *args,
                              generate_key_request(store, args->address, options_of(*args)));
    });

    CLI::App* install = keys.add_subcommand(
        "install", "File a CA-issued certificate next to its key; prints its path");
    install->add_option("cert", args->cert, "The certificate (PEM)")->required();
    install->add_option("--chain", args->chain, "Its intermediate certificates (PEM)");
    install->callback([args, keystore, &exit_code] {
        Keystore store(keystore_for(keystore));
        std::optional<std::filesystem::path> chain;
        if (!args->chain.empty()) chain = args->chain;
        auto filed = install_certificate(store, args->cert, chain);
        if (!filed) {
            report_error("keys install", "", filed.error());
            exit_code = exit_code_for(filed.error());
            return;
        }
        std::printf("%s\n", filed->c_str());
        exit_code = kOk;
    });

    CLI::App* renew = keys.add_subcommand(
        "renew", "The yearly renewal: a new key and CSR while the current certificate is valid");
    add_key_options(renew, args);
    renew->callback([args, keystore, &exit_code] {
        Keystore store(keystore_for(keystore));
        exit_code = print_csr("keys renew", *args,
                              renew_key_request(store, args->address,
                                                std::chrono::system_clock::now(),
                                                options_of(*args)));
    });
}

}  // namespace ribbon::cli
