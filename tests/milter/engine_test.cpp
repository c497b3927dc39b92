// ribbon's milter engine (src/milter/engine.hpp) driven by a small MTA side
// written here from the protocol (as Postfix's milter8.c speaks it): over
// a socketpair for the command loop, over a unix socket for the listener.
#include "milter/engine.hpp"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace ribbon::test {
namespace {

namespace p = milter::protocol;
using milter::Context;
using milter::Status;
using namespace std::string_literals;

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// The MTA's end of the connection.
class Mta {
public:
    explicit Mta(int fd) : m_fd(fd) {
        timeval tv{5, 0};  // a broken engine fails the test instead of hanging it
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~Mta() { ::close(m_fd); }
    void send(char command, const std::string& data = {}) { send_raw(be32(data.size() + 1) + command + data); }
    void send_raw(const std::string& bytes) { ASSERT_EQ(::write(m_fd, bytes.data(), bytes.size()), ssize_t(bytes.size())); }
    // The next packet as command + data; "" when the engine closed the connection.
    std::string reply() {
        for (;;) {
            auto next = m_decoder.next();
            if (!next.ok()) return "error";
            if (*next) return (*next)->command + std::string((*next)->data);
            char buffer[4096];
            ssize_t n = ::read(m_fd, buffer, sizeof buffer);
            if (n <= 0) return "";
            m_decoder.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
        }
    }
    void negotiate(std::uint32_t steps = 0x1fffff) {
        send(p::cmd::optneg, be32(6) + be32(0x1ff) + be32(steps));
        EXPECT_EQ(reply().substr(0, 5), "O"s + be32(6));
    }

private:
    int m_fd;
    p::Decoder m_decoder;
};

// A filter that records what it sees and, at end of message, uppercases
// the body, tags the header and answers as the test says.
struct Recorder final : milter::Filter {
    std::vector<std::string>* events;
    Status final_answer = Status::continue_;
    std::string body_seen;
    explicit Recorder(std::vector<std::string>* e) : events(e) {}
    Status rcpt(Context& ctx, const std::vector<std::string_view>& args) override {
        events->push_back("rcpt " + std::string(args.at(0)) + " i=" + std::string(ctx.symbol("{i}").value_or("-")));
        return Status::no_reply;
    }
    Status header(Context&, std::string_view name, std::string_view value) override {
        events->push_back("header " + std::string(name) + ":" + std::string(value));
        return Status::no_reply;
    }
    Status end_of_header(Context&) override {
        events->push_back("eoh");
        return Status::continue_;
    }
    Status body(Context&, std::string_view chunk) override {
        body_seen.append(chunk);
        return Status::no_reply;
    }
    Status end_of_message(Context& ctx) override {
        events->push_back("eom i=" + std::string(ctx.symbol("i").value_or("-")));
        std::string upper = body_seen;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        body_seen.clear();
        if (!ctx.replace_body(upper) || !ctx.add_header("X-Seen", " yes") ||
            !ctx.change_header("Subject", 1, " changed") || !ctx.change_header("X-Old", 1, std::nullopt) ||
            !ctx.insert_header(0, "X-Top", " first")) {
            return Status::tempfail;
        }
        if (final_answer == Status::tempfail) (void)ctx.set_reply("451", "4.3.0", "try later");
        return final_answer;
    }
    void abort(Context&) override { events->push_back("abort"); }
};

// The engine's command loop on one end of a socketpair, the Mta on the other.
struct Rig {
    std::vector<std::string> events;
    std::vector<std::string> errors;
    Status final_answer = Status::continue_;
    std::unique_ptr<Mta> mta;
    std::thread server;

    explicit Rig(std::chrono::seconds timeout = std::chrono::seconds(5)) {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        mta = std::make_unique<Mta>(fds[0]);
        server = std::thread([this, fd = fds[1], timeout] {
            milter::ConnectionHooks hooks;
            hooks.on_error = [this](const std::string& e) { errors.push_back(e); };
            milter::serve_connection(fd, timeout, factory(), hooks);
            ::close(fd);
        });
    }
    ~Rig() { join(); }
    void join() {
        if (server.joinable()) server.join();
    }
    milter::FilterFactory factory() {
        return [this](const p::OptNeg& offered, p::OptNeg& wanted) -> std::unique_ptr<milter::Filter> {
            wanted.actions = p::action::add_headers | p::action::change_headers | p::action::change_body;
            wanted.steps = offered.steps & (p::step::no_connect | p::step::no_helo | p::step::no_mail |
                                            p::step::nr_header | p::step::nr_rcpt | p::step::nr_body |
                                            p::step::header_leading_space);
            auto r = std::make_unique<Recorder>(&events);
            r->final_answer = final_answer;
            return r;
        };
    }
    // One message the way Postfix sends it with the steps above.
    void send_message(const std::string& id, const std::string& body) {
        mta->send(p::cmd::macro, "Ri\0"s + id + "\0"s);
        mta->send(p::cmd::rcpt, "<b@example.org>\0"s);
        mta->send(p::cmd::header, "Subject\0 hello\0"s);
        mta->send(p::cmd::header, "X-Old\0 x\0"s);
        mta->send(p::cmd::macro, "Ni\0"s + id + "\0"s);
        mta->send(p::cmd::eoh);
        EXPECT_EQ(mta->reply(), "c");
        mta->send(p::cmd::body, body);
        mta->send(p::cmd::macro, "E");
        mta->send(p::cmd::body_eob);
    }
};

TEST(MilterEngine, NegotiatesTheFilterAskedStepsWithinWhatTheMtaOffers) {
    Rig rig;
    // The MTA offers no NR_RCPT: the filter cannot have it.
    const std::uint32_t offered = 0x1fffff & ~p::step::nr_rcpt;
    rig.mta->send(p::cmd::optneg, be32(6) + be32(0x1ff) + be32(offered));
    const std::uint32_t steps = p::step::no_connect | p::step::no_helo | p::step::no_mail | p::step::nr_header |
                                p::step::nr_body | p::step::header_leading_space;
    EXPECT_EQ(rig.mta->reply(), "O"s + be32(6) + be32(0x13) + be32(steps));
    rig.mta->send(p::cmd::quit);
    rig.join();
    EXPECT_TRUE(rig.errors.empty());
}

TEST(MilterEngine, AWholeMessageWithBodyReplacementAndHeaderEdits) {
    Rig rig;
    rig.mta->negotiate();
    rig.send_message("Q1", "hello world\r\n");
    EXPECT_EQ(rig.mta->reply(), "bHELLO WORLD\r\n");
    EXPECT_EQ(rig.mta->reply(), "hX-Seen\0 yes\0"s);
    EXPECT_EQ(rig.mta->reply(), "m"s + be32(1) + "Subject\0 changed\0"s);
    EXPECT_EQ(rig.mta->reply(), "m"s + be32(1) + "X-Old\0\0"s);
    EXPECT_EQ(rig.mta->reply(), "i"s + be32(0) + "X-Top\0 first\0"s);
    EXPECT_EQ(rig.mta->reply(), "c");
    rig.mta->send(p::cmd::quit);
    rig.join();
    EXPECT_EQ(rig.events, (std::vector<std::string>{"rcpt <b@example.org> i=Q1", "header Subject: hello",
                                                    "header X-Old: x", "eoh", "eom i=Q1"}));
    EXPECT_TRUE(rig.errors.empty());
}

TEST(MilterEngine, TempfailCarriesTheReplyText) {
    Rig rig;
    rig.final_answer = Status::tempfail;
    rig.mta->negotiate();
    rig.send_message("Q1", "x\r\n");
    for (int i = 0; i < 5; ++i) (void)rig.mta->reply();  // the edits
    EXPECT_EQ(rig.mta->reply(), "y451 4.3.0 try later\0"s);
    rig.mta->send(p::cmd::quit);
}

TEST(MilterEngine, AbortEndsAMessageAndItsMacros) {
    Rig rig;
    rig.mta->negotiate();
    rig.mta->send(p::cmd::macro, "Ri\0Q1\0"s);
    rig.mta->send(p::cmd::rcpt, "<b@example.org>\0"s);
    rig.mta->send(p::cmd::abort);
    // The next message's RCPT comes without a queue id macro: none is left.
    rig.mta->send(p::cmd::rcpt, "<c@example.org>\0"s);
    rig.mta->send(p::cmd::abort);
    rig.mta->send(p::cmd::quit);
    rig.join();
    EXPECT_EQ(rig.events, (std::vector<std::string>{"rcpt <b@example.org> i=Q1", "abort", "rcpt <c@example.org> i=-",
                                                    "abort"}));
}

TEST(MilterEngine, ManyMessagesOnOneConnection) {
    Rig rig;
    rig.mta->negotiate();
    for (int i = 0; i < 200; ++i) {
        const std::string id = "Q"s + std::to_string(i);
        rig.send_message(id, "m"s + std::to_string(i) + "\r\n");
        EXPECT_EQ(rig.mta->reply(), "bM"s + std::to_string(i) + "\r\n");
        for (int e = 0; e < 4; ++e) (void)rig.mta->reply();
        ASSERT_EQ(rig.mta->reply(), "c") << id;
        rig.mta->send(p::cmd::abort);  // Postfix's reset after each message
    }
    rig.mta->send(p::cmd::quit);
    rig.join();
    EXPECT_EQ(rig.events.size(), 200u * 6);
    EXPECT_EQ(rig.events[6 * 199 + 4], "eom i=Q199");
    EXPECT_TRUE(rig.errors.empty());
}

TEST(MilterEngine, AMalformedPacketClosesTheConnection) {
    for (const std::string& bad : {be32(0), be32(p::kMaxPacket + 1), be32(3) + "L\0x"s, be32(1) + "Z"}) {
        Rig rig;
        rig.mta->negotiate();
        rig.mta->send_raw(bad);
        EXPECT_EQ(rig.mta->reply(), "");
        rig.join();
        ASSERT_EQ(rig.errors.size(), 1u);
        EXPECT_EQ(rig.errors[0].rfind("milter: closing the MTA connection: ", 0), 0u) << rig.errors[0];
    }
}

TEST(MilterEngine, ACommandBeforeNegotiationClosesTheConnection) {
    Rig rig;
    rig.mta->send(p::cmd::rcpt, "<b@example.org>\0"s);
    EXPECT_EQ(rig.mta->reply(), "");
    rig.join();
    EXPECT_EQ(rig.errors, std::vector<std::string>{"milter: closing the MTA connection: a command before option negotiation"});
}

TEST(MilterEngine, ASilentMtaTimesOut) {
    Rig rig(std::chrono::seconds(1));
    rig.mta->negotiate();
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(rig.mta->reply(), "");  // closed by the engine
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, std::chrono::milliseconds(900));
    EXPECT_LT(took, std::chrono::seconds(4));
    rig.join();
    EXPECT_EQ(rig.errors, std::vector<std::string>{"milter: closing the MTA connection: no command from the MTA for 1 s"});
}

// QUIT_NC: a new SMTP connection on the same socket; the negotiation
// stands (no new OPTNEG), the filter starts afresh.
TEST(MilterEngine, QuitWithANewConnectionFollowingKeepsTheNegotiation) {
    Rig rig;
    rig.mta->negotiate();
    rig.send_message("Q1", "a\r\n");
    for (int e = 0; e < 5; ++e) (void)rig.mta->reply();
    EXPECT_EQ(rig.mta->reply(), "c");
    rig.mta->send(p::cmd::quit_nc);
    rig.send_message("Q2", "b\r\n");
    EXPECT_EQ(rig.mta->reply(), "bB\r\n");
    for (int e = 0; e < 4; ++e) (void)rig.mta->reply();
    EXPECT_EQ(rig.mta->reply(), "c");
    rig.mta->send(p::cmd::quit);
    rig.join();
    EXPECT_TRUE(rig.errors.empty());
}

TEST(MilterEngine, AFilterThatRefusesTheMtaClosesTheConnection) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    Mta mta(fds[0]);
    std::thread server([fd = fds[1]] {
        milter::ConnectionHooks hooks;
        milter::serve_connection(fd, std::chrono::seconds(5),
                                 [](const p::OptNeg&, p::OptNeg&) { return std::unique_ptr<milter::Filter>(); }, hooks);
        ::close(fd);
    });
    mta.send(p::cmd::optneg, be32(6) + be32(0) + be32(0));
    EXPECT_EQ(mta.reply(), "");
    server.join();
}

TEST(MilterEngine, ProgressIsWrittenAtOnce) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    Mta mta(fds[0]);
    Context ctx(fds[1], std::chrono::seconds(5));
    EXPECT_FALSE(ctx.progress().ok());  // only at end of message
    ctx.set_in_end_of_message(true);
    ASSERT_TRUE(ctx.progress().ok());
    EXPECT_EQ(mta.reply(), "p");
    ::close(fds[1]);
}

TEST(MilterEngine, EditsOutsideEndOfMessageAreRefused) {
    Context ctx(-1, std::chrono::seconds(1));
    ctx.set_actions(p::action::add_headers);
    auto r = ctx.add_header("X", "y");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(), "milter: adding a header field outside end of message");
    ctx.set_in_end_of_message(true);
    EXPECT_TRUE(ctx.add_header("X", "y").ok());
    auto body = ctx.replace_body("x");
    ASSERT_FALSE(body.ok());
    EXPECT_EQ(body.error().message(), "milter: the MTA did not allow replacing the body at option negotiation");
}

int connect_unix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
}

// A listening engine with Recorder filters, run on a thread of its own.
struct Listening {
    std::filesystem::path dir;
    std::string path;
    std::vector<std::string> events;  // written by one connection at a time in these tests
    std::unique_ptr<milter::Engine> engine;
    std::thread runner;

    Listening() {
        dir = std::filesystem::temp_directory_path() / ("ribbon-engine-l-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        path = (dir / "m.sock").string();
        milter::EngineSettings settings;
        settings.socket = "unix:" + path;
        engine = std::make_unique<milter::Engine>(
            settings,
            [this](const p::OptNeg&, p::OptNeg& w) -> std::unique_ptr<milter::Filter> {
                w.actions = p::action::add_headers | p::action::change_headers | p::action::change_body;
                w.steps = p::step::nr_header | p::step::nr_rcpt | p::step::nr_body;
                return std::make_unique<Recorder>(&events);
            },
            [](const std::string&) {});
        EXPECT_TRUE(engine->listen().ok());
        runner = std::thread([this] { EXPECT_TRUE(engine->run().ok()); });
    }
    ~Listening() {
        engine->stop();
        runner.join();
        std::filesystem::remove_all(dir);
    }
};

// One message on a connection negotiated by Listening, up to its final reply.
void whole_message(Mta& mta, const std::string& body) {
    mta.send(p::cmd::rcpt, "<b@example.org>\0"s);
    mta.send(p::cmd::header, "Subject\0 s\0"s);
    mta.send(p::cmd::header, "X-Old\0 x\0"s);
    mta.send(p::cmd::eoh);
    EXPECT_EQ(mta.reply(), "c");
    mta.send(p::cmd::body, body);
    mta.send(p::cmd::body_eob);
    for (int e = 0; e < 5; ++e) (void)mta.reply();  // body and header edits
    EXPECT_EQ(mta.reply(), "c");
}

TEST(MilterEngine, ServesConnectionAfterConnection) {
    Listening l;
    for (int i = 0; i < 50; ++i) {
        Mta mta(connect_unix(l.path));
        mta.negotiate(0x1fffff);
        whole_message(mta, "m\r\n");
        mta.send(p::cmd::quit);
        EXPECT_EQ(mta.reply(), "");
    }
    // Several at once.
    std::vector<std::unique_ptr<Mta>> open;
    for (int i = 0; i < 8; ++i) {
        open.push_back(std::make_unique<Mta>(connect_unix(l.path)));
        open.back()->negotiate(0x1fffff);
    }
    for (auto& mta : open) mta->send(p::cmd::quit);
}

TEST(MilterEngine, StopLetsTheMessageInProgressFinish) {
    Listening l;
    Mta busy(connect_unix(l.path));
    busy.negotiate(0x1fffff);
    Mta idle(connect_unix(l.path));
    idle.negotiate(0x1fffff);
    busy.send(p::cmd::rcpt, "<b@example.org>\0"s);
    busy.send(p::cmd::eoh);
    EXPECT_EQ(busy.reply(), "c");  // the message is in progress
    l.engine->stop();
    EXPECT_EQ(idle.reply(), "");  // closed at once
    busy.send(p::cmd::body, "late\r\n");
    busy.send(p::cmd::body_eob);
    EXPECT_EQ(busy.reply(), "bLATE\r\n");
    for (int e = 0; e < 4; ++e) (void)busy.reply();  // the header edits
    EXPECT_EQ(busy.reply(), "c");
    EXPECT_EQ(busy.reply(), "");  // then closed
}

// The listener: a stale socket is replaced, stop() ends run() with the
// connection closed between messages.
TEST(MilterEngine, ListensOnAUnixSocketAndStops) {
    const auto dir = std::filesystem::temp_directory_path() / ("ribbon-engine-"s + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "m.sock").string();
    {  // a socket left behind by a previous run
        int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ::close(stale);
    }
    std::vector<std::string> events;
    milter::EngineSettings settings;
    settings.socket = "unix:" + path;
    milter::Engine engine(settings, [&](const p::OptNeg&, p::OptNeg& w) -> std::unique_ptr<milter::Filter> {
        w.actions = p::action::add_headers | p::action::change_headers | p::action::change_body;
        return std::make_unique<Recorder>(&events);
    }, [](const std::string&) {});
    ASSERT_TRUE(engine.listen().ok());
    std::thread runner([&] { EXPECT_TRUE(engine.run().ok()); });
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    Mta mta(fd);
    mta.negotiate(0);
    engine.stop();
    EXPECT_EQ(mta.reply(), "");  // idle: closed at once
    runner.join();

    std::ofstream(dir / "file") << "not a socket";
    milter::EngineSettings other = settings;
    other.socket = "unix:" + (dir / "file").string();
    milter::Engine refused(other, nullptr, nullptr);
    auto r = refused.listen();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::bad_config);
    EXPECT_NE(r.error().message().find("is not a socket"), std::string::npos);
    std::filesystem::remove_all(dir);
}

// 127.0.0.1 or ::1 (by `family`) with `port`, in `ss`; its length.
socklen_t loopback(int family, int port, sockaddr_storage& ss) {
    ss = {};
    if (family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(static_cast<std::uint16_t>(port));
        return sizeof *a;
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    return sizeof *a;
}

// A loopback port free at the time of asking (the engine binds it next).
int free_port(int family) {
    int fd = ::socket(family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_storage ss{};
    socklen_t len = loopback(family, 0, ss);
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
    ::close(fd);
    return port;
}

int connect_loopback(int family, int port) {
    int fd = ::socket(family, SOCK_STREAM, 0);
    sockaddr_storage ss{};
    const socklen_t len = loopback(family, port, ss);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
    return fd;
}

// The inet forms of [milter] socket (libmilter's syntax): a numeric IPv4
// address, a host name, and inet6 on ::1 (skipped where the machine has no
// IPv6 loopback). Each serves a negotiation and stops.
TEST(MilterEngine, ListensOnInetSocketsByAddressNameAndIpv6) {
    struct Case {
        const char* prefix;
        const char* host;
        int family;
    };
    for (const Case& c : {Case{"inet:", "127.0.0.1", AF_INET}, Case{"inet:", "localhost", AF_INET},
                          Case{"inet6:", "::1", AF_INET6}}) {
        const int port = free_port(c.family);
        if (port < 0 && c.family == AF_INET6) continue;  // no IPv6 loopback here
        ASSERT_GT(port, 0);
        std::vector<std::string> events;
        milter::EngineSettings settings;
        settings.socket = std::string(c.prefix) + std::to_string(port) + "@" + c.host;
        SCOPED_TRACE(settings.socket);
        milter::Engine engine(settings, [&](const p::OptNeg&, p::OptNeg& w) -> std::unique_ptr<milter::Filter> {
            w.actions = p::action::add_headers;
            return std::make_unique<Recorder>(&events);
        }, [](const std::string&) {});
        auto listening = engine.listen();
        ASSERT_TRUE(listening.ok()) << listening.error().message();
        std::thread runner([&] { EXPECT_TRUE(engine.run().ok()); });
        {
            Mta mta(connect_loopback(c.family, port));
            mta.negotiate(0);
            engine.stop();
            EXPECT_EQ(mta.reply(), "");  // idle: closed at once
        }
        runner.join();
    }
    milter::EngineSettings bad;
    bad.socket = "inet:notaport@127.0.0.1";
    milter::Engine refused(bad, nullptr, nullptr);
    auto r = refused.listen();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::bad_config);
    EXPECT_EQ(r.error().message(), "milter.socket \"inet:notaport@127.0.0.1\": not a usable port@host");
}

}  // namespace
}  // namespace ribbon::test
