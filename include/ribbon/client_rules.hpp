// ribbon/client_rules.hpp — which mail client wrote a customer's message,
// and whether that client shows S/MIME signatures, from the message's
// header fields (User-Agent, X-Mailer, X-MimeOLE, the MIME-Version comment,
// boundary and Message-ID shapes, ...).
//
// The knowledge is data, not code: a TOML rules file (docs/LEARNING.md has
// the format). The rules shipped in the repository (data/clients.toml) are
// built into ribbon; an operator's own files are read before them, so a
// local rule wins over a shipped one for the same message.
//
// Thread-safety: a ClientRules is immutable after load; detect() may be
// called from any number of threads.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"
#include "ribbon/recipients.hpp"

namespace ribbon {

// One header field of an inbound message: the name as written, the value
// unfolded (CRLF/LF before white space removed) with leading and trailing
// white space trimmed. Encoded words are left as they are.
struct MailHeader {
    std::string name;
    std::string value;
};

// The header fields of a message (up to the first empty line), unfolded and
// trimmed. Tolerant: lines without a colon are skipped; at most 1000 fields,
// each value cut to 64 KiB.
std::vector<MailHeader> parse_mail_headers(std::string_view message);

// What detect() found.
struct ClientMatch {
    std::string name;      // the rule's client name, "Thunderbird"
    std::string version;   // from the pattern's first capture group; empty when none
    std::string evidence;  // "<Header>: <value>" that matched, cut to 200 octets
    SmimeSupport smime = SmimeSupport::unknown;
    double confidence = 0;  // the rule's, 0..1
};

class ClientRules {
public:
    // The rules built into ribbon (data/clients.toml).
    static Result<ClientRules> shipped();
    // The operator's files, in order, then the shipped rules. Errc::bad_config
    // names the file, the rule and the problem (unknown key, bad regex, ...).
    static Result<ClientRules> load(const std::vector<std::filesystem::path>& operator_files);
    // One rules text; `origin` names it in errors.
    static Result<ClientRules> parse(std::string_view text, std::string_view origin);

    // The first rule, in file order, that one of `headers` matches; nullopt
    // when no rule does. Never fails: absurd or binary values simply match
    // nothing. Cost bounded by the number of rules × the number of headers
    // they name (values longer than 4096 octets are cut before matching).
    std::optional<ClientMatch> detect(const std::vector<MailHeader>& headers) const;

    // The number of rules (for logs: "loaded 41 client rules").
    std::size_t size() const noexcept;

    ClientRules(ClientRules&&) noexcept;
    ClientRules& operator=(ClientRules&&) noexcept;
    ~ClientRules();

    struct Impl;

private:
    explicit ClientRules(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> m_impl;
};

}  // namespace ribbon
