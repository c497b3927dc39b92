#include "support/verifiers.hpp"

#include <gtest/gtest.h>

#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

#include <sstream>

namespace ribbon::test {
namespace fs = std::filesystem;

namespace {

std::string excerpt(const std::string& s, size_t max = 3000) {
    return s.size() <= max ? s : s.substr(0, max) + "\n[... " + std::to_string(s.size() - max) + " more bytes]";
}

std::string status_line(const std::string& text, const std::string& key) {
    const auto p = text.find(key);
    if (p == std::string::npos) return {};
    const auto e = text.find_first_of(";\r\n", p);
    return text.substr(p + key.size(), e == std::string::npos ? std::string::npos : e - p - key.size());
}

}  // namespace

SmimeParts split_smime(const std::string& message) {
    SmimeParts out;
    const mime::Entity top = mime::parse_entity(message);
    const mime::ContentType ct = mime::content_type_of(top);
    if (ct.type == "application/pkcs7-mime" || ct.type == "application/x-pkcs7-mime") {
        out.opaque = true;
        if (mime::transfer_encoding_of(top) != "base64") {
            out.error = "opaque message not base64";
            return out;
        }
        out.der = mime::base64_decode(top.body);
        return out;
    }
    if (ct.type != "multipart/signed") {
        out.error = "top-level Content-Type is " + ct.type;
        return out;
    }
    const auto mp = mime::split_multipart(top.body, ct.param("boundary"));
    if (!mp || mp->parts.size() != 2) {
        out.error = "multipart/signed does not have exactly two parts (boundary '" +
                    ct.param("boundary") + "')";
        return out;
    }
    // A receiver canonicalises the signed part to CRLF before hashing.
    out.content = mime::to_crlf(mp->parts[0]);
    const mime::Entity sig = mime::parse_entity(mp->parts[1]);
    const std::string sig_type = mime::content_type_of(sig).type;
    if (sig_type != "application/pkcs7-signature" && sig_type != "application/x-pkcs7-signature") {
        out.error = "second part is " + sig_type;
        return out;
    }
    out.der = mime::base64_decode(sig.body);
    return out;
}

VerifyResult verify_openssl(const std::string& message, const fs::path& ca) {
    TempDir tmp("ribbon-ossl");
    write_file(tmp / "msg.eml", message);
    const ProcessResult r = run_process(
        {"openssl", "cms", "-verify", "-CAfile", (ca.empty() ? pki().root_cert : ca).string(),
         "-purpose", "smimesign", "-in", (tmp / "msg.eml").string(), "-out",
         (tmp / "content.out").string()});
    VerifyResult v;
    v.ok = r.exit_code == 0 && r.err.find("Verification successful") != std::string::npos;
    v.details = "openssl cms -verify: " + r.describe();
    if (v.ok) v.content = read_file(tmp / "content.out");
    return v;
}

VerifyResult verify_nss(const std::string& message) {
    VerifyResult v;
    const SmimeParts parts = split_smime(message);
    if (!parts.error.empty()) {
        v.details = "NSS: not split: " + parts.error;
        return v;
    }
    TempDir tmp("ribbon-nss");
    const fs::path db = tmp / "db";
    fs::create_directories(db);
    for (const auto& e : fs::directory_iterator(pki().nss_db))
        if (e.is_regular_file()) fs::copy_file(e.path(), db / e.path().filename());
    std::vector<std::string> argv = {"cmsutil", "-D", "-d", "sql:" + db.string(), "-h", "2"};
    if (parts.opaque) {
        write_file(tmp / "p7m.der", parts.der);
        argv.insert(argv.end(), {"-i", (tmp / "p7m.der").string()});
    } else {
        write_file(tmp / "sig.der", parts.der);
        write_file(tmp / "content.bin", parts.content);
        argv.insert(argv.end(), {"-i", (tmp / "sig.der").string(), "-c",
                                 (tmp / "content.bin").string()});
    }
    argv.insert(argv.end(), {"-o", (tmp / "out.txt").string()});
    const ProcessResult r = run_process(argv);
    std::string report;
    if (fs::exists(tmp / "out.txt")) report = read_file(tmp / "out.txt");
    const std::string status = status_line(report + r.out, "signer0.status=");
    const bool one_signer = status_line(report + r.out, "nsigners=") == "1";
    v.ok = r.exit_code == 0 && status == "GoodSignature" && one_signer;
    v.details = "cmsutil -D: signer0.status=" + (status.empty() ? "<none>" : status) + "\n" +
                excerpt(report, 600) + "\n" + r.describe();
    return v;
}

VerifyResult verify_gpgsm(const std::string& message) {
    VerifyResult v;
    const SmimeParts parts = split_smime(message);
    if (!parts.error.empty()) {
        v.details = "gpgsm: not split: " + parts.error;
        return v;
    }
    TempDir tmp("ribbon-gpgsm");
    std::vector<std::string> argv = {"gpgsm", "--batch", "--status-fd", "1",
                                     "--disable-crl-checks", "--disable-policy-checks",
                                     "--disable-dirmngr"};
    if (parts.opaque) {
        write_file(tmp / "p7m.der", parts.der);
        argv.insert(argv.end(), {"--output", (tmp / "content.out").string(), "--verify",
                                 (tmp / "p7m.der").string()});
    } else {
        write_file(tmp / "sig.der", parts.der);
        write_file(tmp / "content.bin", parts.content);
        argv.insert(argv.end(),
                    {"--verify", (tmp / "sig.der").string(), (tmp / "content.bin").string()});
    }
    ProcessOptions o;
    o.env = {{"GNUPGHOME", pki().gnupghome.string()}};
    const ProcessResult r = run_process(argv, o);
    auto has = [&](const std::string& s) { return r.out.find("[GNUPG:] " + s + " ") != std::string::npos; };
    v.ok = r.exit_code == 0 && has("GOODSIG") && has("VALIDSIG") && !has("BADSIG") &&
           !has("ERRSIG");
    v.details = "gpgsm --verify: " + r.describe();
    if (v.ok && parts.opaque) v.content = read_file(tmp / "content.out");
    if (v.ok && !parts.opaque) v.content = parts.content;
    return v;
}

VerifyResult verify_ribbon(const std::string& message, const fs::path& ca) {
    TempDir tmp("ribbon-verify");
    write_file(tmp / "msg.eml", message);
    const ProcessResult r =
        run_process({ribbon_binary(), "verify", "--ca",
                     (ca.empty() ? pki().root_cert : ca).string(), (tmp / "msg.eml").string()});
    VerifyResult v;
    v.ok = r.exit_code == 0;
    v.details = "ribbon verify: " + r.describe();
    return v;
}

EveryVerifier expect_verified_everywhere(const std::string& message) {
    EveryVerifier all{verify_openssl(message), verify_nss(message), verify_gpgsm(message),
                      verify_ribbon(message)};
    EXPECT_TRUE(all.openssl.ok) << "openssl: " << all.openssl.details;
    EXPECT_TRUE(all.nss.ok) << "NSS: " << all.nss.details;
    EXPECT_TRUE(all.gpgsm.ok) << "gpgsm: " << all.gpgsm.details;
    EXPECT_TRUE(all.ribbon.ok) << "ribbon: " << all.ribbon.details;
    return all;
}

}  // namespace ribbon::test
