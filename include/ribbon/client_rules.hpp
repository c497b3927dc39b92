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

#include <cstddef>
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

// The header section at the start of `message`, for detect() and the
// learning code. Tolerant, because it reads what customers' clients wrote,
// not what ribbon signs: it stops at the first empty line or at the end;
// a line without a colon (or whose name is not printable ASCII) is skipped
// together with its continuation lines; CRLF or LF before white space is
// removed (RFC 5322 §2.2.3 unfolding) and the value trimmed. At most
// kMaxMailHeaders fields are returned, each value cut to kMaxMailHeaderValue
// octets, so a hostile message costs bounded memory. Thread-safe.
inline constexpr std::size_t kMaxMailHeaders = 1000;
inline constexpr std::size_t kMaxMailHeaderValue = 64 * 1024;
std::vector<MailHeader> parse_mail_headers(std::string_view message);

// detect() matches at most this many octets of each value (the start):
// every client signal sits well within it, and it bounds the cost of a
// hostile 64 KiB value.
inline constexpr std::size_t kMaxMatchedValue = 4096;

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
    // The rules' client names in rule order, operator rules first (for
    // diagnostics, and the test that every shipped rule has a sample).
    std::vector<std::string> names() const;

    ClientRules(ClientRules&&) noexcept;
    ClientRules& operator=(ClientRules&&) noexcept;
    ~ClientRules();

    struct Impl;

private:
    explicit ClientRules(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> m_impl;
};

}  // namespace ribbon
