// assessment.cpp — see assessment.hpp.
#include "inbound/assessment.hpp"

#include "inbound/sender_memory.hpp"

#include <new>

namespace ribbon::inbound {

Assessment Assessment::internal_failure(std::string reason) {
    Assessment a;
    a.temperror = true;
    a.temperror_reason = std::move(reason);
    return a;
}

Assessor::Assessor(Verifier verifier, VerifyOptions options, std::shared_ptr<SenderMemory> memory)
    : m_verifier(std::move(verifier)), m_options(std::move(options)), m_memory(std::move(memory)) {}

Assessment Assessor::assess(const MessageInput& message) const {
    // Inbound mail is never held because of ribbon (docs/RECEIVING.md): the
    // one exception a library call may still throw ends here as temperror.
    try {
        Assessment a;
        auto verified = m_verifier.verify(message, m_options);
        if (verified) {
            a.verified = std::move(*verified);
            const Coverage& coverage = a.verified->coverage;
            if (!coverage.whole && !coverage.signed_parts.empty()) a.part = coverage.signed_parts.front();
            if (m_memory) m_memory->consider(a, std::chrono::system_clock::now());
        } else {
            a.verify_error = verified.error();
            if (verified.error().kind() != ErrorKind::permanent) {
                a.temperror = true;
                a.temperror_reason = verified.error().message();
            }
        }
        return a;
    } catch (const std::bad_alloc&) {
        return Assessment::internal_failure("out of memory while verifying");
    }
}

}  // namespace ribbon::inbound
