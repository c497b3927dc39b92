// mime_parse.hpp — parses an RFC 5322/MIME message with GMime, once, and
// turns GMime's parser warnings into ribbon errors.
//
// Seekable files are parsed in place (GMime keeps content as sub-streams of
// the file), so a large message is never read into memory whole. Pipes are
// spooled: to memory while small, then to an unlinked temporary file.
//
// Internal to libribbon.
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <string>
#include <vector>

#include "ribbon/error.hpp"
#include "ribbon/io.hpp"

namespace ribbon::mime {

struct GObjectUnref {
    void operator()(void* p) const noexcept {
        if (p != nullptr) g_object_unref(p);
    }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// Calls g_mime_init() exactly once per process.
void ensure_gmime();

// Limits on what a message may contain; each is refused with
// Errc::limit_exceeded naming the limit. Chosen far above anything real mail
// needs and far below what would hurt a daemon.
struct Limits {
    std::size_t max_header_bytes = 64 * 1024;    // one header field, unfolded
    std::size_t max_header_count = 1000;         // fields in one header section
    int max_depth = 64;                          // MIME nesting
};

struct ParserIssue {
    GMimeParserWarning code;
    std::string item;
    std::int64_t offset;
};

// How to parse the top level. `message` gives a GMimeMessage (the verifier
// wants its address and date helpers). `entity` parses the whole message as
// one MIME entity whose header list holds every top-level header: it skips
// GMimeMessage's own objects (about 6 µs per message, measured), which the
// signer, paying for every message it signs, does not need.
enum class ParseAs { message, entity };

class ParsedMessage {
public:
    // Null when parsed as an entity.
    GMimeMessage* message() const noexcept { return m_message.get(); }
    // The top-level MIME entity (the message's body part).
    GMimeObject* top() const noexcept {
        return m_entity ? m_entity.get() : g_mime_message_get_mime_part(m_message.get());
    }
    // The object whose header list holds the top-level header section: with
    // ParseAs::message the non-Content headers only, with ParseAs::entity all.
    GMimeObject* header_owner() const noexcept {
        return m_entity ? m_entity.get() : GMIME_OBJECT(m_message.get());
    }
    const std::vector<ParserIssue>& issues() const noexcept { return m_issues; }
    // The raw stream the message was parsed from (for verifying exact bytes).
    GMimeStream* stream() const noexcept { return m_stream.get(); }

    // The first issue that makes the structure untrustworthy, as an error.
    Result<void> check_structure() const;

private:
    friend Result<ParsedMessage> parse_message(const MessageInput& in, ParseAs as);
    GPtr<GMimeStream> m_stream;
    GPtr<GMimeMessage> m_message;
    GPtr<GMimeObject> m_entity;
    std::vector<ParserIssue> m_issues;
    std::int64_t m_size = 0;
    std::int64_t m_nul_in_header = -1;
};

Result<ParsedMessage> parse_message(const MessageInput& in, ParseAs as = ParseAs::message);

// Parses one MIME entity (headers + body) from bytes the caller keeps alive.
Result<GPtr<GMimeObject>> parse_entity(std::string_view bytes);

// Reads a whole GMime stream from its start into a string.
std::string read_stream(GMimeStream* stream);

// Decoded content of a leaf part (transfer encoding removed).
std::string decoded_content(GMimePart* part);

}  // namespace ribbon::mime
