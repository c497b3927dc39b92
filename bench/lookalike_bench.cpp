// ribbon-lookalike-bench [N] — the cost of the lookalike check (issue 15:
// find() for a first-seen domain must take at most 1 ms against 100,000
// known domains). Builds a LookalikeIndex of N (default 100,000) generated
// plausible domains — labels of two to four syllables, some with a digit
// or a hyphen, under a mix of public suffixes, one in ten a subdomain —
// then times find() one query at a time:
//   tricks — each known domain changed by one trick of the issue (a letter
//            dropped, added, replaced or swapped; a confusable character; a
//            hyphen; another suffix; the name inside another domain),
//            with the share reported per trick;
//   fresh  — new generated domains that are not known, whose share of
//            reports is the false-positive rate on plausible names.
//   hostile — the longest valid names (127 labels, 253 octets, a known
//            name inside) and refused ones (10,000 labels, 10 MB, invalid
//            UTF-8, a control character), 200 times each.
// Prints Markdown tables: build time and heap, and per query the mean, p50,
// p99 and max wall-clock time and the max CPU time (a busy machine preempts
// a few queries for milliseconds; the slowest one is run again to tell).
// The names are generated, never real hosts.
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "ribbon/lookalike.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Labels are made of syllables (onset, vowel, sometimes a coda), with a
// common word in one of five: sparse like real names, but with the
// crowding around words that real names have.
const char* const kOnsets[] = {"b",  "c",  "d",  "f",  "g",  "h",  "j",  "k",  "l",  "m",  "n",
                               "p",  "r",  "s",  "t",  "v",  "w",  "z",  "br", "ch", "cl", "dr",
                               "fl", "gr", "kr", "pl", "pr", "sh", "st", "tr", "th", ""};
const char* const kVowels[] = {"a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"};
const char* const kCodas[] = {"", "", "", "n", "r", "s", "l", "m", "x", "nd", "st", "ck"};
const char* const kWords[] = {"bank", "shop",   "mail",   "pay",    "home",   "tech",   "data",
                              "net",  "cloud",  "media",  "group",  "energy", "health", "travel",
                              "news", "insure", "credit", "market", "store",  "post"};
// Weighted roughly as mail senders are spread over suffixes.
const char* const kSuffixes[] = {"com", "com", "com", "com",   "com", "com", "com",    "net",
                                 "org", "de",  "de",  "co.uk", "fr",  "nl",  "io",     "com.au",
                                 "it",  "es",  "ch",  "be",    "at",  "se",  "example"};

struct Generator {
    std::mt19937_64 rng;
    explicit Generator(unsigned seed) : rng(seed) {}

    std::size_t pick(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    }
    template <class T, std::size_t N>
    const T& pick(const T (&a)[N]) {
        return a[pick(N)];
    }

    std::string label() {
        std::string out;
        const std::size_t syllables = 2 + pick(3);
        for (std::size_t i = 0; i < syllables; ++i) {
            out += pick(kOnsets);
            out += pick(kVowels);
            out += pick(kCodas);
        }
        if (pick(5) == 0) {
            const bool hyphen = pick(4) == 0;
            out = pick(2) == 0 ? out + (hyphen ? "-" : "") + pick(kWords)
                               : std::string(pick(kWords)) + (hyphen ? "-" : "") + out;
        }
        if (pick(20) == 0) out += std::to_string(pick(100));
        return out;
    }
    std::string domain() {
        std::string d = label() + "." + pick(kSuffixes);
        return pick(10) == 0 ? "mail." + d : d;
    }
};

// Heap in use: small blocks and mmap()ed large ones (the table's vector).
std::size_t heap_bytes() {
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

// This thread's CPU time: a query's own cost without the time the
// scheduler gave other processes (a busy machine preempts a few queries
// for milliseconds).
double cpu_micros() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// One find(), timed by the wall clock and by CPU time.
struct Sample {
    double micros = 0;
    double cpu_micros = 0;
    bool reported = false;
};

template <class F>
Sample timed(F&& find) {
    const double c0 = cpu_micros();
    const auto t0 = Clock::now();
    Sample s;
    s.reported = find();
    s.micros = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    s.cpu_micros = cpu_micros() - c0;
    return s;
}

struct Times {
    std::vector<double> micros;
    double max_cpu = 0;
    std::size_t reported = 0;
    void add(const Sample& s) {
        micros.push_back(s.micros);
        max_cpu = std::max(max_cpu, s.cpu_micros);
        if (s.reported) ++reported;
    }
};

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void print_row(const char* name, const Times& t) {
    double sum = 0;
    for (double x : t.micros) sum += x;
    const double mean = sum / static_cast<double>(t.micros.size());
    std::printf("| %s | %zu | %.1f %% | %.1f | %.1f | %.1f | %.1f | %.1f |\n", name,
                t.micros.size(),
                100.0 * static_cast<double>(t.reported) / static_cast<double>(t.micros.size()),
                mean, percentile(t.micros, 0.5), percentile(t.micros, 0.99),
                *std::max_element(t.micros.begin(), t.micros.end()), t.max_cpu);
}

// The registrable label of a generated domain and what follows it.
std::pair<std::string, std::string> split(const std::string& domain) {
    const bool sub = domain.rfind("mail.", 0) == 0 && domain.find('.', 5) != std::string::npos;
    std::string d = sub ? domain.substr(5) : domain;
    const std::size_t dot = d.find('.');
    return {d.substr(0, dot), d.substr(dot)};
}

// One trick of the issue applied to a known domain.
std::string trick(Generator& g, const std::string& domain, int kind) {
    auto [label, rest] = split(domain);
    const std::size_t at = g.pick(label.size());
    switch (kind) {
        case 0:
            label.erase(at, 1);
            break;  // dropped
        case 1:
            label.insert(at, 1, static_cast<char>('a' + g.pick(26)));
            break;  // added
        case 2:
            label[at] = label[at] == 'z' ? 'y' : static_cast<char>(label[at] + 1);
            break;  // replaced
        case 3:     // swapped
            if (label.size() > 1) std::swap(label[at == 0 ? 0 : at - 1], label[at == 0 ? 1 : at]);
            break;
        case 4: {  // confusable: the first l, o, m or a
            const std::size_t c = label.find_first_of("loma");
            if (c == std::string::npos) return label + "s" + rest;
            const char ch = label[c];
            label.replace(c, 1, ch == 'l' ? "1" : ch == 'o' ? "0" : ch == 'm' ? "rn" : "\xd0\xb0");
            break;
        }
        case 5:
            label.insert(label.begin() + static_cast<std::ptrdiff_t>(std::max<std::size_t>(at, 1)),
                         '-');
            break;  // hyphen
        case 6:
            return label + (rest == ".org" ? ".net" : ".org");  // another suffix
        default:
            return label + rest + "." + g.label() + ".net";  // inside another name
    }
    return label + rest;
}

const char* const kTrickNames[] = {"letter dropped",  "letter added",       "letter replaced",
                                   "letters swapped", "confusable",         "hyphen added",
                                   "other suffix",    "inside another name"};

std::vector<std::string> hostile_names(const std::string& known) {
    std::string longest;  // 127 one-letter labels
    while (longest.size() + 2 + 7 < 253) longest += "b.";
    longest += "example";
    std::string inside;  // a known name near the end of 120 labels
    const std::string tail = split(known).first + split(known).second + ".net";
    while (inside.size() + 2 + tail.size() <= 253) inside += "b.";
    inside += tail;
    std::string labels_10000;
    for (int i = 0; i < 10000; ++i) labels_10000 += "a.";
    return {longest,
            inside,
            std::string(63, 'q') + "." + std::string(63, 'q') + ".example",
            labels_10000 + "example",
            std::string(10 * 1024 * 1024, 'a'),
            "\xff\xfe\xfd.example",
            std::string("ban\x01k.example")};
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
    Generator g(20261207);
    std::vector<std::string> domains;
    std::unordered_set<std::string> seen;
    while (domains.size() < n) {
        std::string d = g.domain();
        if (seen.insert(split(d).first + split(d).second).second) domains.push_back(std::move(d));
    }

    const std::size_t heap_before = heap_bytes();
    const auto start = Clock::now();
    ribbon::LookalikeIndex index;
    index.reserve(domains.size());
    for (std::size_t i = 0; i < domains.size(); ++i) {
        index.add({domains[i], i < 10, static_cast<std::uint64_t>(g.pick(5000))});
    }
    const double build_s = std::chrono::duration<double>(Clock::now() - start).count();
    const double heap_mb = static_cast<double>(heap_bytes() - heap_before) / (1024.0 * 1024.0);

    std::vector<std::pair<std::string, int>> queries;
    for (int kind = 0; kind < 8; ++kind) {
        for (int i = 0; i < 2000; ++i) {
            std::string q = trick(g, domains[g.pick(domains.size())], kind);
            if (seen.count(split(q).first + split(q).second) == 0)
                queries.emplace_back(std::move(q), kind);
        }
    }
    for (int i = 0; i < 20000; ++i) {
        std::string q = g.domain();
        if (seen.count(split(q).first + split(q).second) == 0)
            queries.emplace_back(std::move(q), 8);
    }
    std::shuffle(queries.begin(), queries.end(), g.rng);

    std::map<int, Times> by_kind;
    std::map<std::string, std::size_t> fresh_kinds;
    Times tricks, fresh;
    std::string slowest;  // the query that took the most CPU time
    double slowest_cpu = 0;
    for (const auto& [q, kind] : queries) {
        std::optional<ribbon::LookalikeMatch> m;
        const Sample sample = timed([&] { return (m = index.find(q)).has_value(); });
        if (sample.cpu_micros > slowest_cpu) {
            slowest_cpu = sample.cpu_micros;
            slowest = q;
        }
        (kind == 8 ? fresh : tricks).add(sample);
        by_kind[kind].add(sample);
        if (kind == 8 && m) ++fresh_kinds[std::string(ribbon::lookalike_kind_name(m->kind))];
    }
    // Hostile names, each 200 times: the longest valid ones (127 labels,
    // 253 octets, a known name inside) and what is refused.
    Times hostile;
    for (const std::string& q : hostile_names(domains[0])) {
        for (int i = 0; i < 200; ++i) hostile.add(timed([&] { return index.find(q).has_value(); }));
    }

    std::printf("lookalike check: %zu known domains (%zu kept), Public Suffix List: %s\n\n", n,
                index.size(), index.has_public_suffix_list() ? "libpsl's" : "none");
    std::printf(
        "| index | build s | per domain µs | heap MB | bytes per domain |\n"
        "|---|---:|---:|---:|---:|\n");
    std::printf("| %zu domains | %.2f | %.1f | %.1f | %.0f |\n\n", index.size(), build_s,
                build_s * 1e6 / static_cast<double>(index.size()), heap_mb,
                heap_mb * 1024 * 1024 / static_cast<double>(index.size()));
    std::printf(
        "| find() | queries | reported | mean µs | p50 µs | p99 µs | max µs | max CPU µs |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n");
    print_row("tricks (all)", tricks);
    for (int kind = 0; kind < 8; ++kind) print_row(kTrickNames[kind], by_kind[kind]);
    print_row("fresh domains", fresh);
    print_row("hostile names", hostile);
    // Is the slowest query slow, or was the machine busy then?
    Times again;
    for (int i = 0; i < 100; ++i) again.add(timed([&] { return index.find(slowest).has_value(); }));
    std::printf(
        "\nthe query that took the most CPU time (%.1f µs) again, 100 times: %.1f µs at best\n",
        slowest_cpu, *std::min_element(again.micros.begin(), again.micros.end()));
    std::printf("fresh domains reported, by kind:");
    for (const auto& [kind, count] : fresh_kinds) std::printf(" %s %zu", kind.c_str(), count);
    std::printf("\n");
    return 0;
}
