// recipients_format.hpp — how `ribbon recipients` and `ribbon senders` write
// the store's records: times, text for a terminal, the JSON object of one
// record, CSV fields, and output files that appear whole or not at all.
// Shared by recipients_command.cpp, recipients_export.cpp and
// senders_command.cpp; the shapes are documented in docs/LEARNING.md
// ("Operators' commands") and docs/STORE.md.
//
// Everything a record holds that came from customers' mail (client names,
// evidence, certificate subjects) is untrusted text: valid UTF-8 without
// NUL (the store cleans it), but it may hold control characters. Machine
// formats carry it exactly; terminal output escapes it (terminal_text).
#pragma once

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cli/commands.hpp"
#include "cli/store_config.hpp"
#include "ribbon/mail_text.hpp"
#include "ribbon/recipients.hpp"

namespace ribbon::cli {

// One line on stdout, as the bytes are (callers escape what needs it).
void print_line(const std::string& line);

// "label             value" of the show commands: one width for every
// level, so values line up.
void field(int indent, const char* label, const std::string& value);

// The store's form of an address argument, or nullopt with the usage error
// reported: the store itself would only answer "never seen" to find and
// forget, which for a typo is the wrong answer.
std::optional<std::string> address_argument(const char* command, const std::string& address);

// "2023-11-14T22:13:20Z" (ISO 8601, UTC); "-" for 0, which the store uses
// for "never".
std::string iso_time(UnixTime t);

// `text` safe to print on a terminal line, by terminal_safe
// (ribbon/mail_text.hpp, the one escaping every command uses): a hostile
// client name can neither start an escape sequence nor break the
// one-line-per-record layout. "-" when empty.
std::string terminal_text(std::string_view text);

// An address as people should read it (display_address: a lookalike IDN
// in A-labels, a safe one in Unicode), escaped by terminal_text.
std::string address_text(std::string_view address);

// `text` padded with spaces to `width` columns (counting UTF-8 code points),
// on the left when `right`. Longer text is left as it is.
std::string pad(std::string_view text, std::size_t width, bool right = false);

// RFC 4648 base64 without line breaks; and RFC 7468 PEM armour
// ("CERTIFICATE", lines of 64 characters, each ending in "\n").
std::string base64(std::string_view bytes);
std::string pem_certificate(std::string_view der);

// The shortest decimal that reads back as `value` ("0.9", "1").
std::string exact_number(double value);

// One record as JSON (docs/LEARNING.md): times as iso_time strings (null
// for 0), each certificate's DER as base64 in "der", and with `with_pem`
// also as PEM in "pem".
nlohmann::ordered_json record_json(const RecipientRecord& record, bool with_pem);
// Compact, one line; invalid UTF-8 (never stored, but never trusted
// either) becomes U+FFFD instead of throwing.
std::string dump(const nlohmann::ordered_json& value);

// One CSV field as RFC 4180 §2 wants it: quoted, with quotes doubled,
// when it holds a comma, a quote, CR or LF; as it is otherwise. A field
// starting with = + - @ TAB or CR is neutralised as OWASP advises against
// CSV (formula) injection: a single quote put in front, and quoted
// ("=1+2" becomes "'=1+2" in double quotes).
std::string csv_field(std::string_view text);

// Where an export goes: stdout, or `path` by way of `path`.tmp (mode
// 0600: the file lists an organisation's customers) renamed over `path`
// only by commit(), so a failed export never leaves a partial file. The
// destructor removes an uncommitted temporary file.
class ExportOutput {
  public:
    ExportOutput() = default;
    ExportOutput(const ExportOutput&) = delete;
    ExportOutput& operator=(const ExportOutput&) = delete;
    ~ExportOutput();

    // Empty `path`: stdout. Errc::io_error (permanent) when the temporary
    // file cannot be created.
    Result<void> open(const std::filesystem::path& path);
    FILE* file() const noexcept { return m_file; }
    // Flushes, syncs and renames into place; io_error when any write failed.
    Result<void> commit();

  private:
    std::filesystem::path m_path, m_tmp;
    FILE* m_file = nullptr;
};

// `ribbon recipients export` (recipients_export.cpp), registered on the
// `recipients` app with the shared store options.
void register_recipients_export(CLI::App& recipients, std::shared_ptr<StoreArgs> store,
                                int& exit_code);

}  // namespace ribbon::cli
