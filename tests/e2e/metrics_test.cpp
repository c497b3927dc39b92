// [metrics] on the real daemons: `ribbon milter` behind Postfix and `ribbon
// relay` in front of smtp-sink, each sent a known number of messages of
// each outcome (signed, unsigned for a sender without a [[signer]],
// tempfailed for a key taken away); the scrape, fetched with curl, holds
// exactly those counts, the Digital ID's expiry under its serial, and
// passes `promtool check metrics` silently. Also: the alert rules
// (etc/ribbon-alerts.yml) pass `promtool check rules` and docs/MONITORING.md
// shows them as they are.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "ribbon/keystore.hpp"
#include "ribbon/recipients.hpp"
#include "support/milter_rig.hpp"
#include "support/pki.hpp"
#include "support/relay_rig.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr const char* kSender = "no-reply@bank.example";
constexpr const char* kOther = "newsletter@shop.example";
constexpr const char* kCustomer = "c@example.org";

std::string metrics_section(int port) {
    return "\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n";
}

ProcessResult curl(int port, const std::string& path = "/metrics") {
    return run_process({"curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code} %{content_type}",
                        "http://127.0.0.1:" + std::to_string(port) + path});
}

// The body of a 200 scrape ("" and a failed expectation otherwise).
std::string scrape(int port) {
    ProcessResult r = curl(port);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    const auto status = r.out.rfind('\n');
    EXPECT_EQ(r.out.substr(status + 1), "200 text/plain; version=0.0.4; charset=utf-8");
    return r.exit_code == 0 ? r.out.substr(0, status) : std::string();
}

// "name{labels}" → value, for every sample line.
std::map<std::string, double> samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        const auto space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

// The value of a series; -1 (and a failure) when it is missing.
double value(const std::map<std::string, double>& s, const std::string& series) {
    auto it = s.find(series);
    EXPECT_NE(it, s.end()) << series;
    return it == s.end() ? -1 : it->second;
}

// Every ribbon_messages_total series of `fe` that is not 0, as
// "result/reason" → count.
std::map<std::string, double> messages(const std::map<std::string, double>& s, const std::string& fe) {
    static const std::regex series(R"re(ribbon_messages_total\{front_end="(\w+)",reason="(\w+)",result="(\w+)"\})re");
    std::map<std::string, double> out;
    for (const auto& [name, v] : s) {
        std::smatch m;
        if (!std::regex_match(name, m, series) || v == 0) continue;
        EXPECT_EQ(m[1].str(), fe) << name;
        out[m[3].str() + "/" + m[2].str()] = v;
    }
    return out;
}

void expect_promtool_accepts(const std::string& scrape_text) {
    ProcessResult r = run_process({"promtool", "check", "metrics"}, scrape_text);
    EXPECT_EQ(r.exit_code, 0) << r.describe() << r.out << r.err;
    EXPECT_EQ(r.out + r.err, "");
}

// The Digital ID's gauge: its serial (as the daemon's log line names it)
// and its certificate's notAfter, read from the keystore.
void expect_certificate_gauge(const std::map<std::string, double>& s, const fs::path& ids, const std::string& log) {
    auto entries = Keystore(ids).list(std::chrono::system_clock::now());
    ASSERT_TRUE(entries);
    ASSERT_EQ(entries->size(), 1u);
    const CertificateInfo& c = entries->front().certificate;
    EXPECT_NE(log.find("serial=" + c.serial_hex + " "), std::string::npos) << log;
    const double not_after = static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(c.not_after.time_since_epoch()).count());
    EXPECT_EQ(value(s, "ribbon_certificate_not_after_seconds{id=\"" + c.serial_hex + "\"}"), not_after);
}

// Waits until the scrape says no connection is open (the peer's close is
// seen a moment after its last reply).
std::map<std::string, double> settled(int port, const std::string& fe) {
    std::map<std::string, double> s;
    for (int i = 0; i < 50; ++i) {
        s = samples(scrape(port));
        if (s["ribbon_connections_open{front_end=\"" + fe + "\"}"] == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return s;
}

void move_key_away(const fs::path& key) { fs::rename(key, key.string() + ".away"); }
void move_key_back(const fs::path& key) { fs::rename(key.string() + ".away", key); }

fs::path key_in(const fs::path& ids) {
    for (const auto& e : fs::directory_iterator(ids / kSender)) {
        if (e.path().extension() == ".key") return e.path();
    }
    return {};
}

TEST(Metrics, MilterCountsWhatPostfixSent) {
    SKIP_WITHOUT_MTA();
    MilterRig rig;
    const int port = pick_free_port();
    rig.write_config({}, metrics_section(port));
    ASSERT_EQ(rig.start_milter(), "") << rig.describe();
    ASSERT_EQ(rig.start_mta(), "") << rig.describe();
    // Before any mail: every message series is there, at 0.
    const auto before = samples(scrape(port));
    EXPECT_EQ(value(before, R"(ribbon_messages_total{front_end="milter",reason="none",result="signed"})"), 0);
    EXPECT_EQ(value(before, R"(ribbon_messages_total{front_end="milter",reason="no_key",result="tempfail"})"), 0);

    for (const char* tag : {"m-1", "m-2"}) {
        ASSERT_EQ(rig.postfix().submit_smtp(notice_from(kSender, tag), kSender, {kCustomer}).final_code, 250);
    }
    ASSERT_EQ(rig.postfix().submit_smtp(notice_from(kOther, "m-3"), kOther, {kCustomer}).final_code, 250);
    const fs::path key = rig.key_file();
    move_key_away(key);
    EXPECT_EQ(rig.postfix().submit_smtp(notice_from(kSender, "m-4"), kSender, {kCustomer}).final_code, 451);
    move_key_back(key);
    ASSERT_TRUE(rig.sink().wait_for(3, seconds(30))) << rig.describe();

    const std::string text = scrape(port);
    const auto s = settled(port, "milter");
    EXPECT_EQ(messages(s, "milter"),
              (std::map<std::string, double>{{"signed/none", 2}, {"unsigned/no_signer", 1}, {"tempfail/no_key", 1}}))
        << text;
    EXPECT_EQ(value(s, R"(ribbon_signing_duration_seconds_count{front_end="milter"})"), 2);
    // The recipient policy was asked for the three messages of the [[signer]].
    EXPECT_EQ(value(s, R"(ribbon_policy_decisions_total{decision="sign"})"), 3);
    EXPECT_EQ(value(s, R"(ribbon_policy_decisions_total{decision="error"})"), 0);
    EXPECT_EQ(value(s, R"(ribbon_store_errors_total{operation="standing"})"), 0);
    // One SMTP session, one milter connection.
    EXPECT_EQ(value(s, R"(ribbon_connections_total{front_end="milter"})"), 4);
    EXPECT_EQ(value(s, R"(ribbon_connections_open{front_end="milter"})"), 0);
    EXPECT_EQ(s.count(R"(ribbon_next_hop_replies_total{class="2xx"})"), 0u);
    expect_certificate_gauge(s, rig.dir() / "ids", rig.milter_log());
    EXPECT_EQ(text.find("example.org"), std::string::npos) << "no address as a label";
    EXPECT_EQ(text.find("bank.example"), std::string::npos) << "no address as a label";
    expect_promtool_accepts(scrape(port));
}

TEST(Metrics, RelayCountsWhatItWasSent) {
    SKIP_WITHOUT_MTA();
    RelayRig rig;
    ASSERT_EQ(rig.sink().start(), "");
    const int port = pick_free_port();
    rig.write_config({}, {}, metrics_section(port));
    ASSERT_EQ(rig.start_relay(), "") << rig.describe();

    for (const char* tag : {"r-1", "r-2"}) {
        ASSERT_EQ(rig.send(notice_from(kSender, tag), kSender, {kCustomer}).final_code, 250) << rig.describe();
    }
    ASSERT_EQ(rig.send(notice_from(kOther, "r-3"), kOther, {kCustomer}).final_code, 250) << rig.describe();
    const fs::path key = key_in(rig.dir() / "ids");
    move_key_away(key);
    EXPECT_EQ(rig.send(notice_from(kSender, "r-4"), kSender, {kCustomer}).final_code, 451) << rig.describe();
    move_key_back(key);

    const std::string text = scrape(port);
    const auto s = settled(port, "relay");
    EXPECT_EQ(messages(s, "relay"),
              (std::map<std::string, double>{{"signed/none", 2}, {"unsigned/no_signer", 1}, {"tempfail/no_key", 1}}))
        << text;
    EXPECT_EQ(value(s, R"(ribbon_signing_duration_seconds_count{front_end="relay"})"), 2);
    EXPECT_EQ(value(s, R"(ribbon_next_hop_replies_total{class="2xx"})"), 3);
    EXPECT_EQ(value(s, R"(ribbon_next_hop_replies_total{class="4xx"})"), 0);
    EXPECT_EQ(value(s, R"(ribbon_next_hop_replies_total{class="error"})"), 0);
    EXPECT_EQ(value(s, R"(ribbon_policy_decisions_total{decision="sign"})"), 3);
    EXPECT_EQ(value(s, R"(ribbon_connections_total{front_end="relay"})"), 4);
    EXPECT_EQ(value(s, R"(ribbon_connections_open{front_end="relay"})"), 0);
    expect_certificate_gauge(s, rig.dir() / "ids", rig.relay_log());
    expect_promtool_accepts(scrape(port));

    // Only /metrics; HEAD answers like GET without the body.
    ProcessResult other = curl(port, "/");
    EXPECT_TRUE(other.out.ends_with("\n404 text/plain; charset=utf-8")) << other.out;
    ProcessResult head = run_process({"curl", "-sS", "-I", "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
    EXPECT_TRUE(head.out.starts_with("HTTP/1.1 200 OK\r\n")) << head.out;

    // Stopped, the relay has written the same counts into the store for
    // the dashboard (daemon/history_writer.hpp), under this host's name.
    ASSERT_EQ(rig.stop_relay(), "exited with status 0") << rig.describe();
    auto store = RecipientStore::open("sqlite://" + (rig.dir() / "state" / "ribbon.db").string(),
                                      StoreAccess::read_only);
    ASSERT_TRUE(store.ok()) << store.error().message();
    auto counts = (*store)->message_counts(0);
    ASSERT_TRUE(counts.ok()) << counts.error().message();
    char host[256] = {};
    ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
    std::map<std::string, std::uint64_t> stored;
    for (const MessageCount& c : *counts) {
        EXPECT_EQ(c.host, host);
        EXPECT_EQ(c.front_end, "relay");
        EXPECT_EQ(c.hour % 3600, 0);
        stored[c.result + "/" + c.reason] += c.messages;
    }
    EXPECT_EQ(stored, (std::map<std::string, std::uint64_t>{{"signed/", 2}, {"unsigned/no_signer", 1}, {"tempfail/no_key", 1}}));
    auto failures = (*store)->recent_failures(10);
    ASSERT_TRUE(failures.ok()) << failures.error().message();
    ASSERT_EQ(failures->size(), 1u);
    EXPECT_EQ(failures->front().result, "tempfail");
    EXPECT_EQ(failures->front().kind, "no_key");
    EXPECT_EQ(failures->front().front_end, "relay");
}

// Both daemons read one file: with `listen` alone the second finds the
// port taken and says which key gives it one of its own.
TEST(Metrics, MilterAndRelayFromOneFileNeedRelayListen) {
    SKIP_WITHOUT_MTA();
    const int port = pick_free_port();
    MilterRig milter;
    milter.write_config({}, metrics_section(port));
    ASSERT_EQ(milter.start_milter(), "") << milter.describe();
    RelayRig relay;
    ASSERT_EQ(relay.sink().start(), "");
    relay.write_config({}, {}, metrics_section(port));
    EXPECT_NE(relay.start_relay(), "");
    EXPECT_NE(relay.relay_log().find("(the milter and the relay need a port each: set metrics.relay_listen for the "
                                     "relay)"),
              std::string::npos)
        << relay.relay_log();
    const int relay_port = pick_free_port();
    relay.write_config({}, {}, metrics_section(port) + "relay_listen = \"127.0.0.1:" + std::to_string(relay_port) + "\"\n");
    ASSERT_EQ(relay.start_relay(), "") << relay.describe();
    EXPECT_NE(scrape(relay_port).find("ribbon_connections_open{front_end=\"relay\"} 0\n"), std::string::npos);
    EXPECT_NE(scrape(port).find("ribbon_connections_open{front_end=\"milter\"} 0\n"), std::string::npos);
}

TEST(Metrics, RemoteListenerNeedsAllowRemote) {
    MilterRig rig;
    rig.write_config({}, "\n[metrics]\nlisten = \"0.0.0.0:9425\"\n");
    ProcessResult r = run_process({ribbon_binary(), "check-config", "-c", rig.config_file().string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("metrics.listen \"0.0.0.0:9425\" is not a loopback address: set metrics.allow_remote = "
                         "true"),
              std::string::npos)
        << r.err;
}

// The rules an operator installs are the ones checked, and the document
// shows them unchanged: etc/ribbon-alerts.yml is the source (a file an
// operator can put in rule_files as is), docs/MONITORING.md quotes it.
TEST(Metrics, AlertRulesPassPromtoolAndTheDocumentQuotesThem) {
    const fs::path rules = source_dir() / "etc" / "ribbon-alerts.yml";
    ProcessResult r = run_process({"promtool", "check", "rules", rules.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe() << r.out << r.err;
    EXPECT_NE(r.out.find("SUCCESS: 7 rules found"), std::string::npos) << r.out;
    const std::string doc = read_file(source_dir() / "docs" / "MONITORING.md");
    EXPECT_NE(doc.find("```yaml\n" + read_file(rules) + "```\n"), std::string::npos)
        << "docs/MONITORING.md must quote etc/ribbon-alerts.yml whole";
}

}  // namespace
}  // namespace ribbon::test
