// public_suffix.cpp — the Public Suffix List's algorithm (core/public_suffix.hpp).
#include "core/public_suffix.hpp"

#include <algorithm>
#include <fstream>

#include "core/idn.hpp"

namespace ribbon {

namespace {

constexpr std::size_t kMaxListBytes = 16 * 1024 * 1024;

std::size_t count_labels(std::string_view name) {
    return static_cast<std::size_t>(std::count(name.begin(), name.end(), '.')) + 1;
}

}  // namespace

void PublicSuffixList::add_rule(std::string_view rule) {
    Set* set = &m_normal;
    if (rule.substr(0, 1) == "!") {
        set = &m_exception;
        rule.remove_prefix(1);
    } else if (rule.substr(0, 2) == "*.") {
        set = &m_wildcard;
        rule.remove_prefix(2);
    }
    // The list puts a wildcard only as the leftmost label; any other form
    // is not a rule this algorithm knows.
    if (rule.empty() || rule.find('*') != std::string_view::npos) return;
    auto ascii = idn::domain_ascii(rule);
    if (!ascii) return;
    const std::size_t labels = count_labels(*ascii) + (set == &m_wildcard ? 1 : 0);
    m_max_labels = std::max(m_max_labels, labels);
    set->insert(std::move(*ascii));
    ++m_rules;
}

std::shared_ptr<const PublicSuffixList> PublicSuffixList::load(const std::string& path) {
    auto list = std::make_shared<PublicSuffixList>();
    if (path.empty()) return list;
    std::ifstream in(path, std::ios::binary);
    if (!in) return list;
    std::string text;
    char chunk[65536];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
        text.append(chunk, static_cast<std::size_t>(in.gcount()));
        if (text.size() > kMaxListBytes) return list;
    }
    // One rule per line, read up to the first white space; "//" starts a
    // comment line.
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        line = line.substr(0, line.find_first_of(" \t\r"));
        if (!line.empty() && line.substr(0, 2) != "//") list->add_rule(line);
        pos = end + 1;
    }
    return list;
}

std::shared_ptr<const PublicSuffixList> PublicSuffixList::system() {
    static const std::shared_ptr<const PublicSuffixList> instance = load(kSystemPath);
    return instance;
}

std::size_t PublicSuffixList::suffix_labels(const std::vector<std::string_view>& labels) const {
    const std::size_t n = labels.size();
    if (n == 0) return 0;
    // The labels are views into one domain string: the last k of them are
    // one view from the start of label n-k to the end.
    const char* end = labels.back().data() + labels.back().size();
    auto tail = [&](std::size_t k) {
        const char* begin = labels[n - k].data();
        return std::string_view(begin, static_cast<std::size_t>(end - begin));
    };
    std::size_t best = 1;  // the default rule "*"
    const std::size_t longest = std::min(n, m_max_labels);
    for (std::size_t k = 1; k <= longest; ++k) {
        const std::string_view suffix = tail(k);
        // An exception rule prevails over every other, and its suffix is
        // the rule without its leftmost label (a one-label exception, which
        // the list never has, leaves the default rule).
        if (m_exception.find(suffix) != m_exception.end()) return std::max<std::size_t>(k - 1, 1);
        if (m_normal.find(suffix) != m_normal.end()) best = k;
        if (k >= 2 && m_wildcard.find(tail(k - 1)) != m_wildcard.end()) best = k;
    }
    return best;
}

}  // namespace ribbon
