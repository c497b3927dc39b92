// milter.cpp — the per-message work of `ribbon milter`, as libmilter
// callbacks (Sendmail's milter API, as Postfix implements it: see
// Postfix's MILTER_README and libmilter's smfi_* documentation).
//
// A message is collected as the MTA sends it — header fields, then body
// chunks into a Spool (memory, then an unlinked file above
// milter.spool_threshold) — and signed at end of message by the same
// Signer `ribbon sign` uses. The signed body replaces the old one
// (smfi_replacebody) and the top-level header is edited into the signer's
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

// libmilter hands body chunks of up to 64 KB; the new body goes back in
// pieces of the same size (smfi_replacebody appends on each call).
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

// One MTA connection.
struct Session {
    // Counts the connection open until on_close (a reload keeps the same one).
    std::shared_ptr<daemon::Telemetry> telemetry;
    bool leading_space = false;  // SMFIP_HDR_LEADSPC was negotiated
    bool no_reply_headers = false;  // SMFIP_NR_HDR was negotiated
    bool no_reply_rcpt = false;     // SMFIP_NR_RCPT
    bool no_reply_body = false;     // SMFIP_NR_BODY
    std::unique_ptr<Message> message;
};

Session* session(SMFICTX* ctx) { return static_cast<Session*>(smfi_getpriv(ctx)); }

// Postfix's smtpd creates the queue file only after the first valid RCPT
// (smtpd_delay_open_until_valid_rcpt), so the queue id ({i}) may be
// missing at MAIL FROM; it is asked for again at end of header and of
// message (Postfix sends {i} there by default).
void refresh_queue_id(SMFICTX* ctx, Message& m) {
    if (m.queue_id != "NOQUEUE") return;
    if (const char* id = smfi_getsymval(ctx, const_cast<char*>("i")); id != nullptr && *id != '\0') {
        m.queue_id = id;
    }
}

// A new message, from the event that starts one: MAIL, or without it
// (SMFIP_NOMAIL) the first recipient or header field after the last message.
Message& begin_message(SMFICTX* ctx, Session& s) {
    s.message = std::make_unique<Message>();
    s.message->runtime = current_runtime();
    refresh_queue_id(ctx, *s.message);
    return *s.message;
}

// Answers a message ribbon could not sign as the core decided
// (submit/failure.hpp): on with "accept", else the reply and tempfail or
// reject.
sfsistat answer(SMFICTX* ctx, const Message& m, const submit::Failure& f) {
    m.runtime->telemetry->failed_message(f);
    if (!f.overridden.empty()) log().warn("{}: {}", m.queue_id, f.overridden);
    log().warn("{}: {}", m.queue_id, f.log);
    if (f.passes()) return SMFIS_ACCEPT;
    smfi_setreply(ctx, const_cast<char*>(std::to_string(f.reply.code).c_str()), const_cast<char*>(f.reply.enhanced.c_str()),
                  const_cast<char*>(f.reply.text.c_str()));
    return f.action == FailureAction::reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

sfsistat fail(SMFICTX* ctx, const Message& m, FailureKind kind, const Error& e) {
    return answer(ctx, m, m.submission->fail(kind, e, m.edited));
}

sfsistat fail_internal(SMFICTX* ctx, const Message& m, const std::string& why) {
    return fail(ctx, m, FailureKind::internal_error, internal_error(why));
}

// Receives the signer's output: keeps the header block, streams the body
// to the MTA. Body bytes sent before a failure are harmless only when the
// failure is answered with tempfail or reject (the MTA then drops the
// message's edits); when the configured answer would pass the message on,
// the signer must deliver complete output only.
class ReplacementSink final : public Sink {
public:
    ReplacementSink(SMFICTX* ctx, bool streaming) : m_ctx(ctx), m_streaming(streaming) {}

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
            auto* data = reinterpret_cast<unsigned char*>(m_pending.data() + off);
            if (smfi_replacebody(m_ctx, data, static_cast<int>(n)) != MI_SUCCESS) {
                return transient_error(Errc::io_error, "the MTA did not take the signed body");
            }
            m_sent = true;
            off += n;
        }
        m_pending.erase(0, off);
        return {};
    }

    SMFICTX* m_ctx;
    bool m_streaming;
    bool m_in_body = false;
    bool m_sent = false;
    std::string m_head;
    std::string m_pending;
};

// Applies the header edits; false when the MTA refused one.
bool apply(SMFICTX* ctx, const std::vector<HeaderEdit>& edits, bool leading_space) {
    for (const HeaderEdit& e : edits) {
        std::string value = e.value;
        // Without SMFIP_HDR_LEADSPC the MTA adds the space after the colon.
        if (!leading_space && !value.empty() && value.front() == ' ') value.erase(0, 1);
        char* name = const_cast<char*>(e.name.c_str());
        int rc = MI_FAILURE;
        switch (e.kind) {
            case HeaderEdit::Kind::change: rc = smfi_chgheader(ctx, name, e.index, value.data()); break;
            case HeaderEdit::Kind::remove: rc = smfi_chgheader(ctx, name, e.index, nullptr); break;
            case HeaderEdit::Kind::add: rc = smfi_addheader(ctx, name, value.data()); break;
        }
        if (rc != MI_SUCCESS) return false;
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
sfsistat learn_inbound_header(Message& m) {
    m.inbound = true;
    if (m.runtime->inbound) {
        m.stamping = std::make_unique<InboundFlow>(m.runtime, m.queue_id, m.header_bytes,
                                                   !submit::already_smime(m.header_bytes));
        std::string().swap(m.header_bytes);  // the flow's spool holds them now
        return SMFIS_CONTINUE;
    }
    // S/MIME (the core's answer): the Learner needs the body too.
    if (submit::already_smime(m.header_bytes)) {
        m.inbound_bytes = std::move(m.header_bytes);
        return SMFIS_CONTINUE;
    }
    m.runtime->learning->offer(m.queue_id, std::move(m.header_bytes));
    return SMFIS_ACCEPT;
}

// ---- callbacks --------------------------------------------------------------

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long, unsigned long,
                      unsigned long* want_actions, unsigned long* want_steps, unsigned long*, unsigned long*) {
    constexpr unsigned long kNeed = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY;
    if ((actions & kNeed) != kNeed) {
        log().error("the MTA does not allow header and body changes; ribbon cannot sign through it");
        return SMFIS_REJECT;
    }
    auto* s = new (std::nothrow) Session;
    if (s == nullptr) return SMFIS_TEMPFAIL;
    smfi_setpriv(ctx, s);
    s->telemetry = current_runtime()->telemetry;
    s->telemetry->connection_opened();
    *want_actions = kNeed;
    // Skip the steps ribbon has no use for (MAIL too: nothing of the
    // envelope sender is used, a message begins at its first recipient);
    // keep header values byte for byte; let the MTA stream recipients,
    // header fields and body chunks without waiting for a reply to each
    // (every answer those steps could give is given at end of header or of
    // message instead). Each skipped step or reply is one command or reply
    // less on the socket per message, on both sides.
    *want_steps = steps & (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NOUNKNOWN | SMFIP_NODATA |
                           SMFIP_HDR_LEADSPC | SMFIP_NR_HDR | SMFIP_NR_RCPT | SMFIP_NR_BODY);
    s->leading_space = (*want_steps & SMFIP_HDR_LEADSPC) != 0;
    s->no_reply_headers = (*want_steps & SMFIP_NR_HDR) != 0;
    s->no_reply_rcpt = (*want_steps & SMFIP_NR_RCPT) != 0;
    s->no_reply_body = (*want_steps & SMFIP_NR_BODY) != 0;
    return SMFIS_CONTINUE;
}

sfsistat on_envfrom(SMFICTX* ctx, char**) {
    Session* s = session(ctx);
    if (s == nullptr) return SMFIS_TEMPFAIL;
    begin_message(ctx, *s);
    return SMFIS_CONTINUE;
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    Session* s = session(ctx);
    if (s == nullptr) return SMFIS_TEMPFAIL;  // nothing negotiated: a reply is expected
    if (!s->message || s->message->in_content) begin_message(ctx, *s);
    std::string_view rcpt = argv != nullptr && argv[0] != nullptr ? argv[0] : "";
    while (!rcpt.empty() && (rcpt.front() == '<' || rcpt.front() == ' ')) rcpt.remove_prefix(1);
    while (!rcpt.empty() && (rcpt.back() == '>' || rcpt.back() == ' ')) rcpt.remove_suffix(1);
    if (!rcpt.empty()) s->message->recipients.emplace_back(rcpt);
    return s->no_reply_rcpt ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    Session* s = session(ctx);
    if (s == nullptr) return SMFIS_TEMPFAIL;  // nothing negotiated: a reply is expected
    Message& m = !s->message || s->message->past_eoh ? begin_message(ctx, *s) : *s->message;
    m.in_content = true;
    // Folded lines arrive joined by "\n" (or "\r\n"): kept with "\n" for
    // the edits, written with CRLF for the signer.
    std::string folded = s->leading_space ? "" : " ";
    for (const char* c = value != nullptr ? value : ""; *c != '\0'; ++c) {
        if (*c != '\r') folded.push_back(*c);
    }
    m.header_bytes.append(name).append(":");
    for (char c : folded) {
        if (c == '\n') m.header_bytes.push_back('\r');
        m.header_bytes.push_back(c);
    }
    m.header_bytes.append("\r\n");
    m.headers.push_back({name, std::move(folded)});
    return s->no_reply_headers ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

sfsistat on_eoh(SMFICTX* ctx) {
    Session* s = session(ctx);
    if (s == nullptr) return SMFIS_TEMPFAIL;
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
        return SMFIS_ACCEPT;
    }
    const MilterSettings& ms = m.runtime->config.milter;
    m.spool = std::make_unique<Spool>(ms.spool_threshold, ms.spool_dir, ms.max_message_size);
    if (auto r = m.spool->write(m.header_bytes); !r) return fail_internal(ctx, m, r.error().message());
    std::string().swap(m.header_bytes);  // the spool holds them now
    return SMFIS_CONTINUE;
}

sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t size) {
    Session* s = session(ctx);
    if (s == nullptr) return SMFIS_TEMPFAIL;  // nothing negotiated: a reply is expected
    // With SMFIP_NR_BODY every answer waits for end of message, which
    // tempfails a message that is missing or could not be spooled.
    const sfsistat go_on = s->no_reply_body ? SMFIS_NOREPLY : SMFIS_CONTINUE;
    if (!s->message) return s->no_reply_body ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
    Message& m = *s->message;
    const std::string_view bytes(reinterpret_cast<const char*>(chunk), size);
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
    if (!m.spool || !m.submission) return s->no_reply_body ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
    auto r = m.spool->write(bytes);
    if (r) return go_on;
    // Past [milter] max_message_size the message is refused (bad_message),
    // a spool that cannot be written is an internal error.
    const FailureKind kind = submit::failure_kind(r.error(), false);
    if (!s->no_reply_body) return fail(ctx, m, kind, r.error());
    m.deferred = m.submission->fail(kind, r.error(), m.edited);
    m.spool.reset();
    return SMFIS_NOREPLY;
}

// Learning: the inbound message goes to the queue whole, and on unchanged.
sfsistat learn_inbound_message(Session& s) {
    Message& m = *s.message;
    if (m.inbound_bytes.size() <= kMaxInboundMessage) {
        m.runtime->learning->offer(m.queue_id, std::move(m.inbound_bytes));
    } else {
        log().info("{}: not learned: larger than {} MiB", m.queue_id, kMaxInboundMessage >> 20);
    }
    s.message.reset();
    return SMFIS_ACCEPT;
}

sfsistat on_eom(SMFICTX* ctx) {
    Session* s = session(ctx);
    if (s == nullptr || !s->message) return SMFIS_TEMPFAIL;
    Message& m = *s->message;
    refresh_queue_id(ctx, m);
    if (m.stamping) {
        sfsistat answer = m.stamping->finish(ctx, m.queue_id, m.headers, s->leading_space);
        s->message.reset();
        return answer;
    }
    if (m.inbound) return learn_inbound_message(*s);
    if (m.deferred) return answer(ctx, m, *m.deferred);
    if (!m.spool || !m.submission) return SMFIS_TEMPFAIL;

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
        return SMFIS_ACCEPT;
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
    return SMFIS_CONTINUE;
}

sfsistat on_abort(SMFICTX* ctx) {
    if (Session* s = session(ctx)) s->message.reset();
    return SMFIS_CONTINUE;
}

sfsistat on_close(SMFICTX* ctx) {
    if (Session* s = session(ctx)) s->telemetry->connection_closed();
    delete session(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

}  // namespace

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

smfiDesc& filter_description() {
    static smfiDesc desc = {
        const_cast<char*>("ribbon"),
        SMFI_VERSION,
        SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY,
        nullptr,  // connect
        nullptr,  // helo
        on_envfrom,
        on_envrcpt,
        on_header,
        on_eoh,
        on_body,
        on_eom,
        on_abort,
        on_close,
        nullptr,  // unknown
        nullptr,  // data
        on_negotiate,
    };
    return desc;
}

}  // namespace ribbon::milter
