// `ribbon recipients` as an operator runs it (docs/LEARNING.md, "Operators'
// commands"): the real binary against a SQLite store in a TempDir, filled
// through the C++ API (RecipientStore), with the exact text of list, show
// and stats, the exact bytes of a CSV export, JSON read field by field, a
// certificate made by openssl, and the exit codes. One run over a private
// PostgreSQL (support/postgres.hpp) checks that the command is the same there.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "ribbon/recipients.hpp"
#include "support/pki.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/store_util.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr UnixTime kT0 = 1700000000;  // 2023-11-14T22:13:20Z
// Evidence with a comma and quotes: CSV must quote it (RFC 4180 §2.6, §2.7).
constexpr const char* kBobEvidence = "boundary \"0000000000ab\", Message-ID @mail.gmail.com";

std::string sha256_hex(const std::string& bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
        out += kHex[md[i] >> 4];
        out += kHex[md[i] & 15];
    }
    return out;
}

// A certificate made by openssl, not by ribbon: the PEM openssl wrote and
// its DER.
struct OpensslCertificate {
    std::string pem, der;
};

OpensslCertificate make_certificate(const fs::path& dir) {
    const fs::path key = dir / "c.key", pem = dir / "c.pem", der = dir / "c.der";
    ProcessResult r =
        run_process({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.string(), "-out",
                     pem.string(), "-days", "30", "-subj", "/CN=c/emailAddress=c@example.com"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    r = run_process(
        {"openssl", "x509", "-in", pem.string(), "-outform", "DER", "-out", der.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return {read_file(pem), read_file(der)};
}

// The base64 body of a PEM: what JSON carries as "der".
std::string pem_body(const std::string& pem) {
    std::string out;
    std::size_t pos = pem.find('\n') + 1;
    for (std::size_t end; (end = pem.find('\n', pos)) != std::string::npos; pos = end + 1) {
        const std::string line = pem.substr(pos, end - pos);
        if (line.starts_with("-----END")) break;
        out += line;
    }
    return out;
}

Observation thunderbird(UnixTime t) {
    Observation o;
    o.address = "Alice@Customer.Example";
    o.time = t;
    o.client =
        ClientSighting{"Thunderbird", "115.3.1", "User-Agent: Mozilla/5.0 Thunderbird/115.3.1",
                       SmimeSupport::supported};
    o.capability = SmimeSupport::supported;
    o.confidence = 0.9;
    o.capability_evidence = "User-Agent: Mozilla/5.0 Thunderbird/115.3.1";
    return o;
}

// alice: Thunderbird, then a signed message with her certificate; bob:
// Gmail, evidence with a comma and quotes; carol: only an operator's
// decisions (no message).
void populate(RecipientStore& store, const OpensslCertificate& cert) {
    ASSERT_OK(store.record(thunderbird(kT0)));
    Observation signed_mail = thunderbird(kT0 + 3600);
    signed_mail.confidence = 1.0;
    signed_mail.capability_evidence = "signed message";
    HarvestedCertificate h;
    h.sha256 = sha256_hex(cert.der);
    h.subject = h.issuer = "CN=c,emailAddress=c@example.com";
    h.serial = "01";
    h.not_after = 1900000000;
    h.capabilities = {"aes256-cbc", "aes128-gcm"};
    h.der = cert.der;
    signed_mail.certificates.push_back(h);
    ASSERT_OK(store.record(signed_mail));

    Observation bob;
    bob.address = "bob@customer.example";
    bob.time = kT0 + 7200;
    bob.client =
        ClientSighting{"Gmail", "", "Message-ID: <CAx@mail.gmail.com>", SmimeSupport::unsupported};
    bob.capability = SmimeSupport::unsupported;
    bob.confidence = 0.7;
    bob.capability_evidence = kBobEvidence;
    ASSERT_OK(store.record(bob));

    ASSERT_OK(
        store.set_override("carol@customer.example", RecipientOverride::no_sign, kT0 + 10800));
    ASSERT_OK(store.set_opt_out("carol@customer.example", true, kT0 + 10800));
}

constexpr const char* kStats =
    "addresses            3\n"
    "supported            1\n"
    "unsupported          1\n"
    "unknown              1\n"
    "opted out            1\n"
    "overridden           1\n"
    "\n"
    "CLIENT                            S/MIME       ADDRESSES\n"
    "Gmail                             unsupported          1\n"
    "Thunderbird                       supported            1\n";

class RecipientsCli : public ::testing::Test {
  protected:
    static void TearDownTestSuite() { s_pg.stop(); }

    void SetUp() override {
        cert = make_certificate(tmp.path());
        auto store = RecipientStore::open(url);
        ASSERT_OK(store);
        populate(**store, cert);
    }

    // `ribbon recipients ARGS --store URL`, with no configuration file
    // (RIBBON_CONFIG names one that does not exist) unless ARGS gives -c.
    ProcessResult ribbon(std::vector<std::string> args, const std::string& store_url = "") const {
        std::vector<std::string> argv = {ribbon_binary(), "recipients"};
        argv.insert(argv.end(), args.begin(), args.end());
        if (store_url != "none") {
            argv.push_back("--store");
            argv.push_back(store_url.empty() ? url : store_url);
        }
        ProcessOptions options;
        options.env = {{"RIBBON_CONFIG", (tmp / "absent.toml").string()}};
        return run_process(argv, options);
    }

    static SuitePostgres s_pg;
    TempDir tmp{"ribbon-recipients-cli"};
    std::string url = "sqlite://" + (tmp / "ribbon.db").string();
    OpensslCertificate cert;
};

SuitePostgres RecipientsCli::s_pg;

TEST_F(RecipientsCli, ListPrintsOneAlignedLinePerAddress) {
    const std::string header =
        "ADDRESS                           CAPABILITY   CONF  MESSAGES  LAST SEEN             "
        "OVERRIDE  OPT-OUT  "
        "CLIENT\n";
    const std::string alice =
        "alice@customer.example            supported    1.00         2  2023-11-14T23:13:20Z  none "
        "     no       "
        "Thunderbird\n";
    const std::string bob =
        "bob@customer.example              unsupported  0.70         1  2023-11-15T00:13:20Z  none "
        "     no       "
        "Gmail\n";
    const std::string carol =
        "carol@customer.example            unknown      0.00         0  2023-11-15T01:13:20Z  "
        "no-sign   yes      -\n";
    ProcessResult r = ribbon({"list"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, header + alice + bob + carol);
    EXPECT_EQ(r.err, "");

    r = ribbon({"list", "--capability", "unsupported"});
    EXPECT_EQ(r.out, header + bob) << r.describe();
    r = ribbon({"list", "--opted-out"});
    EXPECT_EQ(r.out, header + carol) << r.describe();
    r = ribbon({"list", "--limit", "2"});
    EXPECT_EQ(r.out, header + alice + bob) << r.describe();
    r = ribbon({"list", "--capability", "capable"});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    r = ribbon({"list", "--limit", "0"});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
}

TEST_F(RecipientsCli, ShowPrintsTheWholeRecordAndTheCertificateAsOpensslWroteIt) {
    const std::string sha = sha256_hex(cert.der);
    const std::string text =
        "address            alice@customer.example\n"
        "first seen         2023-11-14T22:13:20Z\n"
        "last seen          2023-11-14T23:13:20Z\n"
        "messages           2\n"
        "capability         supported (confidence 1.00)\n"
        "evidence           signed message\n"
        "override           none\n"
        "opted out          no\n"
        "sealing            auto\n"
        "clients            1\n"
        "  Thunderbird 115.3.1\n"
        "    S/MIME         supported\n"
        "    messages       2\n"
        "    first seen     2023-11-14T22:13:20Z\n"
        "    last seen      2023-11-14T23:13:20Z\n"
        "    evidence       User-Agent: Mozilla/5.0 Thunderbird/115.3.1\n"
        "certificates       1\n"
        "  sha256 " +
        sha +
        "\n"
        "    subject        CN=c,emailAddress=c@example.com\n"
        "    issuer         CN=c,emailAddress=c@example.com\n"
        "    serial         01\n"
        "    not after      2030-03-17T17:46:40Z\n"
        "    capabilities   aes256-cbc aes128-gcm\n"
        "    first seen     2023-11-14T23:13:20Z\n"
        "    last seen      2023-11-14T23:13:20Z\n"
        "    bound          no: never sealed to\n";
    // The address is found whatever its case and surrounding space.
    ProcessResult r = ribbon({"show", " ALICE@customer.example "});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, text);

    r = ribbon({"show", "alice@customer.example", "--pem"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, text + cert.pem);
}

TEST_F(RecipientsCli, ShowJsonHasEveryField) {
    ProcessResult r = ribbon({"show", "alice@customer.example", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const json j = json::parse(r.out);
    EXPECT_EQ(j["address"], "alice@customer.example");
    EXPECT_EQ(j["first_seen"], "2023-11-14T22:13:20Z");
    EXPECT_EQ(j["last_seen"], "2023-11-14T23:13:20Z");
    EXPECT_EQ(j["message_count"], 2);
    EXPECT_EQ(j["capability"], "supported");
    EXPECT_EQ(j["confidence"], 1.0);
    EXPECT_EQ(j["capability_evidence"], "signed message");
    EXPECT_EQ(j["override"], "none");
    EXPECT_EQ(j["opted_out"], false);
    ASSERT_EQ(j["clients"].size(), 1u);
    const json& c = j["clients"][0];
    EXPECT_EQ(c["name"], "Thunderbird");
    EXPECT_EQ(c["version"], "115.3.1");
    EXPECT_EQ(c["evidence"], "User-Agent: Mozilla/5.0 Thunderbird/115.3.1");
    EXPECT_EQ(c["smime"], "supported");
    EXPECT_EQ(c["count"], 2);
    EXPECT_EQ(c["first_seen"], "2023-11-14T22:13:20Z");
    EXPECT_EQ(c["last_seen"], "2023-11-14T23:13:20Z");
    ASSERT_EQ(j["certificates"].size(), 1u);
    const json& h = j["certificates"][0];
    EXPECT_EQ(h["sha256"], sha256_hex(cert.der));
    EXPECT_EQ(h["subject"], "CN=c,emailAddress=c@example.com");
    EXPECT_EQ(h["issuer"], "CN=c,emailAddress=c@example.com");
    EXPECT_EQ(h["serial"], "01");
    EXPECT_EQ(h["not_after"], "2030-03-17T17:46:40Z");
    EXPECT_EQ(h["capabilities"], json({"aes256-cbc", "aes128-gcm"}));
    EXPECT_EQ(h["first_seen"], "2023-11-14T23:13:20Z");
    EXPECT_EQ(h["last_seen"], "2023-11-14T23:13:20Z");
    EXPECT_EQ(h["der"], pem_body(cert.pem));
    EXPECT_EQ(h["bound"], false);
    EXPECT_EQ(j["seal"], "auto");
    EXPECT_TRUE(j["seal_certificate"].is_null());
    EXPECT_EQ(h["pem"], cert.pem);
}

TEST_F(RecipientsCli, ExportCsvIsExactRfc4180) {
    ProcessResult r = ribbon({"export", "--format", "csv"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(
        r.out,
        "address,first_seen,last_seen,message_count,capability,confidence,capability_evidence,"
        "override,"
        "opted_out,clients,certificates\r\n"
        "alice@customer.example,2023-11-14T22:13:20Z,2023-11-14T23:13:20Z,2,supported,1,signed "
        "message,none,"
        "false,Thunderbird," +
            sha256_hex(cert.der) +
            "\r\n"
            "bob@customer.example,2023-11-15T00:13:20Z,2023-11-15T00:13:20Z,1,unsupported,0.7,"
            "\"boundary \"\"0000000000ab\"\", Message-ID @mail.gmail.com\",none,false,Gmail,\r\n"
            "carol@customer.example,2023-11-15T01:13:20Z,2023-11-15T01:13:20Z,0,unknown,0,,no-sign,"
            "true,,\r\n");
}

TEST_F(RecipientsCli, ExportJsonIsOneArrayWithFullDetail) {
    const fs::path out = tmp / "export.json";
    ProcessResult r = ribbon({"export", "--format", "json", "--output", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
    EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    const json j = json::parse(read_file(out));
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 3u);
    EXPECT_EQ(j[0]["address"], "alice@customer.example");
    ASSERT_EQ(j[0]["certificates"].size(), 1u);
    EXPECT_EQ(j[0]["certificates"][0]["der"], pem_body(cert.pem));
    EXPECT_FALSE(j[0]["certificates"][0].contains("pem"));
    EXPECT_EQ(j[0]["clients"][0]["count"], 2);
    EXPECT_EQ(j[1]["address"], "bob@customer.example");
    EXPECT_EQ(j[1]["capability_evidence"], kBobEvidence);
    EXPECT_EQ(j[1]["confidence"], 0.7);
    EXPECT_EQ(j[1]["clients"][0]["name"], "Gmail");
    EXPECT_EQ(j[1]["clients"][0]["version"], "");
    EXPECT_EQ(j[1]["certificates"], json::array());
    EXPECT_EQ(j[2]["address"], "carol@customer.example");
    EXPECT_EQ(j[2]["override"], "no-sign");
    EXPECT_EQ(j[2]["opted_out"], true);
    EXPECT_EQ(j[2]["message_count"], 0);

    // The same records on stdout, byte for byte.
    r = ribbon({"export", "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, read_file(out));
}

TEST_F(RecipientsCli, FailedExportLeavesNoFile) {
    const fs::path garbage = tmp / "garbage.db";
    write_file(garbage, std::string(8192, 'x'));
    const fs::path out = tmp / "export.csv";
    ProcessResult r =
        ribbon({"export", "--format", "csv", "-o", out.string()}, "sqlite://" + garbage.string());
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_NE(r.err.find("[store_corrupt]"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out.string() + ".tmp"));

    // An output file that cannot be created: 73, and nothing appears.
    const fs::path nowhere = tmp / "no-such-dir" / "export.csv";
    r = ribbon({"export", "--format", "csv", "-o", nowhere.string()});
    EXPECT_EQ(r.exit_code, 73) << r.describe();
    EXPECT_FALSE(fs::exists(nowhere.parent_path()));

    r = ribbon({"export"});
    EXPECT_EQ(r.exit_code, 64) << r.describe();
}

TEST_F(RecipientsCli, SetChangesTheStandingAndShowReflectsIt) {
    ProcessResult r = ribbon({"set", "Alice@Customer.Example", "--opaque", "--opt-out"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out,
              "alice@customer.example: override opaque, opt-out yes, capability supported\n");
    r = ribbon({"show", "alice@customer.example", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    json j = json::parse(r.out);
    EXPECT_EQ(j["override"], "opaque");
    EXPECT_EQ(j["opted_out"], true);
    EXPECT_EQ(j["message_count"], 2);  // learned data is untouched

    r = ribbon({"set", "alice@customer.example", "--clear"});
    EXPECT_EQ(r.out, "alice@customer.example: override none, opt-out yes, capability supported\n");
    r = ribbon({"set", "alice@customer.example", "--opt-in"});
    EXPECT_EQ(r.out, "alice@customer.example: override none, opt-out no, capability supported\n");

    // A new address is created by a decision.
    r = ribbon({"set", "dave@customer.example", "--sign"});
    EXPECT_EQ(r.out, "dave@customer.example: override sign, opt-out no, capability unknown\n")
        << r.describe();

    // Usage: no flag, two overrides, both opt flags.
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"set", "alice@customer.example"},
          {"set", "alice@customer.example", "--sign", "--no-sign"},
          {"set", "alice@customer.example", "--clear", "--opaque"},
          {"set", "alice@customer.example", "--opt-out", "--opt-in"}}) {
        r = ribbon(args);
        EXPECT_EQ(r.exit_code, 64) << args.back() << ": " << r.describe();
        EXPECT_EQ(r.out, "");
    }
}

TEST_F(RecipientsCli, ForgetErasesAndIsNotAnErrorTwice) {
    ProcessResult r = ribbon({"forget", "ALICE@customer.example"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "forgot alice@customer.example\n");
    r = ribbon({"show", "alice@customer.example"});
    EXPECT_EQ(r.exit_code, 66) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "ribbon recipients show: nothing stored for alice@customer.example\n");
    r = ribbon({"forget", "alice@customer.example"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "nothing stored for alice@customer.example\n");
    r = ribbon({"stats", "--json"});
    EXPECT_EQ(json::parse(r.out)["total"], 2) << r.describe();
}

TEST_F(RecipientsCli, BadAddressesAreUsageErrors) {
    for (const char* command : {"show", "forget", "set"}) {
        for (const char* address : {"alice", "", "@customer.example", "a b@customer.example"}) {
            std::vector<std::string> args = {command, address};
            if (std::string(command) == "set") args.push_back("--sign");
            ProcessResult r = ribbon(args);
            EXPECT_EQ(r.exit_code, 64) << command << " \"" << address << "\": " << r.describe();
            EXPECT_NE(r.err.find("is not an email address"), std::string::npos) << r.err;
            EXPECT_EQ(r.out, "");
        }
    }
}

TEST_F(RecipientsCli, StoreErrorsHaveTheirExitCodes) {
    // A SQLite store whose directory is missing is a configuration error.
    ProcessResult r = ribbon({"stats"}, "sqlite://" + (tmp / "missing" / "ribbon.db").string());
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("[bad_config]"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp / "missing"));
    // No store at all: a configuration that names none, and no --store.
    const fs::path config = tmp / "ribbon.toml";
    write_file(config, "[store]\nurl = \"\"\n");
    r = ribbon({"-c", config.string(), "list"}, "none");
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_NE(r.err.find("no store"), std::string::npos) << r.err;
    // A server that is not there is temporary.
    r = ribbon({"stats"}, "postgresql://ribbon@127.0.0.1:1/ribbon");
    EXPECT_EQ(r.exit_code, 75) << r.describe();
    EXPECT_NE(r.err.find("[store_unavailable]"), std::string::npos) << r.err;
}

TEST_F(RecipientsCli, StoreOptionOverridesTheConfiguration) {
    const fs::path config = tmp / "ribbon.toml";
    write_file(config, "[store]\nurl = \"" + url + "\"\n");
    // The configuration's store is used...
    ProcessResult r = ribbon({"-c", config.string(), "show", "bob@customer.example"}, "none");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    // ...unless --store names another (empty) one.
    const std::string other = "sqlite://" + (tmp / "other.db").string();
    r = ribbon({"-c", config.string(), "show", "bob@customer.example"}, other);
    EXPECT_EQ(r.exit_code, 66) << r.describe();
    // A configuration file that is not valid is 78 even with --store.
    write_file(config, "[store]\nurl = 5\n");
    r = ribbon({"-c", config.string(), "stats"}, other);
    EXPECT_EQ(r.exit_code, 78) << r.describe();
}

TEST_F(RecipientsCli, StatsTotalsAndClients) {
    ProcessResult r = ribbon({"stats"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, kStats);
    r = ribbon({"stats", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const json j = json::parse(r.out);
    EXPECT_EQ(j, json::parse(
                     R"({"total": 3, "supported": 1, "unsupported": 1, "unknown": 1, "opted_out": 1,
        "overridden": 1, "clients": [{"name": "Gmail", "smime": "unsupported", "addresses": 1},
                                      {"name": "Thunderbird", "smime": "supported", "addresses": 1}]})"));
}

// Client names come from customers' mail: a terminal escape in one is
// printed harmlessly, and JSON carries it exactly.
TEST_F(RecipientsCli, ControlCharactersFromMailAreEscapedForTerminals) {
    {
        auto store = RecipientStore::open(url);
        ASSERT_OK(store);
        Observation o;
        o.address = "eve@customer.example";
        o.time = kT0;
        o.client =
            ClientSighting{"Evil\x1b[2J\nClient", "", "X-Mailer: \xc2\x9b", SmimeSupport::unknown};
        ASSERT_OK((*store)->record(o));
    }
    ProcessResult r = ribbon({"list", "--limit", "10"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("  Evil\\x1b[2J\\x0aClient\n"), std::string::npos) << r.out;
    r = ribbon({"show", "eve@customer.example", "--json"});
    EXPECT_EQ(json::parse(r.out)["clients"][0]["name"], "Evil\x1b[2J\nClient") << r.describe();
}

// OWASP "CSV Injection": a cell a spreadsheet would run as a formula (it
// starts with = + - @, TAB or CR) gets a leading single quote and quotes.
TEST_F(RecipientsCli, ExportCsvNeutralisesFormulaCells) {
    const std::string other = "sqlite://" + (tmp / "formula.db").string();
    {
        auto store = RecipientStore::open(other);
        ASSERT_OK(store);
        Observation o;
        o.address = "=cmd@customer.example";
        o.time = kT0;
        o.client = ClientSighting{"=HYPERLINK(\"http://evil.example\")", "", "X-Mailer: x",
                                  SmimeSupport::unknown};
        o.capability_evidence = "-2+3";
        ASSERT_OK((*store)->record(o));
        o.address = "plain@customer.example";
        o.client = ClientSighting{"@SUM(1)", "", "X-Mailer: y", SmimeSupport::unknown};
        o.capability_evidence = "\t+1";
        ASSERT_OK((*store)->record(o));
    }
    const ProcessResult r = ribbon({"export", "--format", "csv"}, other);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out,
              "address,first_seen,last_seen,message_count,capability,confidence,"
              "capability_evidence,override,opted_out,clients,certificates\r\n"
              "\"'=cmd@customer.example\",2023-11-14T22:13:20Z,2023-11-14T22:13:20Z,1,unknown,0,"
              "\"'-2+3\",none,false,\"'=HYPERLINK(\"\"http://evil.example\"\")\",\r\n"
              "plain@customer.example,2023-11-14T22:13:20Z,2023-11-14T22:13:20Z,1,unknown,0,"
              "\"'\t+1\",none,false,\"'@SUM(1)\",\r\n");
}

// Internationalised domains: stored in A-labels whichever form came in,
// found by either, shown in Unicode only when safe (ribbon/mail_text.hpp).
TEST_F(RecipientsCli, InternationalisedDomainsAreStoredOnceAndShownSafely) {
    const std::string other = "sqlite://" + (tmp / "idn.db").string();
    {
        auto store = RecipientStore::open(other);
        ASSERT_OK(store);
        Observation o;
        o.time = kT0;
        o.address = "anna@b\xd0\xb0nk.example";  // Cyrillic а
        ASSERT_OK((*store)->record(o));
        o.address = "ben@xn--bcher-kva.example";
        ASSERT_OK((*store)->record(o));
    }
    ProcessResult r = ribbon({"list"}, other);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\nanna@xn--bnk-6cd.example  "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nben@b\xc3\xbc"
                         "cher.example  "),
              std::string::npos)
        << r.out;
    r = ribbon({"show", "anna@xn--bnk-6cd.example"}, other);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("address            anna@xn--bnk-6cd.example\n"), std::string::npos)
        << r.out;
    r = ribbon({"show",
                "ben@b\xc3\xbc"
                "cher.example",
                "--json"},
               other);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(json::parse(r.out)["address"], "ben@xn--bcher-kva.example");
    r = ribbon({"export", "--format", "csv"}, other);
    EXPECT_NE(r.out.find("\r\nanna@xn--bnk-6cd.example,"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\r\nben@b\xc3\xbc"
                         "cher.example,"),
              std::string::npos)
        << r.out;
}

TEST_F(RecipientsCli, StatsOverPostgresql) {
    SKIP_OR_FAIL_WITHOUT_POSTGRES(s_pg);
    const std::string pg = s_pg.fresh_url();
    {
        auto store = RecipientStore::open(pg);
        ASSERT_OK(store);
        populate(**store, cert);
    }
    ProcessResult r = ribbon({"stats"}, pg);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, kStats);
}

}  // namespace
}  // namespace ribbon::test
