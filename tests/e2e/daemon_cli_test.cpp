// `ribbon check-config` and `ribbon milter` start-up as an operator meets
// them: exit codes (sysexits) and messages that name the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include "ribbon/keystore.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

struct ConfigDir {
    TempDir tmp{"ribbon-daemon-cli"};
    std::filesystem::path file = tmp / "ribbon.toml";
    std::string keystore = (tmp / "ids").string();

    ProcessResult run(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {ribbon_binary()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, "");
    }
    void write(const std::string& body) {
        write_file(file, "[keystore]\npath = \"" + keystore + "\"\n" + body);
    }
};

TEST(CheckConfig, GoodFilePrintsTheSettingsInEffect) {
    ConfigDir d;
    Keystore ks(d.keystore);
    ASSERT_TRUE(DevCa::init(ks).ok());
    ASSERT_TRUE(DevCa::issue(ks, "no-reply@bank.example").ok());
    d.write("[[signer]]\nfrom = \"no-reply@bank.example\"\n");
    auto r = d.run({"check-config", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("[[signer]]\nfrom = \"no-reply@bank.example\"\nmode = \"detached\""), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("on_no_key = \"tempfail\""), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("warning: the Digital ID for no-reply@bank.example comes from ribbon's dev CA"),
              std::string::npos)
        << r.err;
    auto quiet = d.run({"check-config", "-q", "-c", d.file.string()});
    EXPECT_EQ(quiet.exit_code, 0);
    EXPECT_EQ(quiet.out, "");
}

TEST(CheckConfig, UnknownKeyIsExConfigNamingFileAndLine) {
    ConfigDir d;
    d.write("[milter]\nsocket = \"unix:/x\"\non_no_kye = \"accept\"\n");
    auto r = d.run({"check-config", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon check-config: " + d.file.string() + ":5: unknown key milter.on_no_kye [bad_config]\n");
    EXPECT_EQ(r.out, "");
}

// The operator's client rules are read as the milter would read them.
TEST(CheckConfig, ABadClientRulesFileIsExConfigNamingTheRule) {
    ConfigDir d;
    const std::string rules = (d.tmp / "clients.local.toml").string();
    write_file(rules, "[[client]]\nname = \"Our App\"\nsmime = \"maybe\"\nconfidence = 1\n"
                      "[[client.signal]]\nheader = \"X-Mailer\"\n");
    d.write("[learn]\nrules = [\"" + rules + "\"]\n");
    auto r = d.run({"check-config", "-q", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon check-config: " + d.file.string() + ": " + rules +
                         ":3: client rule 1 (\"Our App\"): smime must be \"supported\", \"unsupported\" or "
                         "\"unknown\", not \"maybe\" [bad_config]\n");
    write_file(rules, "[[client]]\nname = \"Our App\"\nsmime = \"supported\"\nconfidence = 1\n"
                      "[[client.signal]]\nheader = \"X-Mailer\"\npattern = '^OurApp(?=/)'\n");
    r = d.run({"check-config", "-q", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.err, "ribbon check-config: " + d.file.string() + ": " + rules +
                         ":7: client rule 1 (\"Our App\"), signal 1: pattern '^OurApp(?=/)': RE2 refuses it: "
                         "invalid perl operator: (?= [bad_config]\n");
    write_file(rules, "[[client]]\nname = \"Our App\"\nsmime = \"supported\"\nconfidence = 1\n"
                      "[[client.signal]]\nheader = \"X-Mailer\"\npattern = '^OurApp/([0-9.]+)'\n");
    r = d.run({"check-config", "-q", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

TEST(CheckConfig, SignerWithoutDigitalIdIsExConfigNamingTheEntry) {
    ConfigDir d;
    Keystore ks(d.keystore);
    ASSERT_TRUE(DevCa::init(ks).ok());
    d.write("[[signer]]\nfrom = \"no-reply@bank.example\"\n");
    auto r = d.run({"check-config", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("[[signer]] from = \"no-reply@bank.example\": Digital ID no-reply@bank.example:"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("[no_digital_id]"), std::string::npos) << r.err;
}

TEST(MilterStartUp, RefusesToRunAsRootWithoutAUser) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ConfigDir d;
    d.write("[milter]\nsocket = \"inet:0@127.0.0.1\"\n");
    auto r = d.run({"milter", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("refusing to run as root: set [daemon] user"), std::string::npos) << r.err;
}

TEST(MilterStartUp, BadConfigurationStopsStartUp) {
    ConfigDir d;
    d.write("[milter]\nsocket = \"tcp:25\"\n");
    auto r = d.run({"milter", "-c", d.file.string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find(":4: milter.socket must be"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ribbon::test
