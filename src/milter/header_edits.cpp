// header_edits.cpp — see header_edits.hpp.
#include "milter/header_edits.hpp"

#include <strings.h>

#include <map>

#include "base/ascii.hpp"

namespace ribbon::milter {

namespace {

// Field names are case-insensitive (RFC 5322 §1.2.2).
struct NameLess {
    bool operator()(const std::string& a, const std::string& b) const { return ::strcasecmp(a.c_str(), b.c_str()) < 0; }
};

}  // namespace

std::vector<HeaderField> split_header_block(std::string_view block) {
    std::vector<HeaderField> fields;
    std::size_t pos = 0;
    while (pos < block.size()) {
        std::size_t eol = block.find('\n', pos);
        std::size_t end = eol == std::string_view::npos ? block.size() : eol + 1;
        std::string_view line = block.substr(pos, end - pos);
        pos = end;
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
        if (line.empty()) break;  // the end of the header
        if ((line.front() == ' ' || line.front() == '\t') && !fields.empty()) {
            fields.back().value.append("\n").append(line);
            continue;
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;  // the signer never writes one
        fields.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    }
    return fields;
}

std::vector<HeaderEdit> header_edits(const std::vector<HeaderField>& before,
                                     const std::vector<HeaderField>& after) {
    // Each field's 1-based index among the fields of its name, as the MTA
    // counts for the milter protocol's CHGHEADER.
    std::vector<int> index(before.size());
    std::map<std::string, int, NameLess> seen;
    for (std::size_t i = 0; i < before.size(); ++i) index[i] = ++seen[before[i].name];

    std::vector<HeaderEdit> edits;
    std::size_t j = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
        const HeaderField& b = before[i];
        if (j < after.size() && ascii_iequals(b.name, after[j].name)) {
            if (b.value != after[j].value) {
                edits.push_back({HeaderEdit::Kind::change, b.name, index[i], after[j].value});
            }
            ++j;
        } else {
            edits.push_back({HeaderEdit::Kind::remove, b.name, index[i], {}});
        }
    }
    std::vector<HeaderEdit> ordered(edits.rbegin(), edits.rend());
    for (; j < after.size(); ++j) ordered.push_back({HeaderEdit::Kind::add, after[j].name, 0, after[j].value});
    return ordered;
}

}  // namespace ribbon::milter
