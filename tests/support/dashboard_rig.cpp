// See dashboard_rig.hpp.
#include "support/dashboard_rig.hpp"

#include <chrono>

#include "ribbon/keystore.hpp"
#include "ribbon/recipients.hpp"
#include "support/mta.hpp"  // pick_free_port
#include "support/pki.hpp"  // ribbon_binary
#include "support/store_util.hpp"

namespace ribbon::test {

namespace {

using std::chrono::hours;
using D = DashboardExpected;

constexpr UnixTime kHour = 3600;
constexpr UnixTime kDay = 86400;

UnixTime unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Observation customer(const std::string& address, UnixTime t, SmimeSupport capability,
                     const std::string& client, SmimeSupport client_smime) {
    Observation o;
    o.address = address;
    o.time = t;
    o.capability = capability;
    o.confidence = capability == SmimeSupport::unknown ? 0 : 0.9;
    o.capability_evidence = "test";
    ClientSighting c;
    c.name = client;
    c.version.assign(1, '1');  // not = "1": GCC 12's -Wrestrict false positive
    c.evidence = "User-Agent: " + client;
    c.smime = client_smime;
    o.client = c;
    return o;
}

}  // namespace

DashboardRig::DashboardRig() {
    keystore = m_tmp / "ids";
    store_url = "sqlite://" + (m_tmp / "ribbon.db").string();
    m_log = m_tmp / "dashboard.log";
    m_error = fill_keystore();
    if (m_error.empty()) m_error = fill_store();
}

DashboardRig::~DashboardRig() {
    if (m_daemon) m_daemon->stop(std::chrono::seconds(5));
}

// One address per state the page colours: ok (a year left), due (20
// days), renewed (15 days, and a next one from day 10), expired.
std::string DashboardRig::fill_keystore() {
    const Keystore ks(keystore);
    if (auto r = DevCa::init(ks); !r) return "dev-ca init: " + describe(r.error());
    const auto now = std::chrono::system_clock::now();
    struct Id {
        const char* address;
        int from_days, to_days;
    };
    const Id ids[] = {{"ok@bank.example", -1, 365},       {"due@bank.example", -345, 20},
                      {"renewed@bank.example", -350, 15}, {"renewed@bank.example", 10, 375},
                      {"expired@bank.example", -400, -35}};
    for (const Id& id : ids) {
        DevCaIssueOptions o;
        o.not_before = now + hours(24 * id.from_days);
        o.not_after = now + hours(24 * id.to_days);
        if (auto r = DevCa::issue(ks, id.address, o); !r) {
            return std::string("dev-ca issue ") + id.address + ": " + describe(r.error());
        }
    }
    return {};
}

std::string DashboardRig::fill_store() {
    auto store = RecipientStore::open(store_url);
    if (!store) return "open: " + describe(store.error());
    const UnixTime now = unix_now();
    const UnixTime hour = now - now % kHour;
    const std::vector<MessageCount> counts = {
        {hour, "mx1", "milter", "signed", "", 40},
        {hour, "mx2", "relay", "signed", "", D::kSigned - 40},
        {hour - kHour, "mx1", "milter", "unsigned", "policy", D::kUnsigned},
        {hour - 2 * kHour, "mx2", "relay", "tempfail", "no_key", D::kTempfail},
        {hour - 5 * kHour, "mx1", "milter", "reject", "bad_message", D::kReject},
        {hour - 10 * kDay, "mx1", "milter", "signed", "", D::kOldSigned},
    };
    if (auto r = (*store)->add_message_counts(counts); !r) return "counts: " + describe(r.error());
    const std::vector<Observation> customers = {
        customer("alice@customer.example", now - kDay, SmimeSupport::supported, "Thunderbird",
                 SmimeSupport::supported),
        customer("dave@customer.example", now - kDay, SmimeSupport::supported, "Thunderbird",
                 SmimeSupport::supported),
        customer("bob@customer.example", now - kDay, SmimeSupport::unsupported, "Gmail web",
                 SmimeSupport::unsupported),
        customer("carol@customer.example", now - kDay, SmimeSupport::unknown, "Mutt",
                 SmimeSupport::unknown),
    };
    for (const Observation& o : customers) {
        if (auto r = (*store)->record(o); !r) return "record: " + describe(r.error());
    }
    const std::vector<FailureRecord> failures = {
        {now - 120, "mx2", "relay", "tempfail", "no_key", D::kNoKeyDetail},
        {now - 60, "mx1", "milter", "reject", "bad_message", D::kHostileDetail},
    };
    if (auto r = (*store)->add_failures(failures); !r) return "failures: " + describe(r.error());
    return {};
}

std::string DashboardRig::start(const std::vector<std::string>& extra) {
    for (int attempt = 0; attempt < 3; ++attempt) {
        m_port = pick_free_port();
        std::vector<std::string> argv = {ribbon_binary(), "dashboard",  "--store",
                                         store_url,       "--keystore", keystore.string(),
                                         "--listen",      "127.0.0.1:" + std::to_string(m_port)};
        argv.insert(argv.end(), extra.begin(), extra.end());
        m_daemon = std::make_unique<daemon::Daemon>();
        if (auto why = m_daemon->start({.argv = argv, .output = m_log}); !why.empty()) return why;
        const int port = m_port;
        const pid_t pid = m_daemon->pid();
        auto why = daemon::wait_until_ready(
            m_daemon, [&] { return daemon::listening(pid, port); }, "ribbon dashboard", m_log);
        if (why.empty()) return {};
        // Another program took the port between pick and bind: try another.
        if (why.find("in use") == std::string::npos || attempt == 2) return why;
    }
    return "no free port";
}

std::string DashboardRig::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
}

std::string DashboardRig::log() const { return daemon::log_tail(m_log); }

}  // namespace ribbon::test
