// A private PostgreSQL server for the store tests: its own cluster in a
// TempDir, listening on 127.0.0.1 only on a port the kernel picked, trust
// authentication, fsync off. The system's PostgreSQL (if any) is never
// touched.
//
// As root the server runs as the `postgres` user (or `nobody`): PostgreSQL
// refuses to run as root. The postmaster is a support/daemon.hpp Daemon, so
// it dies with the test process even when that crashes. The cluster is
// copied from a template made once by initdb and cached beside the test
// binary (like support/pki.hpp's PKI): each ctest process starts its own
// server, and a copy costs a tenth of an initdb.
//
// Not thread-safe; one object per test suite.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "support/daemon.hpp"
#include "support/process.hpp"

namespace ribbon::test {

// "" when a private PostgreSQL can be run here; else why not, for GTEST_SKIP.
std::string postgres_unavailable_reason();

#define SKIP_WITHOUT_POSTGRES()                                                     \
    do {                                                                            \
        if (auto why = ::ribbon::test::postgres_unavailable_reason(); !why.empty()) \
            GTEST_SKIP() << why;                                                    \
    } while (0)

class PostgresServer {
  public:
    PostgresServer();
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    // "" once it accepts connections, else why not (with its log's tail).
    // The first start creates the cluster; later ones reuse it and the port.
    [[nodiscard]] std::string start();
    // Fast shutdown (clients are disconnected); the data stays.
    void stop();
    [[nodiscard]] bool running() const { return m_daemon && m_daemon->running(); }

    // A new empty database owned by the superuser "ribbon"; "" or why not.
    [[nodiscard]] std::string create_database(const std::string& name);
    // postgresql://ribbon@127.0.0.1:PORT/<database>
    [[nodiscard]] std::string url(const std::string& database) const;
    [[nodiscard]] int port() const { return m_port; }
    // The postmaster, leader of the server's process group; -1 when stopped.
    [[nodiscard]] pid_t pid() const { return m_daemon ? m_daemon->pid() : -1; }

  private:
    TempDir m_tmp{"ribbon-pg"};
    std::filesystem::path m_data, m_log;
    int m_port = -1;
    uid_t m_uid = 0;
    gid_t m_gid = 0;
    bool m_drop = false;
    std::unique_ptr<daemon::Daemon> m_daemon;
};

// One server for a test suite, started by the suite's first test that
// needs it (so a ctest process running one SQLite test starts none) and
// stopped from TearDownTestSuite; each test takes a fresh database.
struct SuitePostgres {
    std::unique_ptr<PostgresServer> server;
    std::string error;  // why start() failed; "" when it did not (or was skipped)
    int databases = 0;
    bool tried = false;

    void start();  // once; nothing when postgres_unavailable_reason() says why
    void stop() {
        server.reset();
        tried = false;
    }
    // The URL of a new, empty database. Throws std::runtime_error.
    std::string fresh_url();
};

// First line of a test on a SuitePostgres: skipped without PostgreSQL,
// failed when it is there but did not start.
#define SKIP_OR_FAIL_WITHOUT_POSTGRES(suite)                                   \
    do {                                                                       \
        SKIP_WITHOUT_POSTGRES();                                               \
        (suite).start();                                                       \
        ASSERT_TRUE((suite).server && (suite).error.empty()) << (suite).error; \
    } while (0)

}  // namespace ribbon::test
