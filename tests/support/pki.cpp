#include "support/pki.hpp"

#include "support/process.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <mutex>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

#ifndef RIBBON_BINARY
#define RIBBON_BINARY "ribbon"
#endif
#ifndef RIBBON_SOURCE_DIR
#define RIBBON_SOURCE_DIR "."
#endif

namespace ribbon::test {
namespace fs = std::filesystem;

std::string ribbon_binary() {
    if (const char* b = std::getenv("RIBBON_TEST_BINARY"); b && *b) return b;
    return RIBBON_BINARY;
}

fs::path source_dir() { return RIBBON_SOURCE_DIR; }

namespace {

// Bump when the layout or contents of the cache change.
constexpr const char* kCacheVersion = "pki-v3";

void must(const std::vector<std::string>& argv, const ProcessOptions& o = {}) {
    const ProcessResult r = run_process(argv, o);
    if (r.exit_code != 0 || !r.start_error.empty()) {
        std::string cmd;
        for (const auto& a : argv) cmd += a + " ";
        throw std::runtime_error("test PKI: command failed: " + cmd + "\n" + r.describe());
    }
}


const char* kConfig = R"([ ca ]
default_ca = testca

[ testca ]
dir              = .
database         = ./index.txt
serial           = ./serial
new_certs_dir    = ./newcerts
default_md       = sha256
policy           = policy_any
unique_subject   = no
copy_extensions  = none
email_in_dn      = no
preserve         = yes

[ policy_any ]
organizationName = optional
commonName       = supplied

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = placeholder

[ v3_root ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ v3_intermediate ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = emailProtection
subjectAltName         = email:no-reply@bank.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_leaf_other ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = emailProtection
subjectAltName         = email:other@bank.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_leaf_noeku ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectAltName         = email:no-reply@bank.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
)";

Pki layout(const fs::path& d) {
    Pki p;
    p.dir = d;
    p.root_cert = d / "root.pem";
    p.root_key = d / "root.key";
    p.intermediate_cert = d / "intermediate.pem";
    p.intermediate_key = d / "intermediate.key";
    p.chain = d / "chain.pem";
    p.wrong_root_cert = d / "wrong-root.pem";
    p.rsa = {d / "rsa.key", d / "rsa.pem"};
    p.ecdsa = {d / "ecdsa.key", d / "ecdsa.pem"};
    p.expired = {d / "rsa.key", d / "expired.pem"};
    p.not_yet_valid = {d / "rsa.key", d / "not-yet-valid.pem"};
    p.no_email_eku = {d / "rsa.key", d / "no-email-eku.pem"};
    p.other = {d / "rsa.key", d / "other.pem"};
    p.mismatched = {d / "mismatch.key", d / "rsa.pem"};
    p.nss_db = d / "nssdb";
    p.gnupghome = d / "gnupg";
    return p;
}

void build(const Pki& p) {
    const fs::path& d = p.dir;
    ProcessOptions in_dir;
    in_dir.cwd = d;
    in_dir.timeout = std::chrono::seconds(120);
    write_file(d / "ca.cnf", kConfig);
    write_file(d / "index.txt", "");
    write_file(d / "serial", "1000\n");
    fs::create_directories(d / "newcerts");

    const std::time_t now = std::time(nullptr);
    const std::string ca_start = openssl_time(now - 10 * 24 * 3600);
    const std::string leaf_start = openssl_time(now - Pki::kLeafBackdateSeconds);
    const std::string leaf_end = openssl_time(now + 90L * 24 * 3600);

    auto genrsa = [&](const std::string& file, int bits) {
        must({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
              "rsa_keygen_bits:" + std::to_string(bits), "-out", file}, in_dir);
    };
    auto csr = [&](const std::string& key, const std::string& subj, const std::string& out) {
        must({"openssl", "req", "-new", "-config", "ca.cnf", "-key", key, "-subj", subj, "-out", out},
             in_dir);
    };
    // Signs with `openssl ca` so start and end dates are exact; serials random.
    auto ca_sign = [&](const std::string& ca_cert, const std::string& ca_key,
                       const std::string& req, const std::string& ext, const std::string& start,
                       const std::string& end, const std::string& out, bool selfsign = false) {
        std::vector<std::string> a = {"openssl", "ca", "-batch", "-config", "ca.cnf",
                                      "-rand_serial", "-notext", "-md", "sha256",
                                      "-extensions", ext, "-startdate", start, "-enddate", end,
                                      "-keyfile", ca_key, "-in", req, "-out", out};
        if (selfsign) a.push_back("-selfsign");
        else { a.push_back("-cert"); a.push_back(ca_cert); }
        must(a, in_dir);
    };

    genrsa("root.key", 3072);
    csr("root.key", "/O=Ribbon Test/CN=Ribbon Test Root CA", "root.csr");
    ca_sign("", "root.key", "root.csr", "v3_root", ca_start, openssl_time(now + 3650L * 86400),
            "root.pem", true);

    genrsa("intermediate.key", 2048);
    csr("intermediate.key", "/O=Ribbon Test/CN=Ribbon Test Mail CA", "intermediate.csr");
    ca_sign("root.pem", "root.key", "intermediate.csr", "v3_intermediate", ca_start,
            openssl_time(now + 1825L * 86400), "intermediate.pem");
    fs::copy_file(d / "intermediate.pem", d / "chain.pem");

    genrsa("wrong-root.key", 3072);
    csr("wrong-root.key", "/O=Elsewhere/CN=Unrelated Root CA", "wrong-root.csr");
    ca_sign("", "wrong-root.key", "wrong-root.csr", "v3_root", ca_start,
            openssl_time(now + 3650L * 86400), "wrong-root.pem", true);

    genrsa("rsa.key", 2048);
    genrsa("mismatch.key", 2048);
    must({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", "ecdsa.key"}, in_dir);

    const std::string leaf_subj = "/O=Bank Example/CN=Bank Example no-reply";
    csr("rsa.key", leaf_subj, "rsa.csr");
    csr("ecdsa.key", leaf_subj, "ecdsa.csr");
    csr("rsa.key", "/O=Bank Example/CN=Bank Example other", "other.csr");
    auto leaf = [&](const std::string& req, const std::string& ext, const std::string& s,
                    const std::string& e, const std::string& out) {
        ca_sign("intermediate.pem", "intermediate.key", req, ext, s, e, out);
    };
    leaf("rsa.csr", "v3_leaf", leaf_start, leaf_end, "rsa.pem");
    leaf("ecdsa.csr", "v3_leaf", leaf_start, leaf_end, "ecdsa.pem");
    leaf("rsa.csr", "v3_leaf", openssl_time(now - 60L * 86400), openssl_time(now - 86400),
         "expired.pem");
    leaf("rsa.csr", "v3_leaf", openssl_time(now + 30L * 86400), openssl_time(now + 120L * 86400),
         "not-yet-valid.pem");
    leaf("rsa.csr", "v3_leaf_noeku", leaf_start, leaf_end, "no-email-eku.pem");
    leaf("other.csr", "v3_leaf_other", leaf_start, leaf_end, "other.pem");

    // NSS: a database that trusts the root for e-mail (and everything else).
    fs::create_directories(p.nss_db);
    const std::string db = "sql:" + p.nss_db.string();
    must({"certutil", "-N", "--empty-password", "-d", db}, in_dir);
    must({"certutil", "-A", "-n", "ribbon-test-root", "-t", "C,C,C", "-i", "root.pem", "-d", db},
         in_dir);

    // gpgsm: root marked trusted in trustlist.txt, certificates pre-imported
    // so that verifications do not need to write to the keybox.
    fs::create_directories(p.gnupghome);
    fs::permissions(p.gnupghome, fs::perms::owner_all, fs::perm_options::replace);
    const ProcessResult fp =
        run_process({"openssl", "x509", "-in", p.root_cert.string(), "-noout", "-fingerprint",
                     "-sha1"});
    const auto eq = fp.out.find('=');
    if (fp.exit_code != 0 || eq == std::string::npos)
        throw std::runtime_error("root fingerprint: " + fp.describe());
    std::string fingerprint = fp.out.substr(eq + 1);
    while (!fingerprint.empty() && (fingerprint.back() == '\n' || fingerprint.back() == '\r'))
        fingerprint.pop_back();
    write_file(p.gnupghome / "trustlist.txt", fingerprint + " S relax\n");
    write_file(p.gnupghome / "gpgsm.conf", "disable-crl-checks\ndisable-policy-checks\n");
    ProcessOptions g = in_dir;
    g.env = {{"GNUPGHOME", p.gnupghome.string()}};
    for (const char* c : {"root.pem", "intermediate.pem", "rsa.pem", "ecdsa.pem"})
        must({"gpgsm", "--batch", "--import", c}, g);
}

}  // namespace

std::string openssl_time(std::time_t t) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &tm);
    return buf;
}

const Pki& pki() {
    static const Pki instance = [] {
        fs::path base;
        if (const char* c = std::getenv("RIBBON_TEST_CACHE"); c && *c) base = c;
        else {
            std::error_code ec;
            const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
            base = (ec ? fs::temp_directory_path() : exe.parent_path()) / "ribbon-test-cache";
        }
        fs::create_directories(base);
        // A new PKI every day keeps the certificates' dates relative to now.
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        ::gmtime_r(&now, &tm);
        char day[16];
        std::strftime(day, sizeof day, "%Y%m%d", &tm);
        const fs::path dir = base / (std::string(kCacheVersion) + "-" + day);

        const fs::path lock_path = base / "lock";
        const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock < 0 || ::flock(lock, LOCK_EX) != 0)
            throw std::runtime_error("cannot lock " + lock_path.string());
        Pki p = layout(dir);
        try {
            if (!fs::exists(dir / "complete")) {
                // Earlier days' caches are left alone: a test started just
                // before midnight may still be using one. `make test` stops
                // every cache's gpg-agent when it ends.
                fs::create_directories(dir);
                build(p);
                write_file(dir / "complete", "ok\n");
            }
        } catch (...) {
            ::close(lock);
            throw;
        }
        ::close(lock);
        return p;
    }();
    return instance;
}

}  // namespace ribbon::test
