// ribbon.toml's [relay] and [relay.next_hop] (src/config/config_relay.cpp,
// docs/CONFIGURATION.md): the documented defaults, every key read, every
// refusal with its exact message (file, line, key), and check-config's
// output reading back to the same settings.
#include <gtest/gtest.h>

#include "ribbon/config.hpp"
#include "support/config_util.hpp"

namespace ribbon::test {
namespace {


// The message for one [relay] line (on line 2 of the file).
std::string relay_refused(const std::string& line) { return refused("[relay]\n" + line + "\n"); }
// The message for one [relay.next_hop] line (on line 2 of the file).
std::string next_hop_refused(const std::string& line) {
    return refused("[relay.next_hop]\n" + line + "\n");
}

TEST(ConfigRelay, Defaults) {
    const RelaySettings r = parse_ok("").relay;
    EXPECT_EQ(r.listen, std::vector<std::string>{"127.0.0.1:2525"});
    EXPECT_EQ(r.hostname, "");
    EXPECT_EQ(r.mynetworks, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
    EXPECT_TRUE(r.tls_cert_file.empty());
    EXPECT_TRUE(r.tls_key_file.empty());
    EXPECT_TRUE(r.auth_users_file.empty());
    EXPECT_EQ(r.max_message_size, 50u * 1024 * 1024);
    EXPECT_EQ(r.max_recipients, 1000u);
    EXPECT_EQ(r.max_line_length, 1024u * 1024);
    EXPECT_EQ(r.max_connections, 200u);
    EXPECT_EQ(r.idle_timeout, std::chrono::seconds(300));
    EXPECT_EQ(r.stop_grace, std::chrono::seconds(30));
    EXPECT_TRUE(r.opaque_for.empty());
    EXPECT_EQ(r.spool_threshold, 1024u * 1024);
    EXPECT_EQ(r.spool_dir, "/var/tmp");
    EXPECT_EQ(r.workers, 0u);
    EXPECT_EQ(r.on_internal_error, FailureAction::tempfail);
    EXPECT_EQ(r.on_no_key, FailureAction::tempfail);
    EXPECT_EQ(r.on_bad_message, FailureAction::reject);

    const NextHopSettings& n = r.next_hop;
    EXPECT_EQ(n.url, "maildir:/var/spool/ribbon/outbox");
    EXPECT_EQ(n.kind, NextHopSettings::Kind::maildir);
    EXPECT_EQ(n.maildir, "/var/spool/ribbon/outbox");
    EXPECT_EQ(n.tls, NextHopTls::required);
    EXPECT_TRUE(n.verify);
    EXPECT_TRUE(n.ca_file.empty());
    EXPECT_EQ(n.auth_user, "");
    EXPECT_TRUE(n.auth_password_file.empty());
    EXPECT_EQ(n.connect_timeout, std::chrono::seconds(30));
    EXPECT_EQ(n.timeout, std::chrono::seconds(300));
}

constexpr std::string_view kFullRelay = R"([relay]
listen = ["127.0.0.1:587", "[::1]:587"]
hostname = "relay.bank.example"
mynetworks = ["10.0.0.0/8", "2001:db8::/32"]
tls_cert_file = "/etc/ribbon/relay.pem"
tls_key_file = "/etc/ribbon/relay.key"
auth_users_file = "/etc/ribbon/users"
max_message_size = 10485760
max_recipients = 50
max_line_length = 2000
max_connections = 20
idle_timeout = 60
stop_grace = 5
opaque_for = ["Broken-Gateway.example"]
spool_threshold = 65536
spool_dir = "/var/spool/ribbon"
workers = 3
on_internal_error = "accept"
on_no_key = "accept"
on_bad_message = "tempfail"

[relay.next_hop]
url = "smtps://[2001:db8::25]:4650"
tls = "opportunistic"
verify = false
ca_file = "/etc/ribbon/ca.pem"
auth_user = "bank"
auth_password_file = "/etc/ribbon/smarthost.pass"
connect_timeout = 5
timeout = 120
)";

TEST(ConfigRelay, ReadsEverySetting) {
    const RelaySettings r = parse_ok(kFullRelay).relay;
    EXPECT_EQ(r.listen, (std::vector<std::string>{"127.0.0.1:587", "[::1]:587"}));
    EXPECT_EQ(r.hostname, "relay.bank.example");
    EXPECT_EQ(r.mynetworks, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
    EXPECT_EQ(r.tls_cert_file, "/etc/ribbon/relay.pem");
    EXPECT_EQ(r.tls_key_file, "/etc/ribbon/relay.key");
    EXPECT_EQ(r.auth_users_file, "/etc/ribbon/users");
    EXPECT_EQ(r.max_message_size, 10485760u);
    EXPECT_EQ(r.max_recipients, 50u);
    EXPECT_EQ(r.max_line_length, 2000u);
    EXPECT_EQ(r.max_connections, 20u);
    EXPECT_EQ(r.idle_timeout, std::chrono::seconds(60));
    EXPECT_EQ(r.stop_grace, std::chrono::seconds(5));
    EXPECT_EQ(r.opaque_for, std::vector<std::string>{"broken-gateway.example"});
    EXPECT_EQ(r.spool_threshold, 65536u);
    EXPECT_EQ(r.spool_dir, "/var/spool/ribbon");
    EXPECT_EQ(r.workers, 3u);
    EXPECT_EQ(r.on_internal_error, FailureAction::accept);
    EXPECT_EQ(r.on_no_key, FailureAction::accept);
    EXPECT_EQ(r.on_bad_message, FailureAction::tempfail);

    const NextHopSettings& n = r.next_hop;
    EXPECT_EQ(n.url, "smtps://[2001:db8::25]:4650");
    EXPECT_EQ(n.kind, NextHopSettings::Kind::smtps);
    EXPECT_EQ(n.host, "2001:db8::25");
    EXPECT_EQ(n.port, 4650);
    EXPECT_EQ(n.tls, NextHopTls::opportunistic);
    EXPECT_FALSE(n.verify);
    EXPECT_EQ(n.ca_file, "/etc/ribbon/ca.pem");
    EXPECT_EQ(n.auth_user, "bank");
    EXPECT_EQ(n.auth_password_file, "/etc/ribbon/smarthost.pass");
    EXPECT_EQ(n.connect_timeout, std::chrono::seconds(5));
    EXPECT_EQ(n.timeout, std::chrono::seconds(120));
}

TEST(ConfigRelay, NextHopUrlForms) {
    auto hop = [](const std::string& url) {
        return parse_ok("[relay.next_hop]\nurl = \"" + url + "\"\n").relay.next_hop;
    };
    NextHopSettings smtp = hop("smtp://127.0.0.1:2526");
    EXPECT_EQ(smtp.kind, NextHopSettings::Kind::smtp);
    EXPECT_EQ(smtp.host, "127.0.0.1");
    EXPECT_EQ(smtp.port, 2526);
    // RFC 5321 §4.5.4.1 port 25 and RFC 8314 §7.3 port 465 when none is given.
    EXPECT_EQ(hop("smtp://smarthost.example").port, 25);
    EXPECT_EQ(hop("smtps://smarthost.example").port, 465);
    NextHopSettings maildir = hop("maildir:/srv/outbox");
    EXPECT_EQ(maildir.kind, NextHopSettings::Kind::maildir);
    EXPECT_EQ(maildir.maildir, "/srv/outbox");
    // Credentials need encryption: tls = "required", or smtps:// whatever tls says.
    auto with_auth = [](const std::string& url, const std::string& tls) {
        return "[relay.next_hop]\nurl = \"" + url + "\"\ntls = \"" + tls +
               "\"\nauth_user = \"u\"\nauth_password_file = \"/p\"\n";
    };
    EXPECT_EQ(
        parse_ok(with_auth("smtp://smarthost.example:587", "required")).relay.next_hop.auth_user,
        "u");
    EXPECT_EQ(parse_ok(with_auth("smtps://smarthost.example", "none")).relay.next_hop.auth_user,
              "u");
}

TEST(ConfigRelay, RefusesBadRelayValues) {
    EXPECT_EQ(relay_refused("listen = []"),
              "ribbon.toml:1: relay.listen and relay.listen_tls are both empty: the relay would not listen at all");
    EXPECT_EQ(relay_refused("listen_tls = [\"127.0.0.1:465\"]"), "ribbon.toml:1: relay.listen_tls needs tls_cert_file");
    EXPECT_EQ(relay_refused("listen = [\"2525\"]"),
              "ribbon.toml:2: relay.listen: \"2525\" is not \"host:port\" or \"[v6]:port\"");
    EXPECT_EQ(relay_refused("listen = [\"::1:25\"]"),
              "ribbon.toml:2: relay.listen: \"::1:25\" is not \"host:port\" or \"[v6]:port\"");
    EXPECT_EQ(relay_refused("listen = \"127.0.0.1:25\""),
              "ribbon.toml:2: relay.listen must be an array of strings");
    EXPECT_EQ(relay_refused("listen = [25]"),
              "ribbon.toml:2: relay.listen must contain only strings");
    EXPECT_EQ(relay_refused("hostname = 1"), "ribbon.toml:2: relay.hostname must be a string");
    EXPECT_EQ(relay_refused("mynetworks = [\"10.0.0.0/33\"]"),
              "ribbon.toml:2: relay.mynetworks: \"10.0.0.0/33\" is not a network");
    EXPECT_EQ(
        relay_refused("max_message_size = 1023"),
        "ribbon.toml:2: relay.max_message_size must be between 1024 and 1099511627776, not 1023");
    EXPECT_EQ(relay_refused("max_recipients = 0"),
              "ribbon.toml:2: relay.max_recipients must be between 1 and 100000, not 0");
    EXPECT_EQ(relay_refused("max_line_length = 999"),
              "ribbon.toml:2: relay.max_line_length must be between 1000 and 1073741824, not 999");
    EXPECT_EQ(relay_refused("max_connections = 100001"),
              "ribbon.toml:2: relay.max_connections must be between 1 and 100000, not 100001");
    EXPECT_EQ(relay_refused("idle_timeout = 0"),
              "ribbon.toml:2: relay.idle_timeout must be between 1 and 86400, not 0");
    EXPECT_EQ(relay_refused("stop_grace = 0"), "ribbon.toml:2: relay.stop_grace must be between 1 and 3600, not 0");
    EXPECT_EQ(relay_refused("opaque_for = [\"a@b.example\"]"),
              "ribbon.toml:2: relay.opaque_for: \"a@b.example\" is not a domain");
    EXPECT_EQ(
        relay_refused("spool_threshold = 4095"),
        "ribbon.toml:2: relay.spool_threshold must be between 4096 and 1099511627776, not 4095");
    EXPECT_EQ(relay_refused("workers = 1025"),
              "ribbon.toml:2: relay.workers must be between 0 and 1024, not 1025");
    EXPECT_EQ(
        relay_refused("on_no_key = \"reject\""),
        "ribbon.toml:2: relay.on_no_key must be one of \"tempfail\", \"accept\", not \"reject\"");
    EXPECT_EQ(relay_refused("on_bad_message = \"drop\""),
              "ribbon.toml:2: relay.on_bad_message must be one of \"reject\", \"tempfail\", "
              "\"accept\", not \"drop\"");
    EXPECT_EQ(relay_refused("port = 25"), "ribbon.toml:2: unknown key relay.port");
    EXPECT_EQ(refused("relay = 1\n"), "ribbon.toml:1: [relay] must be a table");
}

TEST(ConfigRelay, RefusesSettingsThatOnlyWorkTogether) {
    // These name the line of the [relay] table.
    EXPECT_EQ(refused("\n[relay]\ntls_cert_file = \"/c.pem\"\n"),
              "ribbon.toml:2: relay.tls_cert_file and relay.tls_key_file go together");
    EXPECT_EQ(refused("[relay]\ntls_key_file = \"/c.key\"\n"),
              "ribbon.toml:1: relay.tls_cert_file and relay.tls_key_file go together");
    EXPECT_EQ(refused("[relay]\nauth_users_file = \"/users\"\n"),
              "ribbon.toml:1: relay.auth_users_file needs tls_cert_file: AUTH is offered after "
              "STARTTLS only");
}

TEST(ConfigRelay, RefusesBadNextHopValues) {
    EXPECT_EQ(
        next_hop_refused("url = \"http://smarthost.example\""),
        "ribbon.toml:2: relay.next_hop.url must be \"smtp://host:port\", \"smtps://host:port\" or "
        "\"maildir:/path\", not \"http://smarthost.example\"");
    EXPECT_EQ(next_hop_refused("url = \"maildir:\""),
              "ribbon.toml:2: relay.next_hop.url: \"maildir:\" needs a directory");
    for (std::string url : {"smtp://", "smtp://host:0", "smtp://host:25/", "smtps://[::1",
                            "smtp://::1:25", "smtp://user@host:25"}) {
        EXPECT_EQ(next_hop_refused("url = \"" + url + "\""),
                  "ribbon.toml:2: relay.next_hop.url: \"" + url + "\" has no usable host and port");
    }
    EXPECT_EQ(next_hop_refused("tls = \"always\""),
              "ribbon.toml:2: relay.next_hop.tls must be one of \"required\", \"opportunistic\", "
              "\"none\", not \"always\"");
    EXPECT_EQ(next_hop_refused("verify = \"yes\""),
              "ribbon.toml:2: relay.next_hop.verify must be true or false");
    EXPECT_EQ(next_hop_refused("ca_file = 1"),
              "ribbon.toml:2: relay.next_hop.ca_file must be a string");
    EXPECT_EQ(next_hop_refused("connect_timeout = 0"),
              "ribbon.toml:2: relay.next_hop.connect_timeout must be between 1 and 86400, not 0");
    EXPECT_EQ(next_hop_refused("timeout = 86401"),
              "ribbon.toml:2: relay.next_hop.timeout must be between 1 and 86400, not 86401");
    EXPECT_EQ(next_hop_refused("port = 25"), "ribbon.toml:2: unknown key relay.next_hop.port");
    EXPECT_EQ(refused("[relay]\nnext_hop = \"smtp://x\"\n"),
              "ribbon.toml:2: [relay.next_hop] must be a table");
}

TEST(ConfigRelay, RefusesNextHopCredentialsInTheClear) {
    EXPECT_EQ(refused("[relay.next_hop]\nurl = \"smtp://h:587\"\nauth_user = \"u\"\n"),
              "ribbon.toml:1: relay.next_hop.auth_user and auth_password_file go together");
    EXPECT_EQ(refused("[relay.next_hop]\nauth_password_file = \"/p\"\n"),
              "ribbon.toml:1: relay.next_hop.auth_user and auth_password_file go together");
    // RFC 4954 §4: no password over an unencrypted connection.
    const std::string clear =
        "relay.next_hop.auth_user needs tls = \"required\" (or smtps://): the password must not "
        "cross the network in the clear";
    for (std::string tls : {"opportunistic", "none"}) {
        EXPECT_EQ(refused("[relay.next_hop]\nurl = \"smtp://h:587\"\ntls = \"" + tls +
                          "\"\nauth_user = \"u\"\nauth_password_file = \"/p\"\n"),
                  "ribbon.toml:1: " + clear);
    }
}

TEST(ConfigRelay, CheckConfigOutputReadsBackToTheSameSettings) {
    const std::string with_signer =
        "[[signer]]\nfrom = \"no-reply@bank.example\"\n\n" + std::string(kFullRelay);
    for (const std::string& text :
         {with_signer,
          std::string("[relay.next_hop]\nurl = \"smtp://127.0.0.1:2526\"\ntls = \"none\"\n"),
          std::string()}) {
        Config a = parse_ok(text);
        std::string toml = a.to_toml();
        Config b = parse_ok(toml);
        EXPECT_EQ(b.to_toml(), toml);
        const RelaySettings &x = a.relay, &y = b.relay;
        EXPECT_EQ(y.listen, x.listen);
        EXPECT_EQ(y.hostname, x.hostname);
        EXPECT_EQ(y.mynetworks, x.mynetworks);
        EXPECT_EQ(y.tls_cert_file, x.tls_cert_file);
        EXPECT_EQ(y.tls_key_file, x.tls_key_file);
        EXPECT_EQ(y.auth_users_file, x.auth_users_file);
        EXPECT_EQ(y.max_message_size, x.max_message_size);
        EXPECT_EQ(y.max_recipients, x.max_recipients);
        EXPECT_EQ(y.max_line_length, x.max_line_length);
        EXPECT_EQ(y.max_connections, x.max_connections);
        EXPECT_EQ(y.idle_timeout, x.idle_timeout);
        EXPECT_EQ(y.stop_grace, x.stop_grace);
        EXPECT_EQ(y.opaque_for, x.opaque_for);
        EXPECT_EQ(y.spool_threshold, x.spool_threshold);
        EXPECT_EQ(y.spool_dir, x.spool_dir);
        EXPECT_EQ(y.workers, x.workers);
        EXPECT_EQ(y.on_internal_error, x.on_internal_error);
        EXPECT_EQ(y.on_no_key, x.on_no_key);
        EXPECT_EQ(y.on_bad_message, x.on_bad_message);
        EXPECT_EQ(y.next_hop.url, x.next_hop.url);
        EXPECT_EQ(y.next_hop.kind, x.next_hop.kind);
        EXPECT_EQ(y.next_hop.host, x.next_hop.host);
        EXPECT_EQ(y.next_hop.port, x.next_hop.port);
        EXPECT_EQ(y.next_hop.maildir, x.next_hop.maildir);
        EXPECT_EQ(y.next_hop.tls, x.next_hop.tls);
        EXPECT_EQ(y.next_hop.verify, x.next_hop.verify);
        EXPECT_EQ(y.next_hop.ca_file, x.next_hop.ca_file);
        EXPECT_EQ(y.next_hop.auth_user, x.next_hop.auth_user);
        EXPECT_EQ(y.next_hop.auth_password_file, x.next_hop.auth_password_file);
        EXPECT_EQ(y.next_hop.connect_timeout, x.next_hop.connect_timeout);
        EXPECT_EQ(y.next_hop.timeout, x.next_hop.timeout);
    }
}

}  // namespace
}  // namespace ribbon::test
