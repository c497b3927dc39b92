// Test MTAs (support/mta.hpp): smtp-sink and a private Postfix, started as
// children of the test process and never left behind. Trusts the Postfix
// package's binaries; reads only files it created under its TempDirs.
#include "support/mta.hpp"

#include "support/daemon.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <fstream>
#include <grp.h>
#include <iterator>
#include <set>
#include <stdexcept>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace ribbon::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSmtpSink = "/usr/sbin/smtp-sink";
constexpr const char* kBinaries[] = {kSmtpSink,
                                     "/usr/sbin/postfix",
                                     "/usr/sbin/postqueue",
                                     "/usr/sbin/sendmail",
                                     "/usr/lib/postfix/sbin/master",
                                     "/usr/bin/swaks"};

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
    return s;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

// smtp-sink dumps --------------------------------------------------------

std::string address_in(const std::string& args) {
    const auto lt = args.find('<');
    const auto gt = args.find('>', lt == std::string::npos ? 0 : lt);
    if (lt == std::string::npos || gt == std::string::npos) return args;
    return args.substr(lt + 1, gt - lt - 1);
}

// Dump layout (smtp-sink(1) "DUMP FILE FORMAT"): X-Client-Addr, X-Client-Proto,
// [X-Helo-Args], X-Mail-Args, X-Rcpt-Args..., a three-line Received: header,
// the message with LF line ends, then one empty line.
bool parse_dump(const std::string& dump, SinkMessage& m, std::string& error) {
    std::size_t pos = 0;
    auto next_line = [&](std::string& line) {
        const auto nl = dump.find('\n', pos);
        if (nl == std::string::npos) return false;
        line = dump.substr(pos, nl - pos);
        pos = nl + 1;
        return true;
    };
    std::string line;
    while (true) {
        if (!next_line(line)) {
            error = "no Received: line";
            return false;
        }
        auto value = [&](const char* name) { return line.substr(std::strlen(name)); };
        if (line.rfind("X-Helo-Args: ", 0) == 0)
            m.helo = value("X-Helo-Args: ");
        else if (line.rfind("X-Mail-Args: ", 0) == 0)
            m.mail_args = value("X-Mail-Args: ");
        else if (line.rfind("X-Rcpt-Args: ", 0) == 0)
            m.rcpt_args.push_back(value("X-Rcpt-Args: "));
        else if (line.rfind("Received: ", 0) == 0)
            break;
    }
    std::string by, date;
    if (!next_line(by) || !next_line(date) || by.find("(smtp-sink)") == std::string::npos) {
        error = "unexpected smtp-sink Received: header";
        return false;
    }
    std::string body = dump.substr(pos);
    if (body.empty() || body.back() != '\n') {
        error = "dump does not end with the empty line smtp-sink appends";
        return false;
    }
    body.pop_back();
    m.mail_from = address_in(m.mail_args);
    for (const auto& r : m.rcpt_args) m.rcpts.push_back(address_in(r));
    m.data = to_crlf(body);
    return true;
}

}  // namespace

// Free functions -----------------------------------------------------------

std::string mta_unavailable_reason() {
    if (::geteuid() != 0) return "the MTA tests need root (Postfix's master and postdrop)";
    for (const char* p : kBinaries)
        if (::access(p, X_OK) != 0) return std::string(p) + " is not installed";
    if (!::getpwnam("postfix") || !::getgrnam("postdrop"))
        return "user postfix/group postdrop missing";
    return "";
}

int pick_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

std::string strip_received(const std::string& message) {
    std::size_t pos = 0;
    bool in_received = false;
    while (pos < message.size()) {
        const auto nl = message.find('\n', pos);
        const std::size_t end = nl == std::string::npos ? message.size() : nl + 1;
        const char first = message[pos];
        const bool continuation = first == ' ' || first == '\t';
        // RFC 5322 section 2.2: field names are case-insensitive.
        const bool received =
            message.size() - pos >= 9 && upper(message.substr(pos, 9)) == "RECEIVED:";
        if (received)
            in_received = true;
        else if (!(continuation && in_received))
            break;
        pos = end;
    }
    return message.substr(pos);
}

std::string to_crlf(const std::string& message) {
    std::string out;
    out.reserve(message.size() + message.size() / 40);
    for (std::size_t i = 0; i < message.size(); ++i) {
        if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) out += '\r';
        out += message[i];
    }
    return out;
}

// SmtpSink -------------------------------------------------------------------

SmtpSinkOptions SmtpSinkOptions::tempfail_all() {
    SmtpSinkOptions o;
    o.soft_reject = {"MAIL"};
    return o;
}

SmtpSink::SmtpSink() : m_dir("ribbon-sink") {
    // smtp-sink runs as nobody and must reach its dump directory below.
    fs::permissions(m_dir.path(),
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
}

SmtpSink::~SmtpSink() { stop(); }

bool SmtpSink::running() const { return m_daemon.running(); }

std::string SmtpSink::start(const SmtpSinkOptions& options) {
    if (m_daemon.started()) return "smtp-sink already runs on port " + std::to_string(m_port);
    if (options.port != 0) m_port = options.port;
    const bool fixed_port = m_port != 0;

    // A run that fails any step of a transaction never completes one: its
    // dumps (made from MAIL on) are partial or refused, never delivered.
    static const std::set<std::string> kTransactionSteps = {"CONNECT", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "."};
    bool accepts_dot = true;
    for (const auto* list :
         {&options.soft_reject, &options.hard_reject, &options.disconnect, &options.disconnect_421})
        for (const auto& command : *list)
            if (kTransactionSteps.count(command)) accepts_dot = false;
    const Run run{m_dir / ("run" + std::to_string(m_runs.size())), accepts_dot};
    fs::create_directory(run.dir);
    if (::geteuid() == 0) {
        const passwd* nobody = ::getpwnam("nobody");
        if (!nobody) return "no user nobody to run smtp-sink as";
        if (::chown(run.dir.c_str(), nobody->pw_uid, nobody->pw_gid) != 0)
            return "chown " + run.dir.string() + ": " + std::strerror(errno);
    }
    std::string error;
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (!fixed_port) m_port = pick_free_port();
        error = spawn(options, run);
        if (error.empty()) {
            m_runs.push_back(run);
            return "";
        }
        // Another process took the port between pick_free_port() and bind();
        // a fixed port may still be held by a sink being torn down.
        if (error.find("in use") == std::string::npos) break;
        if (fixed_port) std::this_thread::sleep_for(200ms);
    }
    return error;
}

std::string SmtpSink::spawn(const SmtpSinkOptions& options, const Run& run) {
    daemon::SpawnSpec spec;
    spec.output = m_dir / "sink.log";
    auto& a = spec.argv;
    a = {kSmtpSink, "-h", "ribbon-sink-" + std::to_string(::getpid()), "-d",
         (run.dir / "%Y%m%d%H/%M.").string()};
    if (!options.announce_8bitmime) a.push_back("-8");
    auto list = [&](const char* flag, const std::vector<std::string>& commands) {
        if (commands.empty()) return;
        a.push_back(flag);
        a.push_back(join(commands, ","));
    };
    list("-r", options.soft_reject);
    list("-f", options.hard_reject);
    list("-q", options.disconnect);
    list("-Q", options.disconnect_421);
    if (!options.soft_reply.empty()) a.insert(a.end(), {"-b", options.soft_reply});
    if (!options.hard_reply.empty()) a.insert(a.end(), {"-B", options.hard_reply});
    if (options.data_delay_seconds > 0)
        a.insert(a.end(), {"-w", std::to_string(options.data_delay_seconds)});
    for (const auto& w : options.waits) a.insert(a.end(), {"-W", w});
    a.push_back("127.0.0.1:" + std::to_string(m_port));
    a.push_back("64");
    if (::geteuid() == 0) {
        const passwd* nobody = ::getpwnam("nobody");
        spec.drop = true;
        spec.uid = nobody->pw_uid;
        spec.gid = nobody->pw_gid;
    }

    if (std::string error = m_daemon.start(spec); !error.empty()) return error;
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
        if (daemon::listening(m_daemon.pid(), m_port)) return "";
        const std::string how = m_daemon.reap_if_exited();
        if (!how.empty())
            return "smtp-sink on port " + std::to_string(m_port) + " " + how + ":\n" +
                   daemon::log_tail(spec.output);
        std::this_thread::sleep_for(10ms);
    }
    m_daemon.stop(1s);
    return "smtp-sink did not listen on port " + std::to_string(m_port) + " within 10s:\n" +
           daemon::log_tail(spec.output);
}

std::string SmtpSink::restart(const SmtpSinkOptions& options) {
    stop();
    SmtpSinkOptions same_port = options;
    if (same_port.port == 0) same_port.port = m_port;
    return start(same_port);
}

void SmtpSink::stop() { m_daemon.stop(2s); }

std::vector<SinkMessage> SmtpSink::messages() const {
    // A dump is complete once smtp-sink closed it (it keeps one open per
    // transaction in progress), so the directory is listed first and the
    // open files are looked up after: a dump created in between is open.
    // Order: run, then time of the last write (coarse: dumps finished within
    // a few ms of each other may come in either order).
    using Entry = std::tuple<std::size_t, fs::file_time_type, fs::path>;
    std::vector<Entry> dumps;
    for (std::size_t i = 0; i < m_runs.size(); ++i) {
        if (!m_runs[i].accepts_dot) continue;
        std::vector<Entry> listed;
        std::error_code ec;
        // smtp-sink unlinks the dump of a transaction that is aborted (RSET,
        // a dropped connection), so a file listed here may be gone by the
        // time its time is read: it was never a message.
        for (const auto& f : fs::recursive_directory_iterator(m_runs[i].dir, ec)) {
            std::error_code gone;
            if (!f.is_regular_file(gone)) continue;
            const auto when = fs::last_write_time(f.path(), gone);
            if (!gone) listed.emplace_back(i, when, f.path());
        }
        const bool current = i + 1 == m_runs.size() && m_daemon.started();
        const auto open = current ? daemon::open_files_under(m_daemon.pid(), m_runs[i].dir)
                                  : std::set<fs::path>{};
        for (auto& e : listed)
            if (!open.count(std::get<2>(e))) dumps.push_back(std::move(e));
    }
    std::sort(dumps.begin(), dumps.end());
    std::vector<SinkMessage> out;
    for (const auto& [run, when, path] : dumps) {
        SinkMessage m;
        std::string error;
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            if (!fs::exists(path)) continue;  // aborted and unlinked since listed
            throw std::runtime_error("smtp-sink dump " + path.string() + ": cannot open");
        }
        const std::string text{std::istreambuf_iterator<char>(in), {}};
        if (!parse_dump(text, m, error))
            throw std::runtime_error("smtp-sink dump " + path.string() + ": " + error);
        m.dump_file = path;
        out.push_back(std::move(m));
    }
    return out;
}

bool SmtpSink::wait_for(std::size_t count, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (true) {
        if (messages().size() >= count) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
}

std::string SmtpSink::log() const { return daemon::log_tail(m_dir / "sink.log", 1 << 20); }

}  // namespace ribbon::test
