// doctor_inverse_parts.cpp — see doctor_inverse.hpp; footers, added parts
// and line ends.
#include "core/doctor_inverse.hpp"

namespace ribbon::doctor {

namespace {

// Footers are a few lines (Mailman's default is four, with its separator
// line); more than this many lines is not guessed.
constexpr std::size_t kMaxFooterLines = 12;
// Footers are guessed in this many text parts at most.
constexpr std::size_t kMaxFooterParts = 8;

std::string first_line(std::string_view text) {
    while (text.starts_with("\r\n") || text.starts_with("\n")) {
        text.remove_prefix(text[0] == '\r' ? 2 : 1);
    }
    std::string_view l = text.substr(0, text.find_first_of("\r\n"));
    if (l.size() > 60) return std::string(l.substr(0, 60)) + "...";
    return std::string(l);
}

// Text appended to a body: the last k lines removed, with or without the
// line break before them (a body that ended without one).
void undo_footer(std::string_view content, const Node& root, Visitor& out) {
    std::size_t parts = 0;
    each_node(root, [&](const Node& n) {
        if (n.multipart() || !n.text() || n.cte == "base64" || parts >= kMaxFooterParts) return;
        ++parts;
        const auto lines = lines_of(content, n.body_begin, n.end);
        for (std::size_t k = 1; k <= kMaxFooterLines && k < lines.size(); ++k) {
            const Line& first = lines[lines.size() - k];
            const std::string footer(first_line(content.substr(first.begin, n.end - first.begin)));
            const std::string evidence = "the last " + plural(k, "line") + " of " + part_name(n) +
                                         " were added, starting \"" + footer + "\"";
            add_candidate(out, TransitChange::footer_added, evidence,
                          apply_edits(content, {{first.begin, n.end, ""}}), content);
            const Line& before = lines[lines.size() - k - 1];
            add_candidate(out, TransitChange::footer_added, evidence,
                          apply_edits(content, {{before.end, n.end, ""}}), content);
        }
    });
}

// A part appended to a multipart, or text after its close delimiter (the
// epilogue, RFC 2046 §5.1.1: signed like the rest when inside the signed
// part).
void undo_added_parts(std::string_view content, const Node& root, Visitor& out) {
    each_node(root, [&](const Node& n) {
        if (!n.multipart()) return;
        const Node& last = n.parts.back();
        if (n.parts.size() >= 2) {
            add_candidate(out, TransitChange::part_added,
                          part_name(last) + " (" + last.type + "/" + last.subtype +
                              ") was added at the end of " + part_name(n),
                          apply_edits(content, {{n.part_delimiters.back(), last.end, ""}}),
                          content);
        }
        // The close delimiter follows the last part: "\r\n--b--".
        const std::string close = "--" + n.boundary + "--";
        const std::size_t at = content.find(close, last.end);
        if (at == std::string_view::npos || at >= n.end) return;
        const std::size_t after = at + close.size();
        const std::size_t eol = content.find('\n', after);
        const std::size_t line_end =
            eol == std::string_view::npos || eol >= n.end ? n.end : eol + 1;
        for (std::size_t cut : {line_end, after}) {
            if (cut >= n.end) continue;
            add_candidate(out, TransitChange::footer_added,
                          "text after the end of " + part_name(n) + " was added, starting \"" +
                              first_line(content.substr(cut, n.end - cut)) + "\"",
                          apply_edits(content, {{cut, n.end, ""}}), content);
        }
    });
}

// The signer hashed LF line ends (not canonical, RFC 8551 §3.1.1, but
// some do) and a system turned them into CRLF; the verifier's own
// canonicalisation then cannot restore them.
void undo_line_ends(std::string_view content, Visitor& out) {
    if (content.find("\r\n") == std::string_view::npos) return;
    std::string lf;
    lf.reserve(content.size());
    for (std::size_t i = 0; i < content.size(); ++i) {
        if (content[i] == '\r' && i + 1 < content.size() && content[i + 1] == '\n') continue;
        lf.push_back(content[i]);
    }
    add_candidate(out, TransitChange::line_ends_changed,
                  "the signature is over the content with LF line ends; it arrived with CRLF",
                  std::move(lf), content);
}

}  // namespace

void undo_body_changes(std::string_view content, const Node& root, Visitor& out) {
    undo_added_parts(content, root, out);
    undo_footer(content, root, out);
    undo_line_ends(content, out);
}

}  // namespace ribbon::doctor
