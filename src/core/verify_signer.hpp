// verify_signer.hpp — checking the signers of one SignedData: the CMS
// signature over the signed bytes (RFC 5652 §5.6), the algorithm policy
// (verify_strength.hpp), and each signer's certificate chain to a trusted
// root for S/MIME signing (RFC 5280 §6, RFC 8550 §4); and describing the
// first signer (certificate, algorithms, key digests for key continuity).
//
// Judging what those checks add up to is verify_judge.hpp's. Private to
// core; called by verifier.cpp only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/trust_store_impl.hpp"
#include "core/verify_locate.hpp"
#include "core/verify_strength.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon::verify {

// One check's outcome: none, or the reason with a sentence for people.
struct Check {
    VerifyReason reason = VerifyReason::none;
    std::string detail;
    bool ok() const { return reason == VerifyReason::none; }
};

struct SignerExam {
    Check signature;    // digest_mismatch, bad_signature, untrusted (no certificate)
    Strength strength;  // its warnings are moved into `warnings`
    Check chain;        // the first signer whose chain fails
    std::optional<SignerDetails> signer;  // the first signer; none when unidentified
    // The certificates in the SignedData that vouch for a From address
    // (DER), as VerifyResult::sender_certificates.
    std::vector<std::string> sender_certificates;
    // Those the signature binds to the sender (VerifyResult::bound_certificates).
    std::vector<std::string> bound_certificates;
    std::vector<VerifyWarning> warnings;
};

// Step 2 of a signer's checks: the chain, built from the certificates in
// the message as untrusted intermediates, for `purpose`: S/MIME signing
// (keyUsage digitalSignature or nonRepudiation, extendedKeyUsage
// emailProtection if present) for a signer. `chain_out` gets the chain's
// subjects, the strength policy's warnings go to `warnings`.
Check check_chain(const TrustStore::Impl& trust, X509* cert, STACK_OF(X509) * untrusted,
                  const VerifyOptions& options, std::vector<std::string>& chain_out,
                  std::vector<VerifyWarning>& warnings, int purpose = X509_PURPOSE_SMIME_SIGN);

// The certificates in `cms` that the first signer's signature binds to the
// sender (DER): its own certificate, and the encryption certificate it
// names in a signed attribute, SMIMEEncryptionKeyPreference (RFC 8551
// §2.5.3) or Microsoft's 1.3.6.1.4.1.311.16.4 (an IssuerAndSerialNumber),
// when that certificate is in the SignedData, names a `from` address and
// chains to a trusted root at the verification time. verify_bound.cpp.
std::vector<std::string> bound_certificates(CMS_ContentInfo* cms, CMS_SignerInfo* first, X509* signer,
                                            STACK_OF(X509) * untrusted, const TrustStore::Impl& trust,
                                            const VerifyOptions& options, const std::vector<std::string>& from);

// Examines `found` (a signed_data layer) against `trust` with the
// options' time and SHA-1 policy; `from` are the message's From addresses
// (for sender_certificates).
SignerExam examine(const Located& found, const TrustStore::Impl& trust,
                   const VerifyOptions& options, const std::vector<std::string>& from);

}  // namespace ribbon::verify
