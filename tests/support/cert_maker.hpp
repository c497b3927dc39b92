// Self-signed certificates made in process, for the shapes the test PKI
// (pki.hpp) does not have: other key types and sizes, names, subjectAltName
// entries and key usages. The key is generated per call and lives only in
// memory (and in the PEM handed back to the test); nothing is written to
// disk and nothing is committed.
#pragma once

#include <openssl/x509.h>

#include <string>
#include <utility>
#include <vector>

namespace ribbon::test {

struct CertSpec {
    // "EC:P-256", "EC:P-384", "EC:P-521" or "RSA:<bits>".
    std::string key = "EC:P-256";
    std::vector<std::pair<std::string, std::string>> subject = {
        {"CN", "test"}};  // field, UTF-8 value
    // GEN_EMAIL, GEN_DNS, or GEN_OTHERNAME for an RFC 8398 SmtpUTF8Mailbox.
    std::vector<std::pair<int, std::string>> san;
    std::string key_usage;  // OpenSSL's syntax, e.g. "critical,keyEncipherment"; empty: none
    std::string extended_key_usage;  // e.g. "emailProtection"; empty: none
    long serial = 0x01AB;
    std::string not_before = "261206102030Z";  // ASN.1 time strings
    std::string not_after = "20510101000000Z";
    std::string digest = "SHA256";  // what the certificate's own signature hashes with
};

struct MadeCert {
    std::string key_pem;  // PKCS#8, unencrypted
    std::string cert_pem;
    X509* cert = nullptr;  // owned by this struct
    MadeCert() = default;
    MadeCert(const MadeCert&) = delete;
    MadeCert& operator=(const MadeCert&) = delete;
    MadeCert(MadeCert&& other) noexcept;
    ~MadeCert();
};

// Throws std::runtime_error with OpenSSL's reasons when it cannot.
MadeCert make_self_signed(const CertSpec& spec);

}  // namespace ribbon::test
