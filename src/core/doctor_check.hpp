// doctor_check.hpp — the doctor's test of one candidate content: its
// digest against the messageDigest signed attribute of the first signer
// (RFC 5652 §11.2), which is what a changed content breaks, and whether
// the signer's signature over its signed attributes holds (if it does not,
// the signature itself was damaged and no change to the content explains
// it).
//
// Private to core; used by doctor.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/openssl_util.hpp"
#include "ribbon/error.hpp"

namespace ribbon::doctor {

class DigestCheck {
  public:
    // `cms` (a SignedData) is borrowed and must outlive the check. Errors:
    // no signer (Errc::bad_signature_format), a digest algorithm OpenSSL
    // cannot compute (Errc::bad_signature_format).
    static Result<DigestCheck> create(CMS_ContentInfo* cms);

    // The signer's signature over its signed attributes: true or false, or
    // nullopt when it cannot be checked (no signer certificate in the
    // SignedData, no signed attributes).
    std::optional<bool> signature_holds() const;

    // Whether `content` is what was signed. Counts what it digests.
    bool matches(std::string_view content);

    const std::string& algorithm() const noexcept { return m_algorithm; }
    std::uint64_t digested_bytes() const noexcept { return m_bytes; }
    std::uint64_t candidates() const noexcept { return m_count; }

  private:
    DigestCheck() = default;
    CMS_ContentInfo* m_cms = nullptr;
    CMS_SignerInfo* m_signer = nullptr;
    ossl::MdPtr m_md;
    std::string m_expected;  // the messageDigest value; empty without signed attributes
    std::string m_algorithm;
    std::uint64_t m_bytes = 0;
    std::uint64_t m_count = 0;
};

}  // namespace ribbon::doctor
