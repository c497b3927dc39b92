// verifier.cpp — checks S/MIME signed mail as a careful receiver does:
// walks the signature layers of a message, and when the message as a whole
// is not signed, the signed parts of its body; turns each layer's checks
// into a verdict and the layers into the message's.
//
// Input is untrusted from the first byte: the MIME structure, the CMS object
// and every certificate in it are parsed by GMime and OpenSSL and checked
// before anything they say is believed. The only trusted inputs are the
// TrustStore's roots and the caller's clock (or --at). Where each piece
// lives:
//   verify_locate   what an entity holds (a signature, a sealed layer, nothing)
//   verify_signer   one SignedData's signature, algorithms and chains
//   verify_judge    one layer's verdict, the Date rule, the coverage sentence
//   verify_mime     MIME bytes: splitting, canonical form, From, RFC 9788
//   verify_strength the algorithm policy
//
// Policy decisions (docs/VERIFY.md; tests/data/corpus/README.md has the
// evidence):
//  - Every signature layer is verified, outermost first (RFC 8551 §3.7
//    allows signing a signed message), each against the message's own From
//    and Date: the outer header is what the reader sees, and it is what each
//    signer must vouch for (RFC 8550 §3), as current Thunderbird judges a
//    message signed by Alice and then by Dave. At most kMaxSignatureLayers.
//  - A sealed layer (enveloped or authEnveloped) ends the walk: ribbon
//    cannot open it; it is reported, and is no verdict by itself.
//  - A message whose top level is not signed may carry signed parts (a
//    mailing list's footer added in a multipart/mixed around the signed
//    original): each is verified, and the coverage says what is not signed.
//    An attached message/rfc822 is another message, never verified as this
//    one.
//
// Thread-safety: verify() is const and shares only the TrustStore, which is
// read-only; everything else is per call.
#include "ribbon/verifier.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "base/ascii.hpp"
#include "core/mime_parse.hpp"
#include "core/openssl_util.hpp"
#include "core/trust_store_impl.hpp"
#include "core/verify_judge.hpp"
#include "core/verify_locate.hpp"
#include "core/verify_mime.hpp"
#include "core/verify_signer.hpp"

namespace ribbon {

std::string_view verify_reason_name(VerifyReason reason) noexcept {
    switch (reason) {
        case VerifyReason::none:
            return "none";
        case VerifyReason::digest_mismatch:
            return "digest_mismatch";
        case VerifyReason::bad_signature:
            return "bad_signature";
        case VerifyReason::untrusted:
            return "untrusted";
        case VerifyReason::certificate_expired:
            return "certificate_expired";
        case VerifyReason::certificate_not_yet_valid:
            return "certificate_not_yet_valid";
        case VerifyReason::certificate_usage:
            return "certificate_usage";
        case VerifyReason::from_not_in_certificate:
            return "from_not_in_certificate";
        case VerifyReason::protected_header_mismatch:
            return "protected_header_mismatch";
        case VerifyReason::not_signed:
            return "not_signed";
        case VerifyReason::weak_algorithm:
            return "weak_algorithm";
        case VerifyReason::weak_key:
            return "weak_key";
        case VerifyReason::date_mismatch:
            return "date_mismatch";
        case VerifyReason::partial_coverage:
            return "partial_coverage";
    }
    return "unknown";
}

std::string_view layer_kind_name(LayerKind kind) noexcept {
    switch (kind) {
        case LayerKind::multipart_signed:
            return "multipart-signed";
        case LayerKind::opaque:
            return "opaque";
        case LayerKind::sealed:
            return "sealed";
    }
    return "unknown";
}

Verifier::Verifier(TrustStore trust) : m_trust(std::move(trust)) {}

namespace {

using verify::Holds;
using verify::Located;

// What every layer of one message is checked against, and where results go.
struct Walk {
    const TrustStore::Impl& trust;
    const VerifyOptions& options;
    GMimeObject* outer;  // the header section the reader sees
    std::vector<std::string> from;
    std::optional<std::string> date;  // the Date field's raw value
    VerifyResult& result;
    int signed_layers = 0;
};

std::string sha256_hex(std::string_view bytes) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
    return ossl::hex(digest, sizeof digest);
}

std::optional<std::string> raw_header(GMimeObject* object, const char* name) {
    GMimeHeaderList* list = object != nullptr ? g_mime_object_get_header_list(object) : nullptr;
    GMimeHeader* header = list != nullptr ? g_mime_header_list_get_header(list, name) : nullptr;
    if (header == nullptr) return std::nullopt;
    const char* raw = g_mime_header_get_raw_value(header);
    return std::string(raw != nullptr ? raw : "");
}

std::string child_path(const std::string& parent, std::size_t index) {
    const std::string n = std::to_string(index + 1);
    return parent.empty() ? n : parent + "." + n;
}

// Verifies one signed layer, reports it, and for the first layer of the
// message fills the top-level fields. `inner` is its content as an entity,
// when it is one.
void verify_layer(Walk& w, const Located& found, GMimeObject* inner, const std::string& part) {
    verify::SignerExam exam = verify::examine(found, w.trust, w.options, w.from);
    SignatureLayer layer;
    layer.kind = found.opaque ? LayerKind::opaque : LayerKind::multipart_signed;
    layer.part = part;
    layer.opaque = found.opaque;
    verify::LayerFacts facts;
    facts.from_present = !w.from.empty();
    if (exam.signer) {
        facts.from_in_certificate =
            verify::addresses_covered(w.from, exam.signer->certificate.addresses);
        facts.date = verify::check_date(exam.signer->signing_time, w.date);
    }
    // RFC 9788: the protected copies inside the signed entity against the
    // outer header.
    if (inner != nullptr) {
        auto hp = verify::compare_protected_headers(inner, w.outer);
        facts.header_protection = hp.present;
        facts.protected_headers = std::move(hp.headers);
    }
    verify::judge_layer(exam, facts, layer);
    layer.signer = exam.signer;
    layer.from_in_certificate = facts.from_in_certificate;
    layer.warnings = exam.warnings;

    VerifyResult& r = w.result;
    if (w.signed_layers == 1) {
        r.opaque = found.opaque;
        r.signer = std::move(exam.signer);
        r.from_in_certificate = facts.from_in_certificate;
        r.sender_certificates = std::move(exam.sender_certificates);
        r.bound_certificates = std::move(exam.bound_certificates);
        r.header_protection = facts.header_protection;
        r.protected_headers = std::move(facts.protected_headers);
        r.content_sha256 = sha256_hex(found.content);
    }
    r.layers.push_back(std::move(layer));
}

void add_sealed(Walk& w, const Located& found, const std::string& part) {
    SignatureLayer layer;
    layer.kind = LayerKind::sealed;
    layer.part = part;
    layer.verdict = Verdict::not_signed;
    layer.reason = VerifyReason::none;
    layer.detail = "sealed (" + found.detail + "), not opened: ribbon cannot open sealed mail";
    w.result.layers.push_back(std::move(layer));
}

// A layer's content as a MIME entity. A multipart is parsed from its header
// section alone: the next step needs only its Content-Type (ribbon splits
// the body itself) and the protected-header comparison only its header, and
// parsing a hostile body nested thousands deep once per layer would cost
// the nesting depth times the size.
Result<mime::GPtr<GMimeObject>> parse_content(std::string_view content) {
    auto body = verify::message_body(content);
    if (body) {
        const std::string_view header = content.substr(0, content.size() - body->size());
        auto head = mime::parse_entity(header);
        if (head && GMIME_IS_MULTIPART(head->get())) return head;
    }
    return mime::parse_entity(content);
}

// Walks the layers from `entity` (bytes `bytes`, at MIME part `part`)
// inwards: a signature inside a signature's content is the next layer, a
// sealed layer or anything else ends the walk. Sets `first` to what the
// entity itself holds. Each step keeps only the previous layer's content.
Result<void> walk_layers(Walk& w, GMimeObject* entity, std::string_view bytes, std::string part,
                         Located& first) {
    Located current;
    mime::GPtr<GMimeObject> current_entity;
    for (int depth = 0;; ++depth) {
        auto located = verify::locate(entity, bytes);
        if (!located) {
            if (depth == 0) return std::move(located).error();
            const Error& e = located.error();
            return Error(
                e.code(), e.kind(),
                "signature layer " + std::to_string(w.signed_layers + 1) + ": " + e.message());
        }
        Located found = std::move(*located);
        if (found.holds == Holds::sealed) add_sealed(w, found, part);
        if (found.holds != Holds::signed_data) {
            if (depth == 0) first = std::move(found);
            return {};
        }
        if (++w.signed_layers > kMaxSignatureLayers) {
            return permanent_error(Errc::limit_exceeded,
                                   "more than " + std::to_string(kMaxSignatureLayers) +
                                       " signature layers: the message is refused, not verified");
        }
        // The content is parsed as an entity from the signed bytes (RFC
        // 8551 §3.1.1 canonical form for a multipart/signed's first part).
        auto inner = parse_content(found.content);
        GMimeObject* inner_entity = inner ? inner->get() : nullptr;
        verify_layer(w, found, inner_entity, part);
        if (depth == 0) first.holds = Holds::signed_data;
        if (!inner) return {};
        if (!found.opaque) part = child_path(part, 0);
        current = std::move(found);
        current_entity = std::move(*inner);
        entity = current_entity.get();
        bytes = current.content;
    }
}

std::string content_type_of(GMimeObject* object) {
    GMimeContentType* type = g_mime_object_get_content_type(object);
    if (type == nullptr) return "text/plain";  // RFC 2045 §5.2
    return ascii_lower(std::string(g_mime_content_type_get_media_type(type)) + "/" +
                       g_mime_content_type_get_media_subtype(type));
}

bool may_hold_signature(GMimeObject* object) {
    GMimeContentType* type = g_mime_object_get_content_type(object);
    return type != nullptr && (g_mime_content_type_is_type(type, "multipart", "signed") ||
                               g_mime_content_type_is_type(type, "application", "pkcs7-mime") ||
                               g_mime_content_type_is_type(type, "application", "x-pkcs7-mime"));
}

// The signed parts inside a multipart that is not itself signed (RFC 2046
// §5.1), depth first, in order; every other leaf and every attached message
// is an unsigned part. GMime's tree gives the types, ribbon's split of the
// same body the exact bytes of each part.
Result<void> search_parts(Walk& w, GMimeObject* entity, std::string_view bytes,
                          const std::string& path, int depth) {
    if (depth >= mime::Limits{}.max_depth) {
        return permanent_error(Errc::limit_exceeded, "MIME parts are nested too deeply");
    }
    GMimeMultipart* multipart = GMIME_MULTIPART(entity);
    const char* boundary = g_mime_multipart_get_boundary(multipart);
    auto parts = verify::multipart_parts(bytes, boundary != nullptr ? boundary : "");
    if (!parts) return std::move(parts).error();
    const int count = g_mime_multipart_get_count(multipart);
    if (count < 0 || static_cast<std::size_t>(count) != parts->size()) {
        return permanent_error(Errc::malformed_message,
                               "malformed MIME: the parts of " +
                                   (path.empty() ? std::string("the message") : "part " + path) +
                                   " cannot be told apart");
    }
    Coverage& coverage = w.result.coverage;
    for (int i = 0; i < count; ++i) {
        GMimeObject* child = g_mime_multipart_get_part(multipart, i);
        const std::string child_part = child_path(path, static_cast<std::size_t>(i));
        const std::string_view child_bytes = (*parts)[static_cast<std::size_t>(i)];
        if (may_hold_signature(child)) {
            Located first;
            if (auto walked = walk_layers(w, child, child_bytes, child_part, first); !walked) {
                return walked;
            }
            if (first.holds == Holds::signed_data) {
                coverage.signed_parts.push_back(child_part);
                continue;
            }
        } else if (GMIME_IS_MULTIPART(child)) {
            if (auto searched = search_parts(w, child, child_bytes, child_part, depth + 1);
                !searched) {
                return searched;
            }
            continue;
        }
        coverage.unsigned_parts.push_back({child_part, content_type_of(child), child_bytes.size()});
    }
    return {};
}

bool searchable(GMimeObject* top) {
    if (top == nullptr || !GMIME_IS_MULTIPART(top)) return false;
    GMimeContentType* type = g_mime_object_get_content_type(top);
    return !g_mime_content_type_is_type(type, "multipart", "signed") &&
           !g_mime_content_type_is_type(type, "multipart", "encrypted");
}

// "layer 2 (part 1, Alice@example.com): " when there is more than one.
std::string layer_prefix(const VerifyResult& r, std::size_t index) {
    if (r.layers.size() < 2) return {};
    const SignatureLayer& l = r.layers[index];
    std::string prefix = "layer " + std::to_string(index + 1);
    if (!l.part.empty()) prefix += " (part " + l.part + ")";
    return prefix + ": ";
}

// The message's verdict from its layers and coverage.
void conclude(VerifyResult& r, const VerifyOptions& options, std::size_t top_parts) {
    r.coverage.description = verify::describe_coverage(r.coverage, top_parts);
    const SignatureLayer* failed = nullptr;
    std::size_t signed_count = 0;
    for (std::size_t i = 0; i < r.layers.size(); ++i) {
        const SignatureLayer& l = r.layers[i];
        if (l.kind == LayerKind::sealed) continue;
        ++signed_count;
        for (const auto& warning : l.warnings) {
            r.warnings.push_back({warning.code, layer_prefix(r, i) + warning.detail});
        }
        if (failed == nullptr && l.verdict == Verdict::invalid) {
            failed = &l;
            r.reason = l.reason;
            r.detail = layer_prefix(r, i) + l.detail;
        }
    }
    if (failed != nullptr) {
        r.verdict = Verdict::invalid;
        return;
    }
    if (options.require_whole && !r.coverage.whole) {
        r.verdict = Verdict::invalid;
        r.reason = VerifyReason::partial_coverage;
        r.detail = "only part of the message is signed (" + r.coverage.description + ")";
        return;
    }
    r.verdict = Verdict::valid;
    r.reason = VerifyReason::none;
    auto first = std::find_if(r.layers.begin(), r.layers.end(),
                              [](const SignatureLayer& l) { return l.kind != LayerKind::sealed; });
    r.detail = signed_count > 1 ? "every signature layer (" + std::to_string(signed_count) +
                                      ") verified: " + first->detail
                                : first->detail;
    if (!r.coverage.whole) r.detail += "; signed: " + r.coverage.description;
}

Result<VerifyResult> verify_parsed(const mime::ParsedMessage& parsed, const TrustStore::Impl& trust,
                                   const VerifyOptions& options) {
    VerifyResult result;
    Walk w{trust, options, GMIME_OBJECT(parsed.message()), {}, {}, result};
    w.from = verify::from_addresses(parsed.message());
    w.date = raw_header(parsed.header_owner(), "Date");
    result.from_addresses = w.from;
    if (const char* id = g_mime_message_get_message_id(parsed.message())) result.message_id = id;

    // The signed bytes are taken from the raw message, never from GMime's
    // re-serialisation, which may differ from what was hashed.
    const std::string raw = mime::read_stream(parsed.stream());
    GMimeObject* top = g_mime_message_get_mime_part(parsed.message());
    Located first;
    if (auto walked = walk_layers(w, top, raw, "", first); !walked)
        return std::move(walked).error();
    std::size_t top_parts = 0;
    if (first.holds == Holds::signed_data) {
        result.coverage.whole = true;
        result.coverage.signed_parts = {""};
    } else if (first.holds == Holds::nothing && searchable(top)) {
        if (auto searched = search_parts(w, top, raw, "", 0); !searched) {
            return std::move(searched).error();
        }
        top_parts = static_cast<std::size_t>(g_mime_multipart_get_count(GMIME_MULTIPART(top)));
    }
    if (w.signed_layers == 0) {
        result.verdict = Verdict::not_signed;
        result.reason = VerifyReason::not_signed;
        result.detail = result.layers.empty() ? first.detail : result.layers.front().detail;
        result.coverage = {};
        result.coverage.description = "nothing is signed";
        return result;
    }
    conclude(result, options, top_parts);
    return result;
}

// For a signed message the signed bytes and the signature come from
// ribbon's own split (which refuses a truncated or malformed
// multipart/signed) and from the CMS decoder, so GMime's complaints about
// the *content* (a signed text without a header section, as `openssl smime
// -sign` makes, or a sloppy inner part) do not make the message unreadable.
// What stays fatal is what makes the outer header ambiguous.
// A header field longer than the signer would ever write is refused as
// unreadable rather than compared, copied into results and printed.
std::optional<Error> oversized_header(GMimeObject* obj) {
    const mime::Limits limits;
    GMimeHeaderList* list = obj != nullptr ? g_mime_object_get_header_list(obj) : nullptr;
    for (int i = 0; list != nullptr && i < g_mime_header_list_get_count(list); ++i) {
        GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
        const char* raw = g_mime_header_get_raw_value(h);
        std::size_t size = raw != nullptr ? std::strlen(raw) : 0;
        if (size > limits.max_header_bytes) {
            return permanent_error(Errc::limit_exceeded,
                                   std::string("header ") + g_mime_header_get_name(h) + " is " +
                                       std::to_string(size) + " bytes long; the limit is " +
                                       std::to_string(limits.max_header_bytes));
        }
    }
    return std::nullopt;
}

std::optional<Error> fatal_issue(const mime::ParsedMessage& parsed) {
    if (auto e = oversized_header(parsed.header_owner())) return e;
    if (auto e = oversized_header(parsed.top())) return e;
    for (const auto& issue : parsed.issues()) {
        if (issue.code == GMIME_CRIT_CONFLICTING_HEADER) {
            return permanent_error(Errc::malformed_message,
                                   "malformed MIME: conflicting headers (" +
                                       issue.item.substr(0, 200) + ") at byte " +
                                       std::to_string(issue.offset));
        }
        if (issue.code == GMIME_CRIT_NESTING_OVERFLOW) {
            return permanent_error(Errc::limit_exceeded, "MIME parts are nested too deeply");
        }
    }
    return std::nullopt;
}

}  // namespace

Result<VerifyResult> Verifier::verify(const MessageInput& in, const VerifyOptions& options) const {
    try {
        auto parsed = mime::parse_message(in);
        if (!parsed) return std::move(parsed).error();
        auto result = verify_parsed(*parsed, m_trust.impl(), options);
        if (!result) return result;
        if (result->verdict == Verdict::not_signed) {
            // Nothing was verified, so GMime's view is all there is: a
            // broken structure is an error, not "not signed".
            if (auto structure = parsed->check_structure(); !structure) {
                return std::move(structure).error();
            }
        } else if (auto fatal = fatal_issue(*parsed)) {
            return std::move(*fatal);
        }
        return result;
    } catch (const std::bad_alloc&) {
        return Error(Errc::internal_error, ErrorKind::transient, "out of memory while verifying");
    }
}

}  // namespace ribbon
