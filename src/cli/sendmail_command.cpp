// sendmail_command.cpp — `ribbon sendmail`: a sendmail(8)-compatible
// command for applications configured with a sendmail path (PHP's
// sendmail_path, cron's MAILTO, scripts). It reads the message as sendmail
// does, signs it as the daemons do (the submission core, submit/submit.hpp:
// the [[signer]] table, the recipient policy, the trace header), and hands
// the result to the system's sendmail ([sendmail] path) with the caller's
// envelope options, returning that program's exit status.
//
// Never losing mail here means: the caller hears of every failure through
// the exit code (sysexits, as sendmail uses them), and a message ribbon
// should have signed is passed on unsigned only when [sendmail] says so.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>

#include "cli/commands.hpp"
#include "ribbon/config.hpp"
#include "ribbon/mail_text.hpp"
#include "ribbon/recipient_policy.hpp"
#include "ribbon/signer_pool.hpp"
#include "submit/submit.hpp"

namespace ribbon::cli {

namespace {

struct SendmailArgs {
    std::string config;
    bool from_headers = false;  // -t
    bool ignore_dots = false;   // -i, -oi
    std::string sender;         // -f
    std::string full_name;      // -F
    std::vector<std::string> o_options;  // -oX...
    std::string mode = "m";     // -bm (the only mode supported: deliver mail)
    std::vector<std::string> recipients;
    // --max-message-size, else [sendmail] max_message_size.
    std::optional<std::uint64_t> max_message_size;
};

// Reads the message from stdin as sendmail does: to end of file, or, unless
// -i, to a line holding a single "." (sendmail(8) "-i": "Ignore dots alone
// on lines by themselves in incoming messages").
Result<void> read_message(int fd, bool ignore_dots, Spool& spool) {
    std::string buf(64 * 1024, '\0');
    std::string line;  // the unfinished last line, when watching for "."
    while (true) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return transient_error(Errc::io_error, std::string("cannot read the message: ") + std::strerror(errno));
        if (n == 0) break;
        std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
        if (ignore_dots) {
            if (auto r = spool.write(chunk); !r) return r;
            continue;
        }
        line.append(chunk);
        std::size_t start = 0;
        for (std::size_t eol; (eol = line.find('\n', start)) != std::string::npos; start = eol + 1) {
            std::string_view l(line.data() + start, eol - start);
            if (l == "." || l == ".\r") {
                if (auto r = spool.write(std::string_view(line.data(), start)); !r) return r;
                return {};
            }
        }
        if (auto r = spool.write(std::string_view(line.data(), start)); !r) return r;
        line.erase(0, start);
    }
    return spool.write(line);
}

// Runs the system's sendmail with the message on its stdin; its exit status.
Result<int> hand_over(const Config& config, const SendmailArgs& args, const Spool& message) {
    const SendmailSettings& s = config.sendmail;
    if (::access(s.path.c_str(), X_OK) != 0) {
        return permanent_error(Errc::bad_config, "sendmail.path " + s.path.string() + " cannot be run: " +
                                                     std::strerror(errno));
    }
    std::vector<std::string> argv = {s.path.string()};
    argv.insert(argv.end(), s.args.begin(), s.args.end());
    argv.push_back("-i");  // the message is complete: dots are data from here on
    if (!args.sender.empty()) argv.insert(argv.end(), {"-f", args.sender});
    if (!args.full_name.empty()) argv.insert(argv.end(), {"-F", args.full_name});
    if (args.from_headers) argv.push_back("-t");
    for (const auto& o : args.o_options) {
        if (o != "i") argv.push_back("-o" + o);
    }
    argv.push_back("--");
    argv.insert(argv.end(), args.recipients.begin(), args.recipients.end());

    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
        return transient_error(Errc::io_error, std::string("pipe: ") + std::strerror(errno));
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(pipefd[0]);
        ::close(pipefd[1]);
        return transient_error(Errc::io_error, std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::dup2(pipefd[0], STDIN_FILENO);
        ::execv(cargv[0], cargv.data());
        _exit(kTempFail);  // the message was not passed on
    }
    ::close(pipefd[0]);
    // A sendmail that exits early must not kill us with SIGPIPE: its exit
    // status is the answer.
    ::signal(SIGPIPE, SIG_IGN);
    FdSink to_sendmail(pipefd[1]);
    auto written = message.replay(to_sendmail);
    // A message that could not be written whole must not reach the end of
    // input, where sendmail would take the part it got as the message:
    // it is killed first, so it queues nothing.
    if (!written) ::kill(pid, SIGKILL);
    ::close(pipefd[1]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!written) {
        // A sendmail that refused and exited early says why better than EPIPE.
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) return WEXITSTATUS(status);
        return std::move(written).error();
    }
    if (WIFSIGNALED(status)) {
        return transient_error(Errc::io_error, s.path.string() + " was killed by signal " +
                                                   std::to_string(WTERMSIG(status)));
    }
    return WEXITSTATUS(status);
}

// Hands `message` over; the command's exit code.
int deliver(const Config& config, const SendmailArgs& args, const Spool& message) {
    auto rc = hand_over(config, args, message);
    if (!rc) {
        report_error("sendmail", config.sendmail.path.string(), rc.error());
        return exit_code_for(rc.error());
    }
    return *rc;
}

// Prints the core's decision on a failure (submit/failure.hpp) on stderr:
// the application hears why. The reason may quote the From address or a
// header: escaped (ribbon/mail_text.hpp), as every command prints mail text.
void report_failure(const submit::Failure& f) {
    if (!f.overridden.empty()) std::fprintf(stderr, "ribbon sendmail: %s\n", terminal_safe(f.overridden).c_str());
    std::fprintf(stderr, "ribbon sendmail: %s [%s]\n", terminal_safe(f.log).c_str(),
                 std::string(errc_name(f.code)).c_str());
}

// The failure's answer: the message on unsigned ("accept"), else its exit
// code with nothing sent.
int answer(const Config& config, const SendmailArgs& args, const Spool& original, const submit::Failure& f) {
    report_failure(f);
    return f.passes() ? deliver(config, args, original) : f.exit_code;
}

// The recipients the policy is asked about: the arguments, and with -t
// those the message names (the system's sendmail reads them itself too).
std::vector<std::string> recipients_of(const SendmailArgs& args, std::string_view header_section) {
    std::vector<std::string> out = args.recipients;
    if (args.from_headers) {
        for (auto& r : submit::header_recipients(header_section)) out.push_back(std::move(r));
    }
    return out;
}

// The submission core decides as for the daemons — [[signer]], already
// S/MIME, the recipient policy over [store] (one message: [sendmail] mixed
// when the recipients' answers differ), the trace header — and `message`
// goes on signed or as it came; or the failure's exit code.
int sign_and_deliver(const Config& config, const SendmailArgs& args, const Spool& original) {
    std::string buffer;
    auto head = original.chunk(0, kMaxHeaderSection, buffer);
    if (!head) {
        report_error("sendmail", "<stdin>", head.error());
        return exit_code_for(head.error());
    }
    auto pool = SignerPool::create(config.keystore_settings(), config.signers, std::chrono::system_clock::now(), false);
    RecipientPolicy policy(config.store);  // opened at the first question
    submit::Snapshot snapshot{config, pool ? pool->get() : nullptr, policy};
    if (!pool) snapshot.pool_error = pool.error();
    submit::Submission submission(snapshot, submit::sendmail_front_end(config.sendmail));
    const submit::Plan& plan = submission.plan(recipients_of(args, *head), *head);
    if (plan.failure) return answer(config, args, original, *plan.failure);
    const submit::Part& part = plan.parts.front();
    if (!part.signs()) return deliver(config, args, original);

    Spool signed_message(Spool::kDefaultMemoryLimit, {}, max_signed_size(original.max_size()));
    submit::Signed out = submission.sign(part, original.input(), submit::Target{signed_message});
    for (const auto& w : out.warnings) std::fprintf(stderr, "ribbon sendmail: warning: %s\n", terminal_safe(w).c_str());
    if (out.failure) return answer(config, args, original, *out.failure);
    if (out.outcome == submit::Signed::Outcome::unchanged) return deliver(config, args, original);
    return deliver(config, args, signed_message);
}

int run(const SendmailArgs& args) {
    if (args.mode != "m") {
        std::fprintf(stderr, "ribbon sendmail: -b%s is not supported; only -bm (deliver mail)\n", args.mode.c_str());
        return kUsage;
    }
    if (args.recipients.empty() && !args.from_headers) {
        std::fprintf(stderr, "ribbon sendmail: no recipients (give addresses or -t)\n");
        return kUsage;
    }
    auto path = args.config.empty() ? Config::default_path() : std::filesystem::path(args.config);
    auto config = Config::load(path);
    if (!config) {
        report_error("sendmail", "", config.error());
        return exit_code_for(config.error());
    }
    // A message past the limit is refused (65) with nothing sent: the spool
    // stops at the limit, so an endless stdin cannot fill the disk.
    const std::uint64_t max_size = args.max_message_size.value_or(config->sendmail.max_message_size);
    Spool original(Spool::kDefaultMemoryLimit, {}, max_size);
    if (auto r = read_message(STDIN_FILENO, args.ignore_dots, original); !r) {
        report_error("sendmail", "<stdin>", r.error());
        return exit_code_for(r.error());
    }
    return sign_and_deliver(*config, args, original);
}

}  // namespace

void register_sendmail(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<SendmailArgs>();
    CLI::App* cmd = app.add_subcommand(
        "sendmail", "A sendmail-compatible command that signs by the [[signer]] table, then runs the system's sendmail");
    cmd->add_option("--config", args->config, "Configuration file (default $RIBBON_CONFIG or /etc/ribbon/ribbon.toml)");
    cmd->add_flag("-t", args->from_headers, "Take the recipients from the To, Cc and Bcc headers");
    cmd->add_flag("-i", args->ignore_dots, "A line holding a single dot does not end the message");
    cmd->add_option("-f", args->sender, "Envelope sender address");
    cmd->add_option("-F", args->full_name, "Full name of the sender");
    cmd->add_option("-o", args->o_options, "sendmail -o options (-oi as -i; others are passed on)")->take_all();
    cmd->add_option("-b", args->mode, "Mode: only -bm (deliver mail, the default)");
    add_max_message_size(cmd, args->max_message_size,
                         "Refuse a message larger than BYTES (default [sendmail] max_message_size, 268435456)");
    cmd->add_option("recipients", args->recipients, "Recipient addresses");
    cmd->callback([args, &exit_code] {
        SendmailArgs a = *args;
        for (const auto& o : a.o_options) {
            if (o == "i") a.ignore_dots = true;
        }
        exit_code = run(a);
    });
}

}  // namespace ribbon::cli
