// mime_parse.cpp — see mime_parse.hpp.
#include "core/mime_parse.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace ribbon::mime {

void ensure_gmime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

namespace {

constexpr std::size_t kSpoolToFileAt = 8 * 1024 * 1024;

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

// Wraps bytes from a non-seekable descriptor, after the `already_read`
// ones, in a seekable GMime stream: memory while small, an unlinked
// temporary file beyond kSpoolToFileAt.
Result<GPtr<GMimeStream>> spool_fd(int fd, std::string_view already_read, std::int64_t& size) {
    std::string buffer(already_read);
    int tmp = -1;
    char chunk[65536];
    size = static_cast<std::int64_t>(buffer.size());
    while (true) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (tmp >= 0) ::close(tmp);
            return transient_error(Errc::io_error, std::string("read failed: ") + std::strerror(errno));
        }
        if (n == 0) break;
        size += n;
        if (tmp < 0) {
            buffer.append(chunk, static_cast<std::size_t>(n));
            if (buffer.size() < kSpoolToFileAt) continue;
            const char* dir = std::getenv("TMPDIR");
            tmp = ::open(dir != nullptr ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
            if (tmp < 0) {
                return transient_error(Errc::io_error,
                                       std::string("cannot create spool file: ") + std::strerror(errno));
            }
            if (::write(tmp, buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size())) {
                ::close(tmp);
                return transient_error(Errc::io_error, "cannot write spool file");
            }
            std::string().swap(buffer);
        } else if (::write(tmp, chunk, static_cast<std::size_t>(n)) != n) {
            ::close(tmp);
            return transient_error(Errc::io_error, "cannot write spool file");
        }
    }
    if (tmp >= 0) {
        ::lseek(tmp, 0, SEEK_SET);
        return GPtr<GMimeStream>(g_mime_stream_fs_new(tmp));
    }
    auto* mem = g_mime_stream_mem_new_with_buffer(buffer.data(), buffer.size());
    return GPtr<GMimeStream>(mem);
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

Result<GPtr<GMimeStream>> open_input(const MessageInput& in, std::int64_t& size) {
    switch (in.source()) {
        case MessageInput::Source::memory:
            size = static_cast<std::int64_t>(in.bytes().size());
            return borrowed_stream(in.bytes());
        case MessageInput::Source::file: {
            int fd = ::open(in.path().c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                int err = errno;
                return Error(Errc::io_error, err == ENOENT ? ErrorKind::permanent : ErrorKind::transient,
                             "cannot open " + in.path().string() + ": " + std::strerror(err));
            }
            struct stat st {};
            ::fstat(fd, &st);
            size = st.st_size;
            return GPtr<GMimeStream>(g_mime_stream_fs_new(fd));
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
                size = st.st_size - pos;
                return GPtr<GMimeStream>(g_mime_stream_fs_new(fd));
            }
            return spool_fd(in.fd(), in.bytes(), size);
        }
    }
    return internal_error("unknown input source");
}

// GMime keeps header values as C strings, so a NUL byte would silently cut
// a header short; RFC 5322 §2.2 forbids it anyway. Scan the top-level header
// section (up to the first empty line) for one.
std::int64_t find_nul_in_header(GMimeStream* stream) {
    g_mime_stream_reset(stream);
    char buf[65536];
    std::int64_t offset = 0;
    char prev = '\n';
    char prev2 = 0;
    while (true) {
        ssize_t n = g_mime_stream_read(stream, buf, sizeof buf);
        if (n <= 0) return -1;
        for (ssize_t i = 0; i < n; ++i) {
            char c = buf[i];
            if (c == '\0') return offset + i;
            if (c == '\n' && (prev == '\n' || (prev == '\r' && prev2 == '\n'))) return -1;
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

Result<ParsedMessage> parse_message(const MessageInput& in, ParseAs as) {
    ensure_gmime();
    ParsedMessage parsed;
    auto stream = open_input(in, parsed.m_size);
    if (!stream) return std::move(stream).error();
    if (parsed.m_size == 0) return permanent_error(Errc::empty_message, "the message is empty");
    parsed.m_stream = std::move(*stream);

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
    if (!parsed.m_message && !parsed.m_entity) {
        return permanent_error(Errc::malformed_message, "not an RFC 5322 message (no header section)");
    }
    parsed.m_nul_in_header = find_nul_in_header(parsed.m_stream.get());
    return parsed;
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
    GPtr<GMimeStream> mem(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, mem.get());
    GByteArray* array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
    return std::string(reinterpret_cast<const char*>(array->data), array->len);
}

}  // namespace ribbon::mime
