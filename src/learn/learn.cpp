// learn.cpp — one inbound message → one Observation (ribbon/learn.hpp).
#include "ribbon/learn.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>

#include "base/ascii.hpp"
#include "core/mime_parse.hpp"
#include "core/openssl_util.hpp"
#include "ribbon/signer.hpp"
#include "ribbon/smime_form.hpp"

namespace ribbon {

namespace {

// Confidence of a signature that no longer verifies: the customer's client
// made S/MIME, but a damaged or misaddressed signature proves less.
constexpr double kDamagedSignatureConfidence = 0.7;

const std::string* header(const std::vector<MailHeader>& headers, std::string_view name) {
    for (const auto& h : headers) {
        if (ascii_iequals(h.name, name)) return &h.value;
    }
    return nullptr;
}

// A top-level Content-Type's media type as GMime parses it (RFC 2045 §5.1:
// comments and quoting included), in lower case; empty when absent.
std::string media_type(const std::string* value) {
    if (value == nullptr) return {};
    mime::ensure_gmime();
    mime::GPtr<GMimeContentType> type(g_mime_content_type_parse(nullptr, value->c_str()));
    if (!type) return {};
    std::string media;
    if (char* m = g_mime_content_type_get_mime_type(type.get())) {
        media = ascii_lower(m);
        g_free(m);
    }
    return media;
}

// Why a message says nothing about its sender's mail client, or empty.
std::string skip_reason(const std::vector<MailHeader>& headers, std::string_view from) {
    if (const std::string* auto_submitted = header(headers, "Auto-Submitted")) {
        // RFC 3834 §5: any value but "no" marks a message no person wrote.
        std::string value = ascii_lower(*auto_submitted);
        value = value.substr(0, value.find_first_of(" \t;("));
        if (value != "no") return "an automatic message (Auto-Submitted: " + value + ")";
    }
    if (media_type(header(headers, "Content-Type")) == "multipart/report") {
        return "a delivery or read report (multipart/report)";
    }
    if (const std::string* precedence = header(headers, "Precedence")) {
        const std::string value = ascii_lower(*precedence);
        if (value.starts_with("bulk") || value.starts_with("junk")) return "bulk mail (Precedence: " + value + ")";
    }
    const std::string local = ascii_lower(from.substr(0, from.rfind('@')));
    if (local == "mailer-daemon" || local == "postmaster") return "mail from a mailer daemon";
    return {};
}

std::optional<HarvestedCertificate> harvest(const std::string& der, const std::vector<std::string>& capabilities) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!cert) return std::nullopt;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(der.data(), der.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) return std::nullopt;
    const CertificateInfo info = ossl::describe_certificate(cert.get());
    HarvestedCertificate out;
    out.sha256 = ossl::hex(digest.data(), length);
    out.subject = info.subject;
    out.issuer = info.issuer;
    out.serial = ascii_lower(info.serial_hex);
    out.not_after = std::chrono::duration_cast<std::chrono::seconds>(info.not_after.time_since_epoch()).count();
    out.capabilities = capabilities;
    out.der = der;
    return out;
}

void learn_sealed(Observation& out) {
    out.capability = SmimeSupport::supported;
    out.confidence = 1.0;
    out.capability_evidence = "sealed message (S/MIME enveloped-data)";
}

// Fills the capability from a signed message's verification.
void learn_from_signature(const VerifyResult& verified, Observation& out) {
    const bool signature_holds = verified.reason != VerifyReason::digest_mismatch &&
                                 verified.reason != VerifyReason::bad_signature && verified.signer;
    out.capability = SmimeSupport::supported;
    if (signature_holds && verified.from_in_certificate) {
        out.confidence = 1.0;
        out.capability_evidence = "signed message, signature verified";
        if (verified.verdict != Verdict::valid) {
            out.capability_evidence += " (" + std::string(verify_reason_name(verified.reason)) + ")";
        }
        const auto& bound = verified.bound_certificates;
        for (const auto& der : verified.sender_certificates) {
            if (auto cert = harvest(der, verified.signer->smime_capabilities)) {
                cert->bound = std::find(bound.begin(), bound.end(), der) != bound.end();
                out.certificates.push_back(std::move(*cert));
            }
        }
        return;
    }
    out.confidence = kDamagedSignatureConfidence;
    if (signature_holds) {
        // The chain may fail too, but the reason nothing is harvested is the
        // address: the verifier reports only the first failing check.
        out.capability_evidence =
            "signed message, but the signer's certificate does not name the From address";
        return;
    }
    out.capability_evidence =
        "signed message whose signature does not hold (" + std::string(verify_reason_name(verified.reason)) + ")";
}

}  // namespace

Learner::Learner(ClientRules rules, TrustStore trust, std::function<bool(std::string_view)> own_address)
    : m_rules(std::move(rules)), m_verifier(std::move(trust)), m_own_address(std::move(own_address)) {}

Result<Learner::Lesson> Learner::observe(std::string_view message, UnixTime now) const {
    auto from = from_address(MessageInput::from_memory(message));
    if (!from) return std::move(from).error();
    Lesson lesson;
    const std::string address = ascii_lower(*from);
    const std::vector<MailHeader> headers = parse_mail_headers(message);
    if (m_own_address && m_own_address(address)) {
        lesson.skipped = "mail from the organisation's own address " + address;
        return lesson;
    }
    if (std::string why = skip_reason(headers, address); !why.empty()) {
        lesson.skipped = std::move(why);
        return lesson;
    }

    Observation out;
    out.address = address;
    out.time = now;
    if (auto match = m_rules.detect(headers)) {
        out.client = ClientSighting{match->name, match->version, match->evidence, match->smime};
        out.capability = match->smime;
        out.capability_evidence = "client " + match->name + " (" + match->evidence + ")";
        out.confidence = match->smime == SmimeSupport::unknown ? 0 : match->confidence;
    }
    const std::string* content_type = header(headers, "Content-Type");
    // ribbon/smime_form.hpp: a .p7m that says signed-data, or that does not
    // say what it is, is opened to see; only the CMS content tells.
    const SmimeForm form = smime_form(content_type != nullptr ? *content_type : std::string());
    if (form == SmimeForm::sealed) {
        learn_sealed(out);
    } else if (form == SmimeForm::signed_detached || form == SmimeForm::signed_opaque ||
               form == SmimeForm::untyped) {
        auto verified = m_verifier.verify(MessageInput::from_memory(message));
        if (!verified && verified.error().kind() != ErrorKind::permanent) {
            return std::move(verified).error();
        }
        if (!verified) {
            // A message cut short, base64 that is not, a CMS object that is
            // not one: the mail system broke what the customer's client
            // made, which still shows the client makes S/MIME. Failing the
            // lesson would lose that, the client and the message count.
            out.capability = SmimeSupport::supported;
            out.confidence = kDamagedSignatureConfidence;
            out.capability_evidence = "S/MIME message that cannot be read (" +
                                      std::string(errc_name(verified.error().code())) + ")";
        } else if (verified->verdict != Verdict::not_signed) {
            learn_from_signature(*verified, out);
        } else if (form != SmimeForm::signed_detached) {
            // Only a .p7m without smime-type gets here, and the verifier
            // found a CMS object that is not SignedData: sealed mail.
            learn_sealed(out);
        }
    }
    lesson.observation = std::move(out);
    return lesson;
}

}  // namespace ribbon
