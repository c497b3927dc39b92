// http::Server (src/http/server.cpp), spoken to by curl: GET and HEAD
// answered by the handler, other methods refused, the loopback rule, HTTP
// Basic, TLS with a certificate openssl made, and the request limits.
#include "http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace ribbon::http {
namespace {

using test::run_process;

// What curl saw: the status line and headers (-i), then the body.
test::ProcessResult curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl", "-sS", "-i", "--max-time", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
}

std::string url(const Server& s, const std::string& path, const std::string& host = "127.0.0.1") {
    return std::string(s.tls() ? "https" : "http") + "://" + host + ":" + std::to_string(s.port()) + path;
}

struct Served {
    std::atomic<int> calls{0};
    Request last;
    Handler handler() {
        return [this](const Request& r) {
            ++calls;
            last = r;
            if (r.path == "/throw") throw std::runtime_error("boom");
            Response out;
            out.body = "hello " + r.path + "\n";
            out.headers.emplace_back("X-Ribbon-Test", "1");
            return out;
        };
    }
};

std::unique_ptr<Server> must_start(ServerSettings s, Handler h) {
    s.setting = "test.listen";
    auto r = Server::start(s, std::move(h));
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
}

TEST(HttpServer, GetReachesTheHandlerWithPathAndQuery) {
    Served served;
    auto s = must_start({.listen = "127.0.0.1:0"}, served.handler());
    ASSERT_TRUE(s);
    const auto r = curl({url(*s, "/metrics?name=a%20b")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Cache-Control: no-store\r\n"), std::string::npos);
    EXPECT_NE(r.out.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
    EXPECT_NE(r.out.find("X-Ribbon-Test: 1\r\n"), std::string::npos);
    EXPECT_NE(r.out.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
    EXPECT_TRUE(r.out.ends_with("\r\n\r\nhello /metrics\n")) << r.out;
    EXPECT_EQ(served.last.method, "GET");
    EXPECT_EQ(served.last.path, "/metrics");
    EXPECT_EQ(served.last.query, "name=a%20b");
}

TEST(HttpServer, HeadGivesTheLengthWithoutTheBody) {
    Served served;
    auto s = must_start({.listen = "[::1]:0"}, served.handler());
    ASSERT_TRUE(s);
    const auto r = curl({"-I", url(*s, "/x", "[::1]")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Content-Length: 9\r\n"), std::string::npos) << r.out;  // "hello /x\n"
    EXPECT_TRUE(r.out.ends_with("\r\n\r\n")) << r.out;
}

TEST(HttpServer, OtherMethodsAreRefusedBeforeTheHandler) {
    Served served;
    auto s = must_start({.listen = "127.0.0.1:0"}, served.handler());
    ASSERT_TRUE(s);
    for (const char* method : {"POST", "PUT", "DELETE"}) {
        const auto r = curl({"-X", method, url(*s, "/")});
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_NE(r.out.find("HTTP/1.1 405 Method Not Allowed\r\n"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("Allow: GET, HEAD\r\n"), std::string::npos);
    }
    // A request with a body is refused before its method is looked at.
    const auto body = curl({"--data", "x=1", url(*s, "/")});
    EXPECT_NE(body.out.find("HTTP/1.1 413 Payload Too Large\r\n"), std::string::npos) << body.out;
    EXPECT_EQ(served.calls, 0);
}

TEST(HttpServer, AnExceptionInTheHandlerIs500) {
    Served served;
    auto s = must_start({.listen = "127.0.0.1:0"}, served.handler());
    ASSERT_TRUE(s);
    const auto r = curl({url(*s, "/throw")});
    EXPECT_NE(r.out.find("HTTP/1.1 500 Internal Server Error\r\n"), std::string::npos) << r.out;
    EXPECT_TRUE(r.out.ends_with("Internal error: boom\n"));
    // And it goes on serving.
    EXPECT_NE(curl({url(*s, "/")}).out.find("HTTP/1.1 200 OK"), std::string::npos);
}

TEST(HttpServer, AHugeHeaderIs431) {
    Served served;
    auto s = must_start({.listen = "127.0.0.1:0"}, served.handler());
    ASSERT_TRUE(s);
    const auto r = curl({"-H", "X-Big: " + std::string(9000, 'a'), url(*s, "/")});
    EXPECT_NE(r.out.find("HTTP/1.1 431"), std::string::npos) << r.out;
    EXPECT_EQ(served.calls, 0);
}

TEST(HttpServer, OnlyLoopbackUnlessAllowedAndOnlyAddresses) {
    const Handler h = [](const Request&) { return Response{}; };
    struct Case {
        const char* listen;
        const char* says;
    };
    for (const Case& c : std::vector<Case>{
             {"0.0.0.0:0", "\"0.0.0.0:0\" is not a loopback address (127.0.0.1, ::1)"},
             {"[::]:0", "\"[::]:0\" is not a loopback address"},
             {"192.0.2.1:9425", "\"192.0.2.1:9425\" is not a loopback address"},
             {"localhost:9425", "\"localhost:9425\" is not \"address:port\" with an IP address"},
             {"127.0.0.1", "\"127.0.0.1\" is not \"address:port\""},
         }) {
        auto r = Server::start({.listen = c.listen, .setting = "metrics.listen"}, h);
        ASSERT_FALSE(r.ok()) << c.listen;
        EXPECT_EQ(r.error().code(), Errc::bad_config);
        EXPECT_NE(r.error().message().find(std::string("metrics.listen ") + c.says), std::string::npos)
            << r.error().message();
    }
    EXPECT_TRUE(is_loopback("127.8.9.10"));
    EXPECT_TRUE(is_loopback("::1"));
    EXPECT_TRUE(is_loopback("::ffff:127.0.0.1"));
    EXPECT_FALSE(is_loopback("::ffff:10.0.0.1"));
    EXPECT_FALSE(is_loopback("localhost"));
    auto any = Server::start({.listen = "0.0.0.0:0", .setting = "x", .allow_remote = true}, h);
    EXPECT_TRUE(any.ok()) << any.error().message();
}

TEST(HttpServer, APortInUseIsAnIoError) {
    Served served;
    auto first = must_start({.listen = "127.0.0.1:0"}, served.handler());
    ASSERT_TRUE(first);
    auto second = Server::start(
        {.listen = "127.0.0.1:" + std::to_string(first->port()), .setting = "metrics.listen"},
        served.handler());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), Errc::io_error);
    EXPECT_EQ(second.error().kind(), ErrorKind::transient);
}

TEST(HttpServer, APasswordIsAskedAndChecked) {
    Served served;
    auto s = must_start({.listen = "127.0.0.1:0", .password = "s3cret:with colon"}, served.handler());
    ASSERT_TRUE(s);
    const auto none = curl({url(*s, "/")});
    EXPECT_NE(none.out.find("HTTP/1.1 401 Unauthorized\r\n"), std::string::npos) << none.out;
    EXPECT_NE(none.out.find("WWW-Authenticate: Basic realm=\"ribbon\", charset=\"UTF-8\"\r\n"),
              std::string::npos);
    EXPECT_NE(curl({"-u", "ops:wrong", url(*s, "/")}).out.find("HTTP/1.1 401"), std::string::npos);
    EXPECT_NE(curl({"-u", "ops:s3cret:with colo", url(*s, "/")}).out.find("HTTP/1.1 401"),
              std::string::npos);
    EXPECT_NE(curl({"-H", "Authorization: Basic !!!!", url(*s, "/")}).out.find("HTTP/1.1 401"),
              std::string::npos);
    EXPECT_EQ(served.calls, 0);
    const auto ok = curl({"-u", "ops:s3cret:with colon", url(*s, "/")});
    EXPECT_NE(ok.out.find("HTTP/1.1 200 OK"), std::string::npos) << ok.out;
    EXPECT_EQ(served.calls, 1);
}

TEST(HttpServer, TlsWithACertificateOpensslMade) {
    test::TempDir dir("ribbon-http");
    const auto made = run_process({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                                   "/CN=ribbon test", "-addext", "subjectAltName=IP:127.0.0.1",
                                   "-keyout", (dir / "key.pem").string(), "-out",
                                   (dir / "cert.pem").string()});
    ASSERT_EQ(made.exit_code, 0) << made.describe();
    Served served;
    auto s = must_start({.listen = "127.0.0.1:0",
                         .tls_certificate = dir / "cert.pem",
                         .tls_key = dir / "key.pem"},
                        served.handler());
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->tls());
    const auto r = curl({"--cacert", (dir / "cert.pem").string(), url(*s, "/tls")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(r.out.ends_with("hello /tls\n")) << r.out;
    // Plain HTTP to the TLS port gets no answer.
    const auto plain = curl({"http://127.0.0.1:" + std::to_string(s->port()) + "/"});
    EXPECT_NE(plain.exit_code, 0);
    EXPECT_EQ(served.calls, 1);

    auto missing = Server::start({.listen = "127.0.0.1:0", .setting = "dashboard",
                                  .tls_certificate = dir / "nope.pem", .tls_key = dir / "key.pem"},
                                 served.handler());
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), Errc::bad_config);
    EXPECT_NE(missing.error().message().find("cannot load the TLS certificate"), std::string::npos);
    auto half = Server::start({.listen = "127.0.0.1:0", .setting = "dashboard",
                               .tls_certificate = dir / "cert.pem"},
                              served.handler());
    ASSERT_FALSE(half.ok());
    EXPECT_NE(half.error().message().find("needs both a certificate and a key"), std::string::npos);
}

}  // namespace
}  // namespace ribbon::http
