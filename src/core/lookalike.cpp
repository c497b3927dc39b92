// lookalike.cpp — domains made to be mistaken for known ones
// (ribbon/lookalike.hpp, whose header comment states the rules).
//
// Every known domain is an Entry; one FingerprintTable maps keys, a tag and
// one or two strings, to entry numbers:
//   'N' the domain (A-labels)               add()'s updates
//   'O' registrable part (A-labels)         rule 3, same organisation
//   'L' registrable label's key             rule 4, equal keys
//   'W' registrable part's key without dots rule 4, hyphenation
//   'R' registrable part's skeletons        rule 5, a known name inside
//   'D' suffix and the label's key with one character deleted: rule 4's
//       edit distance as a deletion neighbourhood (the SymSpell idea): two
//       strings one edit apart share a one-deletion string, or one is a
//       deletion of the other (found through 'L').
// A query looks up its own keys and deletions, so find() costs a number of
// hash lookups linear in the domain's length, whatever the index's size;
// every hit is checked against the entry's real strings, so fingerprint
// collisions cost time, never a wrong answer.
#include "ribbon/lookalike.hpp"

#include <libpsl.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

#include "base/ascii.hpp"
#include "core/fingerprint_table.hpp"
#include "core/idn.hpp"

namespace ribbon {

namespace {

constexpr std::size_t kMaxDomainOctets = 253;  // RFC 1035 §2.3.4, without the root's dot
constexpr std::size_t kMaxLabelOctets = 63;    // RFC 1035 §2.3.4
// Rule 4's thresholds, in characters of the key.
constexpr std::size_t kMinExactKey = 3;
constexpr std::size_t kMinEditKey = 4;
constexpr std::size_t kMinReplaceKey = 5;
// Rule 6: hits checked per find(), the bound on a degenerate index.
constexpr std::size_t kMaxCandidates = 4096;
// LookalikeIndex::reserve()'s guess of the table's keys per domain: five,
// and about one deletion per character of the registrable label (the
// bench's generated domains average 17.7). Guessing low costs one doubling
// more; guessing high, up to twice the table's memory.
constexpr std::size_t kKeysPerDomain = 16;

// The one owner of a libpsl context. psl_free() leaves libpsl's built-in
// list alone, which psl_latest() returns when it has no newer file, so
// every context psl_latest() or psl_load_file() returns is owned alike.
struct PslFree {
    void operator()(psl_ctx_t* ctx) const noexcept { psl_free(ctx); }
};
using PslContext = std::unique_ptr<psl_ctx_t, PslFree>;
// Shared by the indexes that use it; read-only once loaded (libpsl's
// lookups of A-labels only read it), so threads may share it too.
using SharedPsl = std::shared_ptr<const psl_ctx_t>;

// The newest list libpsl has: Debian's publicsuffix package in its compiled
// form (/usr/share/publicsuffix/public_suffix_list.dafsa), else libpsl's
// built-in copy. Loaded once per process.
SharedPsl system_psl() {
    static const SharedPsl instance{PslContext(psl_latest(nullptr))};
    return instance;
}

// A list file for psl_load_file() (the list's text format or a DAFSA);
// null, the default rule only, when "" or when libpsl cannot load it.
SharedPsl file_psl(const std::string& path) {
    if (path.empty()) return nullptr;
    return SharedPsl{PslContext(psl_load_file(path.c_str()))};
}

// A domain taken apart (rules 1 and 2). Not copied: the labels are views
// into `ascii`.
struct Parsed {
    Parsed() = default;
    Parsed(const Parsed&) = delete;
    Parsed& operator=(const Parsed&) = delete;

    std::string ascii;                     // A-labels, lower case, no root dot
    std::vector<std::string_view> labels;  // into ascii
    std::vector<std::string> skeletons;    // per label: rule 4's skeleton, hyphens kept
    std::size_t reg = 0;                   // index of the registrable label

    std::string_view registrable() const {
        return std::string_view(ascii).substr(
            static_cast<std::size_t>(labels[reg].data() - ascii.data()));
    }
    std::string_view suffix() const { return registrable().substr(labels[reg].size() + 1); }
    std::string suffix_skeleton() const {
        std::string out;
        for (std::size_t i = reg + 1; i < labels.size(); ++i) {
            if (i > reg + 1) out += '.';
            out += skeletons[i];
        }
        return out;
    }
};

// A known domain.
struct Entry {
    KnownDomain known;
    std::string label_skeleton;       // of the registrable label, hyphens kept
    std::string suffix_skeleton;      // of the suffix's labels, joined by '.'
    std::uint8_t registrable_at = 0;  // where the registrable part starts in known.domain
    std::uint8_t label_octets = 0;    // the registrable label's length

    std::string_view registrable() const {
        return std::string_view(known.domain).substr(registrable_at);
    }
    std::string_view label() const { return registrable().substr(0, label_octets); }
    std::string_view suffix() const { return registrable().substr(label_octets + 1); }
};

std::string without(std::string_view s, std::string_view drop) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (drop.find(c) == std::string_view::npos) out += c;
    }
    return out;
}

// Rule 4's key of a label's skeleton.
std::string label_key(std::string_view skeleton) { return without(skeleton, "-"); }
// Rule 4's key of a registrable part read without its dots.
std::string whole_key(std::string_view label_skeleton, std::string_view suffix_skeleton) {
    return without(label_skeleton, "-") + without(suffix_skeleton, "-.");
}

// Characters, not bytes, of UTF-8 text: a skeleton in another script.
std::size_t characters(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

std::uint64_t key_hash(char tag, std::string_view a, std::string_view b = {}) {
    const std::hash<std::string_view> h;
    return mix(h(a) ^ mix(h(b) + static_cast<unsigned char>(tag)));
}

// Rule 1: the A-label form split into host-name labels; false when it is not one.
bool host_name_labels(std::string_view ascii, std::vector<std::string_view>& labels) {
    if (ascii.empty() || ascii.size() > kMaxDomainOctets) return false;
    labels.reserve(static_cast<std::size_t>(std::count(ascii.begin(), ascii.end(), '.')) + 1);
    std::size_t pos = 0;
    while (true) {
        std::size_t dot = ascii.find('.', pos);
        if (dot == std::string_view::npos) dot = ascii.size();
        const std::string_view label = ascii.substr(pos, dot - pos);
        if (label.empty() || label.size() > kMaxLabelOctets || label.front() == '-' ||
            label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
        }
        labels.push_back(label);
        if (dot == ascii.size()) break;
        pos = dot + 1;
    }
    const std::string_view top = labels.back();
    return labels.size() >= 2 &&
           !std::all_of(top.begin(), top.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Each label's skeleton, from the U-label form; false when the A-labels do
// not decode label for label.
bool label_skeletons(Parsed& p) {
    std::string unicode = p.ascii;
    if (idn::has_ace_label(p.ascii)) {
        auto u = idn::domain_unicode(p.ascii);
        if (!u) return false;
        unicode = std::move(*u);
    }
    p.skeletons.reserve(p.labels.size());
    std::size_t pos = 0;
    for (std::size_t i = 0; i < p.labels.size(); ++i) {
        std::size_t dot = unicode.find('.', pos);
        if (dot == std::string::npos) dot = unicode.size();
        if ((dot == unicode.size()) != (i + 1 == p.labels.size())) return false;
        auto skeleton = idn::skeleton(std::string_view(unicode).substr(pos, dot - pos));
        if (!skeleton || skeleton->empty()) return false;
        p.skeletons.push_back(ascii_lower(*skeleton));
        pos = dot + 1;
    }
    return true;
}

// Rule 2: how many trailing labels of `p` are its public suffix, by the
// list's algorithm in libpsl (its default rule "*" included: at least the
// last label; libpsl looks at the last 9 labels only, and no rule has more
// than 5). Without a list the default rule alone.
std::size_t suffix_labels(const psl_ctx_t* psl, const Parsed& p) {
    const char* suffix = psl_unregistrable_domain(psl, p.ascii.c_str());
    if (suffix == nullptr) return 1;  // no list (libpsl's answer for a null context)
    const auto at = static_cast<std::size_t>(suffix - p.ascii.c_str());
    return static_cast<std::size_t>(
        std::count_if(p.labels.begin(), p.labels.end(), [&](std::string_view label) {
            return static_cast<std::size_t>(label.data() - p.ascii.data()) >= at;
        }));
}

// Rules 1 and 2.
bool parse(std::string_view input, const psl_ctx_t* psl, Parsed& p) {
    if (input.empty() || input.size() > idn::kMaxDomainBytes) return false;
    auto ascii = idn::domain_ascii(input);
    if (!ascii) return false;
    p.ascii = std::move(*ascii);
    if (!p.ascii.empty() && p.ascii.back() == '.') p.ascii.pop_back();  // the root (RFC 1034 §3.1)
    if (!host_name_labels(p.ascii, p.labels)) return false;
    const std::size_t suffix = suffix_labels(psl, p);
    if (suffix >= p.labels.size()) return false;  // a public suffix: nothing registrable
    p.reg = p.labels.size() - suffix - 1;
    return label_skeletons(p);
}

enum class Edit { not_one, added, dropped, replaced, swapped };

// How `query` is one edit (Damerau: optimal string alignment) from `known`.
Edit one_edit(std::string_view query, std::string_view known) {
    std::size_t i = 0;
    while (i < query.size() && i < known.size() && query[i] == known[i]) ++i;
    if (query.size() == known.size()) {
        if (i == query.size()) return Edit::not_one;
        if (query.substr(i + 1) == known.substr(i + 1)) return Edit::replaced;
        if (i + 1 < query.size() && query[i] == known[i + 1] && query[i + 1] == known[i] &&
            query.substr(i + 2) == known.substr(i + 2)) {
            return Edit::swapped;
        }
        return Edit::not_one;
    }
    if (query.size() == known.size() + 1) {
        return query.substr(i + 1) == known.substr(i) ? Edit::added : Edit::not_one;
    }
    if (query.size() + 1 == known.size()) {
        return query.substr(i) == known.substr(i + 1) ? Edit::dropped : Edit::not_one;
    }
    return Edit::not_one;
}

// Rule 4's lengths for an edit of a known key.
bool edit_counts(Edit e, std::size_t known_length) {
    if (e == Edit::not_one) return false;
    return known_length >= (e == Edit::replaced ? kMinReplaceKey : kMinEditKey);
}

// Each distinct string made by deleting one character of `key`.
template <class F>
void for_each_deletion(std::string_view key, F&& f) {
    std::string buffer;
    buffer.reserve(key.size());
    for (std::size_t i = 0; i < key.size(); ++i) {
        // Deleting any letter of a run gives the same string: once.
        if (i > 0 && key[i] == key[i - 1]) continue;
        buffer.assign(key.substr(0, i));
        buffer.append(key.substr(i + 1));
        f(std::string_view(buffer));
    }
}

bool edit_indexed(std::string_view key) {
    return idn::is_ascii(key) && key.size() + 1 >= kMinEditKey && key.size() <= kMaxLabelOctets + 1;
}

int kind_rank(LookalikeKind k) {
    switch (k) {
        case LookalikeKind::confusable:
            return 0;
        case LookalikeKind::other_tld:
            return 1;
        case LookalikeKind::hyphenation:
            return 2;
        case LookalikeKind::edit_distance:
            return 3;
    }
    return 4;
}

// A match before it is reported: what of the new domain resembles what of
// the known one.
struct Candidate {
    std::uint32_t id = 0;
    LookalikeKind kind = LookalikeKind::confusable;
    Edit edit = Edit::not_one;
    std::string_view shown;  // part of the new domain
    std::string_view known;  // part of the known domain
    bool inside = false;     // rule 5: `known` whole among the new domain's labels
};

// "1,234": the count as people read it.
std::string grouped(std::uint64_t n) {
    const std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string quoted(std::string_view s) {
    std::string out(1, '"');
    out.append(s);
    out += '"';
    return out;
}

std::string describe(const Candidate& c, const KnownDomain& known, std::string_view domain) {
    std::string out = "lookalike of " + known.domain + " (";
    out += known.own ? "own signer domain" : "known signer";
    if (known.seen > 0 || !known.own) {
        out += ", seen " + grouped(known.seen) + (known.seen == 1 ? " time" : " times");
    }
    out += "): ";
    if (c.kind == LookalikeKind::other_tld && c.inside) {
        return out + quoted(domain) + " holds " + quoted(c.known) +
               " under another organisation's name";
    }
    out += quoted(c.shown);
    switch (c.kind) {
        case LookalikeKind::confusable:
            return out + " reads as " + quoted(c.known) + " (confusable characters, UTS #39)";
        case LookalikeKind::hyphenation:
            return out + " is " + quoted(c.known) + " with hyphens or dots moved";
        case LookalikeKind::other_tld:
            return out + " is " + quoted(c.known) + " under another public suffix";
        case LookalikeKind::edit_distance:
            break;
    }
    out += " is " + quoted(c.known);
    switch (c.edit) {
        case Edit::added:
            return out + " with one letter added";
        case Edit::dropped:
            return out + " with one letter dropped";
        case Edit::replaced:
            return out + " with one letter replaced";
        case Edit::swapped:
            return out + " with two letters swapped";
        case Edit::not_one:
            break;
    }
    return out;
}

}  // namespace

std::string_view lookalike_kind_name(LookalikeKind k) noexcept {
    switch (k) {
        case LookalikeKind::confusable:
            return "confusable";
        case LookalikeKind::edit_distance:
            return "edit-distance";
        case LookalikeKind::hyphenation:
            return "hyphenation";
        case LookalikeKind::other_tld:
            return "other-tld";
    }
    return "unknown";
}

struct LookalikeIndex::Impl {
    SharedPsl psl;  // null: the default rule only
    std::vector<Entry> entries;
    FingerprintTable table;
    std::size_t max_registrable_labels = 2;

    // One find()'s search: the best candidate so far and the budget.
    struct Search {
        const Impl& index;
        const Parsed& query;
        std::optional<Candidate> best;
        std::size_t checked = 0;

        bool better(const Candidate& a, const Candidate& b) const {
            const KnownDomain& x = index.entries[a.id].known;
            const KnownDomain& y = index.entries[b.id].known;
            if (x.own != y.own) return x.own;
            if (x.seen != y.seen) return x.seen > y.seen;
            if (a.kind != b.kind) return kind_rank(a.kind) < kind_rank(b.kind);
            return x.domain < y.domain;
        }
        void offer(const Candidate& c) {
            if (!best || better(c, *best)) best = c;
        }
        // Calls check(entry id) for each hit of `hash` within the budget.
        template <class F>
        void hits(std::uint64_t hash, F&& check) {
            index.table.for_each(hash, [&](std::uint32_t id) {
                if (++checked > kMaxCandidates) return false;
                check(id, index.entries[id]);
                return true;
            });
        }
    };

    void insert_keys(std::uint32_t id, const Entry& e, std::size_t registrable_labels);
    bool same_organisation(const Parsed& q) const;
    void match_labels(Search& s) const;
    void match_embedded(Search& s) const;
    void match_edits(Search& s) const;
};

void LookalikeIndex::Impl::insert_keys(std::uint32_t id, const Entry& e,
                                       std::size_t registrable_labels) {
    table.insert(key_hash('N', e.known.domain), id);
    table.insert(key_hash('O', e.registrable()), id);
    const std::string key = label_key(e.label_skeleton);
    if (characters(key) >= kMinExactKey) table.insert(key_hash('L', key), id);
    const std::string whole = whole_key(e.label_skeleton, e.suffix_skeleton);
    if (characters(whole) >= kMinExactKey) table.insert(key_hash('W', whole), id);
    table.insert(key_hash('R', e.label_skeleton + "." + e.suffix_skeleton), id);
    max_registrable_labels = std::max(max_registrable_labels, registrable_labels);
    if (idn::is_ascii(key) && key.size() >= kMinEditKey) {
        for_each_deletion(
            key, [&](std::string_view d) { table.insert(key_hash('D', e.suffix(), d), id); });
    }
}

bool LookalikeIndex::Impl::same_organisation(const Parsed& q) const {
    bool same = false;
    table.for_each(key_hash('O', q.registrable()), [&](std::uint32_t id) {
        same = entries[id].registrable() == q.registrable();
        return !same;
    });
    return same;
}

// Rule 4's equal keys: the registrable label's, and the registrable part
// read without its dots, against both of a known domain's.
void LookalikeIndex::Impl::match_labels(Search& s) const {
    const Parsed& q = s.query;
    const std::string_view label = q.labels[q.reg];
    const std::string key = label_key(q.skeletons[q.reg]);
    const std::string whole = whole_key(q.skeletons[q.reg], q.suffix_skeleton());
    if (characters(key) >= kMinExactKey) {
        s.hits(key_hash('L', key), [&](std::uint32_t id, const Entry& e) {
            if (label_key(e.label_skeleton) != key) return;
            LookalikeKind kind = LookalikeKind::hyphenation;
            if (e.label() == label) {
                kind = LookalikeKind::other_tld;
            } else if (e.label_skeleton == q.skeletons[q.reg]) {
                kind = LookalikeKind::confusable;
            }
            const bool by_label = kind != LookalikeKind::other_tld;
            s.offer({id, kind, Edit::not_one, by_label ? label : q.registrable(),
                     by_label ? e.label() : std::string_view(e.registrable())});
        });
        s.hits(key_hash('W', key), [&](std::uint32_t id, const Entry& e) {
            if (whole_key(e.label_skeleton, e.suffix_skeleton) != key) return;
            s.offer(
                {id, LookalikeKind::hyphenation, Edit::not_one, q.registrable(), e.registrable()});
        });
    }
    if (characters(whole) >= kMinExactKey) {
        s.hits(key_hash('L', whole), [&](std::uint32_t id, const Entry& e) {
            if (label_key(e.label_skeleton) != whole) return;
            s.offer(
                {id, LookalikeKind::hyphenation, Edit::not_one, q.registrable(), e.registrable()});
        });
    }
}

// Rule 5: a known registrable part as consecutive labels left of the new
// domain's public suffix.
void LookalikeIndex::Impl::match_embedded(Search& s) const {
    const Parsed& q = s.query;
    std::string run;
    for (std::size_t first = 0; first <= q.reg; ++first) {
        run = q.skeletons[first];
        for (std::size_t last = first + 1; last <= q.reg && last - first < max_registrable_labels;
             ++last) {
            run += '.';
            run += q.skeletons[last];
            const char* begin = q.labels[first].data();
            const std::string_view shown(
                begin,
                static_cast<std::size_t>(q.labels[last].data() + q.labels[last].size() - begin));
            s.hits(key_hash('R', run), [&](std::uint32_t id, const Entry& e) {
                if (e.label_skeleton + "." + e.suffix_skeleton != run) return;
                const auto kind =
                    shown == e.registrable() ? LookalikeKind::other_tld : LookalikeKind::confusable;
                s.offer({id, kind, Edit::not_one, shown, e.registrable(), true});
            });
        }
    }
}

// Rule 4's edit distance, under the same public suffix.
void LookalikeIndex::Impl::match_edits(Search& s) const {
    const Parsed& q = s.query;
    const std::string key = label_key(q.skeletons[q.reg]);
    if (!edit_indexed(key)) return;
    const std::string_view suffix = q.suffix();
    auto check = [&](std::uint32_t id, const Entry& e) {
        if (e.suffix() != suffix) return;
        const std::string known = label_key(e.label_skeleton);
        const Edit edit = one_edit(key, known);
        if (edit_counts(edit, known.size())) {
            s.offer({id, LookalikeKind::edit_distance, edit, q.labels[q.reg], e.label()});
        }
    };
    // The query one deletion of a known key, or both one deletion of the
    // same string (a letter replaced, two swapped).
    s.hits(key_hash('D', suffix, key), check);
    for_each_deletion(key, [&](std::string_view d) {
        s.hits(key_hash('D', suffix, d), check);
        // A known key that is a deletion of the query (a letter added) is
        // found by its 'L' entry rather than a 'D' entry of its own.
        if (d.size() >= kMinEditKey) s.hits(key_hash('L', d), check);
    });
}

LookalikeIndex::LookalikeIndex() : m_impl(std::make_unique<Impl>()) {
    m_impl->psl = system_psl();
}

LookalikeIndex::LookalikeIndex(const std::string& public_suffix_list)
    : m_impl(std::make_unique<Impl>()) {
    m_impl->psl = file_psl(public_suffix_list);
}

LookalikeIndex::~LookalikeIndex() = default;
LookalikeIndex::LookalikeIndex(LookalikeIndex&&) noexcept = default;
LookalikeIndex& LookalikeIndex::operator=(LookalikeIndex&&) noexcept = default;

LookalikeIndex::Impl& LookalikeIndex::impl() {
    if (!m_impl) {  // moved from: start afresh
        m_impl = std::make_unique<Impl>();
        m_impl->psl = system_psl();
    }
    return *m_impl;
}

bool LookalikeIndex::add(const KnownDomain& known) {
    Impl& index = impl();
    Parsed p;
    if (!parse(known.domain, index.psl.get(), p)) return false;
    bool updated = false;
    index.table.for_each(key_hash('N', p.ascii), [&](std::uint32_t id) {
        Entry& e = index.entries[id];
        if (e.known.domain != p.ascii) return true;
        e.known.own = e.known.own || known.own;
        e.known.seen = std::max(e.known.seen, known.seen);
        updated = true;
        return false;
    });
    if (updated) return true;
    if (index.entries.size() >= std::numeric_limits<std::uint32_t>::max()) return false;
    Entry e;
    e.known = KnownDomain{p.ascii, known.own, known.seen};
    e.registrable_at = static_cast<std::uint8_t>(p.ascii.size() - p.registrable().size());
    e.label_skeleton = p.skeletons[p.reg];
    e.suffix_skeleton = p.suffix_skeleton();
    e.label_octets = static_cast<std::uint8_t>(p.labels[p.reg].size());
    const auto id = static_cast<std::uint32_t>(index.entries.size());
    index.entries.push_back(std::move(e));
    index.insert_keys(id, index.entries.back(), p.labels.size() - p.reg);
    return true;
}

void LookalikeIndex::reserve(std::size_t domains) {
    Impl& index = impl();
    index.entries.reserve(domains);
    index.table.reserve(domains * kKeysPerDomain);
}

std::size_t LookalikeIndex::size() const noexcept { return m_impl ? m_impl->entries.size() : 0; }

bool LookalikeIndex::has_public_suffix_list() const noexcept {
    return m_impl && m_impl->psl != nullptr;
}

std::optional<LookalikeMatch> LookalikeIndex::find(std::string_view domain) const {
    if (!m_impl || m_impl->entries.empty()) return std::nullopt;
    const Impl& index = *m_impl;
    Parsed q;
    if (!parse(domain, index.psl.get(), q) || index.same_organisation(q)) return std::nullopt;
    Impl::Search search{index, q, std::nullopt, 0};
    index.match_labels(search);
    index.match_embedded(search);
    index.match_edits(search);
    if (!search.best) return std::nullopt;
    const Candidate& best = *search.best;
    const KnownDomain& known = index.entries[best.id].known;
    return LookalikeMatch{q.ascii, known, best.kind, describe(best, known, q.ascii)};
}

}  // namespace ribbon
