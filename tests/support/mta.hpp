// Real mail programs for end-to-end tests: Postfix's smtp-sink(1) as the next
// hop that records what it receives, and a private Postfix instance that
// relays to it. Used by the MTA harness tests and the milter tests.
//
// Everything listens on 127.0.0.1 only, on ports the kernel picked (bind to
// port 0), and lives under a TempDir, so several test processes can run at
// once (ctest -j). Daemons are children of the test process, each the leader
// of its own process group, stopped by the destructors (SIGTERM, then SIGKILL
// to the whole group). A test process that dies without destructors (crash,
// SIGKILL, ctest timeout) leaves no daemon behind either: a watchdog per
// daemon kills its group (support/daemon.hpp); only the TempDirs remain then.
// The system Postfix (/etc/postfix, /var/spool/postfix) is never configured,
// written or started; /etc/postfix/postfix-files is read by `postfix check`.
//
// Not thread-safe: create, use and destroy each object on one thread (gtest
// runs tests on the main thread).
//
// Line endings. smtp-sink writes each received line with a bare LF: it
// drops the CR of CRLF, ends a line at a bare LF as well, and drops a bare
// CR inside a line (checked with a raw socket client). SMTP DATA lines end in
// CRLF, so SinkMessage::data turns every LF back into CRLF: it is the DATA
// content as the client sent it, after dot-unstuffing, for any message
// without bare CR or LF. Those cannot be observed through smtp-sink.
#pragma once

#include "support/daemon.hpp"
#include "support/process.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ribbon::test {

// Empty when smtp-sink, Postfix and swaks can be run here (root, binaries
// present); otherwise why not, for GTEST_SKIP.
std::string mta_unavailable_reason();

// First line of a test that needs them.
#define SKIP_WITHOUT_MTA()                                                                              \
    do {                                                                                                \
        if (auto why = ::ribbon::test::mta_unavailable_reason(); !why.empty()) GTEST_SKIP() << why; \
    } while (0)

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// closed again). Callers retry on a bind race; SmtpSink and Postfix do.
int pick_free_port();

// The message without the Received: header fields at its top, including
// their folded continuation lines (what each MTA hop prepends). Other headers
// and the body are untouched.
std::string strip_received(const std::string& message);

// Bare LF and CRLF line ends become CRLF (what the SMTP wire carries).
std::string to_crlf(const std::string& message);

// One transaction the sink accepted (it answered 250 to the final ".").
struct SinkMessage {
    std::string mail_from;               // the address inside MAIL FROM:<...>, "" for <>
    std::vector<std::string> rcpts;      // the addresses inside each RCPT TO:<...>, in order
    std::string mail_args;               // whole MAIL FROM argument, e.g. "<a@x> BODY=8BITMIME"
    std::vector<std::string> rcpt_args;  // whole RCPT TO arguments (Postfix adds ORCPT=)
    std::string helo;                    // last HELO/EHLO argument ("" if none)
    std::string data;                    // message as received, CRLF line ends (see top)
    std::filesystem::path dump_file;     // smtp-sink's dump, for failure messages
};

struct SmtpSinkOptions {
    int port = 0;                   // 0: a free port (a restart keeps the previous one)
    bool announce_8bitmime = true;  // false: -8, so Postfix must downgrade 8bit to QP
    // SMTP commands (CONNECT, HELO, EHLO, MAIL, RCPT, DATA, ".", RSET, QUIT ...)
    // answered specially. smtp-sink implies -p (no PIPELINING) with -r/-f.
    std::vector<std::string> soft_reject;     // -r: 4xx ("450 4.3.0 Error: command failed")
    std::vector<std::string> hard_reject;     // -f: 5xx ("500 5.3.0 Error: command failed")
    std::vector<std::string> disconnect;      // -q: hang up without a reply
    std::vector<std::string> disconnect_421;  // -Q: "421" and hang up
    std::string soft_reply;                   // -b: replaces the 4xx text ("" = default)
    std::string hard_reply;                   // -B: replaces the 5xx text ("" = default)
    int data_delay_seconds = 0;               // -w: wait before answering DATA
    // -W "command:seconds", one each: wait before answering that command
    // (e.g. ".:3", the final dot).
    std::vector<std::string> waits;

    // Every MAIL FROM answered 4xx: the sender must keep the message queued.
    static SmtpSinkOptions tempfail_all();
};

// /usr/sbin/smtp-sink on 127.0.0.1, dumping each transaction to a file
// (-d DIR/%Y%m%d%H/%M.). Runs as "nobody" when the test runs as root.
// Runs that fail a transaction step (CONNECT … ".": the sink still dumps
// what it got) are not reported:
// messages() is what the next hop accepted, across restarts, oldest first.
class SmtpSink {
public:
    SmtpSink();
    ~SmtpSink();  // stop()
    SmtpSink(const SmtpSink&) = delete;
    SmtpSink& operator=(const SmtpSink&) = delete;

    // Starts (or, after stop(), restarts with new options on the same port
    // unless options.port says otherwise). "" on success, else what failed.
    [[nodiscard]] std::string start(const SmtpSinkOptions& options = {});
    // Same port, new behaviour (e.g. from tempfail_all() back to normal).
    [[nodiscard]] std::string restart(const SmtpSinkOptions& options = {});
    void stop();
    [[nodiscard]] bool running() const;

    [[nodiscard]] int port() const { return m_port; }
    [[nodiscard]] std::vector<SinkMessage> messages() const;  // complete dumps only
    [[nodiscard]] std::size_t count() const { return messages().size(); }
    // True once at least `count` messages were accepted.
    [[nodiscard]] bool wait_for(std::size_t count, std::chrono::milliseconds timeout) const;
    [[nodiscard]] std::string log() const;  // smtp-sink's stdout/stderr

private:
    struct Run {
        std::filesystem::path dir;
        bool accepts_dot;  // false: no transaction of this run could complete
    };
    [[nodiscard]] std::string spawn(const SmtpSinkOptions& options, const Run& run);

    TempDir m_dir;
    int m_port = 0;
    std::vector<Run> m_runs;
    daemon::Daemon m_daemon;  // last: stopped before m_dir is removed
};

struct PostfixOptions {
    int relay_port = 0;  // required: relayhost = [127.0.0.1]:relay_port

    std::string smtpd_milters;      // e.g. "inet:127.0.0.1:40123"
    std::string non_smtpd_milters;  // milters for sendmail/pickup mail
    std::string milter_default_action = "tempfail";
    int milter_protocol = 6;
    std::string milter_connect_timeout = "5s";
    std::string milter_command_timeout = "5s";
    std::string milter_content_timeout = "10s";

    bool mime_output_conversion = true;   // false: disable_mime_output_conversion = yes
    bool smtpd_announce_8bitmime = true;  // false: smtpd_discard_ehlo_keywords = 8bitmime

    // Retry timers: short, so deferred mail is retried within a test.
    std::string queue_run_delay = "2s";
    std::string minimal_backoff_time = "2s";
    std::string maximal_backoff_time = "4s";

    // "name = value" lines appended to main.cf; later lines win in Postfix.
    std::vector<std::string> extra_main_cf;
};

// What swaks reported for one SMTP submission.
struct SmtpSubmission {
    int exit_code = -1;       // swaks' exit status: 0 = every step succeeded
    int final_code = 0;       // last server reply before QUIT (250 after "."), 0 if none
    std::string final_reply;  // that reply line
    std::string transcript;   // swaks' whole output, client and server lines in order
};

// swaks to 127.0.0.1:port: the message as given apart from line ends
// (to_crlf) and dot-stuffing (--no-data-fixup); `extra` are more swaks
// options (-tls, -au/-ap, ...). An empty `from` is the null sender <>; no
// recipients is refused (exit_code -1).
SmtpSubmission swaks_submit(int port, const std::string& message, const std::string& from,
                            const std::vector<std::string>& rcpts, const std::vector<std::string>& extra = {});

// A private Postfix (master -d) with its own config_directory, queue and
// data directory and maillog under a TempDir. smtpd listens on
// 127.0.0.1:smtp_port(); everything else is relayed to [127.0.0.1]:relay_port;
// no local delivery, no DNS. Needs root (master, postdrop, queue ownership).
//
// What Postfix itself does to a message (its defaults, kept on purpose;
// observed with Postfix 3.7.11):
//  - smtpd prepends "Received: from HELO (localhost [127.0.0.1])\r\n\tby
//    HOST (Postfix) with ESMTP id ID\r\n\tfor <rcpt>; DATE" (the "for"
//    clause only with a single recipient);
//  - pickup (sendmail) prepends "Received: by HOST (Postfix, from userid
//    0)\r\n\tid ID; DATE";
//  - cleanup appends missing "Message-Id:" and "Date:" (and for sendmail a
//    missing "From: root <sender>") at the end of the header block. This
//    also happens over SMTP: 127.0.0.1 is an inet_interfaces address, so the
//    default local_header_rewrite_clients treats the tests as local clients;
//    unqualified header addresses ("From: alice") get "@HOST" appended too.
//    A message with fully qualified From/To, Date and Message-ID passes
//    unchanged apart from Received:;
//  - Postfix's sendmail accepts LF or CRLF input; the smtp client sends CRLF.
class Postfix {
public:
    explicit Postfix(PostfixOptions options);
    ~Postfix();  // stop()
    Postfix(const Postfix&) = delete;
    Postfix& operator=(const Postfix&) = delete;

    // Writes main.cf/master.cf, creates the queue (postfix check), starts
    // master and waits until smtpd's port is listening. "" on success, else
    // what failed with the tail of the maillog.
    [[nodiscard]] std::string start();
    void stop();
    [[nodiscard]] bool running() const;

    [[nodiscard]] int smtp_port() const { return m_smtp_port; }
    [[nodiscard]] const std::filesystem::path& config_dir() const { return m_config_dir; }
    [[nodiscard]] const std::filesystem::path& queue_dir() const { return m_queue_dir; }

    // swaks_submit() to smtpd.
    SmtpSubmission submit_smtp(const std::string& message, const std::string& from,
                               const std::vector<std::string>& rcpts);
    // /usr/sbin/sendmail -C config_dir -i -f from -- rcpts (pickup path).
    ProcessResult submit_sendmail(const std::string& message, const std::string& from,
                                  const std::vector<std::string>& rcpts);

    ProcessResult flush();  // postqueue -f: retry deferred mail now
    // Queue files in maildrop, incoming, active, deferred and hold.
    [[nodiscard]] int queue_size() const;
    [[nodiscard]] bool wait_queue_size(int size, std::chrono::milliseconds timeout) const;
    [[nodiscard]] std::string log() const;  // the maillog ("" before any logging)
    // True once `needle` appears in the maillog.
    [[nodiscard]] bool wait_for_log(const std::string& needle,
                                    std::chrono::milliseconds timeout) const;
    // Describes the instance for assertion messages: queue size and the log.
    [[nodiscard]] std::string describe() const;

private:
    [[nodiscard]] std::string write_config() const;
    [[nodiscard]] std::string spawn_master(bool& exited);

    PostfixOptions m_options;
    TempDir m_dir;
    std::filesystem::path m_config_dir, m_queue_dir, m_data_dir, m_maillog, m_master_out;
    std::string m_name;  // syslog_name and myhostname label, unique per instance
    int m_smtp_port = 0;
    daemon::Daemon m_master;  // last: stopped before m_dir is removed
};

}  // namespace ribbon::test
