// doctor_inverse.hpp — each transit change the doctor knows, undone on a
// signed content: candidate contents, each one change undone (a change that
// loses information, such as a stripped line end or a removed footer, gives
// several guesses). doctor.cpp digests them against the signature.
//
// Private to core.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/doctor_mime.hpp"
#include "ribbon/doctor.hpp"

namespace ribbon::doctor {

struct Candidate {
    TransitChange change = TransitChange::footer_added;
    std::string evidence;  // what undoing it means here, for people
    std::string bytes;     // the whole content with the change undone
};

// At most this many candidates per content (a bound on the search: a
// message with hundreds of parts does not get hundreds of guesses each).
inline constexpr std::size_t kMaxCandidates = 400;

// Receives candidates one at a time, so that only one is held at once
// (a large message's guesses are each as large as it); `visit` returns
// false to stop the search.
struct Visitor {
    std::function<bool(Candidate&&)> visit;
    std::size_t count = 0;
    bool stopped = false;
};

// Every change undone on `content`, one candidate at a time.
void undo_each(std::string_view content, Visitor& out);

// The body-side changes (doctor_inverse.cpp) and the header-side ones
// (doctor_inverse_headers.cpp), appended to `out`.
void undo_body_changes(std::string_view content, const Node& root, Visitor& out);
void undo_header_changes(std::string_view content, const Node& root, Visitor& out);

// Appends a candidate unless it changes nothing or the bound is reached.
inline void add_candidate(Visitor& out, TransitChange change, std::string evidence,
                          std::string bytes, std::string_view content) {
    if (out.stopped || out.count >= kMaxCandidates || bytes == content) return;
    ++out.count;
    out.stopped = !out.visit(Candidate{change, std::move(evidence), std::move(bytes)});
}

// "3 lines", "1 line".
inline std::string plural(std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// "part 1.2" or "the signed part" for the content itself.
std::string part_name(const Node& node);

}  // namespace ribbon::doctor
