// doctor_inverse_headers.cpp — see doctor_inverse.hpp; the changes to the
// header sections inside the signed part: folding, order, a list's
// Subject tag, Content-Type parameters.
#include "core/doctor_inverse.hpp"
#include "core/encoders.hpp"

namespace ribbon::doctor {

namespace {

// Header sections with more fields than this are not reordered (the
// guesses grow with the square of the count).
constexpr std::size_t kMaxReorderFields = 12;
// RFC 5322 §2.1.1: lines SHOULD be at most 78 characters.
constexpr std::size_t kFoldAt = 78;

std::string_view raw_of(std::string_view content, const Field& f) {
    return content.substr(f.begin, f.end - f.begin);
}

// The field with its folding removed (CRLF before white space dropped).
std::string unfold_field(std::string_view raw) {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const bool crlf = raw.compare(i, 2, "\r\n") == 0;
        const std::size_t after = i + (crlf ? 2 : 1);
        if ((crlf || raw[i] == '\n') && after < raw.size() &&
            (raw[after] == ' ' || raw[after] == '\t')) {
            i = after - 1;
            continue;
        }
        out.push_back(raw[i]);
    }
    return out;
}

// One-line field folded before the last white space that keeps each line
// within kFoldAt characters, as most MTAs and list servers fold.
std::string fold_field(std::string_view raw) {
    std::string_view body = raw;
    std::string eol = "\r\n";
    if (body.ends_with("\r\n"))
        body.remove_suffix(2);
    else if (body.ends_with('\n')) {
        body.remove_suffix(1);
        eol = "\n";
    }
    std::string out;
    while (body.size() > kFoldAt) {
        std::size_t at = body.find_last_of(" \t", kFoldAt);
        if (at == std::string_view::npos || at == 0) break;
        out.append(body.substr(0, at)).append(eol);
        body.remove_prefix(at);
    }
    return out.append(body).append(eol);
}

void undo_folding(std::string_view content, const Node& root, Visitor& out) {
    std::vector<Edit> unfolded;
    std::vector<Edit> folded;
    std::vector<Edit> as_ribbon;
    each_node(root, [&](const Node& n) {
        for (const Field& f : n.fields) {
            const std::string_view raw = raw_of(content, f);
            const std::string u = unfold_field(raw);
            if (u != raw) unfolded.push_back({f.begin, f.end, u});
            const std::string fo = fold_field(raw);
            if (fo != raw) folded.push_back({f.begin, f.end, fo});
            // Refolded from ribbon's own folding (encoders.hpp), which the
            // signed parts ribbon makes were folded with.
            const std::string r = enc::fold_header(field_name_as_written(content, f),
                                                   enc::unfold(field_value(content, f)));
            if (r != raw && !f.name.empty()) as_ribbon.push_back({f.begin, f.end, r});
        }
    });
    if (!as_ribbon.empty()) {
        add_candidate(out, TransitChange::header_folded,
                      "header fields inside the signed part were refolded (" +
                          plural(as_ribbon.size(), "field") +
                          "); ribbon's signer folded them otherwise",
                      apply_edits(content, as_ribbon), content);
    }
    if (!unfolded.empty()) {
        add_candidate(out, TransitChange::header_folded,
                      "header fields inside the signed part were folded (" +
                          plural(unfolded.size(), "field") + "); they were one line when signed",
                      apply_edits(content, unfolded), content);
    }
    if (!folded.empty()) {
        add_candidate(out, TransitChange::header_folded,
                      "header fields inside the signed part were unfolded (" +
                          plural(folded.size(), "field") + "); they were folded when signed",
                      apply_edits(content, folded), content);
    }
}

// A field moved: every field of a (small) header section tried at every
// other position.
void undo_reorder(std::string_view content, const Node& root, Visitor& out) {
    each_node(root, [&](const Node& n) {
        const std::size_t count = n.fields.size();
        if (count < 2 || count > kMaxReorderFields) return;
        const std::size_t begin = n.fields.front().begin;
        const std::size_t end = n.fields.back().end;
        for (std::size_t from = 0; from < count; ++from) {
            for (std::size_t to = 0; to < count; ++to) {
                if (to == from || to + 1 == from) continue;  // (to = from-1 is a swap, made once)
                std::vector<std::size_t> order;
                for (std::size_t i = 0; i < count; ++i) {
                    if (i != from) order.push_back(i);
                }
                order.insert(order.begin() + static_cast<std::ptrdiff_t>(to), from);
                std::string section;
                for (std::size_t i : order) section.append(raw_of(content, n.fields[i]));
                const std::string name = field_name_as_written(content, n.fields[from]);
                add_candidate(out, TransitChange::header_reordered,
                              "the " + name + " field of " + part_name(n) + " was field " +
                                  std::to_string(to + 1) + " of " + std::to_string(count) +
                                  " when signed, now " + std::to_string(from + 1),
                              apply_edits(content, {{begin, end, section}}), content);
            }
        }
    });
}

// A list's Subject tag ("[list] ") added to the protected copy of Subject
// (RFC 9788) inside the signed part.
void undo_subject_tag(std::string_view content, const Node& root, Visitor& out) {
    std::vector<Edit> edits;
    std::string tag;
    each_node(root, [&](const Node& n) {
        for (const Field& f : n.fields) {
            if (f.name != "subject") continue;
            const std::string_view value = field_value(content, f);
            const std::size_t open = value.find_first_not_of(" \t");
            if (open == std::string_view::npos || value[open] != '[') continue;
            const std::size_t close = value.find(']', open);
            if (close == std::string_view::npos) continue;
            std::size_t cut = close + 1;
            while (cut < value.size() && value[cut] == ' ') ++cut;
            const std::size_t at = static_cast<std::size_t>(value.data() - content.data());
            edits.push_back({at + open, at + cut, ""});
            tag = std::string(value.substr(open, close + 1 - open));
        }
    });
    if (edits.empty()) return;
    add_candidate(out, TransitChange::header_rewritten,
                  "the Subject inside the signed part gained the tag \"" + tag + "\"",
                  apply_edits(content, edits), content);
}

struct Param {
    std::size_t begin = 0;  // the ';' before it
    std::size_t value_begin = 0;
    std::size_t end = 0;
    bool quoted = false;
    std::string name;
};

// The parameters of a Content-Type field as byte ranges (RFC 2045 §5.1).
std::vector<Param> params_of(std::string_view content, const Field& f) {
    std::vector<Param> out;
    std::size_t i = content.find(':', f.begin);
    bool quoted = false;
    for (; i < f.end; ++i) {
        if (content[i] == '"') quoted = !quoted;
        if (content[i] != ';' || quoted) continue;
        Param p;
        p.begin = i;
        const std::size_t eq = content.find('=', i);
        if (eq == std::string_view::npos || eq >= f.end) break;
        std::size_t nb = i + 1;
        while (nb < eq && (content[nb] == ' ' || content[nb] == '\t' || content[nb] == '\r' ||
                           content[nb] == '\n')) {
            ++nb;
        }
        p.name = lower(content.substr(nb, eq - nb));
        p.value_begin = eq + 1;
        std::size_t e = eq + 1;
        p.quoted = e < f.end && content[e] == '"';
        if (p.quoted) {
            e = content.find('"', e + 1);
            e = e == std::string_view::npos || e >= f.end ? f.end : e + 1;
        } else {
            while (e < f.end && content[e] != ';' && content[e] != ' ' && content[e] != '\t' &&
                   content[e] != '\r' && content[e] != '\n') {
                ++e;
            }
        }
        p.end = e;
        out.push_back(p);
        i = e - 1;
    }
    return out;
}

// Content-Type parameters re-quoted, re-cased or added by a gateway that
// rewrites the field (RFC 2045 §5.1 makes these equivalent; the digest
// does not).
void undo_ct_params(std::string_view content, const Node& root, Visitor& out) {
    each_node(root, [&](const Node& n) {
        const Field* f = find_field(n, "content-type");
        if (f == nullptr) return;
        for (const Param& p : params_of(content, *f)) {
            const std::string_view v = content.substr(p.value_begin, p.end - p.value_begin);
            const std::string where = "the " + p.name + " parameter of " + part_name(n);
            if (p.quoted && v.size() >= 2) {
                add_candidate(out, TransitChange::content_type_parameter_changed,
                              where + " was quoted; it was not when signed",
                              apply_edits(content, {{p.value_begin, p.end,
                                                     std::string(v.substr(1, v.size() - 2))}}),
                              content);
            } else {
                std::string quoted(1, '"');
                quoted.append(v).push_back('"');
                add_candidate(out, TransitChange::content_type_parameter_changed,
                              where + " was not quoted; it was when signed",
                              apply_edits(content, {{p.value_begin, p.end, std::move(quoted)}}),
                              content);
            }
            if (p.name == "charset") {
                std::string flipped(v);
                const bool is_lower = lower(v) == v;
                for (char& c : flipped) {
                    c = is_lower ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                                 : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                }
                add_candidate(
                    out, TransitChange::content_type_parameter_changed,
                    where + " was " + (is_lower ? "upper" : "lower") + " case when signed",
                    apply_edits(content, {{p.value_begin, p.end, flipped}}), content);
            }
            if (p.name != "boundary") {
                add_candidate(out, TransitChange::content_type_parameter_changed,
                              where + " was added", apply_edits(content, {{p.begin, p.end, ""}}),
                              content);
            }
        }
    });
}

}  // namespace

void undo_header_changes(std::string_view content, const Node& root, Visitor& out) {
    undo_folding(content, root, out);
    undo_subject_tag(content, root, out);
    undo_ct_params(content, root, out);
    undo_reorder(content, root, out);
}

}  // namespace ribbon::doctor
