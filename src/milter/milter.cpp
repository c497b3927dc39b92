// milter.cpp — the per-message work of `ribbon milter`: the Filter each
// MTA connection gets from ribbon's milter engine (engine.hpp; Sendmail's
// milter protocol as Postfix speaks it, see Postfix's MILTER_README).
//
// A message is collected as the MTA sends it — header fields, then body
// chunks into a Spool (memory, then an unlinked file above
// milter.spool_threshold) — and signed at end of message by the same
// Signer `ribbon sign` uses. The signed body replaces the old one
// (Context::replace_body) and the top-level header is edited into the signer's
// (header_edits.hpp), so the MTA queues what `ribbon sign` would write.
//
// Never losing mail rests on one rule: nothing is accepted as signed until
// every edit has been handed to the MTA, and every failure answers with
// the configured action — tempfail by default, which makes the MTA keep the
// message (and discard any edit already sent).
#include "milter/milter.hpp"

#include <strings.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "milter/header_edits.hpp"
#include "milter/inbound_flow.hpp"
#include "ribbon/io.hpp"
#include "submit/submit.hpp"

namespace ribbon::milter {

namespace {

std::mutex g_runtime_mutex;
std::shared_ptr<const Runtime> g_runtime;
std::shared_ptr<spdlog::logger> g_logger;

// The new body goes to the engine in pieces of this size (each
// Context::replace_body appends; the engine cuts packets of 65535 bytes).
constexpr std::size_t kReplaceChunk = 64 * 1024;

// One message (MAIL FROM to end of message or abort).
struct Message {
    std::shared_ptr<const Runtime> runtime;
    std::string queue_id = "NOQUEUE";
    std::vector<std::string> recipients;  // envelope, without <>
    // Inbound (learned, changed only by stamping): the message collected for the
    // Learner, when its S/MIME body is needed.
    bool inbound = false;
    std::string inbound_bytes;
    // Inbound, stamped ([inbound] verify): inbound_flow.hpp.
    std::unique_ptr<InboundFlow> stamping;
    std::vector<HeaderField> headers;
    std::string header_bytes;  // as the signer will read them: CRLF
    // Outbound: the submission core's plan, made at end of header.
    std::optional<submit::Submission> submission;
    std::unique_ptr<Spool> spool;
    // A body chunk could not be taken while the MTA expects no reply to
    // body chunks (SMFIP_NR_BODY): the answer is given at end of message.
    std::optional<submit::Failure> deferred;
    // The header has begun: an envelope recipient now starts a new message
    // (SMFIP_NOMAIL leaves no MAIL event to start one).
    bool in_content = false;
    bool past_eoh = false;
    // Some edit already reached the MTA: the message can no longer go on
    // as it came, only be tempfailed or rejected (the MTA then drops the
    // edits with the message).
    bool edited = false;
};

// One MTA connection: ribbon's Filter; the engine destroys it when the
// connection closes.
struct Session final : Filter {
    Session() : telemetry(current_runtime()->telemetry) { telemetry->connection_opened(); }
    ~Session() override { telemetry->connection_closed(); }
    Status mail(Context& ctx, const std::vector<std::string_view>& args) override;
    Status rcpt(Context& ctx, const std::vector<std::string_view>& args) override;
    Status header(Context& ctx, std::string_view name, std::string_view value) override;
    Status end_of_header(Context& ctx) override;
    Status body(Context& ctx, std::string_view chunk) override;
    Status end_of_message(Context& ctx) override;
    void abort(Context& ctx) override;

    // Counts the connection open until it closes (a reload keeps the same one).
    std::shared_ptr<daemon::Telemetry> telemetry;
    bool leading_space = false;  // SMFIP_HDR_LEADSPC was negotiated
    bool no_reply_headers = false;  // SMFIP_NR_HDR was negotiated
    bool no_reply_rcpt = false;     // SMFIP_NR_RCPT
    bool no_reply_body = false;     // SMFIP_NR_BODY
    std::unique_ptr<Message> message;
};

// Postfix's smtpd creates the queue file only after the first valid RCPT
// (smtpd_delay_open_until_valid_rcpt), so the queue id ({i}) may be
// missing at MAIL FROM; it is asked for again at end of header and of
// message (Postfix sends {i} there by default).
void refresh_queue_id(Context& ctx, Message& m) {
    if (m.queue_id != "NOQUEUE") return;
    if (auto id = ctx.symbol("i"); id && !id->empty()) m.queue_id = *id;
}

// A new message, from the event that starts one: MAIL, or without it
// (SMFIP_NOMAIL) the first recipient or header field after the last message.
Message& begin_message(Context& ctx, Session& s) {
    s.message = std::make_unique<Message>();
    s.message->runtime = current_runtime();
    refresh_queue_id(ctx, *s.message);
    return *s.message;
}

// Answers a message ribbon could not sign as the core decided
// (submit/failure.hpp): on with "accept", else the reply and tempfail or
// reject.
Status answer(Context& ctx, const Message& m, const submit::Failure& f) {
    m.runtime->telemetry->failed_message(f);
    if (!f.overridden.empty()) log().warn("{}: {}", m.queue_id, f.overridden);
    log().warn("{}: {}", m.queue_id, f.log);
    if (f.passes()) return Status::accept;
    // A reply the MTA would refuse leaves the plain answer (failure.hpp
    // builds only valid ones; this is the engine's own check).
    if (auto r = ctx.set_reply(std::to_string(f.reply.code), f.reply.enhanced, f.reply.text); !r) {
        log().error("{}: {}", m.queue_id, r.error().message());
    }
    return f.action == FailureAction::reject ? Status::reject : Status::tempfail;
}

Status fail(Context& ctx, const Message& m, FailureKind kind, const Error& e) {
    return answer(ctx, m, m.submission->fail(kind, e, m.edited));
}

Status fail_internal(Context& ctx, const Message& m, const std::string& why) {
    return fail(ctx, m, FailureKind::internal_error, internal_error(why));
}

// Receives the signer's output: keeps the header block, streams the body
// to the MTA. Body bytes sent before a failure are harmless only when the
// failure is answered with tempfail or reject (the MTA then drops the
// message's edits); when the configured answer would pass the message on,
// the signer must deliver complete output only.
class ReplacementSink final : public Sink {
public:
    ReplacementSink(Context& ctx, bool streaming) : m_ctx(ctx), m_streaming(streaming) {}

    Result<void> write(std::string_view bytes) override {
        if (!m_in_body) {
            m_head.append(bytes);
            std::size_t end = m_head.find("\r\n\r\n");
            if (end == std::string::npos) return {};
            m_in_body = true;
            std::string rest = m_head.substr(end + 4);
            m_head.resize(end + 2);
            return body(rest);
        }
        return body(bytes);
    }

    bool discards_uncommitted() const noexcept override { return m_streaming; }
    // Whether any of the new body was handed to the MTA.
    bool sent_any() const noexcept { return m_sent; }

    Result<void> finish() { return flush(0); }

    const std::string& head() const noexcept { return m_head; }
    bool complete() const noexcept { return m_in_body; }

private:
    Result<void> body(std::string_view bytes) {
        m_pending.append(bytes);
        return flush(kReplaceChunk);
    }

    Result<void> flush(std::size_t keep_below) {
        std::size_t off = 0;
        while (m_pending.size() - off > keep_below || (keep_below == 0 && off < m_pending.size())) {
            std::size_t n = std::min(kReplaceChunk, m_pending.size() - off);
            if (!m_ctx.replace_body(std::string_view(m_pending).substr(off, n))) {
                return transient_error(Errc::io_error, "the MTA did not take the signed body");
            }
            m_sent = true;
            off += n;
        }
        m_pending.erase(0, off);
        return {};
    }

    Context& m_ctx;
    bool m_streaming;
    bool m_in_body = false;
    bool m_sent = false;
    std::string m_head;
    std::string m_pending;
};

// Applies the header edits; false when the MTA refused one.
bool apply(Context& ctx, const std::vector<HeaderEdit>& edits, bool leading_space) {
    for (const HeaderEdit& e : edits) {
        std::string value = e.value;
        // Without SMFIP_HDR_LEADSPC the MTA adds the space after the colon.
        if (!leading_space && !value.empty() && value.front() == ' ') value.erase(0, 1);
        const auto index = static_cast<std::uint32_t>(e.index);
        Result<void> r;
        switch (e.kind) {
            case HeaderEdit::Kind::change: r = ctx.change_header(e.name, index, value); break;
            case HeaderEdit::Kind::remove: r = ctx.change_header(e.name, index, std::nullopt); break;
            case HeaderEdit::Kind::add: r = ctx.add_header(e.name, value); break;
        }
        if (!r) {
            log().error("{}", r.error().message());
            return false;
        }
    }
    return true;
}

// An inbound message larger than this is not learned: what customers write
// by hand is far smaller, and the whole message is held for the Learner.
constexpr std::size_t kMaxInboundMessage = 32 * 1024 * 1024;

// [milter] role: "inbound" learns from everything; "both" learns from mail
// that ribbon does not sign (no [[signer]] entry for its From) and that is
// addressed to one of the organisation's [learn] domains.
bool inbound(const Message& m, const std::string& from) {
    const Config& config = m.runtime->config;
    switch (config.milter.role) {
        case MilterRole::outbound: return false;
        case MilterRole::inbound: return true;
        case MilterRole::both: break;
    }
    if (!from.empty() && config.signer_for(from) != nullptr) return false;
    for (const auto& rcpt : m.recipients) {
        const std::string domain = rcpt.substr(rcpt.rfind('@') + 1);
        for (const auto& d : config.learn.domains) {  // lower case (config)
            if (::strcasecmp(domain.c_str(), d.c_str()) == 0) return true;
        }
    }
    return false;
}

// An inbound message is never held: its header goes to the learning queue
// now, unless it is S/MIME, whose body the Learner needs. With [inbound]
// verify the whole message is collected to be stamped at the end.
Status learn_inbound_header(Message& m) {
    m.inbound = true;
    if (m.runtime->inbound) {
        m.stamping = std::make_unique<InboundFlow>(m.runtime, m.queue_id, m.header_bytes,
                                                   !submit::already_smime(m.header_bytes));
        std::string().swap(m.header_bytes);  // the flow's spool holds them now
        return Status::continue_;
    }
    // S/MIME (the core's answer): the Learner needs the body too.
    if (submit::already_smime(m.header_bytes)) {
        m.inbound_bytes = std::move(m.header_bytes);
        return Status::continue_;
    }
    m.runtime->learning->offer(m.queue_id, std::move(m.header_bytes));
    return Status::accept;
}

// ---- callbacks --------------------------------------------------------------

// Option negotiation: the connection's Filter, or none (the connection is
// closed) when the MTA would not let ribbon change the header and body.
std::unique_ptr<Filter> negotiate(const protocol::OptNeg& offered, protocol::OptNeg& wanted) {
    namespace a = protocol::action;
    namespace st = protocol::step;
    constexpr std::uint32_t kNeed = a::add_headers | a::change_headers | a::change_body;
    if ((offered.actions & kNeed) != kNeed) {
        log().error("the MTA does not allow header and body changes; ribbon cannot sign through it");
        return nullptr;
    }
    auto s = std::make_unique<Session>();
    wanted.actions = kNeed;
    // Skip the steps ribbon has no use for (MAIL too: nothing of the
    // envelope sender is used, a message begins at its first recipient);
    // keep header values byte for byte; let the MTA stream recipients,
    // header fields and body chunks without waiting for a reply to each
    // (every answer those steps could give is given at end of header or of
    // message instead). Each skipped step or reply is one command or reply
    // less on the socket per message, on both sides.
    wanted.steps = offered.steps & (st::no_connect | st::no_helo | st::no_mail | st::no_unknown | st::no_data |
                                    st::header_leading_space | st::nr_header | st::nr_rcpt | st::nr_body);
    s->leading_space = (wanted.steps & st::header_leading_space) != 0;
    s->no_reply_headers = (wanted.steps & st::nr_header) != 0;
    s->no_reply_rcpt = (wanted.steps & st::nr_rcpt) != 0;
    s->no_reply_body = (wanted.steps & st::nr_body) != 0;
    return s;
}

Status on_envfrom(Context& ctx, Session* s) {
    begin_message(ctx, *s);
    return Status::continue_;
}

Status on_envrcpt(Context& ctx, Session* s, const std::vector<std::string_view>& args) {
    if (!s->message || s->message->in_content) begin_message(ctx, *s);
    std::string_view rcpt = args.empty() ? std::string_view() : args.front();
    while (!rcpt.empty() && (rcpt.front() == '<' || rcpt.front() == ' ')) rcpt.remove_prefix(1);
    while (!rcpt.empty() && (rcpt.back() == '>' || rcpt.back() == ' ')) rcpt.remove_suffix(1);
    if (!rcpt.empty()) s->message->recipients.emplace_back(rcpt);
    return s->no_reply_rcpt ? Status::no_reply : Status::continue_;
}

Status on_header(Context& ctx, Session* s, std::string_view name, std::string_view value) {
    Message& m = !s->message || s->message->past_eoh ? begin_message(ctx, *s) : *s->message;
    m.in_content = true;
    // Folded lines arrive joined by "\n" (or "\r\n"): kept with "\n" for
    // the edits, written with CRLF for the signer.
    std::string folded = s->leading_space ? "" : " ";
    for (char c : value) {
        if (c != '\r') folded.push_back(c);
    }
    m.header_bytes.append(name).append(":");
    for (char c : folded) {
        if (c == '\n') m.header_bytes.push_back('\r');
        m.header_bytes.push_back(c);
    }
    m.header_bytes.append("\r\n");
    m.headers.push_back({std::string(name), std::move(folded)});
    return s->no_reply_headers ? Status::no_reply : Status::continue_;
}

Status on_eoh(Context& ctx, Session* s) {
    Message& m = !s->message || s->message->past_eoh ? begin_message(ctx, *s) : *s->message;
    m.in_content = m.past_eoh = true;
    refresh_queue_id(ctx, m);
    m.header_bytes.append("\r\n");  // the empty line that ends the header
    if (m.runtime->config.milter.role != MilterRole::outbound) {
        auto from = from_address(MessageInput::from_memory(m.header_bytes));
        if (inbound(m, from ? *from : std::string())) return learn_inbound_header(m);
    }
    // The decision is made now, before the body arrives: mail that goes on
    // unsigned is never spooled. The milter cannot split a message, so the
    // plan has one part.
    m.submission.emplace(m.runtime->snapshot(), submit::milter_front_end(m.runtime->config.milter));
    const submit::Plan& plan = m.submission->plan(m.recipients, m.header_bytes);
    m.runtime->telemetry->planned(plan);
    if (plan.failure) return answer(ctx, m, *plan.failure);
    if (!plan.signs()) {
        m.runtime->telemetry->unsigned_message(plan.parts.front().why);
        log().info("{}: {}", m.queue_id, plan.parts.front().log);
        return Status::accept;
    }
    const MilterSettings& ms = m.runtime->config.milter;
    m.spool = std::make_unique<Spool>(ms.spool_threshold, ms.spool_dir, ms.max_message_size);
    if (auto r = m.spool->write(m.header_bytes); !r) return fail_internal(ctx, m, r.error().message());
    std::string().swap(m.header_bytes);  // the spool holds them now
    return Status::continue_;
}

Status on_body(Context& ctx, Session* s, std::string_view bytes) {
    // With SMFIP_NR_BODY every answer waits for end of message, which
    // tempfails a message that is missing or could not be spooled.
    const Status go_on = s->no_reply_body ? Status::no_reply : Status::continue_;
    if (!s->message) return s->no_reply_body ? Status::no_reply : Status::tempfail;
    Message& m = *s->message;
    if (m.stamping) {
        m.stamping->body(bytes);
        return go_on;
    }
    if (m.inbound) {
        // Past the limit the message cannot be learned whole: stop
        // collecting, the Learner then reports it unreadable.
        if (m.inbound_bytes.size() <= kMaxInboundMessage) m.inbound_bytes.append(bytes);
        return go_on;
    }
    if (m.deferred) return go_on;  // refused already: the rest is not kept
    if (!m.spool || !m.submission) return s->no_reply_body ? Status::no_reply : Status::tempfail;
    auto r = m.spool->write(bytes);
    if (r) return go_on;
    // Past [milter] max_message_size the message is refused (bad_message),
    // a spool that cannot be written is an internal error.
    const FailureKind kind = submit::failure_kind(r.error(), false);
    if (!s->no_reply_body) return fail(ctx, m, kind, r.error());
    m.deferred = m.submission->fail(kind, r.error(), m.edited);
    m.spool.reset();
    return Status::no_reply;
}

// Learning: the inbound message goes to the queue whole, and on unchanged.
Status learn_inbound_message(Session& s) {
    Message& m = *s.message;
    if (m.inbound_bytes.size() <= kMaxInboundMessage) {
        m.runtime->learning->offer(m.queue_id, std::move(m.inbound_bytes));
    } else {
        log().info("{}: not learned: larger than {} MiB", m.queue_id, kMaxInboundMessage >> 20);
    }
    s.message.reset();
    return Status::accept;
}

Status on_eom(Context& ctx, Session* s) {
    if (!s->message) return Status::tempfail;
    Message& m = *s->message;
    refresh_queue_id(ctx, m);
    if (m.stamping) {
        Status answer = m.stamping->finish(ctx, m.queue_id, m.headers, s->leading_space);
        s->message.reset();
        return answer;
    }
    if (m.inbound) return learn_inbound_message(*s);
    if (m.deferred) return answer(ctx, m, *m.deferred);
    if (!m.spool || !m.submission) return Status::tempfail;

    ReplacementSink sink(ctx, !m.runtime->config.milter.may_pass_unsigned());
    submit::Target target{sink, false, [&sink] { return sink.sent_any(); }};
    const auto started = std::chrono::steady_clock::now();
    submit::Signed out = m.submission->sign(m.submission->current().parts.front(), m.spool->input(), target);
    const auto took = std::chrono::steady_clock::now() - started;
    Result<void> finished;
    if (out.outcome == submit::Signed::Outcome::signed_) finished = sink.finish();
    m.edited = sink.sent_any();
    if (out.failure) return answer(ctx, m, *out.failure);
    if (out.outcome == submit::Signed::Outcome::unchanged) {
        m.runtime->telemetry->unsigned_message(out.why);
        log().info("{}: {}", m.queue_id, out.log);
        return Status::accept;
    }
    if (!finished) return fail(ctx, m, FailureKind::internal_error, finished.error());
    if (!sink.complete()) return fail_internal(ctx, m, "the signer wrote no message body");

    std::vector<HeaderField> after = split_header_block(sink.head());
    if (!out.trace.empty()) after.push_back({"Ribbon-Signer", out.trace});
    m.edited = true;
    if (!apply(ctx, header_edits(m.headers, after), s->leading_space)) {
        return fail_internal(ctx, m, "the MTA refused a header change");
    }
    m.runtime->telemetry->signed_message(took);
    log().info("{}: {}", m.queue_id, out.log);
    for (const auto& w : out.warnings) log().warn("{}: {}", m.queue_id, w);
    s->message.reset();
    return Status::continue_;
}

}  // namespace

Status Session::mail(Context& ctx, const std::vector<std::string_view>&) { return on_envfrom(ctx, this); }
Status Session::rcpt(Context& ctx, const std::vector<std::string_view>& args) { return on_envrcpt(ctx, this, args); }
Status Session::header(Context& ctx, std::string_view name, std::string_view value) {
    return on_header(ctx, this, name, value);
}
Status Session::end_of_header(Context& ctx) { return on_eoh(ctx, this); }
Status Session::body(Context& ctx, std::string_view chunk) { return on_body(ctx, this, chunk); }
Status Session::end_of_message(Context& ctx) { return on_eom(ctx, this); }
void Session::abort(Context&) { message.reset(); }

FilterFactory filter_factory() { return negotiate; }

void set_runtime(std::shared_ptr<const Runtime> runtime) {
    std::lock_guard lock(g_runtime_mutex);
    g_runtime = std::move(runtime);
}

std::shared_ptr<const Runtime> current_runtime() {
    std::lock_guard lock(g_runtime_mutex);
    return g_runtime;
}

void set_logger(std::shared_ptr<spdlog::logger> logger) { g_logger = std::move(logger); }
spdlog::logger& log() { return *g_logger; }
std::shared_ptr<spdlog::logger> logger() { return g_logger; }

}  // namespace ribbon::milter
