// cms_builder.hpp — CMS SignedData (RFC 5652 §5) for one signer, assembled
// from a template prepared once per Digital ID.
//
// Why not CMS_sign(): in OpenSSL 3.0 CMS_sign()/CMS_add1_signer() fetch the
// digest and signature algorithms, re-check the key against the certificate
// and rebuild every constant structure for each message; for ECDSA P-256
// that costs more than the signature itself (about 0.31 of `openssl speed`).
// Everything in a SignerInfo except messageDigest, signingTime and the
// signature value is the same for every message, so it is encoded here once
// and each message costs one SHA-256 over ~200 bytes of attributes and one
// private-key operation. The output is checked against openssl, NSS and
// gpgsm by the test suite.
//
// Thread-safety: detached(), encapsulated() and the encoders are const and
// may be called concurrently; private-key contexts come from a small pool
// so that threads never share an EVP_PKEY_CTX (or an RSA blinding lock). A
// key in a token is the exception: its operations take the token's lock
// one at a time (DigitalId::Impl::token_lock).
#pragma once

#include <array>
#include <mutex>
#include <string>
#include <vector>

#include "core/digital_id_impl.hpp"
#include "core/openssl_util.hpp"

namespace ribbon::cms {

using Digest = std::array<unsigned char, 32>;

class SignedDataBuilder {
public:
    static Result<std::unique_ptr<SignedDataBuilder>> create(const DigitalId::Impl& id);
    ~SignedDataBuilder();

    const EVP_MD* sha256() const noexcept { return m_sha256.get(); }

    // DER ContentInfo for a detached signature over content with `digest`.
    Result<std::string> detached(const Digest& digest, TimePoint signing_time) const;
    // The same, appended to `out` in base64 lines (Base64Encoder::
    // append_lines()). The lines that hold only constant bytes (the
    // certificates, mostly) were encoded once, by create().
    Result<void> append_detached_base64(const Digest& digest, TimePoint signing_time, std::string& out) const;
    // Room for a signature part with its MIME headers, for reserving.
    std::size_t signature_part_estimate() const noexcept {
        return (m_detached_head.size() + 1024) * 80 / 57 + 512;
    }

    // An encapsulated (opaque) SignedData is emitted in three pieces so that
    // the content can be streamed between them: prefix, content, suffix.
    struct Encapsulated {
        std::string prefix;
        std::string suffix;
    };
    Result<Encapsulated> encapsulated(const Digest& digest, TimePoint signing_time,
                                      std::uint64_t content_length) const;

private:
    SignedDataBuilder() = default;
    Result<std::string> signer_info(const Digest& digest, TimePoint signing_time) const;
    // A detached ContentInfo is prefix(si) + m_detached_head + SET { si }.
    std::string detached_prefix(std::size_t signer_info_size) const;
    void prepare_base64_cache();
    Result<std::string> sign_hash(const Digest& hash) const;
    Result<void> sha256_once(std::string_view data, Digest& out) const;
    static Result<void> check_attribute_order();

    struct KeyContext;
    std::unique_ptr<KeyContext> acquire() const;
    void release(std::unique_ptr<KeyContext> ctx) const;
    Result<std::unique_ptr<KeyContext>> make_context() const;

    ossl::MdPtr m_sha256;
    const DigitalId::Impl* m_id = nullptr;
    bool m_is_rsa = true;
    std::string m_sid;                 // IssuerAndSerialNumber
    std::string m_signature_algorithm;  // AlgorithmIdentifier
    std::string m_certificates;         // [0] IMPLICIT CertificateSet
    // Encoded once: SignerInfo's version, sid and digestAlgorithm; and
    // SignedData's content up to its signerInfos for a detached signature.
    std::string m_signer_info_head;
    std::string m_detached_head;
    std::size_t m_max_signature = 0;
    // Base64 lines of m_detached_head[m_b64_from, m_b64_to) when the
    // prefix is m_b64_prefix_size bytes long: those bytes then fill whole
    // 57-octet lines. Empty when the head is too short to fill one.
    std::string m_b64_lines;
    std::size_t m_b64_prefix_size = 0;
    std::size_t m_b64_from = 0;
    std::size_t m_b64_to = 0;
    mutable std::mutex m_pool_mutex;
    mutable std::vector<std::unique_ptr<KeyContext>> m_pool;
};

}  // namespace ribbon::cms
