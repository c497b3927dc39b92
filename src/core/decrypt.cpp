// decrypt.cpp — open_sealed(): reading the message, finding the sealed
// object in it, and putting the opened message together (ribbon/decrypt.hpp).
//   decrypt_keys  the organisation's keys and certificates
//   decrypt_cms   which RecipientInfo, which algorithms, the decryption
//   decrypt_mime  the opened message and RFC 9788 header protection
#include "ribbon/decrypt.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/ascii.hpp"
#include "core/decrypt_cms.hpp"
#include "core/decrypt_mime.hpp"
#include "core/mime_parse.hpp"

namespace ribbon {

namespace {

// The whole input, at most in.max_size() bytes. Opening needs all of it:
// OpenSSL's CMS parser builds the object in memory.
Result<std::string> read_all(const MessageInput& in) {
    switch (in.source()) {
        case MessageInput::Source::memory:
            if (in.bytes().size() > in.max_size()) return message_too_large(in.max_size());
            return std::string(in.bytes());
        case MessageInput::Source::file:
            return read_message_file(in.path(), in.max_size());
        case MessageInput::Source::fd:
            break;
    }
    std::string out(in.bytes());
    char buf[65536];
    while (out.size() <= in.max_size()) {
        const ssize_t n = ::read(in.fd(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return transient_error(Errc::io_error, std::string("cannot read the message: ") + std::strerror(errno));
        if (n == 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return message_too_large(in.max_size());
}

// A string GLib allocated.
struct GFree {
    void operator()(char* p) const noexcept { g_free(p); }
};
using GText = std::unique_ptr<char, GFree>;

// Signature layers taken off around a sealed entity, at most.
constexpr int kMaxNesting = 4;

// A bare CMS object rather than a message: DER or BER (a SEQUENCE, 0x30) or
// PEM, as `openssl cms -encrypt -outform DER|PEM` and .p7m files hold it.
enum class Bare { no, der, pem };
Bare bare_form(std::string_view bytes) {
    if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x30) return Bare::der;
    if (bytes.starts_with("-----BEGIN CMS-----") || bytes.starts_with("-----BEGIN PKCS7-----")) return Bare::pem;
    return Bare::no;
}

// Sealed, by the top-level Content-Type: enveloped-data or
// authEnveloped-data (RFC 8551 §3.3, §3.4), application/pkcs7-mime without
// smime-type (old clients; the CMS content type decides), or — as KMail and
// some gateways label it — application/octet-stream named *.p7m (RFC 8551
// §3.2.1 lists the file name extensions).
bool looks_sealed(const mime::HeaderFields& fields, SmimeForm form) {
    if (form == SmimeForm::sealed || form == SmimeForm::untyped) return true;
    if (form != SmimeForm::none) return false;
    std::string name = sealed::content_type_parameter(fields, "name");
    return name.size() >= 4 && ascii_iequals(std::string_view(name).substr(name.size() - 4), ".p7m");
}

Result<OpenedMessage> open_bare(std::string_view bytes, Bare form, const DecryptionKeys& keys) {
    auto d = sealed::decrypt_cms(bytes, form == Bare::pem, keys);
    if (!d) return std::move(d).error();
    OpenedMessage out;
    out.bare_cms = true;
    out.message = std::move(d->content);
    out.auth_enveloped = d->auth_enveloped;
    out.content_encryption = std::move(d->content_encryption);
    out.key_management = std::move(d->key_management);
    out.recipient = std::move(d->recipient);
    return out;
}

Result<OpenedMessage> open_mime(std::string_view bytes, const DecryptionKeys& keys, int depth);

bool sealed_part(GMimeObject* obj) {
    if (!GMIME_IS_PART(obj)) return false;
    const SmimeForm form = mime::smime_form_of(g_mime_object_get_content_type(obj));
    // application/pkcs7-mime without smime-type: the CMS content type decides.
    if (form == SmimeForm::sealed || form == SmimeForm::untyped) return true;
    const char* name = g_mime_part_get_filename(GMIME_PART(obj));
    const std::string_view n = name != nullptr ? name : "";
    return form == SmimeForm::none && n.size() >= 4 && ascii_iequals(n.substr(n.size() - 4), ".p7m");
}

// The outer header section's fields but Content-*, then `entity`: a
// message whose top level is the entity, to be opened as one.
std::string with_outer_header(std::string_view prefix, const mime::HeaderFields& outer, std::string_view entity) {
    std::string out(prefix);
    for (const auto& f : outer) {
        if (ascii_istarts_with(f.name, "Content-")) continue;
        out.append(f.name);
        out += ':';
        out.append(f.raw_value);
    }
    out.append(entity);
    return out;
}

// A sealed entity below the top level. A signature made around it — an
// opaque SignedData, or a multipart/signed whose first part it is (Thunderbird's
// "sign after encrypt", corpus alice.env.*) — is taken off: it signed the
// sealed bytes, not the opened ones (`ribbon verify` judges it on the
// message as received). A sealed part of a multipart/mixed (a mailing list
// footer added after sealing) is opened in place; the rest of the message
// is kept as GMime writes it.
Result<OpenedMessage> open_nested(std::string_view prefix, const mime::HeaderFields& outer, std::string_view message,
                                  SmimeForm form, const DecryptionKeys& keys, int depth) {
    auto entity = mime::parse_entity(message);
    if (!entity) return std::move(entity).error();
    GMimeObject* top = entity->get();
    if (form == SmimeForm::signed_opaque && GMIME_IS_PART(top)) {
        auto content = sealed::signed_content(mime::decoded_content(GMIME_PART(top)));
        if (!content) return std::move(content).error();
        return open_mime(with_outer_header(prefix, outer, *content), keys, depth + 1);
    }
    if (!GMIME_IS_MULTIPART(top)) {
        return permanent_error(Errc::not_sealed, std::string("the message is not sealed (") +
                                                     std::string(smime_form_description(form)) + ")");
    }
    GMimeMultipart* multipart = GMIME_MULTIPART(top);
    if (form == SmimeForm::signed_detached && g_mime_multipart_get_count(multipart) >= 1 &&
        sealed_part(g_mime_multipart_get_part(multipart, 0))) {
        GText part(g_mime_object_to_string(g_mime_multipart_get_part(multipart, 0), nullptr));
        return open_mime(with_outer_header(prefix, outer, part.get()), keys, depth + 1);
    }
    for (int i = 0; i < g_mime_multipart_get_count(multipart); ++i) {
        GMimeObject* child = g_mime_multipart_get_part(multipart, i);
        if (!sealed_part(child)) continue;
        auto d = sealed::decrypt_cms(mime::decoded_content(GMIME_PART(child)), false, keys);
        if (!d && d.error().code() == Errc::not_sealed) continue;  // untyped signed-data
        if (!d) return std::move(d).error();
        auto opened_part = mime::parse_entity(d->content);
        if (!opened_part) return permanent_error(Errc::damaged, "the opened content is not a MIME entity");
        g_object_unref(g_mime_multipart_replace(multipart, i, opened_part->get()));
        OpenedMessage out;
        out.auth_enveloped = d->auth_enveloped;
        out.content_encryption = std::move(d->content_encryption);
        out.key_management = std::move(d->key_management);
        out.recipient = std::move(d->recipient);
        out.inner_form = mime::smime_form_of(g_mime_object_get_content_type(opened_part->get()));
        GText text(g_mime_object_to_string(top, nullptr));
        out.message = std::string(prefix) + text.get();
        return out;
    }
    return permanent_error(Errc::not_sealed, std::string("the message is not sealed (") +
                                                 std::string(smime_form_description(form)) + ")");
}

Result<OpenedMessage> open_mime(std::string_view bytes, const DecryptionKeys& keys, int depth) {
    if (depth > kMaxNesting) return permanent_error(Errc::limit_exceeded, "more than " + std::to_string(kMaxNesting) + " signature layers around the sealed one");
    // An mbox "From " line (RFC 4155) before the header section is kept as it is.
    std::string_view prefix;
    if (bytes.starts_with("From ")) {
        const std::size_t eol = bytes.find('\n');
        prefix = bytes.substr(0, eol == std::string_view::npos ? bytes.size() : eol + 1);
    }
    const std::string_view message = bytes.substr(prefix.size());
    const mime::HeaderScan scan = mime::scan_header_section(message);
    if (scan.outcome != mime::HeaderScan::Outcome::complete || scan.fields.empty()) {
        return permanent_error(Errc::malformed_message, "not a MIME message: its header section cannot be read");
    }
    const SmimeForm form = sealed::form_of(scan.fields);
    if (!looks_sealed(scan.fields, form)) return open_nested(prefix, scan.fields, message, form, keys, depth);
    auto entity = mime::parse_entity(message);
    if (!entity) return std::move(entity).error();
    if (!GMIME_IS_PART(entity->get())) return permanent_error(Errc::damaged, "the sealed part has no content");
    const std::string der = mime::decoded_content(GMIME_PART(entity->get()));
    if (der.empty()) return permanent_error(Errc::damaged, "the sealed part is empty");
    auto d = sealed::decrypt_cms(der, false, keys);
    if (!d) return std::move(d).error();
    OpenedMessage out;
    out.auth_enveloped = d->auth_enveloped;
    out.content_encryption = std::move(d->content_encryption);
    out.key_management = std::move(d->key_management);
    out.recipient = std::move(d->recipient);
    // The output keeps the input's line ends: what came in LF-only (a
    // local mailbox, a file) goes out LF-only, mail off the wire in CRLF.
    const std::size_t eol = message.find('\n');
    const bool crlf = eol != std::string_view::npos && eol > 0 && message[eol - 1] == '\r';
    if (auto r = sealed::assemble(prefix, scan.fields, d->content, crlf, out); !r) return std::move(r).error();
    return out;
}

}  // namespace

Result<OpenedMessage> open_sealed(const MessageInput& in, const DecryptionKeys& keys) {
    auto bytes = read_all(in);
    if (!bytes) return std::move(bytes).error();
    if (bytes->empty()) return permanent_error(Errc::empty_message, "the message is empty");
    const Bare bare = bare_form(*bytes);
    return bare == Bare::no ? open_mime(*bytes, keys, 0) : open_bare(*bytes, bare, keys);
}

Result<OpenedAndVerified> open_and_verify(const MessageInput& in, const DecryptionKeys& keys,
                                          const Verifier& verifier, const VerifyOptions& options) {
    auto opened = open_sealed(in, keys);
    if (!opened) return std::move(opened).error();
    OpenedAndVerified out{std::move(*opened), std::nullopt, std::nullopt};
    const SmimeForm f = out.opened.inner_form;
    if (!out.opened.bare_cms && (f == SmimeForm::signed_detached || f == SmimeForm::signed_opaque ||
                                 f == SmimeForm::untyped)) {
        auto verdict = verifier.verify(MessageInput::from_memory(out.opened.message), options);
        if (verdict) {
            out.inner = std::move(*verdict);
        } else {
            out.inner_error = std::move(verdict).error();
        }
    }
    return out;
}

}  // namespace ribbon
