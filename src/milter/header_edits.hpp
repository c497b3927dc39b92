// header_edits.hpp — turns the top-level header of a message as the MTA
// showed it to the milter into the header the signer wrote, as a list of
// milter edits (CHGHEADER / ADDHEADER, engine.hpp). Pure functions, so the
// rule is unit-tested without an MTA.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ribbon::milter {

// A header field as the milter protocol carries it: the name, and the
// value after the colon with its leading white space kept (SMFIP_HDR_LEADSPC)
// and folded lines joined by "\n" followed by white space — the form
// the milter protocol carries (the MTA adds the CR).
struct HeaderField {
    std::string name;
    std::string value;
    bool operator==(const HeaderField&) const = default;
};

struct HeaderEdit {
    enum class Kind { change, remove, add };
    Kind kind;
    std::string name;
    int index = 0;      // change/remove: 1-based among the fields of this name
    std::string value;  // change/add
    bool operator==(const HeaderEdit&) const = default;
};

// Splits a header block as the signer writes it (fields ending CRLF, folds
// as CRLF + WSP, up to the empty line) into fields with "\n" folds.
std::vector<HeaderField> split_header_block(std::string_view block);

// Edits that turn `before` into exactly `after`. The signer keeps the
// fields it does not own in their order, so `after` is `before` with some
// fields removed or changed and new ones appended: walking both in order,
// a field whose name matches the next field of `after` is kept or
// changed, any other is removed, and what is left of `after` is added at
// the end. Changes and removals come last-field-first, so the indexes of
// the fields still to edit never shift; additions follow in order.
std::vector<HeaderEdit> header_edits(const std::vector<HeaderField>& before,
                                     const std::vector<HeaderField>& after);

}  // namespace ribbon::milter
