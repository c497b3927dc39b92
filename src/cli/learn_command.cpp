// learn_command.cpp — `ribbon learn`: reads customers' inbound mail (an
// mbox, a maildir, or message files) and records what each message teaches
// in the recipients store (ribbon/learn.hpp, ribbon/recipients.hpp).
//
// Exit codes: 0 when every message was read (messages that teach nothing
// are counted, not errors); 65 when some message could not be read or
// parsed, or was larger than the maximum message size (the others are
// still learned); 75 when the store failed (what was recorded before stays
// recorded); 78 for a bad configuration or store URL.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>

#include "cli/commands.hpp"
#include "cli/store_config.hpp"
#include "ribbon/learn.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::cli {

namespace {

struct LearnArgs {
    StoreArgs store;
    // --max-message-size, else [learn] max_message_size: a larger message
    // is refused (limit_exceeded) and the others are still learned. Each
    // message is held in memory whole, one at a time.
    std::optional<std::uint64_t> max_message_size;
    std::string mbox;
    std::string maildir;
    std::vector<std::string> files;
    bool verbose = false;
};

struct Tally {
    std::uint64_t read = 0, learned = 0, skipped = 0, unreadable = 0;
    std::map<std::string, std::uint64_t> by_capability;
};

class Run {
public:
    Run(const Learner& learner, RecipientStore& store, bool verbose, std::uint64_t max_message_size)
        : m_learner(learner), m_store(store), m_verbose(verbose), m_max_message_size(max_message_size) {}

    std::uint64_t max_message_size() const noexcept { return m_max_message_size; }

    // False when the store failed: stop, nothing more can be recorded.
    bool message(const std::string& where, const std::string& bytes) {
        ++m_tally.read;
        if (bytes.size() > m_max_message_size) {
            ++m_tally.unreadable;
            report_error("learn", where, message_too_large(m_max_message_size));
            return true;
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
        auto lesson = m_learner.observe(bytes, now);
        if (!lesson) {
            ++m_tally.unreadable;
            report_error("learn", where, lesson.error());
            return true;
        }
        if (!lesson->observation) {
            skip(where, lesson->skipped);
            return true;
        }
        const Observation& o = *lesson->observation;
        if (auto r = m_store.record(o); !r) {
            report_error("learn", where, r.error());
            m_store_error = r.error();
            return false;
        }
        ++m_tally.learned;
        ++m_tally.by_capability[std::string(smime_support_name(o.capability))];
        if (m_verbose) {
            // Client names, versions and evidence are customers' header
            // values, and a file name may be anything: escaped, and the
            // address shown as display_address() does (ribbon/mail_text.hpp).
            std::string line = where + ": " + display_address(o.address) + ": ";
            line += o.client ? o.client->name : "no client recognised";
            if (o.client && !o.client->version.empty()) line += " " + o.client->version;
            line += ", ";
            line += o.capability_evidence.empty() ? "capability unknown" : o.capability_evidence;
            std::printf("%s\n", terminal_safe(line).c_str());
        }
        return true;
    }

    const Tally& tally() const noexcept { return m_tally; }
    const std::optional<Error>& store_error() const noexcept { return m_store_error; }

private:
    void skip(const std::string& where, const std::string& why) {
        ++m_tally.skipped;
        if (m_verbose) std::printf("%s\n", terminal_safe(where + ": skipped: " + why).c_str());
    }

    const Learner& m_learner;
    RecipientStore& m_store;
    bool m_verbose;
    std::uint64_t m_max_message_size;
    Tally m_tally;
    std::optional<Error> m_store_error;
};

// An mbox (RFC 4155): messages start at lines beginning "From " and lines
// that begin ">From ", ">>From ", ... lose one '>' (the mboxrd convention,
// which is how the message's own "From " lines were escaped; mboxo files
// differ only for lines that already began ">From ", which then keep one
// '>' too many — harmless for learning headers, and a signature over such
// a line reads as damaged).
// std::getline, but a line longer than `max` bytes is not kept: false
// with `too_long` set, so a file without line ends (/dev/zero) stops the
// read instead of filling memory.
bool next_line(std::istream& in, std::string& line, std::size_t max, bool& too_long) {
    line.clear();
    std::streambuf* sb = in.rdbuf();
    bool any = false;
    for (int c = sb->sbumpc(); c != std::char_traits<char>::eof(); c = sb->sbumpc()) {
        any = true;
        if (c == '\n') return true;
        if (line.size() == max) {
            too_long = true;
            return false;
        }
        line.push_back(static_cast<char>(c));
    }
    in.setstate(std::ios::eofbit);
    return any;
}

Result<void> read_mbox(const std::string& path, Run& run) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return permanent_error(Errc::io_error, "cannot open the mbox " + path);
    if (std::filesystem::is_directory(path)) {
        return permanent_error(Errc::io_error, path + " is a directory, not an mbox");
    }
    std::string line, message;
    std::uint64_t number = 0, start = 0;
    bool started = false;
    auto flush = [&]() -> bool {
        if (!started) return true;
        return run.message(path + ":" + std::to_string(start), message);
    };
    bool too_long = false;
    while (next_line(in, line, run.max_message_size(), too_long)) {
        ++number;
        if (line.starts_with("From ")) {
            if (!flush()) return {};
            message.clear();
            started = true;
            start = number;
            continue;
        }
        if (!started) return permanent_error(Errc::malformed_message, path + " is not an mbox (no \"From \" line first)");
        std::size_t quotes = line.find_first_not_of('>');
        if (quotes != std::string::npos && quotes > 0 && line.compare(quotes, 5, "From ") == 0) line.erase(0, 1);
        // Past the limit the rest is not kept: the message is refused whole.
        if (message.size() <= run.max_message_size()) message.append(line).append("\n");
    }
    if (too_long) {
        // The message cannot be learned, and where the next one starts
        // cannot be found without reading the line to its end.
        return permanent_error(Errc::limit_exceeded, path + ":" + std::to_string(number + 1) +
                                                         ": a line longer than the maximum message size (" +
                                                         std::to_string(run.max_message_size()) + " bytes)");
    }
    if (in.bad()) return transient_error(Errc::io_error, "reading " + path + " failed");
    flush();
    return {};
}

Result<void> read_files(const std::vector<std::filesystem::path>& paths, Run& run, Tally& errors) {
    for (const auto& path : paths) {
        auto bytes = read_message_file(path, run.max_message_size());  // ribbon/io.hpp
        if (!bytes) {
            ++errors.unreadable;
            report_error("learn", path.string(), bytes.error());
            continue;
        }
        if (!run.message(path.string(), *bytes)) return {};
    }
    return {};
}

// A maildir's delivered messages: new/ and cur/ (tmp/ holds deliveries in
// progress), in name order, which for maildir names is arrival order.
Result<std::vector<std::filesystem::path>> maildir_files(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    if (!std::filesystem::is_directory(dir / "cur") && !std::filesystem::is_directory(dir / "new")) {
        return permanent_error(Errc::io_error, dir.string() + " is not a maildir (no cur/ or new/)");
    }
    for (const char* sub : {"new", "cur"}) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir / sub, ec)) {
            if (e.is_regular_file() && !e.path().filename().string().starts_with(".")) out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.filename() < b.filename(); });
    return out;
}

int learn(const LearnArgs& args) {
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "learn", exit_code);
    if (!setup) return exit_code;
    const Config& config = setup->config;
    auto rules = ClientRules::load(config.learn.rules);
    if (!rules) {
        report_error("learn", "", rules.error());
        return kConfig;
    }
    auto trust = TrustStore::system();
    if (!trust) {
        report_error("learn", "", trust.error());
        return exit_code_for(trust.error());
    }
    Learner learner(std::move(*rules), std::move(*trust),
                    [&config](std::string_view address) { return config.signer_for(address) != nullptr; });
    Run run(learner, *setup->store, args.verbose, args.max_message_size.value_or(config.learn.max_message_size));
    Tally errors;
    Result<void> read;
    if (!args.mbox.empty()) {
        read = read_mbox(args.mbox, run);
    } else if (!args.maildir.empty()) {
        auto files = maildir_files(args.maildir);
        read = files ? read_files(*files, run, errors) : Result<void>(std::move(files).error());
    } else {
        read = read_files({args.files.begin(), args.files.end()}, run, errors);
    }
    const Tally& t = run.tally();
    std::printf("learned %llu of %llu messages (%llu skipped, %llu unreadable)",
                static_cast<unsigned long long>(t.learned), static_cast<unsigned long long>(t.read + errors.unreadable),
                static_cast<unsigned long long>(t.skipped),
                static_cast<unsigned long long>(t.unreadable + errors.unreadable));
    for (const auto& [name, count] : t.by_capability) {
        std::printf("; %s %llu", name.c_str(), static_cast<unsigned long long>(count));
    }
    std::printf("\n");
    if (!read) {
        report_error("learn", "", read.error());
        return exit_code_for(read.error());
    }
    if (run.store_error()) return exit_code_for(*run.store_error());
    return t.unreadable + errors.unreadable > 0 ? kDataErr : kOk;
}

}  // namespace

void register_learn(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<LearnArgs>();
    CLI::App* cmd = app.add_subcommand(
        "learn", "Learn customers' mail clients and certificates from their inbound mail (docs/LEARNING.md)");
    add_store_options(*cmd, args->store);
    auto* mbox = cmd->add_option("--mbox", args->mbox, "An mbox file of inbound mail");
    auto* maildir = cmd->add_option("--maildir", args->maildir, "A maildir of inbound mail (new/ and cur/)");
    auto* files = cmd->add_option("files", args->files, "Message files");
    mbox->excludes(maildir)->excludes(files);
    maildir->excludes(files);
    cmd->add_flag("-v,--verbose", args->verbose, "One line per message: what was learned or why it was skipped");
    add_max_message_size(cmd, args->max_message_size,
                         "Refuse messages larger than BYTES (default [learn] max_message_size, 268435456)");
    cmd->callback([args, &exit_code] {
        if (args->mbox.empty() && args->maildir.empty() && args->files.empty()) {
            std::fprintf(stderr, "ribbon learn: give --mbox FILE, --maildir DIR or message files\n");
            exit_code = kUsage;
            return;
        }
        exit_code = learn(*args);
    });
}

}  // namespace ribbon::cli
