// The test PKI: made once with the openssl CLI and shared by every test
// process (gtest_discover_tests runs one process per test), together with
// a ready NSS database and a GnuPG home that trusts the test root.
#pragma once

#include <ctime>
#include <filesystem>
#include <string>

namespace ribbon::test {

struct Leaf {
    std::filesystem::path key;   // PEM private key
    std::filesystem::path cert;  // PEM certificate
};

struct Pki {
    std::filesystem::path dir;

    std::filesystem::path root_cert, root_key;          // RSA-3072, self-signed
    std::filesystem::path intermediate_cert, intermediate_key;
    std::filesystem::path chain;                        // = intermediate only
    std::filesystem::path wrong_root_cert;              // an unrelated root

    std::string address = "no-reply@bank.example";
    std::string other_address = "other@bank.example";

    Leaf rsa;            // no-reply@bank.example, RSA-2048
    Leaf ecdsa;          // no-reply@bank.example, ECDSA P-256
    Leaf expired;        // expired yesterday
    Leaf not_yet_valid;  // valid from 30 days ahead
    Leaf no_email_eku;   // extendedKeyUsage clientAuth only
    Leaf other;          // other@bank.example
    Leaf mismatched;     // key that does not belong to cert (cert = rsa.cert)

    // Ready-made receivers' stores (treat as read-only; copy the NSS db
    // before use because cmsutil may write to it).
    std::filesystem::path nss_db;     // directory holding cert9.db, key4.db
    std::filesystem::path gnupghome;  // root in trustlist.txt ("S relax")

    // Leaves are valid from this many seconds ago (so a Date hours in the
    // past is inside the validity period).
    static constexpr long kLeafBackdateSeconds = 3 * 24 * 3600;
};

// Creates the PKI on first use (thread-safe in-process, flock-protected
// across processes) and returns it. Throws std::runtime_error on failure.
const Pki& pki();

// A time as `openssl ca -startdate/-enddate` wants it: YYYYMMDDHHMMSSZ (UTC).
std::string openssl_time(std::time_t t);

// The ribbon CLI built alongside the tests.
std::string ribbon_binary();
std::filesystem::path source_dir();

}  // namespace ribbon::test
