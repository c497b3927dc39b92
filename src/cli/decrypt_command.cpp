// decrypt_command.cpp — `ribbon decrypt`: opens one message sealed to the
// organisation (ribbon/decrypt.hpp) and, when the opened message is
// signed, verifies it.
//
//   ribbon decrypt [--keystore DIR | --key K --cert C ...] [--password-file F]
//                  [--ca FILE]... [--at TIME] [--accept-sha1] [-o OUT] [--json] [IN]
//
// The opened message goes to OUT (written whole under a temporary name and
// renamed, only once it is opened: never partial output) or to stdout; the
// report goes to stdout with -o, else to stderr. Exit codes, in the manner
// of `ribbon verify`:
//   0 opened (not signed inside, or signed and valid)
//   1 opened, but the signature inside is not valid
//   2 not sealed          3 unreadable (I/O, too large, not a message)
//   4 not for us          5 damaged (also a wrong key: one code, see decrypt.hpp)
//   6 unsupported algorithm (named)
//   7 no usable key (keystore, key file, password, token)
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/json_out.hpp"
#include "cli/time_arg.hpp"
#include "ribbon/decrypt.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::cli {

namespace {

enum DecryptExit : int {
    kOpened = 0,
    kInnerInvalid = 1,
    kNotSealed = 2,
    kUnreadable = 3,
    kNotForUs = 4,
    kDamaged = 5,
    kUnsupported = 6,
    kNoKey = 7,
};

struct DecryptArgs {
    std::string keystore;
    std::vector<std::string> keys;
    std::vector<std::string> certs;
    std::string password_file;
    std::vector<std::string> ca_files;
    std::string at;
    bool accept_sha1 = false;
    std::string output;
    bool json = false;
    std::string input = "-";
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
};

int exit_for(const Error& e) {
    switch (e.code()) {
        case Errc::not_sealed: return kNotSealed;
        case Errc::not_for_us: return kNotForUs;
        case Errc::damaged: return kDamaged;
        case Errc::unsupported_algorithm: return kUnsupported;
        default: return kUnreadable;
    }
}

// Where the report goes: stdout when the message does not.
std::FILE* report_stream(const DecryptArgs& args) { return args.output.empty() ? stderr : stdout; }

int fail(const DecryptArgs& args, std::string_view input, const Error& error, int code) {
    if (args.json) {
        nlohmann::json j = {{"result", errc_name(error.code())},
                            {"error", {{"code", errc_name(error.code())},
                                       {"kind", error_kind_name(error.kind())},
                                       {"message", error.message()}}}};
        std::fprintf(report_stream(args), "%s\n", json_line(j).c_str());
    }
    report_error("decrypt", input, error);
    return code;
}

Result<DecryptionKeys> load_keys(const DecryptArgs& args) {
    Secret password;
    if (auto r = read_secret(args.password_file, kKeyPasswordEnv, password); !r) return std::move(r).error();
    if (args.keys.empty()) {
        const Keystore store(args.keystore.empty() ? Keystore::default_dir() : std::filesystem::path(args.keystore));
        auto found = decryption_keys(store, password.bytes);
        if (!found) return std::move(found).error();
        for (const auto& s : found->skipped) {
            std::fprintf(stderr, "ribbon decrypt: warning: skipped %s\n", terminal_safe(s).c_str());
        }
        return std::move(found->keys);
    }
    DecryptionKeys keys;
    for (std::size_t i = 0; i < args.keys.size(); ++i) {
        auto key = read_small_file(args.keys[i], "key file");
        if (!key) return std::move(key).error();
        auto cert = read_small_file(args.certs[i], "certificate file");
        if (!cert) return std::move(cert).error();
        if (auto r = keys.add_pem(*key, *cert, password.bytes); !r) {
            return Error(r.error().code(), r.error().kind(), args.keys[i] + ": " + r.error().message());
        }
    }
    return keys;
}

nlohmann::json inner_json(const OpenedAndVerified& o) {
    if (o.inner_error) {
        return {{"verdict", "unreadable"}, {"reason", errc_name(o.inner_error->code())},
                {"detail", o.inner_error->message()}};
    }
    if (!o.inner) return nullptr;
    const VerifyResult& r = *o.inner;
    nlohmann::json j = {{"verdict", r.verdict == Verdict::valid ? "valid" : r.verdict == Verdict::invalid ? "invalid" : "not_signed"},
                        {"reason", verify_reason_name(r.reason)},
                        {"detail", r.detail}};
    j["signer"] = r.signer ? nlohmann::json(r.signer->certificate.addresses) : nlohmann::json(nullptr);
    return j;
}

void print_report(const DecryptArgs& args, const OpenedAndVerified& o) {
    const OpenedMessage& m = o.opened;
    std::FILE* out = report_stream(args);
    if (args.json) {
        nlohmann::json j = {{"result", "opened"},
                            {"sealed", {{"type", m.auth_enveloped ? "authEnveloped-data" : "enveloped-data"},
                                        {"content_encryption", m.content_encryption},
                                        {"key_management", m.key_management},
                                        {"recipient", m.recipient}}},
                            {"bare_cms", m.bare_cms},
                            {"header_protection", m.header_protection},
                            {"legacy_display_removed", m.legacy_display_removed},
                            {"inner", inner_json(o)}};
        std::fprintf(out, "%s\n", json_line(j).c_str());
        return;
    }
    std::fprintf(out, "layer 1: %s, %s, %s: opened with %s\n", m.auth_enveloped ? "authEnveloped-data" : "enveloped-data",
                 m.content_encryption.c_str(), m.key_management.c_str(), terminal_safe(m.recipient).c_str());
    if (m.header_protection) {
        std::fprintf(out, "header protection: restored%s\n", m.legacy_display_removed ? " (legacy display part removed)" : "");
    }
    if (o.inner_error) {
        std::fprintf(out, "layer 2: signed, unreadable: %s\n", terminal_safe(o.inner_error->message()).c_str());
    } else if (o.inner) {
        const VerifyResult& r = *o.inner;
        std::string line = "layer 2: signed: ";
        line += r.verdict == Verdict::valid ? "valid" : "invalid (" + std::string(verify_reason_name(r.reason)) + ")";
        if (r.signer && !r.signer->certificate.addresses.empty()) {
            line += ", signed by " + terminal_safe(r.signer->certificate.addresses.front());
        }
        std::fprintf(out, "%s\n", line.c_str());
        if (!r.detail.empty()) std::fprintf(out, "detail: %s\n", terminal_safe(r.detail).c_str());
    } else {
        std::fprintf(out, "layer 2: not signed\n");
    }
}

Result<void> write_output(const DecryptArgs& args, std::string_view message) {
    if (args.output.empty()) {
        FdSink sink(STDOUT_FILENO);
        return sink.write(message);
    }
    auto sink = AtomicFileSink::create(args.output);
    if (!sink) return std::move(sink).error();
    if (auto r = sink->write(message); !r) return r;
    return sink->commit();
}

int run_decrypt(const DecryptArgs& args) {
    const bool from_stdin = args.input.empty() || args.input == "-";
    const std::string input_name = from_stdin ? "<stdin>" : args.input;
    if (args.keys.size() != args.certs.size()) {
        std::fprintf(stderr, "ribbon decrypt: give one --cert for each --key\n");
        return kUsage;
    }
    VerifyOptions options;
    options.accept_sha1 = args.accept_sha1;
    if (!args.at.empty() && !(options.at = parse_time(args.at))) {
        std::fprintf(stderr, "ribbon decrypt: --at %s: not a time (use 2024-05-01T12:00:00Z or @UNIX-SECONDS)\n",
                     args.at.c_str());
        return kUsage;
    }
    auto keys = load_keys(args);
    if (!keys) return fail(args, "", keys.error(), kNoKey);
    std::vector<std::filesystem::path> ca_paths(args.ca_files.begin(), args.ca_files.end());
    auto trust = ca_paths.empty() ? TrustStore::system() : TrustStore::from_files(ca_paths);
    if (!trust) return fail(args, "", trust.error(), kUnreadable);
    const Verifier verifier(std::move(*trust));
    const MessageInput in =
        (from_stdin ? MessageInput::from_fd(STDIN_FILENO) : MessageInput::from_file(args.input))
            .with_max_size(args.max_message_size);
    auto opened = open_and_verify(in, *keys, verifier, options);
    if (!opened) return fail(args, input_name, opened.error(), exit_for(opened.error()));
    if (auto r = write_output(args, opened->opened.message); !r) {
        return fail(args, args.output.empty() ? "<stdout>" : args.output, r.error(), kUnreadable);
    }
    print_report(args, *opened);
    std::fflush(stdout);
    const bool invalid = opened->inner_error || (opened->inner && opened->inner->verdict != Verdict::valid);
    return invalid ? kInnerInvalid : kOpened;
}

}  // namespace

void register_decrypt(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<DecryptArgs>();
    CLI::App* cmd = app.add_subcommand(
        "decrypt",
        "Open a message sealed to the organisation (S/MIME enveloped-data). Exit 0 opened, 1 opened "
        "but the signature inside is not valid, 2 not sealed, 3 unreadable, 4 not for us, 5 damaged, "
        "6 unsupported algorithm, 7 no usable key");
    auto* keystore = cmd->add_option("--keystore", args->keystore,
                                     "Try every certificate of this keystore, current and old (default "
                                     "$RIBBON_KEYSTORE or /var/lib/ribbon/ids)")
                         ->type_name("DIR");
    auto* key = cmd->add_option("--key", args->keys, "A private key (PEM; repeatable, each with a --cert)")
                    ->type_name("K")
                    ->allow_extra_args(false);
    cmd->add_option("--cert", args->certs, "The certificate of the --key before it (PEM)")
        ->type_name("C")
        ->allow_extra_args(false);
    keystore->excludes(key);
    cmd->add_option("--password-file", args->password_file,
                    "The keys' passphrase, first line of FILE (else $RIBBON_KEY_PASSWORD)")
        ->type_name("FILE");
    cmd->add_option("--ca", args->ca_files,
                    "For a signature inside: trust only the certificates in FILE (repeatable; default "
                    "the system roots)")
        ->type_name("FILE")
        ->allow_extra_args(false);
    cmd->add_option("--at", args->at, "For a signature inside: verify as of TIME")->type_name("TIME");
    cmd->add_flag("--accept-sha1", args->accept_sha1,
                  "For a signature inside: judge SHA-1 signatures instead of refusing them");
    cmd->add_option("-o,--output", args->output,
                    "Write the opened message to OUT, only when it opened (default stdout)")
        ->type_name("OUT");
    cmd->add_flag("--json", args->json, "Print the report as one JSON object");
    add_max_message_size(cmd, args->max_message_size,
                         "Do not read a message larger than BYTES: exit 3, limit_exceeded (default 268435456)");
    cmd->add_option("input", args->input, "The sealed message (default: stdin)")->type_name("IN");
    cmd->callback([args, &exit_code] { exit_code = run_decrypt(*args); });
}

}  // namespace ribbon::cli
