// Keys in a hardware token (issue 3, docs/KEYSTORE.md "Keys in a token"),
// against a SoftHSM2 token of each test's own: `keys generate --pkcs11`
// makes the key in the token and a CSR openssl verifies, a CA issues from
// it, `keys install` files the certificate by the recorded public key, and
// `sign --keystore` signs through the token (openssl verifies); no private
// key is ever in the keystore. A wrong PIN or a missing token is
// token_unavailable, exit 75 (EX_TEMPFAIL), so daemons tempfail.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <thread>

#include "core/openssl_objects.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/signer.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/request_ca.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

constexpr const char* kAddress = "no-reply@bank.example";
constexpr const char* kUri = "pkcs11:token=ribbon-test;object=no-reply";
constexpr const char* kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kMessage =
    "From: Bank <no-reply@bank.example>\r\nTo: c@example.org\r\n"
    "Subject: statement\r\n\r\nReady.\r\n";

// A SoftHSM2 with one token, "ribbon-test" (user PIN 1234), in a temporary
// directory; `env` points child processes at it.
struct Token {
    TempDir tmp{"ribbon-pkcs11"};
    fs::path ids = tmp.path() / "ids";
    fs::path pin_file = tmp.path() / "pin";
    std::vector<std::pair<std::string, std::string>> env;

    Token() {
        fs::create_directories(tmp.path() / "tokens");
        write_file(tmp.path() / "softhsm2.conf",
                   "directories.tokendir = " + (tmp.path() / "tokens").string() +
                       "\nobjectstore.backend = file\n");
        env = {{"SOFTHSM2_CONF", (tmp.path() / "softhsm2.conf").string()},
               {"RIBBON_PKCS11_MODULE", kSoftHsm}};
        ProcessResult r = run({"softhsm2-util", "--init-token", "--free", "--label",
                                 "ribbon-test", "--pin", "1234", "--so-pin", "5678"});
        if (r.exit_code != 0) throw std::runtime_error("SoftHSM2 cannot run: " + r.describe());
        write_file(pin_file, "1234\n");
    }
    ProcessResult run(const std::vector<std::string>& argv,
                      const std::string& stdin_data = {},
                      std::vector<std::pair<std::string, std::string>> extra = {}) const {
        ProcessOptions o;
        o.env = env;
        o.env.insert(o.env.end(), extra.begin(), extra.end());  // later entries win
        o.stdin_data = stdin_data;
        return run_process(argv, o);
    }
    ProcessResult keys(std::vector<std::string> args) const {
        std::vector<std::string> argv = {ribbon_binary(), "keys", "--keystore", ids.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    }
    ProcessResult generate(const fs::path& pin, const std::string& uri = kUri) const {
        return keys({"generate", kAddress, "--pkcs11", uri, "--type", "ec-p256", "--pin-file",
                     pin.string()});
    }
    ProcessResult sign(std::vector<std::pair<std::string, std::string>> extra) const {
        return run({ribbon_binary(), "sign", "--keystore", ids.string()}, kMessage,
                   std::move(extra));
    }
};

// Every file under `dir` that holds a private key in PEM.
std::vector<std::string> private_key_files(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        if (read_file(e.path()).find("PRIVATE KEY") != std::string::npos ||
            e.path().extension() == ".key") {
            out.push_back(e.path().string());
        }
    }
    return out;
}

bool is_tempfail_token(const ProcessResult& r) {
    return r.exit_code == 75 && r.err.find("[token_unavailable]") != std::string::npos;
}

TEST(Pkcs11, GenerateIssueInstallSignThroughTheTokenVerifiesWithOpenssl) {
    Token t;
    ProcessResult g = t.generate(t.pin_file);
    ASSERT_EQ(g.exit_code, 0) << g.describe();
    EXPECT_EQ(g.err, "");
    fs::path csr = g.out.substr(0, g.out.find('\n'));
    ProcessResult v = run_process({"openssl", "req", "-verify", "-noout", "-in", csr.string()});
    EXPECT_EQ(v.exit_code, 0) << v.describe();

    // The keystore records where the key is, never the key or the PIN.
    std::string stem = csr.stem().string();
    fs::path uri_file = csr.parent_path() / (stem + ".key.uri");
    std::string uri = read_file(uri_file);
    EXPECT_EQ(uri.rfind(std::string(kUri) + ";id=", 0), 0u) << uri;
    EXPECT_EQ(uri.find("1234"), std::string::npos);
    EXPECT_TRUE(fs::exists(csr.parent_path() / (stem + ".pub.pem")));
    EXPECT_TRUE(private_key_files(t.ids).empty());

    RequestCa ca(t.tmp.path() / "ca");
    auto now = std::chrono::system_clock::now();
    fs::path cert = ca.issue(csr, now - hours(1), now + hours(24 * 30));
    // Filing needs only the recorded public key, not the token or its PIN.
    ProcessResult in = t.keys({"install", cert.string(), "--chain", pki().chain.string()});
    ASSERT_EQ(in.exit_code, 0) << in.describe();
    EXPECT_FALSE(fs::exists(csr)) << "the answered request stays";

    ProcessResult s = t.sign({{"RIBBON_PKCS11_PIN", "1234"}});
    ASSERT_EQ(s.exit_code, 0) << s.describe();
    VerifyResult ok = verify_openssl(s.out, pki().root_cert);
    EXPECT_TRUE(ok.ok) << ok.details;
    EXPECT_TRUE(private_key_files(t.ids).empty());

    ProcessResult list = t.keys({"list", "--json"});
    EXPECT_EQ(list.exit_code, 0) << list.describe();
    EXPECT_NE(list.out.find("\"key_location\": \"token\""), std::string::npos) << list.out;
    // One Digital ID: the recorded public key is not read as a certificate.
    auto listed = Keystore(t.ids).list(now);
    ASSERT_TRUE(listed.ok()) << listed.error().message();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front().problem, "");
    EXPECT_EQ(listed->front().key_location, "token");

    // The token refuses the PIN, or is gone: tempfail, not a bounce.
    ProcessResult wrong = t.sign({{"RIBBON_PKCS11_PIN", "9999"}});
    EXPECT_TRUE(is_tempfail_token(wrong)) << wrong.describe();
    fs::create_directories(t.tmp.path() / "empty");
    write_file(t.tmp.path() / "empty.conf",
               "directories.tokendir = " + (t.tmp.path() / "empty").string() + "\n");
    ProcessResult gone = t.sign({{"RIBBON_PKCS11_PIN", "1234"},
                                 {"SOFTHSM2_CONF", (t.tmp.path() / "empty.conf").string()}});
    EXPECT_TRUE(is_tempfail_token(gone)) << gone.describe();
    EXPECT_NE(gone.err.find("token"), std::string::npos) << gone.err;
}

TEST(Pkcs11, GenerateWithAWrongPinIsTransientAndFilesNothing) {
    Token t;
    write_file(t.tmp.path() / "wrong-pin", "4321\n");
    ProcessResult g = t.generate(t.tmp.path() / "wrong-pin");
    EXPECT_TRUE(is_tempfail_token(g)) << g.describe();
    EXPECT_EQ(g.out, "");
    EXPECT_TRUE(!fs::exists(t.ids / kAddress) || fs::is_empty(t.ids / kAddress));
}

TEST(Pkcs11, GenerateOnAMissingTokenIsTransient) {
    Token t;
    ProcessResult g = t.generate(t.pin_file, "pkcs11:token=not-plugged-in;object=no-reply");
    EXPECT_TRUE(is_tempfail_token(g)) << g.describe();
    EXPECT_NE(g.err.find("not-plugged-in"), std::string::npos) << g.err;
}

TEST(Pkcs11, GenerateRefusesAUriWithoutAnObject) {
    Token t;
    ProcessResult g = t.generate(t.pin_file, "pkcs11:token=ribbon-test");
    EXPECT_NE(g.exit_code, 0);
    EXPECT_NE(g.err.find("RFC 7512"), std::string::npos) << g.err;
}

// The milter signs from many threads with one Signer. With a token key
// every signature is a PKCS#11 operation through the engine, so threads
// meet in libp11 and the module: 4 threads sign 200 messages at once with
// each of two token keys (libp11 signs RSA and ECDSA on different paths,
// and both keys share the token's sessions), and every message must verify
// with openssl and carry its own content. Then the signers go away while
// nothing else holds their keys.
TEST(Pkcs11, OneTokenSignerSignsFromManyThreadsAtOnce) {
    Token t;
    auto now = std::chrono::system_clock::now();
    RequestCa ca(t.tmp.path() / "ca");
    const std::pair<std::string, std::string> ids[] = {{kAddress, "ec-p256"},
                                                       {"statements@bank.example", "rsa2048"}};
    for (const auto& [address, type] : ids) {
        std::string object = address.substr(0, address.find('@'));
        ProcessResult g =
            t.keys({"generate", address, "--pkcs11", "pkcs11:token=ribbon-test;object=" + object,
                    "--type", type, "--pin-file", t.pin_file.string()});
        ASSERT_EQ(g.exit_code, 0) << g.describe();
        fs::path cert =
            ca.issue(g.out.substr(0, g.out.find('\n')), now - hours(1), now + hours(48));
        ProcessResult in = t.keys({"install", cert.string(), "--chain", pki().chain.string()});
        ASSERT_EQ(in.exit_code, 0) << in.describe();
    }
    // This process loads the keys itself, through the same engine.
    for (const auto& [name, value] : t.env) ::setenv(name.c_str(), value.c_str(), 1);
    ::setenv("RIBBON_PKCS11_PIN", "1234", 1);
    std::vector<Signer> signers;
    for (const auto& [address, type] : ids) {
        auto selected = Keystore(t.ids).digital_id_for(address, now);
        ASSERT_TRUE(selected.ok()) << selected.error().message();
        ASSERT_EQ(selected->entry.key_location, "token");
        EXPECT_TRUE(digital_id_in_token(selected->id));
        auto signer = Signer::create(selected->id);
        ASSERT_TRUE(signer.ok()) << signer.error().message();
        signers.push_back(std::move(*signer));
    }

    constexpr std::size_t kThreads = 4;
    constexpr std::size_t kPerThread = 50;
    constexpr std::size_t kMessages = kThreads * kPerThread;
    // outputs[s * kMessages + k]: message k signed by signers[s].
    std::vector<std::string> outputs(signers.size() * kMessages);
    std::vector<std::string> errors(outputs.size());
    std::vector<std::thread> threads;
    for (std::size_t th = 0; th < kThreads; ++th) {
        threads.emplace_back([&, th] {
            for (std::size_t k = th * kPerThread; k < (th + 1) * kPerThread; ++k) {
                for (std::size_t s = 0; s < signers.size(); ++s) {
                    std::string message = "From: Bank <" + ids[s].first +
                                          ">\r\nTo: c@example.org\r\nSubject: statement " +
                                          std::to_string(k) + "\r\n\r\nReady.\r\n";
                    StringSink out;
                    auto r = signers[s].sign(MessageInput::from_memory(message), out);
                    if (!r) errors[s * kMessages + k] = r.error().message();
                    outputs[s * kMessages + k] = out.take();
                }
            }
        });
    }
    // Meanwhile the keys are loaded again, as a daemon does when the
    // keystore changes: a login to the token while the threads sign.
    for (int n = 0; n < 20; ++n) {
        auto again = Keystore(t.ids).digital_id_for(ids[n % 2].first, now);
        EXPECT_TRUE(again.ok()) << again.error().message();
    }
    for (auto& th : threads) th.join();
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        const std::string what =
            ids[i / kMessages].second + " message " + std::to_string(i % kMessages);
        ASSERT_EQ(errors[i], "") << what;
        EXPECT_NE(
            outputs[i].find("\r\nSubject: statement " + std::to_string(i % kMessages) + "\r\n"),
            std::string::npos)
            << what;
        VerifyResult v = verify_openssl(outputs[i], pki().root_cert);
        ASSERT_TRUE(v.ok) << what << ": " << v.details;
    }
    signers.clear();

    // A key file shares nothing between threads and takes no lock.
    auto file_id = DigitalId::load(pki().ecdsa.key, pki().ecdsa.cert);
    ASSERT_TRUE(file_id.ok()) << file_id.error().message();
    EXPECT_FALSE(digital_id_in_token(*file_id));
}

}  // namespace
}  // namespace ribbon::test

namespace ribbon::test {
namespace {

// `ribbon decrypt --keystore` opens mail sealed to a certificate whose RSA
// key is in the token: RSA PKCS#1 v1.5 key transport done by the token.
TEST(Pkcs11, DecryptOpensMailSealedToATokenKey) {
    Token t;
    ProcessResult g = t.keys({"generate", kAddress, "--pkcs11", kUri, "--type", "rsa2048", "--pin-file",
                              t.pin_file.string()});
    ASSERT_EQ(g.exit_code, 0) << g.describe();
    const fs::path csr = g.out.substr(0, g.out.find('\n'));
    RequestCa ca(t.tmp.path() / "ca");
    const auto now = std::chrono::system_clock::now();
    const fs::path cert = ca.issue(csr, now - hours(1), now + hours(24 * 30));
    ProcessResult in = t.keys({"install", cert.string(), "--chain", pki().chain.string()});
    ASSERT_EQ(in.exit_code, 0) << in.describe();

    const std::string plain = "Content-Type: text/plain\r\n\r\nOpened by the token.\r\n";
    write_file(t.tmp.path() / "plain", plain);
    ProcessResult sealed = run_process({"openssl", "cms", "-encrypt", "-binary", "-aes256", "-in",
                                        (t.tmp.path() / "plain").string(), "-outform", "DER", "-out",
                                        (t.tmp.path() / "sealed.p7m").string(), "-recip", cert.string()});
    ASSERT_EQ(sealed.exit_code, 0) << sealed.describe();
    ProcessResult d = t.run({ribbon_binary(), "decrypt", "--keystore", t.ids.string(), "-o",
                             (t.tmp.path() / "out").string(), (t.tmp.path() / "sealed.p7m").string()},
                            {}, {{"RIBBON_PKCS11_PIN", "1234"}});
    ASSERT_EQ(d.exit_code, 0) << d.describe();
    EXPECT_EQ(read_file(t.tmp.path() / "out"), plain);
    EXPECT_NE(d.out.find("RSA PKCS#1 v1.5"), std::string::npos) << d.out;
}

}  // namespace
}  // namespace ribbon::test
