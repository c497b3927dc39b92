// `ribbon dashboard` spoken to by curl (docs/DASHBOARD.md): each panel's
// JSON against a keystore and a store the rig filled (support/
// dashboard_rig.hpp), with exact numbers; the page's files and headers
// (Content-Security-Policy, no inline script); Debian's Chart.js; and the
// rule that a listener other hosts can reach needs TLS and a password.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/dashboard_rig.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

using nlohmann::json;
using D = DashboardExpected;

ProcessResult curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
}

json get_json(const DashboardRig& rig, const std::string& path) {
    const ProcessResult r = curl({"--fail", rig.url(path)});
    EXPECT_EQ(r.exit_code, 0) << r.describe() << rig.log();
    return json::parse(r.out, nullptr, false);
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

class Dashboard : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(rig.error(), "");
        ASSERT_EQ(rig.start(), "");
    }
    DashboardRig rig;
};

TEST_F(Dashboard, MessagesArePerHourSummedOverHostsWithinTheWindow) {
    const json m = get_json(rig, "/api/messages");
    ASSERT_TRUE(m.is_object()) << m;
    EXPECT_EQ(m["days"], 7);
    ASSERT_EQ(m["hours"].size(), 7u * 24);
    EXPECT_EQ(m["totals"], json({{"signed", D::kSigned},
                                 {"unsigned", D::kUnsigned},
                                 {"tempfail", D::kTempfail},
                                 {"reject", D::kReject}}));
    // The last hour is the current one; the rig's counts sit 0, 1, 2 and 5
    // hours back.
    const std::size_t last = 7 * 24 - 1;
    EXPECT_EQ(m["series"]["signed"][last], D::kSigned);
    EXPECT_EQ(m["series"]["unsigned"][last - 1], D::kUnsigned);
    EXPECT_EQ(m["series"]["tempfail"][last - 2], D::kTempfail);
    EXPECT_EQ(m["series"]["reject"][last - 5], D::kReject);
    EXPECT_EQ(m["hours"][last].get<long long>() - m["hours"][0].get<long long>(),
              static_cast<long long>(last) * 3600);
    EXPECT_EQ(m["reasons"], json({{"unsigned", {{"policy", D::kUnsigned}}},
                                  {"tempfail", {{"no_key", D::kTempfail}}},
                                  {"reject", {{"bad_message", D::kReject}}}}));
    // Ten days back is in a 14-day window.
    const json wide = get_json(rig, "/api/messages?days=14");
    EXPECT_EQ(wide["totals"]["signed"], D::kSigned + D::kOldSigned);
    EXPECT_EQ(wide["hours"].size(), 14u * 24);
    EXPECT_EQ(get_json(rig, "/api/messages?days=x")["days"], 7);
    EXPECT_EQ(get_json(rig, "/api/messages?days=500")["days"], 31);
}

TEST_F(Dashboard, RecipientsAndFailuresAreTheStores) {
    const json r = get_json(rig, "/api/recipients");
    EXPECT_EQ(r["total"], D::kRecipients);
    EXPECT_EQ(r["supported"], D::kSupported);
    EXPECT_EQ(r["unsupported"], D::kUnsupported);
    EXPECT_EQ(r["unknown"], D::kUnknown);
    EXPECT_EQ(r["clients"], json::parse(R"([
        {"name": "Thunderbird", "smime": "supported", "addresses": 2},
        {"name": "Gmail web", "smime": "unsupported", "addresses": 1},
        {"name": "Mutt", "smime": "unknown", "addresses": 1}])"));

    const json f = get_json(rig, "/api/failures")["failures"];
    ASSERT_EQ(f.size(), 2u) << f;
    EXPECT_EQ(f[0]["detail"], D::kHostileDetail);
    EXPECT_EQ(f[0]["host"], "mx1");
    EXPECT_EQ(f[0]["front_end"], "milter");
    EXPECT_EQ(f[0]["result"], "reject");
    EXPECT_EQ(f[0]["kind"], "bad_message");
    EXPECT_EQ(f[1]["detail"], D::kNoKeyDetail);
    EXPECT_EQ(f[0]["time"].get<long long>() - f[1]["time"].get<long long>(), 60);
}

TEST_F(Dashboard, DigitalIdsWithTheirRenewalState) {
    const json ids = get_json(rig, "/api/ids");
    const std::vector<std::pair<std::string, std::string>> states = {
        {"due@bank.example", "due"},
        {"expired@bank.example", "expired"},
        {"ok@bank.example", "ok"},
        {"renewed@bank.example", "renewed"}};
    ASSERT_EQ(ids["addresses"].size(), states.size()) << ids;
    for (std::size_t i = 0; i < states.size(); ++i) {
        EXPECT_EQ(ids["addresses"][i]["address"], states[i].first);
        EXPECT_EQ(ids["addresses"][i]["state"], states[i].second);
    }
    // Whole days left, rounded down (keys list's days_left).
    EXPECT_EQ(ids["addresses"][0]["days_left"], 19);
    EXPECT_EQ(ids["addresses"][2]["days_left"], 364);
    EXPECT_FALSE(ids["addresses"][1].contains("current"));
    // Five certificates, by address then notBefore; each status as keys list says.
    const json& certs = ids["certificates"];
    ASSERT_EQ(certs.size(), 5u);
    const std::vector<std::string> statuses = {"current", "expired", "current", "current", "next"};
    for (std::size_t i = 0; i < certs.size(); ++i) {
        EXPECT_EQ(certs[i]["status"], statuses[i]) << certs[i];
        EXPECT_EQ(certs[i]["dev_ca"], true);
        EXPECT_LT(certs[i]["not_before"], certs[i]["not_after"]);
    }
    EXPECT_EQ(certs[3]["not_after"].get<long long>() - certs[4]["not_before"].get<long long>(),
              5 * 86400);
}

TEST_F(Dashboard, ThePageItsFilesAndItsHeaders) {
    ProcessResult r = curl({"-i", rig.url("/")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "HTTP/1.1 200 OK\r\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "Content-Type: text/html; charset=utf-8\r\n"));
    EXPECT_TRUE(contains(r.out,
                         "Content-Security-Policy: default-src 'none'; script-src 'self'; "
                         "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"))
        << r.out;
    // Only scripts and styles of its own, no inline handlers or styles.
    EXPECT_TRUE(contains(r.out, "<script src=\"chart.js\" defer></script>"));
    EXPECT_TRUE(contains(r.out, "<script src=\"dashboard.js\" defer></script>"));
    EXPECT_FALSE(contains(r.out, "<script>"));
    EXPECT_FALSE(contains(r.out, "<style"));
    EXPECT_FALSE(contains(r.out, " style="));
    EXPECT_FALSE(contains(r.out, " onload=") || contains(r.out, " onclick="));

    r = curl({"-i", rig.url("/chart.js")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "Content-Type: text/javascript; charset=utf-8\r\n"));
    EXPECT_TRUE(contains(r.out, "\r\n\r\n" + read_file("/usr/share/javascript/chart.js/chart.min.js")));
    r = curl({"-i", rig.url("/dashboard.css")});
    EXPECT_TRUE(contains(r.out, "Content-Type: text/css; charset=utf-8\r\n"));
    EXPECT_TRUE(contains(r.out, read_file(source_dir() / "data/dashboard/dashboard.css")));
    r = curl({"-i", rig.url("/dashboard.js")});
    EXPECT_TRUE(contains(r.out, read_file(source_dir() / "data/dashboard/dashboard.js")));

    r = curl({"-o", "/dev/null", "-w", "%{http_code}", rig.url("/nothing")});
    EXPECT_EQ(r.out, "404");
    r = curl({"-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", rig.url("/api/ids")});
    EXPECT_EQ(r.out, "405");
}

// A remote listener without TLS and a password is refused before anything
// is opened; with both, HTTPS asks for the password.
TEST(DashboardCli, RemoteListenerNeedsTlsAndAPassword) {
    TempDir tmp("ribbon-dashboard-cli");
    const std::string store = "sqlite://" + (tmp / "ribbon.db").string();
    write_file(tmp / "password", "s3cret\n");
    const ProcessResult key = run_process(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", (tmp / "tls.key").string(), "-out", (tmp / "tls.pem").string(),
         "-days", "2", "-subj", "/CN=dashboard.test"});
    ASSERT_EQ(key.exit_code, 0) << key.describe();
    const std::vector<std::vector<std::string>> refused = {
        {},
        {"--password-file", (tmp / "password").string()},
        {"--tls-cert", (tmp / "tls.pem").string(), "--tls-key", (tmp / "tls.key").string()},
    };
    for (const auto& extra : refused) {
        std::vector<std::string> argv = {ribbon_binary(), "dashboard", "--store", store,
                                         "--listen", "0.0.0.0:0"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        const ProcessResult r = run_process(argv);
        EXPECT_EQ(r.exit_code, 78) << r.describe();
        EXPECT_EQ(r.err,
                  "ribbon dashboard: --listen 0.0.0.0:0 is not a loopback address: a dashboard "
                  "other hosts can reach needs --tls-cert, --tls-key and --password-file "
                  "(docs/DASHBOARD.md) [bad_config]\n");
        EXPECT_FALSE(std::filesystem::exists(tmp / "ribbon.db"));
    }

    // A value that is not address:port is named as such.
    const ProcessResult bad = run_process({ribbon_binary(), "dashboard", "--store", store,
                                           "--listen", "localhost:9426"});
    EXPECT_EQ(bad.exit_code, 78) << bad.describe();
    EXPECT_TRUE(bad.err.starts_with("ribbon dashboard: ")) << bad.err;
    EXPECT_NE(bad.err.find("--listen"), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("localhost:9426"), std::string::npos) << bad.err;

    DashboardRig rig;
    ASSERT_EQ(rig.error(), "");
    ASSERT_EQ(rig.start({"--tls-cert", (tmp / "tls.pem").string(), "--tls-key",
                         (tmp / "tls.key").string(), "--password-file",
                         (tmp / "password").string()}),
              "");
    std::string https = rig.url("/api/recipients");
    https.replace(0, 4, "https");
    ProcessResult r = curl({"-k", "-o", "/dev/null", "-w", "%{http_code}", https});
    EXPECT_EQ(r.out, "401") << r.describe();
    r = curl({"-k", "--fail", "-u", "anyone:s3cret", https});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(json::parse(r.out)["total"], D::kRecipients);
}

}  // namespace
}  // namespace ribbon::test
