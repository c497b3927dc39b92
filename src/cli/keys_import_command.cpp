// keys_import_command.cpp — `ribbon keys import FILE.p12`: files a Digital
// ID delivered as a PKCS#12 bundle (RFC 7292) in the keystore. Front end
// only: ribbon/pkcs12.hpp does the work.
//
// The bundle's password comes from --password-file (its first line) or the
// RIBBON_P12_PASSWORD environment variable, never from the command line,
// where every user on the machine can read it in the process list.
#include <cstdio>

#include "cli/commands.hpp"
#include "ribbon/pkcs12.hpp"

namespace ribbon::cli {

namespace {

struct ImportArgs {
    std::string file;
    std::string password_file;
    std::string address;
    std::vector<std::string> ca_files;
};

int run_import(const ImportArgs& args, const KeystoreArg& keystore) {
    Secret password;
    if (auto r = read_secret(args.password_file, "RIBBON_P12_PASSWORD", password); !r) {
        report_error("keys import", "", r.error());
        return exit_code_for(r.error());
    }
    Pkcs12ImportOptions options;
    options.password = password.bytes;
    options.address = args.address;
    auto imported = import_pkcs12(Keystore(keystore_for(keystore)), args.file, options);
    if (!imported) {
        // The library's messages name the file already.
        report_error("keys import", "", imported.error());
        return exit_code_for(imported.error());
    }
    const CertificateInfo& c = imported->certificate;
    std::printf("%s\n", imported->cert_file.c_str());
    std::fprintf(stderr,
                 "ribbon keys import: filed %s for %s (serial %s, %s, valid %s .. %s, %zu "
                 "intermediate%s)\n",
                 args.file.c_str(), imported->address.c_str(), c.serial_hex.c_str(),
                 c.key_description.c_str(), format_utc(c.not_before).c_str(),
                 format_utc(c.not_after).c_str(), imported->chain_certificates,
                 imported->chain_certificates == 1 ? "" : "s");
    warn_about_chain("keys import", imported->cert_file, args.ca_files);
    if (imported->legacy_algorithms) {
        std::fprintf(stderr,
                     "ribbon keys import: %s uses legacy encryption (RC2/3DES); OpenSSL's legacy "
                     "provider was loaded to read it\n",
                     args.file.c_str());
    }
    return kOk;
}

}  // namespace

void register_keys_import(CLI::App& keys, KeystoreArg keystore, int& exit_code) {
    auto args = std::make_shared<ImportArgs>();
    CLI::App* cmd = keys.add_subcommand(
        "import", "Import a Digital ID from a PKCS#12 bundle (.p12/.pfx: key, certificate, chain)");
    cmd->add_option("file", args->file, "The PKCS#12 bundle")->required();
    cmd->add_option("--password-file", args->password_file,
                    "File whose first line is the bundle's password (or set RIBBON_P12_PASSWORD)");
    cmd->add_option("--ca", args->ca_files,
                    "Roots to check the chain against (default: the system's); repeatable");
    cmd->add_option("--address", args->address,
                    "File it under this address (needed when the certificate names several)");
    cmd->callback([args, keystore, &exit_code] { exit_code = run_import(*args, keystore); });
}

}  // namespace ribbon::cli
