// ribbon/learn.hpp — what one inbound message from a customer teaches about
// the customer: which mail client wrote it (ClientRules), whether that
// client understands S/MIME, and, when the message is signed, the
// customer's certificates and their sMIMECapabilities.
//
// The strongest evidence is S/MIME itself (docs/LEARNING.md):
//   signed, signature verified, From in the certificate → supported, 1.0,
//       certificates harvested (the chain need not reach a root ribbon
//       trusts: customers' CAs are theirs, and nothing is trusted because
//       of the harvest);
//   signed, but the signature or the address check fails, or the S/MIME
//       part cannot even be read (truncated, not base64, not CMS) →
//       supported, 0.7, nothing harvested (mail systems damage signatures;
//       their client still made one);
//   sealed to the organisation (enveloped-data; a .p7m without smime-type
//       whose CMS content is not SignedData) → supported, 1.0;
//   otherwise the client rule's answer and confidence, or unknown.
//
// Some messages say nothing about the customer's client and are skipped:
// automatic replies (RFC 3834 Auto-Submitted), delivery and read reports
// (RFC 6522 multipart/report), bulk mail (Precedence: bulk/junk), mail
// from a mailer daemon, and mail from the organisation's own addresses.
//
// Thread-safety: a Learner is immutable; observe() may run on any number of
// threads at once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ribbon/client_rules.hpp"
#include "ribbon/error.hpp"
#include "ribbon/recipients.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon {

class Learner {
public:
    // `own_address`: true for addresses of the organisation itself (the
    // [[signer]] table's), whose mail teaches nothing about customers.
    Learner(ClientRules rules, TrustStore trust, std::function<bool(std::string_view)> own_address = {});

    struct Lesson {
        // Set when the message teaches something; else `skipped` says why.
        std::optional<Observation> observation;
        std::string skipped;
    };

    // Errors: the message has no usable From (Errc::no_from; an empty
    // message is empty_message) or its header cannot be parsed
    // (malformed_message); a transient error of the verifier (out of
    // memory) is passed on. A broken signature is a lesson, not an error.
    // Never changes anything: the caller decides what to do with the lesson.
    Result<Lesson> observe(std::string_view message, UnixTime now) const;

    const ClientRules& rules() const noexcept { return m_rules; }

private:
    ClientRules m_rules;
    Verifier m_verifier;
    std::function<bool(std::string_view)> m_own_address;
};

}  // namespace ribbon
