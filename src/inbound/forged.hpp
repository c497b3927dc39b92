// forged.hpp — which header fields of an inbound message claim to be
// ribbon's own and must go before ribbon adds its own (RFC 8601 §5: an MTA
// "MUST remove" fields carrying its authserv-id that arrive from outside,
// or a sender could write the verdict it wants its victim to read).
// Pure functions over the header as the MTA showed it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ribbon::inbound {

// A header field as received: the name and the value after the colon
// (leading white space and folds as they came; "\n" or "\r\n" folds).
struct Field {
    std::string name;
    std::string value;
};

// The authserv-id of an Authentication-Results value (RFC 8601 §2.2:
// [CFWS] authserv-id, authserv-id = value, RFC 2045 token or RFC 5322
// quoted-string): comments (nested, with quoted-pairs) and folding white
// space skipped, a quoted-string unescaped. nullopt when the value does not
// start with one.
std::optional<std::string> authserv_id_of(std::string_view value);

// A field to remove, as the milter protocol's CHGHEADER names it: the name and the 1-based
// index among the fields of that name (names compared without regard to
// ASCII case, as the MTA counts).
struct Removal {
    std::string name;
    int index = 0;
    bool operator==(const Removal&) const = default;
};

// Every Authentication-Results field whose authserv-id equals
// `authserv_id` (ASCII case ignored), every one whose authserv-id cannot be
// parsed but that names `authserv_id` anywhere (a reader more lenient than
// ribbon might still take it for ours), and every Ribbon-Continuity field:
// in the order that keeps the indexes valid while they are removed one by
// one (per name, the last first).
std::vector<Removal> forged_fields(const std::vector<Field>& header, std::string_view authserv_id);

}  // namespace ribbon::inbound
