// recipients_export.cpp — `ribbon recipients export`: every record in the
// store as CSV or JSON, streamed record by record (RecipientStore::for_each)
// so that a store of millions of addresses is never held in memory.
//
// Exit codes: 0 written; 73 the output file cannot be created or written
// (nothing is left under its name); 65, 75, 78 from the store as for every
// `ribbon recipients` command. A failure part-way through an export to
// stdout leaves what was written: the JSON is then incomplete (no closing
// ']'), the CSV is not, so scripts must check the exit code.
#include <set>

#include "cli/recipients_format.hpp"

namespace ribbon::cli {

namespace {

struct ExportArgs {
    std::string format;
    std::string output;
};

// RFC 4180 §2: records end in CRLF, the header names the fields.
constexpr const char* kCsvHeader =
    "address,first_seen,last_seen,message_count,capability,confidence,capability_evidence,"
    "override,opted_out,clients,certificates\r\n";

std::string csv_row(const RecipientRecord& r) {
    // Client names once each (a name seen in two versions is one client
    // for the reader of a spreadsheet), most recently seen first.
    std::string clients;
    std::set<std::string_view> named;
    for (const ClientSighting& c : r.clients) {
        if (!named.insert(c.name).second) continue;
        if (!clients.empty()) clients += ';';
        clients += c.name;
    }
    std::string certificates;
    for (const HarvestedCertificate& h : r.certificates) {
        if (!certificates.empty()) certificates += ';';
        certificates += h.sha256;
    }
    const std::string fields[] = {
        display_address(r.address),  // for people: a lookalike domain in A-labels
        r.first_seen == 0 ? "" : iso_time(r.first_seen),
        r.last_seen == 0 ? "" : iso_time(r.last_seen),
        std::to_string(r.message_count),
        std::string(smime_support_name(r.capability)),
        exact_number(r.confidence),
        r.capability_evidence,
        std::string(recipient_override_name(r.override_)),
        r.opted_out ? "true" : "false",
        clients,
        certificates,
    };
    std::string row;
    for (std::size_t i = 0; i < std::size(fields); ++i) {
        if (i > 0) row += ',';
        row += csv_field(fields[i]);
    }
    row += "\r\n";
    return row;
}

int run_export(const StoreArgs& store_args, const ExportArgs& args) {
    int exit_code = kOk;
    // The store is opened first: a store that cannot be opened leaves no
    // output file at all, not even an empty one.
    auto setup =
        open_store_and_config(store_args, "recipients export", exit_code, StoreAccess::read_only);
    if (!setup) return exit_code;
    ExportOutput out;
    if (auto r = out.open(args.output); !r) {
        report_error("recipients export", "", r.error());
        return kCantCreat;
    }
    FILE* f = out.file();
    const bool json = args.format == "json";
    std::fputs(json ? "[" : kCsvHeader, f);
    bool first = true;
    auto visited = setup->store->for_each([&](const RecipientRecord& r) {
        if (json) {
            // One object per line: the array is valid JSON, and a reader
            // that streams can take it line by line.
            std::fputs(first ? "\n" : ",\n", f);
            std::fputs(dump(record_json(r, false)).c_str(), f);
        } else {
            std::fputs(csv_row(r).c_str(), f);
        }
        first = false;
        return std::ferror(f) == 0;  // a full disk stops the walk; commit() reports it
    });
    if (!visited) {
        report_error("recipients export", "", visited.error());
        return exit_code_for(visited.error());  // `out` removes the temporary file
    }
    if (json) std::fputs("\n]\n", f);
    if (auto r = out.commit(); !r) {
        report_error("recipients export", "", r.error());
        return kCantCreat;
    }
    return kOk;
}

}  // namespace

void register_recipients_export(CLI::App& recipients, std::shared_ptr<StoreArgs> store,
                                int& exit_code) {
    auto args = std::make_shared<ExportArgs>();
    CLI::App* cmd = recipients.add_subcommand(
        "export",
        "Every record, for a spreadsheet (csv) or a program (json, with clients and certificates)");
    cmd->add_option("--format", args->format, "csv or json")
        ->required()
        ->check(CLI::IsMember({"csv", "json"}));
    cmd->add_option("-o,--output", args->output,
                    "Write to FILE (by way of FILE.tmp, so a failed export leaves no partial "
                    "file); default stdout");
    cmd->callback([store, args, &exit_code] { exit_code = run_export(*store, *args); });
}

}  // namespace ribbon::cli
