// The man pages (man/ribbon.1, man/ribbon.toml.5) against what they
// describe: mandoc(1)'s linter finds nothing; every configuration key of
// docs/CONFIGURATION.md (and every key `ribbon check-config` prints) is in
// ribbon.toml(5) and the other way round; every subcommand the `ribbon`
// binary's --help lists, and every option each --help prints, is in
// ribbon(1) under that command, and the page documents nothing else.
//
// The pages' layout the parsers rely on is stated in each page's leading
// comment: a subsection (.Ss) per command or per TOML table, an ".It Fl"
// item per option, an ".It Ic KEY Pq TYPE, default ..." item per key.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

using Names = std::set<std::string>;
// Command path ("" for `ribbon` itself, "keys dev-ca issue") → its options.
using CommandOptions = std::map<std::string, Names>;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::vector<std::string> words_of(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// The arguments of an mdoc macro line, quotes and zero-width escapes (\&)
// removed: `.Ss "[milter]\&"` → "[milter]".
std::string macro_argument(const std::string& line) {
    std::string arg = line.substr(std::min(line.size(), std::size_t{4}));
    for (std::string_view junk : {"\\&", "\""}) {
        for (auto at = arg.find(junk); at != std::string::npos; at = arg.find(junk)) arg.erase(at, junk.size());
    }
    while (!arg.empty() && arg.back() == ' ') arg.pop_back();
    return arg;
}

bool is_macro(const std::string& word) {
    static const std::regex macro("[A-Z][a-z]{1,2}");
    return std::regex_match(word, macro);
}

// The words after each `macro` on an mdoc line, up to the next macro or
// delimiter: `.It Fl c , Fl -config Ar file` with "Fl" → {"c", "-config"}.
std::vector<std::string> macro_words(const std::string& line, const std::string& macro) {
    static const std::regex delimiter("[,|;.()]");
    std::vector<std::string> out;
    auto words = words_of(line);
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (words[i] != macro) continue;
        for (std::size_t j = i + 1; j < words.size() && !is_macro(words[j]); ++j) {
            if (std::regex_match(words[j], delimiter)) break;
            out.push_back(words[j]);
        }
    }
    return out;
}

std::string joined(const Names& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "(none)" : out;
}

// "in A, not in B: ...; in B, not in A: ..." or "" when the sets agree.
std::string difference(const Names& a, const std::string& a_name, const Names& b, const std::string& b_name) {
    Names only_a, only_b;
    for (const auto& n : a) {
        if (!b.contains(n)) only_a.insert(n);
    }
    for (const auto& n : b) {
        if (!a.contains(n)) only_b.insert(n);
    }
    std::string out;
    if (!only_a.empty()) out += "in " + a_name + ", not in " + b_name + ": " + joined(only_a);
    if (!only_b.empty()) out += std::string(out.empty() ? "" : "; ") + "in " + b_name + ", not in " + a_name + ": " + joined(only_b);
    return out;
}

// ---- configuration keys ----------------------------------------------------

// "[milter]", "[[signer]]", "[relay.next_hop]" at the start of `text` →
// "milter", "signer", "relay.next_hop"; anything else → "".
std::string toml_table(const std::string& text) {
    std::smatch m;
    static const std::regex table(R"(^\[\[?([a-z_]+(\.[a-z_]+)*)\]\]?)");
    return std::regex_search(text, m, table) ? m[1].str() : "";
}

// The keys of docs/CONFIGURATION.md: each row of a `| key | default |
// meaning |` table names one or more keys in backquotes (`tls_cert_file`,
// `tls_key_file`), in the table of the last `## [section]` heading.
// Tables under other headings (message size paths, next-hop replies) have
// other columns. A key table under a heading that is no TOML table is an
// error of the document, reported as the key "?.NAME".
Names documented_keys(const std::string& markdown) {
    Names keys;
    std::string section;
    bool in_key_table = false;
    static const std::regex name("`([a-z_]+)`");
    for (const auto& line : lines_of(markdown)) {
        if (line.starts_with("#")) {
            section = toml_table(line.substr(line.find_first_not_of("# ")));
            continue;
        }
        if (!line.starts_with("|")) {
            in_key_table = false;
            continue;
        }
        if (std::regex_search(line, std::regex(R"(^\|\s*key\s*\|\s*default\s*\|)"))) {
            in_key_table = true;
            continue;
        }
        if (!in_key_table || line.starts_with("|-") || line.starts_with("|:")) continue;
        std::string cell = line.substr(1, line.find('|', 1) - 1);
        for (std::sregex_iterator it(cell.begin(), cell.end(), name), end; it != end; ++it) {
            keys.insert((section.empty() ? "?" : section) + "." + (*it)[1].str());
        }
    }
    return keys;
}

// The keys of ribbon.toml(5): `.It Ic KEY` items in a `.Ss [table]`
// subsection. Each must give its type and default (`Pq string, default
// ...` or `Pq string, required`); `untyped` collects those that do not.
Names page_keys(const std::string& mdoc, Names* untyped = nullptr) {
    Names keys;
    std::string section;
    static const std::regex typed(
        R"(\bPq (string|integer|boolean|array of strings), (default \S|required))");
    for (const auto& line : lines_of(mdoc)) {
        if (line.starts_with(".Sh ")) section.clear();
        if (line.starts_with(".Ss ")) section = toml_table(macro_argument(line));
        if (!line.starts_with(".It ") || section.empty()) continue;
        for (const auto& key : macro_words(line, "Ic")) {
            keys.insert(section + "." + key);
            if (untyped && !std::regex_search(line, typed)) untyped->insert(section + "." + key);
        }
    }
    return keys;
}

// The keys `ribbon check-config` prints: the configuration in effect as
// TOML (keys without a value, such as tls_cert_file, are left out).
Names printed_keys(const std::string& toml) {
    Names keys;
    std::string section;
    static const std::regex key(R"(^([a-z_]+) = )");
    std::smatch m;
    for (const auto& line : lines_of(toml)) {
        if (line.starts_with("[")) section = toml_table(line);
        if (std::regex_search(line, m, key)) keys.insert(section + "." + m[1].str());
    }
    return keys;
}

// ---- commands and options --------------------------------------------------

struct Help {
    Names options;                     // "-c", "--config"; not -h/--help
    std::vector<std::string> commands; // the subcommands it lists
};

// CLI11's --help: entries start two spaces in, under "Subcommands:",
// "Positionals:", and "Options:" or an option group's name; an option
// starts with a dash (a description that does not fit starts 30 spaces in).
Help parse_help(const std::string& text) {
    Help help;
    std::string part;
    for (const auto& line : lines_of(text)) {
        if (!line.empty() && line[0] != ' ') part = line;
        if (line.size() < 3 || line.compare(0, 2, "  ") != 0 || line[2] == ' ') continue;
        std::string first = words_of(line)[0];
        if (part == "Subcommands:") help.commands.push_back(first);
        if (part == "Subcommands:" || part == "Positionals:" || first[0] != '-') continue;
        std::istringstream names(first);
        for (std::string n; std::getline(names, n, ',');) {
            if (n != "-h" && n != "--help") help.options.insert(n);
        }
    }
    return help;
}

// Every command reachable from `ribbon --help`, with its options.
void walk_help(std::vector<std::string> path, CommandOptions& out) {
    std::vector<std::string> argv{ribbon_binary()};
    argv.insert(argv.end(), path.begin(), path.end());
    argv.push_back("--help");
    ProcessResult r = run_process(argv);
    std::string name;
    for (const auto& p : path) name += (name.empty() ? "" : " ") + p;
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Help help = parse_help(r.out);
    ASSERT_TRUE(path.empty() || !out.contains(name)) << name;
    out[name] = help.options;
    for (const auto& c : help.commands) {
        path.push_back(c);
        walk_help(path, out);
        path.pop_back();
    }
}

// ribbon(1): `ribbon`'s own options are the `.It Fl` items of OPTIONS;
// each command's are those of its `.Ss PATH` subsection of COMMANDS.
CommandOptions page_commands(const std::string& mdoc) {
    CommandOptions out;
    std::string section;
    std::string command;     // where `.It Fl` items belong now
    bool in_command = false; // false: outside OPTIONS and COMMANDS' subsections
    for (const auto& line : lines_of(mdoc)) {
        if (line.starts_with(".Sh ")) {
            section = macro_argument(line);
            command.clear();
            in_command = section == "OPTIONS";
            if (in_command) out[command];
        } else if (line.starts_with(".Ss ") && section == "COMMANDS") {
            command = macro_argument(line);
            in_command = true;
            out[command];
        } else if (line.starts_with(".It ") && in_command) {
            for (const auto& w : macro_words(line, "Fl")) {
                // -h, --help: every command's, documented once in OPTIONS.
                if (w != "h" && w != "-help") out[command].insert("-" + w);
            }
        }
    }
    return out;
}

// What differs between the commands of --help and of the page, one line
// per command, "" when they agree.
std::string compare_commands(const CommandOptions& help, const CommandOptions& page) {
    Names help_names, page_names;
    for (const auto& [name, _] : help) help_names.insert(name);
    for (const auto& [name, _] : page) page_names.insert(name);
    std::string out = difference(help_names, "--help", page_names, "ribbon.1");
    for (const auto& [name, options] : help) {
        auto it = page.find(name);
        if (it == page.end()) continue;
        std::string d = difference(options, "--help", it->second, "ribbon.1");
        if (d.empty()) continue;
        if (!out.empty()) out += '\n';
        out.append("ribbon ").append(name).append(": ").append(d);
    }
    return out;
}

fs::path page(const std::string& name) { return source_dir() / "man" / name; }

// ---- the tests -------------------------------------------------------------

TEST(ManPages, MandocLintFindsNothing) {
    for (const char* name : {"ribbon.1", "ribbon.toml.5"}) {
        ProcessResult r = run_process({"mandoc", "-T", "lint", "-W", "warning", page(name).string()});
        ASSERT_TRUE(r.start_error.empty()) << "mandoc (scripts/setup.sh installs it): " << r.describe();
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_EQ(r.out + r.err, "") << name;
    }
}

TEST(ManPages, HaveTheSectionsOperatorsLookFor) {
    const std::map<std::string, std::vector<std::string>> wanted{
        {"ribbon.1", {"SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"}},
        {"ribbon.toml.5", {"DESCRIPTION", "FILES", "EXAMPLES", "SEE ALSO"}},
    };
    for (const auto& [name, sections] : wanted) {
        std::string text = read_file(page(name));
        for (const auto& s : sections) EXPECT_NE(text.find("\n.Sh " + s + "\n"), std::string::npos) << name << ": " << s;
        for (const char* path : {"/etc/ribbon/ribbon.toml", "/var/lib/ribbon/ids", "/var/lib/ribbon/store"}) {
            EXPECT_NE(text.find(std::string(".It Pa ") + path + "\n"), std::string::npos) << name << " FILES: " << path;
        }
    }
}

TEST(ManPages, ConfigurationKeysMatchConfigurationMd) {
    Names doc = documented_keys(read_file(source_dir() / "docs" / "CONFIGURATION.md"));
    Names untyped;
    Names man = page_keys(read_file(page("ribbon.toml.5")), &untyped);
    // The parser found the document's tables (a lower bound, so a change of
    // the table format cannot make both sides empty and equal).
    EXPECT_GE(doc.size(), 70u) << joined(doc);
    EXPECT_TRUE(doc.contains("milter.socket") && doc.contains("relay.next_hop.auth_password_file") &&
                doc.contains("signer.from") && doc.contains("relay.tls_key_file"))
        << joined(doc);
    EXPECT_EQ(difference(doc, "docs/CONFIGURATION.md", man, "ribbon.toml.5"), "");
    EXPECT_EQ(joined(untyped), "(none)") << "keys without \"Pq TYPE, default ...\"";
}

TEST(ManPages, EveryKeyCheckConfigPrintsIsDocumented) {
    TempDir tmp("ribbon-manpages");
    fs::create_directories(tmp / "ids");
    write_file(tmp / "ribbon.toml", "[keystore]\npath = \"" + (tmp / "ids").string() + "\"\n");
    ProcessResult r = run_process({ribbon_binary(), "check-config", "-c", (tmp / "ribbon.toml").string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Names printed = printed_keys(r.out);
    EXPECT_GE(printed.size(), 55u) << r.out;
    Names doc = documented_keys(read_file(source_dir() / "docs" / "CONFIGURATION.md"));
    Names undocumented;
    for (const auto& k : printed) {
        if (!doc.contains(k)) undocumented.insert(k);
    }
    EXPECT_EQ(joined(undocumented), "(none)") << "printed by check-config, not in docs/CONFIGURATION.md";
}

TEST(ManPages, CommandsAndOptionsMatchHelp) {
    CommandOptions help;
    walk_help({}, help);
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_TRUE(help.contains("keys dev-ca issue") && help.contains("check-config")) << help.size();
    EXPECT_TRUE(help.at("sendmail").contains("-t") && help.at("sign").contains("--max-message-size"));
    EXPECT_EQ(compare_commands(help, page_commands(read_file(page("ribbon.1")))), "");
}

// The comparisons name what is missing on either side: a page that lacks
// an option, a subcommand or a key, or documents one that does not exist.
TEST(ManPages, ComparisonsNameWhatIsMissing) {
    CommandOptions help{{"", {"--version"}}, {"keys", {"--keystore"}}, {"keys list", {"--json"}},
                        {"check-config", {"-c", "--config", "-q", "--quiet"}}};
    const std::string mdoc =
        ".Sh OPTIONS\n.Bl -tag -width Ds\n.It Fl -version\n.El\n.Sh COMMANDS\n"
        ".Ss keys\n.It Fl -keystore Ar dir\n"
        ".Ss check-config\n.It Fl c , Fl -config Ar file\n.It Fl -verbose\n"
        ".Ss \"keys gone\"\n.Sh EXIT STATUS\n.It Fl x\n";
    EXPECT_EQ(compare_commands(help, page_commands(mdoc)),
              "in --help, not in ribbon.1: keys list; in ribbon.1, not in --help: keys gone\n"
              "ribbon check-config: in --help, not in ribbon.1: --quiet, -q; in ribbon.1, not in --help: --verbose");

    EXPECT_EQ(parse_help("Usage: x\n\nOptions:\n  -h,--help  Help\n  -c,--config TEXT Needs: --for\n"
                         "                              Refuse -x\n  -t   To\n\nSubcommands:\n  list   List\n")
                  .options,
              (Names{"-c", "--config", "-t"}));

    const std::string markdown =
        "## [milter]\n\n| key | default | meaning |\n|---|---|---|\n| `socket` | `unix:/x` | `inet:` too |\n"
        "| `on_no_key`, `on_bad_message` | as in [milter] | x |\n\n## Maximum message size\n\n"
        "| path | set by | past the limit |\n|---|---|---|\n| `ribbon sign` | `--max` | x |\n"
        "### [relay.next_hop]\n| key | default | meaning |\n|---|---|---|\n| `url` | x | y |\n";
    EXPECT_EQ(documented_keys(markdown),
              (Names{"milter.socket", "milter.on_no_key", "milter.on_bad_message", "relay.next_hop.url"}));
    Names untyped;
    Names man = page_keys(".Ss \"[milter]\\&\"\n.It Ic socket Pq string, default Qq unix:/x\n.It Ic on_no_key\n"
                          ".Ss \"[[signer]]\\&\"\n.It Ic from Pq string, required\n.Sh FILES\n.It Ic stray\n",
                          &untyped);
    EXPECT_EQ(man, (Names{"milter.socket", "milter.on_no_key", "signer.from"}));
    EXPECT_EQ(untyped, Names{"milter.on_no_key"});
    EXPECT_EQ(difference(documented_keys(markdown), "docs", man, "page"),
              "in docs, not in page: milter.on_bad_message, relay.next_hop.url; in page, not in docs: signer.from");
}

}  // namespace
}  // namespace ribbon::test
