// assessment.hpp — what ribbon concludes about one inbound message before it
// stamps it for the people who read it (docs/RECEIVING.md): the S/MIME
// verification, and, once the store keeps them, the sender's key
// continuity (ribbon/continuity.hpp) and whether the domain is a lookalike
// of a known one (ribbon/lookalike.hpp).
//
// `Assessor::assess` is the one step that looks at the message; the header
// builders (stamp.hpp) only format what it found, so a new check is one
// more field here and one more call inside assess().
//
// Thread-safety: an Assessor is immutable after construction and may be
// shared by any number of threads (the Verifier is).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ribbon/continuity.hpp"
#include "ribbon/error.hpp"
#include "ribbon/io.hpp"
#include "ribbon/lookalike.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon::inbound {

struct Assessment {
    // What the verifier concluded, or why it could not conclude anything
    // (exactly one of the two is set, unless `temperror` stopped the
    // assessment before verification ran).
    std::optional<VerifyResult> verified;
    std::optional<Error> verify_error;
    // RFC 7281 §3 body.smime-part: the MIME part the signature covers, in
    // IMAP section-number form ("2", "1.2"); empty when it covers the whole
    // message body.
    std::string part;
    // Key continuity and lookalike senders (sender_memory.hpp), when the
    // Assessor has a SenderMemory and the signature is valid.
    std::optional<ContinuityReport> continuity;
    std::optional<LookalikeMatch> lookalike;
    // The assessment is incomplete because of a failure on ribbon's side
    // (an internal error, the store unavailable), not because of the
    // message: stamped temperror, never held (RFC 8601 §2.7.1: "likely
    // transient in nature ... A later attempt may produce a final result").
    bool temperror = false;
    std::string temperror_reason;  // for the log only: it may name paths and hosts

    // The message could not be assessed at all.
    static Assessment internal_failure(std::string reason);
};

class SenderMemory;

class Assessor {
public:
    // With `memory`, a valid signature is also judged for key continuity and
    // lookalike senders (and recorded, as the memory is set to).
    Assessor(Verifier verifier, VerifyOptions options = {}, std::shared_ptr<SenderMemory> memory = {});

    // Verifies `message` (the whole message as received). Never fails: a
    // message the verifier cannot read is an assessment too (verify_error),
    // and so is running out of memory (temperror).
    Assessment assess(const MessageInput& message) const;

private:
    Verifier m_verifier;
    VerifyOptions m_options;
    std::shared_ptr<SenderMemory> m_memory;
};

}  // namespace ribbon::inbound
