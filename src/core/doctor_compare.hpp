// doctor_compare.hpp — what comparing with the message as sent (ORIGINAL)
// tells: the changes to the signed content that cannot be undone from the
// received bytes alone (stripped white space, renamed boundaries, header
// fields re-encoded or rewritten), and the outer header fields that
// differ (not covered by the signature, RFC 8551 §3.5.3).
//
// Private to core; used by doctor.cpp.
#pragma once

#include <string_view>
#include <vector>

#include "core/doctor_inverse.hpp"
#include "ribbon/doctor.hpp"

namespace ribbon::doctor {

// The changes (one, or two combined) that make `received` equal to
// `original`, as candidates without bytes; empty when none explains it.
std::vector<Candidate> explain_difference(std::string_view original, std::string_view received);

// The outer header fields (the message's own header section, bytes up to
// the first empty line) that differ, trace fields ignored.
std::vector<OuterHeaderChange> outer_header_changes(std::string_view original,
                                                    std::string_view received);

}  // namespace ribbon::doctor
