// frontends.cpp — see frontends.hpp.
#include "support/frontends.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>

#include "ribbon/keystore.hpp"
#include "ribbon/recipients.hpp"
#include "support/cms_inspect.hpp"
#include "support/milter_rig.hpp"
#include "support/mime.hpp"
#include "support/nobody.hpp"
#include "support/pki.hpp"
#include "support/relay_rig.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {

namespace fs = std::filesystem;
using std::chrono::seconds;

const char* variant_name(Variant v) {
    switch (v) {
        case Variant::standard: return "standard";
        case Variant::opaque_for: return "opaque_for";
        case Variant::no_key_accept: return "no_key_accept";
        case Variant::store_down: return "store_down";
    }
    return "?";
}

const char* front_end_name(FrontEndKind k) {
    switch (k) {
        case FrontEndKind::milter: return "milter";
        case FrontEndKind::relay: return "relay";
        case FrontEndKind::sendmail: return "sendmail";
    }
    return "?";
}

const char* form_name(Form f) {
    switch (f) {
        case Form::unchanged: return "unchanged";
        case Form::detached: return "signed detached";
        case Form::opaque: return "signed opaque";
        case Form::other: return "changed, not signed";
    }
    return "?";
}

namespace {

// ---- the configuration every front end shares --------------------------------

// The [[signer]] entries beside the rigs' own no-reply@bank.example (which
// signs detached, recipients = "unless-incapable": the defaults).
constexpr const char* kSignerTables =
    "[[signer]]\nfrom = \"other@bank.example\"\nrecipients = \"capable-only\"\n\n"
    // Loaded on first use, so the daemons start without it (docs/CONFIGURATION.md).
    "[[signer]]\nfrom = \"*@nokey.example\"\n\n"
    // The certificate names no-reply@, not this From: refused at signing.
    "[[signer]]\nfrom = \"mismatch@bank.example\"\nid = \"no-reply@bank.example\"\n\n";

// Lines for the front end's own section ([milter], [relay] or [sendmail]).
std::string variant_section_lines(Variant v) {
    switch (v) {
        case Variant::opaque_for: return "opaque_for = [\"opaque.example\"]\n";
        case Variant::no_key_accept: return "on_no_key = \"accept\"\n";
        case Variant::standard:
        case Variant::store_down: break;
    }
    return {};
}

std::string store_url(const fs::path& dir) { return "sqlite://" + (dir / "state" / "ribbon.db").string(); }

// The tables after the front end's section: signers and the store. The
// store that is down is PostgreSQL on a loopback port that was free a
// moment ago: connecting is refused at once (store_unavailable).
std::string shared_tables(Variant v, const fs::path& dir, int closed_port) {
    std::string url = v == Variant::store_down
                          ? "postgresql://ribbon@127.0.0.1:" + std::to_string(closed_port) + "/ribbon"
                          : store_url(dir);
    return std::string(kSignerTables) + "[store]\nurl = \"" + url + "\"\n";
}

void give_tree_to_nobody(const fs::path& root) {
    give_to_nobody(root);
    for (const auto& e : fs::recursive_directory_iterator(root)) give_to_nobody(e.path());
}

// A daemon directory (make_daemon_dir: ids/ with no-reply@, spool/,
// state/) gets other@bank.example's Digital ID and the customers.
void complete_daemon_dir(const fs::path& dir) {
    const Pki& p = pki();
    Keystore ks(dir / "ids");
    auto added = ks.add(kCapableOnly, read_file(p.other.key), read_file(p.other.cert), read_file(p.chain));
    if (!added) throw std::runtime_error("keystore: " + added.error().message());

    auto store = RecipientStore::open(store_url(dir));
    if (!store) throw std::runtime_error("store: " + store.error().message());
    Observation o;
    o.address = kIncapable;
    o.time = 1'790'000'000;
    o.capability = SmimeSupport::unsupported;
    o.confidence = 0.8;
    o.capability_evidence = "seeded by the test";
    auto recorded = (*store)->record(o);
    o.address = kOptedOut;
    o.capability = SmimeSupport::supported;
    o.confidence = 1.0;
    if (recorded) recorded = (*store)->record(o);
    if (recorded) recorded = (*store)->set_opt_out(kOptedOut, true, 1'790'000'000);
    if (!recorded) throw std::runtime_error("store: " + recorded.error().message());
    store->reset();
    give_tree_to_nobody(dir / "ids");
    give_tree_to_nobody(dir / "state");
}

// What a daemon wrote to its log (the rigs name it dir/NAME.log) since
// `mark` bytes.
std::string log_since(const fs::path& log, std::size_t mark) {
    std::string text = fs::exists(log) ? read_file(log) : std::string();
    return text.size() > mark ? text.substr(mark) : std::string();
}

std::size_t log_size(const fs::path& log) {
    std::error_code ec;
    auto n = fs::file_size(log, ec);
    return ec ? 0 : static_cast<std::size_t>(n);
}

// smtp-sink's new dumps since the last call: files not seen before (the
// dumps' order within one second is not known, so identity, not position).
class SinkReader {
public:
    std::vector<Handover> take(const SmtpSink& sink) {
        std::vector<Handover> out;
        for (const SinkMessage& m : sink.messages()) {
            if (!m_seen.insert(m.dump_file).second) continue;
            out.push_back({m.rcpts, strip_received(m.data)});
        }
        return out;
    }

private:
    std::set<fs::path> m_seen;
};

// ---- milter -------------------------------------------------------------------

class MilterFrontEnd final : public FrontEnd {
public:
    MilterFrontEnd() : m_closed_port(pick_free_port()) { complete_daemon_dir(m_rig.dir()); }
    FrontEndKind kind() const override { return FrontEndKind::milter; }
    bool splits() const override { return false; }

    std::string configure(Variant variant) override {
        // SIGKILL: nothing of the old process matters here (Postfix
        // connects to the milter afresh for each SMTP session), so no
        // message in progress needs the grace SIGTERM gives.
        if (m_rig.milter_running()) m_rig.kill_milter(SIGKILL);
        m_rig.write_config(variant_section_lines(variant), shared_tables(variant, m_rig.dir(), m_closed_port));
        if (auto e = m_rig.start_milter(); !e.empty()) return e;
        if (m_mta_started) return {};
        m_mta_started = true;
        return m_rig.start_mta();
    }

    Attempt submit(const std::string& message, const std::string& from,
                   const std::vector<std::string>& rcpts) override {
        const std::size_t mark = log_size(log());
        auto sub = m_rig.postfix().submit_smtp(message, from, rcpts);
        Attempt a;
        a.accepted = sub.final_code == 250;
        a.reply = sub.final_reply;
        // Postfix queued it: delivered once the queue is empty again.
        if (a.accepted && !m_rig.postfix().wait_queue_size(0, seconds(30))) a.said = "still queued after 30 s\n";
        a.said += log_since(log(), mark);
        a.handed_over = m_sink.take(m_rig.sink());
        return a;
    }

    std::string describe() const override { return m_rig.describe(); }

private:
    fs::path log() const { return m_rig.dir() / "milter.log"; }

    MilterRig m_rig;
    int m_closed_port;
    bool m_mta_started = false;
    SinkReader m_sink;
};

// ---- relay --------------------------------------------------------------------

class RelayFrontEnd final : public FrontEnd {
public:
    RelayFrontEnd() : m_closed_port(pick_free_port()) {
        complete_daemon_dir(m_rig.dir());
        if (auto e = m_rig.sink().start(); !e.empty()) throw std::runtime_error("smtp-sink: " + e);
    }
    FrontEndKind kind() const override { return FrontEndKind::relay; }
    bool splits() const override { return true; }

    std::string configure(Variant variant) override {
        if (m_rig.relay_running()) m_rig.stop_relay();
        m_rig.write_config(variant_section_lines(variant), {}, shared_tables(variant, m_rig.dir(), m_closed_port));
        return m_rig.start_relay();
    }

    Attempt submit(const std::string& message, const std::string& from,
                   const std::vector<std::string>& rcpts) override {
        const std::size_t mark = log_size(log());
        auto sub = m_rig.send(message, from, rcpts);
        Attempt a;
        a.accepted = sub.final_code == 250;
        a.reply = sub.final_reply;
        // A before-queue proxy: its 250 is the next hop's, so the sink has
        // every part already (one per transaction the reply counts).
        a.handed_over = m_sink.take(m_rig.sink());
        a.said = log_since(log(), mark);
        return a;
    }

    std::string describe() const override { return m_rig.describe(); }

private:
    fs::path log() const { return m_rig.dir() / "relay.log"; }

    RelayRig m_rig;
    int m_closed_port;
    SinkReader m_sink;
};

// ---- sendmail -----------------------------------------------------------------

// Stands in for sendmail(8): each run records its argv (one per line) and
// the message in a directory of its own under `dir`.
std::string capture_script(const fs::path& dir) {
    return "#!/bin/sh\n"
           "out=$(mktemp -d '" + dir.string() + "/handover.XXXXXX') || exit 75\n"
           "printf '%s\\n' \"$@\" > \"$out/argv\" || exit 75\n"
           "cat > \"$out/message\" || exit 75\n";
}

class SendmailFrontEnd final : public FrontEnd {
public:
    SendmailFrontEnd() : m_closed_port(pick_free_port()) {
        make_daemon_dir(m_tmp.path());
        complete_daemon_dir(m_tmp.path());
        fs::create_directories(m_tmp / "handovers");
        write_file(m_tmp / "sendmail.sh", capture_script(m_tmp / "handovers"));
        ::chmod((m_tmp / "sendmail.sh").c_str(), 0755);
    }
    FrontEndKind kind() const override { return FrontEndKind::sendmail; }
    bool splits() const override { return false; }

    std::string configure(Variant variant) override {
        write_file(m_tmp / "ribbon.toml",
                   "[keystore]\npath = \"" + (m_tmp / "ids").string() +
                       "\"\n\n[[signer]]\nfrom = \"no-reply@bank.example\"\n\n"
                       "[sendmail]\npath = \"" + (m_tmp / "sendmail.sh").string() + "\"\n" +
                       variant_section_lines(variant) + "\n" + shared_tables(variant, m_tmp.path(), m_closed_port));
        return {};
    }

    Attempt submit(const std::string& message, const std::string& from,
                   const std::vector<std::string>& rcpts) override {
        std::vector<std::string> argv = {ribbon_binary(), "sendmail", "--config", (m_tmp / "ribbon.toml").string(),
                                         "-i", "-f", from};
        argv.insert(argv.end(), rcpts.begin(), rcpts.end());
        ProcessResult r = run_process(argv, message);
        Attempt a;
        a.exit_code = r.exit_code;
        a.accepted = r.exit_code == 0;
        a.said = r.err + r.start_error;
        for (const auto& e : fs::directory_iterator(m_tmp / "handovers")) {
            a.handed_over.push_back(read_handover(e.path()));
            fs::remove_all(e.path());
        }
        return a;
    }

    std::string describe() const override { return "--- ribbon.toml:\n" + read_file(m_tmp / "ribbon.toml"); }

private:
    // The recipients are the arguments after "--" (sendmail_command.cpp
    // puts the caller's recipients there).
    static Handover read_handover(const fs::path& dir) {
        Handover h;
        h.data = read_file(dir / "message");
        const std::vector<std::string> lines = mime::lines_of(read_file(dir / "argv"));
        auto dashes = std::find(lines.begin(), lines.end(), "--");
        if (dashes != lines.end()) h.rcpts.assign(dashes + 1, lines.end());
        return h;
    }

    TempDir m_tmp{"ribbon-sendmail-fe"};
    int m_closed_port;
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::unique_ptr<FrontEnd> make_front_end(FrontEndKind kind) {
    switch (kind) {
        case FrontEndKind::milter: return std::make_unique<MilterFrontEnd>();
        case FrontEndKind::relay: return std::make_unique<RelayFrontEnd>();
        case FrontEndKind::sendmail: break;
    }
    return std::make_unique<SendmailFrontEnd>();
}

Form judge(const std::string& delivered, const std::string& submitted, const std::string& body_marker,
           std::string& problems) {
    if (delivered == submitted) return Form::unchanged;
    const mime::ContentType ct = mime::content_type_of(mime::parse_entity(delivered));
    Form form = Form::other;
    if (ct.type == "multipart/signed" && lower(ct.param("protocol")) == "application/pkcs7-signature") {
        form = Form::detached;
    } else if ((ct.type == "application/pkcs7-mime" || ct.type == "application/x-pkcs7-mime") &&
               lower(ct.param("smime-type")) == "signed-data") {
        form = Form::opaque;
    } else {
        problems += "changed but not signed: Content-Type " + ct.type + "\n";
        return form;
    }
    // The CMS object agrees with the MIME form (RFC 8551 §3.5.2, §3.5.3).
    const SmimeParts parts = split_smime(delivered);
    const CmsInfo info = inspect_cms(parts.der);
    if (!parts.error.empty() || !info.error.empty()) {
        problems += "unreadable S/MIME: " + parts.error + info.error + "\n";
    } else if (info.detached != (form == Form::detached)) {
        problems += "the SignedData's content is " + std::string(info.detached ? "detached" : "encapsulated") +
                    " under Content-Type " + ct.type + "\n";
    }
    const VerifyResult v = verify_openssl(delivered);
    if (!v.ok) {
        problems += v.details + "\n";
    } else if (v.content.find(body_marker) == std::string::npos) {
        problems += "the signed content lacks \"" + body_marker + "\"\n";
    }
    return form;
}

}  // namespace ribbon::test
