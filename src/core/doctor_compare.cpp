// doctor_compare.cpp — see doctor_compare.hpp. Each change has a
// normaliser that removes exactly the differences it makes; the received
// content is explained by a change when both sides are equal after it (or
// after two of them).
#include "core/doctor_compare.hpp"

#include <algorithm>
#include <map>

#include "core/mime_parse.hpp"
#include "core/verify_mime.hpp"

namespace ribbon::doctor {

namespace {

using Normaliser = std::string (*)(std::string_view);

std::string strip_trailing_whitespace(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\n' || c == '\r') {
            while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
        }
        out.push_back(c);
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
    return out;
}

std::string unquote_from(std::string_view s) {
    std::vector<Edit> edits;
    for (const Line& l : lines_of(s, 0, s.size())) {
        if (s.substr(l.begin, l.end - l.begin).starts_with(">From ")) {
            edits.push_back({l.begin, l.begin + 1, ""});
        }
    }
    return apply_edits(s, edits);
}

std::vector<std::string> boundaries(std::string_view s) {
    std::vector<std::string> out;
    each_node(walk(s), [&](const Node& n) {
        if (n.multipart()) out.push_back(n.boundary);
    });
    return out;
}

std::string neutral_boundaries(std::string_view s) {
    std::string out(s);
    const auto all = boundaries(s);
    for (std::size_t i = 0; i < all.size(); ++i) {
        const std::string mark =
            "\x01"
            "boundary" +
            std::to_string(i) + "\x01";
        for (std::size_t at = out.find(all[i]); at != std::string::npos;
             at = out.find(all[i], at + mark.size())) {
            out.replace(at, all[i].size(), mark);
        }
    }
    return out;
}

// Every header field of every header section rewritten by `fn(name, raw
// field)`; bodies kept.
template <class F>
std::string map_fields(std::string_view s, F fn) {
    std::vector<Edit> edits;
    each_node(walk(s), [&](const Node& n) {
        for (const Field& f : n.fields) {
            edits.push_back({f.begin, f.end, fn(f, s.substr(f.begin, f.end - f.begin))});
        }
    });
    return apply_edits(s, edits);
}

std::string unfold_headers(std::string_view s) {
    return map_fields(s, [&](const Field& f, std::string_view raw) {
        return field_name_as_written(raw, {0, raw.size(), f.name}) + ":" +
               verify::normalise_header_value(field_value(raw, {0, raw.size(), f.name})) + "\r\n";
    });
}

std::string decode_header_words(std::string_view s) {
    mime::ensure_gmime();
    return map_fields(s, [&](const Field& f, std::string_view raw) {
        const std::string value =
            verify::normalise_header_value(field_value(raw, {0, raw.size(), f.name}));
        char* decoded = g_mime_utils_header_decode_text(nullptr, value.c_str());
        std::string out = f.name + ": " + (decoded != nullptr ? decoded : value) + "\r\n";
        g_free(decoded);
        return out;
    });
}

std::string sort_fields(std::string_view s) {
    std::vector<Edit> edits;
    each_node(walk(s), [&](const Node& n) {
        if (n.fields.size() < 2) return;
        std::vector<std::string> raws;
        for (const Field& f : n.fields) raws.emplace_back(s.substr(f.begin, f.end - f.begin));
        std::sort(raws.begin(), raws.end());
        std::string section;
        for (const auto& r : raws) section += r;
        edits.push_back({n.fields.front().begin, n.fields.back().end, section});
    });
    return apply_edits(s, edits);
}

// Content-Type as GMime reads it: parameter order, quoting and the case
// of names and of the charset do not matter.
std::string canonical_content_types(std::string_view s) {
    mime::ensure_gmime();
    return map_fields(s, [&](const Field& f, std::string_view raw) {
        if (f.name != "content-type") return std::string(raw);
        const std::string value =
            verify::normalise_header_value(field_value(raw, {0, raw.size(), f.name}));
        mime::GPtr<GMimeContentType> type(g_mime_content_type_parse(nullptr, value.c_str()));
        if (!type) return std::string(raw);
        char* mime_type = g_mime_content_type_get_mime_type(type.get());
        std::string out = "content-type: " + lower(mime_type != nullptr ? mime_type : "");
        g_free(mime_type);
        std::vector<std::string> params;
        GMimeParamList* list = g_mime_content_type_get_parameters(type.get());
        for (int i = 0; list != nullptr && i < g_mime_param_list_length(list); ++i) {
            GMimeParam* p = g_mime_param_list_get_parameter_at(list, i);
            std::string name = lower(g_mime_param_get_name(p));
            std::string v = g_mime_param_get_value(p) != nullptr ? g_mime_param_get_value(p) : "";
            if (name == "charset") v = lower(v);
            params.push_back(name + "=" + v);
        }
        std::sort(params.begin(), params.end());
        for (const auto& p : params) out += "; " + p;
        return out + "\r\n";
    });
}

std::string join_lines(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c != '\r' && c != '\n') out.push_back(c);
    }
    return out;
}

struct Rule {
    TransitChange change;
    Normaliser normalise;
    const char* evidence;
};

const Rule kRules[] = {
    {TransitChange::trailing_whitespace_stripped, strip_trailing_whitespace,
     "the signed part equals ORIGINAL's once white space at line ends is ignored"},
    {TransitChange::mbox_from_quoting, unquote_from,
     "the signed part equals ORIGINAL's once \">From \" is read as \"From \""},
    {TransitChange::boundary_changed, neutral_boundaries, nullptr},
    {TransitChange::header_folded, unfold_headers,
     "the signed part equals ORIGINAL's once header fields are unfolded"},
    {TransitChange::header_charset_converted, decode_header_words,
     "the signed part equals ORIGINAL's once RFC 2047 encoded-words are decoded"},
    {TransitChange::content_type_parameter_changed, canonical_content_types,
     "the signed part equals ORIGINAL's once Content-Type parameters are compared as values"},
    {TransitChange::header_reordered, sort_fields,
     "the signed part equals ORIGINAL's once header field order is ignored"},
    {TransitChange::long_lines_rewrapped, join_lines,
     "the signed part equals ORIGINAL's once line breaks are ignored"},
};

std::string evidence_of(const Rule& rule, std::string_view original, std::string_view received) {
    if (rule.evidence != nullptr) return rule.evidence;
    const auto was = boundaries(original);
    const auto now = boundaries(received);
    std::string out;
    for (std::size_t i = 0; i < was.size() && i < now.size(); ++i) {
        if (was[i] == now[i]) continue;
        if (!out.empty()) out += "; ";
        out += "boundary \"" + was[i] + "\" is now \"" + now[i] + "\"";
    }
    return out.empty() ? "the MIME boundaries inside the signed part differ from ORIGINAL's" : out;
}

// ORIGINAL with something inserted: a footer, or a part when what was
// inserted holds a delimiter line.
std::optional<Candidate> insertion(std::string_view original, std::string_view received) {
    if (received.size() <= original.size()) return std::nullopt;
    std::size_t p = 0;
    while (p < original.size() && original[p] == received[p]) ++p;
    std::size_t s = 0;
    while (s < original.size() - p &&
           original[original.size() - 1 - s] == received[received.size() - 1 - s])
        ++s;
    if (p + s < original.size()) return std::nullopt;
    const std::string_view added = received.substr(p, received.size() - s - p);
    std::string shown(added.substr(0, std::min<std::size_t>(added.size(), 60)));
    for (char& c : shown) {
        if (c == '\r' || c == '\n') c = ' ';
    }
    for (const auto& b : boundaries(received)) {
        if (added.find("--" + b) != std::string_view::npos) {
            return Candidate{TransitChange::part_added,
                             std::to_string(added.size()) +
                                 " octets holding a MIME part were "
                                 "inserted into the signed part",
                             {}};
        }
    }
    return Candidate{TransitChange::footer_added,
                     std::to_string(added.size()) + " octets were added to the signed part: \"" +
                         shown + (added.size() > 60 ? "...\"" : "\""),
                     {}};
}

// Header fields of the signed part whose values differ (bodies equal).
std::optional<Candidate> rewritten(std::string_view original, std::string_view received) {
    auto blank = [](std::string_view s) {
        return map_fields(s, [](const Field& f, std::string_view) { return f.name + "\r\n"; });
    };
    if (blank(original) != blank(received)) return std::nullopt;
    std::string fields;
    const Node a = walk(original);
    const Node b = walk(received);
    // Same shape (the blanked texts are equal), so the nodes pair up.
    std::vector<std::pair<const Node*, const Node*>> pairs;
    std::vector<const Node*> as, bs;
    each_node(a, [&](const Node& n) { as.push_back(&n); });
    each_node(b, [&](const Node& n) { bs.push_back(&n); });
    for (std::size_t i = 0; i < as.size() && i < bs.size(); ++i) {
        for (std::size_t j = 0; j < as[i]->fields.size() && j < bs[i]->fields.size(); ++j) {
            if (field_value(original, as[i]->fields[j]) !=
                field_value(received, bs[i]->fields[j])) {
                if (!fields.empty()) fields += ", ";
                fields += field_name_as_written(received, bs[i]->fields[j]);
            }
        }
    }
    return Candidate{TransitChange::header_rewritten,
                     "inside the signed part, " + fields + " differ" +
                         (fields.find(',') == std::string::npos ? "s" : "") + " from ORIGINAL",
                     {}};
}

}  // namespace

std::vector<Candidate> explain_difference(std::string_view original, std::string_view received) {
    if (original == received) return {};
    if (auto c = insertion(original, received)) return {*c};
    for (const Rule& r : kRules) {
        if (r.normalise(original) == r.normalise(received)) {
            return {{r.change, evidence_of(r, original, received), {}}};
        }
    }
    if (auto c = rewritten(original, received)) return {*c};
    // Two changes at once. Ignoring line breaks leaves no MIME structure
    // for the other normalisers to read, so it is never combined.
    for (const Rule& first : kRules) {
        if (first.change == TransitChange::long_lines_rewrapped) continue;
        const std::string o = first.normalise(original);
        const std::string n = first.normalise(received);
        for (const Rule& second : kRules) {
            if (&second == &first || second.change == TransitChange::long_lines_rewrapped) continue;
            if (second.normalise(o) == second.normalise(n)) {
                return {{first.change, evidence_of(first, original, received), {}},
                        {second.change, evidence_of(second, original, received), {}}};
            }
        }
    }
    return {};
}

namespace {

// Added in transit by design, not changes: trace and list fields.
bool ignored_field(const std::string& name) {
    static const char* const kIgnored[] = {"received",
                                           "return-path",
                                           "delivered-to",
                                           "dkim-signature",
                                           "arc-seal",
                                           "arc-message-signature",
                                           "arc-authentication-results",
                                           "authentication-results",
                                           "x-original-to",
                                           "received-spf"};
    for (const char* i : kIgnored) {
        if (name == i) return true;
    }
    return name.starts_with("x-") || name.starts_with("list-");
}

std::map<std::string, std::pair<std::string, std::string>> outer_fields(std::string_view m) {
    std::map<std::string, std::pair<std::string, std::string>> out;  // lower -> (written, value)
    Node n = walk(m);
    for (const Field& f : n.fields) {
        if (f.name.empty() || ignored_field(f.name)) continue;
        auto& slot = out[f.name];
        if (slot.first.empty()) slot.first = field_name_as_written(m, f);
        if (!slot.second.empty()) slot.second += " | ";
        slot.second += verify::normalise_header_value(field_value(m, f));
    }
    return out;
}

}  // namespace

std::vector<OuterHeaderChange> outer_header_changes(std::string_view original,
                                                    std::string_view received) {
    const auto was = outer_fields(original);
    const auto now = outer_fields(received);
    std::vector<OuterHeaderChange> out;
    for (const auto& [name, field] : now) {
        auto it = was.find(name);
        if (it == was.end()) {
            out.push_back({field.first, field.second, ""});
        } else if (it->second.second != field.second) {
            // The outer multipart/signed boundary (and its other
            // parameters) is free to change: only the type is compared.
            if (name == "content-type" &&
                lower(it->second.second.substr(0, it->second.second.find(';'))) ==
                    lower(field.second.substr(0, field.second.find(';')))) {
                continue;
            }
            out.push_back({field.first, field.second, it->second.second});
        }
    }
    for (const auto& [name, field] : was) {
        if (now.find(name) == now.end()) out.push_back({field.first, "", field.second});
    }
    return out;
}

}  // namespace ribbon::doctor
