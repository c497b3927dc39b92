// seal_algorithms.cpp — which algorithms a sealed message uses, from the
// recipients' key types and sMIMECapabilities (ribbon/seal.hpp). A pure
// function: tests/core/seal_algorithms_test.cpp checks every combination.
#include <algorithm>

#include "base/ascii.hpp"
#include "ribbon/seal.hpp"

namespace ribbon {

namespace {

bool lists(const std::vector<std::string>& caps, std::initializer_list<std::string_view> names) {
    return std::any_of(caps.begin(), caps.end(), [&](const std::string& c) {
        return std::find(names.begin(), names.end(), std::string_view(c)) != names.end();
    });
}

// RFC 5084 §3.2 / §1.5: id-aes128-GCM and id-aes256-GCM, as OpenSSL's
// short names (lower-cased) or dotted OIDs (the harvest writes the
// former; a store filled by another OpenSSL may hold the latter).
bool lists_gcm(const std::vector<std::string>& caps) {
    return lists(caps, {"id-aes256-gcm", "id-aes128-gcm", "2.16.840.1.101.3.4.1.46", "2.16.840.1.101.3.4.1.6"});
}

SealKeyTransport key_transport_for(const SealProfile& p) {
    // RFC 5753 §3.1: an EC key can only be reached by key agreement; the
    // SHA-256 KDF and AES-256 key wrap match the content key's strength
    // (RFC 5753 §7.2, RFC 8551 §2.7's AES-256). Every receiver tested
    // (OpenSSL, NSS, gpgsm) opens it.
    if (p.key_type == SealKeyType::ec) return SealKeyTransport::ecdh_sha256_aes256;
    // RFC 3560 §4: rsaesOAEP in sMIMECapabilities; without parameters it
    // declares the default ones (SHA-1, MGF1-SHA-1).
    if (lists(p.capabilities, {"rsaes-oaep-sha256"})) return SealKeyTransport::rsa_oaep_sha256;
    if (lists(p.capabilities, {"rsaes-oaep", "1.2.840.113549.1.1.7"})) return SealKeyTransport::rsa_oaep_sha1;
    // RFC 8551 §2.4.2: RSA PKCS#1 v1.5 is what every receiver MUST support.
    return SealKeyTransport::rsa_pkcs1_v15;
}

}  // namespace

std::string_view seal_content_cipher_name(SealContentCipher c) noexcept {
    switch (c) {
        case SealContentCipher::aes256_cbc: return "aes-256-cbc";
        case SealContentCipher::aes256_gcm: return "aes-256-gcm";
    }
    return "aes-256-cbc";
}

std::string_view seal_key_transport_name(SealKeyTransport t) noexcept {
    switch (t) {
        case SealKeyTransport::rsa_pkcs1_v15: return "rsa-pkcs1-v1_5";
        case SealKeyTransport::rsa_oaep_sha1: return "rsa-oaep-sha1";
        case SealKeyTransport::rsa_oaep_sha256: return "rsa-oaep-sha256";
        case SealKeyTransport::ecdh_sha256_aes256: return "ecdh-sha256kdf-aes256-wrap";
    }
    return "rsa-pkcs1-v1_5";
}

SealAlgorithms choose_seal_algorithms(std::span<const SealProfile> recipients) {
    SealAlgorithms a;
    // One content key for all: GCM only when every recipient can open it
    // (RFC 8551 §2.7: AES-256-CBC is the MUST everyone has).
    const bool all_gcm = !recipients.empty() &&
                         std::all_of(recipients.begin(), recipients.end(),
                                     [](const SealProfile& p) { return lists_gcm(p.capabilities); });
    a.content = all_gcm ? SealContentCipher::aes256_gcm : SealContentCipher::aes256_cbc;
    a.key_transport.reserve(recipients.size());
    for (const SealProfile& p : recipients) a.key_transport.push_back(key_transport_for(p));
    return a;
}

std::vector<std::string> parse_seal_capabilities(std::string_view list) {
    std::vector<std::string> out;
    std::string current;
    for (char c : list) {
        if (c == ',' || c == ' ' || c == '\t' || c == '\n') {
            if (!current.empty()) out.push_back(ascii_lower(current));
            current.clear();
        } else {
            current.push_back(c);
        }
    }
    if (!current.empty()) out.push_back(ascii_lower(current));
    return out;
}

}  // namespace ribbon
