// mime_structure.cpp — the structure scanner: describes a multipart message
// (RFC 2046 §5.1) as GMime's parser would, without GMime, or declines.
//
// Why hand-written: signing a 100 MB message (a text part and a base64
// attachment) spent 75–97 ms in GMime's parser, which reads the file in
// 4 KB pieces with an lseek() for each (25,922 reads, 25,863 seeks), before
// the canonical writer read the content twice more (its conformance scan,
// then its copy). This scanner reads each octet once, in memory or in a
// mapped file, for the one thing that splits a multipart: lines starting
// "--" (RFC 2046 §5.1.1); memchr() finds the few candidates (a base64
// attachment has none), and the conformance scan (conformance.hpp) runs
// on the same bytes while they are in the cache. The whole `ribbon sign`
// of that message went from 345–365 ms of CPU to 236–248 ms (perf stat
// task-clock, issue 17's report); see docs/ARCHITECTURE.md.
//
// Like the header scanner (header_scan.hpp), it accepts a strict subset of
// what GMime accepts and describes it exactly as GMime does: the same parts
// in the same order, each with the same header fields, transfer encoding,
// type and content octets (GMime 3.2's delimiter rules: a line is a
// delimiter when it is "--" boundary, or "--" boundary "--" for the close
// delimiter, followed by optional linear white space, the innermost
// boundary tried first, then its parents'). Whenever GMime could read a
// line differently from the plain case — white space after a boundary, a
// parent's boundary inside a part, a header section that runs into a
// boundary, an empty part, no close delimiter, a Content-* field with
// 8-bit octets (which GMime converts first) — it declines, and GMime
// decides, with its own warnings and errors. tests/core/mime_structure_test
// .cpp and fuzz_sign check that both routes give the same signed part.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <cstdint>
#include <cstring>

#include "base/ascii.hpp"
#include "core/conformance.hpp"
#include "core/mime_parse.hpp"

namespace ribbon::mime {

namespace {

const std::uintptr_t kPage = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));

// The mapped ranges, for the SIGBUS handler: lock-free, since a signal
// handler may take no lock. A slot is free while its end is 0; claimed,
// its end is 1 and its range [begin, end) empty until the mapping is made.
struct Slot {
    std::atomic<std::uintptr_t> begin{0};
    std::atomic<std::uintptr_t> end{0};
    std::atomic<bool> damaged{false};
};
Slot g_slots[Mapping::kMaxMappings];
struct sigaction g_previous {};

// A read past the end of a file cut short while mapped (mmap(2): SIGBUS).
// Inside one of ribbon's mappings the page becomes a page of zeros, so the
// read completes, and the mapping is marked damaged for its reader to
// report; anywhere else the previous disposition applies.
void on_sigbus(int sig, siginfo_t* info, void* context) {
    const auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
    for (Slot& slot : g_slots) {
        if (at < slot.begin.load(std::memory_order_acquire) || at >= slot.end.load(std::memory_order_acquire)) {
            continue;
        }
        void* page = reinterpret_cast<void*>(at & ~(kPage - 1));
        // mmap is a plain system call here; the fixed anonymous page
        // replaces the file's page and goes with the mapping's munmap.
        if (::mmap(page, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
            slot.damaged.store(true, std::memory_order_release);
            return;
        }
        break;
    }
    if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
        g_previous.sa_sigaction(sig, info, context);
        return;
    }
    if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    // Returning re-runs the faulting access, which the default action ends.
    ::signal(SIGBUS, SIG_DFL);
}

void install_sigbus_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO;
        ::sigemptyset(&action.sa_mask);
        ::sigaction(SIGBUS, &action, &g_previous);
    });
}

}  // namespace

std::unique_ptr<Mapping> Mapping::map(int fd, std::size_t size) {
    if (size == 0) return nullptr;
    install_sigbus_handler();
    std::size_t slot = 0;
    for (; slot < kMaxMappings; ++slot) {
        std::uintptr_t free = 0;
        // Claimed by setting end first (to 1, an address never mapped).
        if (g_slots[slot].end.compare_exchange_strong(free, 1, std::memory_order_acq_rel)) break;
    }
    if (slot == kMaxMappings) return nullptr;
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        g_slots[slot].end.store(0, std::memory_order_release);
        return nullptr;
    }
    // Read front to back, once per pass: the kernel may read ahead.
    ::madvise(p, size, MADV_SEQUENTIAL);
    const auto begin = reinterpret_cast<std::uintptr_t>(p);
    g_slots[slot].damaged.store(false, std::memory_order_relaxed);
    g_slots[slot].begin.store(begin, std::memory_order_release);
    g_slots[slot].end.store(begin + size, std::memory_order_release);
    return std::unique_ptr<Mapping>(new Mapping(static_cast<const char*>(p), size, slot));
}

Mapping::~Mapping() {
    // Out of the handler's table before the addresses can be reused: an
    // end of 1 makes the range empty whatever begin still says.
    Slot& slot = g_slots[m_slot];
    slot.end.store(1, std::memory_order_release);
    ::munmap(const_cast<char*>(m_data), m_size);
    slot.begin.store(0, std::memory_order_release);
    slot.end.store(0, std::memory_order_release);
}

bool Mapping::damaged() const noexcept { return g_slots[m_slot].damaged.load(std::memory_order_acquire); }

void Mapping::release(std::string_view done) const noexcept {
    auto from = reinterpret_cast<std::uintptr_t>(done.data());
    auto to = from + done.size();
    from = (from + kPage - 1) & ~(kPage - 1);
    to &= ~(kPage - 1);
    if (to <= from) return;
    // MADV_DONTNEED on a private read-only file mapping only unmaps: the
    // pages stay in the page cache and a later read maps them again.
    ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

namespace {

void count_warning(gint64, GMimeParserWarning, const gchar*, gpointer user) { ++*static_cast<int*>(user); }

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view raw) {
    // Decided from the first word where it can be: GMime's parse costs
    // GObjects, and this runs for every part.
    std::size_t first = raw.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || !ascii_istarts_with(raw.substr(first), "multipart/")) {
        return std::nullopt;
    }
    int warnings = 0;
    GMimeParserOptions* options = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(options, count_warning, &warnings);
    // GMime parses the raw value, folding included (a C string: the
    // scanner excluded a NUL).
    GPtr<GMimeContentType> type(g_mime_content_type_parse(options, std::string(raw).c_str()));
    g_mime_parser_options_free(options);
    if (warnings != 0 || type == nullptr || !g_mime_content_type_is_type(type.get(), "multipart", "*")) {
        return std::nullopt;
    }
    for (const char* special : {"signed", "encrypted", "digest"}) {
        if (g_mime_content_type_is_type(type.get(), "multipart", special)) return std::nullopt;
    }
    const char* boundary = g_mime_content_type_get_parameter(type.get(), "boundary");
    if (boundary == nullptr || *boundary == '\0') return std::nullopt;
    return std::string(boundary);
}

namespace {

// Deeper nesting than this is left to GMime (and its limits).
constexpr std::size_t kMaxNesting = 8;

struct Declined {};  // thrown only within this file, caught by describe_multipart()

class StructureScanner {
public:
    StructureScanner(std::string_view message, const Limits& limits, const Mapping* mapping)
        : m_msg(message), m_limits(limits), m_mapping(mapping) {}

    std::unique_ptr<MultipartNode> top() {
        HeaderScan scan = scan_header_section(m_msg);
        auto node = multipart_of(std::move(scan), 0);
        if (!node) return nullptr;
        // The epilogue runs to the end of the message; a boundary line in
        // it is left to GMime.
        Line line = next_dash_line(m_pos);
        while (line.start != kNone) {
            if (classify(line).kind != Kind::none) throw Declined{};
            line = next_dash_line(line.next);
        }
        release_to(m_msg.size());
        return node;
    }

private:
    static constexpr std::size_t kNone = std::string_view::npos;
    enum class Kind { none, delimiter, close };
    struct Line {
        std::size_t start = kNone;  // a line start with "--"
        std::size_t next = kNone;   // the start of the line after it (or the end)
        std::string_view text;      // without its line break (LF, or CR LF)
    };
    struct Hit {
        Kind kind = Kind::none;
        std::size_t level = 0;  // index in m_stack
    };

    // A multipart entity whose header section is `scan` and whose body
    // starts at scan.offset (relative to m_pos); leaves m_pos after the
    // close delimiter line.
    std::unique_ptr<MultipartNode> multipart_of(HeaderScan scan, std::size_t depth) {
        if (scan.outcome != HeaderScan::Outcome::complete) return nullptr;
        if (scan.fields.size() > m_limits.max_header_count || has_conflicting_fields(scan.fields)) {
            return nullptr;
        }
        if (!plain_content_fields(scan.fields)) return nullptr;
        const HeaderField* type = last_content_type(scan.fields);
        if (type == nullptr) return nullptr;
        // GMime parses a Content-Disposition (and may warn about it) on
        // any part; a multipart rarely has one, so that is left to GMime.
        for (const HeaderField& f : scan.fields) {
            if (ascii_iequals(f.name, "Content-Disposition")) return nullptr;
        }
        std::optional<std::string> boundary = multipart_boundary(type->raw_value);
        if (!boundary) return nullptr;
        auto node = std::make_unique<MultipartNode>();
        node->fields = std::move(scan.fields);
        node->boundary = std::move(*boundary);
        m_pos += scan.offset;
        parts(*node, depth);
        return node;
    }

    // The preamble, the parts, the close delimiter.
    void parts(MultipartNode& node, std::size_t depth) {
        m_stack.push_back(node.boundary);
        Line line = next_delimiter(m_pos);
        // The preamble (RFC 2046 §5.1.1) is dropped by the writer; a
        // multipart without parts is GMime's to refuse.
        if (line.start == kNone || line.next >= m_msg.size()) throw Declined{};
        if (classify(line).kind != Kind::delimiter) throw Declined{};
        while (true) {
            m_pos = line.next;
            node.parts.push_back(part(depth));
            line = m_end_line;
            if (classify(line).kind == Kind::close) break;
        }
        m_stack.pop_back();
        m_pos = line.next;
    }

    // One body part, from m_pos; sets m_end_line to the delimiter that
    // ends it.
    PartNode part(std::size_t depth) {
        std::string_view rest = m_msg.substr(m_pos);
        HeaderScan scan = scan_header_section(rest);
        // A part without header fields (RFC 2046 §5.1.1 allows it) is rare
        // and GMime judges it; a field line starting "--" may be a
        // boundary to GMime.
        if (scan.outcome != HeaderScan::Outcome::complete || scan.fields.empty()) throw Declined{};
        for (const HeaderField& f : scan.fields) {
            if (f.name.size() >= 2 && f.name[0] == '-' && f.name[1] == '-') throw Declined{};
        }
        if (scan.fields.size() > m_limits.max_header_count || has_conflicting_fields(scan.fields) ||
            !plain_content_fields(scan.fields)) {
            throw Declined{};
        }
        PartNode out;
        const HeaderField* type = last_content_type(scan.fields);
        if (type != nullptr && multipart_boundary(type->raw_value)) {
            if (depth + 1 >= kMaxNesting) throw Declined{};
            out.multipart = multipart_of(std::move(scan), depth + 1);
            if (!out.multipart) throw Declined{};
            // The epilogue, up to the parent's next delimiter.
            m_end_line = next_delimiter(m_pos);
            return out;
        }
        const std::size_t content_start = m_pos + scan.offset;
        // The content's conformance is scanned as the search for its end
        // reads it (feed_to()), not in a pass of its own.
        m_content.emplace();
        m_fed = content_start;
        m_end_line = next_delimiter(content_start);
        // RFC 2046 §5.1.1: the line break before a delimiter belongs to
        // the delimiter (mime_parse.cpp, end_content_at_delimiter()).
        std::size_t content_end = m_end_line.start - 1;
        if (content_end > content_start && m_msg[content_end - 1] == '\r') --content_end;
        if (content_end <= content_start) throw Declined{};  // GMime may give it no content
        feed_to(content_end);
        ContentScan verdict = m_content->finish();
        m_content.reset();
        auto leaf = leaf_from_fields(std::move(scan.fields),
                                     m_msg.substr(content_start, content_end - content_start));
        if (!leaf) throw Declined{};
        leaf->mapping = m_mapping;
        leaf->scan = verdict;
        out.leaf = std::move(*leaf);
        return out;
    }

    // The next delimiter line of the innermost multipart from `from` (a
    // line start) on; declines at the end of input or at a line GMime may
    // read as another boundary.
    Line next_delimiter(std::size_t from) {
        for (Line line = next_dash_line(from); line.start != kNone; line = next_dash_line(line.next)) {
            Hit hit = classify(line);
            if (hit.kind == Kind::none) continue;
            if (hit.level + 1 != m_stack.size()) throw Declined{};
            return line;
        }
        throw Declined{};
    }

    // What GMime makes of a line starting "--": a boundary of the first
    // multipart in the stack, innermost first, whose boundary it starts
    // with. White space after the boundary, which GMime also accepts, is
    // declined rather than interpreted.
    Hit classify(const Line& line) const {
        std::string_view text = line.text;
        for (std::size_t i = m_stack.size(); i-- > 0;) {
            std::string_view b = m_stack[i];
            if (text.size() < 2 + b.size() || text.compare(2, b.size(), b) != 0) continue;
            std::string_view rest = text.substr(2 + b.size());
            if (rest.empty()) return {Kind::delimiter, i};
            if (rest == "--") return {Kind::close, i};
            auto lwsp = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
            if (lwsp(rest[0]) || (rest.size() > 2 && rest.substr(0, 2) == "--" && lwsp(rest[2]))) {
                throw Declined{};
            }
        }
        return {};
    }

    // The next line starting "--" at or after `from` (a line start).
    // Searched a window at a time, so that the pages of a mapped file
    // behind the window can be released.
    Line next_dash_line(std::size_t from) {
        const char* base = m_msg.data();
        const std::size_t size = m_msg.size();
        if (from + 1 < size && base[from] == '-' && base[from + 1] == '-') return line_at(from);
        std::size_t p = from + 1;
        while (p + 1 < size) {
            const std::size_t window = std::min(size - 1 - p, Mapping::kWindow);
            const void* dash = std::memchr(base + p, '-', window);
            if (dash == nullptr) {
                p += window;
                release_to(p);
                continue;
            }
            p = static_cast<std::size_t>(static_cast<const char*>(dash) - base);
            if (base[p - 1] == '\n' && base[p + 1] == '-') return line_at(p);
            ++p;
        }
        return {};
    }

    Line line_at(std::size_t start) const {
        Line line;
        line.start = start;
        const void* lf = std::memchr(m_msg.data() + start, '\n', m_msg.size() - start);
        std::size_t end = lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - m_msg.data())
                                        : m_msg.size();
        line.next = lf != nullptr ? end + 1 : m_msg.size();
        line.text = m_msg.substr(start, end - start);
        if (!line.text.empty() && line.text.back() == '\r') line.text.remove_suffix(1);
        return line;
    }

    // GMime's parser converts a header value with 8-bit octets from a
    // guessed charset before it reads parameters (a boundary among them),
    // which g_mime_content_type_parse() on the raw value does not: such
    // Content-* fields, and control octets in them, are left to GMime.
    static bool plain_content_fields(const HeaderFields& fields) {
        for (const HeaderField& f : fields) {
            if (!ascii_istarts_with(f.name, "Content-")) continue;
            for (char c : f.raw_value) {
                auto u = static_cast<unsigned char>(c);
                if (u >= 0x7F || (u < 0x20 && c != '\t' && c != '\r' && c != '\n')) return false;
            }
        }
        return true;
    }

    static const HeaderField* last_content_type(const HeaderFields& fields) {
        const HeaderField* type = nullptr;
        for (const HeaderField& f : fields) {
            if (ascii_iequals(f.name, "Content-Type")) type = &f;
        }
        return type;
    }

    // The content being searched, up to `pos`, to the conformance scan.
    void feed_to(std::size_t pos) {
        if (!m_content || pos <= m_fed) return;
        m_content->feed(m_msg.substr(m_fed, pos - m_fed));
        m_fed = pos;
    }

    // The search has read up to `pos`: the bytes before it, but for the
    // line break that may precede a delimiter line starting at `pos`
    // (which is not content), go to the conformance scan while they are
    // in the cache. Pages before `pos` are not read again by this scan.
    void release_to(std::size_t pos) {
        if (pos >= 2) feed_to(pos - 2);
        if (m_mapping == nullptr || pos < m_released + Mapping::kWindow) return;
        m_mapping->release(m_msg.substr(m_released, pos - m_released));
        m_released = pos;
    }

    std::string_view m_msg;
    const Limits& m_limits;
    const Mapping* m_mapping;
    std::size_t m_pos = 0;
    std::size_t m_released = 0;
    std::vector<std::string> m_stack;  // boundaries, outermost first
    Line m_end_line;
    std::optional<canon::Scanner> m_content;  // the leaf being searched
    std::size_t m_fed = 0;                    // where its scan has got to
};

}  // namespace

std::unique_ptr<MultipartNode> describe_multipart(std::string_view message, const Limits& limits,
                                                  const Mapping* mapping) {
    ensure_gmime();
    StructureScanner scanner(message, limits, mapping);
    try {
        return scanner.top();
    } catch (const Declined&) {
        return nullptr;
    }
}

}  // namespace ribbon::mime
