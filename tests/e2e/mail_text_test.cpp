// mail_text_test.cpp — addresses compared in one form and shown safely
// (ribbon/mail_text.hpp), through the library and through `ribbon verify`
// on messages signed by `openssl cms` with certificates made by `openssl
// x509` for internationalised domains: A-label and U-label forms must
// match each other, a Cyrillic lookalike must not match the Latin domain,
// and the text output must show a mixed-script domain in A-labels and a
// single-script one in Unicode. Also: header values with terminal escape
// sequences come out of `ribbon verify` escaped.
#include "ribbon/mail_text.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/daemon.hpp"
#include "ribbon/config.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/sign.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

// "bаnk" with U+0430 CYRILLIC SMALL LETTER A: reads as "bank".
constexpr const char* kLookalike = "no-reply@b\xd0\xb0nk.example";
constexpr const char* kLookalikeAce = "no-reply@xn--bnk-6cd.example";
constexpr const char* kBucher =
    "no-reply@b\xc3\xbc"
    "cher.example";  // bücher
constexpr const char* kBucherAce = "no-reply@xn--bcher-kva.example";

// ---- the library --------------------------------------------------------

TEST(MailText, AsciiFormPutsDomainsInLowerCaseALabels) {
    EXPECT_EQ(address_ascii_form(kBucher), kBucherAce);
    EXPECT_EQ(address_ascii_form(kLookalike), kLookalikeAce);
    EXPECT_EQ(address_ascii_form(kLookalikeAce), kLookalikeAce);
    EXPECT_EQ(address_ascii_form("No-Reply@Bank.EXAMPLE"), "No-Reply@bank.example");
    EXPECT_EQ(address_ascii_form("no-reply@XN--BCHER-KVA.example"), kBucherAce);
    EXPECT_EQ(address_ascii_form("no-reply@xn--.example"), std::nullopt);  // not an A-label
    EXPECT_EQ(address_ascii_form("no-reply"), std::nullopt);
}

TEST(MailText, SameAddressComparesALabelsAndULabelsBothWays) {
    EXPECT_TRUE(same_address(kBucher, kBucherAce));
    EXPECT_TRUE(same_address(kBucherAce, kBucher));
    EXPECT_TRUE(same_address(kLookalike, kLookalikeAce));
    EXPECT_TRUE(same_address("No-Reply@Bank.Example", "no-reply@bank.example"));
    EXPECT_FALSE(same_address(kLookalike, "no-reply@bank.example"));
    EXPECT_FALSE(same_address(kLookalikeAce, "no-reply@bank.example"));
    EXPECT_FALSE(same_address("other@bank.example", "no-reply@bank.example"));
    // Not valid IDNs: equal only to the same bytes.
    EXPECT_TRUE(same_address("a@xn--.example", "A@XN--.example"));
    EXPECT_FALSE(same_address("a@xn--.example", "a@example"));
}

// AddressSet::find gives the index of the first address same_address()
// holds for, pair by pair, for every pair of a set of tricky addresses:
// U-labels and A-labels, ASCII case, invalid IDNs, no '@', a NUL.
TEST(MailText, AddressSetAnswersAsSameAddressDoes) {
    const std::vector<std::string> addresses = {
        kBucher, kBucherAce, kLookalike, kLookalikeAce, "No-Reply@Bank.Example", "no-reply@bank.example",
        "a@xn--.example", "A@XN--.example", "a@example", "no-reply", "",
        std::string("alice@bank.example\0.evil.example", 32), "alice@bank.example", "\"a@b\"@bank.example",
        "NO-REPLY@XN--BCHER-KVA.EXAMPLE"};
    const AddressSet set(addresses);
    for (const auto& a : addresses) {
        std::optional<std::size_t> expected;
        for (std::size_t i = 0; i < addresses.size() && !expected; ++i) {
            if (same_address(a, addresses[i])) expected = i;
        }
        EXPECT_EQ(set.find(a), expected) << a;
    }
    EXPECT_EQ(set.find("other@bank.example"), std::nullopt);
    EXPECT_EQ(AddressSet({}).find("a@b.example"), std::nullopt);
    EXPECT_EQ(set.find(kBucherAce), 0u);  // the U-label form came first
}

TEST(MailText, DisplayShowsOnlySafeDomainsInUnicode) {
    EXPECT_EQ(display_address(kBucherAce), kBucher);
    EXPECT_EQ(display_address(kBucher), kBucher);
    // Latin and Cyrillic in one label: the A-label, whichever form came in.
    EXPECT_EQ(display_address(kLookalikeAce), kLookalikeAce);
    EXPECT_EQ(display_address(kLookalike), kLookalikeAce);
    // Cyrillic only, but every letter looks Latin ("аре" reads "ape").
    EXPECT_EQ(display_address("x@\xd0\xb0\xd1\x80\xd0\xb5.example"), "x@xn--80ak6a.example");
    // One script that does not look like ASCII: Greek "ελλάδα".
    EXPECT_EQ(display_address("x@xn--hxakic4aa.example"),
              "x@\xce\xb5\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1.example");
    // Plain ASCII is shown as written; an invalid IDN as given.
    EXPECT_EQ(display_address("No-Reply@Bank.Example"), "No-Reply@Bank.Example");
    EXPECT_EQ(display_address("a@xn--.example"), "a@xn--.example");
}

TEST(MailText, TerminalSafeEscapesControlCharacters) {
    EXPECT_EQ(terminal_safe("a\x1b]0;pwned\x07"
                            "b\x1b[2Jc"),
              "a\\x1b]0;pwned\\x07b\\x1b[2Jc");
    EXPECT_EQ(terminal_safe("tab\there\r\nDEL\x7f"), "tab\\x09here\\x0d\\x0aDEL\\x7f");
    EXPECT_EQ(terminal_safe("csi \xc2\x9b"
                            "2J"),
              "csi \\u009b2J");  // C1 CSI
    EXPECT_EQ(terminal_safe(kBucher), kBucher);
    EXPECT_EQ(terminal_safe(""), "");
    // A right-to-left override would show "invoice" + "fdp.exe" reversed.
    EXPECT_EQ(terminal_safe("invoice\xe2\x80\xae" "fdp.exe"), "invoice\\u202efdp.exe");
    EXPECT_EQ(terminal_safe("a\xe2\x81\xa6" "b\xe2\x81\xa9" "c\xd8\x9c" "d\xe2\x80\xa8" "e"),
              "a\\u2066b\\u2069c\\u061cd\\u2028e");
    // Other characters stay as they are (€, an emoji).
    EXPECT_EQ(terminal_safe("\xe2\x82\xac 5 \xf0\x9f\x8e\x80"), "\xe2\x82\xac 5 \xf0\x9f\x8e\x80");
    // Bytes that are not UTF-8 are shown, one by one: a lone 8-bit CSI, a
    // truncated sequence, an overlong NUL, a surrogate, Latin-1.
    EXPECT_EQ(terminal_safe("a\x9b" "2Jb"), "a\\x9b2Jb");
    EXPECT_EQ(terminal_safe("x\xe2\x80"), "x\\xe2\\x80");
    EXPECT_EQ(terminal_safe("\xc0\x80"), "\\xc0\\x80");
    EXPECT_EQ(terminal_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");
    EXPECT_EQ(terminal_safe("caf\xe9"), "caf\\xe9");
}

TEST(MailText, SignerPatternsMatchEitherFormOfADomain) {
    auto c = Config::parse(std::string("[[signer]]\nfrom = \"") + kBucher +
                           "\"\n\n[[signer]]\nfrom = \"*@xn--bcher-kva.example\"\n\n"
                           "[[signer]]\nfrom = \"*@bank.example\"\n");
    ASSERT_TRUE(c.ok()) << c.error().message();
    ASSERT_NE(c->signer_for(kBucherAce), nullptr);
    EXPECT_EQ(c->signer_for(kBucherAce)->from, kBucherAce);
    ASSERT_NE(c->signer_for("alerts@b\xc3\xbc" "cher.example"), nullptr);
    EXPECT_EQ(c->signer_for("alerts@b\xc3\xbc" "cher.example")->from, "*@xn--bcher-kva.example");
    EXPECT_EQ(c->signer_for(kLookalike), nullptr);
    EXPECT_EQ(c->signer_for(kLookalikeAce), nullptr);
}

// ---- `ribbon verify` with IDN certificates ------------------------------

class IdnVerify : public ::testing::Test {
  protected:
    const Pki& p = pki();
    TempDir tmp{"ribbon-idn-verify"};

    // A leaf whose subjectAltName is the one entry `san` (openssl's
    // section syntax: "email=..." or "otherName=OID;FORMAT:UTF8,UTF8:..."),
    // issued by the test PKI's intermediate for S/MIME signing.
    Leaf leaf(const std::string& name, const std::string& san) {
        Leaf l{tmp / (name + ".key"), tmp / (name + ".pem")};
        const fs::path csr = tmp / (name + ".csr"), ext = tmp / (name + ".ext");
        write_file(ext,
                   "subjectAltName=@alt\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=emailProtection\n[alt]\n" +
                       san + "\n");
        ProcessResult r =
            run_process({"openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                         l.key.string(), "-subj", "/CN=" + name, "-out", csr.string()});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        r = run_process({"openssl", "x509", "-req", "-in", csr.string(), "-CA",
                         p.intermediate_cert.string(), "-CAkey", p.intermediate_key.string(),
                         "-set_serial", "0x1d4", "-days", "30", "-sha256", "-extfile", ext.string(),
                         "-out", l.cert.string()});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        return l;
    }

    // `openssl cms -sign` writes the whole multipart/signed entity; the
    // outer header goes in front. `from` is the From field's value, raw
    // UTF-8 when it holds any (RFC 6532).
    std::string signed_message(const Leaf& l, const std::string& from,
                               const std::string& extra_headers = {}) {
        write_file(
            tmp / "content",
            "Content-Type: text/plain; charset=us-ascii\r\n\r\nYour statement is ready.\r\n");
        const ProcessResult r =
            run_process({"openssl", "cms", "-sign", "-binary", "-crlfeol", "-md", "sha256", "-in",
                         (tmp / "content").string(), "-signer", l.cert.string(), "-inkey",
                         l.key.string(), "-certfile", p.chain.string()});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        return "From: " + from + "\r\nTo: customer@example.net\r\nSubject: Your statement\r\n" +
               "Date: " + rfc5322_date(std::time(nullptr)) + "\r\n" + extra_headers + r.out;
    }

    ProcessResult verify(const std::string& message, bool json = false) {
        write_file(tmp / "message.eml", message);
        std::vector<std::string> argv = {ribbon_binary(), "verify", "--ca", p.root_cert.string()};
        if (json) argv.push_back("--json");
        argv.push_back((tmp / "message.eml").string());
        return run_process(argv);
    }

    // The line of text output that starts with `prefix`.
    static std::string line(const std::string& out, const std::string& prefix) {
        const std::size_t at = out.find("\n" + prefix);
        if (at == std::string::npos) return "(no line " + prefix + ")";
        return out.substr(at + 1, out.find('\n', at + 1) - at - 1);
    }
};

TEST_F(IdnVerify, ALabelCertificateMatchesALabelFromAndShowsIt) {
    const Leaf l = leaf("lookalike", std::string("email=") + kLookalikeAce);
    const ProcessResult r = verify(signed_message(l, kLookalikeAce));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(line(r.out, "signer addresses:"), "signer addresses: no-reply@xn--bnk-6cd.example");
    EXPECT_EQ(line(r.out, "from:"), "from: no-reply@xn--bnk-6cd.example (in certificate)");
}

TEST_F(IdnVerify, LookalikeNeverMatchesTheLatinDomain) {
    const Leaf l = leaf("lookalike", std::string("email=") + kLookalikeAce);
    const auto j =
        nlohmann::json::parse(verify(signed_message(l, "no-reply@bank.example"), true).out);
    EXPECT_EQ(j.at("reason"), "from_not_in_certificate");
    for (const std::string& from : {std::string(kLookalikeAce), std::string(kLookalike)}) {
        const ProcessResult r = verify(signed_message(p.rsa, from));  // bank.example's certificate
        EXPECT_EQ(r.exit_code, 1) << r.describe();
        EXPECT_EQ(line(r.out, "reason:"), "reason: from_not_in_certificate");
        EXPECT_EQ(line(r.out, "from:"), "from: no-reply@xn--bnk-6cd.example (NOT in certificate)");
    }
}

TEST_F(IdnVerify, SingleScriptIdnIsShownInUnicode) {
    const Leaf l = leaf("bucher", std::string("email=") + kBucherAce);
    for (const std::string& from : {std::string(kBucherAce), std::string(kBucher)}) {
        const ProcessResult r = verify(signed_message(l, from));
        EXPECT_EQ(r.exit_code, 0) << from << ": " << r.describe();
        EXPECT_EQ(line(r.out, "signer addresses:"), std::string("signer addresses: ") + kBucher);
        EXPECT_EQ(line(r.out, "from:"), std::string("from: ") + kBucher + " (in certificate)");
    }
    // JSON: the compared form and the shown form.
    const auto j = nlohmann::json::parse(verify(signed_message(l, kBucher), true).out);
    EXPECT_EQ(j.at("verdict"), "valid");
    EXPECT_EQ(j.at("from_addresses"), nlohmann::json::array({kBucherAce}));
    EXPECT_EQ(j.at("from_addresses_display"), nlohmann::json::array({kBucher}));
    EXPECT_EQ(j.at("signer").at("addresses"), nlohmann::json::array({kBucherAce}));
    EXPECT_EQ(j.at("signer").at("addresses_display"), nlohmann::json::array({kBucher}));
}

TEST_F(IdnVerify, ULabelRfc822NameMatchesALabelFrom) {
    // RFC 8398 §3 wants A-labels in an rfc822Name, but openssl writes the
    // UTF-8 bytes into the IA5String when asked, and such certificates exist.
    const Leaf l = leaf("bucher-u", std::string("email=") + kBucher);
    const ProcessResult r = verify(signed_message(l, kBucherAce));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(line(r.out, "from:"), std::string("from: ") + kBucher + " (in certificate)");
}

TEST_F(IdnVerify, SmtpUtf8MailboxInULabelsMatchesEitherForm) {
    // RFC 8398 §3: the otherName id-on-SmtpUTF8Mailbox, a UTF8String.
    const Leaf l =
        leaf("eai", std::string("otherName=1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:") + kBucher);
    for (const std::string& from : {std::string(kBucherAce), std::string(kBucher)}) {
        const ProcessResult r = verify(signed_message(l, from));
        EXPECT_EQ(r.exit_code, 0) << from << ": " << r.describe();
        EXPECT_EQ(line(r.out, "signer addresses:"), std::string("signer addresses: ") + kBucher);
    }
    const Leaf cyrillic = leaf(
        "eai-lookalike", std::string("otherName=1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:") + kLookalike);
    const ProcessResult bad = verify(signed_message(cyrillic, "no-reply@bank.example"));
    EXPECT_EQ(bad.exit_code, 1) << bad.describe();
    EXPECT_EQ(line(bad.out, "reason:"), "reason: from_not_in_certificate");
    EXPECT_EQ(line(bad.out, "signer addresses:"), "signer addresses: no-reply@xn--bnk-6cd.example");
    EXPECT_EQ(verify(signed_message(cyrillic, kLookalikeAce)).exit_code, 0);
}

// ---- terminal escapes in `ribbon verify` text ----------------------------

TEST_F(IdnVerify, HeaderEscapeSequencesArePrintedEscaped) {
    // Header protection (RFC 9788) copies From and Subject inside; the
    // outer ones are changed to carry an OSC title and a clear-screen.
    const std::string hostile = "\x1b]0;pwned\x07\x1b[2J";
    write_file(tmp / "content",
               "Content-Type: text/plain; charset=us-ascii; hp=\"clear\"\r\n"
               "From: Bank <no-reply@bank.example>\r\nSubject: Your statement\r\n\r\nHello.\r\n");
    const ProcessResult s =
        run_process({"openssl", "cms", "-sign", "-binary", "-crlfeol", "-md", "sha256", "-in",
                     (tmp / "content").string(), "-signer", p.rsa.cert.string(), "-inkey",
                     p.rsa.key.string(), "-certfile", p.chain.string()});
    ASSERT_EQ(s.exit_code, 0) << s.describe();
    const std::string message = "From: Bank " + hostile +
                                " <no-reply@bank.example>\r\n"
                                "Subject: Your statement " +
                                hostile + "\r\nX-Mailer: " + hostile + "\r\n" + s.out;
    const ProcessResult r = verify(message);
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
    EXPECT_EQ(r.out.find('\x07'), std::string::npos);
    EXPECT_EQ(line(r.out, "protected From:"),
              "protected From: CHANGED (outer \"Bank \\x1b]0;pwned\\x07\\x1b[2J "
              "<no-reply@bank.example>\", signed \"Bank <no-reply@bank.example>\")");
    EXPECT_EQ(line(r.out, "protected Subject:"),
              "protected Subject: CHANGED (outer \"Your statement \\x1b]0;pwned\\x07\\x1b[2J\", "
              "signed \"Your statement\")");
}

// ---- `ribbon sign`'s refusal ----------------------------------------------

TEST(SignShowsAddresses, LookalikeFromIsNamedInALabels) {
    // The From in raw UTF-8 (RFC 6532), Cyrillic а: refused, and the
    // message names it so that nobody reads "bank.example".
    const ProcessResult r = ribbon_sign(std::string("From: ") + kLookalike +
                                        "\r\nTo: customer@example.net\r\nSubject: Hi\r\n"
                                        "Date: Wed, 01 May 2024 12:00:00 +0000\r\n\r\nHello.\r\n");
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              "ribbon sign: <stdin>: From address no-reply@xn--bnk-6cd.example is not in the certificate "
              "(which is for no-reply@bank.example) [from_not_in_certificate]\n");
}

// ---- the daemons' log ---------------------------------------------------

TEST(DaemonLog, MessagesAreEscapedOnTheirWayOut) {
    // The stderr sink writes to fd 2: point it at a file for the test.
    TempDir tmp{"ribbon-daemon-log"};
    const fs::path file = tmp / "stderr";
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    {
        DaemonSettings settings;
        settings.log = "stderr";
        auto log = daemon::make_logger("ribbon-test", settings);
        log->info("{}: not signed: from=<{}> has no [[signer]] entry", "4AbC",
                  "eve\x1b]0;pwned\x07\x1b[2J@customer.example");
        log->flush();
    }
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    EXPECT_EQ(read_file(file), "ribbon-test[" + std::to_string(::getpid()) +
                                   "]: info: 4AbC: not signed: from=<eve\\x1b]0;pwned\\x07\\x1b[2J"
                                   "@customer.example> has no [[signer]] entry\n");
}

}  // namespace
}  // namespace ribbon::test
