// session_prepare.cpp — see session_prepare.hpp. The decisions are the
// submission core's (submit/submit.hpp); this file turns its parts into
// spools for the next hop and its failures into SMTP replies.
#include "relay/session_prepare.hpp"

#include "submit/submit.hpp"

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

// A failure as the client hears it: the core's reply, or — "accept" — the
// whole message on unchanged to every recipient.
Prepared answer(Job& job, const submit::Failure& f) {
    Prepared p;
    if (!f.passes()) {
        p.outcome = f.log;
        p.refusal = make_reply(f.reply.code, f.reply.enhanced, f.reply.text);
        return p;
    }
    auto message = unchanged(job);
    if (!message) {
        p.log.emplace_back(spdlog::level::err, message.error().message());
        p.outcome = "deferred (" + message.error().message() + ")";
        p.refusal = make_reply(451, "4.3.0", "Cannot store the message now, try again later");
        return p;
    }
    p.parts.push_back(Part{job.rcpts, std::move(*message), f.log});
    return p;
}

// One part of the plan as a spool for the next hop: signed, with the trace
// headers on top, or as it came (unsigned by the plan, or by the core's
// answer while signing). A refusal goes to `refusal`.
Result<Part> make_part(Job& job, submit::Submission& submission, const submit::Part& planned,
                       std::optional<submit::Failure>& refusal, Prepared& p) {
    Part part{planned.recipients, nullptr, planned.log};
    if (planned.signs()) {
        part.message = new_spool(job.runtime->config.relay);
        SpoolSink sink(*part.message);
        if (auto r = part.message->write(job.trace); !r) return std::move(r).error();
        submit::Signed out = submission.sign(planned, job.received->input(), submit::Target{sink});
        for (const auto& w : out.warnings) p.log.emplace_back(spdlog::level::warn, w);
        if (out.outcome == submit::Signed::Outcome::refused) refusal = out.failure;
        if (out.outcome != submit::Signed::Outcome::unchanged) {
            part.outcome = std::move(out.log);
            return part;
        }
        part.outcome = out.failure ? out.failure->log : std::move(out.log);
    }
    auto message = unchanged(job);
    if (!message) return std::move(message).error();
    part.message = std::move(*message);
    return part;
}

Prepared prepare_or_throw(Job& job) {
    submit::Submission submission(job.runtime->snapshot(), submit::relay_front_end(job.runtime->config.relay));
    // From and Content-Type are in the header section: the spool's first
    // part is enough (a view of memory, or one read of a spooled file).
    std::string head_buffer;
    auto head = job.received->chunk(0, kMaxHeaderSection, head_buffer);
    if (!head) return answer(job, submission.fail(FailureKind::internal_error, head.error()));
    const submit::Plan& plan = submission.plan(job.rcpts, *head);
    if (plan.failure) return answer(job, *plan.failure);

    Prepared p;
    for (const submit::Part& planned : plan.parts) {
        std::optional<submit::Failure> refusal;
        auto part = make_part(job, submission, planned, refusal, p);
        if (!part) return answer(job, submission.fail(FailureKind::internal_error, part.error()));
        if (refusal) {
            Prepared r = answer(job, *refusal);
            r.log.insert(r.log.begin(), p.log.begin(), p.log.end());
            return r;
        }
        p.parts.push_back(std::move(*part));
    }
    return p;
}

}  // namespace

Prepared prepare(Job& job) noexcept {
    try {
        return prepare_or_throw(job);
    } catch (const std::exception& e) {
        return answer(job, submit::decide_failure(job.runtime->config.relay, FailureKind::internal_error,
                                                  internal_error(e.what())));
    } catch (...) {
        return answer(job, submit::decide_failure(job.runtime->config.relay, FailureKind::internal_error,
                                                  internal_error("unexpected failure")));
    }
}

}  // namespace ribbon::relay
