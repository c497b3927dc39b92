// doctor_command.cpp — `ribbon doctor`: why does this signature fail?
//
//   ribbon doctor [--json] [--max-message-size BYTES] SIGNED [ORIGINAL]
//
// Names the transit change that broke a detached S/MIME signature, what
// usually makes it and how to avoid it (docs/DOCTOR.md). Exits
//   0 the signature is fine, 1 broken and the cause found,
//   2 broken and no cause found, 3 input error (not signed, unreadable,
//   truncated, too large), 64 usage.
// Front end only: the diagnosis is core's ribbon::diagnose.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/json_out.hpp"
#include "ribbon/doctor.hpp"
#include "ribbon/io.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::cli {

namespace {

enum DoctorExit : int { kFine = 0, kCauseFound = 1, kNoCause = 2, kInputError = 3 };

struct DoctorArgs {
    std::string input;
    std::string original;
    bool json = false;
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
};

int fail(const DoctorArgs& args, std::string_view input, const Error& error) {
    if (args.json) print_json_error(error);
    report_error("doctor", input, error);
    return kInputError;
}

nlohmann::json to_json(const DoctorReport& r) {
    nlohmann::json findings = nlohmann::json::array();
    for (const DoctorFinding& f : r.findings) {
        findings.push_back({{"change", transit_change_name(f.change)},
                            {"evidence", f.evidence},
                            {"usual_source", f.usual_source},
                            {"advice", f.advice}});
    }
    nlohmann::json outer = nlohmann::json::array();
    for (const OuterHeaderChange& c : r.outer_header_changes) {
        outer.push_back({{"field", c.field}, {"received", c.received}, {"original", c.original}});
    }
    return {{"verdict", doctor_verdict_name(r.verdict)},
            {"detail", r.detail},
            {"opaque", r.opaque},
            {"digest_algorithm", r.digest_algorithm},
            {"compared_with_original", r.compared_with_original},
            {"findings", findings},
            {"outer_header_changes", outer},
            {"candidates_tried", r.candidates_tried}};
}

void print_human(const DoctorReport& r) {
    std::printf("verdict: %s\n", std::string(doctor_verdict_name(r.verdict)).c_str());
    std::printf("detail: %s\n", terminal_safe(r.detail).c_str());
    for (const DoctorFinding& f : r.findings) {
        std::printf("change: %s\n", std::string(transit_change_name(f.change)).c_str());
        std::printf("  evidence: %s\n", terminal_safe(f.evidence).c_str());
        std::printf("  usually: %s\n", f.usual_source.c_str());
        std::printf("  advice: %s\n", f.advice.c_str());
    }
    if (!r.outer_header_changes.empty()) {
        std::printf("outer header fields changed (not covered by the signature):\n");
        for (const OuterHeaderChange& c : r.outer_header_changes) {
            std::printf("  %s: %s (was: %s)\n", terminal_safe(c.field).c_str(),
                        c.received.empty() ? "(removed)" : terminal_safe(c.received).c_str(),
                        c.original.empty() ? "(absent)" : terminal_safe(c.original).c_str());
        }
    }
}

int run_doctor(const DoctorArgs& args) {
    const auto read = [&](const std::string& path) {
        return read_message_file(
            path == "-" ? std::filesystem::path("/dev/stdin") : std::filesystem::path(path),
            args.max_message_size);
    };
    auto received = read(args.input);
    if (!received) return fail(args, args.input, received.error());
    std::optional<std::string> original;
    if (!args.original.empty()) {
        auto o = read(args.original);
        if (!o) return fail(args, args.original, o.error());
        original = std::move(*o);
    }
    auto report =
        diagnose(*received, original ? std::optional<std::string_view>(*original) : std::nullopt);
    if (!report) return fail(args, args.input, report.error());
    if (args.json)
        std::printf("%s\n", json_line(to_json(*report)).c_str());
    else
        print_human(*report);
    std::fflush(stdout);
    switch (report->verdict) {
        case DoctorVerdict::fine:
            return kFine;
        case DoctorVerdict::cause_found:
            return kCauseFound;
        case DoctorVerdict::no_cause_found:
            return kNoCause;
    }
    return kNoCause;
}

}  // namespace

void register_doctor(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<DoctorArgs>();
    CLI::App* cmd = app.add_subcommand(
        "doctor",
        "Name the transit change that broke an S/MIME signature. Exit 0 fine, 1 cause found, "
        "2 broken with no cause found, 3 input error");
    cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
    add_max_message_size(cmd, args->max_message_size,
                         "Do not read a message larger than BYTES: exit 3, limit_exceeded "
                         "(default 268435456)");
    cmd->add_option("signed", args->input, "The signed message as received (- for stdin)")
        ->type_name("SIGNED")
        ->required();
    cmd->add_option("original", args->original,
                    "The same message as sent (signed), to compare with")
        ->type_name("ORIGINAL");
    cmd->callback([args, &exit_code] { exit_code = run_doctor(*args); });
}

}  // namespace ribbon::cli
