// mime_parse.cpp — see mime_parse.hpp.
#include "core/mime_parse.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "base/ascii.hpp"
#include "core/encoders.hpp"

namespace ribbon::mime {

void ensure_gmime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

struct Opened {
    std::vector<char> owned;  // a small file or a spooled pipe
    std::unique_ptr<Mapping> mapping;  // or a large file, mapped
    int mapped_fd = -1;       // its descriptor, for GMime if the scanners decline
    std::string_view bytes;   // the whole message, when in_memory
    bool in_memory = false;
    GPtr<GMimeStream> stream;  // otherwise: parsed in place
    std::int64_t size = 0;
    Opened() = default;
    Opened(Opened&& o) noexcept
        : owned(std::move(o.owned)), mapping(std::move(o.mapping)), mapped_fd(std::exchange(o.mapped_fd, -1)),
          bytes(o.bytes), in_memory(o.in_memory), stream(std::move(o.stream)), size(o.size) {}
    ~Opened() {
        if (mapped_fd >= 0) ::close(mapped_fd);
    }
    // A mapped file the scanners declined: GMime parses it in place, as
    // any large file (the mapping would keep every page it reads resident).
    void unmap_for_gmime() {
        if (mapped_fd < 0) return;
        mapping.reset();
        bytes = {};
        in_memory = false;
        stream.reset(g_mime_stream_fs_new(std::exchange(mapped_fd, -1)));
    }
};

namespace {

constexpr std::size_t kSpoolToFileAt = 8 * 1024 * 1024;
// Files up to this size are read whole for the scanner. Beyond it the
// per-message parsing cost is noise next to scanning, copying and hashing
// the content, and parsing in place keeps memory flat.
constexpr std::int64_t kReadUpTo = 1024 * 1024;

// Fields whose repetition with another value makes the message ambiguous:
// those RFC 5322 §3.6 allows once (a receiver could show either value; a
// second From or Subject is how forgeries hide) and the MIME fields
// (RFC 2045 §3: which Content-Type is the content?). Trace fields
// (Received, RFC 5322 §3.6.7) and others repeat by nature.
bool must_not_conflict(std::string_view name) {
    static constexpr std::string_view kOnce[] = {"Date",    "From",        "Sender",     "Reply-To",
                                                 "To",      "Cc",          "Bcc",        "Message-ID",
                                                 "In-Reply-To", "References", "Subject", "MIME-Version"};
    for (std::string_view once : kOnce) {
        if (ascii_iequals(name, once)) return true;
    }
    return name.size() > 8 && ascii_istarts_with(name, "Content-");
}

void on_parser_warning(gint64 offset, GMimeParserWarning code, const gchar* item, gpointer user) {
    auto* issues = static_cast<std::vector<ParserIssue>*>(user);
    if (issues->size() < 100) issues->push_back({code, item != nullptr ? item : "", offset});
}

const char* describe_issue(GMimeParserWarning code) {
    switch (code) {
        case GMIME_WARN_MALFORMED_MULTIPART: return "a multipart has no parts or no closing boundary";
        case GMIME_WARN_TRUNCATED_MESSAGE: return "the message is truncated";
        case GMIME_WARN_MALFORMED_MESSAGE: return "the message is malformed";
        case GMIME_WARN_PART_WITHOUT_CONTENT: return "a part's headers run into a boundary";
        case GMIME_CRIT_INVALID_HEADER_NAME: return "a header has an invalid name";
        case GMIME_CRIT_CONFLICTING_HEADER: return "conflicting headers";
        case GMIME_CRIT_CONFLICTING_PARAMETER: return "conflicting header parameters";
        case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: return "a multipart has no boundary parameter";
        case GMIME_CRIT_NESTING_OVERFLOW: return "MIME parts are nested too deeply";
        case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
            return "a part has neither headers nor content";
        default: return nullptr;  // cosmetic: tolerated
    }
}

// Reads a descriptor that is not a regular file (a pipe, a FIFO, a
// character device), after the `already_read` bytes taken from it before
// (MessageInput::from_fd): into memory while small, into an unlinked
// temporary file (then parsed in place) beyond kSpoolToFileAt. More than
// `max_size` bytes is limit_exceeded; the temporary file goes with its
// descriptor, so a refused input leaves nothing on disk.
Result<void> spool_fd(int fd, std::string_view already_read, std::uint64_t max_size, Opened& out) {
    std::vector<char>& buffer = out.owned;
    int tmp = -1;
    auto fail = [&](Error e) -> Result<void> {
        if (tmp >= 0) ::close(tmp);
        std::vector<char>().swap(buffer);
        return e;
    };
    if (already_read.size() > max_size) return fail(message_too_large(max_size));
    buffer.assign(already_read.begin(), already_read.end());
    char chunk[65536];
    out.size = static_cast<std::int64_t>(buffer.size());
    while (true) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(transient_error(Errc::io_error, std::string("read failed: ") + std::strerror(errno)));
        if (n == 0) break;
        if (static_cast<std::uint64_t>(out.size) + static_cast<std::uint64_t>(n) > max_size) {
            return fail(message_too_large(max_size));
        }
        out.size += n;
        if (tmp < 0) {
            buffer.insert(buffer.end(), chunk, chunk + n);
            if (buffer.size() < kSpoolToFileAt) continue;
            const char* dir = std::getenv("TMPDIR");
            tmp = ::open(dir != nullptr && *dir != '\0' ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
            if (tmp < 0) {
                return fail(transient_error(Errc::io_error,
                                            std::string("cannot create spool file: ") + std::strerror(errno)));
            }
            if (::write(tmp, buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size())) {
                return fail(transient_error(Errc::io_error, "cannot write spool file"));
            }
            std::vector<char>().swap(buffer);
        } else if (::write(tmp, chunk, static_cast<std::size_t>(n)) != n) {
            return fail(transient_error(Errc::io_error, "cannot write spool file"));
        }
    }
    if (tmp >= 0) {
        ::lseek(tmp, 0, SEEK_SET);
        out.stream.reset(g_mime_stream_fs_new(tmp));
    } else {
        out.bytes = std::string_view(buffer.data(), buffer.size());
        out.in_memory = true;
    }
    return {};
}

// Reads a regular file of `size` bytes into memory (the scanner's route).
// False if it turned out larger (it grew) or unreadable; the caller then
// parses it in place.
bool read_whole(int fd, std::int64_t size, Opened& out) {
    out.owned.resize(static_cast<std::size_t>(size) + 1);  // +1 notices growth
    std::size_t got = 0;
    while (got < out.owned.size()) {
        ssize_t n = ::read(fd, out.owned.data() + got, out.owned.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got != static_cast<std::size_t>(size)) {
        std::vector<char>().swap(out.owned);
        ::lseek(fd, 0, SEEK_SET);
        return false;
    }
    out.owned.pop_back();
    out.bytes = std::string_view(out.owned.data(), out.owned.size());
    out.in_memory = true;
    out.size = size;
    return true;
}

void release_borrowed(gpointer array) {
    // Frees the GByteArray header only: the bytes belong to the caller.
    g_byte_array_free(static_cast<GByteArray*>(array), FALSE);
}

// A read-only stream over the caller's bytes, which MessageInput requires
// to outlive the input's use: no copy of the message. The stream does not
// own the array; the array header goes with the stream's last reference
// (GMime's parts keep sub-streams of it), never the bytes. Nothing writes
// to a parser's input stream, so the borrowed bytes are never reallocated.
GPtr<GMimeStream> borrowed_stream(std::string_view bytes) {
    if (bytes.empty()) return GPtr<GMimeStream>(g_mime_stream_mem_new());
    GByteArray* array = g_byte_array_new_take(
        reinterpret_cast<guint8*>(const_cast<char*>(bytes.data())), bytes.size());
    GMimeStream* stream = g_mime_stream_mem_new_with_byte_array(array);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
    g_object_set_data_full(G_OBJECT(stream), "ribbon-borrowed-bytes", array, release_borrowed);
    return GPtr<GMimeStream>(stream);
}

// `read_small_files`: the scanner's route reads regular files up to
// kReadUpTo into memory; the verifier parses files in place.
Result<Opened> open_input(const MessageInput& in, bool read_small_files) {
    Opened out;
    switch (in.source()) {
        case MessageInput::Source::memory:
            if (in.bytes().size() > in.max_size()) return message_too_large(in.max_size());
            out.bytes = in.bytes();
            out.in_memory = true;
            out.size = static_cast<std::int64_t>(in.bytes().size());
            return out;
        case MessageInput::Source::file: {
            auto file = open_message_file(in.path());
            if (!file) return std::move(file).error();
            const int fd = file->fd;
            if (!file->regular) {
                // A FIFO, /dev/fd/N of a pipe, a device: its size says
                // nothing and it may not be readable twice, so it is read
                // once as a stream, like stdin.
                auto spooled = spool_fd(fd, {}, in.max_size(), out);
                ::close(fd);
                if (!spooled) return std::move(spooled).error();
                return out;
            }
            if (file->size > in.max_size()) {
                ::close(fd);
                return message_too_large(in.max_size());
            }
            out.size = static_cast<std::int64_t>(file->size);
            if (read_small_files && out.size <= kReadUpTo && read_whole(fd, out.size, out)) {
                ::close(fd);
                return out;
            }
            if (read_small_files && out.size > kReadUpTo) {
                // Larger files are mapped for the scanners: no read() copy,
                // and no GMime stream doing 4 KB reads and seeks.
                out.mapping = Mapping::map(fd, static_cast<std::size_t>(out.size));
                if (out.mapping) {
                    out.mapped_fd = fd;
                    out.bytes = out.mapping->bytes();
                    out.in_memory = true;
                    return out;
                }
            }
            out.stream.reset(g_mime_stream_fs_new(fd));
            return out;
        }
        case MessageInput::Source::fd: {
            struct stat st {};
            if (::fstat(in.fd(), &st) == 0 && S_ISREG(st.st_mode)) {
                int fd = ::dup(in.fd());
                // The bytes read already came just before the offset: a
                // file is parsed in place from where they started.
                off_t pos = ::lseek(fd, -static_cast<off_t>(in.bytes().size()), SEEK_CUR);
                if (pos < 0) {
                    ::close(fd);
                    return internal_error("the bytes read from " + in.describe() +
                                          " do not precede its offset");
                }
                out.size = st.st_size - pos;
                if (static_cast<std::uint64_t>(out.size) > in.max_size()) {
                    ::close(fd);
                    return message_too_large(in.max_size());
                }
                out.stream.reset(g_mime_stream_fs_new(fd));
                return out;
            }
            if (S_ISDIR(st.st_mode)) {
                return permanent_error(Errc::io_error, in.describe() + " is a directory, not a message");
            }
            if (auto r = spool_fd(in.fd(), in.bytes(), in.max_size(), out); !r) return std::move(r).error();
            return out;
        }
    }
    return internal_error("unknown input source");
}

// What a scan of the top-level header section (up to the first empty
// line) finds that GMime does not say.
struct TopHeaderSection {
    // GMime keeps header values as C strings, so a NUL byte would silently
    // cut a header short; RFC 5322 §2.2 forbids it anyway. Its offset, or -1.
    std::int64_t nul = -1;
    // The input ends inside the header section with its last line complete
    // (or is empty): a message without a body, which RFC 5322 §3.5 allows
    // without the empty line ("the body ... is optional", and the empty line
    // goes with it). GMime reports it as truncated.
    bool ends_without_body = false;
    // The input ends inside the header section in the middle of a line: it
    // was cut off (RFC 5322 §2.1: every line ends in CRLF).
    bool ends_mid_line = false;
};

TopHeaderSection scan_top_header(GMimeStream* stream) {
    g_mime_stream_reset(stream);
    char buf[65536];
    std::int64_t offset = 0;
    char prev = '\n';
    char prev2 = 0;
    TopHeaderSection section;
    while (true) {
        ssize_t n = g_mime_stream_read(stream, buf, sizeof buf);
        if (n <= 0) {
            section.ends_without_body = n == 0 && prev == '\n';
            section.ends_mid_line = n == 0 && prev != '\n';
            return section;
        }
        for (ssize_t i = 0; i < n; ++i) {
            char c = buf[i];
            if (c == '\0') {
                section.nul = offset + i;
                return section;
            }
            if (c == '\n' && (prev == '\n' || (prev == '\r' && prev2 == '\n'))) return section;
            prev2 = prev;
            prev = c;
        }
        offset += n;
    }
}

}  // namespace

Result<void> ParsedMessage::check_structure() const {
    if (m_nul_in_header >= 0) {
        return permanent_error(Errc::malformed_message,
                               "the header section contains a NUL byte at byte " +
                                   std::to_string(m_nul_in_header));
    }
    for (const auto& issue : m_issues) {
        if (issue.code == GMIME_CRIT_CONFLICTING_HEADER && !must_not_conflict(issue.item)) continue;
        if (const char* what = describe_issue(issue.code)) {
            std::string msg = std::string("malformed MIME: ") + what;
            if (!issue.item.empty() && issue.item.size() < 200) msg += " (" + issue.item + ")";
            if (issue.offset >= 0) msg += " at byte " + std::to_string(issue.offset);
            if (issue.code == GMIME_CRIT_NESTING_OVERFLOW) {
                return permanent_error(Errc::limit_exceeded, msg);
            }
            return permanent_error(Errc::malformed_message, msg);
        }
    }
    return {};
}

Result<ParsedMessage> parse_opened(Opened&& opened, ParseAs as) {
    ParsedMessage parsed;
    parsed.m_size = opened.size;
    if (opened.in_memory) {
        parsed.m_bytes = std::move(opened.owned);  // moving keeps opened.bytes valid
        parsed.m_stream = borrowed_stream(opened.bytes);
    } else {
        parsed.m_stream = std::move(opened.stream);
    }

    // One parser per thread, re-initialised for each message: a new one is
    // a GObject with a 4 KB buffer, and GObject teardown takes global locks
    // that two signing threads contend on. Between messages it holds an
    // empty stream, so no message's stream (a file descriptor) stays open.
    struct ThreadParser {
        GPtr<GMimeStream> idle{g_mime_stream_mem_new()};
        GPtr<GMimeParser> parser{g_mime_parser_new_with_stream(idle.get())};
    };
    thread_local ThreadParser tp;
    GMimeParser* parser = tp.parser.get();
    g_mime_parser_init_with_stream(parser, parsed.m_stream.get());
    g_mime_parser_set_persist_stream(parser, TRUE);
    GMimeParserOptions* options = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(options, on_parser_warning, &parsed.m_issues);
    if (as == ParseAs::message) {
        parsed.m_message.reset(g_mime_parser_construct_message(parser, options));
    } else {
        parsed.m_entity.reset(g_mime_parser_construct_part(parser, options));
    }
    g_mime_parser_options_free(options);
    g_mime_parser_init_with_stream(parser, tp.idle.get());
    TopHeaderSection section = scan_top_header(parsed.m_stream.get());
    if (!parsed.m_message && !parsed.m_entity) {
        // GMime gives up when the input ends inside a field name.
        if (section.ends_mid_line) {
            return permanent_error(Errc::malformed_message,
                                   "malformed MIME: the message is truncated (it ends inside its header "
                                   "section, in the middle of a line)");
        }
        return permanent_error(Errc::malformed_message, "not an RFC 5322 message (no header section)");
    }
    parsed.m_nul_in_header = section.nul;
    if (section.ends_without_body) {
        // GMime's first "truncated" is the header section reaching the end
        // of input; any later one (a multipart Content-Type with no body to
        // hold its parts) still stands.
        auto& issues = parsed.m_issues;
        auto it = std::find_if(issues.begin(), issues.end(),
                               [](const ParserIssue& i) { return i.code == GMIME_WARN_TRUNCATED_MESSAGE; });
        if (it != issues.end()) issues.erase(it);
    }
    return parsed;
}

Result<ParsedMessage> parse_message(const MessageInput& in, ParseAs as) {
    ensure_gmime();
    auto opened = open_input(in, false);
    if (!opened) return std::move(opened).error();
    if (opened->size == 0) return permanent_error(Errc::empty_message, "the message is empty");
    return parse_opened(std::move(*opened), as);
}

HeaderFields fields_of(GMimeObject* object) {
    GMimeHeaderList* list = g_mime_object_get_header_list(object);
    int count = g_mime_header_list_get_count(list);
    HeaderFields fields;
    fields.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
        const char* raw = g_mime_header_get_raw_value(h);
        fields.push_back({g_mime_header_get_name(h), raw != nullptr ? raw : ""});
    }
    return fields;
}

namespace {

// RFC 2046 §5.1.1: the line break before a delimiter line belongs to the
// delimiter, so a part's content ends just before it. GMime 3.2's
// parser_scan_content() takes the length of that line break from the
// delimiter line's *own* ending: content "abc\n" before "--b\r\n" loses its
// "c", and "abc\r\n" before "--b\n" keeps a "\r". GMime keeps the content
// as a substream of the message (persist_stream), so its end is set again
// here from the message's own octets: the delimiter line starts one or two
// octets after GMime's end (just after a "\n", with "--"), and the content
// ends before the line break ending the line above it. An end anywhere else
// (the end of input: a top-level part, a truncated multipart; an empty
// part) stays. Idempotent: a corrected end is recognised the same way.
void end_content_at_delimiter(GMimeStream* content) {
    GMimeStream* whole = content->super_stream;
    const gint64 end = content->bound_end;
    if (whole == nullptr || end < 1) return;
    // around[i] is the message's octet at end - 1 + i.
    char around[5];
    if (g_mime_stream_seek(whole, end - 1, GMIME_STREAM_SEEK_SET) != end - 1) return;
    ssize_t n = g_mime_stream_read(whole, around, sizeof around);
    gint64 delimiter;
    if (n == 5 && around[2] == '\n' && around[3] == '-' && around[4] == '-') {
        delimiter = end + 2;
    } else if (n >= 4 && around[1] == '\n' && around[2] == '-' && around[3] == '-') {
        delimiter = end + 1;
    } else {
        return;
    }
    gint64 fixed = delimiter - 1;
    if (around[delimiter - 2 - (end - 1)] == '\r') --fixed;
    fixed = std::max(fixed, content->bound_start);
    if (fixed != end) g_mime_stream_set_bounds(content, content->bound_start, fixed);
}

// GMime maps a Content-Transfer-Encoding it does not know to DEFAULT, the
// same as none at all; the token is kept so that the canonical writer can
// tell the two apart (RFC 2045 §6.4).
void note_unknown_encoding(LeafPart& leaf) {
    if (leaf.encoding != GMIME_CONTENT_ENCODING_DEFAULT) return;
    for (const HeaderField& f : leaf.fields) {
        if (!ascii_iequals(f.name, "Content-Transfer-Encoding")) continue;
        std::string token = enc::unfold(f.raw_value);
        const auto first = token.find_first_not_of(" \t");
        if (first == std::string::npos) return;
        token = token.substr(first, token.find_last_not_of(" \t") + 1 - first);
        if (g_mime_content_encoding_from_string(token.c_str()) == GMIME_CONTENT_ENCODING_DEFAULT) {
            leaf.unknown_encoding = token;
        }
        return;
    }
}

GMimeStream* content_stream(GMimeDataWrapper* content) {
    GMimeStream* stream = g_mime_data_wrapper_get_stream(content);
    if (stream != nullptr) end_content_at_delimiter(stream);
    return stream;
}

}  // namespace

LeafPart leaf_of(GMimePart* part) {
    GMimeObject* object = GMIME_OBJECT(part);
    LeafPart leaf;
    leaf.fields = fields_of(object);
    if (GMimeDataWrapper* content = g_mime_part_get_content(part)) {
        leaf.stream = content_stream(content);
        leaf.encoding = g_mime_data_wrapper_get_encoding(content);
    }
    note_unknown_encoding(leaf);
    leaf.declared_type = g_mime_header_list_contains(g_mime_object_get_header_list(object), "Content-Type");
    leaf.is_text = !leaf.declared_type ||
                   g_mime_content_type_is_type(g_mime_object_get_content_type(object), "text", "*");
    return leaf;
}

namespace {

void count_warning(gint64, GMimeParserWarning, const gchar*, gpointer user) { ++*static_cast<int*>(user); }

// What GMime's parser concludes from a Content-Type or Content-Disposition
// value, by GMime's own parameter parser. Automated mail repeats the same
// value in every message, so the last answer is kept per thread and GMime
// (two to four GObjects) is asked only when the value changes.
struct FieldVerdict {
    bool clean = false;    // parsed without any warning
    bool leaf = false;     // Content-Type: a part GMime parses as a plain leaf
    bool is_text = false;  // Content-Type: text/*
};

FieldVerdict judge_content_type(const std::string& value) {
    FieldVerdict v;
    int warnings = 0;
    GMimeParserOptions* options = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(options, count_warning, &warnings);
    GPtr<GMimeContentType> type(g_mime_content_type_parse(options, value.c_str()));
    g_mime_parser_options_free(options);
    v.clean = warnings == 0 && type != nullptr;
    if (!v.clean) return v;
    // multipart/* and message/* have structure of their own, and an
    // application/pkcs7-mime body may already be signed: GMime decides.
    v.leaf = !g_mime_content_type_is_type(type.get(), "multipart", "*") &&
             !g_mime_content_type_is_type(type.get(), "message", "*") &&
             !g_mime_content_type_is_type(type.get(), "application", "pkcs7-mime") &&
             !g_mime_content_type_is_type(type.get(), "application", "x-pkcs7-mime");
    v.is_text = g_mime_content_type_is_type(type.get(), "text", "*");
    return v;
}

FieldVerdict judge_disposition(const std::string& value) {
    FieldVerdict v;
    int warnings = 0;
    GMimeParserOptions* options = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(options, count_warning, &warnings);
    GPtr<GMimeContentDisposition> disposition(g_mime_content_disposition_parse(options, value.c_str()));
    g_mime_parser_options_free(options);
    v.clean = warnings == 0 && disposition != nullptr;
    return v;
}

template <FieldVerdict (*judge)(const std::string&)>
FieldVerdict remembered(std::string_view raw) {
    thread_local std::string last_raw;
    thread_local FieldVerdict last;
    thread_local bool have = false;
    if (have && raw == last_raw) return last;
    // GMime parses the raw value, folding included (a C string: a NUL was
    // excluded by the scanner).
    last_raw.assign(raw);
    last = judge(last_raw);
    have = true;
    return last;
}

// multipart/* and message/* bodies are GMime's in any case, and a
// multipart's Content-Type differs in every message (its boundary): decided
// from the first word, without asking GMime.
bool names_a_structured_type(std::string_view raw) {
    std::size_t i = raw.find_first_not_of(" \t\r\n");
    if (i == std::string_view::npos) return false;
    raw.remove_prefix(i);
    return ascii_istarts_with(raw, "multipart/") || ascii_istarts_with(raw, "message/");
}

// RFC 2045 §5.1 token octets: what a Content-Transfer-Encoding value must
// consist of for g_mime_content_encoding_from_string() to see it as written.
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 32 || u >= 127 || std::strchr("()<>@,;:\\\"/[]?=", c) != nullptr) return false;
    }
    return true;
}

}  // namespace

std::optional<LeafPart> leaf_from_fields(HeaderFields fields, std::string_view content) {
    LeafPart leaf;
    // Repeated Content-* fields are equal here (no conflicts), so the last
    // one, which GMime's objects end up with, is any of them.
    const HeaderField* type = nullptr;
    const HeaderField* disposition = nullptr;
    const HeaderField* encoding = nullptr;
    for (const HeaderField& f : fields) {
        if (!ascii_istarts_with(f.name, "Content-")) continue;
        if (ascii_iequals(f.name, "Content-Type")) type = &f;
        else if (ascii_iequals(f.name, "Content-Disposition")) disposition = &f;
        else if (ascii_iequals(f.name, "Content-Transfer-Encoding")) encoding = &f;
    }
    if (type != nullptr) {
        if (names_a_structured_type(type->raw_value)) return std::nullopt;
        FieldVerdict v = remembered<judge_content_type>(type->raw_value);
        if (!v.clean || !v.leaf) return std::nullopt;
        leaf.declared_type = true;
        leaf.is_text = v.is_text;
    }
    if (disposition != nullptr && !remembered<judge_disposition>(disposition->raw_value).clean) {
        return std::nullopt;
    }
    if (encoding != nullptr) {
        std::string token = enc::unfold(encoding->raw_value);
        if (!is_token(token)) return std::nullopt;
        leaf.encoding = g_mime_content_encoding_from_string(token.c_str());
    }
    leaf.fields = std::move(fields);
    leaf.bytes = content;
    leaf.in_memory = true;
    note_unknown_encoding(leaf);
    return leaf;
}

// GMime's parser, asked for one entity, checks every field against the
// first field of the same name and reports differing values
// (GMIME_CRIT_CONFLICTING_HEADER); ribbon refuses that for the fields of
// must_not_conflict() only. Quadratic, so only for sections within
// Limits::max_header_count.
bool has_conflicting_fields(const HeaderFields& fields) {
    for (std::size_t i = 1; i < fields.size(); ++i) {
        if (!must_not_conflict(fields[i].name)) continue;
        for (std::size_t j = 0; j < i; ++j) {
            if (ascii_iequals(fields[j].name, fields[i].name)) {
                if (fields[j].raw_value != fields[i].raw_value) return true;
                break;
            }
        }
    }
    return false;
}

std::optional<LeafPart> describe_leaf(std::string_view message, const Limits& limits) {
    ensure_gmime();
    HeaderScan scan = scan_header_section(message);
    if (scan.outcome != HeaderScan::Outcome::complete) return std::nullopt;
    if (scan.fields.size() > limits.max_header_count || has_conflicting_fields(scan.fields)) {
        return std::nullopt;
    }
    return leaf_from_fields(std::move(scan.fields), message.substr(scan.offset));
}

Result<void> TopLevel::check_structure() const {
    if (m_parsed) return m_parsed->check_structure();
    return {};
}

Result<TopLevel> load_top_level(const MessageInput& in, const Limits& limits, bool scanners) {
    ensure_gmime();
    auto opened = open_input(in, true);
    if (!opened) return std::move(opened).error();
    if (opened->size == 0) return permanent_error(Errc::empty_message, "the message is empty");
    TopLevel top;
    if (opened->in_memory && scanners) {
        // Moving the owned bytes or the mapping keeps the views valid.
        if (auto leaf = describe_leaf(opened->bytes, limits)) {
            leaf->mapping = opened->mapping.get();
            top.m_leaf = std::move(*leaf);
        } else if (auto multipart = describe_multipart(opened->bytes, limits, opened->mapping.get())) {
            top.m_multipart = std::move(multipart);
        }
        if (top.m_leaf || top.m_multipart) {
            top.m_bytes = std::move(opened->owned);
            top.m_mapping = std::move(opened->mapping);
            return top;
        }
    }
    opened->unmap_for_gmime();
    auto parsed = parse_opened(std::move(*opened), ParseAs::entity);
    if (!parsed) return std::move(parsed).error();
    top.m_parsed = std::move(*parsed);
    top.m_fields = fields_of(top.m_parsed->top());
    return top;
}

Result<GPtr<GMimeObject>> parse_entity(std::string_view bytes) {
    ensure_gmime();
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    GMimeObject* obj = g_mime_parser_construct_part(parser.get(), nullptr);
    if (obj == nullptr) return permanent_error(Errc::malformed_message, "not a MIME entity");
    return GPtr<GMimeObject>(obj);
}

std::string read_stream(GMimeStream* stream) {
    std::string out;
    g_mime_stream_reset(stream);
    char buf[65536];
    while (true) {
        ssize_t n = g_mime_stream_read(stream, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

std::string decoded_content(GMimePart* part) {
    GMimeDataWrapper* content = g_mime_part_get_content(part);
    if (content == nullptr) return {};
    content_stream(content);
    GPtr<GMimeStream> mem(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, mem.get());
    GByteArray* array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
    return std::string(reinterpret_cast<const char*>(array->data), array->len);
}

}  // namespace ribbon::mime
