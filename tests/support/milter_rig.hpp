// A `ribbon milter` wired into a private Postfix that relays to smtp-sink
// (support/mta.hpp): the keystore holds the test PKI's RSA Digital ID for
// no-reply@bank.example, so what arrives at the sink can be checked by
// openssl, NSS and gpgsm against the test root.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "support/daemon.hpp"
#include "support/mta.hpp"
#include "support/process.hpp"

namespace ribbon::test {

// Readies `dir` for a daemon that drops to nobody: dir/ids holds the test
// PKI's RSA Digital ID for no-reply@bank.example, dir/spool is writable.
void make_daemon_dir(const std::filesystem::path& dir);
// "[store] url" for a SQLite file in dir/state (made by make_daemon_dir),
// unless `extra` has a [store] section of its own.
std::string default_store(const std::filesystem::path& dir, const std::string& extra);

class MilterRig {
public:
    MilterRig();
    ~MilterRig();

    // ribbon.toml: the keystore, [[signer]] for no-reply@bank.example, the
    // milter on 127.0.0.1:milter_port(), user nobody; `extra` is appended
    // (later tables: write whole [milter]-free sections, or use
    // `milter_extra` for lines inside [milter]).
    void write_config(const std::string& milter_extra = {}, const std::string& extra = {});
    // Makes write_config() put the milter on a unix socket in dir() (mode
    // 0666) instead of 127.0.0.1:milter_port().
    void use_unix_socket();
    // Replaces the keystore's Digital ID for no-reply@bank.example with
    // these PEM files (the benchmark's ECDSA runs); "" or what failed.
    [[nodiscard]] std::string use_digital_id(const std::filesystem::path& key, const std::filesystem::path& cert,
                                             const std::filesystem::path& chain);
    // Starts `ribbon milter -c config` and waits until it listens.
    [[nodiscard]] std::string start_milter();
    void kill_milter(int sig);
    [[nodiscard]] bool milter_running() const;
    [[nodiscard]] std::string milter_log() const;

    // Starts the sink, then Postfix with the milter for SMTP and sendmail
    // mail (without it when `with_milter` is false: the benchmark's baseline).
    [[nodiscard]] std::string start_mta(const SmtpSinkOptions& sink_options = {},
                                        PostfixOptions postfix_options = {}, bool with_milter = true);

    int milter_port() const { return m_port; }
    // The milter as Postfix's smtpd_milters names it.
    std::string milter_socket() const;
    pid_t milter_pid() const { return m_milter ? m_milter->pid() : -1; }
    const std::filesystem::path& dir() const { return m_tmp.path(); }
    const std::filesystem::path& config_file() const { return m_config; }
    std::filesystem::path key_file() const;
    SmtpSink& sink() { return m_sink; }
    Postfix& postfix() { return *m_postfix; }
    // Everything a failing assertion should show.
    std::string describe() const;

private:
    TempDir m_tmp{"ribbon-milter"};
    std::filesystem::path m_config;
    std::filesystem::path m_log;
    int m_port = 0;
    std::filesystem::path m_unix_socket;
    std::unique_ptr<daemon::Daemon> m_milter;
    SmtpSink m_sink;
    std::unique_ptr<Postfix> m_postfix;
};

// A statement notice from `from`, dated a minute ago, with a unique
// Message-ID built from `tag`; CRLF.
std::string notice_from(const std::string& from, const std::string& tag, const std::string& body = "Ready.");

}  // namespace ribbon::test
