// milter_rig.cpp — see milter_rig.hpp.
#include "support/milter_rig.hpp"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <thread>

#include "ribbon/keystore.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"

namespace ribbon::test {

namespace fs = std::filesystem;

namespace {

constexpr const char* kAddress = "no-reply@bank.example";

void chown_tree(const fs::path& root, uid_t uid, gid_t gid) {
    if (::chown(root.c_str(), uid, gid) != 0) throw std::runtime_error("chown " + root.string());
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (::chown(e.path().c_str(), uid, gid) != 0) throw std::runtime_error("chown " + e.path().string());
    }
}

}  // namespace

void make_daemon_dir(const fs::path& dir) {
    // The daemon drops to nobody: it must reach its keystore and config.
    ::chmod(dir.c_str(), 0755);
    const Pki& p = pki();
    Keystore ks(dir / "ids");
    auto added = ks.add(kAddress, read_file(p.rsa.key), read_file(p.rsa.cert), read_file(p.chain));
    if (!added) throw std::runtime_error("keystore: " + added.error().message());
    fs::create_directories(dir / "spool");
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) throw std::runtime_error("no user nobody");
    chown_tree(dir / "ids", nobody->pw_uid, nobody->pw_gid);
    chown_tree(dir / "spool", nobody->pw_uid, nobody->pw_gid);
    fs::create_directories(dir / "state");
    chown_tree(dir / "state", nobody->pw_uid, nobody->pw_gid);
}

std::string default_store(const fs::path& dir, const std::string& extra) {
    if (extra.find("[store]") != std::string::npos) return {};
    return "\n[store]\nurl = \"sqlite://" + (dir / "state" / "ribbon.db").string() + "\"\n";
}

MilterRig::MilterRig() : m_config(m_tmp / "ribbon.toml"), m_log(m_tmp / "milter.log") {
    make_daemon_dir(m_tmp.path());
    m_port = pick_free_port();
    write_config();
}

MilterRig::~MilterRig() {
    m_postfix.reset();
    m_milter.reset();
}

fs::path MilterRig::key_file() const {
    for (const auto& e : fs::directory_iterator(m_tmp / "ids" / kAddress)) {
        if (e.path().extension() == ".key") return e.path();
    }
    return {};
}

void MilterRig::use_unix_socket() {
    m_unix_socket = m_tmp / "milter.sock";
    write_config();
}

std::string MilterRig::use_digital_id(const fs::path& key, const fs::path& cert, const fs::path& chain) {
    fs::remove_all(m_tmp / "ids" / kAddress);
    Keystore ks(m_tmp / "ids");
    auto added = ks.add(kAddress, read_file(key), read_file(cert), read_file(chain));
    if (!added) return "keystore: " + added.error().message();
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) return "no user nobody";
    chown_tree(m_tmp / "ids", nobody->pw_uid, nobody->pw_gid);
    return {};
}

std::string MilterRig::milter_socket() const {
    return m_unix_socket.empty() ? "inet:127.0.0.1:" + std::to_string(m_port) : "unix:" + m_unix_socket.string();
}

void MilterRig::write_config(const std::string& milter_extra, const std::string& extra) {
    std::string socket = m_unix_socket.empty() ? "inet:" + std::to_string(m_port) + "@127.0.0.1"
                                               : "unix:" + m_unix_socket.string() + "\"\nsocket_mode = \"0666";
    write_file(m_config, "[keystore]\npath = \"" + (m_tmp / "ids").string() +
                             "\"\n\n[[signer]]\nfrom = \"no-reply@bank.example\"\n\n"
                             "[milter]\nsocket = \"" + socket + "\"\n"
                             "spool_dir = \"" + (m_tmp / "spool").string() + "\"\n" + milter_extra +
                             "\n[daemon]\nuser = \"nobody\"\n\n" + extra + default_store(m_tmp.path(), extra));
    ::chmod(m_config.c_str(), 0644);
}

std::string MilterRig::start_milter() {
    daemon::SpawnSpec spec;
    spec.argv = {ribbon_binary(), "milter", "-c", m_config.string()};
    spec.output = m_log;
    m_milter = std::make_unique<daemon::Daemon>();
    if (auto e = m_milter->start(spec); !e.empty()) return "cannot start ribbon milter: " + e;
    pid_t pid = m_milter->pid();
    return daemon::wait_until_ready(
        m_milter,
        [&] { return m_unix_socket.empty() ? daemon::listening(pid, m_port) : fs::exists(m_unix_socket); },
        "ribbon milter", m_log);
}

void MilterRig::kill_milter(int sig) {
    if (!m_milter) return;
    ::kill(m_milter->pid(), sig);
    if (sig != SIGKILL && sig != SIGTERM) return;
    for (int i = 0; i < 100 && m_milter->reap_if_exited().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    m_milter.reset();
}

bool MilterRig::milter_running() const { return m_milter && m_milter->running(); }

std::string MilterRig::milter_log() const { return daemon::log_tail(m_log); }

std::string MilterRig::start_mta(const SmtpSinkOptions& sink_options, PostfixOptions postfix_options,
                                 bool with_milter) {
    if (auto e = m_sink.start(sink_options); !e.empty()) return e;
    postfix_options.relay_port = m_sink.port();
    if (with_milter) {
        postfix_options.smtpd_milters = milter_socket();
        postfix_options.non_smtpd_milters = milter_socket();
    }
    m_postfix = std::make_unique<Postfix>(postfix_options);
    return m_postfix->start();
}

std::string MilterRig::describe() const {
    return "--- milter log:\n" + milter_log() + (m_postfix ? "\n--- postfix:\n" + m_postfix->describe() : "");
}

std::string notice_from(const std::string& from, const std::string& tag, const std::string& body) {
    return "From: Bank <" + from + ">\r\nTo: customer@example.org\r\nSubject: Your statement " + tag +
           "\r\nDate: " + rfc5322_date(std::time(nullptr) - 60) + "\r\nMessage-ID: <" + tag +
           "@bank.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n";
}

}  // namespace ribbon::test
