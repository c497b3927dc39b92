// ribbon/pkcs12.hpp — importing a Digital ID delivered as a PKCS#12 bundle
// (RFC 7292): private key, certificate and chain in one password-protected
// .p12/.pfx file, the form CAs, browsers and Windows hand out.
//
// The bundle is opened, checked like any Digital ID (the key matches the
// certificate, key type, digitalSignature and emailProtection) and filed
// with Keystore::add, so every keystore rule applies (docs/KEYSTORE.md,
// "Importing a PKCS#12 bundle"). The private key stays in memory only as
// long as filing it takes, and is wiped afterwards.
//
// Thread-safety: may be called from any number of threads; the one-time
// load of OpenSSL's legacy provider is serialised internally.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "ribbon/digital_id.hpp"
#include "ribbon/error.hpp"
#include "ribbon/keystore.hpp"

namespace ribbon {

struct Pkcs12ImportOptions {
    // The bundle's password. Callers read it from a file or the environment,
    // never from argv, and wipe their copy afterwards.
    std::string_view password;
    // Which of the certificate's addresses to file it under; may stay empty
    // when the certificate names exactly one.
    std::string_view address;
    // The clock against which an expired certificate is refused.
    TimePoint now = std::chrono::system_clock::now();
};

struct Pkcs12Imported {
    std::string address;              // as filed: lower case
    std::filesystem::path cert_file;  // what Keystore::add returned
    CertificateInfo certificate;
    std::size_t chain_certificates = 0;  // intermediates filed with it
    // True when this call had to load OpenSSL's legacy provider for the
    // bundle (RC2, 3DES: older NSS and Windows exports).
    bool legacy_algorithms = false;
};

// Imports `p12_file` into `keystore`. Errors (each message names the file):
//   unreadable file                      → io_error
//   not DER PKCS#12, truncated, damaged  → bad_certificate
//   MAC does not verify with the password → wrong_password
//   no private key / no certificate for it → bad_key / bad_certificate
//   several addresses and no (or a foreign) options.address,
//   or no address at all                  → from_not_in_certificate
//   expired certificate                  → certificate_expired
//   otherwise DigitalId::from_pem's and Keystore::add's errors
//   (certificate_usage, unsupported_key, io_error for an existing file, ...).
// A certificate that is not valid yet is filed: it becomes "next".
Result<Pkcs12Imported> import_pkcs12(const Keystore& keystore,
                                     const std::filesystem::path& p12_file,
                                     const Pkcs12ImportOptions& options);

}  // namespace ribbon
