// Independent receivers for ribbon's output: OpenSSL, NSS (cmsutil), GnuPG
// (gpgsm), and ribbon's own verifier, each run as a separate program.
#pragma once

#include <filesystem>
#include <string>

namespace ribbon::test {

struct VerifyResult {
    bool ok = false;
    std::string details;  // what the tool said (for failure messages)
    std::string content;  // the signed content the tool extracted, if any
};

// What a receiver sees in an S/MIME message.
struct SmimeParts {
    bool opaque = false;
    std::string content;  // detached: the first part's bytes, LF -> CRLF canonicalised
    std::string der;      // the CMS SignedData, DER
    std::string error;    // non-empty if the message is not S/MIME signed
};
SmimeParts split_smime(const std::string& message);

// `openssl cms -verify -CAfile ca -purpose smimesign` (ca: default test root).
VerifyResult verify_openssl(const std::string& message, const std::filesystem::path& ca = {});
// `cmsutil -D ... -h 2` against a copy of the test NSS db; signer0.status=GoodSignature.
VerifyResult verify_nss(const std::string& message);
// `gpgsm --verify` with the test GNUPGHOME; exit 0 and GOODSIG + VALIDSIG + TRUST_FULLY.
VerifyResult verify_gpgsm(const std::string& message);
// `ribbon verify --ca ca` (default test root); ok iff exit 0.
VerifyResult verify_ribbon(const std::string& message, const std::filesystem::path& ca = {});

// EXPECTs that OpenSSL, NSS, gpgsm and ribbon all accept `message` (with the
// default test root) and returns what each said.
struct EveryVerifier {
    VerifyResult openssl, nss, gpgsm, ribbon;
};
EveryVerifier expect_verified_everywhere(const std::string& message);

}  // namespace ribbon::test
