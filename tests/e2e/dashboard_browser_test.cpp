// `ribbon dashboard` in a real browser: headless Chromium (Debian's
// chromium) loads the page against the store and keystore the rig filled
// (support/dashboard_rig.hpp) and the test reads the DOM it ends with:
//   - no script error, console error or CSP violation (the page records
//     them in #page-errors; Chromium's own log is searched for "Uncaught"
//     and "Content Security Policy" as well);
//   - every chart drew something (the page's #self-check says, per canvas,
//     whether getImageData found a painted pixel);
//   - the numbers shown are the store's, and a failure's markup is shown as
//     text, not run;
// and a screenshot is left in the build tree (test-artifacts/dashboard.png)
// for people to look at. Skipped only when chromium is not installed.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "support/dashboard_rig.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using D = DashboardExpected;

constexpr const char* kChromium = "/usr/bin/chromium";

std::vector<std::string> chromium(const fs::path& profile, std::vector<std::string> args) {
    std::vector<std::string> argv = {kChromium, "--headless", "--no-sandbox", "--disable-gpu",
                                     "--no-first-run", "--disable-extensions",
                                     "--user-data-dir=" + profile.string(),
                                     "--virtual-time-budget=10000"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// The text of the element with id `id` (its first text run), "" if absent.
std::string text_of(const std::string& dom, const std::string& id) {
    std::smatch m;
    const std::regex re("id=\"" + id + "\"[^>]*>([^<]*)<");
    return std::regex_search(dom, m, re) ? m[1].str() : std::string();
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

TEST(DashboardBrowser, ThePageDrawsTheStoresNumbersWithoutErrors) {
    if (!fs::exists(kChromium)) GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
    DashboardRig rig;
    ASSERT_EQ(rig.error(), "");
    ASSERT_EQ(rig.start(), "");
    TempDir profile("ribbon-chromium");
    ProcessOptions options;
    options.timeout = std::chrono::seconds(60);
    options.env = {{"HOME", profile.path().string()}};

    const ProcessResult r = run_process(
        chromium(profile.path(), {"--enable-logging=stderr", "--v=0", "--window-size=1280,1600",
                                  "--dump-dom", rig.url("/")}),
        options);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const std::string& dom = r.out;

    // Finished, without errors.
    ASSERT_TRUE(contains(dom, "id=\"self-check\" hidden=\"\" data-state=\"done\"")) << dom;
    EXPECT_EQ(text_of(dom, "page-errors"), "") << dom;
    EXPECT_FALSE(contains(r.err, "Uncaught")) << r.err;
    EXPECT_FALSE(contains(r.err, "Content Security Policy")) << r.err;
    for (const char* canvas : {"ids-chart", "messages-chart", "capability-chart", "clients-chart"}) {
        EXPECT_TRUE(contains(dom, std::string("data-canvas=\"") + canvas + "\" data-painted=\"yes\""))
            << canvas << " is blank";
    }
    // No panel reported a problem.
    EXPECT_FALSE(std::regex_search(dom, std::regex("class=\"panel-error\">[^<]"))) << dom;

    // The store's numbers.
    EXPECT_EQ(text_of(dom, "total-signed"), std::to_string(D::kSigned));
    EXPECT_EQ(text_of(dom, "total-unsigned"), std::to_string(D::kUnsigned));
    EXPECT_EQ(text_of(dom, "total-tempfail"), std::to_string(D::kTempfail));
    EXPECT_EQ(text_of(dom, "total-reject"), std::to_string(D::kReject));
    EXPECT_EQ(text_of(dom, "recipients-total"), std::to_string(D::kRecipients));
    EXPECT_EQ(text_of(dom, "recipients-supported"), std::to_string(D::kSupported));
    EXPECT_EQ(text_of(dom, "recipients-unsupported"), std::to_string(D::kUnsupported));
    EXPECT_EQ(text_of(dom, "recipients-unknown"), std::to_string(D::kUnknown));
    EXPECT_TRUE(contains(dom, "<li>passed unsigned, policy: 5</li>")) << dom;
    // The Digital IDs, each address's state in its tile.
    for (const char* tile : {"<li class=\"tile due\"><span class=\"n\">due</span>due@bank.example",
                             "<li class=\"tile ok\"><span class=\"n\">ok</span>ok@bank.example",
                             "<li class=\"tile expired\"><span class=\"n\">expired</span>expired@bank.example",
                             "<li class=\"tile renewed\"><span class=\"n\">renewed</span>renewed@bank.example"}) {
        EXPECT_TRUE(contains(dom, tile)) << tile;
    }
    const std::regex id_row("<td>[a-z]+@bank\\.example</td>");
    EXPECT_EQ(std::distance(std::sregex_iterator(dom.begin(), dom.end(), id_row),
                            std::sregex_iterator()),
              5);
    // The failures, newest first; markup from the store is text.
    const std::size_t hostile =
        dom.find("<td class=\"detail\">&lt;img src=x onerror=alert(1)&gt; &amp; broken</td>");
    const std::size_t no_key =
        dom.find("<td class=\"detail\">no Digital ID for &lt;no-reply@bank.example&gt;</td>");
    ASSERT_NE(hostile, std::string::npos) << dom;
    ASSERT_NE(no_key, std::string::npos) << dom;
    EXPECT_LT(hostile, no_key);
    EXPECT_FALSE(contains(dom, "<img"));

    // The screenshot, for people.
    const fs::path artifacts = fs::path(ribbon_binary()).parent_path() / "test-artifacts";
    fs::create_directories(artifacts);
    const fs::path shot = artifacts / "dashboard.png";
    fs::remove(shot);
    const ProcessResult s = run_process(
        chromium(profile.path(), {"--hide-scrollbars", "--window-size=1280,1600",
                                  "--screenshot=" + shot.string(), rig.url("/")}),
        options);
    ASSERT_EQ(s.exit_code, 0) << s.describe();
    ASSERT_TRUE(fs::exists(shot));
    EXPECT_GT(fs::file_size(shot), 20000u);  // a blank 1280x1600 PNG is a few kB
    RecordProperty("screenshot", shot.string());
}

}  // namespace
}  // namespace ribbon::test
