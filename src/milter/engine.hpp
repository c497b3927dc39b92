// engine.hpp — ribbon's own milter engine: the listener and the command
// loop that serve an MTA over the milter protocol (protocol.hpp), in place
// of libmilter.
//
// Why hand-written rather than Debian's libmilter (issue 17, measured on
// Postfix + `ribbon milter`, ECDSA P-256): libmilter's command loop was 60 %
// of the milter's CPU (27 % in poll), with worker-thread churn (thread
// create/exit ≈ 0.7 per message, futexes) another ≈ 9 %; per message it made
// 91 polls, 54 reads and 21 futex calls, because it polls and reads twice
// per command and hands a connection back to its controller after any 1 ms
// gap. A do-nothing filter on libmilter cost 0.39–0.44 ms per message,
// more than the whole signature. The protocol is small and fixed (Sendmail
// 8.14's version 6: a dozen commands, a dozen replies), so an engine that
// reads 64 KiB at a time, handles every complete command it holds, writes
// its replies at once and keeps one thread per MTA connection costs a few
// hundred lines and removes that overhead.
//
// Threads: one per MTA connection at a time (Postfix keeps one milter
// connection per SMTP session, for all its messages), bounded by
// max_connections; a thread whose connection ends waits a while for the
// next one instead of exiting, so a burst of short SMTP sessions does not
// create and destroy a thread each. The Filter of a connection is only
// ever called from its thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "milter/protocol.hpp"
#include "ribbon/error.hpp"

namespace ribbon::milter {

// A filter's answer to one command (libmilter's SMFIS_*).
enum class Status { continue_, accept, reject, tempfail, no_reply };

// What one connection lets the filter do and see: macros, message edits,
// the reply text. Edits are allowed at end of message only, as the
// protocol says; they are queued and written with the final answer (or
// earlier, in pieces, when a replaced body is large).
class Context {
public:
    // The value of a macro the MTA sent (libmilter's smfi_getsymval): the
    // latest stage first (end of header, end of message, DATA, RCPT, MAIL,
    // HELO, CONNECT); "i" and "{i}" name the same macro.
    std::optional<std::string_view> symbol(std::string_view name) const;

    Result<void> add_header(std::string_view name, std::string_view value);
    // index 0 inserts before every field; the MTA counts from its own
    // header, including fields it added itself.
    Result<void> insert_header(std::uint32_t index, std::string_view name, std::string_view value);
    // index: 1-based among the fields called `name`; no value removes it.
    Result<void> change_header(std::string_view name, std::uint32_t index, std::optional<std::string_view> value);
    // Appends to the new body (the first call starts it).
    Result<void> replace_body(std::string_view chunk);
    // Tells the MTA ribbon is still working, resetting its timeout.
    Result<void> progress();
    // The SMTP reply used when this command's answer is tempfail or reject
    // (a code of the other class is ignored, as libmilter does).
    Result<void> set_reply(std::string_view code, std::string_view xcode, std::string_view text);

    // For the engine and its tests.
    Context(int fd, std::chrono::seconds timeout) : m_fd(fd), m_timeout(timeout) {}
    void set_actions(std::uint32_t actions) noexcept { m_actions = actions; }
    void define_macros(const protocol::Macros& m);
    void clear_message_macros();
    void set_in_end_of_message(bool on) noexcept { m_in_eom = on; }
    // Queues the answer for a command, with the reply text if one was set.
    void answer(Status status);
    Result<void> flush();
    std::string& output() noexcept { return m_out; }

private:
    Result<void> edit_allowed(std::uint32_t action, const char* what) const;

    int m_fd;
    std::chrono::seconds m_timeout;
    std::uint32_t m_actions = 0;
    bool m_in_eom = false;
    std::string m_out;
    std::string m_reply;
    // Macros by stage, in libmilter's order (its search runs backwards).
    std::vector<std::pair<std::string, std::string>> m_macros[7];
};

// One MTA connection's filter: created at option negotiation, destroyed
// when the connection closes (or the MTA says QUIT_NC: a new one follows).
// Each method answers one command; the defaults answer as if the step
// were not there.
class Filter {
public:
    virtual ~Filter() = default;
    virtual Status mail(Context&, const std::vector<std::string_view>& /*args*/) { return Status::continue_; }
    virtual Status rcpt(Context&, const std::vector<std::string_view>& /*args*/) { return Status::continue_; }
    virtual Status header(Context&, std::string_view /*name*/, std::string_view /*value*/) { return Status::continue_; }
    virtual Status end_of_header(Context&) { return Status::continue_; }
    virtual Status body(Context&, std::string_view /*chunk*/) { return Status::continue_; }
    virtual Status end_of_message(Context&) { return Status::continue_; }
    virtual void abort(Context&) {}
};

// Option negotiation: given what the MTA offers, the filter to use and what
// it asks for (actions, steps ⊆ offered), or nullptr to refuse the MTA
// (the connection is closed).
using FilterFactory = std::function<std::unique_ptr<Filter>(const protocol::OptNeg& offered, protocol::OptNeg& wanted)>;

// Serves one connection on the calling thread until the MTA quits, a read
// or write fails or times out, the MTA breaks the protocol (logged through
// `on_error`), or `stopping` is set while no message is in progress.
// Returns when the connection is done; the caller closes `fd`.
struct ConnectionHooks {
    std::function<void(const std::string&)> on_error;
    // Called with true when a message starts and false when it ends; the
    // engine uses it to close idle connections on stop.
    std::function<void(bool)> on_message;
    const std::atomic<bool>* stopping = nullptr;
};
void serve_connection(int fd, std::chrono::seconds timeout, const FilterFactory& factory, const ConnectionHooks& hooks);

struct EngineSettings {
    std::string socket;          // "unix:/path", "local:/path", "inet:port@host", "inet:port", "inet6:port@host"
    unsigned socket_mode = 0660; // applied by the caller (privileges)
    std::chrono::seconds timeout{300};
    std::size_t max_connections = 512;
    // On stop: how long messages in progress may take to finish.
    std::chrono::seconds grace{30};
};

class Engine {
public:
    Engine(EngineSettings settings, FilterFactory factory, std::function<void(const std::string&)> log_error);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Opens the socket (a stale unix socket left by a previous run is
    // removed first; any other file there is an error).
    Result<void> listen();
    // Accepts connections until stop(); then waits for the connections to
    // finish (up to the grace) and returns.
    Result<void> run();
    // From any thread: stop accepting, close idle connections, let
    // messages in progress finish.
    void stop();

private:
    struct Connection;
    void start(std::shared_ptr<Connection> c);
    void work();
    void serve(const std::shared_ptr<Connection>& c);
    void close_idle();

    EngineSettings m_settings;
    FilterFactory m_factory;
    std::function<void(const std::string&)> m_log_error;
    int m_listener = -1;
    std::atomic<bool> m_stopping{false};
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::set<std::shared_ptr<Connection>> m_connections;
    // Accepted connections no thread has taken yet, and the threads.
    std::vector<std::shared_ptr<Connection>> m_ready;
    std::condition_variable m_work;
    std::size_t m_threads = 0;
    std::size_t m_idle = 0;
};

}  // namespace ribbon::milter
