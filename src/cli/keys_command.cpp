// keys_command.cpp — `ribbon keys`: list and monitor the Digital IDs in a
// keystore, and run the dev CA. Front end only: the keystore library
// (ribbon/keystore.hpp) does the work; this file prints and picks exit codes.
//
// `keys check` follows the monitoring-plugin convention (Nagios plugin
// guidelines, also Icinga's): exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN,
// the worst over all Digital IDs, one line per ID. It loads each current
// Digital ID with Keystore::digital_id_for, the very call signing makes, so
// it cannot say OK for an ID that signing refuses (issue 13).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/mail_text.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon::cli {

namespace {

namespace fs = std::filesystem;

struct KeysArgs {
    std::string keystore;
    bool json = false;
    int warn_days = 30;
    int critical_days = 7;
    std::string address;
    int days = 365;
    std::string type = "ec-p256";
    std::string password_file;
};

Keystore open_keystore(const KeysArgs& args) {
    return Keystore(args.keystore.empty() ? Keystore::default_dir() : fs::path(args.keystore));
}

std::string key_type_of(const KeystoreEntry& e) { return e.certificate.key_description; }

int run_list(const KeysArgs& args) {
    Keystore ks = open_keystore(args);
    auto entries = ks.list(std::chrono::system_clock::now());
    if (!entries) {
        report_error("keys list", "", entries.error());
        return exit_code_for(entries.error());
    }
    if (args.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : *entries) {
            nlohmann::json j;
            j["address"] = e.address;
            j["cert_file"] = e.cert_file.string();
            if (!e.problem.empty()) {
                j["problem"] = e.problem;
                out.push_back(std::move(j));
                continue;
            }
            j["subject"] = e.certificate.subject;
            j["issuer"] = e.certificate.issuer;
            j["serial"] = e.certificate.serial_hex;
            j["not_before"] = format_utc(e.certificate.not_before);
            j["not_after"] = format_utc(e.certificate.not_after);
            j["days_left"] = e.days_left;
            j["key_type"] = key_type_of(e);
            j["key_location"] = e.key_location;
            j["key_file"] = e.key_file.string();
            j["key_present"] = e.key_present;
            j["chain_file"] = e.chain_file.empty() ? nlohmann::json(nullptr)
                                                   : nlohmann::json(e.chain_file.string());
            j["status"] = std::string(id_status_name(e.status));
            j["dev_ca"] = e.dev_ca;
            out.push_back(std::move(j));
        }
        std::printf("%s\n", out.dump(2).c_str());
        return kOk;
    }
    if (entries->empty()) std::printf("no Digital IDs in %s\n", ks.dir().c_str());
    for (const auto& e : *entries) {
        // Shown as every command shows addresses and certificate text
        // (ribbon/mail_text.hpp): a lookalike domain in A-labels, escaped.
        const std::string address = terminal_safe(display_address(e.address));
        if (!e.problem.empty()) {
            std::printf("%s  UNREADABLE  %s\n", address.c_str(), terminal_safe(e.problem).c_str());
            continue;
        }
        std::printf(
            "%s  %-7s  serial %s  %s .. %s  (%lld days left)  %s, key in %s%s\n"
            "    subject %s\n    issuer  %s\n",
            address.c_str(), std::string(id_status_name(e.status)).c_str(),
            e.certificate.serial_hex.c_str(), format_utc(e.certificate.not_before).c_str(),
            format_utc(e.certificate.not_after).c_str(), static_cast<long long>(e.days_left),
            key_type_of(e).c_str(), e.key_location.c_str(), e.dev_ca ? "  [dev CA: TEST ONLY]" : "",
            terminal_safe(e.certificate.subject).c_str(),
            terminal_safe(e.certificate.issuer).c_str());
    }
    return kOk;
}

// Monitoring-plugin states (their exit codes). The worst of several is not
// the highest number: CRITICAL > WARNING > UNKNOWN > OK, so one unreadable
// file cannot hide an expired Digital ID (docs/KEYSTORE.md).
enum State { kStateOk = 0, kStateWarning = 1, kStateCritical = 2, kStateUnknown = 3 };
constexpr const char* kStateNames[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
int severity(int state) { return state == kStateUnknown ? 1 : state == kStateOk ? 0 : state + 1; }

// One address's Digital ID: whether it signs now — loaded as signing loads
// it, so every refusal of signing (an unsafe key or directory, a file that
// is not a key, a wrong passphrase, a missing key or token) is CRITICAL
// with signing's own words — and how long signing is covered, counting a
// successor ("next") that starts before the current one ends.
std::pair<int, std::string> check_address(const Keystore& ks, const std::string& address,
                                          const std::vector<const KeystoreEntry*>& certs,
                                          const KeysArgs& args, std::string_view password,
                                          TimePoint now) {
    const KeystoreEntry* current = nullptr;
    const KeystoreEntry* latest_expired = nullptr;
    for (const auto* e : certs) {
        if (!e->problem.empty()) return {kStateUnknown, e->problem};
        if (e->status == IdStatus::current) current = e;
        if (e->status == IdStatus::expired &&
            (!latest_expired || e->certificate.not_after > latest_expired->certificate.not_after)) {
            latest_expired = e;
        }
    }
    if (current == nullptr) {
        if (latest_expired != nullptr) {
            return {kStateCritical, "expired on " +
                                        format_utc(latest_expired->certificate.not_after) +
                                        " (serial " + latest_expired->certificate.serial_hex + ")"};
        }
        return {kStateCritical, "no certificate is valid now"};
    }
    if (auto id = ks.digital_id_for(address, now, password); !id) {
        return {kStateCritical, "cannot sign: " + id.error().message() + " [" +
                                    std::string(errc_name(id.error().code())) + "]"};
    }
    TimePoint covered_until = current->certificate.not_after;
    for (bool extended = true; extended;) {
        extended = false;
        for (const auto* e : certs) {
            if (e->status == IdStatus::next && e->certificate.not_before <= covered_until &&
                e->certificate.not_after > covered_until) {
                covered_until = e->certificate.not_after;
                extended = true;
            }
        }
    }
    auto left = covered_until - now;
    auto days_left = std::chrono::duration_cast<std::chrono::hours>(left).count() / 24;
    std::string text = "serial " + current->certificate.serial_hex + ", signing covered until " +
                       format_utc(covered_until) + " (" + std::to_string(days_left) + " days left)";
    if (current->dev_ca) text += ", dev CA: TEST ONLY";
    if (left <= std::chrono::hours(24) * args.critical_days) return {kStateCritical, text};
    if (left <= std::chrono::hours(24) * args.warn_days) return {kStateWarning, text};
    return {kStateOk, text};
}

int run_check(const KeysArgs& args) {
    Keystore ks = open_keystore(args);
    TimePoint now = std::chrono::system_clock::now();
    // An encrypted key is checked with the passphrase signing is given.
    Secret password;
    if (auto r = read_secret(args.password_file, kKeyPasswordEnv, password); !r) {
        std::printf("UNKNOWN - %s\n", r.error().message().c_str());
        return kStateUnknown;
    }
    auto entries = ks.list(now);
    if (!entries) {
        std::printf("UNKNOWN - %s\n", entries.error().message().c_str());
        return kStateUnknown;
    }
    if (entries->empty()) {
        std::printf("UNKNOWN - no Digital IDs in the keystore %s\n", ks.dir().c_str());
        return kStateUnknown;
    }
    std::map<std::string, std::vector<const KeystoreEntry*>> by_address;
    for (const auto& e : *entries) by_address[e.address].push_back(&e);
    int worst = kStateOk;
    for (const auto& [address, certs] : by_address) {
        auto [state, text] = check_address(ks, address, certs, args, password.bytes, now);
        std::printf("%s - %s: %s\n", kStateNames[state], address.c_str(), text.c_str());
        if (severity(state) > severity(worst)) worst = state;
    }
    return worst;
}

int run_dev_ca_init(const KeysArgs& args) {
    auto type = parse_new_key_type(args.type);
    Keystore ks = open_keystore(args);
    auto root = DevCa::init(ks, *type);
    if (!root) {
        report_error("keys dev-ca init", "", root.error());
        return exit_code_for(root.error());
    }
    std::printf("%s\n", root->c_str());
    return kOk;
}

int run_dev_ca_issue(const KeysArgs& args) {
    DevCaIssueOptions options;
    options.type = *parse_new_key_type(args.type);
    options.days = args.days;
    auto cert = DevCa::issue(open_keystore(args), args.address, options);
    if (!cert) {
        report_error("keys dev-ca issue", args.address, cert.error());
        return exit_code_for(cert.error());
    }
    std::printf("%s\n", cert->c_str());
    return kOk;
}

}  // namespace

void warn_about_chain(std::string_view command, const std::filesystem::path& cert_file,
                      const std::vector<std::string>& ca_files) {
    std::vector<std::filesystem::path> files(ca_files.begin(), ca_files.end());
    auto trust = files.empty() ? TrustStore::system() : TrustStore::from_files(files);
    std::optional<std::string> warning;
    if (!trust) {
        warning = "cannot check the chain: " + trust.error().message();
    } else {
        warning = missing_chain_link(cert_file, *trust, std::chrono::system_clock::now());
    }
    if (warning) {
        std::fprintf(stderr, "ribbon %.*s: warning: %s: %s\n", static_cast<int>(command.size()),
                     command.data(), cert_file.c_str(), warning->c_str());
    }
}

std::filesystem::path keystore_for(const KeystoreArg& arg) {
    return arg->empty() ? Keystore::default_dir() : std::filesystem::path(*arg);
}

void register_keys(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<KeysArgs>();
    // The --keystore value, shared with subcommands defined in other files.
    const KeystoreArg keystore(args, &args->keystore);
    CLI::App* keys = app.add_subcommand("keys", "Digital IDs in a keystore (docs/KEYSTORE.md)");
    keys->require_subcommand(1);
    keys->fallthrough();
    keys->add_option("--keystore", args->keystore,
                     "Keystore directory (default $RIBBON_KEYSTORE, else /var/lib/ribbon/ids)");

    CLI::App* list = keys->add_subcommand("list", "List every certificate and its status");
    list->add_flag("--json", args->json, "JSON array, one object per certificate");
    list->callback([args, &exit_code] { exit_code = run_list(*args); });
    register_keys_requests(*keys, keystore, exit_code);

    CLI::App* check = keys->add_subcommand(
        "check",
        "Monitoring check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (worst of all IDs)");
    check->add_option("--warn-days", args->warn_days, "WARNING this many days before expiry")
        ->check(CLI::Range(0, 100000));
    check
        ->add_option("--critical-days", args->critical_days,
                     "CRITICAL this many days before expiry")
        ->check(CLI::Range(0, 100000));
    check->add_option("--password-file", args->password_file,
                      "Passphrase of encrypted keys, as for sign (else $RIBBON_KEY_PASSWORD)");
    check->callback([args, &exit_code] { exit_code = run_check(*args); });
    register_keys_import(*keys, keystore, exit_code);

    CLI::App* dev_ca = keys->add_subcommand("dev-ca", "A local TEST ONLY CA for trying ribbon");
    dev_ca->require_subcommand(1);
    dev_ca->fallthrough();
    CLI::App* init = dev_ca->add_subcommand("init", "Create the dev CA in <keystore>/dev-ca/");
    init->add_option("--type", args->type, "Root key type")
        ->check(CLI::IsMember({"ec-p256", "rsa3072"}));
    init->callback([args, &exit_code] { exit_code = run_dev_ca_init(*args); });
    CLI::App* issue =
        dev_ca->add_subcommand("issue", "A new key and certificate for ADDRESS from the dev CA");
    issue->add_option("address", args->address, "Sending address, e.g. no-reply@bank.example")
        ->required();
    issue->add_option("--days", args->days, "Validity in days (default 365)")
        ->check(CLI::Range(1, 36500));
    issue->add_option("--type", args->type, "Key type")
        ->check(CLI::IsMember({"rsa2048", "rsa3072", "ec-p256"}));
    issue->callback([args, &exit_code] { exit_code = run_dev_ca_issue(*args); });
}

}  // namespace ribbon::cli
