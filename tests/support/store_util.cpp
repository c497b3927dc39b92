// Helpers for the recipients store tests (support/store_util.hpp).
#include "support/store_util.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ribbon::test {

std::string describe(const Error& e) {
    return std::string(errc_name(e.code())) + "/" + std::string(error_kind_name(e.kind())) + ": " + e.message();
}

namespace {

std::string sqlite_scalar(const std::string& path, const std::string& sql) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
    if (rc != SQLITE_OK)
        throw std::runtime_error("sqlite open " + path + ": " + sqlite3_errstr(rc));
    sqlite3_busy_timeout(db.get(), 5000);
    std::string first;
    bool have = false;
    char* err = nullptr;
    auto on_row = [](void* ctx, int n, char** values, char**) {
        auto* p = static_cast<std::pair<std::string*, bool*>*>(ctx);
        if (!*p->second && n > 0) {
            *p->first = values[0] ? values[0] : "";
            *p->second = true;
        }
        return 0;
    };
    std::pair<std::string*, bool*> ctx{&first, &have};
    if (sqlite3_exec(db.get(), sql.c_str(), on_row, &ctx, &err) != SQLITE_OK) {
        std::string msg = err ? err : "?";
        sqlite3_free(err);
        throw std::runtime_error("sqlite " + sql + ": " + msg);
    }
    return first;
}

std::string postgres_scalar(const std::string& url, const std::string& sql) {
    std::unique_ptr<PGconn, void (*)(PGconn*)> c(PQconnectdb(url.c_str()), PQfinish);
    if (PQstatus(c.get()) != CONNECTION_OK)
        throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c.get()));
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(c.get(), sql.c_str()), PQclear);
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        throw std::runtime_error(sql + ": " + PQresultErrorMessage(r.get()));
    if (st != PGRES_TUPLES_OK || PQntuples(r.get()) == 0) return "";
    return PQgetvalue(r.get(), 0, 0);
}

struct Child {
    pid_t pid = -1;
    int out = -1;
    ChildResult result;
};

Child start_child(const std::function<int(std::string&)>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        ::close(fds[0]);
        std::string say;
        int code = 99;
        try {
            code = body(say);
        } catch (const std::exception& e) {
            say += std::string("exception: ") + e.what();
        }
        std::size_t done = 0;
        while (done < say.size()) {
            const ssize_t n = ::write(fds[1], say.data() + done, say.size() - done);
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        ::_exit(code);
    }
    ::close(fds[1]);
    return Child{pid, fds[0], {}};
}

}  // namespace

std::string raw_sql(const std::string& url, const std::string& sql) {
    if (url.rfind("sqlite://", 0) == 0) return sqlite_scalar(url.substr(9), sql);
    return postgres_scalar(url, sql);
}

std::vector<ChildResult> run_children(int n, const std::function<int(int, std::string&)>& body,
                                      std::chrono::milliseconds timeout) {
    std::vector<Child> children;
    for (int i = 0; i < n; ++i) {
        children.push_back(start_child([&, i](std::string& say) { return body(i, say); }));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t open = children.size();
    while (open > 0) {
        std::vector<pollfd> fds;
        for (auto& c : children)
            if (c.out >= 0) fds.push_back({c.out, POLLIN, 0});
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) continue;
        for (auto& c : children) {
            if (c.out < 0) continue;
            char buf[4096];
            pollfd p{c.out, POLLIN, 0};
            if (::poll(&p, 1, 0) <= 0) continue;
            const ssize_t got = ::read(c.out, buf, sizeof buf);
            if (got > 0) {
                c.result.output.append(buf, static_cast<std::size_t>(got));
            } else {
                ::close(c.out);
                c.out = -1;
                --open;
            }
        }
    }
    std::vector<ChildResult> results;
    for (auto& c : children) {
        if (c.out >= 0) {
            c.result.timed_out = true;
            ::kill(c.pid, SIGKILL);
            ::close(c.out);
        }
        int status = 0;
        ::waitpid(c.pid, &status, 0);
        c.result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        results.push_back(std::move(c.result));
    }
    return results;
}

ChildResult run_child(const std::function<int(std::string&)>& body,
                      std::chrono::milliseconds timeout) {
    return run_children(
               1, [&](int, std::string& say) { return body(say); }, timeout)
        .front();
}

}  // namespace ribbon::test
