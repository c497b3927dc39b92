// submit/submit.hpp — the submission core: what happens to one outgoing
// message, decided once for every front end (the milter, the relay,
// `ribbon sendmail`, `ribbon sign --for`). The front ends keep only their
// protocol: they hand in the envelope's recipients, the header section and
// later the whole message, and turn what comes back into milter
// answers, SMTP replies or exit codes.
//
// Two steps, because the milter must decide at end of header — before the
// body arrives, so mail that goes on unsigned is never spooled — and sign
// at end of message:
//
//   Submission s(snapshot, front_end);
//   const Plan& plan = s.plan(recipients, header_section);  // From, [[signer]],
//       // already S/MIME?, the recipient policy → parts (or a refusal)
//   for (const Part& part : plan.parts)
//       if (part.signs()) Signed out = s.sign(part, message, {sink});
//
// Every decision comes with its log line, worded here for all front ends:
//   signed: from=<a> id=<b> serial=<hex> mode=detached|opaque size=<n>[ date=added][ date=replaced]
//   not signed: from=<a> <reason>
//   tempfail|rejected|passed on unsigned (on_<kind> = "<action>"): <reason>
//
// A Submission is used by one thread; the Snapshot it reads (configuration,
// Digital IDs, recipient policy) is shared and must outlive it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/config.hpp"
#include "ribbon/io.hpp"
#include "ribbon/recipient_policy.hpp"
#include "ribbon/signer.hpp"
#include "ribbon/signer_pool.hpp"
#include "submit/failure.hpp"

namespace ribbon::submit {

// The configuration in effect and what was loaded from it.
struct Snapshot {
    const Config& config;
    // Null when the Digital IDs could not be set up (`ribbon sendmail`
    // makes its pool per run): `pool_error` says why, and a message to sign
    // gets on_no_key. Mail ribbon does not sign goes on regardless.
    const SignerPool* pool;
    const RecipientPolicy& policy;
    std::optional<Error> pool_error = std::nullopt;
};

// What a front end brings besides the message: its section's settings and
// whether it can send one message as several downstream transactions.
struct FrontEnd {
    FailureActions actions;
    std::vector<std::string> opaque_for;  // recipient domains that get opaque signing
    // The relay can (one transaction per answer); the milter cannot, nor
    // can `ribbon sendmail` (a retry could deliver the parts sent twice).
    bool can_split = false;
    MixedAnswer mixed = MixedAnswer::sign;  // when it cannot split
};
FrontEnd milter_front_end(const MilterSettings& settings);
FrontEnd relay_front_end(const RelaySettings& settings);
FrontEnd sendmail_front_end(const SendmailSettings& settings);

// Why mail goes on unsigned although nothing failed, in words fixed here:
// the daemons count messages by it (src/daemon/telemetry.hpp), so it never
// carries text from mail.
enum class Unsigned {
    no_from,           // no From address ribbon can read
    no_signer,         // the From has no [[signer]] entry: not ribbon's mail
    already_signed,    // already S/MIME (signed, enveloped, compressed)
    recipient_policy,  // the recipient policy said unsigned
};
std::string_view unsigned_name(Unsigned reason) noexcept;  // "no_from", "no_signer", ...

// Recipients that get the message in one form.
struct Part {
    std::vector<std::string> recipients;
    Treatment treatment = Treatment::sign;  // sign (detached), sign_opaque, plain
    // plain: the decision line for the log ("not signed: …", or the
    // failure's "passed on unsigned …").
    std::string log;
    // plain without a failure: why.
    Unsigned why = Unsigned::recipient_policy;

    bool signs() const noexcept { return treatment != Treatment::plain; }
};

struct Plan {
    std::string from;                  // the header's From, empty without one
    const SignerRule* rule = nullptr;  // its [[signer]] entry, null: not ribbon's
    std::vector<Part> parts;           // what goes on; empty when refused
    // The recipient policy's answer per recipient, when it was asked and
    // answered (the daemons count them).
    std::vector<RecipientDecision> decisions;
    // A failure, decided by the front end's actions: refused unless it
    // passes(), then `parts` is one plain part for every recipient.
    std::optional<Failure> failure;

    bool refused() const noexcept { return failure && !failure->passes(); }
    bool signs() const noexcept;  // some part is to be signed
};

// Where step 2 writes the signed message.
struct Target {
    Sink& sink;
    // The [[signer]]'s trace header ("Ribbon-Signer: address; serial=hex",
    // outside the signature) goes into the sink ahead of the message; the
    // milter, which edits the header instead, gets it in Signed::trace.
    bool trace_in_sink = true;
    // Whether output already reached someone who cannot take it back (the
    // milter's MTA): then "accept" cannot apply to a failure.
    std::function<bool()> committed;
};

struct Signed {
    enum class Outcome {
        signed_,    // the sink holds the signed message
        unchanged,  // send the message as it came (already S/MIME, or a failure with "accept")
        refused,    // `failure` says how to answer
    };
    Outcome outcome = Outcome::refused;
    std::string log;                 // the decision line (signed / not signed), empty when failed
    std::optional<Failure> failure;  // refused, or unchanged by an "accept" action
    Unsigned why = Unsigned::already_signed;  // unchanged without a failure: why
    SignReport report;
    // With `trace_in_sink` false and the [[signer]]'s trace_header on: the
    // Ribbon-Signer field value (" address; serial=hex").
    std::string trace;
    std::vector<std::string> warnings;  // the Digital ID's (dev CA, near expiry), with the first part signed
};

class Submission {
public:
    Submission(Snapshot snapshot, FrontEnd front);

    // Step 1, from the envelope's recipients and the header section
    // (CRLF, up to and including the empty line).
    const Plan& plan(const std::vector<std::string>& recipients, std::string_view header_section);
    const Plan& current() const noexcept { return m_plan; }

    // Step 2: one signing part of the plan, from the whole message.
    Signed sign(const Part& part, const MessageInput& message, const Target& target);

    // A failure of the front end's own (spool, the MTA refusing an edit),
    // answered by its actions.
    Failure fail(FailureKind kind, const Error& error, bool committed = false) const;

private:
    Signed refuse(FailureKind kind, const Error& error, bool committed) const;

    Snapshot m_snapshot;
    FrontEnd m_front;
    Plan m_plan;
    TimePoint m_now;
    std::shared_ptr<const ActiveSigner> m_active;  // looked up once, for every part
};

// The recipient policy's answer for each recipient and the parts they make
// for `front` (grouped when it can split, combined by `mixed` otherwise).
// Plain parts carry "not signed: from=<from> by the recipient policy (…)".
struct Answers {
    std::vector<RecipientDecision> decisions;  // one per recipient, in order
    std::vector<Part> parts;
};
Result<Answers> ask_policy(const RecipientPolicy& policy, const SignerRule& rule,
                           const std::vector<std::string>& recipients, const FrontEnd& front, std::string_view from);

// Whether the top-level Content-Type of a header section (CRLF or LF, up to
// the empty line) declares S/MIME (ribbon/smime_form.hpp, the answer the
// signer gives with Errc::already_signed): such a message is passed
// unchanged without being spooled. A section the header scanner does not
// take is left to the signer, which refuses or parses it.
bool already_smime(std::string_view header_section);

// The recipients a message names in its To, Cc and Bcc fields (sendmail -t),
// parsed by GMime (RFC 5322 §3.4 address lists, groups flattened), in order.
std::vector<std::string> header_recipients(std::string_view header_section);

}  // namespace ribbon::submit
