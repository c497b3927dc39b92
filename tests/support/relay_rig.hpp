// A `ribbon relay` between the tests and smtp-sink (support/mta.hpp): the
// keystore holds the test PKI's RSA Digital ID for no-reply@bank.example,
// the next hop is the sink on 127.0.0.1 (plain SMTP unless the test says
// otherwise), and the relay drops to nobody. Plus a raw SMTP client for the
// protocol tests and TLS server certificates from the test PKI.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "support/daemon.hpp"
#include "support/mta.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {

class RelayRig {
public:
    RelayRig();
    ~RelayRig();

    // ribbon.toml: the keystore, [[signer]] for no-reply@bank.example,
    // [relay] on 127.0.0.1:port() plus `relay_extra` lines, [relay.next_hop]
    // (`next_hop` lines, default: the sink, tls = "none"), [daemon] user
    // nobody, then `extra`.
    void write_config(const std::string& relay_extra = {}, const std::string& next_hop = {},
                      const std::string& extra = {});
    // Starts `ribbon relay -c config` and waits until it listens.
    [[nodiscard]] std::string start_relay();
    // Sends `sig` and waits (10 s at most) for the relay to exit; how it
    // ended ("exited with status 0", "killed by signal 6"), or "" when it
    // was not running or did not exit in time (it is killed then).
    std::string stop_relay(int sig = 15);
    [[nodiscard]] bool relay_running() const;
    [[nodiscard]] std::string relay_log() const;
    pid_t relay_pid() const { return m_relay ? m_relay->pid() : -1; }

    int port() const { return m_port; }
    SmtpSink& sink() { return m_sink; }
    const std::filesystem::path& dir() const { return m_tmp.path(); }
    const std::filesystem::path& config_file() const { return m_config; }
    // swaks to the relay.
    SmtpSubmission send(const std::string& message, const std::string& from, const std::vector<std::string>& rcpts,
                        const std::vector<std::string>& swaks_options = {});
    std::string describe() const;

private:
    TempDir m_tmp{"ribbon-relay"};
    std::filesystem::path m_config;
    std::filesystem::path m_log;
    int m_port = 0;
    std::unique_ptr<daemon::Daemon> m_relay;
    SmtpSink m_sink;
};

// A TLS server certificate for "localhost" and 127.0.0.1 issued by the test
// root (or, with `wrong_root`, by an unrelated root), readable by nobody.
Leaf tls_server_leaf(const std::filesystem::path& dir, bool wrong_root = false);

// A plain SMTP client that sends exactly the bytes it is given.
class SmtpClient {
public:
    SmtpClient() = default;
    ~SmtpClient();
    SmtpClient(const SmtpClient&) = delete;
    SmtpClient& operator=(const SmtpClient&) = delete;

    // Connects and returns the greeting ("" when the connection failed).
    std::string connect(int port);
    bool send(const std::string& bytes);
    // The next complete reply (all its lines, CRLF kept); "" on EOF or
    // after `timeout`.
    std::string reply(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // send(line + CRLF), then reply().
    std::string command(const std::string& line);
    // True once the server closed the connection (EOF within `timeout`).
    bool closed_by_server(std::chrono::milliseconds timeout);
    // Shuts the socket down; safe from another thread (ends a blocked send).
    void abort();
    void close();

private:
    int m_fd = -1;
    std::string m_in;
};

// The three-digit code of a reply's last line (0 when there is none).
int reply_code(const std::string& reply);

// TCP connections to 127.0.0.1:port in state ESTABLISHED on the client's
// side (this host's /proc/net/tcp): e.g. the relay's to its next hop.
int established_to(int port);

}  // namespace ribbon::test
