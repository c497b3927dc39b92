// ribbon.toml: what is accepted, what is refused (with file, line and key),
// which [[signer]] entry a sender gets, and that check-config's output reads
// back to the same configuration.
#include "ribbon/config.hpp"
#include "support/config_util.hpp"

#include <gtest/gtest.h>

namespace ribbon::test {
namespace {


TEST(Config, EmptyFileGivesTheDocumentedDefaults) {
    Config c = parse_ok("");
    EXPECT_EQ(c.keystore, "/var/lib/ribbon/ids");
    EXPECT_TRUE(c.signers.empty());
    EXPECT_EQ(c.milter.socket, "unix:/run/ribbon/milter.sock");
    EXPECT_EQ(c.milter.socket_mode, 0660u);
    EXPECT_EQ(c.milter.on_internal_error, FailureAction::tempfail);
    EXPECT_EQ(c.milter.on_no_key, FailureAction::tempfail);
    EXPECT_EQ(c.milter.on_bad_message, FailureAction::reject);
    EXPECT_EQ(c.milter.spool_threshold, 1024u * 1024u);
    EXPECT_EQ(c.daemon.log, "stderr");
}

TEST(Config, ReadsEverySetting) {
    Config c = parse_ok(R"(
[keystore]
path = "/srv/ids"
password_file = "/etc/ribbon/key.pass"

[[signer]]
from = "No-Reply@Bank.Example"
mode = "opaque"
header_protection = false
trace_header = true

[[signer]]
from = "*@bank.example"
id = "notices@bank.example"

[milter]
socket = "inet:8891@127.0.0.1"
socket_mode = "0600"
on_internal_error = "accept"
on_no_key = "accept"
on_bad_message = "tempfail"
opaque_for = ["Broken-Gateway.example"]
spool_threshold = 65536
spool_dir = "/var/spool/ribbon"
timeout = 60

[daemon]
user = "ribbon"
group = "postfix"
log = "syslog"
)");
    EXPECT_EQ(c.keystore, "/srv/ids");
    EXPECT_EQ(c.key_password_file, "/etc/ribbon/key.pass");
    ASSERT_EQ(c.signers.size(), 2u);
    EXPECT_EQ(c.signers[0].from, "no-reply@bank.example");
    EXPECT_EQ(c.signers[0].mode, SignMode::opaque);
    EXPECT_FALSE(c.signers[0].header_protection);
    EXPECT_TRUE(c.signers[0].trace_header);
    EXPECT_EQ(c.signers[1].id, "notices@bank.example");
    EXPECT_EQ(c.milter.socket, "inet:8891@127.0.0.1");
    EXPECT_EQ(c.milter.socket_mode, 0600u);
    EXPECT_EQ(c.milter.on_internal_error, FailureAction::accept);
    EXPECT_EQ(c.milter.on_no_key, FailureAction::accept);
    EXPECT_EQ(c.milter.on_bad_message, FailureAction::tempfail);
    EXPECT_EQ(c.milter.opaque_for, std::vector<std::string>{"broken-gateway.example"});
    EXPECT_EQ(c.milter.spool_threshold, 65536u);
    EXPECT_EQ(c.milter.spool_dir, "/var/spool/ribbon");
    EXPECT_EQ(c.milter.timeout, std::chrono::seconds(60));
    EXPECT_EQ(c.daemon.user, "ribbon");
    EXPECT_EQ(c.daemon.group, "postfix");
    EXPECT_EQ(c.daemon.log, "syslog");
}

TEST(Config, RefusesUnknownKeysNamingLineAndKey) {
    EXPECT_EQ(refused("[milter]\n\nsocet = \"unix:/x\"\n"), "ribbon.toml:3: unknown key milter.socet");
    EXPECT_EQ(refused("colour = 1\n"), "ribbon.toml:1: unknown key colour");
    EXPECT_EQ(refused("[[signer]]\nfrom = \"a@b.example\"\nmdoe = \"opaque\"\n"),
              "ribbon.toml:3: unknown key signer[1].mdoe");
    EXPECT_EQ(refused("[relay]\nport = 25\n"), "ribbon.toml:2: unknown key relay.port");
    EXPECT_EQ(refused("[relya]\nport = 25\n"), "ribbon.toml:1: unknown key relya");
}

TEST(Config, RefusesWrongTypesAndValues) {
    EXPECT_EQ(refused("[milter]\non_no_key = \"reject\"\n"),
              "ribbon.toml:2: milter.on_no_key must be one of \"tempfail\", \"accept\", not \"reject\"");
    EXPECT_EQ(refused("[milter]\ntimeout = \"60\"\n"), "ribbon.toml:2: milter.timeout must be an integer");
    EXPECT_EQ(refused("[milter]\ntimeout = 0\n"),
              "ribbon.toml:2: milter.timeout must be between 1 and 86400, not 0");
    EXPECT_EQ(refused("[milter]\nsocket = \"/run/x.sock\"\n"),
              "ribbon.toml:2: milter.socket must be \"unix:/path\" or \"inet:port@host\", not \"/run/x.sock\"");
    EXPECT_EQ(refused("[milter]\nsocket_mode = \"0999\"\n"),
              "ribbon.toml:2: milter.socket_mode must be octal permissions such as \"0660\"");
    EXPECT_EQ(refused("[[signer]]\nmode = \"opaque\"\n"),
              "ribbon.toml:1: signer[1].from is required: the sending address or \"*@domain\"");
    EXPECT_EQ(refused("[[signer]]\nfrom = \"*.bank.example\"\n"),
              "ribbon.toml:2: signer[1].from: \"*.bank.example\": only \"*@domain\" patterns are supported");
    EXPECT_EQ(refused("[[signer]]\nfrom = \"a@b.example\"\n[[signer]]\nfrom = \"A@B.example\"\n"),
              "ribbon.toml:3: [[signer]] from = \"a@b.example\" appears twice");
    EXPECT_EQ(refused("[signer]\nfrom = \"a@b.example\"\n"), "ribbon.toml:1: signer must be written [[signer]]");
    // A TOML syntax error names the line too.
    EXPECT_EQ(refused("[milter\n").rfind("ribbon.toml:1: ", 0), 0u);
}

TEST(Config, LoadNamesAMissingFile) {
    auto c = Config::load("/nonexistent/ribbon.toml");
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code(), Errc::bad_config);
    EXPECT_NE(c.error().message().find("/nonexistent/ribbon.toml"), std::string::npos) << c.error().message();
}

TEST(Config, ExactSenderWinsOverDomainPatternWhateverTheOrder) {
    Config c = parse_ok(R"(
[[signer]]
from = "*@bank.example"
id = "notices@bank.example"
[[signer]]
from = "no-reply@bank.example"
[[signer]]
from = "*@bank.example.org"
)");
    ASSERT_NE(c.signer_for("No-Reply@BANK.example"), nullptr);
    EXPECT_EQ(c.signer_for("No-Reply@BANK.example")->from, "no-reply@bank.example");
    ASSERT_NE(c.signer_for("alerts@bank.example"), nullptr);
    EXPECT_EQ(c.signer_for("alerts@bank.example")->id, "notices@bank.example");
    EXPECT_EQ(c.signer_for("x@sub.bank.example"), nullptr);
    EXPECT_EQ(c.signer_for("x@evilbank.example"), nullptr);
    EXPECT_EQ(c.signer_for("bank.example@evil.example"), nullptr);
    EXPECT_EQ(c.signer_for("x@bank.example.org")->from, "*@bank.example.org");
}

TEST(Config, CheckConfigOutputReadsBackToTheSameConfiguration) {
    Config a = parse_ok(R"(
[keystore]
path = "/srv/ids \"quoted\" \\ dir"
[[signer]]
from = "no-reply@bank.example"
mode = "opaque"
trace_header = true
[milter]
opaque_for = ["a.example", "b.example"]
on_bad_message = "accept"
socket_mode = "0600"
[sendmail]
args = ["-C", "/etc/postfix-out"]
on_no_key = "accept"
[daemon]
user = "ribbon"
)");
    std::string text = a.to_toml();
    Config b = parse_ok(text);
    EXPECT_EQ(b.to_toml(), text);
    EXPECT_EQ(b.signers.size(), 1u);
    EXPECT_EQ(b.signers[0].mode, SignMode::opaque);
    EXPECT_EQ(b.milter.opaque_for.size(), 2u);
    EXPECT_EQ(b.milter.socket_mode, 0600u);
    EXPECT_EQ(b.milter.on_bad_message, FailureAction::accept);
    EXPECT_EQ(b.keystore, "/srv/ids \"quoted\" \\ dir");
    EXPECT_EQ(b.sendmail.args, (std::vector<std::string>{"-C", "/etc/postfix-out"}));
    EXPECT_EQ(b.sendmail.on_no_key, FailureAction::accept);
}

TEST(Config, SendmailSettingsAndTheirChecks) {
    Config c = parse_ok("[sendmail]\npath = \"/usr/lib/sendmail\"\nargs = [\"-C\", \"/etc/x\"]\non_bad_message = \"tempfail\"\n");
    EXPECT_EQ(c.sendmail.path, "/usr/lib/sendmail");
    EXPECT_EQ(c.sendmail.args.size(), 2u);
    EXPECT_EQ(c.sendmail.on_bad_message, FailureAction::tempfail);
    EXPECT_EQ(c.sendmail.on_no_key, FailureAction::tempfail);
    EXPECT_EQ(refused("[sendmail]\npath = \"sendmail\"\n"),
              "ribbon.toml:2: sendmail.path must be an absolute path, not \"sendmail\"");
}

// [sendmail] mixed: as [milter] mixed (sendmail cannot split a message
// either), "sign" by default, read back by to_toml().
TEST(Config, SendmailMixedAnswer) {
    EXPECT_EQ(parse_ok("").sendmail.mixed, MixedAnswer::sign);
    Config c = parse_ok("[sendmail]\nmixed = \"unsigned\"\n");
    EXPECT_EQ(c.sendmail.mixed, MixedAnswer::unsigned_);
    EXPECT_EQ(c.milter.mixed, MixedAnswer::sign);
    EXPECT_EQ(parse_ok(c.to_toml()).sendmail.mixed, MixedAnswer::unsigned_);
    EXPECT_EQ(refused("[sendmail]\nmixed = \"split\"\n"),
              "ribbon.toml:2: sendmail.mixed must be one of \"sign\", \"unsigned\", not \"split\"");
}

TEST(Config, SendmailOpaqueFor) {
    EXPECT_TRUE(parse_ok("").sendmail.opaque_for.empty());
    Config c = parse_ok("[sendmail]\nopaque_for = [\"Legacy-Gateway.EXAMPLE\"]\n");
    EXPECT_EQ(c.sendmail.opaque_for, std::vector<std::string>{"legacy-gateway.example"});
    EXPECT_TRUE(c.milter.opaque_for.empty());
    EXPECT_EQ(parse_ok(c.to_toml()).sendmail.opaque_for, c.sendmail.opaque_for);
}

// Which error is which kind: tests/submit/submit_test.cpp (the core's table).
TEST(Config, FailureActionsPerKind) {
    FailureActions a;
    EXPECT_EQ(a.action_for(FailureKind::bad_message), FailureAction::reject);
    EXPECT_FALSE(a.may_pass_unsigned());
    a.on_no_key = FailureAction::accept;
    EXPECT_TRUE(a.may_pass_unsigned());
    EXPECT_EQ(FailureActions::setting_name(FailureKind::no_key), "on_no_key");
}

}  // namespace
}  // namespace ribbon::test
