// The keystore's one address rule (issue 13, 10a and 10b): every command
// that takes a sending address — keys generate, renew, dev-ca issue, sign
// --id — and the [[signer]] table check it with ks::normalise_address
// before it becomes a directory name. A domain or local part with an empty
// label ("x@..", "a..b@x") and bytes that are not UTF-8 are refused as
// malformed_message, exit 65 (EX_DATAERR), and nothing is created.
#include <gtest/gtest.h>

#include "ribbon/key_requests.hpp"
#include "ribbon/keystore.hpp"
#include "support/keystore_util.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;

struct AddressStore {
    TempDir tmp{"ribbon-address"};
    fs::path dir = tmp.path() / "ids";
    AddressStore() { EXPECT_EQ(keys({"dev-ca", "init"}).exit_code, 0); }
    ProcessResult keys(std::vector<std::string> args) const {
        std::vector<std::string> argv = {ribbon_binary(), "keys", "--keystore", dir.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv);
    }
    // Only dev-ca/ and the address directories of `expected`.
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
        std::sort(out.begin(), out.end());
        return out;
    }
};

// What the commands print for a refused address, its bytes escaped.
std::string refusal(const std::string& command, const std::string& address,
                    const std::string& shown, const std::string& why) {
    return "ribbon " + command + ": " + address + ": \"" + shown +
           "\" is not a usable mail address (" + why + ") [malformed_message]\n";
}

constexpr const char* kDomainDots = "the domain starts or ends with a dot, or has two in a row";
constexpr const char* kLocalDots = "the local part starts or ends with a dot, or has two in a row";

TEST(KeystoreAddress, EmptyLabelsAreRefusedByEveryCommand) {
    AddressStore s;
    const std::pair<const char*, const char*> bad[] = {
        {"x@..", kDomainDots},
        {"x@.", kDomainDots},
        {"x@.bank.example", kDomainDots},
        {"x@bank.example.", kDomainDots},
        {"x@bank..example", kDomainDots},
        {"x.@bank.example", kLocalDots},
        {"a..b@bank.example", kLocalDots},
        {".x@bank.example", kLocalDots},
    };
    for (const auto& [address, why] : bad) {
        ProcessResult r = s.keys({"generate", address, "--type", "ec-p256"});
        EXPECT_EQ(r.exit_code, 65) << r.describe();
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(r.err, refusal("keys generate", address, address, why));
        r = s.keys({"dev-ca", "issue", address});
        EXPECT_EQ(r.exit_code, 65) << r.describe();
        EXPECT_EQ(r.err, refusal("keys dev-ca issue", address, address, why));
        r = s.keys({"renew", address, "--type", "ec-p256"});
        EXPECT_EQ(r.exit_code, 65) << r.describe();
        // Built by appending: GCC 12 gives a false -Wrestrict for "(" + string.
        std::string reason("(");
        reason.append(why).append(") [malformed_message]");
        EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
        r = run_process({ribbon_binary(), "sign", "--keystore", s.dir.string(), "--id", address},
                        message_from("x@bank.example"));
        EXPECT_EQ(r.exit_code, 65) << r.describe();
        EXPECT_EQ(r.err, refusal("sign", address, address, why));
    }
    EXPECT_EQ(s.entries(), std::vector<std::string>{"dev-ca"});

    // Dots between labels, and UTF-8 (RFC 6531), stay usable.
    for (const char* good : {"first.last@mail.bank.example", "caf\xC3\xA9@bank.example"}) {
        ProcessResult r = s.keys({"dev-ca", "issue", good});
        EXPECT_EQ(r.exit_code, 0) << good << ": " << r.describe();
    }
    EXPECT_EQ(s.entries(), (std::vector<std::string>{"caf\xC3\xA9@bank.example", "dev-ca",
                                                     "first.last@mail.bank.example"}));
}

// 10b: bytes that are not UTF-8 reached OpenSSL's UTF8String and came back
// as an internal error (exit 70). They are a data error, named with the
// bytes escaped.
TEST(KeystoreAddress, InvalidUtf8IsADataError) {
    AddressStore s;
    // The address, the argument as the command line gave it (terminal_safe)
    // and as the keystore's message shows it.
    struct Bad {
        std::string address, argument, shown;
    };
    const Bad bad[] = {
        {"\xFF@bank.example", "\\xff@bank.example", "\\xFF@bank.example"},
        {"a@b\xC0\xAF.example", "a@b\\xc0\\xaf.example", "a@b\\xC0\\xAF.example"},  // overlong '/'
        {"a\xE2\x82@bank.example", "a\\xe2\\x82@bank.example", "a\\xE2\\x82@bank.example"},  // truncated
        {"a@\xED\xA0\x80.example", "a@\\xed\\xa0\\x80.example",
         "a@\\xED\\xA0\\x80.example"},  // a surrogate
    };
    for (const auto& [address, argument, shown] : bad) {
        ProcessResult r = s.keys({"generate", address, "--type", "ec-p256"});
        EXPECT_EQ(r.exit_code, 65) << shown << ": " << r.describe();
        EXPECT_EQ(r.err, refusal("keys generate", argument, shown, "it is not valid UTF-8"));
        r = s.keys({"dev-ca", "issue", address});
        EXPECT_EQ(r.exit_code, 65) << shown << ": " << r.describe();
        r = run_process({ribbon_binary(), "sign", "--keystore", s.dir.string(), "--id", address},
                        message_from("x@bank.example"));
        EXPECT_EQ(r.exit_code, 65) << shown << ": " << r.describe();
        EXPECT_EQ(r.err, refusal("sign", argument, shown, "it is not valid UTF-8"));
    }
    EXPECT_EQ(s.entries(), std::vector<std::string>{"dev-ca"});
}

// An internationalised domain names one Digital ID whichever form it is
// written in: the directory and the certificate carry its A-labels (RFC
// 8398 §3), and a From in U-labels or A-labels picks it. A domain that is
// not a valid IDN is refused before it becomes a directory.
TEST(KeystoreAddress, InternationalisedDomainsNameOneDigitalId) {
    AddressStore s;
    ProcessResult r = s.keys({"dev-ca", "issue", "no-reply@b\xC3\xBC" "cher.example"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(s.entries(), (std::vector<std::string>{"dev-ca", "no-reply@xn--bcher-kva.example"}));
    r = s.keys({"dev-ca", "issue", "no-reply@XN--BCHER-KVA.example"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(s.entries(), (std::vector<std::string>{"dev-ca", "no-reply@xn--bcher-kva.example"}));

    // The From header is 7-bit (the signer refuses raw UTF-8 in headers), so
    // it carries the A-labels; --id may name the Digital ID in either form.
    TempDir out("ribbon-idn-sign");
    const std::vector<std::vector<std::string>> picks = {
        {}, {"--id", "no-reply@xn--bcher-kva.example"}, {"--id", "no-reply@b\xC3\xBC" "cher.example"}};
    for (const auto& pick : picks) {
        const fs::path signed_file = out.path() / "signed.eml";
        std::vector<std::string> argv = {ribbon_binary(), "sign", "--keystore", s.dir.string(), "-o",
                                         signed_file.string()};
        argv.insert(argv.end(), pick.begin(), pick.end());
        r = run_process(argv, message_from("no-reply@xn--bcher-kva.example"));
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        r = run_process({"openssl", "cms", "-verify", "-CAfile", (s.dir / "dev-ca" / "ca.pem").string(),
                         "-in", signed_file.string(), "-out", "/dev/null"});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
    }

    r = s.keys({"generate", "x@xn--zz.example", "--type", "ec-p256"});
    EXPECT_EQ(r.exit_code, 65) << r.describe();
    EXPECT_EQ(r.err, refusal("keys generate", "x@xn--zz.example", "x@xn--zz.example",
                             "the domain is not a valid internationalised domain name"));
}

// The library rule itself, as the [[signer]] table and every keystore call
// use it.
TEST(KeystoreAddress, LibraryCallsRefuseWithMalformedMessage) {
    AddressStore s;
    Keystore ks(s.dir);
    const auto now = std::chrono::system_clock::now();
    for (const char* bad : {"x@..", "a..b@bank.example", "\xFF@bank.example"}) {
        auto selected = ks.digital_id_for(bad, now);
        ASSERT_FALSE(selected.ok()) << bad;
        EXPECT_EQ(selected.error().code(), Errc::malformed_message) << bad;
        EXPECT_EQ(selected.error().kind(), ErrorKind::permanent) << bad;
        KeyRequestOptions o;
        o.type = NewKeyType::ec_p256;
        auto request = generate_key_request(ks, bad, o);
        ASSERT_FALSE(request.ok()) << bad;
        EXPECT_EQ(request.error().code(), Errc::malformed_message) << bad;
    }
}

}  // namespace
}  // namespace ribbon::test
