// session_prepare.cpp — see session_prepare.hpp. The decisions are the
// submission core's (submit/submit.hpp); this file turns its parts into
// spools for the next hop and its failures into SMTP replies.
#include "relay/session_prepare.hpp"

#include <chrono>

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
// whole message on unchanged to every recipient. Counted as one message.
Prepared answer(Job& job, const submit::Failure& f) {
    Prepared p;
    daemon::Telemetry& telemetry = *job.runtime->telemetry;
    if (!f.passes()) {
        telemetry.failed_message(f);
        p.outcome = f.log;
        p.refusal = make_reply(f.reply.code, f.reply.enhanced, f.reply.text);
        return p;
    }
    auto message = unchanged(job);
    if (!message) {
        p.log.emplace_back(spdlog::level::err, message.error().message());
        p.outcome = "deferred (" + message.error().message() + ")";
        p.refusal = make_reply(451, "4.3.0", "Cannot store the message now, try again later");
        telemetry.refused_message(FailureAction::tempfail, FailureKind::internal_error, p.outcome);
        return p;
    }
    telemetry.failed_message(f);
    p.parts.push_back(Part{job.rcpts, std::move(*message), f.log});
    return p;
}

// What one part counts as (daemon::Telemetry), told once the whole
// message is prepared: a refusal of a later part makes it one refused
// message instead.
struct Tally {
    std::optional<submit::Failure> passed;  // unsigned by a failure's "accept"
    submit::Unsigned why = submit::Unsigned::recipient_policy;
    bool signs = false;
    std::chrono::steady_clock::duration took{};

    void tell(daemon::Telemetry& telemetry) const {
        if (passed) {
            telemetry.failed_message(*passed);
        } else if (signs) {
            telemetry.signed_message(took);
        } else {
            telemetry.unsigned_message(why);
        }
    }
};

// One part of the plan as a spool for the next hop: signed, with the trace
// headers on top, or as it came (unsigned by the plan, or by the core's
// answer while signing). A refusal goes to `refusal`.
Result<Part> make_part(Job& job, submit::Submission& submission, const submit::Part& planned,
                       std::optional<submit::Failure>& refusal, Prepared& p, Tally& tally) {
    Part part{planned.recipients, nullptr, planned.log};
    tally.why = planned.why;
    if (planned.signs()) {
        part.message = new_spool(job.runtime->config.relay);
        SpoolSink sink(*part.message);
        if (auto r = part.message->write(job.trace); !r) return std::move(r).error();
        const auto started = std::chrono::steady_clock::now();
        submit::Signed out = submission.sign(planned, job.received->input(), submit::Target{sink});
        tally.took = std::chrono::steady_clock::now() - started;
        for (const auto& w : out.warnings) p.log.emplace_back(spdlog::level::warn, w);
        if (out.outcome == submit::Signed::Outcome::refused) refusal = out.failure;
        if (out.outcome != submit::Signed::Outcome::unchanged) {
            tally.signs = true;
            part.outcome = std::move(out.log);
            return part;
        }
        tally.passed = out.failure;
        tally.why = out.why;
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
    job.runtime->telemetry->planned(plan);
    if (plan.failure) return answer(job, *plan.failure);

    Prepared p;
    std::vector<Tally> tallies;
    for (const submit::Part& planned : plan.parts) {
        std::optional<submit::Failure> refusal;
        Tally& tally = tallies.emplace_back();
        auto part = make_part(job, submission, planned, refusal, p, tally);
        if (!part) return answer(job, submission.fail(FailureKind::internal_error, part.error()));
        if (refusal) {
            Prepared r = answer(job, *refusal);
            r.log.insert(r.log.begin(), p.log.begin(), p.log.end());
            return r;
        }
        p.parts.push_back(std::move(*part));
    }
    for (const Tally& t : tallies) t.tell(*job.runtime->telemetry);
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
