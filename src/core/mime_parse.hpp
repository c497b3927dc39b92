// mime_parse.hpp — reads a message once and describes it: by the header
// scanner (header_scan.hpp) when its top level is a single leaf part, or by
// the structure scanner (mime_structure.cpp) when it is a multipart, that
// the scanner can describe exactly as GMime would, otherwise by GMime's
// parser, whose warnings become ribbon errors.
//
// For the scanners, small files are read into memory and larger ones
// mapped (Mapping: read a window at a time, never resident whole). Seekable
// files the scanners decline, and all files the verifier reads, are parsed
// in place (GMime keeps content as sub-streams of the file), so a large
// message is never read into memory whole. Pipes are spooled: to memory
// while small, then to an unlinked temporary file.
//
// Exported by core (CMakeLists.txt) to learning, which reads inbound
// headers with it.
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/header_scan.hpp"
#include "ribbon/error.hpp"
#include "ribbon/smime_form.hpp"
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

// The S/MIME form a parsed Content-Type declares (ribbon/smime_form.hpp).
SmimeForm smime_form_of(GMimeContentType* type);

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

// A message's bytes as read by the parser (mime_parse.cpp).
struct Opened;

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
    friend Result<ParsedMessage> parse_opened(Opened&& opened, ParseAs as);
    std::vector<char> m_bytes;  // a spooled pipe's bytes, under m_stream
    GPtr<GMimeStream> m_stream;
    GPtr<GMimeMessage> m_message;
    GPtr<GMimeObject> m_entity;
    std::vector<ParserIssue> m_issues;
    std::int64_t m_size = 0;
    std::int64_t m_nul_in_header = -1;
};

Result<ParsedMessage> parse_message(const MessageInput& in, ParseAs as = ParseAs::message);

// A read-only mapping of a message file (the structure scanner's route
// for files larger than what is read into memory). Pages already scanned
// or copied are handed back with release(), so a 100 MB message does not
// stay resident: they remain in the page cache and fault in again if read
// again, which costs far less than reading the file into a buffer.
// A file cut short by another process while it is mapped makes a read of
// the pages past its new end raise SIGBUS. A handler (installed with the
// first mapping, mime_structure.cpp) maps a page of zeros there instead
// and marks the mapping damaged(); whoever reads a mapping must check it
// before trusting what it read (write_signed_entity does): the result is
// then an io_error naming the file, never a crash. At most kMaxMappings
// are open at once; beyond that map() declines and GMime reads the file.
class Mapping {
public:
    static std::unique_ptr<Mapping> map(int fd, std::size_t size);
    ~Mapping();
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    std::string_view bytes() const noexcept { return {m_data, m_size}; }
    // Passes read a mapped file a window at a time; release() drops the
    // whole pages inside a window read (a view of bytes()). Mapping each
    // window ahead in one call (MADV_POPULATE_READ) cut the page faults of
    // a 100 MB message from 4,491 to 1,389 but not its CPU time.
    static constexpr std::size_t kWindow = 4 * 1024 * 1024;
    void release(std::string_view done) const noexcept;
    // Whether a read found the file shorter than when it was mapped.
    bool damaged() const noexcept;
    static constexpr std::size_t kMaxMappings = 64;

private:
    Mapping(const char* data, std::size_t size, std::size_t slot) : m_data(data), m_size(size), m_slot(slot) {}
    const char* m_data;
    std::size_t m_size;
    std::size_t m_slot;  // in the SIGBUS handler's table
};

// What the conformance scan (conformance.hpp) found in a part's content.
struct ContentScan {
    bool conforms = true;  // may be copied as is (after LF → CRLF)
    bool eight_bit = false;
    bool valid_utf8 = true;
};

// A leaf part as the canonical writer needs it, from either route.
struct LeafPart {
    HeaderFields fields;  // its header section; at the top level, all of it
    // The content as transferred (still encoded): in memory on the scanner's
    // route, a GMime stream on GMime's; neither when GMime found none.
    std::string_view bytes;
    bool in_memory = false;
    const Mapping* mapping = nullptr;  // `bytes` lie in it: release() what was read
    // The conformance scan of `bytes`, when the structure scanner made it.
    std::optional<ContentScan> scan;
    GMimeStream* stream = nullptr;
    GMimeContentEncoding encoding = GMIME_CONTENT_ENCODING_DEFAULT;
    // A Content-Transfer-Encoding GMime does not know (x-gzip64, …), as
    // written: `encoding` is then DEFAULT, and the octets cannot be decoded
    // (RFC 2045 §6.4). Empty for a known one or none.
    std::string unknown_encoding;
    bool declared_type = false;  // it has a Content-Type field
    bool is_text = true;         // text/*, or no Content-Type (RFC 2045 §5.2)
};

// The fields of a GMime object's header list; views of GMime's strings,
// valid while the object lives.
HeaderFields fields_of(GMimeObject* object);
// The part's content ends before the line break preceding its delimiter
// line (RFC 2046 §5.1.1) whatever either line ends in; leaf_of() and
// decoded_content() correct GMime 3.2, which gets this wrong for mixed line
// ends (mime_parse.cpp).
LeafPart leaf_of(GMimePart* part);

// A multipart entity as the structure scanner (mime_structure.cpp) found
// it: what GMime's tree holds for it, as views of the message's bytes.
struct MultipartNode;
struct PartNode {
    // Exactly one of these is set.
    std::optional<LeafPart> leaf;
    std::unique_ptr<MultipartNode> multipart;
};
struct MultipartNode {
    HeaderFields fields;   // its header section; at the top level, all of it
    std::string boundary;  // the boundary parameter, as GMime reads it
    std::vector<PartNode> parts;
};

// The top level of a message to sign: its header section and either its
// single leaf part or its multipart structure (the scanners' routes), or
// GMime's tree of it, parsed as one entity (ParseAs::entity).
class TopLevel {
public:
    const HeaderFields& fields() const noexcept {
        return m_leaf ? m_leaf->fields : m_multipart ? m_multipart->fields : m_fields;
    }
    // Exactly one of these is set.
    const LeafPart* leaf() const noexcept { return m_leaf ? &*m_leaf : nullptr; }
    const MultipartNode* multipart() const noexcept { return m_multipart.get(); }
    GMimeObject* tree() const noexcept { return m_parsed ? m_parsed->top() : nullptr; }
    // The mapped file the views lie in, if any (check damaged() after reading).
    const Mapping* mapping() const noexcept { return m_mapping.get(); }
    // GMime's first structural warning as an error; none on the scanners' routes.
    Result<void> check_structure() const;

private:
    friend Result<TopLevel> load_top_level(const MessageInput& in, const Limits& limits, bool scanners);
    std::vector<char> m_bytes;  // a small file or spooled pipe, under the views
    std::unique_ptr<Mapping> m_mapping;  // or a large file, mapped
    std::optional<LeafPart> m_leaf;
    std::unique_ptr<MultipartNode> m_multipart;
    std::optional<ParsedMessage> m_parsed;
    HeaderFields m_fields;  // GMime's route
};

// Reads `in` and describes its top level, by the scanners where they can
// (`scanners` false: always by GMime, for tests that compare the routes).
Result<TopLevel> load_top_level(const MessageInput& in, const Limits& limits, bool scanners = true);

// The structure scanner's route (mime_structure.cpp): a message whose top
// level is a multipart that the scanner can describe exactly as GMime's
// parser would, with nothing GMime would refuse; nothing otherwise, and
// GMime decides. Pages of `mapping` (if any) are released as they are
// scanned.
std::unique_ptr<MultipartNode> describe_multipart(std::string_view message, const Limits& limits,
                                                  const Mapping* mapping = nullptr);

// For the scanners: a leaf part from its header fields, judged as GMime
// would read them, and its content; nothing when GMime must decide (a
// multipart or message/* type, a field it cannot read exactly as GMime).
std::optional<LeafPart> leaf_from_fields(HeaderFields fields, std::string_view content);
// The boundary of a Content-Type value (raw, as in the field) naming a
// multipart the structure scanner may describe: one GMime parses without a
// warning, with a non-empty boundary, and that GMime builds no special
// object for (multipart/signed, /encrypted) and whose parts default to
// text/plain (not multipart/digest, RFC 2046 §5.1.5). Nothing otherwise.
std::optional<std::string> multipart_boundary(std::string_view raw_content_type);
// Whether a repeated field conflicts in a way check_structure() refuses.
bool has_conflicting_fields(const HeaderFields& fields);

// The scanner's route on its own: the message as a single leaf part, or
// nothing when GMime must decide (a multipart or message/* body, a field
// the scanner does not accept, conflicting repeated fields, a Content-Type,
// Content-Disposition or Content-Transfer-Encoding it cannot read exactly
// as GMime does, more than limits.max_header_count fields).
std::optional<LeafPart> describe_leaf(std::string_view message, const Limits& limits);

// Parses one MIME entity (headers + body) from bytes the caller keeps alive.
Result<GPtr<GMimeObject>> parse_entity(std::string_view bytes);

// Reads a whole GMime stream from its start into a string.
std::string read_stream(GMimeStream* stream);

// Decoded content of a leaf part (transfer encoding removed).
std::string decoded_content(GMimePart* part);

}  // namespace ribbon::mime
