// ribbon/config.hpp — ribbon.toml: the keystore, the [[signer]] table that
// says whose mail is signed with which Digital ID, and the daemons'
// settings. The reference is docs/CONFIGURATION.md. The settings that
// layers below the daemons are given are in ribbon/settings.hpp; this
// header and its reader (src/config/) are for the daemons and the command.
//
// The whole file is validated before anything uses it: an unknown key, a
// value of the wrong type or out of range, or a [[signer]] pattern ribbon
// cannot match is Errc::bad_config naming the file, line and key, so a
// daemon reloading on SIGHUP can keep its old configuration instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"
#include "ribbon/settings.hpp"

namespace ribbon {

// What a daemon does with a message it cannot sign (like OpenDKIM's On-*).
enum class FailureAction {
    tempfail,  // 4xx: the MTA keeps the message and retries
    accept,    // pass it on unsigned
    reject,    // 5xx: the sender gets it back
};
std::string_view failure_action_name(FailureAction action) noexcept;

// The three kinds of failure an operator chooses an action for.
enum class FailureKind {
    internal_error,  // ribbon or the machine failed (I/O, spool, the MTA refusing an edit)
    no_key,          // no usable Digital ID for the sender (missing, unreadable, expired, token away)
    bad_message,     // ribbon refuses this message (malformed, over limits, From not in the certificate)
};

// Which kind an error is, and what each kind × action answers, is the
// submission core's table (src/submit/failure.hpp).

// The action per failure kind, and the name of its setting (for logs).
struct FailureActions {
    FailureAction on_internal_error = FailureAction::tempfail;  // tempfail | accept
    FailureAction on_no_key = FailureAction::tempfail;          // tempfail | accept
    FailureAction on_bad_message = FailureAction::reject;       // reject | tempfail | accept

    FailureAction action_for(FailureKind kind) const noexcept;
    static std::string_view setting_name(FailureKind kind) noexcept;
    // True when some failure passes the message on unsigned.
    bool may_pass_unsigned() const noexcept {
        return on_internal_error == FailureAction::accept || on_no_key == FailureAction::accept ||
               on_bad_message == FailureAction::accept;
    }
};

// What the milter does with a message (docs/LEARNING.md).
enum class MilterRole {
    outbound,  // sign by the [[signer]] table (the default)
    inbound,   // learn from every message, change none but to stamp it ([inbound]; its own socket)
    both,      // mail to [learn] domains is inbound, everything else outbound
};

struct MilterSettings : FailureActions {
    // "unix:/path" or "inet:port@host" (libmilter's smfi_setconn syntax, which
    // ribbon's milter engine reads the same way).
    std::string socket = "unix:/run/ribbon/milter.sock";
    // Permissions of a unix socket; its group is [daemon] group.
    unsigned socket_mode = 0660;
    // Recipient domains (lower case) whose mail systems damage
    // multipart/signed: a message to any of them is signed opaque.
    std::vector<std::string> opaque_for;
    // Messages larger than this are spooled to a file in spool_dir.
    std::uint64_t spool_threshold = 1024 * 1024;
    std::filesystem::path spool_dir = "/var/tmp";
    // A message to sign that is larger is refused (on_bad_message).
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
    // The milter's read and write timeout towards the MTA.
    std::chrono::seconds timeout{300};
    MilterRole role = MilterRole::outbound;
    MixedAnswer mixed = MixedAnswer::sign;
};

// [learn]: reading customers' inbound mail.
struct LearnSettings {
    // The operator's client rules files, read before the shipped rules.
    std::vector<std::filesystem::path> rules;
    // The organisation's own mail domains: with [milter] role = "both", a
    // message to any of them is inbound.
    std::vector<std::string> domains;
    // Messages waiting to be learned by a daemon; more are dropped (and
    // counted in the log) rather than slowing mail down.
    std::size_t queue = 1000;
    // `ribbon learn` skips larger messages (it holds one at a time in memory).
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
};

// [inbound]: stamping inbound mail for the people who read it
// (docs/RECEIVING.md): with [milter] role "inbound" or "both", every inbound
// message is verified and gets ribbon's Authentication-Results and
// Ribbon-Continuity fields, after any that claim to be ribbon's are removed.
enum class InboundErrorAction {
    stamp,     // stamp smime=temperror and accept: inbound mail is never held
    tempfail,  // 451 4.3.0: the sending MTA retries later
};

struct InboundSettings {
    bool verify = false;
    // The authserv-id of RFC 8601 §2.5: one name for the whole ADMD (every
    // MX of the organisation writes the same), so no host-name default.
    // Required when verify is on.
    std::string authserv_id;
    std::filesystem::path ca_file;  // empty: the system's roots
    InboundErrorAction on_internal_error = InboundErrorAction::stamp;
    // Key continuity and lookalike senders in [store] (docs/RECEIVING.md):
    // each valid signature is judged against the keys seen before for its
    // From address, and recorded.
    bool continuity = true;
    // How long the index of known signer domains is used before it is read
    // again from the store (domains other hosts recorded meanwhile).
    std::uint32_t known_domains_refresh = 600;
};

// [metrics]: the daemons' Prometheus metrics (docs/MONITORING.md), served
// over HTTP on `listen` while the daemon runs.
struct MetricsSettings {
    // "address:port" ("[::1]:9425"): an IP address, not a name. Empty: off.
    std::string listen;
    // The relay's, when the milter and the relay read one file and so
    // need a port each; empty: the relay uses `listen`.
    std::string relay_listen;
    // A listen address that is not loopback is refused unless this is set:
    // the metrics tell who signs how much, which is no one else's business.
    bool allow_remote = false;
};

// `ribbon sendmail`: the system's sendmail that receives the signed message.
// A failure answers with a sendmail exit code (the submission core's table,
// src/submit/failure.hpp) and sends nothing, or passes the message on
// unsigned (accept).
struct SendmailSettings : FailureActions {
    std::filesystem::path path = "/usr/sbin/sendmail";
    std::vector<std::string> args;  // put before ribbon's own, e.g. ["-C", "/etc/postfix-out"]
    // A larger message on stdin is refused (65) and nothing is sent.
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
    std::vector<std::string> opaque_for;  // as [milter] opaque_for
    // One invocation is one message: split, a retry could send a part twice.
    MixedAnswer mixed = MixedAnswer::sign;
};

// How `ribbon relay` reaches the next hop (docs/CONFIGURATION.md, [relay.next_hop]).
enum class NextHopTls {
    required,       // STARTTLS or nothing: a next hop without it gets no mail (4.7.5)
    opportunistic,  // STARTTLS when offered, plain otherwise
    none,           // never (a next hop on the same machine)
};

struct NextHopSettings {
    enum class Kind { smtp, smtps, maildir };
    // "smtp://host:port" (STARTTLS per `tls`), "smtps://host:port" (TLS
    // from the first byte, RFC 8314 §3.3) or "maildir:/path" (each signed
    // message written and fsync'ed into a maildir: for trying ribbon).
    std::string url = "maildir:/var/spool/ribbon/outbox";
    Kind kind = Kind::maildir;
    std::string host;  // smtp, smtps; an IPv6 literal without brackets
    std::uint16_t port = 0;
    std::filesystem::path maildir = "/var/spool/ribbon/outbox";

    NextHopTls tls = NextHopTls::required;  // smtp:// only
    // Verify the next hop's certificate chain and name (RFC 6125).
    bool verify = true;
    std::filesystem::path ca_file;  // empty: the system's roots
    // AUTH PLAIN/LOGIN towards the next hop, only ever over TLS.
    std::string auth_user;
    std::filesystem::path auth_password_file;
    std::chrono::seconds connect_timeout{30};
    // Per reply (RFC 5321 §4.5.3.2 suggests 5 and 10 minutes; a smarthost
    // that has not answered in that time will not).
    std::chrono::seconds timeout{300};
};

// `ribbon relay`: the SMTP side facing the applications.
struct RelaySettings : FailureActions {
    // "host:port" / "[v6]:port" to listen on.
    std::vector<std::string> listen = {"127.0.0.1:2525"};
    // The same, with TLS from the first byte (RFC 8314 §3.3, port 465).
    std::vector<std::string> listen_tls;
    // The name in the greeting, EHLO reply and Received header; empty: the
    // machine's host name.
    std::string hostname;
    // Clients in these networks may relay without AUTH (Postfix's
    // mynetworks); others must authenticate first.
    std::vector<std::string> mynetworks = {"127.0.0.0/8", "::1/128"};
    // STARTTLS is offered when both are set.
    std::filesystem::path tls_cert_file;
    std::filesystem::path tls_key_file;
    // "name:crypt(3) hash" lines (`openssl passwd -6`); AUTH PLAIN/LOGIN is
    // offered, after STARTTLS only, when set.
    std::filesystem::path auth_users_file;

    std::uint64_t max_message_size = 50ull * 1024 * 1024;  // advertised as SIZE (RFC 1870)
    unsigned max_recipients = 1000;                          // per transaction
    std::size_t max_line_length = 1024 * 1024;               // message lines; commands are held to 2048
    unsigned max_connections = 200;
    std::chrono::seconds idle_timeout{300};
    // SIGTERM: how long transactions in progress may take to finish before
    // the relay ends them with 421 4.3.2 (docs/CONFIGURATION.md, Signals).
    std::chrono::seconds stop_grace{30};
    std::vector<std::string> opaque_for;  // as [milter] opaque_for
    std::uint64_t spool_threshold = 1024 * 1024;
    std::filesystem::path spool_dir = "/var/tmp";
    unsigned workers = 0;  // signing threads; 0: one per core

    NextHopSettings next_hop;
};

struct DaemonSettings {
    // The user (and group) a daemon started as root runs as once the keys
    // are loaded and the socket is open. Required when started as root.
    std::string user;
    std::string group;  // empty: the user's primary group
    // "stderr" or "syslog" (facility mail).
    std::string log = "stderr";
};

struct Config {
    // The file it was read from (empty when parsed from text).
    std::filesystem::path source;

    std::filesystem::path keystore = "/var/lib/ribbon/ids";
    // Passphrase for keys stored encrypted; never in the file itself.
    std::filesystem::path key_password_file;
    KeystoreSettings keystore_settings() const { return {keystore, key_password_file}; }

    std::vector<SignerRule> signers;
    MilterSettings milter;
    SendmailSettings sendmail;
    RelaySettings relay;
    DaemonSettings daemon;
    StoreSettings store;
    LearnSettings learn;
    InboundSettings inbound;
    MetricsSettings metrics;

    // The default file: $RIBBON_CONFIG, else /etc/ribbon/ribbon.toml.
    static std::filesystem::path default_path();
    static Result<Config> load(const std::filesystem::path& path);
    // `origin` names the text in error messages.
    static Result<Config> parse(std::string_view text, std::string_view origin = "<config>");

    // The [[signer]] entry for a From address: an exact address wins over a
    // "*@domain" pattern; among equals the first in the file wins. Null
    // when the address is not one ribbon signs for.
    const SignerRule* signer_for(std::string_view from_address) const;

    // The configuration in effect, defaults included, as TOML that parse()
    // reads back to the same Config (`ribbon check-config`).
    std::string to_toml() const;
};

}  // namespace ribbon
