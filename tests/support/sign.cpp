#include "support/sign.hpp"

#include "support/mime.hpp"

#include <gtest/gtest.h>

namespace ribbon::test {

ProcessResult ribbon_sign(const std::string& input, const SignOptions& o) {
    const Pki& p = pki();
    const Leaf& leaf = o.leaf ? *o.leaf : (o.key == KeyKind::Ecdsa ? p.ecdsa : p.rsa);
    std::vector<std::string> argv = {ribbon_binary(), "sign", "--key", leaf.key.string(),
                                     "--cert", leaf.cert.string()};
    if (o.chain) argv.insert(argv.end(), {"--chain", p.chain.string()});
    if (o.opaque) argv.push_back("--opaque");
    if (!o.header_protection) argv.push_back("--no-header-protection");
    if (!o.out.empty()) argv.insert(argv.end(), {"-o", o.out.string()});
    argv.insert(argv.end(), o.extra.begin(), o.extra.end());
    ProcessOptions po;
    po.stdin_data = input;
    po.timeout = std::chrono::seconds(60);
    return run_process(argv, po);
}

void sign_ok(const std::string& input, const SignOptions& o, std::string& out) {
    const ProcessResult r = ribbon_sign(input, o);
    ASSERT_EQ(r.exit_code, 0) << "ribbon sign failed: " << r.describe();
    ASSERT_FALSE(r.out.empty()) << "ribbon sign wrote nothing";
    out = r.out;
}

std::string openssl_cms_sign(const Leaf& leaf, const std::string& content, bool opaque, const std::string& md,
                             const std::vector<std::string>& extra) {
    TempDir tmp("ribbon-osign");
    write_file(tmp / "content", content);
    std::vector<std::string> argv = {"openssl", "cms", "-sign", "-binary", "-md", md,
                                     "-in", (tmp / "content").string(),
                                     "-signer", leaf.cert.string(), "-inkey", leaf.key.string(),
                                     "-certfile", pki().chain.string(), "-outform", "DER",
                                     "-out", (tmp / "cms.der").string()};
    if (opaque) argv.push_back("-nodetach");
    argv.insert(argv.end(), extra.begin(), extra.end());
    const ProcessResult r = run_process(argv);
    if (r.exit_code != 0) throw std::runtime_error("openssl cms -sign: " + r.describe());
    return read_file(tmp / "cms.der");
}

std::string openssl_signed_message(const std::string& content, const std::string& outer_headers,
                                   bool opaque) {
    const std::string sig = mime::base64_encode(openssl_cms_sign(pki().rsa, content, opaque), 76, "\r\n");
    if (opaque)
        return outer_headers +
               "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; "
               "smime-type=signed-data; name=\"smime.p7m\"\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n" + sig;
    const std::string b = "harness-boundary-1";
    return outer_headers + "MIME-Version: 1.0\r\nContent-Type: multipart/signed; "
           "protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"" + b +
           "\"\r\n\r\n--" + b + "\r\n" + content + "\r\n--" + b +
           "\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" + sig + "--" + b + "--\r\n";
}

std::string openssl_sealed_message(const std::string& content, const std::string& outer_headers) {
    TempDir tmp("ribbon-oseal");
    write_file(tmp / "content", content);
    const ProcessResult r = run_process({"openssl", "cms", "-encrypt", "-binary", "-aes-256-cbc", "-in",
                                         (tmp / "content").string(), "-outform", "DER", "-out",
                                         (tmp / "cms.der").string(), pki().rsa.cert.string()});
    if (r.exit_code != 0) throw std::runtime_error("openssl cms -encrypt: " + r.describe());
    return outer_headers +
           "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; "
           "smime-type=enveloped-data; name=\"smime.p7m\"\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" +
           mime::base64_encode(read_file(tmp / "cms.der"), 76, "\r\n");
}

}  // namespace ribbon::test
