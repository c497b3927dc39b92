// submit.cpp — see submit.hpp.
#include "submit/submit.hpp"

#include <strings.h>

#include <map>

#include "core/header_scan.hpp"
#include "ribbon/smime_form.hpp"

namespace ribbon::submit {

namespace {

std::string not_signed_line(std::string_view from, std::string_view reason) {
    std::string line = "not signed: ";
    if (!from.empty()) line.append("from=<").append(from).append("> ");
    return line.append(reason);
}

std::string signed_line(std::string_view from, const KeystoreEntry& entry, SignMode mode, const SignReport& report) {
    std::string line = "signed: from=<";
    line.append(from).append("> id=").append(entry.address).append(" serial=").append(entry.certificate.serial_hex);
    line.append(" mode=").append(mode == SignMode::opaque ? "opaque" : "detached");
    line.append(" size=").append(std::to_string(report.bytes_out));
    if (report.date_added) line.append(" date=added");
    if (report.date_replaced) line.append(" date=replaced");
    return line;
}

}  // namespace

std::string_view unsigned_name(Unsigned reason) noexcept {
    switch (reason) {
        case Unsigned::no_from: return "no_from";
        case Unsigned::no_signer: return "no_signer";
        case Unsigned::already_signed: return "already_signed";
        case Unsigned::recipient_policy: return "recipient_policy";
    }
    return "recipient_policy";
}

bool already_smime(std::string_view header_section) {
    mime::HeaderScan scan = mime::scan_header_section(header_section);
    if (scan.outcome != mime::HeaderScan::Outcome::complete) return false;
    for (const mime::HeaderField& f : scan.fields) {
        if (f.name.size() == 12 && ::strncasecmp(f.name.data(), "Content-Type", 12) == 0) {
            return is_smime(smime_form(f.raw_value));
        }
    }
    return false;
}

namespace {

std::vector<Part> one_plain_part(const std::vector<std::string>& recipients, std::string log, Unsigned why) {
    return {Part{recipients, Treatment::plain, std::move(log), why}};
}

// The one part for a front end that cannot split: the answers combined.
Part combined(const std::vector<std::string>& recipients,
              const std::vector<RecipientDecision>& decisions, const FrontEnd& front, std::string_view from) {
    Part part{recipients, combine_treatments(decisions, front.mixed), {}};
    if (part.treatment != Treatment::plain) return part;
    std::string why;
    for (std::size_t i = 0; i < decisions.size(); ++i) {
        if (decisions[i].treatment != Treatment::plain) continue;
        if (!why.empty()) why += ", ";
        why.append(recipients[i]).append(": ").append(decisions[i].reason);
    }
    part.log = not_signed_line(from, "by the recipient policy (" + why + ")");
    return part;
}

}  // namespace

FrontEnd milter_front_end(const MilterSettings& s) { return FrontEnd{s, s.opaque_for, false, s.mixed}; }
FrontEnd relay_front_end(const RelaySettings& s) { return FrontEnd{s, s.opaque_for, true, MixedAnswer::sign}; }
FrontEnd sendmail_front_end(const SendmailSettings& s) { return FrontEnd{s, s.opaque_for, false, s.mixed}; }

bool Plan::signs() const noexcept {
    for (const Part& p : parts) {
        if (p.signs()) return true;
    }
    return false;
}

Result<Answers> ask_policy(const RecipientPolicy& policy, const SignerRule& rule,
                           const std::vector<std::string>& recipients, const FrontEnd& front, std::string_view from) {
    Answers a;
    for (const auto& rcpt : recipients) {
        auto d = policy.decide(rule, rcpt, front.opaque_for);
        if (!d) return std::move(d).error();
        a.decisions.push_back(std::move(*d));
    }
    if (recipients.empty()) {
        // Nobody to ask (sendmail -t without addresses): the [[signer]]'s mode.
        a.parts.push_back(Part{{}, rule.mode == SignMode::opaque ? Treatment::sign_opaque : Treatment::sign, {}});
        return a;
    }
    if (!front.can_split) {
        a.parts.push_back(combined(recipients, a.decisions, front, from));
        return a;
    }
    // Recipients with the same answer share a part, in the order sign,
    // opaque, unsigned.
    std::map<Treatment, Part> by_treatment;
    for (std::size_t i = 0; i < recipients.size(); ++i) {
        const RecipientDecision& d = a.decisions[i];
        Part& part = by_treatment[d.treatment];
        part.treatment = d.treatment;
        part.recipients.push_back(recipients[i]);
        if (d.treatment != Treatment::plain) continue;
        part.log += part.log.empty() ? "" : ", ";
        part.log.append(recipients[i]).append(": ").append(d.reason);
    }
    for (auto& [treatment, part] : by_treatment) {
        if (treatment == Treatment::plain) part.log = not_signed_line(from, "by the recipient policy (" + part.log + ")");
        a.parts.push_back(std::move(part));
    }
    return a;
}

Submission::Submission(Snapshot snapshot, FrontEnd front)
    : m_snapshot(snapshot), m_front(std::move(front)), m_now(std::chrono::system_clock::now()) {}

const Plan& Submission::plan(const std::vector<std::string>& recipients, std::string_view header_section) {
    m_plan = Plan{};
    auto from = from_address(MessageInput::from_memory(header_section));
    if (!from) {
        m_plan.parts = one_plain_part(recipients, not_signed_line({}, from.error().message()), Unsigned::no_from);
        return m_plan;
    }
    m_plan.from = *from;
    m_plan.rule = m_snapshot.config.signer_for(m_plan.from);
    if (m_plan.rule == nullptr) {
        m_plan.parts = one_plain_part(recipients, not_signed_line(m_plan.from, "has no [[signer]] entry"),
                                      Unsigned::no_signer);
        return m_plan;
    }
    if (already_smime(header_section)) {
        m_plan.parts = one_plain_part(recipients, not_signed_line(m_plan.from, "is already S/MIME, passed unchanged"),
                                      Unsigned::already_signed);
        return m_plan;
    }
    auto answers = ask_policy(m_snapshot.policy, *m_plan.rule, recipients, m_front, m_plan.from);
    if (!answers) {
        // The store is down and no answer is cached: on_internal_error.
        m_plan.failure = fail(FailureKind::internal_error, answers.error());
        if (m_plan.failure->passes()) {
            m_plan.parts = one_plain_part(recipients, m_plan.failure->log, Unsigned::recipient_policy);
        }
        return m_plan;
    }
    m_plan.parts = std::move(answers->parts);
    m_plan.decisions = std::move(answers->decisions);
    return m_plan;
}

Failure Submission::fail(FailureKind kind, const Error& error, bool committed) const {
    return decide_failure(m_front.actions, kind, error, committed);
}

Signed Submission::refuse(FailureKind kind, const Error& error, bool committed) const {
    Signed out;
    out.failure = fail(kind, error, committed);
    out.outcome = out.failure->passes() ? Signed::Outcome::unchanged : Signed::Outcome::refused;
    return out;
}

Signed Submission::sign(const Part& part, const MessageInput& message, const Target& target) {
    if (m_plan.rule == nullptr || !part.signs()) {
        return refuse(FailureKind::internal_error, internal_error("asked to sign a part the plan does not sign"), false);
    }
    const SignerRule& rule = *m_plan.rule;
    Signed out;
    if (!m_active) {
        auto active = m_snapshot.pool != nullptr ? m_snapshot.pool->get(rule, m_plan.from, m_now)
                                                 : Result<std::shared_ptr<const ActiveSigner>>(
                                                       m_snapshot.pool_error.value_or(internal_error("no Digital IDs")));
        if (!active) return refuse(failure_kind(active.error(), true), active.error(), false);
        m_active = std::move(*active);
        out.warnings = m_active->warnings;  // once per message, not per part
    }
    const KeystoreEntry& entry = m_active->entry;
    SignOptions options;
    options.now = m_now;
    options.header_protection = rule.header_protection;
    options.mode = part.treatment == Treatment::sign_opaque ? SignMode::opaque : SignMode::detached;

    if (rule.trace_header) {
        std::string value = " " + entry.address + "; serial=" + entry.certificate.serial_hex;
        if (!target.trace_in_sink) {
            out.trace = std::move(value);
        } else if (auto r = target.sink.write("Ribbon-Signer:" + value + "\r\n"); !r) {
            return refuse(FailureKind::internal_error, r.error(), false);
        }
    }
    auto report = m_active->signer.sign(message, target.sink, options);
    if (!report) {
        const bool committed = target.committed && target.committed();
        if (report.error().code() == Errc::already_signed && !committed) {
            out.outcome = Signed::Outcome::unchanged;
            out.log = not_signed_line(m_plan.from, "is already S/MIME, passed unchanged");
            return out;
        }
        Signed failed = refuse(failure_kind(report.error(), false), report.error(), committed);
        failed.warnings = std::move(out.warnings);
        return failed;
    }
    out.outcome = Signed::Outcome::signed_;
    out.report = *report;
    out.log = signed_line(m_plan.from, entry, options.mode, out.report);
    return out;
}

}  // namespace ribbon::submit
