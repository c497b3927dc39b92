// canonical.cpp — see canonical.hpp.
#include "core/canonical.hpp"

#include <cstdint>
#include <cstring>
#include <memory>

#include "base/ascii.hpp"
#include "core/conformance.hpp"

namespace ribbon::canon {

namespace {

enum class How { passthrough, quoted_printable, base64 };

// Hands a leaf's encoded content to `fn` in chunks of at most kChunk
// octets, the same chunks whether it is in memory or read from a stream.
constexpr std::size_t kChunk = 256 * 1024;

template <class Fn>
void for_each_chunk(const mime::LeafPart& part, Fn&& fn) {
    if (part.in_memory) {
        // A mapped file is read a window at a time, its pages not kept
        // resident after (mime::Mapping).
        const mime::Mapping* mapping = part.mapping;
        const std::size_t window = mapping != nullptr ? mime::Mapping::kWindow : part.bytes.size();
        static_assert(mime::Mapping::kWindow % kChunk == 0, "the same chunks from either route");
        for (std::size_t w = 0; w < part.bytes.size(); w += window) {
            std::string_view in = part.bytes.substr(w, window);
            for (std::size_t at = 0; at < in.size(); at += kChunk) fn(in.substr(at, kChunk));
            if (mapping != nullptr) mapping->release(in);
        }
        return;
    }
    // One read buffer per thread, never zeroed: this runs for every part of
    // every message.
    thread_local std::unique_ptr<char[]> buffer(new char[kChunk]);
    GMimeStream* stream = part.stream;
    g_mime_stream_reset(stream);
    while (true) {
        ssize_t n = g_mime_stream_read(stream, buffer.get(), kChunk);
        if (n <= 0) break;
        fn(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
    }
}

class Writer {
public:
    Writer(const Options& options, enc::HashingWriter& out) : m_options(options), m_out(out) {}

    Result<void> check_depth(int depth) const {
        if (depth <= m_options.limits.max_depth) return {};
        return permanent_error(Errc::limit_exceeded, "MIME parts are nested more than " +
                                                         std::to_string(m_options.limits.max_depth) + " deep");
    }

    Result<void> entity(GMimeObject* obj, int depth, bool top) {
        if (auto r = check_depth(depth); !r) return r;
        if (GMIME_IS_MULTIPART(obj)) return multipart(GMIME_MULTIPART(obj), depth, top);
        if (GMIME_IS_MESSAGE_PART(obj)) return message_part(GMIME_MESSAGE_PART(obj), depth, top);
        if (GMIME_IS_PART(obj)) return leaf(mime::leaf_of(GMIME_PART(obj)), top);
        return permanent_error(Errc::malformed_message, "unsupported MIME object");
    }

    // Content headers of a leaf, then its content made 7-bit (RFC 8551 §3.1).
    Result<void> leaf(const mime::LeafPart& part, bool top) {
        bool has_content = part.in_memory || part.stream != nullptr;
        LeafScan scan;
        if (part.scan) {
            scan = *part.scan;  // the structure scanner's, made as it found the part
        } else {
            Scanner scanner;
            if (has_content) for_each_chunk(part, [&](std::string_view c) { scanner.feed(c); });
            scan = scanner.finish();
        }

        GMimeContentEncoding encoding = part.encoding;
        bool known_encoding = encoding == GMIME_CONTENT_ENCODING_DEFAULT ||
                              encoding == GMIME_CONTENT_ENCODING_7BIT ||
                              encoding == GMIME_CONTENT_ENCODING_8BIT ||
                              encoding == GMIME_CONTENT_ENCODING_BINARY ||
                              encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
                              encoding == GMIME_CONTENT_ENCODING_BASE64;

        How how;
        std::string cte;
        if (!part.unknown_encoding.empty()) {
            // RFC 2045 §6.4: content in an encoding ribbon does not know is
            // opaque data it can neither decode nor re-encode. It is signed
            // as it is, with its encoding named, when its octets already
            // travel intact (7-bit lines, RFC 8551 §3.1.1); otherwise no
            // form of it would survive transit and it is refused.
            if (!scan.conforms) {
                return permanent_error(Errc::malformed_message,
                                       "a part's Content-Transfer-Encoding \"" + part.unknown_encoding +
                                           "\" is unknown and its content is not 7-bit lines: it cannot be "
                                           "signed in a form that survives transit (RFC 2045 §6.4)");
            }
            how = How::passthrough;
            cte = part.unknown_encoding;
        } else if (scan.conforms && known_encoding) {
            how = How::passthrough;
            if (encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) cte = "quoted-printable";
            else if (encoding == GMIME_CONTENT_ENCODING_BASE64) cte = "base64";
            else if (encoding != GMIME_CONTENT_ENCODING_DEFAULT) cte = "7bit";
        } else if (part.is_text) {
            how = How::quoted_printable;
            cte = "quoted-printable";
        } else {
            how = How::base64;
            cte = "base64";
        }
        // A part without MIME headers is text/plain (RFC 2045 §5.2); say so,
        // with the charset its octets show, so the hp parameter and a
        // re-encoding have a Content-Type to belong to.
        std::string default_type;
        if (!part.declared_type) {
            default_type = !scan.eight_bit ? "text/plain; charset=us-ascii"
                           : scan.valid_utf8 ? "text/plain; charset=utf-8"
                                             : "text/plain; charset=iso-8859-1";
        }
        if (auto r = headers(part.fields, top, cte, default_type); !r) return r;
        if (!has_content) return {};

        if (how == How::passthrough) {
            enc::CrlfCopier copier;
            for_each_chunk(part, [&](std::string_view c) { copier.feed(c, m_out); });
            return {};
        }
        return reencode(part, encoding, how);
    }

private:
    Result<void> message_headers(GMimeMessage* message) {
        std::string out;
        std::string value;
        for (const mime::HeaderField& f : mime::fields_of(GMIME_OBJECT(message))) {
            enc::unfold_into(value, f.raw_value);
            if (auto r = check_header_value(f.name, value, m_options.limits); !r) return r;
            enc::append_folded(out, f.name, value);
        }
        m_out.put(out);
        return {};
    }

    std::string_view hp_parameter() const {
        return m_options.hp_cipher ? "; hp=\"cipher\"" : "; hp=\"clear\"";
    }

    // Content headers of `obj`, with the transfer encoding replaced by
    // `cte` (empty: none) and, on the top-level part, hp="clear" and the
    // protected header copies (RFC 9788 §2.1, §2.2).
    Result<void> headers(const mime::HeaderFields& fields, bool top, std::string_view cte,
                         std::string_view default_type) {
        std::string out;
        out.reserve(512 + (top ? m_options.protected_headers.size() : 0));
        std::string value;
        bool have_type = false;
        if (fields.size() > m_options.limits.max_header_count) {
            return permanent_error(Errc::limit_exceeded, "a MIME part has " + std::to_string(fields.size()) +
                                                             " header fields");
        }
        for (const mime::HeaderField& f : fields) {
            std::string_view name = f.name;
            // The transfer encoding is ours to set; a Content-Length would be
            // wrong after re-encoding.
            if (ascii_iequals(name, "Content-Transfer-Encoding") || ascii_iequals(name, "Content-Length")) continue;
            if (top && !ascii_istarts_with(name, "Content-")) continue;
            enc::unfold_into(value, f.raw_value);
            if (auto r = check_header_value(name, value, m_options.limits); !r) return r;
            if (ascii_iequals(name, "Content-Type")) {
                if (have_type) continue;  // GMime warned; the first one wins, as it does
                have_type = true;
                if (top && m_options.header_protection) value += hp_parameter();
            }
            enc::append_folded(out, name, value);
        }
        if (!have_type && !default_type.empty()) {
            value = default_type;
            if (top && m_options.header_protection) value += hp_parameter();
            enc::append_folded(out, "Content-Type", value);
        }
        if (!cte.empty()) enc::append_folded(out, "Content-Transfer-Encoding", cte);
        if (top) out += m_options.protected_headers;
        out += "\r\n";
        m_out.put(out);
        return {};
    }

    Result<void> multipart(GMimeMultipart* mp, int depth, bool top) {
        const char* b = g_mime_multipart_get_boundary(mp);
        return multipart_body(mime::fields_of(GMIME_OBJECT(mp)), b != nullptr ? b : "", top,
                              g_mime_multipart_get_count(mp),
                              [&](int i) { return entity(g_mime_multipart_get_part(mp, i), depth + 1, false); });
    }

public:
    // The same for the structure scanner's description of it, with the
    // same depth checks as entity().
    Result<void> multipart(const mime::MultipartNode& node, int depth, bool top) {
        if (auto r = check_depth(depth); !r) return r;
        return multipart_body(node.fields, node.boundary, top, static_cast<int>(node.parts.size()),
                              [&](int i) -> Result<void> {
                                  const mime::PartNode& part = node.parts[static_cast<std::size_t>(i)];
                                  if (!part.leaf) return multipart(*part.multipart, depth + 1, false);
                                  if (auto r = check_depth(depth + 1); !r) return r;
                                  return leaf(*part.leaf, false);
                              });
    }

private:
    template <class Part>
    Result<void> multipart_body(const mime::HeaderFields& fields, std::string_view b, bool top, int n,
                                Part&& part) {
        if (auto r = headers(fields, top, {}, {}); !r) return r;
        if (b.empty()) return permanent_error(Errc::malformed_message, "a multipart has no boundary");
        std::string boundary = "--";
        boundary += b;
        // The preamble and epilogue are dropped: no client shows them, and
        // they are free text that would need its own re-encoding.
        for (int i = 0; i < n; ++i) {
            m_out.put(boundary);
            m_out.put(std::string_view("\r\n"));
            if (auto r = part(i); !r) return r;
            m_out.put(std::string_view("\r\n"));
        }
        m_out.put(boundary);
        m_out.put(std::string_view("--\r\n"));
        return {};
    }

    Result<void> message_part(GMimeMessagePart* part, int depth, bool top) {
        // RFC 2046 §5.2.1: message/rfc822 may only be 7bit, 8bit or binary,
        // so the attached message is made 7-bit part by part instead.
        if (auto r = headers(mime::fields_of(GMIME_OBJECT(part)), top, {}, {}); !r) return r;
        GMimeMessage* inner = g_mime_message_part_get_message(part);
        if (inner == nullptr) return {};
        if (auto r = message_headers(inner); !r) return r;
        GMimeObject* body = g_mime_message_get_mime_part(inner);
        if (body == nullptr) {
            m_out.put(std::string_view("\r\n"));
            return {};
        }
        return entity(body, depth + 1, false);
    }

    Result<void> reencode(const mime::LeafPart& part, GMimeContentEncoding encoding, How how) {
        // Decode with GMime's basic filter, encode with ours. The filter,
        // not g_mime_encoding_step() alone, because uuencoded content
        // starts after its "begin <mode> <name>" line, which only the
        // filter looks for; base64 and quoted-printable it steps through
        // unchanged.
        bool decode = encoding == GMIME_CONTENT_ENCODING_BASE64 ||
                      encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
                      encoding == GMIME_CONTENT_ENCODING_UUENCODE;
        mime::GPtr<GMimeFilter> decoder(decode ? g_mime_filter_basic_new(encoding, FALSE) : nullptr);
        enc::QpEncoder qp;
        enc::Base64Encoder b64;
        auto emit = [&](std::string_view data) {
            if (how == How::quoted_printable) qp.feed(data, m_out);
            else b64.feed(data, m_out);
        };
        char* out = nullptr;
        std::size_t out_len = 0;
        std::size_t out_prespace = 0;
        for_each_chunk(part, [&](std::string_view c) {
            if (!decoder) {
                emit(c);
                return;
            }
            // The filter reads its input and never writes to it.
            g_mime_filter_filter(decoder.get(), const_cast<char*>(c.data()), c.size(), 0, &out, &out_len,
                                 &out_prespace);
            emit(std::string_view(out, out_len));
        });
        if (decoder) {
            char none = '\0';
            g_mime_filter_complete(decoder.get(), &none, 0, 0, &out, &out_len, &out_prespace);
            emit(std::string_view(out, out_len));
        }
        if (how == How::quoted_printable) qp.finish(m_out);
        else b64.finish(m_out);
        return {};
    }

    const Options& m_options;
    enc::HashingWriter& m_out;
};

}  // namespace

Result<void> check_header_value(std::string_view name, std::string_view value,
                                const mime::Limits& limits) {
    if (value.size() > limits.max_header_bytes) {
        return permanent_error(Errc::limit_exceeded,
                               "header " + std::string(name) + " is " + std::to_string(value.size()) +
                                   " bytes long; the limit is " +
                                   std::to_string(limits.max_header_bytes));
    }
    for (unsigned char c : value) {
        if (c == 0) {
            return permanent_error(Errc::malformed_message,
                                   "header " + std::string(name) + " contains a NUL byte");
        }
        if (c >= 0x80) {
            return permanent_error(Errc::malformed_message,
                                   "header " + std::string(name) +
                                       " contains unencoded 8-bit characters; encode it "
                                       "(RFC 2047, RFC 2231) so it can be signed 7-bit");
        }
    }
    return {};
}

Result<void> write_signed_entity(const mime::TopLevel& top, const Options& options,
                                 enc::HashingWriter& out) {
    Writer writer(options, out);
    Result<void> written = top.leaf()        ? writer.leaf(*top.leaf(), true)
                           : top.multipart() ? writer.multipart(*top.multipart(), 0, true)
                                             : writer.entity(top.tree(), 0, true);
    // A mapped file cut short while it was read gave zeros (mime::Mapping).
    if (written && top.mapping() != nullptr && top.mapping()->damaged()) {
        return transient_error(Errc::io_error, "the message file was cut short while it was being signed");
    }
    return written;
}

}  // namespace ribbon::canon
