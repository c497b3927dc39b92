// verify_strength.hpp — the verifier's algorithm policy: which digests,
// signature algorithms and signer keys make a signature invalid
// (weak_algorithm, weak_key) and which only earn a warning. The policy and
// its reasons are written down in docs/VERIFY.md; this is its only code.
//
// Private to core; called by verifier.cpp only, after the signature
// check has set each SignerInfo's certificate.
#pragma once

#include <openssl/cms.h>

#include <string>
#include <vector>

#include "ribbon/verifier.hpp"

namespace ribbon::verify {

struct Strength {
    // weak_algorithm or weak_key when a signer fails the policy, else none.
    VerifyReason reason = VerifyReason::none;
    std::string detail;
    // The failing digest cannot be computed by this OpenSSL (MD2, MD4 without
    // the legacy provider): the signature check then fails for that reason
    // only, and the policy is the clearer verdict.
    bool uncomputable = false;
    std::vector<VerifyWarning> warnings;
    bool ok() const { return reason == VerifyReason::none; }
};

// Judges every SignerInfo of `cms`: its digestAlgorithm, the digest its
// signatureAlgorithm names (md5WithRSAEncryption, ecdsa-with-SHA1, an
// RSASSA-PSS hash), and its certificate's public key. The first failure in
// SignerInfo order is reported; warnings are collected from all of them.
Strength check_strength(CMS_ContentInfo* cms, bool accept_sha1);

// Judges the signatures on the certificates of a chain X509_verify_cert()
// built (the signer's and each intermediate's) by the same digest policy:
// a certificate signed with MD5 or (unless accepted) SHA-1 can be forged by
// a collision (the 2008 rogue-CA certificate), whatever the message's own
// signature uses. The first failure is reported; warnings are collected.
Strength check_chain_strength(STACK_OF(X509) * chain, bool accept_sha1);

}  // namespace ribbon::verify
