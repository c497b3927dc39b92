// senders_command.cpp — `ribbon senders`: what the store knows of the keys
// senders sign with (key continuity: ribbon/continuity.hpp, docs/STORE.md,
// "Senders' keys"): list, show, forget, export. The same store, options and
// output conventions as `ribbon recipients` (recipients_format.hpp): exact
// text columns, --json, CSV by RFC 4180, text from certificates escaped
// for terminals, the read-only open for what only reads.
//
// Exit codes as `ribbon recipients`: 0 done (also `forget` of an address
// with nothing stored); 64 usage, including an argument that cannot be an
// address; 65 the store is corrupt or too new; 66 `show` of an address
// with nothing stored; 73 an export file cannot be written; 75 the store
// cannot be reached now; 78 a bad configuration or store URL.
#include "cli/recipients_format.hpp"

namespace ribbon::cli {

namespace {

struct SendersArgs {
    StoreArgs store;
    std::string address;
    bool json = false;
    std::uint64_t limit = 0;  // 0: no limit
    std::string format;       // export
    std::string output;
};

std::string short_spki(const std::string& spki) { return spki.substr(0, kShortSpki); }

nlohmann::ordered_json json_time(UnixTime t) {
    return t == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(iso_time(t));
}

// One sender as JSON (docs/STORE.md): times as iso_time strings.
nlohmann::ordered_json sender_json(const SenderRecord& s) {
    nlohmann::ordered_json keys = nlohmann::ordered_json::array();
    for (const KeyHistory& k : s.keys) {
        nlohmann::ordered_json certificates = nlohmann::ordered_json::array();
        for (const SeenCertificate& c : k.certificates) {
            certificates.push_back({{"sha256", c.sha256},
                                    {"subject", c.subject},
                                    {"issuer", c.issuer},
                                    {"serial", c.serial_hex},
                                    {"not_before", json_time(c.not_before)},
                                    {"not_after", json_time(c.not_after)},
                                    {"first_seen", json_time(c.first_seen)},
                                    {"last_seen", json_time(c.last_seen)}});
        }
        keys.push_back({{"spki_sha256", k.spki_sha256},
                        {"spki_short", short_spki(k.spki_sha256)},
                        {"first_seen", json_time(k.first_seen)},
                        {"last_seen", json_time(k.last_seen)},
                        {"messages", k.messages},
                        {"certificates", std::move(certificates)}});
    }
    return {{"address", s.address}, {"keys", std::move(keys)}};
}

std::uint64_t messages_of(const SenderRecord& s) {
    std::uint64_t n = 0;
    for (const KeyHistory& k : s.keys) n += k.messages;
    return n;
}

// ---- list ----------------------------------------------------------------

// Fixed widths, as `recipients list`: the list is streamed.
std::string list_row(const std::string& address, const std::string& keys,
                     const std::string& messages, const std::string& first_seen,
                     const std::string& last_seen, const std::string& current) {
    return pad(address, 32) + "  " + pad(keys, 4, true) + "  " + pad(messages, 8, true) + "  " +
           pad(first_seen, 20) + "  " + pad(last_seen, 20) + "  " + current;
}

int run_list(const SendersArgs& args) {
    int exit_code = kOk;
    auto setup =
        open_store_and_config(args.store, "senders list", exit_code, StoreAccess::read_only);
    if (!setup) return exit_code;
    print_line(list_row("ADDRESS", "KEYS", "MESSAGES", "FIRST SEEN", "LAST SEEN", "CURRENT KEY"));
    std::uint64_t shown = 0;
    auto r = setup->store->for_each_sender([&](const SenderRecord& s) {
        UnixTime first = 0;
        for (const KeyHistory& k : s.keys) {
            if (first == 0 || k.first_seen < first) first = k.first_seen;
        }
        // keys[0] is the most recently seen: the one the sender uses now.
        print_line(list_row(address_text(s.address), std::to_string(s.keys.size()),
                            std::to_string(messages_of(s)), iso_time(first),
                            iso_time(s.keys.empty() ? 0 : s.keys.front().last_seen),
                            s.keys.empty() ? "-" : short_spki(s.keys.front().spki_sha256)));
        return args.limit == 0 || ++shown < args.limit;
    });
    if (!r) {
        report_error("senders list", "", r.error());
        return exit_code_for(r.error());
    }
    return kOk;
}

// ---- show ----------------------------------------------------------------

void show_text(const SenderRecord& s) {
    field(0, "address", address_text(s.address));
    field(0, "keys", std::to_string(s.keys.size()));
    for (const KeyHistory& k : s.keys) {
        print_line("  key " + short_spki(k.spki_sha256));
        field(4, "first seen", iso_time(k.first_seen));
        field(4, "last seen", iso_time(k.last_seen));
        field(4, "messages", std::to_string(k.messages));
        field(4, "certificates", std::to_string(k.certificates.size()));
        for (const SeenCertificate& c : k.certificates) {
            print_line("      sha256 " + c.sha256);
            field(8, "subject", terminal_text(c.subject));
            field(8, "issuer", terminal_text(c.issuer));
            field(8, "serial", terminal_text(c.serial_hex));
            field(8, "not before", iso_time(c.not_before));
            field(8, "not after", iso_time(c.not_after));
            field(8, "first seen", iso_time(c.first_seen));
            field(8, "last seen", iso_time(c.last_seen));
        }
    }
}

int run_show(const SendersArgs& args) {
    const auto key = address_argument("senders show", args.address);
    if (!key) return kUsage;
    int exit_code = kOk;
    auto setup =
        open_store_and_config(args.store, "senders show", exit_code, StoreAccess::read_only);
    if (!setup) return exit_code;
    auto found = setup->store->find_sender(*key);
    if (!found) {
        report_error("senders show", *key, found.error());
        return exit_code_for(found.error());
    }
    if (!found->has_value()) {
        std::fprintf(stderr, "ribbon senders show: no key seen for %s\n",
                     address_text(*key).c_str());
        return kNoInput;
    }
    if (args.json) {
        print_line(sender_json(**found).dump(2, ' ', false,
                                              nlohmann::ordered_json::error_handler_t::replace));
    } else {
        show_text(**found);
    }
    return kOk;
}

// ---- forget ----------------------------------------------------------------

int run_forget(const SendersArgs& args) {
    const auto key = address_argument("senders forget", args.address);
    if (!key) return kUsage;
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "senders forget", exit_code);
    if (!setup) return exit_code;
    auto gone = setup->store->forget_sender(*key);
    if (!gone) {
        report_error("senders forget", *key, gone.error());
        return exit_code_for(gone.error());
    }
    if (!gone->has_value()) {
        std::printf("nothing stored for %s\n", address_text(*key).c_str());
        return kOk;
    }
    const SenderRecord& s = **gone;
    const std::uint64_t messages = messages_of(s);
    std::printf("forgot %s: %zu key%s, %llu message%s\n", address_text(s.address).c_str(),
                s.keys.size(), s.keys.size() == 1 ? "" : "s",
                static_cast<unsigned long long>(messages), messages == 1 ? "" : "s");
    for (const KeyHistory& k : s.keys) {
        print_line("  key " + short_spki(k.spki_sha256) + "  " + std::to_string(k.messages) +
                   (k.messages == 1 ? " message" : " messages") + ", first seen " +
                   iso_time(k.first_seen) + ", last seen " + iso_time(k.last_seen));
    }
    return kOk;
}

// ---- export ----------------------------------------------------------------

// RFC 4180 §2: records end in CRLF; one row per key (address and key).
constexpr const char* kCsvHeader =
    "address,spki_sha256,first_seen,last_seen,messages,certificates\r\n";

std::string csv_rows(const SenderRecord& s) {
    std::string out;
    for (const KeyHistory& k : s.keys) {
        std::string certificates;
        for (const SeenCertificate& c : k.certificates) {
            if (!certificates.empty()) certificates += ';';
            certificates += c.sha256;
        }
        const std::string fields[] = {display_address(s.address),
                                      k.spki_sha256,
                                      k.first_seen == 0 ? "" : iso_time(k.first_seen),
                                      k.last_seen == 0 ? "" : iso_time(k.last_seen),
                                      std::to_string(k.messages),
                                      certificates};
        for (std::size_t i = 0; i < std::size(fields); ++i) {
            if (i > 0) out += ',';
            out += csv_field(fields[i]);
        }
        out += "\r\n";
    }
    return out;
}

int run_export(const SendersArgs& args) {
    int exit_code = kOk;
    // Opened first: a store that cannot be opened leaves no output file.
    auto setup =
        open_store_and_config(args.store, "senders export", exit_code, StoreAccess::read_only);
    if (!setup) return exit_code;
    ExportOutput out;
    if (auto r = out.open(args.output); !r) {
        report_error("senders export", "", r.error());
        return kCantCreat;
    }
    FILE* f = out.file();
    const bool json = args.format == "json";
    std::fputs(json ? "[" : kCsvHeader, f);
    bool first = true;
    auto visited = setup->store->for_each_sender([&](const SenderRecord& s) {
        if (json) {
            // One object per line, as `recipients export`.
            std::fputs(first ? "\n" : ",\n", f);
            std::fputs(dump(sender_json(s)).c_str(), f);
        } else {
            std::fputs(csv_rows(s).c_str(), f);
        }
        first = false;
        return std::ferror(f) == 0;
    });
    if (!visited) {
        report_error("senders export", "", visited.error());
        return exit_code_for(visited.error());
    }
    if (json) std::fputs("\n]\n", f);
    if (auto r = out.commit(); !r) {
        report_error("senders export", "", r.error());
        return kCantCreat;
    }
    return kOk;
}

}  // namespace

void register_senders(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<SendersArgs>();
    CLI::App* cmd = app.add_subcommand(
        "senders", "The keys senders' signed mail was seen with: key continuity (docs/STORE.md)");
    cmd->require_subcommand(1);
    cmd->fallthrough();
    add_store_options(*cmd, args->store);

    CLI::App* list = cmd->add_subcommand("list", "One line per sender address, in address order");
    list->add_option("--limit", args->limit, "At most N lines")->check(CLI::PositiveNumber);
    list->callback([args, &exit_code] { exit_code = run_list(*args); });

    CLI::App* show = cmd->add_subcommand(
        "show", "Every key seen for ADDRESS, with its certificates (exit 66 when none was)");
    show->add_option("address", args->address, "Sender address")->required();
    show->add_flag("--json", args->json, "JSON, with each key's full SPKI digest");
    show->callback([args, &exit_code] { exit_code = run_show(*args); });

    CLI::App* forget = cmd->add_subcommand(
        "forget",
        "Erase the keys seen for ADDRESS (its next signed message is a first again; exit 0 "
        "also when nothing was stored)");
    forget->add_option("address", args->address, "Sender address")->required();
    forget->callback([args, &exit_code] { exit_code = run_forget(*args); });

    CLI::App* exp = cmd->add_subcommand(
        "export", "Every sender's keys, for a spreadsheet (csv, a row per key) or a program (json)");
    exp->add_option("--format", args->format, "csv or json")
        ->required()
        ->check(CLI::IsMember({"csv", "json"}));
    exp->add_option("-o,--output", args->output,
                    "Write to FILE (by way of FILE.tmp, so a failed export leaves no partial "
                    "file); default stdout");
    exp->callback([args, &exit_code] { exit_code = run_export(*args); });
}

}  // namespace ribbon::cli
