// session_prepare.cpp — see session_prepare.hpp. The same decisions as the
// milter (milter.cpp), answered in SMTP replies instead of milter ones.
#include "relay/session_prepare.hpp"

#include <map>

#include "daemon/daemon.hpp"
#include "ribbon/signer.hpp"

namespace ribbon::relay {

namespace {

// The signer streams into the spool: it is thrown away on any failure, so
// partial output can never reach anyone.
class SpoolSink final : public Sink {
public:
    explicit SpoolSink(Spool& spool) : m_spool(spool) {}
    Result<void> write(std::string_view bytes) override { return m_spool.write(bytes); }
    bool discards_uncommitted() const noexcept override { return true; }

private:
    Spool& m_spool;
};

std::unique_ptr<Spool> new_spool(const RelaySettings& rs) {
    // Signed output or a copy with a trace header: bounded by what a
    // message within max_message_size can become (ribbon/io.hpp).
    return std::make_unique<Spool>(rs.spool_threshold, rs.spool_dir, max_signed_size(rs.max_message_size));
}

// The message as it came, with the trace header on top.
Result<std::unique_ptr<Spool>> unchanged(Job& job) {
    auto spool = new_spool(job.runtime->config.relay);
    Result<void> r = spool->write(job.trace);
    if (r) r = job.received->replay(*spool);
    if (!r) return std::move(r).error();
    return spool;
}

Prepared pass_unchanged(Job& job, std::string outcome) {
    Prepared p;
    auto message = unchanged(job);
    if (!message) {
        p.log.emplace_back(spdlog::level::err, message.error().message());
        p.outcome = "deferred (" + message.error().message() + ")";
        p.refusal = make_reply(451, "4.3.0", "Cannot store the message now, try again later");
        return p;
    }
    p.parts.push_back(Part{job.rcpts, std::move(*message), std::move(outcome)});
    return p;
}

Prepared fail(Job& job, FailureKind kind, const std::string& why) {
    const RelaySettings& rs = job.runtime->config.relay;
    std::string setting(FailureActions::setting_name(kind));
    switch (rs.action_for(kind)) {
        case FailureAction::accept: {
            Prepared p = pass_unchanged(job, "unsigned (" + setting + " = \"accept\": " + why + ")");
            p.log.emplace_back(spdlog::level::warn, "passed on unsigned (" + setting + " = \"accept\"): " + why);
            return p;
        }
        case FailureAction::reject: {
            Prepared p;
            p.outcome = "rejected (" + setting + " = \"reject\": " + why + ")";
            p.refusal = make_reply(554, "5.6.0", daemon::reply_text("ribbon cannot sign this message: ", why));
            return p;
        }
        case FailureAction::tempfail: break;
    }
    Prepared p;
    p.outcome = "deferred (" + setting + " = \"tempfail\": " + why + ")";
    // X.7.5 (RFC 3463): a key needed for a cryptographic operation is
    // missing; everything else is X.3.0, a mail system condition.
    p.refusal = make_reply(451, kind == FailureKind::no_key ? "4.7.5" : "4.3.0",
                           daemon::reply_text("ribbon cannot sign this message now, try again later: ", why));
    return p;
}

// The message signed in `mode`, with the trace header(s) on top, and the
// outcome for the log.
Result<std::pair<std::unique_ptr<Spool>, std::string>> sign_part(Job& job, const SignerRule& rule,
                                                                const ActiveSigner& active, SignMode mode,
                                                                TimePoint now) {
    SignOptions options;
    options.now = now;
    options.header_protection = rule.header_protection;
    options.mode = mode;
    const KeystoreEntry& entry = active.entry;
    auto message = new_spool(job.runtime->config.relay);
    std::string top = job.trace;
    if (rule.trace_header) top += "Ribbon-Signer: " + entry.address + "; serial=" + entry.certificate.serial_hex + "\r\n";
    if (auto r = message->write(top); !r) return internal_error(r.error().message());
    SpoolSink sink(*message);
    auto report = active.signer.sign(job.received->input(), sink, options);
    if (!report) return std::move(report).error();
    std::string outcome = "signed id=" + entry.address + " serial=" + entry.certificate.serial_hex +
                          " mode=" + (mode == SignMode::opaque ? "opaque" : "detached") +
                          " signed_size=" + std::to_string(report->bytes_out) + (report->date_added ? " date=added" : "") +
                          (report->date_replaced ? " date=replaced" : "");
    return std::make_pair(std::move(message), std::move(outcome));
}

Prepared prepare_or_throw(Job& job) {
    const Config& config = job.runtime->config;
    // From is in the header section: the spool's first part is enough
    // (a view of memory, or one read of a spooled file).
    std::string head_buffer;
    auto head = job.received->chunk(0, kMaxHeaderSection, head_buffer);
    if (!head) return fail(job, FailureKind::internal_error, head.error().message());
    auto from = from_address(MessageInput::from_memory(*head));
    if (!from) return pass_unchanged(job, "unsigned (" + from.error().message() + ")");
    const SignerRule* rule = config.signer_for(*from);
    if (rule == nullptr) return pass_unchanged(job, "unsigned (no [[signer]] entry for <" + *from + ">)");

    TimePoint now = std::chrono::system_clock::now();
    auto active = job.runtime->pool->get(*rule, *from, now);
    if (!active) return fail(job, failure_kind(active.error(), true), active.error().message());

    // The recipient policy, per recipient; recipients with the same answer
    // share a part (the relay can split a message, the milter cannot).
    std::map<Treatment, Part> by_treatment;
    for (const auto& rcpt : job.rcpts) {
        auto decision = job.runtime->policy->decide(*rule, rcpt, config.relay.opaque_for);
        if (!decision) return fail(job, FailureKind::internal_error, decision.error().message());
        Part& part = by_treatment[decision->treatment];
        part.rcpts.push_back(rcpt);
        if (decision->treatment == Treatment::plain && part.outcome.empty()) {
            part.outcome = "unsigned (recipient policy: " + decision->reason + ")";
        }
    }

    Prepared p;
    for (auto& [treatment, part] : by_treatment) {
        if (treatment == Treatment::plain) {
            auto message = unchanged(job);
            if (!message) return fail(job, FailureKind::internal_error, message.error().message());
            part.message = std::move(*message);
            p.parts.push_back(std::move(part));
            continue;
        }
        auto signed_part = sign_part(job, *rule, **active, treatment == Treatment::sign_opaque ? SignMode::opaque : SignMode::detached, now);
        if (!signed_part) {
            const Error& e = signed_part.error();
            if (e.code() == Errc::already_signed) return pass_unchanged(job, "unsigned (already S/MIME)");
            return fail(job, failure_kind(e, false), e.message());
        }
        part.message = std::move(signed_part->first);
        part.outcome = std::move(signed_part->second);
        p.parts.push_back(std::move(part));
    }
    for (const auto& w : (*active)->warnings) p.log.emplace_back(spdlog::level::warn, w);
    return p;
}

}  // namespace

Prepared prepare(Job& job) noexcept {
    try {
        return prepare_or_throw(job);
    } catch (const std::exception& e) {
        return fail(job, FailureKind::internal_error, e.what());
    } catch (...) {
        return fail(job, FailureKind::internal_error, "unexpected failure");
    }
}

}  // namespace ribbon::relay
