// inbound_flow.hpp — `ribbon milter` stamping inbound mail ([inbound]
// verify, docs/RECEIVING.md): the message is collected (a Spool, as for
// signing), assessed at end of message (inbound::Assessor), any header
// field that claims to be ribbon's own is removed, and ribbon's
// Authentication-Results and Ribbon-Continuity go on at the top, where MTAs
// put trace fields (RFC 8601 §5). Learning goes on as before beside it.
//
// Inbound mail is never held or lost because of ribbon: whatever fails on
// ribbon's side is stamped smime=temperror and accepted, unless [inbound]
// on_internal_error = "tempfail". The one exception: a forged field that
// the MTA would not let ribbon remove tempfails, because delivering it
// would show the reader a verdict ribbon never made.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "milter/header_edits.hpp"
#include "milter/milter.hpp"
#include "ribbon/io.hpp"

namespace ribbon::milter {

class InboundFlow {
public:
    // At end of header: `header_bytes` is the header section as the signer
    // would read it (CRLF, ending with the empty line). `learn_header_now`:
    // the Learner needs only the header, which is offered at once; else
    // (S/MIME) the whole message is offered at the end.
    InboundFlow(std::shared_ptr<const Runtime> runtime, const std::string& queue_id, std::string_view header_bytes,
                bool learn_header_now);

    void body(std::string_view chunk);

    // At end of message: edits the header through `ctx` and answers.
    Status finish(Context& ctx, const std::string& queue_id, const std::vector<HeaderField>& header,
                    bool leading_space);

private:
    inbound::Assessment assess() const;
    bool remove_forged(Context& ctx, const std::string& queue_id, const std::vector<HeaderField>& header) const;
    void learn(const std::string& queue_id);

    std::shared_ptr<const Runtime> m_runtime;
    Spool m_spool;
    std::optional<Error> m_spool_error;  // the first write that failed
    bool m_learn_whole = false;
};

}  // namespace ribbon::milter
