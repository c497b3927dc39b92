// Hostile certificates and From fields on the receiving side (issue 15,
// "Bad input"): `ribbon verify --ca ROOT --store sqlite://... --json` and
// its text form on messages signed by `openssl cms` with certificates a
// sender chose: about 1 MB of subjectAltName, a chain of 110 intermediates,
// two intermediates that issued each other, control and bidirectional
// characters, invalid UTF-8 and a NUL in names and addresses; and From
// fields with 1,000 addresses, escapes, encoded-words and 100 KB. Each
// gets an exact verdict in bounded time and memory (/usr/bin/time's
// maximum resident set size of the ribbon process), text output without a
// raw control byte, and key continuity only for one valid From address.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/cert_maker.hpp"
#include "support/customers.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"  // ribbon_binary
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kAlice = "alice@bank.example";
// What a run may take: a verdict in seconds, not a hang; memory a small
// multiple of the message (about 1 MB), not unbounded.
constexpr double kMaxSeconds = 15;
constexpr long kMaxRssKb = 256 * 1024;

std::string headers(const std::string& from, const std::string& id) {
    return "From: " + from + "\nTo: support@bank.example\nSubject: Statement\nDate: " +
           rfc5322_date(std::time(nullptr) - 60) + "\nMessage-ID: <" + id + "@bank.example>\n";
}
const std::string kContent = "Content-Type: text/plain; charset=utf-8\n\nHello\n";

struct Hostile {
    CustomerCa ca;
    Issued alice = ca.issue("alice", "/CN=Alice", signing_extensions(kAlice), "0a11ce");
};
Hostile& hostile() {
    static Hostile h;
    return h;
}

// A name entry as raw bytes of an ASN.1 string type (V_ASN1_UTF8STRING,
// V_ASN1_BMPSTRING, ...): OpenSSL stores them unchecked, as a sender can.
struct RawEntry {
    int nid;
    int type;
    std::string bytes;
};

// A leaf issued by the customers' root with `subject` and `emails` (raw
// rfc822Names) as given, for S/MIME signing. cert_maker builds it; the
// subject is replaced and the certificate signed again by the root.
Issued raw_leaf(const std::string& stem, const std::vector<RawEntry>& subject, const std::vector<std::string>& emails,
                long serial) {
    CertSpec spec;
    spec.serial = serial;
    for (const auto& e : emails) spec.san.emplace_back(GEN_EMAIL, e);
    spec.key_usage = "critical,digitalSignature";
    spec.extended_key_usage = "emailProtection";
    spec.not_before = openssl_time(std::time(nullptr) - 86400);
    MadeCert made = make_self_signed(spec);
    std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> name(X509_NAME_new(), &X509_NAME_free);
    for (const auto& e : subject) {
        if (X509_NAME_add_entry_by_NID(name.get(), e.nid, e.type,
                                       reinterpret_cast<const unsigned char*>(e.bytes.data()),
                                       static_cast<int>(e.bytes.size()), -1, 0) != 1) {
            throw std::runtime_error("raw_leaf: subject entry");
        }
    }
    const std::string root_pem = read_file(hostile().ca.root().cert);
    const std::string root_key_pem = read_file(hostile().ca.root().key);
    std::unique_ptr<BIO, decltype(&BIO_free)> rb(BIO_new_mem_buf(root_pem.data(), static_cast<int>(root_pem.size())),
                                                 &BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> root(PEM_read_bio_X509(rb.get(), nullptr, nullptr, nullptr), &X509_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(
        BIO_new_mem_buf(root_key_pem.data(), static_cast<int>(root_key_pem.size())), &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr),
                                                            &EVP_PKEY_free);
    if (!root || !key || X509_set_subject_name(made.cert, name.get()) != 1 ||
        X509_set_issuer_name(made.cert, X509_get_subject_name(root.get())) != 1 ||
        X509_sign(made.cert, key.get(), EVP_sha256()) <= 0) {
        throw std::runtime_error("raw_leaf: cannot issue");
    }
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_X509(out.get(), made.cert);
    char* data = nullptr;
    const long len = BIO_get_mem_data(out.get(), &data);
    Issued issued{hostile().ca.dir() / (stem + ".key"), hostile().ca.dir() / (stem + ".pem")};
    write_file(issued.key, made.key_pem);
    write_file(issued.cert, std::string(data, static_cast<std::size_t>(len)));
    return issued;
}

const std::string kCaExtensions =
    "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n";

struct Timed {
    ProcessResult process;
    double seconds = 0;
    long max_rss_kb = -1;
};

class HostileCerts : public ::testing::Test {
  protected:
    // `ribbon ARGS` under /usr/bin/time, which writes the child's maximum
    // resident set size (KB) to a file of its own.
    Timed ribbon(const std::vector<std::string>& args) const {
        std::vector<std::string> argv = {"/usr/bin/time", "-f", "%M", "-o", (tmp / "rss").string(), ribbon_binary()};
        argv.insert(argv.end(), args.begin(), args.end());
        ProcessOptions options;
        options.env = {{"RIBBON_CONFIG", (tmp / "absent.toml").string()}};
        options.timeout = std::chrono::seconds(120);
        const auto start = std::chrono::steady_clock::now();
        Timed r;
        r.process = run_process(argv, options);
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string rss = read_file(tmp / "rss");
        r.max_rss_kb = std::stol(rss.substr(rss.find_last_of('\n', rss.size() - 2) + 1));
        return r;
    }

    // `ribbon verify` of `message`: JSON when `as_json`, else text; the
    // message is recorded in the store unless `record` is false.
    Timed verify(const std::string& message, bool as_json, bool record = true) const {
        write_file(tmp / "message.eml", message);
        std::vector<std::string> args = {"verify", "--ca", hostile().ca.root().cert.string(), "--store", url};
        if (as_json) args.push_back("--json");
        if (!record) args.push_back("--no-record");
        args.push_back((tmp / "message.eml").string());
        return ribbon(args);
    }

    // The JSON report, after checking the run was bounded and exited with
    // `exit_code` (0 valid, 1 not valid).
    json report(const std::string& message, int exit_code, bool record = true) const {
        Timed r = verify(message, true, record);
        EXPECT_EQ(r.process.exit_code, exit_code) << r.process.describe();
        expect_bounded(r);
        json j = json::parse(r.process.out, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << r.process.out.substr(0, 2000);
        return j;
    }

    // The text report: bounded, and no byte that drives a terminal.
    std::string text(const std::string& message, int exit_code) const {
        Timed r = verify(message, false, false);
        EXPECT_EQ(r.process.exit_code, exit_code) << r.process.describe();
        expect_bounded(r);
        expect_terminal_safe(r.process.out);
        return r.process.out;
    }

    static void expect_bounded(const Timed& r) {
        EXPECT_LT(r.seconds, kMaxSeconds);
        EXPECT_GT(r.max_rss_kb, 0);
        EXPECT_LT(r.max_rss_kb, kMaxRssKb);
    }

    // No C0 control but the line feed, no DEL, no C1 control (U+0080..9F
    // in UTF-8) and no bidirectional override: what terminal_safe leaves.
    static void expect_terminal_safe(const std::string& out) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            const auto c = static_cast<unsigned char>(out[i]);
            ASSERT_TRUE(c == '\n' || (c >= 0x20 && c != 0x7f)) << "byte " << i << ": " << out.substr(0, 3000);
            ASSERT_FALSE(c == 0xc2 && i + 1 < out.size() && static_cast<unsigned char>(out[i + 1]) < 0xa0)
                << "C1 control at " << i;
        }
        EXPECT_EQ(out.find("\xe2\x80\xae"), std::string::npos);
    }

    TempDir tmp{"ribbon-hostile-certs"};
    std::string url = "sqlite://" + (tmp / "ribbon.db").string();
};

// ---- (a) a certificate of about 1 MB ----------------------------------------

// 30,000 rfc822Names and the sender's own last: verified, and recorded,
// in bounded time and memory; with 1,000 of those names in From as well
// (every pair compared used to take 45 s), valid but no continuity.
TEST_F(HostileCerts, MegabyteOfSubjectAltNames) {
    std::string sans = "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
                       "extendedKeyUsage = emailProtection\nsubjectAltName = ";
    for (int i = 0; i < 30000; ++i) sans += "email:a" + std::to_string(100000 + i) + "@bank.example,";
    sans += std::string("email:") + kAlice + "\n";
    const Issued big = hostile().ca.issue("big", "/CN=Big", sans, "b16");
    ASSERT_GT(read_file(big.cert).size(), 800'000u);

    const std::string one = openssl_signed(headers(kAlice, "big1"), kContent, big);
    json j = report(one, 0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["signer"]["addresses"].size(), 30001u);
    EXPECT_EQ(j["signer"]["addresses"].back(), kAlice);
    EXPECT_EQ(j["continuity"]["verdict"], "first");
    EXPECT_EQ(j["continuity"]["recorded"], true);
    const std::string t = text(one, 0);
    EXPECT_NE(t.find("verdict: valid\n"), std::string::npos) << t.substr(0, 500);

    std::string from;
    for (int i = 0; i < 1000; ++i) from.append("a").append(std::to_string(129000 + i)).append("@bank.example, ");
    from += kAlice;
    j = report(openssl_signed(headers(from, "big2"), kContent, big), 0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["from_addresses"].size(), 1001u);
    EXPECT_EQ(j["continuity"], nullptr);
    // One From address outside the certificate: not valid, as quickly.
    j = report(openssl_signed(headers(from + ", mallory@evil.example", "big3"), kContent, big), 1);
    EXPECT_EQ(j["verdict"], "invalid");
    EXPECT_EQ(j["reason"], "from_not_in_certificate");
    EXPECT_EQ(j["continuity"], nullptr);
}

// ---- (b) a long chain, (c) a loop ---------------------------------------------

// 110 intermediates, all in the message. OpenSSL's default depth limit
// (100) ends the path: untrusted, naming the limit. A leaf 50 below the
// root is within it: valid.
TEST_F(HostileCerts, ChainOfOneHundredTenIntermediates) {
    std::vector<Issued> chain;
    for (int i = 0; i < 110; ++i) {
        chain.push_back(hostile().ca.issue("deep" + std::to_string(i), "/CN=Deep " + std::to_string(i), kCaExtensions,
                                           std::string("d").append(std::to_string(1000 + i)), i == 0 ? nullptr : &chain.back()));
    }
    std::vector<fs::path> certs;
    for (const auto& c : chain) certs.push_back(c.cert);
    const Issued deep = hostile().ca.issue("deep-leaf", "/CN=Deep Leaf", signing_extensions(kAlice), "dee1", &chain.back());
    json j = report(openssl_signed(headers(kAlice, "deep1"), kContent, deep, {false, certs}), 1);
    EXPECT_EQ(j["verdict"], "invalid");
    EXPECT_EQ(j["reason"], "untrusted");
    EXPECT_EQ(j["detail"].get<std::string>().rfind("certificate chain too long", 0), 0u) << j["detail"];
    EXPECT_EQ(j["continuity"], nullptr);

    const Issued shallow =
        hostile().ca.issue("shallow-leaf", "/CN=Shallow Leaf", signing_extensions(kAlice), "dee2", &chain[49]);
    j = report(openssl_signed(headers(kAlice, "deep2"), kContent, shallow, {false, certs}), 0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["signer"]["chain"].size(), 52u);  // leaf, 50 intermediates, root
}

// A issued by B and B issued by A, both in the message, the leaf issued by
// A: no path reaches the root. Untrusted, at once.
TEST_F(HostileCerts, TwoIntermediatesThatIssuedEachOther) {
    const CustomerCa& ca = hostile().ca;
    // B's key first, in a certificate of its own (not in the message), so
    // that A can be issued by "CN=Loop B" before B exists.
    const Issued b0 = ca.issue("loop-b0", "/CN=Loop B", kCaExtensions, "b0");
    const Issued a = ca.issue("loop-a", "/CN=Loop A", kCaExtensions, "a1", &b0);
    const Issued b{b0.key, ca.dir() / "loop-b.pem"};
    write_file(ca.dir() / "loop-b.ext", kCaExtensions);
    tool({"openssl", "req", "-new", "-config", (ca.dir() / "req.cnf").string(), "-key", b.key.string(), "-subj",
          "/CN=Loop B", "-out", (ca.dir() / "loop-b.csr").string()});
    tool({"openssl", "x509", "-req", "-in", (ca.dir() / "loop-b.csr").string(), "-CA", a.cert.string(), "-CAkey",
          a.key.string(), "-set_serial", "0xb1", "-days", "30", "-extfile", (ca.dir() / "loop-b.ext").string(), "-out",
          b.cert.string()});
    const Issued leaf = ca.issue("loop-leaf", "/CN=Loop Leaf", signing_extensions(kAlice), "1eaf", &a);
    const std::string message = openssl_signed(headers(kAlice, "loop"), kContent, leaf, {false, {a.cert, b.cert}});
    json j = report(message, 1);
    EXPECT_EQ(j["verdict"], "invalid");
    EXPECT_EQ(j["reason"], "untrusted");
    EXPECT_EQ(j["continuity"], nullptr);
    const std::string t = text(message, 1);
    EXPECT_NE(t.find("reason: untrusted\n"), std::string::npos) << t;
}

// ---- (d) odd encodings in subject and subjectAltName ----------------------------

// "Alice", ESC [2J (clear screen), U+202E (right-to-left override) and a C1
// CSI (U+009B) in the CN, a UTF-8 CN.
const std::string kEvilCn = "Alice \x1b[2J\xe2\x80\xae\xc2\x9b" "1m";

// Control and bidirectional characters in the CN, and an rfc822Name with
// them next to the sender's own: valid (the From address is in the
// certificate), recorded, and every place that shows the subject or the
// addresses escapes them: verify's text, senders list and show.
TEST_F(HostileCerts, ControlCharactersInSubjectAndAddressesAreEscaped) {
    const Issued leaf = raw_leaf("evil-cn", {{NID_commonName, V_ASN1_UTF8STRING, kEvilCn}},
                                 {"x\x1b[2J\xe2\x80\xae@bank.example", kAlice}, 0xe1);
    const std::string message = openssl_signed(headers(kAlice, "evil-cn"), kContent, leaf);
    json j = report(message, 0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["continuity"]["verdict"], "first");
    // JSON carries the text as it is (escaped by JSON itself); OpenSSL's
    // RFC 2253 form already writes the ESC as \1B.
    EXPECT_EQ(j["signer"]["subject"], "CN=Alice \\1B[2J\xe2\x80\xae\xc2\x9b" "1m");
    EXPECT_EQ(j["signer"]["addresses"][0], "x\x1b[2J\xe2\x80\xae@bank.example");
    const std::string t = text(message, 0);
    EXPECT_NE(t.find("signer: CN=Alice \\1B[2J\\u202e\\u009b1m\n"), std::string::npos) << t;
    EXPECT_NE(t.find("signer addresses: x\\x1b[2J\\u202e@bank.example, alice@bank.example\n"), std::string::npos)
        << t;

    Timed list = ribbon({"senders", "list", "--store", url});
    EXPECT_EQ(list.process.exit_code, 0) << list.process.describe();
    expect_terminal_safe(list.process.out);
    EXPECT_NE(list.process.out.find(kAlice), std::string::npos) << list.process.out;
    Timed show = ribbon({"senders", "show", kAlice, "--store", url});
    EXPECT_EQ(show.process.exit_code, 0) << show.process.describe();
    expect_terminal_safe(show.process.out);
    EXPECT_NE(show.process.out.find("subject    CN=Alice \\1B[2J\\u202e\\u009b1m\n"), std::string::npos)
        << show.process.out;
}

// A quoted local part with an escape in it, in From and in the
// certificate: the same address, so valid, and escaped in the text. The
// store refuses such an address: no continuity (null, not "unavailable",
// which the milter would stamp temperror), nothing recorded.
TEST_F(HostileCerts, AnAddressWithAnEscapeGetsNoContinuity) {
    const std::string address = "\"a\x1b[2Jb\"@bank.example";
    const Issued leaf = raw_leaf("esc-address", {{NID_commonName, V_ASN1_UTF8STRING, "Esc"}}, {address}, 0xe2);
    const std::string message = openssl_signed(headers(address, "esc-address"), kContent, leaf);
    json j = report(message, 0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["from_addresses"], json::array({address}));
    EXPECT_EQ(j["continuity"], nullptr);
    const std::string t = text(message, 0);
    EXPECT_NE(t.find("from: \"a\\x1b[2Jb\"@bank.example (in certificate)\n"), std::string::npos) << t;
    EXPECT_EQ(t.find("continuity:"), std::string::npos) << t;
    Timed list = ribbon({"senders", "list", "--store", url});
    EXPECT_EQ(list.process.exit_code, 0) << list.process.describe();
    EXPECT_EQ(list.process.out,
              "ADDRESS                           KEYS  MESSAGES  FIRST SEEN            LAST SEEN             "
              "CURRENT KEY\n");
}

// Strings that are not what their type says: a BMPString of ESC, U+202E
// and "B", an rfc822Name with bytes over 0x7F that are not UTF-8: a
// verdict, JSON that parses (invalid UTF-8 replaced by U+FFFD; it used to
// abort `ribbon verify --json`), text escaped. A UTF8String that is not
// UTF-8, a BMPString of odd length or with a lone surrogate in a name
// make OpenSSL refuse the whole certificate (it cannot even build one),
// and so the SignedData: the CN "AlQQice" patched to "Al\xff\xfeice" in
// the message makes it unreadable, exit 3.
// A clear verdict, JSON that parses (invalid UTF-8 replaced), text escaped.
TEST_F(HostileCerts, InvalidUtf8AndBmpStringsInTheCertificate) {
    const Issued leaf = raw_leaf("bad-strings",
                                 {{NID_commonName, V_ASN1_UTF8STRING, "AlQQice"},
                                  {NID_organizationName, V_ASN1_BMPSTRING, std::string("\x00\x1b\x20\x2e\x00" "B", 6)}},
                                 {"b\xff\xc3@bank.example", kAlice}, 0xe3);
    const std::string message = openssl_signed(headers(kAlice, "bad-strings"), kContent, leaf);
    json j = report(message, 0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["signer"]["addresses"][0], "b\xef\xbf\xbd\xef\xbf\xbd@bank.example");
    const std::string t = text(message, 0);
    EXPECT_NE(t.find("verdict: valid\n"), std::string::npos) << t;
    EXPECT_NE(t.find("signer: O=\\1B\\u202eB,CN=AlQQice\n"), std::string::npos) << t;
    // terminal_safe() shows bytes that are not UTF-8 escaped, one by one.
    EXPECT_NE(t.find("signer addresses: b\\xff\\xc3@bank.example, alice@bank.example\n"), std::string::npos) << t;

    // The signature part's base64 (LF lines, ended by an empty line),
    // decoded, patched and encoded again.
    const std::size_t start = message.find("\n\n", message.find("filename=\"smime.p7s\"")) + 2;
    const std::size_t end = message.find("\n\n", start);
    std::string der = tool({"openssl", "base64", "-d"}, message.substr(start, end - start + 1));
    ASSERT_NE(der.find("AlQQice"), std::string::npos);
    der.replace(der.find("AlQQice"), 7, "Al\xff\xfeice");
    write_file(tmp / "message.eml", message.substr(0, start) + tool({"openssl", "base64"}, der) + message.substr(end + 1));
    Timed r = ribbon({"verify", "--ca", hostile().ca.root().cert.string(), "--json", (tmp / "message.eml").string()});
    EXPECT_EQ(r.process.exit_code, 3) << r.process.describe();
    expect_bounded(r);
    EXPECT_EQ(r.process.out,
              "{\"error\":{\"code\":\"bad_signature_format\",\"kind\":\"permanent\",\"message\":\"the signature "
              "(smime.p7s) is not a DER/BER CMS object\"},\"verdict\":\"error\"}\n");
}

// An rfc822Name "alice@bank.example" NUL ".evil.example": not the From
// address alice@bank.example (a C string comparison would stop at the NUL).
TEST_F(HostileCerts, AnAddressWithANulIsNotTheAddressBeforeIt) {
    const Issued leaf = raw_leaf("nul", {{NID_commonName, V_ASN1_UTF8STRING, "Nul"}},
                                 {std::string("alice@bank.example\0.evil.example", 32)}, 0xe4);
    const std::string message = openssl_signed(headers(kAlice, "nul"), kContent, leaf);
    json j = report(message, 1);
    EXPECT_EQ(j["verdict"], "invalid");
    EXPECT_EQ(j["reason"], "from_not_in_certificate");
    EXPECT_EQ(j["signer"]["addresses"][0], std::string("alice@bank.example\0.evil.example", 32));
    EXPECT_EQ(j["continuity"], nullptr);
    const std::string t = text(message, 1);
    EXPECT_NE(t.find("signer addresses: alice@bank.example\\x00.evil.example\n"), std::string::npos) << t;
    EXPECT_NE(t.find("from: alice@bank.example (NOT in certificate)\n"), std::string::npos) << t;
}

// ---- (e) hostile From fields ------------------------------------------------------

// 1,000 addresses: checked (not valid: the certificate holds one) and no
// continuity, which is judged for a single From address only; Alice
// twice is valid, and still two addresses, so no continuity either.
TEST_F(HostileCerts, AThousandFromAddresses) {
    std::string from = kAlice;
    for (int i = 0; i < 999; ++i) from += ", a" + std::to_string(i) + "@bank.example";
    json j = report(openssl_signed(headers(from, "many"), kContent, hostile().alice), 1);
    EXPECT_EQ(j["verdict"], "invalid");
    EXPECT_EQ(j["reason"], "from_not_in_certificate");
    EXPECT_EQ(j["from_addresses"].size(), 1000u);
    EXPECT_EQ(j["continuity"], nullptr);
    // Alice twice: two addresses, both hers. Valid, and still no continuity.
    j = report(openssl_signed(headers(std::string(kAlice) + ", Alice <ALICE@bank.example>", "twice"), kContent,
                              hostile().alice),
               0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["from_addresses"].size(), 2u);
    EXPECT_EQ(j["continuity"], nullptr);
}

// A display name with an escape, a bidi override and a CR: escaped in the
// text; the address is still Alice's, so valid and first.
TEST_F(HostileCerts, ControlCharactersInTheFromDisplayName) {
    const std::string message =
        openssl_signed(headers("\"Bank \x1b[2J\xe2\x80\xae Support\" <alice@bank.example>", "display"), kContent,
                       hostile().alice);
    json j = report(message, 0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["from_addresses"], json::array({kAlice}));
    EXPECT_EQ(j["continuity"]["verdict"], "first");
    text(message, 0);
}

// Encoded-words: a display name that decodes to another address, and an
// encoded-word where the address belongs (RFC 2047 §5 allows none in an
// addr-spec). The address compared is the raw one, never the decoded text.
TEST_F(HostileCerts, EncodedWordsNeverBecomeTheAddress) {
    // Display name "mallory@evil.example": the address is Alice's.
    json j = report(openssl_signed(headers("=?utf-8?q?mallory=40evil=2Eexample?= <alice@bank.example>", "ew1"),
                                   kContent, hostile().alice),
                    0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["from_addresses"], json::array({kAlice}));
    // The whole From one encoded-word spelling Alice's address: not her
    // address, so not valid, whatever a reader's client shows.
    j = report(openssl_signed(headers("=?us-ascii?q?alice=40bank=2Eexample?=", "ew2"), kContent, hostile().alice), 1);
    EXPECT_EQ(j["verdict"], "invalid");
    EXPECT_EQ(j["reason"], "from_not_in_certificate");
    EXPECT_EQ(j["continuity"], nullptr);
}

// 100 KB of From: over the verifier's 64 KiB limit for one header field,
// a clear error (exit 3, limit_exceeded) naming it, as a display name and
// as one address; 60 KB of display name is within it and valid.
TEST_F(HostileCerts, OneHundredKilobyteFrom) {
    for (const std::string& from : {"\"" + std::string(100'000, 'B') + "\" <alice@bank.example>",
                                    std::string(100'000, 'a') + "@bank.example"}) {
        write_file(tmp / "message.eml", openssl_signed(headers(from, "long"), kContent, hostile().alice));
        Timed r = ribbon({"verify", "--ca", hostile().ca.root().cert.string(), "--store", url, "--json",
                          (tmp / "message.eml").string()});
        EXPECT_EQ(r.process.exit_code, 3) << r.process.describe();
        expect_bounded(r);
        const std::string size = std::to_string(from.size() + 2);  // the value after "From:", and its LF
        EXPECT_EQ(json::parse(r.process.out),
                  json::parse(R"({"error":{"code":"limit_exceeded","kind":"permanent","message":"header From is )" +
                              size + R"( bytes long; the limit is 65536"},"verdict":"error"})"));
    }
    json j = report(openssl_signed(headers("\"" + std::string(60'000, 'B') + "\" <alice@bank.example>", "long3"),
                                   kContent, hostile().alice),
                    0);
    EXPECT_EQ(j["verdict"], "valid");
    EXPECT_EQ(j["from_addresses"], json::array({kAlice}));
    EXPECT_EQ(j["continuity"]["verdict"], "first");
}

}  // namespace
}  // namespace ribbon::test
