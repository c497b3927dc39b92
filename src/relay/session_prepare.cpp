// session_prepare.cpp — see session_prepare.hpp. The same decisions as the
// milter (milter.cpp), answered in SMTP replies instead of milter ones.
#include "relay/session_prepare.hpp"

#include <strings.h>

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
    return std::make_unique<Spool>(rs.spool_threshold, rs.spool_dir);
}

// The message as it came, with the trace header on top.
Prepared pass_unchanged(Job& job, std::string outcome) {
    Prepared p;
    p.outcome = std::move(outcome);
    p.message = new_spool(job.runtime->config.relay);
    Result<void> r = p.message->write(job.trace);
    if (r) r = job.received->replay(*p.message);
    if (!r) {
        p.log.emplace_back(spdlog::level::err, r.error().message());
        p.refusal = make_reply(451, "4.3.0", "Cannot store the message now, try again later");
    }
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

    SignOptions options;
    options.now = now;
    options.header_protection = rule->header_protection;
    options.mode = rule->mode;
    for (const auto& rcpt : job.rcpts) {
        auto at = rcpt.rfind('@');
        if (at == std::string::npos) continue;
        for (const auto& domain : config.relay.opaque_for) {  // lower case (config)
            if (::strcasecmp(rcpt.c_str() + at + 1, domain.c_str()) == 0) options.mode = SignMode::opaque;
        }
    }

    const KeystoreEntry& entry = (*active)->entry;
    Prepared p;
    p.message = new_spool(config.relay);
    std::string top = job.trace;
    if (rule->trace_header) top += "Ribbon-Signer: " + entry.address + "; serial=" + entry.certificate.serial_hex + "\r\n";
    if (auto r = p.message->write(top); !r) return fail(job, FailureKind::internal_error, r.error().message());
    SpoolSink sink(*p.message);
    auto report = (*active)->signer.sign(job.received->input(), sink, options);
    if (!report) {
        const Error& e = report.error();
        if (e.code() == Errc::already_signed) return pass_unchanged(job, "unsigned (already signed)");
        return fail(job, failure_kind(e, false), e.message());
    }
    p.outcome = "signed id=" + entry.address + " serial=" + entry.certificate.serial_hex +
                " mode=" + (options.mode == SignMode::opaque ? "opaque" : "detached") +
                " signed_size=" + std::to_string(report->bytes_out) + (report->date_added ? " date=added" : "") +
                (report->date_replaced ? " date=replaced" : "");
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
