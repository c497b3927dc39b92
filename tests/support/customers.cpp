// The customers' side of the learning tests (support/customers.hpp).
#include "support/customers.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <stdexcept>

namespace ribbon::test {

namespace fs = std::filesystem;

namespace {

// `openssl req` reads a configuration file; the system's may add
// extensions of its own (Debian's v3_ca), so the tests bring theirs.
constexpr const char* kReqConfig =
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n";

std::string describe_run(const std::vector<std::string>& argv, const ProcessResult& r) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return cmd + ": " + r.describe();
}

void new_key(const fs::path& key) {
    tool({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
          key.string()});
}

std::string base64_lines(const std::string& der, const fs::path& dir) {
    write_file(dir / "b64.in", der);
    return tool({"openssl", "base64", "-e", "-in", (dir / "b64.in").string()});
}

}  // namespace

std::string tool(const std::vector<std::string>& argv, const std::string& stdin_data) {
    const ProcessResult r = run_process(argv, stdin_data);
    if (r.exit_code != 0) throw std::runtime_error(describe_run(argv, r));
    return r.out;
}

std::string signing_extensions(const std::string& address) {
    return "basicConstraints = critical, CA:FALSE\n"
           "keyUsage = critical, digitalSignature, nonRepudiation\n"
           "extendedKeyUsage = emailProtection\n"
           "subjectAltName = email:" +
           address + "\n";
}

CustomerCa::CustomerCa() {
    write_file(dir() / "req.cnf", kReqConfig);
    m_root = {dir() / "root.key", dir() / "root.pem"};
    new_key(m_root.key);
    tool({"openssl",     "req",
          "-new",        "-x509",
          "-config",     (dir() / "req.cnf").string(),
          "-key",        m_root.key.string(),
          "-subj",       "/C=DE/O=Customer GmbH/CN=Customer Test CA",
          "-days",       "60",
          "-set_serial", "1",
          "-addext",     "basicConstraints=critical,CA:TRUE",
          "-addext",     "keyUsage=critical,keyCertSign,cRLSign",
          "-out",        m_root.cert.string()});
}

Issued CustomerCa::issue(const std::string& stem, const std::string& subject,
                         const std::string& extensions, const std::string& serial_hex,
                         const Issued* issuer, int days) const {
    const Issued& by = issuer != nullptr ? *issuer : m_root;
    Issued out{dir() / (stem + ".key"), dir() / (stem + ".pem")};
    const fs::path csr = dir() / (stem + ".csr");
    const fs::path ext = dir() / (stem + ".ext");
    write_file(ext, extensions);
    new_key(out.key);
    tool({"openssl", "req", "-new", "-config", (dir() / "req.cnf").string(), "-key",
          out.key.string(), "-subj", subject, "-out", csr.string()});
    tool({"openssl", "x509", "-req", "-in", csr.string(), "-CA", by.cert.string(), "-CAkey",
          by.key.string(), "-set_serial", "0x" + serial_hex, "-days", std::to_string(days), "-sha256", "-extfile",
          ext.string(), "-out", out.cert.string()});
    return out;
}

std::string openssl_signed(const std::string& headers, const std::string& content,
                           const Issued& signer, const OpensslSign& options) {
    TempDir tmp("ribbon-ossl-sign");
    write_file(tmp / "content.txt", content);
    std::vector<std::string> argv = {"openssl",
                                     "cms",
                                     "-sign",
                                     "-in",
                                     (tmp / "content.txt").string(),
                                     "-signer",
                                     signer.cert.string(),
                                     "-inkey",
                                     signer.key.string()};
    if (options.opaque) argv.push_back("-nodetach");
    if (!options.extra_certs.empty()) {
        std::string bundle;
        for (const auto& c : options.extra_certs) bundle += read_file(c);
        write_file(tmp / "extra.pem", bundle);
        argv.insert(argv.end(), {"-certfile", (tmp / "extra.pem").string()});
    }
    return headers + tool(argv);
}

std::string nss_signed(const std::string& headers, const std::string& content, const Issued& signer,
                       const fs::path& ca, bool opaque, const Issued* encryption) {
    TempDir tmp("ribbon-nss-sign");
    const std::string db = "sql:" + (tmp / "db").string();
    fs::create_directories(tmp / "db");
    tool({"certutil", "-N", "-d", db, "--empty-password"});
    tool({"openssl", "pkcs12", "-export", "-in", signer.cert.string(), "-inkey",
          signer.key.string(), "-name", "customer", "-passout", "pass:pw", "-out",
          (tmp / "id.p12").string()});
    tool({"pk12util", "-i", (tmp / "id.p12").string(), "-d", db, "-W", "pw"});
    // cmsutil signs only with a certificate it can validate for email.
    tool({"certutil", "-A", "-d", db, "-n", "customer-ca", "-t", "C,C,C", "-i", ca.string()});
    // NSS hashes the bytes it is given: hand it the canonical (CRLF) form a
    // client hashes, while the message keeps LF as a mail store does.
    std::string crlf;
    for (char c : content) {
        if (c == '\n') crlf += '\r';
        crlf += c;
    }
    write_file(tmp / "content.txt", crlf);
    std::vector<std::string> argv = {"cmsutil", "-S",
                                     "-G",      "-P",
                                     "-N",      "customer",
                                     "-d",      db,
                                     "-i",      (tmp / "content.txt").string(),
                                     "-o",      (tmp / "cms.der").string()};
    if (!opaque) argv.push_back("-T");
    if (encryption != nullptr) {
        // -Y looks the certificate up as the user's own: with its key.
        tool({"openssl", "pkcs12", "-export", "-in", encryption->cert.string(), "-inkey",
              encryption->key.string(), "-name", "customer-encryption", "-passout", "pass:pw", "-out",
              (tmp / "enc.p12").string()});
        tool({"pk12util", "-i", (tmp / "enc.p12").string(), "-d", db, "-W", "pw"});
        argv.insert(argv.end(), {"-Y", "customer-encryption"});
    }
    tool(argv);
    const std::string b64 = base64_lines(read_file(tmp / "cms.der"), tmp.path());
    if (opaque) {
        return headers +
               "MIME-Version: 1.0\n"
               "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=\"smime.p7m\"\n"
               "Content-Transfer-Encoding: base64\n"
               "Content-Disposition: attachment; filename=\"smime.p7m\"\n\n" +
               b64;
    }
    return multipart_signed(headers, content, "nss-signed-9f2c41", b64);
}

std::string multipart_signed(const std::string& headers, const std::string& content, const std::string& boundary,
                             const std::string& b64) {
    return headers +
           "MIME-Version: 1.0\n"
           "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
           "micalg=sha-256;\n"
           " boundary=\"" +
           boundary +
           "\"\n\n"
           "This is a cryptographically signed message in MIME format.\n\n"
           "--" +
           boundary + "\n" + content + "\n--" + boundary +
           "\n"
           "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\n"
           "Content-Transfer-Encoding: base64\n"
           "Content-Disposition: attachment; filename=\"smime.p7s\"\n\n" +
           b64 + "\n--" + boundary + "--\n";
}

std::string gpgsm_signed(const std::string& headers, const std::string& content, const Issued& signer,
                         const std::vector<fs::path>& chain, const fs::path& root) {
    TempDir home("ribbon-gpgsm-sign");
    fs::permissions(home.path(), fs::perms::owner_all, fs::perm_options::replace);
    write_file(home / "gpgsm.conf", "disable-crl-checks\ndisable-policy-checks\n");
    // gpgsm checks its own chain before it signs: the root is trusted.
    std::string fingerprint = tool({"openssl", "x509", "-in", root.string(), "-noout", "-fingerprint", "-sha1"});
    fingerprint = fingerprint.substr(fingerprint.find('=') + 1);
    while (!fingerprint.empty() && std::isspace(static_cast<unsigned char>(fingerprint.back()))) fingerprint.pop_back();
    write_file(home / "trustlist.txt", fingerprint + " S relax\n");
    // PKCS#12 with the algorithms GnuPG 2.2 reads (SHA-1/3DES, not
    // OpenSSL 3's PBES2 default).
    tool({"openssl", "pkcs12", "-export", "-in", signer.cert.string(), "-inkey", signer.key.string(), "-passout",
          "pass:pw", "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1", "-out",
          (home / "id.p12").string()});
    std::string crlf;
    for (char c : content) {
        if (c == '\n') crlf += '\r';
        crlf += c;
    }
    write_file(home / "content.txt", crlf);
    ProcessOptions g;
    g.env = {{"GNUPGHOME", home.path().string()}};
    // gpgsm 2.2 takes the PKCS#12 passphrase from a file descriptor, not
    // from --passphrase.
    g.stdin_data = "pw\n";
    auto gpgsm = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"gpgsm", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0"});
        const ProcessResult r = run_process(args, g);
        if (r.exit_code != 0) {
            run_process({"gpgconf", "--kill", "gpg-agent"}, g);
            throw std::runtime_error(describe_run(args, r));
        }
    };
    gpgsm({"--import", root.string()});
    for (const auto& c : chain) gpgsm({"--import", c.string()});
    gpgsm({"--import", (home / "id.p12").string()});
    gpgsm({"--detach-sign", "--include-certs", "-1", "--output", (home / "sig.der").string(),
           (home / "content.txt").string()});
    // The agent gpgsm started for this home ends with it.
    run_process({"gpgconf", "--kill", "gpg-agent"}, g);
    return multipart_signed(headers, content, "gpgsm-signed-3e8d17",
                            base64_lines(read_file(home / "sig.der"), home.path()));
}

X509View x509_view(const fs::path& cert_pem) {
    X509View v;
    const std::string text =
        tool({"openssl", "x509", "-in", cert_pem.string(), "-noout", "-subject", "-issuer",
              "-serial", "-enddate", "-nameopt", "RFC2253,-esc_msb", "-dateopt", "iso_8601"});
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
        if (key == "subject") v.subject = value;
        if (key == "issuer") v.issuer = value;
        if (key == "serial") {
            for (char c : value)
                v.serial += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (key == "notAfter") {
            std::tm tm{};
            if (std::sscanf(value.c_str(), "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
                throw std::runtime_error("openssl x509 -enddate: cannot read " + value);
            }
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            v.not_after = timegm(&tm);
        }
    }
    v.der = tool({"openssl", "x509", "-in", cert_pem.string(), "-outform", "DER"});
    const std::string sum = tool({"sha256sum"}, v.der);
    v.sha256 = sum.substr(0, sum.find(' '));
    return v;
}

std::vector<std::string> printed_capabilities(const std::string& signed_data_der) {
    TempDir tmp("ribbon-cms-print");
    write_file(tmp / "cms.der", signed_data_der);
    const std::string text = tool({"openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in",
                                   (tmp / "cms.der").string()});
    // The attribute's value is printed as an asn1parse dump, one line per
    // element: "   4:d=2  hl=2 l=   9 prim:   OBJECT  :aes-256-cbc". Each
    // capability is a SEQUENCE at depth 1 whose algorithm is the OBJECT at
    // depth 2; its parameters (RC2's key size) follow at depth 2 too.
    std::istringstream lines(text);
    std::string line;
    bool in_attribute = false, in_dump = false;
    std::vector<std::string> names;
    while (std::getline(lines, line)) {
        if (!in_attribute) {
            in_attribute = line.find("S/MIME Capabilities") != std::string::npos;
            continue;
        }
        const bool dump_line =
            line.find(":d=") != std::string::npos && line.find("hl=") != std::string::npos;
        if (!dump_line) {
            if (in_dump) break;
            continue;
        }
        in_dump = true;
        if (line.find("d=2") != std::string::npos && line.find("OBJECT") != std::string::npos) {
            names.push_back(line.substr(line.rfind(':') + 1));
        }
    }
    if (names.empty()) throw std::runtime_error("no S/MIME Capabilities in:\n" + text);
    return names;
}

std::string mboxrd(const std::vector<std::string>& messages) {
    std::string out;
    for (const auto& m : messages) {
        out += "From customer@customer.example Mon Nov 13 06:00:00 2023\n";
        std::istringstream lines(m);
        std::string line;
        while (std::getline(lines, line)) {
            const auto quotes = line.find_first_not_of('>');
            if (quotes != std::string::npos && line.compare(quotes, 5, "From ") == 0) out += '>';
            out += line + "\n";
        }
        out += "\n";
    }
    return out;
}

}  // namespace ribbon::test
