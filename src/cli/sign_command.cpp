// sign_command.cpp — `ribbon sign`: one message (stdin/file → stdout/file)
// or a folder of messages on all cores (sign_batch.cpp). Front end only:
// loads the Digital ID once (--key/--cert) or picks it from a keystore
// (--keystore/--id; by each message's From without --id, so --batch picks
// per message), hands each message to ribbon::Signer and maps errors to
// exit codes (commands.hpp).
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "base/ascii.hpp"
#include "cli/commands.hpp"
#include "cli/sign_batch.hpp"
#include "cli/store_config.hpp"
#include "ribbon/recipient_policy.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/mail_text.hpp"
#include "ribbon/seal.hpp"
#include "ribbon/signer.hpp"
#include "submit/submit.hpp"

namespace ribbon::cli {

namespace {

namespace fs = std::filesystem;

struct SignArgs {
    std::string key;
    std::string cert;
    std::string keystore;
    std::string id;
    bool use_keystore = false;  // --keystore or --id given
    std::string chain;
    std::string password_file;
    bool opaque = false;
    bool no_header_protection = false;
    std::string output;
    std::string input;
    std::string batch_dir;
    std::string out_dir;
    unsigned jobs = 0;
    // --for: ask the recipient policy about this recipient first.
    std::string for_address;
    std::string recipients_mode = "unless-incapable";
    StoreArgs store;
    // --max-message-size: every message read (stdin, the file, each --batch
    // file) is refused past it with limit_exceeded (65).
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
    // --seal-to: sign, then seal to these certificates (RFC 8551 §3.7);
    // --seal-capabilities: what their clients declared (ribbon/seal.hpp).
    std::vector<std::string> seal_to;
    std::string seal_capabilities;
    std::optional<Sealer> sealer;  // loaded from seal_to before any mail is read

    BatchArgs batch() const { return {batch_dir, out_dir, jobs, max_message_size}; }
    bool from_stdin() const { return input.empty() || input == "-"; }
    // The message's name in error messages.
    std::string input_name() const { return from_stdin() ? "<stdin>" : input; }
    // The message named on the command line (stdin by default).
    MessageInput message() const {
        MessageInput in = from_stdin() ? MessageInput::from_fd(STDIN_FILENO) : MessageInput::from_file(input);
        return in.with_max_size(max_message_size);
    }
};

// An open descriptor of a message named on the command line.
class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) : m_fd(fd) {}
    FileDescriptor(FileDescriptor&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept {
        std::swap(m_fd, other.m_fd);
        return *this;
    }
    ~FileDescriptor() {
        if (m_fd >= 0) ::close(m_fd);
    }
    int get() const noexcept { return m_fd; }

private:
    int m_fd = -1;
};

bool is_regular_file(const std::string& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec);
}

// The descriptor the message comes from: stdin, or the file argument opened
// into `opened` (which keeps it open).
Result<int> message_fd(const SignArgs& args, FileDescriptor& opened) {
    if (args.from_stdin()) return STDIN_FILENO;
    auto file = open_message_file(args.input);  // ribbon/io.hpp: the signer's own errors
    if (!file) return std::move(file).error();
    opened = FileDescriptor(file->fd);
    return opened.get();
}

// Signers picked from a keystore, one per address, made on first use and
// shared by the batch threads (a Signer may sign from any thread).
class KeystoreSigners {
public:
    KeystoreSigners(Keystore ks, std::string fixed_id, std::string password)
        : m_ks(std::move(ks)), m_id(std::move(fixed_id)), m_password(std::move(password)) {}
    ~KeystoreSigners() { std::fill(m_password.begin(), m_password.end(), '\0'); }

    Result<Signer> for_address(const std::string& address) {
        std::lock_guard lock(m_mutex);
        const std::string key = ascii_lower(address);
        if (auto it = m_signers.find(key); it != m_signers.end()) return it->second;
        auto selected = m_ks.digital_id_for(address, std::chrono::system_clock::now(), m_password);
        if (!selected) return std::move(selected).error();
        for (const auto& w : selected->warnings) std::fprintf(stderr, "ribbon sign: warning: %s\n", w.c_str());
        auto signer = Signer::create(selected->id);
        if (!signer) return std::move(signer).error();
        m_signers.emplace(key, *signer);
        return std::move(*signer);
    }

    // --id wins; otherwise the message's From (read once more for that).
    Result<Signer> for_message(const MessageInput& in) {
        if (!m_id.empty()) return for_address(m_id);
        auto from = from_address(in);
        if (!from) return std::move(from).error();
        return for_address(*from);
    }

private:
    Keystore m_ks;
    std::string m_id;
    std::string m_password;  // for passphrase-protected key files
    std::mutex m_mutex;
    std::map<std::string, Signer> m_signers;
};

// Signs, and seals when --seal-to asked for it.
Result<void> sign_into(const Signer& signer, const MessageInput& in, Sink& out, const SignOptions& options,
                       const SignArgs& args) {
    if (args.sealer) {
        auto r = sign_and_seal(signer, *args.sealer, in, out, options);
        if (!r) return std::move(r).error();
        return {};
    }
    auto r = signer.sign(in, out, options);
    if (!r) return std::move(r).error();
    return {};
}

// The --seal-to certificates, checked for sealing now: a certificate that
// cannot be sealed to stops the command before any mail is read.
int load_sealer(SignArgs& args) {
    if (args.seal_to.empty()) return kOk;
    const std::vector<std::string> caps = parse_seal_capabilities(args.seal_capabilities);
    const TimePoint now = std::chrono::system_clock::now();
    std::vector<SealRecipient> recipients;
    for (const std::string& path : args.seal_to) {
        auto text = read_small_file(path, "certificate file");
        if (!text) {
            report_error("sign", "", text.error());
            return exit_code_for(text.error());
        }
        auto r = SealRecipient::from_certificate(*text, caps, now);
        if (!r) {
            report_error("sign", path, r.error());
            return exit_code_for(r.error());
        }
        recipients.push_back(std::move(*r));
    }
    auto sealer = Sealer::create(std::move(recipients));
    if (!sealer) {
        report_error("sign", "", sealer.error());
        return exit_code_for(sealer.error());
    }
    args.sealer = std::move(*sealer);
    return kOk;
}

// Writes one signed message to stdout or -o.
int sign_one(const Signer& signer, const MessageInput& in, const SignOptions& options,
             const SignArgs& args) {
    if (args.output.empty() || args.output == "-") {
        FdSink out(STDOUT_FILENO);
        auto r = sign_into(signer, in, out, options, args);
        if (!r) {
            report_error("sign", args.input_name(), r.error());
            return exit_code_for(r.error());
        }
        return kOk;
    }
    auto sink = AtomicFileSink::create(args.output);
    if (!sink) {
        report_error("sign", args.output, sink.error());
        return kCantCreat;
    }
    auto r = sign_into(signer, in, *sink, options, args);
    if (r) {
        if (auto c = sink->commit(); !c) r = std::move(c).error();
    }
    if (!r) {
        report_error("sign", args.input_name(), r.error());
        return exit_code_for(r.error());
    }
    return kOk;
}

int run_sign_keystore(const SignArgs& args, const SignOptions& options) {
    Keystore ks(args.keystore.empty() ? Keystore::default_dir() : fs::path(args.keystore));
    Secret password;
    if (auto r = read_secret(args.password_file, kKeyPasswordEnv, password); !r) {
        report_error("sign", "", r.error());
        return exit_code_for(r.error());
    }
    KeystoreSigners signers(ks, args.id, password.bytes);
    if (!args.id.empty()) {
        // Fail before reading any mail when the named Digital ID is unusable.
        if (auto s = signers.for_address(args.id); !s) {
            report_error("sign", args.id, s.error());
            return exit_code_for(s.error());
        }
    }
    if (!args.batch_dir.empty()) {
        return run_batch([&](const MessageInput& in) { return signers.for_message(in); }, options, args.batch());
    }
    MessageInput in = args.message();
    // stdin may be a pipe, and a file argument a FIFO or /dev/fd/N, neither
    // of which can be read twice: picking the Digital ID by From reads only
    // the header section (bounded), and the signer reads it again from
    // memory, then the rest from the descriptor.
    MessageHead head;
    MessageInput pick_from = in;
    FileDescriptor opened;
    if (args.id.empty() && (args.from_stdin() || !is_regular_file(args.input))) {
        auto fd = message_fd(args, opened);
        if (!fd) {
            report_error("sign", args.input, fd.error());
            return exit_code_for(fd.error());
        }
        auto read = read_message_head(*fd, std::min<std::uint64_t>(kMaxHeaderSection, args.max_message_size));
        if (!read) {
            report_error("sign", args.input_name(), read.error());
            return exit_code_for(read.error());
        }
        head = std::move(*read);
        in = MessageInput::from_fd(*fd, head.bytes).with_max_size(args.max_message_size);
        pick_from = MessageInput::from_memory(head.header());
    }
    auto signer = signers.for_message(pick_from);
    if (!signer) {
        report_error("sign", args.input_name(), signer.error());
        return exit_code_for(signer.error());
    }
    return sign_one(*signer, in, options, args);
}

// Writes the message as it came to stdout or -o (the policy said
// "unsigned"): a pipeline `ribbon sign --for X | sendmail` still delivers.
// It is spooled first (bounded by --max-message-size), so a message that
// cannot be read whole writes nothing.
int copy_unchanged(const SignArgs& args) {
    FileDescriptor opened;
    auto fd = message_fd(args, opened);
    if (!fd) {
        report_error("sign", args.input, fd.error());
        return exit_code_for(fd.error());
    }
    Spool message(Spool::kDefaultMemoryLimit, {}, args.max_message_size);
    std::string buffer(64 * 1024, '\0');
    for (;;) {
        const ssize_t got = ::read(*fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            report_error("sign", args.input_name(), transient_error(Errc::io_error, std::strerror(errno)));
            return kTempFail;
        }
        if (got == 0) break;
        if (auto r = message.write(std::string_view(buffer.data(), static_cast<std::size_t>(got))); !r) {
            report_error("sign", args.input_name(), r.error());
            return exit_code_for(r.error());
        }
    }
    std::optional<AtomicFileSink> atomic;
    FdSink stdout_sink(STDOUT_FILENO);
    Sink* out = &stdout_sink;
    if (!args.output.empty() && args.output != "-") {
        auto created = AtomicFileSink::create(args.output);
        if (!created) {
            report_error("sign", args.output, created.error());
            return kCantCreat;
        }
        atomic.emplace(std::move(*created));
        out = &*atomic;
    }
    Result<void> r = message.replay(*out);
    if (r && atomic) r = atomic->commit();
    if (!r) {
        report_error("sign", args.output.empty() ? "<stdout>" : args.output, r.error());
        return exit_code_for(r.error());
    }
    return kOk;
}

// --for ADDRESS: the recipient policy decides before any key is loaded.
// Nothing when the message is to be signed (opaque when the policy says
// so); otherwise the exit code after the message went out unchanged, or
// after a store failure (75: nothing written, as for any tempfail).
std::optional<int> apply_recipient_policy(const SignArgs& args, SignOptions& options) {
    if (args.for_address.empty()) return std::nullopt;
    int exit_code = kOk;
    auto setup = open_store_and_config(args.store, "sign", exit_code);
    if (!setup) return exit_code;
    SignerRule rule;
    rule.mode = options.mode;
    if (args.recipients_mode == "always") rule.recipients = RecipientsMode::always;
    if (args.recipients_mode == "capable-only") rule.recipients = RecipientsMode::capable_only;
    RecipientPolicy policy(std::move(setup->store), setup->config.store);
    // The daemons' policy path (submit/submit.hpp), for one recipient.
    auto answers = submit::ask_policy(policy, rule, {args.for_address}, submit::FrontEnd{}, {});
    if (!answers) {
        report_error("sign", args.for_address, answers.error());
        return exit_code_for(answers.error());
    }
    const Treatment treatment = answers->parts.front().treatment;
    if (treatment == Treatment::sign_opaque) options.mode = SignMode::opaque;
    if (treatment != Treatment::plain) return std::nullopt;
    std::fprintf(stderr, "ribbon sign: not signed for %s: %s; the message is written unchanged\n",
                 terminal_safe(display_address(args.for_address)).c_str(),
                 terminal_safe(answers->decisions.front().reason).c_str());
    return copy_unchanged(args);
}

int run_sign(const SignArgs& args) {
    SignOptions options;
    options.mode = args.opaque ? SignMode::opaque : SignMode::detached;
    options.header_protection = !args.no_header_protection;
    if (auto done = apply_recipient_policy(args, options)) return *done;
    if (args.use_keystore) return run_sign_keystore(args, options);

    Secret password;
    if (auto r = read_secret(args.password_file, kKeyPasswordEnv, password); !r) {
        report_error("sign", "", r.error());
        return exit_code_for(r.error());
    }
    std::optional<fs::path> chain;
    if (!args.chain.empty()) chain = args.chain;
    // Digital ID errors name the file at fault: the certificate for
    // certificate errors, the key otherwise; a file that cannot be read is
    // named by the error itself (key, certificate or chain file).
    auto id_error = [&](const Error& e) {
        bool about_cert = e.code() == Errc::bad_certificate || e.code() == Errc::certificate_usage ||
                          e.code() == Errc::certificate_expired ||
                          e.code() == Errc::certificate_not_yet_valid;
        report_error("sign", e.code() == Errc::io_error ? "" : about_cert ? args.cert : args.key, e);
        return exit_code_for(e);
    };
    auto id = DigitalId::load(args.key, args.cert, chain, password.bytes);
    if (!id) return id_error(id.error());
    auto signer = Signer::create(*id);
    if (!signer) return id_error(signer.error());
    if (auto r = signer->check_usable(std::chrono::system_clock::now()); !r) return id_error(r.error());

    if (!args.batch_dir.empty()) {
        return run_batch([&](const MessageInput&) -> Result<Signer> { return *signer; }, options, args.batch());
    }
    return sign_one(*signer, args.message(), options, args);
}

}  // namespace

void register_sign(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<SignArgs>();
    CLI::App* cmd = app.add_subcommand("sign", "Sign a message (or a folder of messages) with S/MIME");
    auto* key = cmd->add_option("--key", args->key, "Private key (PEM)")->check(CLI::ExistingFile);
    auto* cert = cmd->add_option("--cert", args->cert, "Certificate (PEM)")->check(CLI::ExistingFile);
    auto* keystore = cmd->add_option("--keystore", args->keystore,
                                     "Sign with a Digital ID from this keystore (instead of --key/--cert)");
    auto* id = cmd->add_option("--id", args->id,
                               "The keystore's Digital ID for this address (default: the From address; "
                               "keystore default $RIBBON_KEYSTORE, else /var/lib/ribbon/ids)");
    key->needs(cert);
    cert->needs(key);
    auto* chain = cmd->add_option("--chain", args->chain, "Intermediate certificates (PEM)")
                      ->check(CLI::ExistingFile);
    cmd->add_option("--password-file", args->password_file,
                        "File whose first line is the key's password (or set RIBBON_KEY_PASSWORD)");
    // A keystore files each certificate with its chain: --chain goes with
    // --key. --password-file serves both (a passphrase-protected key file).
    keystore->excludes(key)->excludes(cert)->excludes(chain);
    id->excludes(key)->excludes(cert)->excludes(chain);
    cmd->add_flag("--opaque", args->opaque,
                  "Opaque application/pkcs7-mime signed-data instead of multipart/signed");
    cmd->add_flag("--no-header-protection", args->no_header_protection,
                  "Do not copy From/To/Subject/... into the signed part (RFC 9788)");
    auto* out = cmd->add_option("-o,--output", args->output, "Write the signed message here (default stdout)");
    auto* in = cmd->add_option("input", args->input, "Message to sign (default stdin)");
    auto* batch = cmd->add_option("--batch", args->batch_dir,
                                  "Sign every file in this folder (e.g. a maildir new/)");
    auto* out_dir = cmd->add_option("--out-dir", args->out_dir, "Where --batch writes signed messages");
    cmd->add_option("--jobs", args->jobs, "Threads for --batch (default: all cores)")
        ->check(CLI::Range(1u, 1024u));
    auto* for_address = cmd->add_option("--for", args->for_address,
                                        "Ask the recipients store first: sign only if the policy says so for this "
                                        "recipient, else write the message unchanged (docs/LEARNING.md)");
    cmd->add_option("--recipients", args->recipients_mode, "With --for: the policy mode (default unless-incapable)")
        ->check(CLI::IsMember({"always", "unless-incapable", "capable-only"}))
        ->needs(for_address);
    cmd->add_option("-c,--config", args->store.config,
                    "With --for: configuration naming the store (default $RIBBON_CONFIG or /etc/ribbon/ribbon.toml, "
                    "if it exists)")
        ->needs(for_address);
    cmd->add_option("--store", args->store.url, "With --for: the store URL, instead of [store] url")
        ->needs(for_address);
    auto* seal_to = cmd->add_option("--seal-to", args->seal_to,
                                    "Sign, then seal (encrypt) to this recipient certificate (PEM or DER); "
                                    "repeat for more recipients (docs/SEALED-FORMAT.md)")
                        ->check(CLI::ExistingFile)
                        ->allow_extra_args(false);  // one FILE per --seal-to, so the input is never taken for one
    cmd->add_option("--seal-capabilities", args->seal_capabilities,
                    "With --seal-to: the recipients' sMIMECapabilities, e.g. \"id-aes256-gcm,rsaes-oaep\" "
                    "(default: none, so AES-256-CBC and RSA PKCS#1 v1.5)")
        ->needs(seal_to);
    add_max_message_size(cmd, args->max_message_size,
                         "Refuse a message larger than BYTES with limit_exceeded (default 268435456, 256 MiB)");
    batch->needs(out_dir)->excludes(out)->excludes(in)->excludes(for_address);
    out_dir->needs(batch);
    // Sealed mail is never written unsealed: not by a policy that says
    // "unsigned" (--for), and --batch has no sealing path.
    seal_to->excludes(batch)->excludes(for_address);
    cmd->callback([args, &exit_code, key, keystore, id] {
        args->use_keystore = keystore->count() > 0 || id->count() > 0;
        if (key->count() == 0 && !args->use_keystore) {
            std::fprintf(stderr, "ribbon sign: give --key and --cert, or --keystore (and --id)\n");
            exit_code = kUsage;
            return;
        }
        if (int loaded = load_sealer(*args); loaded != kOk) {
            exit_code = loaded;
            return;
        }
        exit_code = run_sign(*args);
    });
}

}  // namespace ribbon::cli
