// inbound_flow.cpp — see inbound_flow.hpp.
#include "milter/inbound_flow.hpp"

#include "inbound/forged.hpp"
#include "inbound/stamp.hpp"

namespace ribbon::milter {

namespace {

// What the Learner is given whole (an S/MIME message): larger ones are
// not learned, as before stamping (what customers write by hand is far
// smaller).
constexpr std::size_t kMaxLearnedMessage = 32 * 1024 * 1024;

// A built value (stamp.hpp: leading space, CRLF folds) as the milter
// protocol carries it: folds as "\n" (the MTA adds the CR), and without the leading
// space unless SMFIP_HDR_LEADSPC was negotiated (the MTA adds one).
std::string milter_value(std::string value, bool leading_space) {
    std::erase(value, '\r');
    if (!leading_space && !value.empty() && value.front() == ' ') value.erase(0, 1);
    return value;
}

Status tempfail(Context& ctx) {
    // A fixed, valid reply: set_reply cannot refuse it.
    (void)ctx.set_reply("451", "4.3.0", "Temporary failure verifying the message, try again later");
    return Status::tempfail;
}

}  // namespace

InboundFlow::InboundFlow(std::shared_ptr<const Runtime> runtime, const std::string& queue_id,
                         std::string_view header_bytes, bool learn_header_now)
    : m_runtime(std::move(runtime)),
      m_spool(m_runtime->config.milter.spool_threshold, m_runtime->config.milter.spool_dir,
              m_runtime->config.milter.max_message_size) {
    if (m_runtime->learning) {
        if (learn_header_now) {
            m_runtime->learning->offer(queue_id, std::string(header_bytes));
        } else {
            m_learn_whole = true;
        }
    }
    body(header_bytes);
}

void InboundFlow::body(std::string_view chunk) {
    if (m_spool_error) return;
    if (auto r = m_spool.write(chunk); !r) m_spool_error = r.error();
}

inbound::Assessment InboundFlow::assess() const {
    if (!m_spool_error) return m_runtime->inbound->assess(m_spool.input());
    // Over [milter] max_message_size the message cannot be verified, and
    // never will be here: permerror. A spool that cannot be written is
    // ribbon's failure: temperror.
    if (m_spool_error->code() == Errc::limit_exceeded) {
        inbound::Assessment a;
        a.verify_error = *m_spool_error;
        return a;
    }
    return inbound::Assessment::internal_failure("the message could not be spooled: " + m_spool_error->message());
}

bool InboundFlow::remove_forged(Context& ctx, const std::string& queue_id,
                                const std::vector<HeaderField>& header) const {
    std::vector<inbound::Field> fields;
    fields.reserve(header.size());
    for (const auto& h : header) fields.push_back({h.name, h.value});
    const auto removals = inbound::forged_fields(fields, m_runtime->config.inbound.authserv_id);
    for (const auto& r : removals) {
        if (!ctx.change_header(r.name, static_cast<std::uint32_t>(r.index), std::nullopt)) {
            log().error("{}: inbound: the MTA refused to remove {} #{} that claims to be ribbon's; tempfail",
                        queue_id, r.name, r.index);
            return false;
        }
    }
    if (!removals.empty()) {
        log().warn("{}: inbound: removed {} header field(s) that claimed to be ribbon's (forged or stale)", queue_id,
                   removals.size());
    }
    return true;
}

void InboundFlow::learn(const std::string& queue_id) {
    if (!m_learn_whole) return;
    if (m_spool_error || m_spool.size() > kMaxLearnedMessage) {
        log().info("{}: not learned: larger than {} MiB", queue_id, kMaxLearnedMessage >> 20);
        return;
    }
    std::string whole, buffer;
    whole.reserve(m_spool.size());
    while (whole.size() < m_spool.size()) {
        auto chunk = m_spool.chunk(whole.size(), 1 << 20, buffer);
        if (!chunk || chunk->empty()) {
            log().warn("{}: not learned: the spool could not be read back", queue_id);
            return;
        }
        whole.append(*chunk);
    }
    m_runtime->learning->offer(queue_id, std::move(whole));
}

Status InboundFlow::finish(Context& ctx, const std::string& queue_id, const std::vector<HeaderField>& header,
                             bool leading_space) {
    const InboundSettings& settings = m_runtime->config.inbound;
    const inbound::Assessment a = assess();
    m_runtime->telemetry->inbound_message(a);
    if (a.temperror) {
        log().warn("{}: inbound: temperror: {}", queue_id, a.temperror_reason);
        if (settings.on_internal_error == InboundErrorAction::tempfail) {
            log().warn("{}: tempfail ([inbound] on_internal_error = \"tempfail\")", queue_id);
            return tempfail(ctx);
        }
    }
    if (!remove_forged(ctx, queue_id, header)) return tempfail(ctx);

    const std::string results = inbound::authentication_results(settings.authserv_id, a);
    const std::string continuity = inbound::continuity_header(a);
    // Inserted at the top, the continuity field first so that
    // Authentication-Results ends up above it, as the newest trace field.
    std::string rc_value = milter_value(continuity, leading_space);
    std::string ar_value = milter_value(results, leading_space);
    if (!ctx.insert_header(0, inbound::kRibbonContinuity, rc_value) ||
        !ctx.insert_header(0, inbound::kAuthenticationResults, ar_value)) {
        log().error("{}: inbound: the MTA refused to add ribbon's header fields", queue_id);
        if (settings.on_internal_error == InboundErrorAction::tempfail) return tempfail(ctx);
    } else {
        log().info("{}: inbound: smime={} continuity={}", queue_id,
                   inbound::smime_result_name(inbound::smime_result(a)),
                   continuity.substr(1, continuity.find(';') == std::string::npos ? std::string::npos
                                                                                   : continuity.find(';') - 1));
    }
    learn(queue_id);
    return Status::accept;
}

}  // namespace ribbon::milter
