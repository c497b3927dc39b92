// The sealed-message openers (openers.hpp).
#include "support/openers.hpp"

#include <stdexcept>

#include "support/process.hpp"

namespace ribbon::test {

namespace fs = std::filesystem;

namespace {

std::string describe(const std::vector<std::string>& argv, const ProcessResult& r) {
    std::string s;
    for (const auto& a : argv) s += a + " ";
    return s + "-> " + r.describe();
}

void must(const std::vector<std::string>& argv, const ProcessOptions& opts = {}) {
    const ProcessResult r = run_process(argv, opts);
    if (r.exit_code != 0) throw std::runtime_error(describe(argv, r));
}

OpenResult result_of(const std::vector<std::string>& argv, const ProcessResult& r, const fs::path& out) {
    OpenResult o;
    o.ok = r.exit_code == 0;
    o.details = describe(argv, r);
    if (o.ok && fs::exists(out)) o.content = read_file(out);
    return o;
}

}  // namespace

std::string header_section(const std::string& message) {
    const std::size_t end = message.find("\r\n\r\n");
    return end == std::string::npos ? message : message.substr(0, end + 4);
}

std::string sealed_der(const std::string& message) {
    const std::string head = header_section(message);
    std::string b64;
    for (std::size_t i = head.size(); i < message.size(); ++i) {
        if (message[i] != '\r' && message[i] != '\n') b64 += message[i];
    }
    TempDir dir("ribbon-sealed-der");
    write_file(dir / "b64", b64);
    const ProcessResult r = run_process({"openssl", "base64", "-d", "-A", "-in", (dir / "b64").string()});
    return r.exit_code == 0 ? r.out : std::string();
}

OpenResult open_openssl(const std::string& message, const fs::path& key, const fs::path& cert) {
    TempDir dir("ribbon-open-openssl");
    write_file(dir / "in.der", sealed_der(message));
    const std::vector<std::string> argv = {"openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in",
                                           (dir / "in.der").string(), "-recip", cert.string(), "-inkey",
                                           key.string(), "-out", (dir / "out").string()};
    return result_of(argv, run_process(argv), dir / "out");
}

OpenResult open_nss(const std::string& message, const fs::path& key, const fs::path& cert) {
    TempDir dir("ribbon-open-nss");
    const std::string db = "sql:" + (dir / "db").string();
    fs::create_directories(dir / "db");
    must({"certutil", "-N", "-d", db, "--empty-password"});
    must({"openssl", "pkcs12", "-export", "-in", cert.string(), "-inkey", key.string(), "-name", "recipient",
          "-passout", "pass:pw", "-out", (dir / "id.p12").string()});
    must({"pk12util", "-i", (dir / "id.p12").string(), "-d", db, "-W", "pw"});
    write_file(dir / "in.der", sealed_der(message));
    const std::vector<std::string> argv = {"cmsutil", "-D", "-d", db, "-i", (dir / "in.der").string(),
                                           "-o", (dir / "out").string()};
    return result_of(argv, run_process(argv), dir / "out");
}

OpenResult open_gpgsm(const std::string& message, const fs::path& key, const fs::path& cert) {
    TempDir home("ribbon-open-gpgsm");
    fs::permissions(home.path(), fs::perms::owner_all, fs::perm_options::replace);
    write_file(home / "gpgsm.conf", "disable-crl-checks\ndisable-policy-checks\n");
    // PKCS#12 with the algorithms GnuPG 2.2 reads (SHA-1/3DES).
    must({"openssl", "pkcs12", "-export", "-in", cert.string(), "-inkey", key.string(), "-passout", "pass:pw",
          "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1", "-out",
          (home / "id.p12").string()});
    write_file(home / "in.der", sealed_der(message));
    ProcessOptions g;
    g.env = {{"GNUPGHOME", home.path().string()}};
    g.stdin_data = "pw\n";  // gpgsm 2.2 reads the PKCS#12 passphrase from a descriptor
    const std::vector<std::string> prefix = {"gpgsm", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd",
                                             "0"};
    std::vector<std::string> import = prefix;
    import.insert(import.end(), {"--import", (home / "id.p12").string()});
    const ProcessResult imported = run_process(import, g);
    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), {"--output", (home / "out").string(), "--decrypt", (home / "in.der").string()});
    OpenResult o;
    if (imported.exit_code != 0) {
        o.details = describe(import, imported);
    } else {
        o = result_of(argv, run_process(argv, g), home / "out");
    }
    run_process({"gpgconf", "--kill", "gpg-agent"}, g);
    return o;
}

}  // namespace ribbon::test
