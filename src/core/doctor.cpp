// doctor.cpp — see ribbon/doctor.hpp: finding the signed content (the
// verifier's own locate()), the search over undone changes, and what each
// finding means for people.
#include "ribbon/doctor.hpp"

#include "core/doctor_check.hpp"
#include "core/doctor_compare.hpp"
#include "core/doctor_inverse.hpp"
#include "core/mime_parse.hpp"
#include "core/verify_locate.hpp"
#include "core/verify_mime.hpp"

namespace ribbon {

namespace doctor {
namespace {

// Signed parts inside a multipart/mixed (a list's footer part) are looked
// for this deep.
constexpr int kMaxWrapDepth = 3;

std::string mime_type_of(GMimeContentType* type) {
    char* t = g_mime_content_type_get_mime_type(type);
    std::string out = lower(t != nullptr ? t : "");
    g_free(t);
    return out;
}

struct Opened {
    verify::Located found;
    std::vector<Candidate> wrapping;  // part_added, when the signed part was wrapped
};

Result<Opened> open_signed(std::string_view bytes, int depth = 0) {
    auto entity = mime::parse_entity(bytes);
    if (!entity) return std::move(entity).error();
    auto found = verify::locate(entity->get(), bytes);
    if (!found) return std::move(found).error();
    if (found->holds == verify::Holds::signed_data) return Opened{std::move(*found), {}};
    if (found->holds == verify::Holds::sealed) {
        return permanent_error(Errc::not_signed,
                               "the message is sealed (" + found->detail +
                                   "); the doctor looks at signatures it can see");
    }
    GMimeObject* top = entity->get();
    GMimeContentType* type = g_mime_object_get_content_type(top);
    const char* boundary =
        type != nullptr ? g_mime_content_type_get_parameter(type, "boundary") : nullptr;
    if (depth < kMaxWrapDepth && GMIME_IS_MULTIPART(top) && boundary != nullptr) {
        auto parts = verify::multipart_parts(bytes, boundary);
        if (parts) {
            for (std::size_t i = 0; i < parts->size(); ++i) {
                auto inner = open_signed((*parts)[i], depth + 1);
                if (!inner) continue;
                std::string added;
                for (std::size_t j = 0; j < parts->size(); ++j) {
                    if (j == i) continue;
                    if (!added.empty()) added += ", ";
                    added += "part " + std::to_string(j + 1);
                }
                inner->wrapping.insert(
                    inner->wrapping.begin(),
                    Candidate{
                        TransitChange::part_added,
                        "the signed message is part " + std::to_string(i + 1) + " of a " +
                            mime_type_of(type) + "; " + (added.empty() ? "nothing" : added) +
                            " added around it (the signature over the signed part itself holds)",
                        {}});
                return inner;
            }
        }
    }
    return permanent_error(Errc::not_signed, "not an S/MIME signed message: " + found->detail);
}

struct Variant {
    std::string bytes;
    std::vector<Candidate> fix;  // bare_cr when the line ends were repaired
};

// The message as received, and with bare CRs repaired (a CRLF that became
// CR CR LF, or a lone CR): those break the delimiters too, so they are
// undone before the MIME structure is read.
std::vector<Variant> line_end_variants(std::string_view bytes) {
    std::vector<Variant> out{{std::string(bytes), {}}};
    std::string fixed;
    std::size_t crcrlf = 0, lone = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (bytes.compare(i, 3, "\r\r\n") == 0) {
            fixed += "\r\n";
            i += 2;
            ++crcrlf;
        } else if (bytes[i] == '\r' && (i + 1 >= bytes.size() || bytes[i + 1] != '\n')) {
            fixed += "\r\n";
            ++lone;
        } else {
            fixed.push_back(bytes[i]);
        }
    }
    if (crcrlf + lone == 0) return out;
    std::string evidence = crcrlf != 0 ? plural(crcrlf, "line") + " end in CR CR LF" : "";
    if (lone != 0)
        evidence += (evidence.empty() ? "" : ", ") + plural(lone, "line") + " end in a bare CR";
    out.push_back({std::move(fixed), {{TransitChange::bare_cr, evidence, {}}}});
    return out;
}

struct Search {
    DigestCheck& check;
    const DoctorOptions& options;
    bool exhausted = false;

    bool over_budget() {
        exhausted = exhausted || check.digested_bytes() > options.max_digest_bytes;
        return exhausted;
    }

    // The first one or two undone changes that make the content match.
    // Candidates are made one at a time (Visitor); the pairs are made by
    // undoing every change again on each single candidate.
    std::optional<std::vector<Candidate>> run(std::string_view content) {
        std::optional<std::vector<Candidate>> found;
        Visitor singles{[&](Candidate&& c) {
            if (over_budget()) return false;
            if (check.matches(c.bytes)) found = std::vector<Candidate>{std::move(c)};
            return !found;
        }};
        undo_each(content, singles);
        if (found || exhausted || options.max_combined < 2) return found;
        Visitor firsts{[&](Candidate&& first) {
            Visitor seconds{[&](Candidate&& second) {
                if (over_budget()) return false;
                if (second.change == first.change || !check.matches(second.bytes)) return true;
                // Undone last, so made first in transit.
                found = std::vector<Candidate>{std::move(second), first};
                return false;
            }};
            undo_each(first.bytes, seconds);
            return !found && !exhausted;
        }};
        undo_each(content, firsts);
        return found;
    }
};

}  // namespace
}  // namespace doctor

namespace {

struct Advice {
    TransitChange change;
    const char* name;
    const char* usual_source;
    const char* advice;
};

// What each change usually comes from and how to keep signatures intact
// (docs/DOCTOR.md says the same at length). "Opaque signing" is
// application/pkcs7-mime (RFC 8551 §3.5.2): the content travels inside the
// base64 of the signature, out of reach of these rewrites.
constexpr const char* kOpaque =
    "sign opaquely for that recipient domain (opaque_for in [milter], [relay] or [sendmail]) or "
    "that recipient (ribbon recipients set ADDRESS --opaque), so the content travels inside the "
    "signature";
const Advice kAdvice[] = {
    {TransitChange::long_lines_rewrapped, "long_lines_rewrapped",
     "an MTA or gateway enforcing the 998-octet line limit (RFC 5321 §4.5.3.1.6), such as "
     "Exchange, or a list re-wrapping text",
     "sign with ribbon, whose canonical encoding keeps every line within 76 octets; or "},
    {TransitChange::trailing_whitespace_stripped, "trailing_whitespace_stripped",
     "a mailing list, gateway or client that trims line ends (often while handling "
     "format=flowed text)",
     "sign with ribbon, whose canonical encoding quoted-printable-encodes white space at line "
     "ends; or "},
    {TransitChange::line_ends_changed, "line_ends_changed",
     "a signer that hashed LF line ends instead of the canonical CRLF (RFC 8551 §3.1.1), then "
     "an MTA that wrote CRLF",
     "sign the canonical CRLF form (ribbon always does); or "},
    {TransitChange::bare_cr, "bare_cr",
     "a gateway, archive or client converting line ends (a Mac or FTP-ASCII style conversion)",
     "find the hop that converts line ends (the message was stored or passed as text); or "},
    {TransitChange::eightbit_to_quoted_printable, "eightbit_to_quoted_printable",
     "an MTA or Exchange converting 8bit to quoted-printable for a hop without 8BITMIME "
     "(RFC 6152)",
     "sign with ribbon, whose canonical 7-bit encoding leaves nothing to convert; or "},
    {TransitChange::eightbit_to_base64, "eightbit_to_base64",
     "an MTA, Exchange or a content scanner re-encoding an 8-bit part as base64",
     "sign with ribbon, whose canonical 7-bit encoding leaves nothing to convert; or "},
    {TransitChange::base64_rewrapped, "base64_rewrapped",
     "a gateway or content scanner re-encoding attachments at another line width", ""},
    {TransitChange::body_charset_converted, "body_charset_converted",
     "a gateway or list server converting text to UTF-8 (or from it)",
     "send text in UTF-8 (ribbon's canonical form encodes it quoted-printable); or "},
    {TransitChange::header_charset_converted, "header_charset_converted",
     "a gateway or list server re-encoding RFC 2047 encoded-words in header fields", ""},
    {TransitChange::footer_added, "footer_added",
     "mailing-list software or a gateway adding a footer or disclaimer",
     "have the list or gateway leave signed mail alone, or add its footer as a part of its "
     "own around the signed message; or "},
    {TransitChange::part_added, "part_added",
     "mailing-list software or a gateway adding a footer or disclaimer part",
     "the signature over the original part holds, but clients that want the whole message "
     "signed show it as broken: have the list or gateway leave signed mail alone; or "},
    {TransitChange::boundary_changed, "boundary_changed",
     "a gateway, content scanner or archive that re-serialises MIME and makes new boundaries", ""},
    {TransitChange::content_type_parameter_changed, "content_type_parameter_changed",
     "a gateway or content scanner rewriting Content-Type fields (quoting, case, added "
     "parameters)",
     ""},
    {TransitChange::mbox_from_quoting, "mbox_from_quoting",
     "a Unix mbox writer (RFC 4155) quoting lines that start with \"From \"",
     "sign with ribbon, whose canonical encoding writes a leading \"From \" as \"=46rom \"; "
     "store mail in maildir; or "},
    {TransitChange::header_folded, "header_folded",
     "an MTA or gateway re-folding header fields, Exchange among them",
     "sign with ribbon, which folds the signed part's fields within 76 octets; or "},
    {TransitChange::header_reordered, "header_reordered",
     "a gateway or content scanner re-serialising the MIME header fields", ""},
    {TransitChange::header_rewritten, "header_rewritten",
     "mailing-list software tagging the Subject or rewriting From inside the signed part",
     "have the list leave signed mail alone (or change only the outer header fields, which "
     "the signature does not cover); or "},
};

const Advice& advice_for(TransitChange change) {
    for (const Advice& a : kAdvice) {
        if (a.change == change) return a;
    }
    return kAdvice[0];
}

DoctorFinding finding_of(const doctor::Candidate& c) {
    const Advice& a = advice_for(c.change);
    return {c.change, c.evidence, a.usual_source, std::string(a.advice) + kOpaque};
}

std::string names_of(const std::vector<doctor::Candidate>& found) {
    std::string out;
    for (const auto& c : found) {
        if (!out.empty()) out += " and ";
        out += transit_change_name(c.change);
    }
    return out;
}

void conclude(DoctorReport& report, std::vector<doctor::Candidate> found, std::string how) {
    for (const auto& c : found) report.findings.push_back(finding_of(c));
    report.verdict = DoctorVerdict::cause_found;
    report.detail = how.empty()
                        ? "the signed content itself is intact, but " + names_of(found) +
                              " makes receivers see the signature as broken"
                        : "the signature is broken by " + names_of(found) + " (" + how + ")";
}

void fine(DoctorReport& report) {
    report.verdict = DoctorVerdict::fine;
    report.detail = "the signature is fine: it verifies over the signed content as received";
    if (!report.outer_header_changes.empty()) {
        report.detail +=
            "; outer header fields differ from ORIGINAL, but the signature does not cover them";
    }
}

}  // namespace

std::string_view doctor_verdict_name(DoctorVerdict verdict) noexcept {
    switch (verdict) {
        case DoctorVerdict::fine:
            return "fine";
        case DoctorVerdict::cause_found:
            return "cause_found";
        case DoctorVerdict::no_cause_found:
            return "no_cause_found";
    }
    return "no_cause_found";
}

std::string_view transit_change_name(TransitChange change) noexcept {
    return advice_for(change).name;
}

namespace {

constexpr const char* kNotThisSignature =
    "; ORIGINAL's signed part does not match this signature either, so it is not the message "
    "as signed";

// One variant of the message (as received, or with its line ends
// repaired): true when it settled the report.
Result<bool> diagnose_variant(const doctor::Variant& v, const std::optional<doctor::Opened>& orig,
                              const DoctorOptions& options, DoctorReport& report,
                              std::optional<Error>& first_error) {
    auto opened = doctor::open_signed(v.bytes);
    if (!opened) {
        if (!first_error) first_error = std::move(opened).error();
        return false;
    }
    auto check = doctor::DigestCheck::create(opened->found.cms.get());
    if (!check) return std::move(check).error();
    report.opaque = opened->found.opaque;
    report.digest_algorithm = check->algorithm();
    if (check->signature_holds() == false) {
        report.verdict = DoctorVerdict::no_cause_found;
        report.detail =
            "the signature value does not verify over its signed attributes: the "
            "signature itself was changed or damaged, which no change to the "
            "content explains";
        return true;
    }
    std::vector<doctor::Candidate> prefix = v.fix;
    prefix.insert(prefix.end(), opened->wrapping.begin(), opened->wrapping.end());
    const std::string& content = opened->found.content;
    const bool intact = check->matches(content);
    report.candidates_tried += 1;
    if (intact) {
        if (prefix.empty())
            fine(report);
        else
            conclude(report, std::move(prefix), "");
        return true;
    }
    if (opened->found.opaque) return false;  // the content travels inside the signature
    doctor::Search search{*check, options};
    auto found = search.run(content);
    report.candidates_tried = check->candidates();
    if (found) {
        prefix.insert(prefix.end(), found->begin(), found->end());
        conclude(report, std::move(prefix), "undoing it restores the signed digest");
        return true;
    }
    if (orig) {
        // ORIGINAL whose signed part is not what this signature was made
        // over is another message (or another version): compared all the
        // same, but said.
        const bool same = check->matches(orig->found.content);
        auto diff = doctor::explain_difference(orig->found.content, content);
        if (!diff.empty()) {
            prefix.insert(prefix.end(), diff.begin(), diff.end());
            conclude(report, std::move(prefix), "found by comparing with ORIGINAL");
            if (!same) report.detail += kNotThisSignature;
            return true;
        }
        if (!same) report.detail = std::string(kNotThisSignature + 2) + "; ";
    }
    if (search.exhausted) report.detail = "the search stopped at its limit; ";
    return false;
}

}  // namespace

Result<DoctorReport> diagnose(std::string_view received, std::optional<std::string_view> original,
                              const DoctorOptions& options) {
    if (received.empty()) return permanent_error(Errc::empty_message, "the message is empty");
    DoctorReport report;
    std::optional<doctor::Opened> orig;
    if (original) {
        if (original->empty()) return permanent_error(Errc::empty_message, "ORIGINAL is empty");
        auto o = doctor::open_signed(*original);
        if (!o)
            return Error(o.error().code(), o.error().kind(), "ORIGINAL: " + o.error().message());
        orig = std::move(*o);
        report.compared_with_original = true;
        report.outer_header_changes = doctor::outer_header_changes(*original, received);
    }
    std::optional<Error> first_error;
    bool opened_any = false;
    for (const doctor::Variant& v : doctor::line_end_variants(received)) {
        const bool had_error = first_error.has_value();
        auto settled = diagnose_variant(v, orig, options, report, first_error);
        if (!settled) return std::move(settled).error();
        if (*settled) return report;
        opened_any = opened_any || first_error.has_value() == had_error;
    }
    if (!opened_any) return std::move(*first_error);
    report.verdict = DoctorVerdict::no_cause_found;
    report.detail += "the signed content was changed after signing, by nothing the doctor knows";
    if (report.opaque) {
        report.detail =
            "the content inside the opaque signature does not match its digest: it "
            "was changed inside the signature, which no transit change does";
    } else if (!orig) {
        report.detail += "; giving the message as sent (ORIGINAL) may tell more";
    }
    return report;
}

}  // namespace ribbon
