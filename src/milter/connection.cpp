// connection.cpp — one MTA connection: the command loop and the Context
// the filter works through (engine.hpp).
//
// The loop reads up to 64 KiB at a time and handles every complete command
// it holds before reading again; replies and edits gather in one output
// buffer that is written once, before the next read (the MTA only waits
// for a reply after its last command, so nothing it needs is held back).
// The read and write timeouts are the socket's own (SO_RCVTIMEO,
// SO_SNDTIMEO): no poll per read.
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "milter/engine.hpp"

namespace ribbon::milter {

namespace p = protocol;

namespace {

constexpr std::size_t kReadSize = 64 * 1024;
// A replaced body is written in pieces of about this size, so a large
// signed message is never held twice in memory.
constexpr std::size_t kFlushAbove = 256 * 1024;

// Macro stages in libmilter's order; its lookup runs from the last.
int stage_index(char command) {
    switch (command) {
        case p::cmd::connect: return 0;
        case p::cmd::helo: return 1;
        case p::cmd::mail: return 2;
        case p::cmd::rcpt: return 3;
        case p::cmd::data: return 4;
        case p::cmd::body_eob: return 5;
        case p::cmd::eoh: return 6;
        default: return -1;
    }
}

// "{i}" and "i" name the same macro (Postfix sends either form).
std::string_view bare(std::string_view name) {
    if (name.size() >= 2 && name.front() == '{' && name.back() == '}') return name.substr(1, name.size() - 2);
    return name;
}

}  // namespace

std::optional<std::string_view> Context::symbol(std::string_view name) const {
    const std::string_view want = bare(name);
    for (int stage = 6; stage >= 0; --stage) {
        for (const auto& [n, v] : m_macros[stage]) {
            if (bare(n) == want) return std::string_view(v);
        }
    }
    return std::nullopt;
}

void Context::define_macros(const p::Macros& m) {
    const int stage = stage_index(m.stage);
    if (stage < 0) return;  // a stage the lookup never reads (libmilter ignores them too)
    auto& list = m_macros[stage];
    list.clear();
    for (const auto& [n, v] : m.pairs) list.emplace_back(n, v);
}

void Context::clear_message_macros() {
    for (int stage = stage_index(p::cmd::mail); stage < 7; ++stage) m_macros[stage].clear();
}

Result<void> Context::edit_allowed(std::uint32_t action, const char* what) const {
    if (!m_in_eom) return internal_error(std::string("milter: ") + what + " outside end of message");
    if ((m_actions & action) == 0) {
        return internal_error(std::string("milter: the MTA did not allow ") + what + " at option negotiation");
    }
    return {};
}

Result<void> Context::add_header(std::string_view name, std::string_view value) {
    if (auto r = edit_allowed(p::action::add_headers, "adding a header field"); !r) return r;
    if (auto r = p::check_header(name, value); !r) return r;
    p::append_add_header(m_out, name, value);
    return {};
}

Result<void> Context::insert_header(std::uint32_t index, std::string_view name, std::string_view value) {
    if (auto r = edit_allowed(p::action::add_headers, "inserting a header field"); !r) return r;
    if (auto r = p::check_header(name, value); !r) return r;
    p::append_insert_header(m_out, index, name, value);
    return {};
}

Result<void> Context::change_header(std::string_view name, std::uint32_t index,
                                    std::optional<std::string_view> value) {
    if (auto r = edit_allowed(p::action::change_headers, "changing a header field"); !r) return r;
    if (auto r = p::check_header(name, value.value_or("")); !r) return r;
    // An empty value would remove the field instead of emptying it.
    if (value && value->empty()) return internal_error("milter: a header field cannot be changed to an empty value");
    p::append_change_header(m_out, index, name, value.value_or(""));
    return {};
}

Result<void> Context::replace_body(std::string_view chunk) {
    if (auto r = edit_allowed(p::action::change_body, "replacing the body"); !r) return r;
    p::append_replace_body(m_out, chunk);
    if (m_out.size() >= kFlushAbove) return flush();
    return {};
}

Result<void> Context::progress() {
    if (!m_in_eom) return internal_error("milter: progress outside end of message");
    p::append_simple(m_out, p::reply::progress);
    return flush();
}

Result<void> Context::set_reply(std::string_view code, std::string_view xcode, std::string_view text) {
    auto built = p::reply_code_text(code, xcode, text);
    if (!built) return std::move(built).error();
    m_reply = std::move(*built);
    return {};
}

void Context::answer(Status status) {
    switch (status) {
        case Status::no_reply:
        case Status::continue_: p::append_simple(m_out, p::reply::continue_); break;
        case Status::accept: p::append_simple(m_out, p::reply::accept); break;
        case Status::reject:
        case Status::tempfail: {
            // The reply text only when its class matches the answer, as libmilter.
            const char cls = status == Status::reject ? '5' : '4';
            if (!m_reply.empty() && m_reply[0] == cls) {
                p::append_reply_code(m_out, m_reply);
            } else {
                p::append_simple(m_out, status == Status::reject ? p::reply::reject : p::reply::tempfail);
            }
            break;
        }
    }
    m_reply.clear();
}

Result<void> Context::flush() {
    std::size_t off = 0;
    while (off < m_out.size()) {
        ssize_t n = ::send(m_fd, m_out.data() + off, m_out.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
            m_out.clear();
            return transient_error(Errc::io_error, timed_out ? "milter: the MTA took no reply for " +
                                                                   std::to_string(m_timeout.count()) + " s"
                                                             : std::string("milter: writing to the MTA: ") +
                                                                   std::strerror(errno));
        }
        off += static_cast<std::size_t>(n);
    }
    m_out.clear();
    return {};
}

namespace {

// The state of one connection's conversation.
class Conversation {
public:
    Conversation(int fd, std::chrono::seconds timeout, const FilterFactory& factory, const ConnectionHooks& hooks)
        : m_ctx(fd, timeout), m_factory(factory), m_hooks(hooks), m_fd(fd), m_timeout(timeout) {}

    ~Conversation() { in_message(false); }

    // false: close the connection (the reason is logged).
    bool handle(const p::Command& c) {
        if (const auto* o = std::get_if<p::OptNeg>(&c)) return negotiate(*o);
        if (!m_filter) return error("a command before option negotiation");
        if (const auto* m = std::get_if<p::Macros>(&c)) {
            m_ctx.define_macros(*m);
            return true;
        }
        if (const auto* q = std::get_if<p::Quit>(&c)) return quit(*q);
        if (std::holds_alternative<p::Abort>(c)) {
            m_filter->abort(m_ctx);
            end_message();
            return true;
        }
        return std::visit([this](const auto& cmd) { return event(cmd); }, c);
    }

    Context& context() noexcept { return m_ctx; }
    bool busy() const noexcept { return m_in_message; }

    bool error(const std::string& why) {
        if (m_hooks.on_error) m_hooks.on_error("milter: closing the MTA connection: " + why);
        return false;
    }

private:
    bool negotiate(const p::OptNeg& offered) {
        if (m_filter) return error("option negotiation repeated");
        p::OptNeg wanted{};
        m_filter = m_factory(offered, wanted);
        if (!m_filter) return false;  // the factory said why
        m_offered = offered;
        m_wanted = {std::min(p::kVersion, offered.version), wanted.actions & offered.actions,
                    wanted.steps & offered.steps};
        m_ctx.set_actions(m_wanted.actions);
        p::append_optneg(m_ctx.output(), m_wanted);
        return true;
    }

    bool quit(const p::Quit& q) {
        if (!q.new_connection_follows) return false;
        // QUIT_NC: the same socket carries a new SMTP connection; the
        // negotiation stands, the filter's state starts afresh.
        end_message();
        m_filter.reset();
        p::OptNeg ignored{};
        m_filter = m_factory(m_offered, ignored);
        m_ctx = Context(m_fd, m_timeout);
        m_ctx.set_actions(m_wanted.actions);
        return m_filter != nullptr;
    }

    // Each event's answer, sent unless the MTA was told not to wait for one.
    bool reply(Status s, std::uint32_t no_reply_step) {
        if ((m_wanted.steps & no_reply_step) == 0) m_ctx.answer(s);
        return true;
    }

    bool event(const p::Connect&) { return reply(Status::continue_, p::step::nr_connect); }
    bool event(const p::Helo&) { return reply(Status::continue_, p::step::nr_helo); }
    bool event(const p::Data&) { return reply(Status::continue_, p::step::nr_data); }
    bool event(const p::Unknown&) { return reply(Status::continue_, p::step::nr_unknown); }
    bool event(const p::Envelope& e) {
        in_message(true);
        if (e.recipient) return reply(m_filter->rcpt(m_ctx, e.args), p::step::nr_rcpt);
        return reply(m_filter->mail(m_ctx, e.args), p::step::nr_mail);
    }
    bool event(const p::Header& h) {
        in_message(true);
        return reply(m_filter->header(m_ctx, h.name, h.value), p::step::nr_header);
    }
    bool event(const p::EndOfHeader&) {
        in_message(true);
        return reply(m_filter->end_of_header(m_ctx), p::step::nr_eoh);
    }
    bool event(const p::Body& b) {
        in_message(true);
        return reply(m_filter->body(m_ctx, b.chunk), p::step::nr_body);
    }
    bool event(const p::EndOfBody& e) {
        in_message(true);
        Status s = Status::continue_;
        // A last chunk carried by end of body is body first (libmilter does
        // the same); a final answer to it ends the message there.
        if (!e.chunk.empty()) s = m_filter->body(m_ctx, e.chunk);
        if (s == Status::continue_ || s == Status::no_reply) {
            m_ctx.set_in_end_of_message(true);
            s = m_filter->end_of_message(m_ctx);
            m_ctx.set_in_end_of_message(false);
        }
        m_ctx.answer(s);
        end_message();
        return true;
    }
    // Handled in handle(); listed so that std::visit covers every command.
    bool event(const p::OptNeg&) { return true; }
    bool event(const p::Macros&) { return true; }
    bool event(const p::Abort&) { return true; }
    bool event(const p::Quit&) { return true; }

    void end_message() {
        m_ctx.clear_message_macros();
        in_message(false);
    }
    void in_message(bool on) {
        if (m_in_message == on) return;
        m_in_message = on;
        if (m_hooks.on_message) m_hooks.on_message(on);
    }

    Context m_ctx;
    const FilterFactory& m_factory;
    const ConnectionHooks& m_hooks;
    std::unique_ptr<Filter> m_filter;
    p::OptNeg m_offered{}, m_wanted{};
    int m_fd;
    std::chrono::seconds m_timeout;
    bool m_in_message = false;
};

void set_timeouts(int fd, std::chrono::seconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count());
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

void serve_connection(int fd, std::chrono::seconds timeout, const FilterFactory& factory,
                      const ConnectionHooks& hooks) {
    set_timeouts(fd, timeout);
    Conversation conv(fd, timeout, factory, hooks);
    p::Decoder decoder;
    std::unique_ptr<char[]> buffer(new char[kReadSize]);
    for (;;) {
        if (hooks.stopping != nullptr && hooks.stopping->load() && !conv.busy()) return;
        const ssize_t n = ::read(fd, buffer.get(), kReadSize);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conv.error("no command from the MTA for " + std::to_string(timeout.count()) + " s");
            return;
        }
        if (n <= 0) return;  // the MTA closed the connection (or it broke)
        decoder.feed(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
        for (;;) {
            auto packet = decoder.next();
            if (!packet) return (void)conv.error(packet.error().message());
            if (!*packet) break;
            auto command = p::parse(**packet);
            if (!command) return (void)conv.error(command.error().message());
            if (!conv.handle(*command)) {
                (void)conv.context().flush();  // e.g. answers before QUIT
                return;
            }
        }
        if (auto r = conv.context().flush(); !r) return (void)conv.error(r.error().message());
    }
}

}  // namespace ribbon::milter
