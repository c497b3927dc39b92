// signer.cpp — Signer: parse once, check, write the canonical signed part
// while hashing it, sign the digest, assemble the S/MIME message.
//
// Trusts nothing in the message. Writes to the caller's Sink only complete
// results, except into sinks that discard uncommitted output (see io.hpp),
// which receive the signed part as it is produced so that a 100 MB message
// is neither held in memory nor copied twice.
#include "ribbon/signer.hpp"

#include <openssl/rand.h>

#include <atomic>

#include "core/counting_sink.hpp"
#include "core/canonical.hpp"
#include "core/cms_builder.hpp"
#include "core/digital_id_impl.hpp"
#include "core/encoders.hpp"
#include "core/header_scan.hpp"
#include "core/mime_parse.hpp"
#include "core/openssl_util.hpp"
#include "core/outer_headers.hpp"
#include "ribbon/io.hpp"

namespace ribbon {

class Signer::Impl {
public:
    explicit Impl(DigitalId digital_id) : id(std::move(digital_id)) {}
    DigitalId id;
    std::unique_ptr<cms::SignedDataBuilder> builder;
    mime::Limits limits;
};

namespace {

std::string make_boundary() {
    // Unique, not secret: a random per-process prefix and a counter. "=_"
    // cannot occur in quoted-printable or base64 text, so the boundary
    // cannot collide with encoded content (RFC 2045 §6.7, RFC 2046 §5.1.1).
    static const std::string prefix = [] {
        unsigned char random[8];
        RAND_bytes(random, sizeof random);
        return "=_ribbon_" + ossl::hex(random, sizeof random) + "_";
    }();
    static std::atomic<std::uint64_t> counter{0};
    return prefix + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

Result<void> check_validity(const CertificateInfo& cert, TimePoint now) {
    if (now < cert.not_before) {
        return permanent_error(Errc::certificate_not_yet_valid,
                               "certificate " + cert.subject + " is not valid before " +
                                   format_utc(cert.not_before));
    }
    if (now > cert.not_after) {
        return permanent_error(Errc::certificate_expired,
                               "certificate " + cert.subject + " expired on " + format_utc(cert.not_after));
    }
    return {};
}

// The header section of the signed message: the fields that stay outside
// the signature, then the S/MIME Content-Type and, for multipart/signed,
// the preamble and the first boundary.
std::string outer_head(std::string head, SignMode mode, const std::string& boundary) {
    head.reserve(head.size() + 256);
    head += "MIME-Version: 1.0\r\n";
    if (mode == SignMode::detached) {
        // RFC 8551 §3.5.3: multipart/signed, signature second.
        enc::append_folded(head, "Content-Type",
                           "multipart/signed; protocol=\"application/pkcs7-signature\"; "
                           "micalg=sha-256; boundary=\"" + boundary + "\"");
        head += "\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n--";
        head += boundary;
        head += "\r\n";
    } else {
        // RFC 8551 §3.5.2: opaque signed-data, readable only with S/MIME.
        head += "Content-Type: application/pkcs7-mime; smime-type=signed-data;\r\n name=\"smime.p7m\"\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n";
    }
    return head;
}

// Everything after the signed part of a multipart/signed message: the
// application/pkcs7-signature part and the closing boundary, appended to
// `out` (2–3 KB per message).
Result<void> append_signature_part(const cms::SignedDataBuilder& builder, const cms::Digest& digest,
                                   TimePoint signing_time, const std::string& boundary, std::string& out) {
    static constexpr std::string_view kSignatureHeaders =
        "\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n"
        "Content-Description: S/MIME Cryptographic Signature\r\n\r\n";
    out += "\r\n--";
    out += boundary;
    out += kSignatureHeaders;
    if (auto r = builder.append_detached_base64(digest, signing_time, out); !r) return r;
    out += "\r\n--";
    out += boundary;
    out += "--\r\n";
    return {};
}

// Writes the outer header just before the first bytes of the signed part,
// for a signed part too large to be held and written with the rest.
class HeadFirstSink final : public Sink {
public:
    HeadFirstSink(Sink& out, const std::string& head) : m_out(out), m_head(head) {}
    Result<void> write(std::string_view bytes) override {
        if (!m_head_written) {
            m_head_written = true;
            if (auto r = m_out.write(m_head); !r) return r;
        }
        return m_out.write(bytes);
    }
    bool discards_uncommitted() const noexcept override { return m_out.discards_uncommitted(); }
    bool head_written() const noexcept { return m_head_written; }

private:
    Sink& m_out;
    const std::string& m_head;
    bool m_head_written = false;
};

// The body of opaque signed-data: the DER of the SignedData around the
// spooled signed part, base64 encoded as it streams out.
Result<void> write_encapsulated(const cms::SignedDataBuilder::Encapsulated& parts, const Spool& spool, Sink& out) {
    enc::HashingWriter writer(nullptr, out);
    enc::Base64Encoder b64;
    b64.feed(parts.prefix, writer);
    // The spool replays into the encoder through a small adapter.
    class ToBase64 final : public Sink {
    public:
        ToBase64(enc::Base64Encoder& e, enc::HashingWriter& w) : m_e(e), m_w(w) {}
        Result<void> write(std::string_view bytes) override {
            m_e.feed(bytes, m_w);
            return {};
        }

    private:
        enc::Base64Encoder& m_e;
        enc::HashingWriter& m_w;
    } adapter(b64, writer);
    if (auto r = spool.replay(adapter); !r) return r;
    b64.feed(parts.suffix, writer);
    b64.finish(writer);
    return writer.finish();
}

}  // namespace

Result<std::string> from_address(const MessageInput& in) {
    // Only the header section matters. For bytes in memory, hand over just
    // that: a multipart body would otherwise be parsed here by GMime and
    // again when the message is signed.
    MessageInput head = in;
    if (in.source() == MessageInput::Source::memory) {
        mime::HeaderScan scan = mime::scan_header_section(in.bytes());
        if (scan.outcome == mime::HeaderScan::Outcome::complete) {
            head = MessageInput::from_memory(in.bytes().substr(0, scan.offset));
        }
    }
    auto top = mime::load_top_level(head, mime::Limits{});
    if (!top) return std::move(top).error();
    auto mailboxes = outer::from_mailboxes(top->fields());
    if (!mailboxes) return std::move(mailboxes).error();
    return std::move(mailboxes->front());
}

Result<Signer> Signer::create(const DigitalId& id) {
    auto impl = std::make_shared<Impl>(id);
    auto builder = cms::SignedDataBuilder::create(id.impl());
    if (!builder) return std::move(builder).error();
    impl->builder = std::move(*builder);
    return Signer(std::move(impl));
}

const DigitalId& Signer::digital_id() const noexcept { return m_impl->id; }

Result<void> Signer::check_usable(TimePoint now) const {
    return check_validity(m_impl->id.certificate(), now);
}

Result<SignReport> Signer::sign(const MessageInput& in, Sink& sink, const SignOptions& options) const {
    const Impl& impl = *m_impl;
    TimePoint now = options.now.value_or(std::chrono::system_clock::now());
    if (auto r = check_usable(now); !r) return std::move(r).error();

    auto top = mime::load_top_level(in, impl.limits);
    if (!top) return std::move(top).error();
    if (auto r = top->check_structure(); !r) return std::move(r).error();

    auto plan = outer::plan(*top, impl.id, options, now, impl.limits);
    if (!plan) return std::move(plan).error();

    canon::Options copts;
    copts.header_protection = options.header_protection;
    copts.hp_cipher = options.will_be_sealed;
    copts.protected_headers = std::move(plan->protected_headers);
    copts.limits = impl.limits;

    CountingSink out(sink);
    bool stream_directly = options.mode == SignMode::detached && out.discards_uncommitted();
    std::string boundary = make_boundary();
    std::string head = outer_head(std::move(plan->outer_headers), options.mode, boundary);
    // Bounded by what this input may become (max_signed_size, io.hpp).
    Spool spool(Spool::kDefaultMemoryLimit, {}, max_signed_size(in.max_size()));
    HeadFirstSink direct(out, head);
    Sink& body_sink = stream_directly ? static_cast<Sink&>(direct) : static_cast<Sink&>(spool);

    if (options.mode == SignMode::opaque) {
        cms::Digest digest{};
        enc::HashingWriter writer(impl.builder->sha256(), body_sink);
        if (auto r = canon::write_signed_entity(*top, copts, writer); !r) return std::move(r).error();
        if (auto r = writer.finish(digest); !r) return std::move(r).error();
        auto parts = impl.builder->encapsulated(digest, plan->signing_time, spool.size());
        if (!parts) return std::move(parts).error();
        if (auto r = out.write(head); !r) return std::move(r).error();
        if (auto r = write_encapsulated(*parts, spool, out); !r) return std::move(r).error();
    } else {
        // A signed part that fits the writer's buffer is held there and
        // written once with the outer header and the signature part; a
        // larger one goes out as it is produced (streamed or spooled).
        cms::Digest digest{};
        enc::HashingWriter writer(impl.builder->sha256(), body_sink, true);
        if (auto r = canon::write_signed_entity(*top, copts, writer); !r) return std::move(r).error();
        if (auto r = writer.finish(digest); !r) return std::move(r).error();
        std::optional<std::string_view> held = writer.held();
        // Assembled in a per-thread buffer: a message then costs no
        // allocation of its size. Given back to the heap past 1 MiB.
        thread_local std::string t_rest;
        std::string& rest = t_rest;
        rest.clear();
        if (rest.capacity() > 1024 * 1024) rest.shrink_to_fit();
        rest.reserve((held ? head.size() + held->size() : 0) + impl.builder->signature_part_estimate());
        if (held) {
            rest += head;
            rest += *held;
        } else if (!stream_directly) {
            if (auto r = out.write(head); !r) return std::move(r).error();
            if (auto r = spool.replay(out); !r) return std::move(r).error();
        }
        if (auto r = append_signature_part(*impl.builder, digest, plan->signing_time, boundary, rest); !r) {
            return std::move(r).error();
        }
        if (auto r = out.write(rest); !r) return std::move(r).error();
    }

    SignReport report;
    report.signing_time = plan->signing_time;
    report.date_added = plan->date_added;
    report.signing_time_aligned = plan->signing_time_aligned;
    report.date_replaced = plan->date_replaced;
    report.bytes_out = out.count();
    return report;
}

}  // namespace ribbon
