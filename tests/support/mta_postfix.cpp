// The private Postfix instance of support/mta.hpp: configuration written
// from scratch (nothing taken from /etc/postfix except the package's
// postfix-files list that `postfix check` uses to create the queue), master
// run in the foreground as our child, submission through swaks and
// Postfix's sendmail. Needs root.
#include "support/daemon.hpp"
#include "support/mta.hpp"

#include <cerrno>
#include <cstring>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace ribbon::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPostfixCommand = "/usr/sbin/postfix";
constexpr const char* kPostqueue = "/usr/sbin/postqueue";
constexpr const char* kSendmail = "/usr/sbin/sendmail";
constexpr const char* kMaster = "/usr/lib/postfix/sbin/master";
constexpr const char* kSwaks = "/usr/bin/swaks";

// Only what relaying to one next hop needs; chroot=n everywhere because the
// queue lives in a TempDir and nothing is copied into a jail. The smtpd line
// is prepended with the instance's port.
constexpr const char* kMasterCf = R"(# service type  private unpriv  chroot  wakeup  maxproc command
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
)";

constexpr const char* kQueues[] = {"maildrop", "incoming", "active", "deferred", "hold"};

int g_instances = 0;

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

// True when 127.0.0.1:port cannot be bound (someone else listens or is
// connected from it).
bool port_taken(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as master does
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool taken =
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EADDRINUSE;
    ::close(fd);
    return taken;
}

// DATA as swaks --no-data-fixup must get it: CRLF lines, leading dots doubled
// (RFC 5321 section 4.5.2), and the final "." without its CRLF, which swaks
// adds.
std::string smtp_data(const std::string& message) {
    std::string crlf = to_crlf(message);
    if (!crlf.empty() && !crlf.ends_with("\r\n")) crlf += "\r\n";
    std::string out;
    out.reserve(crlf.size() + 16);
    bool line_start = true;
    for (char c : crlf) {
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n';
    }
    return out + ".";
}

// The last server reply before swaks said QUIT: the answer to "." when all
// went well, else the reply that made swaks give up. Over TLS swaks marks
// lines "~>" and "<~" instead of "->" and "<-".
void parse_final_reply(SmtpSubmission& s) {
    std::istringstream in(s.transcript);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind(" -> QUIT", 0) == 0 || line.rfind(" ~> QUIT", 0) == 0) break;
        if (line.rfind("<-  ", 0) != 0 && line.rfind("<~  ", 0) != 0 && line.rfind("<** ", 0) != 0 &&
            line.rfind("<~* ", 0) != 0) {
            continue;
        }
        const std::string reply = line.substr(4);
        if (reply.size() < 3 || (reply.size() > 3 && reply[3] == '-')) continue;
        s.final_reply = reply;
        s.final_code = std::atoi(reply.substr(0, 3).c_str());
    }
}

}  // namespace

Postfix::Postfix(PostfixOptions options) : m_options(std::move(options)), m_dir("ribbon-postfix") {
    // Postfix daemons open the data directory and the maillog by absolute
    // path as user postfix, so the TempDir must be searchable.
    fs::permissions(m_dir.path(),
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    m_config_dir = m_dir / "conf";
    m_queue_dir = m_dir / "spool";
    m_data_dir = m_dir / "data";
    m_maillog = m_dir / "maillog";
    m_master_out = m_dir / "master.out";
    m_name = "ribbon-mta-" + std::to_string(::getpid()) + "-" + std::to_string(++g_instances);
}

Postfix::~Postfix() { stop(); }

bool Postfix::running() const { return m_master.running(); }

std::string Postfix::write_config() const {
    const auto& o = m_options;
    std::ostringstream cf;
    cf << "# Written by the ribbon test harness (tests/support/mta_postfix.cpp).\n"
       << "compatibility_level = 3.6\n"
       << "queue_directory = " << m_queue_dir.string() << "\n"
       << "data_directory = " << m_data_dir.string() << "\n"
       << "mail_owner = postfix\n"
       << "setgid_group = postdrop\n"
       << "syslog_name = " << m_name << "\n"
       << "maillog_file = " << m_maillog.string() << "\n"
       << "maillog_file_prefixes = " << m_dir.path().string() << "\n"
       << "myhostname = " << m_name << ".test\n"
       << "myorigin = $myhostname\n"
       << "mydestination =\n"
       << "local_transport = error:5.1.1 local delivery is disabled in the test MTA\n"
       << "alias_maps =\nalias_database =\nlocal_recipient_maps =\n"
       << "biff = no\n"
       << "inet_interfaces = 127.0.0.1\n"
       << "inet_protocols = ipv4\n"
       << "mynetworks = 127.0.0.0/8\n"
       << "smtpd_relay_restrictions = permit_mynetworks, reject\n"
       << "relayhost = [127.0.0.1]:" << o.relay_port << "\n"
       << "smtp_bind_address = 127.0.0.1\n"
       << "smtp_dns_support_level = disabled\n"
       << "smtp_host_lookup = native\n"
       << "smtp_tls_security_level = none\n"
       << "smtpd_tls_security_level = none\n"
       << "queue_run_delay = " << o.queue_run_delay << "\n"
       << "minimal_backoff_time = " << o.minimal_backoff_time << "\n"
       << "maximal_backoff_time = " << o.maximal_backoff_time << "\n"
       << "transport_retry_time = 1s\n"
       << "delay_warning_time = 0h\n"
       << "smtpd_milters = " << o.smtpd_milters << "\n"
       << "non_smtpd_milters = " << o.non_smtpd_milters << "\n"
       << "milter_default_action = " << o.milter_default_action << "\n"
       << "milter_protocol = " << o.milter_protocol << "\n"
       << "milter_connect_timeout = " << o.milter_connect_timeout << "\n"
       << "milter_command_timeout = " << o.milter_command_timeout << "\n"
       << "milter_content_timeout = " << o.milter_content_timeout << "\n"
       << "disable_mime_output_conversion = " << (o.mime_output_conversion ? "no" : "yes") << "\n"
       << "smtpd_discard_ehlo_keywords = " << (o.smtpd_announce_8bitmime ? "" : "8bitmime") << "\n";
    for (const auto& line : o.extra_main_cf) cf << line << "\n";
    try {
        write_file(m_config_dir / "main.cf", cf.str());
        write_file(m_config_dir / "master.cf", "127.0.0.1:" + std::to_string(m_smtp_port) +
                                                   " inet n - n - - smtpd\n" + kMasterCf);
        // Postfix programs re-read a main.cf modified in the last second or
        // two every 300 ms until it looks settled (dict_load_file's guard
        // against reading a file being edited): seconds per command.
        const auto settled = fs::file_time_type::clock::now() - 1min;
        fs::last_write_time(m_config_dir / "main.cf", settled);
        fs::last_write_time(m_config_dir / "master.cf", settled);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

std::string Postfix::start() {
    if (m_master.started()) return "Postfix already runs on port " + std::to_string(m_smtp_port);
    if (auto why = mta_unavailable_reason(); !why.empty()) return why;
    if (m_options.relay_port <= 0) return "PostfixOptions::relay_port is not set";
    std::error_code ec;
    fs::create_directories(m_config_dir, ec);
    fs::create_directories(m_queue_dir, ec);
    fs::create_directories(m_data_dir, ec);
    const passwd* postfix = ::getpwnam("postfix");
    if (::chown(m_data_dir.c_str(), postfix->pw_uid, postfix->pw_gid) != 0)
        return "chown " + m_data_dir.string() + ": " + std::strerror(errno);

    // Creates the queue directories with Postfix's owners and modes
    // (post-install create-missing) and checks the configuration.
    m_smtp_port = pick_free_port();
    if (std::string error = write_config(); !error.empty()) return error;
    const ProcessResult check = run_process({kPostfixCommand, "-c", m_config_dir, "check"});
    if (check.exit_code != 0)
        return "postfix check failed: " + check.describe() + "\n--- maillog ---\n" +
               daemon::log_tail(m_maillog);

    std::string error;
    for (int attempt = 0; attempt < 5; ++attempt) {
        // The port is picked as late as possible: another process (any
        // connect() takes an ephemeral port) can grab it before master binds.
        // master exits silently then (see spawn_master), so any early exit
        // is retried; a configuration error fails every attempt in ms.
        m_smtp_port = pick_free_port();
        if (error = write_config(); !error.empty()) return error;
        bool exited = false;
        if (error = spawn_master(exited); error.empty()) return "";
        if (!exited) break;
    }
    return error;
}

std::string Postfix::spawn_master(bool& exited) {
    daemon::SpawnSpec spec;
    spec.argv = {kMaster, "-d", "-c", m_config_dir.string()};
    spec.output = m_master_out;
    if (std::string error = m_master.start(spec); !error.empty()) return error;
    auto failure = [&](const std::string& what) {
        return what + "\n--- master output ---\n" + daemon::log_tail(m_master_out) +
               "\n--- maillog ---\n" + daemon::log_tail(m_maillog);
    };
    const auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
        if (daemon::listening(m_master.pid(), m_smtp_port)) return "";
        if (const std::string how = m_master.reap_if_exited(); !how.empty()) {
            exited = true;
            // master's own fatal errors at start-up are lost: it logs through
            // postlogd, which it has not started yet, and there is no syslog.
            return failure(
                "Postfix master (smtpd 127.0.0.1:" + std::to_string(m_smtp_port) + ") " + how +
                (port_taken(m_smtp_port) ? ": the port is taken by another process" : ""));
        }
        std::this_thread::sleep_for(10ms);
    }
    m_master.stop(2s);
    return failure("Postfix master did not listen on port " + std::to_string(m_smtp_port) +
                   " within 15s");
}

// master passes SIGTERM on to its process group.
void Postfix::stop() { m_master.stop(5s); }

SmtpSubmission swaks_submit(int port, const std::string& message, const std::string& from,
                            const std::vector<std::string>& rcpts, const std::vector<std::string>& extra) {
    SmtpSubmission s;
    // swaks prompts on stdin (where the message is) for a missing address.
    if (rcpts.empty()) {
        s.transcript = "swaks_submit: no recipients";
        return s;
    }
    ProcessOptions opts;
    opts.stdin_data = smtp_data(message);
    opts.timeout = 60s;
    std::vector<std::string> argv = {kSwaks, "--server", "127.0.0.1:" + std::to_string(port), "--helo",
                                     "ribbon-test-client", "--from", from.empty() ? "<>" : from, "--to", join(rcpts, ","),
                                     "--timeout", "30", "--no-data-fixup", "--data", "-", "--suppress-data",
                                     "--output-file-stderr", "&STDOUT"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const ProcessResult r = run_process(argv, opts);
    s.exit_code = r.exit_code;
    s.transcript = r.out + r.err + r.start_error;
    parse_final_reply(s);
    return s;
}

SmtpSubmission Postfix::submit_smtp(const std::string& message, const std::string& from,
                                    const std::vector<std::string>& rcpts) {
    return swaks_submit(m_smtp_port, message, from, rcpts);
}

ProcessResult Postfix::submit_sendmail(const std::string& message, const std::string& from,
                                       const std::vector<std::string>& rcpts) {
    std::vector<std::string> argv = {kSendmail, "-C", m_config_dir.string(), "-i", "-f",
                                     from,      "--"};
    argv.insert(argv.end(), rcpts.begin(), rcpts.end());
    return run_process(argv, message);
}

ProcessResult Postfix::flush() {
    return run_process({kPostqueue, "-c", m_config_dir.string(), "-f"});
}

int Postfix::queue_size() const {
    int n = 0;
    for (const char* queue : kQueues) {
        std::error_code ec;
        for (const auto& f : fs::recursive_directory_iterator(m_queue_dir / queue, ec))
            if (f.is_regular_file()) ++n;
    }
    return n;
}

bool Postfix::wait_queue_size(int size, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (queue_size() != size) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

std::string Postfix::log() const { return daemon::log_tail(m_maillog, 16 << 20); }

bool Postfix::wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (log().find(needle) == std::string::npos) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

std::string Postfix::describe() const {
    return "Postfix " + m_name + " smtpd 127.0.0.1:" + std::to_string(m_smtp_port) +
           " relay [127.0.0.1]:" + std::to_string(m_options.relay_port) +
           (running() ? " running" : " not running") +
           ", queue_size=" + std::to_string(queue_size()) + "\n--- maillog ---\n" +
           daemon::log_tail(m_maillog);
}

}  // namespace ribbon::test
