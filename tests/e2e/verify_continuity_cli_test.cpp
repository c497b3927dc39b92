// `ribbon verify` with a store (docs/RECEIVING.md, docs/CLI.md): the real
// binary judges each valid signature for key continuity and lookalike
// senders against a SQLite store in a TempDir, with the exact text lines
// and JSON members for first, known, a message verified again, --no-record
// (read-only, checked with `ribbon senders show --json`) and a lookalike;
// a store that cannot be reached is a warning on stderr and "unavailable"
// in JSON, never another exit code; a bad configuration file is exit 78.
// Messages are signed by `openssl cms` under the customers' CA.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/inbound_rig.hpp"
#include "support/pki.hpp"  // ribbon_binary
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The SHA-256 of the certificate's SubjectPublicKeyInfo, by openssl.
std::string spki_sha256(const Issued& who) {
    const std::string pub = tool({"openssl", "x509", "-in", who.cert.string(), "-noout", "-pubkey"});
    TempDir tmp("ribbon-spki");
    write_file(tmp / "pub.pem", pub);
    tool({"openssl", "pkey", "-pubin", "-in", (tmp / "pub.pem").string(), "-outform", "DER", "-out",
          (tmp / "pub.der").string()});
    const std::string sum = tool({"sha256sum", (tmp / "pub.der").string()});
    return sum.substr(0, 64);
}

// The lines of `out` that the store adds: "continuity: ..." and "lookalike: ...".
std::string memory_lines(const std::string& out) {
    std::string lines;
    std::size_t pos = 0;
    while (pos < out.size()) {
        std::size_t end = out.find('\n', pos);
        end = end == std::string::npos ? out.size() : end + 1;
        const std::string line = out.substr(pos, end - pos);
        if (line.rfind("continuity: ", 0) == 0 || line.rfind("lookalike: ", 0) == 0) lines += line;
        pos = end;
    }
    return lines;
}

struct VerifyRig {
    TempDir dir{"ribbon-verify-continuity"};
    fs::path ca = dir / "ca.pem";
    std::string store = "sqlite://" + (dir / "ribbon.db").string();
    VerifyRig() { write_file(ca, read_file(customers().ca.root().cert)); }

    fs::path message(const Issued& signer, const std::string& id, const std::string& from = kAlice) {
        const fs::path p = dir / (id + ".eml");
        if (!fs::exists(p)) write_file(p, openssl_signed(customer_headers(from, id), customer_content(), signer));
        return p;
    }
    ProcessResult verify(const fs::path& msg, std::vector<std::string> extra = {}) const {
        std::vector<std::string> argv = {ribbon_binary(), "verify", "--ca", ca.string()};
        bool has_store = false;
        for (const auto& e : extra) has_store = has_store || e == "--store" || e == "-c";
        if (!has_store) argv.insert(argv.end(), {"--store", store});
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back(msg.string());
        return run_process(argv);
    }
    json verify_json(const fs::path& msg, std::vector<std::string> extra = {}) const {
        extra.push_back("--json");
        const ProcessResult r = verify(msg, extra);
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        return json::parse(r.out, nullptr, false);
    }
};

TEST(VerifyContinuityCli, FirstKnownCountedOnceNotRecordedLookalike) {
    VerifyRig v;
    const std::string today = utc_date_today();
    const std::string spki = spki_sha256(customers().alice);
    const json key1 = {{"spki_sha256", spki}, {"messages", 1}, {"first_seen", today}, {"last_seen", today}};

    json j = v.verify_json(v.message(customers().alice, "v1@customer.example"));
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["continuity"], json({{"verdict", "first"},
                                     {"detail", "First key seen for this address: no signed message from it was "
                                                "seen before."},
                                     {"recorded", true},
                                     {"already_counted", false},
                                     {"key", key1},
                                     {"previous", nullptr}}));
    EXPECT_EQ(j["lookalike"], nullptr);

    // The second message: the detail tells the history before it.
    ProcessResult r = v.verify(v.message(customers().alice, "v2@customer.example"));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(memory_lines(r.out),
              "continuity: known: Known key: seen once before, since " + today + ", last on " + today + ".\n");
    EXPECT_EQ(r.err, "");
    // The same file again: counted before, not again.
    r = v.verify(v.message(customers().alice, "v2@customer.example"));
    EXPECT_EQ(memory_lines(r.out), "continuity: known: Known key: seen 2 times before, since " + today + ", last on " +
                                       today + ". (this message was counted before)\n");
    // A new message, read only.
    r = v.verify(v.message(customers().alice, "v3@customer.example"), {"--no-record"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(memory_lines(r.out), "continuity: known: Known key: seen 2 times before, since " + today + ", last on " +
                                       today + ". (not recorded)\n");
    j = v.verify_json(v.message(customers().alice, "v3@customer.example"), {"--no-record"});
    json key2 = key1;
    key2["messages"] = 2;
    EXPECT_EQ(j["continuity"]["recorded"], false);
    EXPECT_EQ(j["continuity"]["already_counted"], false);
    EXPECT_EQ(j["continuity"]["key"], key2);
    const ProcessResult shown =
        run_process({ribbon_binary(), "senders", "show", "--json", "--store", v.store, kAlice});
    ASSERT_EQ(shown.exit_code, 0) << shown.describe();
    const json sender = json::parse(shown.out, nullptr, false);
    ASSERT_EQ(sender["keys"].size(), 1u) << shown.out;
    EXPECT_EQ(sender["keys"][0]["spki_sha256"], spki);
    EXPECT_EQ(sender["keys"][0]["messages"], 2);

    // customer.example is recorded: cust0mer.example imitates it.
    const Issued& zero = customers().cust0mer;
    const fs::path fake = v.message(zero, "v4@cust0mer.example", "x@cust0mer.example");
    const std::string resembles =
        "lookalike of customer.example (known signer, seen 2 times): \"cust0mer\" reads as \"customer\" "
        "(confusable characters, UTS #39)";
    r = v.verify(fake, {"--no-record"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(memory_lines(r.out),
              "continuity: first: First key seen for this address: no signed message from it was seen before. "
              "(not recorded)\nlookalike: " + resembles + "\n");
    // Recorded, it is still a lookalike (the index is read before this
    // message is recorded), and stays one.
    for (int i = 0; i < 2; ++i) {
        j = v.verify_json(fake);
        EXPECT_EQ(j["continuity"]["verdict"], i == 0 ? "first" : "known");
        EXPECT_EQ(j["continuity"]["already_counted"], i == 1);
        EXPECT_EQ(j["lookalike"], json({{"domain", "cust0mer.example"},
                                        {"resembles", "customer.example"},
                                        {"kind", "confusable"},
                                        {"own", false},
                                        {"seen", 2},
                                        {"detail", resembles}}))
            << i;
    }
}


// A configuration file's [store] and [[signer]] (-c): the bank's own
// domain is known from its signer patterns, so bank-example.com imitates it.
TEST(VerifyContinuityCli, ConfigFileGivesStoreAndOwnDomains) {
    VerifyRig v;
    const fs::path config = v.dir / "ribbon.toml";
    write_file(config, "[[signer]]\nfrom = \"*@bank.example\"\n\n[store]\nurl = \"" + v.store + "\"\n");
    const fs::path msg = v.message(customers().bank_hyphen, "c1@bank-example.com", "x@bank-example.com");
    const json j = v.verify_json(msg, {"-c", config.string()});
    EXPECT_EQ(j["continuity"]["verdict"], "first");
    EXPECT_EQ(j["continuity"]["recorded"], true);
    EXPECT_EQ(j["lookalike"]["domain"], "bank-example.com");
    EXPECT_EQ(j["lookalike"]["resembles"], "bank.example");
    EXPECT_EQ(j["lookalike"]["kind"], "hyphenation");
    EXPECT_EQ(j["lookalike"]["own"], true);
    EXPECT_EQ(j["lookalike"]["seen"], 0);
    // Recorded in the configured store.
    const ProcessResult shown =
        run_process({ribbon_binary(), "senders", "show", "--json", "--store", v.store, "x@bank-example.com"});
    EXPECT_EQ(shown.exit_code, 0) << shown.describe();
}

// A store that cannot be reached: the verdict and its exit code stand, the
// text says "unavailable", stderr warns, JSON says so. Nothing is judged
// for a signature that is not valid, so nothing is reached for it.
TEST(VerifyContinuityCli, UnreachableStoreIsAWarningNotAVerdict) {
    VerifyRig v;
    const fs::path msg = v.message(customers().alice, "u1@customer.example");
    const std::string missing_dir = (v.dir / "no-such-dir").string();
    const std::string sqlite_why = "key continuity: recipients store " + missing_dir +
                                   "/ribbon.db: the directory " + missing_dir +
                                   " does not exist (ribbon creates the file, not its directory)";
    ProcessResult r = v.verify(msg, {"--store", "sqlite://" + missing_dir + "/ribbon.db"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(memory_lines(r.out), "continuity: unavailable: " + sqlite_why + "\n");
    EXPECT_EQ(r.err, "ribbon verify: warning: " + sqlite_why + "\n");

    // Port 1 on the loopback: refused at once.
    const std::string pg = "postgresql://127.0.0.1:1/ribbon";
    r = v.verify(msg, {"--store", pg, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.err, "");  // JSON carries the warning
    const json j = json::parse(r.out, nullptr, false);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["continuity"]["verdict"], "unavailable");
    EXPECT_EQ(j["continuity"].size(), 2u);
    EXPECT_EQ(j["continuity"]["detail"].get<std::string>().rfind("key continuity: " + pg + ": cannot connect: ", 0), 0u)
        << j["continuity"];
    EXPECT_EQ(j["lookalike"], nullptr);
    r = v.verify(msg, {"--store", pg});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.err.rfind("ribbon verify: warning: key continuity: " + pg + ": cannot connect: ", 0), 0u) << r.err;

    // Tampered: exit 1 as without a store, and no warning.
    std::string tampered = read_file(msg);
    tampered.replace(tampered.find("Is my card ready?"), 17, "Is my card READY?");
    write_file(v.dir / "tampered.eml", tampered);
    r = v.verify(v.dir / "tampered.eml", {"--store", pg, "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    const json t = json::parse(r.out, nullptr, false);
    EXPECT_EQ(t["verdict"], "invalid");
    EXPECT_EQ(t["continuity"], nullptr);
    EXPECT_EQ(r.err, "");
}

// A configuration file that does not parse: exit 78 (EX_CONFIG), nothing
// verified, nothing on stdout.
TEST(VerifyContinuityCli, BadConfigFileIsExit78) {
    VerifyRig v;
    const fs::path config = v.dir / "bad.toml";
    write_file(config, "[store\nurl = 1\n");
    const ProcessResult r = v.verify(v.message(customers().alice, "b1@customer.example"), {"-c", config.string()});
    EXPECT_EQ(r.exit_code, 78) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("ribbon verify: " + config.string() + ":1", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("[bad_config]"), std::string::npos) << r.err;
    // A file that parses, with a store URL of a kind ribbon does not know.
    write_file(config, "[store]\nurl = \"mysql://x\"\n");
    const ProcessResult bad_url =
        v.verify(v.message(customers().alice, "b1@customer.example"), {"-c", config.string()});
    EXPECT_EQ(bad_url.exit_code, 78) << bad_url.describe();
    EXPECT_EQ(bad_url.err, "ribbon verify: " + config.string() +
                               ":2: store.url must be \"sqlite:///path\" or \"postgresql://...\" (or \"\" for none) "
                               "[bad_config]\n");
}


// [store] url = "" in the configuration file is "no store": no continuity
// at all, not a store failure warned about on every message.
TEST(VerifyContinuityCli, EmptyStoreUrlJudgesNothing) {
    VerifyRig v;
    const fs::path config = v.dir / "ribbon.toml";
    write_file(config, "[store]\nurl = \"\"\n");
    const fs::path msg = v.message(customers().alice, "e1@customer.example");
    ProcessResult r = v.verify(msg, {"-c", config.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(memory_lines(r.out), "");
    EXPECT_EQ(r.err, "");
    r = v.verify(msg, {"-c", config.string(), "--json"});
    const json j = json::parse(r.out, nullptr, false);
    EXPECT_EQ(j["continuity"], nullptr);
    EXPECT_EQ(j["lookalike"], nullptr);
    EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace ribbon::test
