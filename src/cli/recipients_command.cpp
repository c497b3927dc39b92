// recipients_command.cpp — `ribbon recipients`: the operators' commands over
// the track-recipients store (ribbon/recipients.hpp, docs/LEARNING.md,
// "Operators' commands"): list, show, set, forget, stats; export is in
// recipients_export.cpp.
//
// Trusts the operator's arguments only after checking them; trusts the
// store's text as valid UTF-8 but not as printable (recipients_format.hpp).
//
// Exit codes, the same for every subcommand: 0 done (also `forget` of an
// address with nothing stored: the erasure is complete either way); 64
// usage, including an argument that cannot be an address; 65 the store is
// corrupt or too new; 66 `show` of an address with nothing stored; 73 an
// export file cannot be written; 75 the store cannot be reached now; 78 a
// bad configuration or store URL (a SQLite store whose directory is missing).
#include <chrono>

#include "cli/recipients_format.hpp"

namespace ribbon::cli {

namespace {

struct RecipientsArgs {
    StoreArgs store;
    std::string address;
    bool json = false;
    bool pem = false;
    // list
    std::string capability;
    bool only_opted_out = false;
    std::uint64_t limit = 0;  // 0: no limit
    // set
    bool sign = false, no_sign = false, opaque = false, clear = false;
    bool opt_out = false, opt_in = false;
};

UnixTime now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- list ----------------------------------------------------------------

// Fixed widths, because the list is streamed and the longest value is not
// known in advance; a longer address pushes its own line's columns right.
std::string list_row(const std::string& address, const std::string& capability,
                     const std::string& confidence, const std::string& messages,
                     const std::string& last_seen, const std::string& override_,
                     const std::string& opt_out, const std::string& client) {
    return pad(address, 32) + "  " + pad(capability, 11) + "  " + pad(confidence, 4, true) + "  " +
           pad(messages, 8, true) + "  " + pad(last_seen, 20) + "  " + pad(override_, 8) + "  " +
           pad(opt_out, 7) + "  " + client;
}

int run_list(const RecipientsArgs& args) {
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "recipients list", exit_code,
                                       StoreAccess::read_only);
    if (!setup) return exit_code;
    const auto wanted =
        args.capability.empty() ? std::nullopt : parse_smime_support(args.capability);
    print_line(list_row("ADDRESS", "CAPABILITY", "CONF", "MESSAGES", "LAST SEEN", "OVERRIDE",
                        "OPT-OUT", "CLIENT"));
    std::uint64_t shown = 0;
    auto r = setup->store->for_each([&](const RecipientRecord& rec) {
        if (wanted && rec.capability != *wanted) return true;
        if (args.only_opted_out && !rec.opted_out) return true;
        char confidence[16];
        std::snprintf(confidence, sizeof confidence, "%.2f", rec.confidence);
        print_line(list_row(
            address_text(rec.address), std::string(smime_support_name(rec.capability)), confidence,
            std::to_string(rec.message_count), iso_time(rec.last_seen),
            std::string(recipient_override_name(rec.override_)), rec.opted_out ? "yes" : "no",
            rec.clients.empty() ? "-" : terminal_text(rec.clients.front().name)));
        return args.limit == 0 || ++shown < args.limit;
    });
    if (!r) {
        report_error("recipients list", "", r.error());
        return exit_code_for(r.error());
    }
    return kOk;
}

// ---- show ----------------------------------------------------------------

void show_text(const RecipientRecord& r, bool with_pem) {
    char confidence[16];
    std::snprintf(confidence, sizeof confidence, "%.2f", r.confidence);
    field(0, "address", address_text(r.address));
    field(0, "first seen", iso_time(r.first_seen));
    field(0, "last seen", iso_time(r.last_seen));
    field(0, "messages", std::to_string(r.message_count));
    field(0, "capability",
          std::string(smime_support_name(r.capability)) + " (confidence " + confidence + ")");
    field(0, "evidence", terminal_text(r.capability_evidence));
    field(0, "override", std::string(recipient_override_name(r.override_)));
    field(0, "opted out", r.opted_out ? "yes" : "no");
    field(0, "sealing", std::string(seal_choice_name(r.seal)));
    if (r.seal == SealChoice::pinned && with_pem) std::fputs(pem_certificate(r.seal_certificate).c_str(), stdout);
    field(0, "clients", std::to_string(r.clients.size()));
    for (const ClientSighting& c : r.clients) {
        print_line("  " + terminal_text(c.name) +
                   (c.version.empty() ? "" : " " + terminal_text(c.version)));
        field(4, "S/MIME", std::string(smime_support_name(c.smime)));
        field(4, "messages", std::to_string(c.count));
        field(4, "first seen", iso_time(c.first_seen));
        field(4, "last seen", iso_time(c.last_seen));
        field(4, "evidence", terminal_text(c.evidence));
    }
    field(0, "certificates", std::to_string(r.certificates.size()));
    for (const HarvestedCertificate& h : r.certificates) {
        std::string capabilities;
        for (const std::string& cap : h.capabilities)
            capabilities += (capabilities.empty() ? "" : " ") + cap;
        print_line("  sha256 " + terminal_text(h.sha256));
        field(4, "subject", terminal_text(h.subject));
        field(4, "issuer", terminal_text(h.issuer));
        field(4, "serial", terminal_text(h.serial));
        field(4, "not after", iso_time(h.not_after));
        field(4, "capabilities", terminal_text(capabilities));
        field(4, "first seen", iso_time(h.first_seen));
        field(4, "last seen", iso_time(h.last_seen));
        field(4, "bound", h.bound ? "yes: the customer's signature names it" : "no: never sealed to");
        if (with_pem) std::fputs(pem_certificate(h.der).c_str(), stdout);
    }
}

int run_show(const RecipientsArgs& args) {
    const auto key = address_argument("recipients show", args.address);
    if (!key) return kUsage;
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "recipients show", exit_code,
                                       StoreAccess::read_only);
    if (!setup) return exit_code;
    auto found = setup->store->find(*key);
    if (!found) {
        report_error("recipients show", *key, found.error());
        return exit_code_for(found.error());
    }
    if (!found->has_value()) {
        std::fprintf(stderr, "ribbon recipients show: nothing stored for %s\n",
                     address_text(*key).c_str());
        return kNoInput;
    }
    if (args.json) {
        print_line(record_json(**found, true)
                       .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    } else {
        show_text(**found, args.pem);
    }
    return kOk;
}

// ---- set, forget -----------------------------------------------------------

int run_set(const RecipientsArgs& args) {
    std::optional<RecipientOverride> override_;
    if (args.sign) override_ = RecipientOverride::sign;
    if (args.no_sign) override_ = RecipientOverride::no_sign;
    if (args.opaque) override_ = RecipientOverride::opaque;
    if (args.clear) override_ = RecipientOverride::none;
    std::optional<bool> opt_out;
    if (args.opt_out) opt_out = true;
    if (args.opt_in) opt_out = false;
    if (!override_ && !opt_out) {
        std::fprintf(stderr,
                     "ribbon recipients set: give --sign, --no-sign, --opaque or --clear, and/or "
                     "--opt-out or --opt-in\n");
        return kUsage;
    }
    const auto key = address_argument("recipients set", args.address);
    if (!key) return kUsage;
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "recipients set", exit_code);
    if (!setup) return exit_code;
    RecipientStore& store = *setup->store;
    // Two statements, not one transaction: if the second fails, the first
    // stays, and the error says so by naming what failed.
    if (override_) {
        if (auto r = store.set_override(*key, *override_, now()); !r) {
            report_error("recipients set", *key, r.error());
            return exit_code_for(r.error());
        }
    }
    if (opt_out) {
        if (auto r = store.set_opt_out(*key, *opt_out, now()); !r) {
            report_error("recipients set", *key, r.error());
            return exit_code_for(r.error());
        }
    }
    // Read back, so what is printed is what the daemons will read.
    auto standing = store.standing(*key);
    if (!standing) {
        report_error("recipients set", *key, standing.error());
        return exit_code_for(standing.error());
    }
    if (!standing->has_value()) {  // another operator's forget in between
        std::fprintf(stderr, "ribbon recipients set: %s was forgotten meanwhile\n",
                     address_text(*key).c_str());
        return kTempFail;
    }
    const RecipientStanding& s = **standing;
    std::printf("%s: override %s, opt-out %s, capability %s\n", address_text(*key).c_str(),
                std::string(recipient_override_name(s.override_)).c_str(),
                s.opted_out ? "yes" : "no", std::string(smime_support_name(s.capability)).c_str());
    return kOk;
}

int run_forget(const RecipientsArgs& args) {
    const auto key = address_argument("recipients forget", args.address);
    if (!key) return kUsage;
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "recipients forget", exit_code);
    if (!setup) return exit_code;
    auto forgot = setup->store->forget(*key);
    if (!forgot) {
        report_error("recipients forget", *key, forgot.error());
        return exit_code_for(forgot.error());
    }
    std::printf("%s %s\n", *forgot ? "forgot" : "nothing stored for", address_text(*key).c_str());
    return kOk;
}

// ---- stats -----------------------------------------------------------------

int run_stats(const RecipientsArgs& args) {
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "recipients stats", exit_code,
                                       StoreAccess::read_only);
    if (!setup) return exit_code;
    auto stats = setup->store->stats();
    if (!stats) {
        report_error("recipients stats", "", stats.error());
        return exit_code_for(stats.error());
    }
    const RecipientStats& s = *stats;
    if (args.json) {
        nlohmann::ordered_json clients = nlohmann::ordered_json::array();
        for (const auto& c : s.clients) {
            clients.push_back({{"name", c.name},
                               {"smime", smime_support_name(c.smime)},
                               {"addresses", c.addresses}});
        }
        const nlohmann::ordered_json out = {{"total", s.total},
                                            {"supported", s.supported},
                                            {"unsupported", s.unsupported},
                                            {"unknown", s.unknown},
                                            {"opted_out", s.opted_out},
                                            {"overridden", s.overridden},
                                            {"clients", std::move(clients)}};
        print_line(out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
        return kOk;
    }
    const std::pair<const char*, std::uint64_t> totals[] = {
        {"addresses", s.total}, {"supported", s.supported}, {"unsupported", s.unsupported},
        {"unknown", s.unknown}, {"opted out", s.opted_out}, {"overridden", s.overridden},
    };
    for (const auto& [label, n] : totals)
        print_line(pad(label, 12) + pad(std::to_string(n), 10, true));
    print_line("");
    print_line(pad("CLIENT", 32) + "  " + pad("S/MIME", 11) + "  " + pad("ADDRESSES", 9, true));
    for (const auto& c : s.clients) {
        print_line(pad(terminal_text(c.name), 32) + "  " + pad(smime_support_name(c.smime), 11) +
                   "  " + pad(std::to_string(c.addresses), 9, true));
    }
    return kOk;
}

}  // namespace

void register_recipients(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<RecipientsArgs>();
    CLI::App* cmd = app.add_subcommand("recipients",
                                       "What the store knows about customers' addresses, and "
                                       "operators' decisions (docs/LEARNING.md)");
    cmd->require_subcommand(1);
    cmd->fallthrough();
    add_store_options(*cmd, args->store);

    CLI::App* list = cmd->add_subcommand("list", "One line per address, in address order");
    list->add_option("--capability", args->capability, "Only addresses with this capability")
        ->check(CLI::IsMember({"supported", "unsupported", "unknown"}));
    list->add_flag("--opted-out", args->only_opted_out, "Only addresses that opted out");
    list->add_option("--limit", args->limit, "At most N lines")->check(CLI::PositiveNumber);
    list->callback([args, &exit_code] { exit_code = run_list(*args); });

    CLI::App* show =
        cmd->add_subcommand("show", "Everything stored for ADDRESS (exit 66 when nothing is)");
    show->add_option("address", args->address, "Customer address")->required();
    auto* json = show->add_flag("--json", args->json, "JSON, certificates included as PEM");
    show->add_flag("--pem", args->pem, "Print each certificate as PEM too")->excludes(json);
    show->callback([args, &exit_code] { exit_code = run_show(*args); });

    CLI::App* set = cmd->add_subcommand(
        "set",
        "An operator's decision for ADDRESS (created if new). Running daemons cache answers for "
        "[store] cache_ttl (default 60 s), so a change takes effect within that time");
    set->add_option("address", args->address, "Customer address")->required();
    auto* sign = set->add_flag("--sign", args->sign, "Always sign mail to ADDRESS");
    auto* no_sign = set->add_flag("--no-sign", args->no_sign, "Never sign mail to ADDRESS");
    auto* opaque =
        set->add_flag("--opaque", args->opaque, "Sign mail to ADDRESS as opaque signed-data");
    auto* clear =
        set->add_flag("--clear", args->clear, "Remove the override: what was learned decides");
    sign->excludes(no_sign)->excludes(opaque)->excludes(clear);
    no_sign->excludes(opaque)->excludes(clear);
    opaque->excludes(clear);
    auto* opt_out =
        set->add_flag("--opt-out", args->opt_out, "The customer asked for no signed mail");
    set->add_flag("--opt-in", args->opt_in, "Undo --opt-out")->excludes(opt_out);
    set->callback([args, &exit_code] { exit_code = run_set(*args); });

    CLI::App* forget = cmd->add_subcommand(
        "forget",
        "Erase everything stored for ADDRESS (an erasure request; exit 0 also when nothing was)");
    forget->add_option("address", args->address, "Customer address")->required();
    forget->callback([args, &exit_code] { exit_code = run_forget(*args); });

    CLI::App* stats =
        cmd->add_subcommand("stats", "Totals by capability, and addresses per mail client");
    stats->add_flag("--json", args->json, "JSON object");
    stats->callback([args, &exit_code] { exit_code = run_stats(*args); });

    register_recipients_export(*cmd, std::shared_ptr<StoreArgs>(args, &args->store), exit_code);
}

}  // namespace ribbon::cli
