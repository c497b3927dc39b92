// verify_command.cpp — `ribbon verify`: checks one S/MIME signed message.
//
//   ribbon verify [--ca FILE]... [--at TIME] [--accept-sha1] [--require-whole]
//                 [-c CONFIG] [--store URL] [--no-record] [--json] [IN]
//
// Reads IN (default stdin), prints the verdict, why, any warnings (a weak
// signer key), every signature layer and what the signatures cover, and
// exits
//   0 valid and trusted (warnings or not), 1 signed but not valid (also a
//   weak algorithm or key, docs/VERIFY.md), 2 not signed,
//   3 could not be read or parsed (also a broken signature object).
// Without --ca the system roots (/etc/ssl/certs) are trusted.
// With a store (--store, or [store] of the configuration file in use) a
// valid signature is also judged for key continuity and lookalike senders,
// and recorded unless --no-record (docs/RECEIVING.md); a store that cannot
// be reached is a warning, never a different verdict.
// Front end only: the checking is the inbound layer's Assessor, the same
// the milter stamps inbound mail with.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/json_out.hpp"
#include "cli/time_arg.hpp"
#include "cli/store_config.hpp"
#include "inbound/assessment.hpp"
#include "inbound/sender_memory.hpp"
#include "ribbon/mail_text.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon::cli {

namespace {

enum VerifyExit : int { kValid = 0, kInvalid = 1, kNotSigned = 2, kUnreadable = 3 };

struct VerifyArgs {
    std::vector<std::string> ca_files;
    std::string at;
    bool json = false;
    bool accept_sha1 = false;
    bool require_whole = false;
    std::string input = "-";
    StoreArgs store;
    bool no_record = false;
    // A larger message is not read: exit 3 with limit_exceeded.
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
};

std::string_view verdict_name(Verdict v) {
    switch (v) {
        case Verdict::valid:
            return "valid";
        case Verdict::invalid:
            return "invalid";
        case Verdict::not_signed:
            return "not_signed";
    }
    return "unknown";
}

int exit_for(Verdict v) {
    switch (v) {
        case Verdict::valid:
            return kValid;
        case Verdict::invalid:
            return kInvalid;
        case Verdict::not_signed:
            return kNotSigned;
    }
    return kUnreadable;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += sep;
        out += item;
    }
    return out;
}

// JSON carries each address twice: as compared ("addresses": the
// certificate's own spelling; "from_addresses": the domain in A-labels) and
// as ribbon shows it to people ("..._display", display_address()).
std::vector<std::string> displayed(const std::vector<std::string>& addresses) {
    std::vector<std::string> out;
    for (const auto& a : addresses) out.push_back(display_address(a));
    return out;
}

nlohmann::json signer_json(const std::optional<SignerDetails>& signer) {
    if (!signer) return nullptr;
    const CertificateInfo& c = signer->certificate;
    return {
        {"subject", c.subject},
        {"issuer", c.issuer},
        {"serial", c.serial_hex},
        {"not_before", format_utc(c.not_before)},
        {"not_after", format_utc(c.not_after)},
        {"addresses", c.addresses},
        {"addresses_display", displayed(c.addresses)},
        {"key", c.key_description},
        {"signing_time", signer->signing_time ? nlohmann::json(format_utc(*signer->signing_time))
                                              : nlohmann::json(nullptr)},
        {"chain", signer->chain},
        {"digest_algorithm", signer->digest_algorithm},
        {"signature_algorithm", signer->signature_algorithm},
        {"spki_sha256", signer->spki_sha256},
        {"certificate_sha256", signer->certificate_sha256},
    };
}

nlohmann::json warnings_json(const std::vector<VerifyWarning>& warnings) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& w : warnings) {
        out.push_back({{"code", verify_reason_name(w.code)}, {"detail", w.detail}});
    }
    return out;
}

nlohmann::json layers_json(const std::vector<SignatureLayer>& layers) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : layers) {
        out.push_back({{"kind", layer_kind_name(l.kind)},
                       {"part", l.part},
                       {"verdict", verdict_name(l.verdict)},
                       {"reason", verify_reason_name(l.reason)},
                       {"detail", l.detail},
                       {"opaque", l.opaque},
                       {"signer", signer_json(l.signer)},
                       {"from_in_certificate", l.from_in_certificate},
                       {"warnings", warnings_json(l.warnings)}});
    }
    return out;
}

nlohmann::json coverage_json(const Coverage& c) {
    nlohmann::json unsigned_parts = nlohmann::json::array();
    for (const auto& u : c.unsigned_parts) {
        unsigned_parts.push_back(
            {{"part", u.part}, {"content_type", u.content_type}, {"size", u.size}});
    }
    return {{"whole", c.whole},
            {"signed_parts", c.signed_parts},
            {"unsigned_parts", std::move(unsigned_parts)},
            {"description", c.description}};
}

nlohmann::json to_json(const VerifyResult& r) {
    nlohmann::json j;
    j["verdict"] = verdict_name(r.verdict);
    j["reason"] = verify_reason_name(r.reason);
    j["detail"] = r.detail;
    j["opaque"] = r.opaque;
    j["signer"] = signer_json(r.signer);
    j["from_addresses"] = r.from_addresses;
    j["from_addresses_display"] = displayed(r.from_addresses);
    j["from_in_certificate"] = r.from_in_certificate;
    j["header_protection"] = r.header_protection;
    j["protected_headers"] = nlohmann::json::array();
    for (const auto& h : r.protected_headers) {
        j["protected_headers"].push_back(
            {{"name", h.name}, {"outer", h.outer}, {"inner", h.inner}, {"matches", h.matches}});
    }
    j["warnings"] = warnings_json(r.warnings);
    j["layers"] = layers_json(r.layers);
    j["coverage"] = coverage_json(r.coverage);
    j["message_id"] = r.message_id;
    j["content_sha256"] = r.content_sha256;
    return j;
}

// Addresses as people should read them (display_address: a lookalike IDN
// in A-labels), joined and escaped for the terminal.
std::string shown_addresses(const std::vector<std::string>& addresses) {
    return terminal_safe(join(displayed(addresses), ", "));
}

// One line per layer, outermost first, then what the signatures cover:
//   layer 1: opaque, whole message: valid, signed by Dave@example.com
//   layer 2: multipart-signed, part 1: invalid (from_not_in_certificate), signed by ...
void print_layers(const VerifyResult& r) {
    if (r.layers.empty()) return;
    for (std::size_t i = 0; i < r.layers.size(); ++i) {
        const SignatureLayer& l = r.layers[i];
        std::string line = "layer " + std::to_string(i + 1) + ": " +
                           std::string(layer_kind_name(l.kind)) + ", " +
                           (l.part.empty() ? "whole message" : "part " + l.part) + ": ";
        if (l.kind == LayerKind::sealed) {
            line += "sealed, not opened";
        } else {
            line += std::string(verdict_name(l.verdict));
            if (l.verdict == Verdict::invalid) {
                line += " (" + std::string(verify_reason_name(l.reason)) + ")";
            }
            if (l.signer) {
                const auto& a = l.signer->certificate.addresses;
                line += ", signed by " + (a.empty() ? terminal_safe(l.signer->certificate.subject)
                                                    : shown_addresses(a));
            }
        }
        std::printf("%s\n", line.c_str());
    }
    if (r.verdict != Verdict::not_signed) {
        std::printf("coverage: %s\n", terminal_safe(r.coverage.description).c_str());
    }
}

// Every value below that came from the message or its certificates
// (detail quotes header names, subjects and addresses are the sender's) is
// escaped: a customer's header must not drive the operator's terminal.
void print_human(const VerifyResult& r) {
    std::printf("verdict: %s\n", std::string(verdict_name(r.verdict)).c_str());
    if (r.verdict == Verdict::invalid) {
        std::printf("reason: %s\n", std::string(verify_reason_name(r.reason)).c_str());
    }
    if (!r.detail.empty()) std::printf("detail: %s\n", terminal_safe(r.detail).c_str());
    for (const auto& w : r.warnings) {
        std::printf("warning: %s: %s\n", std::string(verify_reason_name(w.code)).c_str(),
                    terminal_safe(w.detail).c_str());
    }
    print_layers(r);
    if (r.verdict == Verdict::not_signed) return;
    std::printf("form: %s\n",
                r.opaque ? "opaque (application/pkcs7-mime)" : "detached (multipart/signed)");
    if (r.signer) {
        const CertificateInfo& c = r.signer->certificate;
        std::printf("signer: %s\n", terminal_safe(c.subject).c_str());
        std::printf("signer addresses: %s\n",
                    c.addresses.empty() ? "(none)" : shown_addresses(c.addresses).c_str());
        std::printf("issuer: %s\n", terminal_safe(c.issuer).c_str());
        std::printf("serial: %s\n", c.serial_hex.c_str());
        std::printf("valid: %s .. %s\n", format_utc(c.not_before).c_str(),
                    format_utc(c.not_after).c_str());
        std::printf("signing time: %s\n",
                    r.signer->signing_time ? format_utc(*r.signer->signing_time).c_str() : "(none)");
        std::printf("digest: %s\n", r.signer->digest_algorithm.c_str());
        std::printf("signature algorithm: %s\n", r.signer->signature_algorithm.c_str());
        std::printf("chain: %s\n", r.signer->chain.empty()
                                       ? "(not built)"
                                       : terminal_safe(join(r.signer->chain, " > ")).c_str());
    }
    std::printf("from: %s (%s)\n",
                r.from_addresses.empty() ? "(none)" : shown_addresses(r.from_addresses).c_str(),
                r.from_in_certificate ? "in certificate" : "NOT in certificate");
    if (!r.header_protection) {
        std::printf("protected headers: none\n");
        return;
    }
    for (const auto& h : r.protected_headers) {
        if (h.matches) {
            std::printf("protected %s: matches\n", h.name.c_str());
        } else {
            std::printf("protected %s: CHANGED (outer \"%s\", signed \"%s\")\n", h.name.c_str(),
                        terminal_safe(h.outer).c_str(), terminal_safe(h.inner).c_str());
        }
    }
}

int fail(const VerifyArgs& args, std::string_view input, const Error& error) {
    if (args.json) print_json_error(error);
    report_error("verify", input, error);
    return kUnreadable;
}

std::string day(UnixTime t) { return t == 0 ? std::string() : format_utc(time_from_unix(t)).substr(0, 10); }

nlohmann::json key_json(const KeyHistory& k) {
    return {{"spki_sha256", k.spki_sha256},
            {"messages", k.messages},
            {"first_seen", day(k.first_seen)},
            {"last_seen", day(k.last_seen)}};
}

// The continuity and lookalike members of the JSON report: null when no
// store was in use or the signature was not valid.
void add_memory_json(nlohmann::json& j, const inbound::Assessment& a) {
    j["continuity"] = nullptr;
    if (a.continuity) {
        const ContinuityReport& c = *a.continuity;
        j["continuity"] = {{"verdict", continuity_name(c.verdict)},
                           {"detail", c.detail},
                           {"recorded", c.recorded},
                           {"already_counted", c.already_counted},
                           {"key", key_json(c.key)},
                           {"previous", c.previous ? key_json(*c.previous) : nlohmann::json(nullptr)}};
    } else if (a.temperror) {
        j["continuity"] = {{"verdict", "unavailable"}, {"detail", a.temperror_reason}};
    }
    j["lookalike"] = nullptr;
    if (a.lookalike) {
        const LookalikeMatch& m = *a.lookalike;
        j["lookalike"] = {{"domain", m.domain},
                          {"resembles", m.resembles.domain},
                          {"kind", lookalike_kind_name(m.kind)},
                          {"own", m.resembles.own},
                          {"seen", m.resembles.seen},
                          {"detail", m.detail}};
    }
}

void print_memory(const inbound::Assessment& a) {
    if (a.continuity) {
        const ContinuityReport& c = *a.continuity;
        const char* note = c.already_counted ? " (this message was counted before)" : c.recorded ? "" : " (not recorded)";
        std::printf("continuity: %s: %s%s\n", std::string(continuity_name(c.verdict)).c_str(), c.detail.c_str(), note);
    } else if (a.temperror) {
        std::printf("continuity: unavailable: %s\n", terminal_safe(a.temperror_reason).c_str());
    }
    if (a.lookalike) std::printf("lookalike: %s\n", terminal_safe(a.lookalike->detail).c_str());
}

// Key continuity needs a store: --store, or the [store] of the
// configuration file in use. nullptr when there is none; nullopt (and
// exit_code set, the error on stderr) when the file is bad.
std::optional<std::shared_ptr<inbound::SenderMemory>> sender_memory(const VerifyArgs& args, int& exit_code) {
    const std::filesystem::path path =
        args.store.config.empty() ? Config::default_path() : std::filesystem::path(args.store.config);
    std::error_code ec;
    Config config;
    const bool have_config = !args.store.config.empty() || std::filesystem::exists(path, ec);
    if (have_config) {
        auto loaded = Config::load(path);
        if (!loaded) {
            report_error("verify", "", loaded.error());
            exit_code = kConfig;
            return std::nullopt;
        }
        config = std::move(*loaded);
    }
    if (args.store.url.empty() && !have_config) return std::shared_ptr<inbound::SenderMemory>();
    inbound::SenderMemorySettings settings;
    settings.store_url = args.store.url.empty() ? config.store.url : args.store.url;
    // [store] url = "" in the file is "no store", not a store that fails.
    if (settings.store_url.empty()) return std::shared_ptr<inbound::SenderMemory>();
    settings.own_domains = inbound::signer_domains(config.signers);
    settings.recording = args.no_record ? KeyRecording::read_only : KeyRecording::record;
    return std::make_shared<inbound::SenderMemory>(std::move(settings));
}

int run_verify(const VerifyArgs& args) {
    const bool from_stdin = args.input.empty() || args.input == "-";
    const std::string input_name = from_stdin ? "<stdin>" : args.input;
    VerifyOptions options;
    options.accept_sha1 = args.accept_sha1;
    options.require_whole = args.require_whole;
    if (!args.at.empty()) {
        options.at = parse_time(args.at);
        if (!options.at) {
            std::fprintf(stderr,
                         "ribbon verify: --at %s: not a time (use 2024-05-01T12:00:00Z or "
                         "@UNIX-SECONDS)\n",
                         args.at.c_str());
            return kUsage;
        }
    }
    std::vector<std::filesystem::path> ca_paths(args.ca_files.begin(), args.ca_files.end());
    auto trust = ca_paths.empty() ? TrustStore::system() : TrustStore::from_files(ca_paths);
    if (!trust) return fail(args, "", trust.error());
    int exit_code = 0;
    auto memory = sender_memory(args, exit_code);
    if (!memory) return exit_code;
    const inbound::Assessor assessor(Verifier(std::move(*trust)), options, std::move(*memory));
    const MessageInput in =
        (from_stdin ? MessageInput::from_fd(STDIN_FILENO) : MessageInput::from_file(args.input))
            .with_max_size(args.max_message_size);
    const inbound::Assessment a = assessor.assess(in);
    if (a.verify_error) return fail(args, input_name, *a.verify_error);
    if (!a.verified) return fail(args, input_name, Error(Errc::internal_error, ErrorKind::transient, a.temperror_reason));
    if (a.temperror && !args.json) {
        std::fprintf(stderr, "ribbon verify: warning: %s\n", terminal_safe(a.temperror_reason).c_str());
    }
    if (args.json) {
        nlohmann::json j = to_json(*a.verified);
        add_memory_json(j, a);
        std::printf("%s\n", json_line(j).c_str());
    } else {
        print_human(*a.verified);
        print_memory(a);
    }
    std::fflush(stdout);
    return exit_for(a.verified->verdict);
}

}  // namespace

void register_verify(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<VerifyArgs>();
    CLI::App* cmd = app.add_subcommand(
        "verify",
        "Verify an S/MIME signed message. Exit 0 valid, 1 not valid, 2 not signed, 3 unreadable");
    cmd->add_option("--ca", args->ca_files,
                    "Trust only the certificates in FILE (PEM or DER; repeatable). Default: the "
                    "system roots in /etc/ssl/certs")
        ->type_name("FILE")
        ->allow_extra_args(false);  // one FILE per --ca, so IN is never taken for a CA
    cmd->add_option("--at", args->at,
                    "Verify the certificates as of TIME (2024-05-01T12:00:00Z or @UNIX-SECONDS)")
        ->type_name("TIME");
    cmd->add_flag("--accept-sha1", args->accept_sha1,
                  "Judge SHA-1 signatures like others (with a warning) instead of refusing them "
                  "as weak_algorithm");
    cmd->add_flag("--require-whole", args->require_whole,
                  "A signature over part of the message only (a footer added after signing) is "
                  "not valid: exit 1, partial_coverage");
    add_store_options(*cmd, args->store);
    cmd->add_flag("--no-record", args->no_record,
                  "Judge key continuity from the store without recording this message");
    cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
    add_max_message_size(cmd, args->max_message_size,
                         "Do not read a message larger than BYTES: exit 3, limit_exceeded (default 268435456)");
    cmd->add_option("input", args->input, "The message (default: stdin)")->type_name("IN");
    cmd->callback([args, &exit_code] { exit_code = run_verify(*args); });
}

}  // namespace ribbon::cli
