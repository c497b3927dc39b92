// Running `ribbon sign` the way the tests need it.
#pragma once

#include "support/pki.hpp"
#include "support/process.hpp"

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace ribbon::test {

enum class KeyKind { Rsa, Ecdsa };
inline void PrintTo(KeyKind k, std::ostream* os) { *os << (k == KeyKind::Ecdsa ? "ECDSA" : "RSA"); }

struct SignOptions {
    const Leaf* leaf = nullptr;  // default: pki().rsa (or ecdsa for KeyKind::Ecdsa)
    KeyKind key = KeyKind::Rsa;
    bool chain = true;           // pass --chain pki().chain
    bool opaque = false;
    bool header_protection = true;
    std::filesystem::path out;   // -o OUT when not empty
    std::vector<std::string> extra;
};

// Runs `ribbon sign ...` with the message on stdin.
ProcessResult ribbon_sign(const std::string& input, const SignOptions& o = {});

// Signs and ASSERTs success in the calling test; returns the output.
// Use as: std::string out; ASSERT_NO_FATAL_FAILURE(sign_ok(in, opts, out));
void sign_ok(const std::string& input, const SignOptions& o, std::string& out);

// What `openssl cms -sign -binary` makes of `content` (used byte for byte)
// with `leaf`'s key and the test PKI's chain: DER SignedData, detached, or
// opaque with `opaque`. `extra` goes last on the command line (where a
// -keyopt applies to the signer). Throws when openssl fails.
std::string openssl_cms_sign(const Leaf& leaf, const std::string& content, bool opaque = false,
                             const std::string& md = "sha256", const std::vector<std::string>& extra = {});

// The signed message made without ribbon: `openssl cms -sign -binary` over
// `content` (a MIME entity, used byte for byte), with the given outer
// headers. Used to test the test harness itself.
std::string openssl_signed_message(const std::string& content, const std::string& outer_headers,
                                   bool opaque = false);

// `content` (a MIME entity) sealed by `openssl cms -encrypt` (AES-256-CBC)
// to the test PKI's RSA certificate, as application/pkcs7-mime;
// smime-type=enveloped-data under `outer_headers` (CRLF lines, no
// MIME-Version or Content-Type).
std::string openssl_sealed_message(const std::string& content, const std::string& outer_headers);

}  // namespace ribbon::test
