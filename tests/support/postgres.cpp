// A private PostgreSQL server for the store tests (support/postgres.hpp).
#include "support/postgres.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "support/mta.hpp"  // pick_free_port

namespace ribbon::test {
namespace fs = std::filesystem;

namespace {

// The newest /usr/lib/postgresql/<major>/bin holding initdb and postgres
// (Debian's layout), or RIBBON_PG_BINDIR; "" when there is none.
const fs::path& bindir() {
    static const fs::path dir = [] {
        if (const char* env = std::getenv("RIBBON_PG_BINDIR"); env && *env) return fs::path(env);
        fs::path best;
        int best_major = -1;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
            const fs::path bin = e.path() / "bin";
            const int major = std::atoi(e.path().filename().c_str());
            if (major > best_major && ::access((bin / "initdb").c_str(), X_OK) == 0 &&
                ::access((bin / "postgres").c_str(), X_OK) == 0) {
                best = bin;
                best_major = major;
            }
        }
        return best;
    }();
    return dir;
}

// PostgreSQL refuses to run as root: as root, the server and initdb run as
// this user.
const passwd* server_user() {
    if (const passwd* pw = ::getpwnam("postgres")) return pw;
    return ::getpwnam("nobody");
}

std::vector<std::string> as_user(bool drop, uid_t uid, gid_t gid, std::vector<std::string> argv) {
    if (!drop) return argv;
    std::vector<std::string> cmd = {"setpriv", "--reuid=" + std::to_string(uid),
                                    "--regid=" + std::to_string(gid), "--clear-groups"};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    return cmd;
}

fs::path cache_base() {
    if (const char* c = std::getenv("RIBBON_TEST_CACHE"); c && *c) return c;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return (ec ? fs::temp_directory_path() : exe.parent_path()) / "ribbon-test-cache";
}

// A freshly initdb'ed cluster, made once and kept in the test cache (per
// PostgreSQL version and user, as its files belong to the server's user).
// Throws std::runtime_error with initdb's output when that fails.
fs::path template_cluster(bool drop, uid_t uid, gid_t gid) {
    const fs::path base = cache_base();
    fs::create_directories(base);
    const fs::path dir = base / ("postgres-" + bindir().parent_path().filename().string() + "-uid" +
                                 std::to_string(drop ? uid : ::geteuid()));
    const fs::path lock_path = base / "postgres.lock";
    const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
        if (lock >= 0) ::close(lock);
        throw std::runtime_error("cannot lock " + lock_path.string());
    }
    struct Unlock {
        int fd;
        ~Unlock() { ::close(fd); }
    } unlock{lock};
    if (fs::exists(dir / "complete")) return dir / "data";
    fs::remove_all(dir);
    fs::create_directories(dir);
    TempDir work("ribbon-pg-init");
    fs::permissions(work.path(),
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const fs::path init = work / "init";
    fs::create_directory(init);
    if (drop && ::chown(init.c_str(), uid, gid) != 0)
        throw std::runtime_error("chown " + init.string());
    ProcessOptions o;
    o.cwd = init;  // initdb complains when it cannot read its working directory
    o.env = {{"LC_ALL", "C"}};
    const ProcessResult r = run_process(
        as_user(drop, uid, gid,
                {(bindir() / "initdb").string(), "-D", (init / "data").string(), "-A", "trust",
                 "-U", "ribbon", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}),
        o);
    if (r.exit_code != 0) throw std::runtime_error("initdb: " + r.describe());
    const ProcessResult cp =
        run_process({"cp", "-a", (init / "data").string(), (dir / "data").string()});
    if (cp.exit_code != 0) throw std::runtime_error("cp: " + cp.describe());
    write_file(dir / "complete", "ok\n");
    return dir / "data";
}

struct ConnCloser {
    void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
    void operator()(PGresult* r) const { PQclear(r); }
};

}  // namespace

std::string postgres_unavailable_reason() {
    if (bindir().empty())
        return "PostgreSQL server binaries (initdb, postgres) not found in "
               "/usr/lib/postgresql/*/bin "
               "(set RIBBON_PG_BINDIR)";
    if (::geteuid() == 0 && server_user() == nullptr)
        return "running as root, and neither user postgres nor nobody exists";
    if (::geteuid() == 0 && ::access("/usr/bin/setpriv", X_OK) != 0)
        return "setpriv is not installed";
    return "";
}

PostgresServer::PostgresServer() {
    if (::geteuid() == 0) {
        if (const passwd* pw = server_user()) {
            m_drop = true;
            m_uid = pw->pw_uid;
            m_gid = pw->pw_gid;
        }
    }
    // The server's user must reach its directory.
    fs::permissions(m_tmp.path(),
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    m_data = m_tmp / "data";
    m_log = m_tmp / "postgres.log";
}

PostgresServer::~PostgresServer() { stop(); }

std::string PostgresServer::start() {
    if (running()) return "";
    const bool first = m_port < 0;
    if (first) {
        try {
            const fs::path tmpl = template_cluster(m_drop, m_uid, m_gid);
            const ProcessResult cp = run_process({"cp", "-a", tmpl.string(), m_data.string()});
            if (cp.exit_code != 0) return "copying the cluster: " + cp.describe();
        } catch (const std::exception& e) {
            return e.what();
        }
        const fs::path run = m_tmp / "run";
        fs::create_directory(run);
        if (m_drop && ::chown(run.c_str(), m_uid, m_gid) != 0) return "chown " + run.string();
    }
    std::string error;
    // Another process may take the port between pick_free_port() and the
    // server's bind(); only a first start may move to another one.
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (first) m_port = pick_free_port();
        daemon::SpawnSpec spec;
        spec.output = m_log;
        spec.drop = m_drop;
        spec.uid = m_uid;
        spec.gid = m_gid;
        spec.argv = {(bindir() / "postgres").string(),
                     "-D",
                     m_data.string(),
                     "-p",
                     std::to_string(m_port),
                     "-k",
                     (m_tmp / "run").string(),
                     "-c",
                     "listen_addresses=127.0.0.1",
                     "-c",
                     "fsync=off",
                     "-c",
                     "synchronous_commit=off",
                     "-c",
                     "full_page_writes=off",
                     "-c",
                     "shared_buffers=16MB",
                     "-c",
                     "max_connections=40"};
        m_daemon = std::make_unique<daemon::Daemon>();
        error = m_daemon->start(spec);
        if (!error.empty()) {
            m_daemon.reset();
            return error;
        }
        const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(m_port) +
                                     " dbname=postgres user=ribbon connect_timeout=2";
        error = daemon::wait_until_ready(
            m_daemon, [&] { return PQping(conninfo.c_str()) == PQPING_OK; }, "postgres", m_log);
        if (error.empty()) return "";
        stop();
        if (!first || error.find("already in use") == std::string::npos) break;
    }
    return error;
}

void PostgresServer::stop() {
    if (!m_daemon) return;
    // SIGINT is PostgreSQL's fast shutdown: clients are disconnected rather
    // than waited for (SIGTERM, which Daemon::stop sends, waits for them).
    if (m_daemon->running()) ::kill(m_daemon->pid(), SIGINT);
    m_daemon->stop(std::chrono::seconds(10));
    m_daemon.reset();
}

std::string PostgresServer::create_database(const std::string& name) {
    const std::string conninfo =
        "host=127.0.0.1 port=" + std::to_string(m_port) + " dbname=postgres user=ribbon";
    std::unique_ptr<PGconn, ConnCloser> c(PQconnectdb(conninfo.c_str()));
    if (PQstatus(c.get()) != CONNECTION_OK) return PQerrorMessage(c.get());
    std::unique_ptr<PGresult, ResultClearer> r(
        PQexec(c.get(), ("CREATE DATABASE \"" + name + "\"").c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return PQresultErrorMessage(r.get());
    return "";
}

std::string PostgresServer::url(const std::string& database) const {
    return "postgresql://ribbon@127.0.0.1:" + std::to_string(m_port) + "/" + database;
}

void SuitePostgres::start() {
    if (tried || !postgres_unavailable_reason().empty()) return;
    tried = true;
    server = std::make_unique<PostgresServer>();
    error = server->start();
}

std::string SuitePostgres::fresh_url() {
    // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "x" + string.
    std::string name = "t";
    name += std::to_string(++databases);
    if (const auto why = server->create_database(name); !why.empty())
        throw std::runtime_error("CREATE DATABASE " + name + ": " + why);
    return server->url(name);
}

}  // namespace ribbon::test
