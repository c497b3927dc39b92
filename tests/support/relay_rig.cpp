// relay_rig.cpp — see relay_rig.hpp.
#include "support/relay_rig.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "support/milter_rig.hpp"

namespace ribbon::test {

namespace fs = std::filesystem;

RelayRig::RelayRig() : m_config(m_tmp / "ribbon.toml"), m_log(m_tmp / "relay.log") {
    make_daemon_dir(m_tmp.path());
    m_port = pick_free_port();
}

RelayRig::~RelayRig() { m_relay.reset(); }

void RelayRig::write_config(const std::string& relay_extra, const std::string& next_hop, const std::string& extra) {
    std::string hop = next_hop.empty()
                          ? "url = \"smtp://127.0.0.1:" + std::to_string(m_sink.port()) + "\"\ntls = \"none\"\n"
                          : next_hop;
    write_file(m_config, "[keystore]\npath = \"" + (m_tmp / "ids").string() +
                             "\"\n\n[[signer]]\nfrom = \"no-reply@bank.example\"\n\n"
                             "[relay]\nlisten = [\"127.0.0.1:" + std::to_string(m_port) + "\"]\n"
                             "hostname = \"relay.test\"\n"
                             "spool_dir = \"" + (m_tmp / "spool").string() + "\"\n" + relay_extra +
                             "\n[relay.next_hop]\n" + hop + "\n[daemon]\nuser = \"nobody\"\n\n" + extra +
                             default_store(m_tmp.path(), extra));
    ::chmod(m_config.c_str(), 0644);
}

std::string RelayRig::start_relay() {
    if (!fs::exists(m_config)) write_config();
    daemon::SpawnSpec spec;
    spec.argv = {ribbon_binary(), "relay", "-c", m_config.string()};
    spec.output = m_log;
    m_relay = std::make_unique<daemon::Daemon>();
    if (auto e = m_relay->start(spec); !e.empty()) return "cannot start ribbon relay: " + e;
    pid_t pid = m_relay->pid();
    return daemon::wait_until_ready(m_relay, [&] { return daemon::listening(pid, m_port); }, "ribbon relay", m_log);
}

std::string RelayRig::stop_relay(int sig) {
    if (!m_relay) return {};
    ::kill(m_relay->pid(), sig);
    std::string how;
    for (int i = 0; i < 200 && (how = m_relay->reap_if_exited()).empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    m_relay.reset();
    return how;
}

bool RelayRig::relay_running() const { return m_relay && m_relay->running(); }

std::string RelayRig::relay_log() const { return daemon::log_tail(m_log); }

SmtpSubmission RelayRig::send(const std::string& message, const std::string& from,
                              const std::vector<std::string>& rcpts, const std::vector<std::string>& swaks_options) {
    return swaks_submit(m_port, message, from, rcpts, swaks_options);
}

std::string RelayRig::describe() const { return "--- relay log:\n" + relay_log() + "\n--- sink:\n" + m_sink.log(); }

Leaf tls_server_leaf(const fs::path& dir, bool wrong_root) {
    const Pki& p = pki();
    Leaf leaf{dir / (wrong_root ? "tls-wrong.key" : "tls.key"), dir / (wrong_root ? "tls-wrong.pem" : "tls.pem")};
    fs::path csr = dir / "tls.csr";
    auto req = run_process({"openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", leaf.key.string(),
                            "-out", csr.string(), "-subj", "/CN=localhost", "-addext",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    if (req.exit_code != 0) throw std::runtime_error("openssl req: " + req.describe());
    // The wrong root signs with its own key: made here, thrown away with dir.
    fs::path ca = p.root_cert, ca_key = p.root_key;
    if (wrong_root) {
        ca = dir / "wrong-root.pem";
        ca_key = dir / "wrong-root.key";
        auto root = run_process({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                 ca_key.string(), "-out", ca.string(), "-subj", "/CN=Unrelated Test Root",
                                 "-days", "30"});
        if (root.exit_code != 0) throw std::runtime_error("openssl req -x509: " + root.describe());
    }
    auto sign = run_process({"openssl", "x509", "-req", "-in", csr.string(), "-CA", ca.string(), "-CAkey",
                             ca_key.string(), "-CAcreateserial", "-out", leaf.cert.string(), "-days", "30",
                             "-copy_extensions", "copy"});
    if (sign.exit_code != 0) throw std::runtime_error("openssl x509 -req: " + sign.describe());
    const passwd* nobody = ::getpwnam("nobody");
    for (const auto& f : {leaf.key, leaf.cert}) {
        if (nobody != nullptr && ::chown(f.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) {
            throw std::runtime_error("chown " + f.string());
        }
    }
    return leaf;
}

SmtpClient::~SmtpClient() { close(); }

std::string SmtpClient::connect(int port) {
    close();
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (m_fd < 0 || ::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close();
        return {};
    }
    return reply();
}

bool SmtpClient::send(const std::string& bytes) {
    std::size_t off = 0;
    while (m_fd >= 0 && off < bytes.size()) {
        ssize_t n = ::send(m_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return m_fd >= 0;
}

std::string SmtpClient::reply(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (m_fd >= 0) {
        // A reply ends with a line whose fourth character is a space.
        std::size_t start = 0;
        while (true) {
            auto nl = m_in.find("\r\n", start);
            if (nl == std::string::npos) break;
            if (nl - start >= 3 && (nl - start == 3 || m_in[start + 3] == ' ')) {
                std::string r = m_in.substr(0, nl + 2);
                m_in.erase(0, nl + 2);
                return r;
            }
            start = nl + 2;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return {};
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
        char buf[65536];
        ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
        if (n <= 0) return {};
        m_in.append(buf, static_cast<std::size_t>(n));
    }
    return {};
}

std::string SmtpClient::command(const std::string& line) {
    if (!send(line + "\r\n")) return {};
    return reply();
}

bool SmtpClient::closed_by_server(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (m_fd >= 0 && std::chrono::steady_clock::now() < deadline) {
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
        m_in.append(buf, static_cast<std::size_t>(n));
    }
    return false;
}

void SmtpClient::abort() {
    if (m_fd >= 0) ::shutdown(m_fd, SHUT_RDWR);
}

void SmtpClient::close() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
    m_in.clear();
}

int established_to(int port) {
    std::ifstream tcp("/proc/net/tcp");
    char wanted[32];
    std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
    int n = 0;
    std::string line;
    std::getline(tcp, line);  // header
    while (std::getline(tcp, line)) {
        std::istringstream is(line);
        std::string sl, local, remote, state;
        is >> sl >> local >> remote >> state;
        if (remote == wanted && state == "01") ++n;
    }
    return n;
}

int reply_code(const std::string& reply) {
    if (reply.size() < 5) return 0;
    auto previous = reply.rfind("\r\n", reply.size() - 3);
    std::size_t start = previous == std::string::npos ? 0 : previous + 2;
    return std::atoi(reply.substr(start, 3).c_str());
}

}  // namespace ribbon::test
