// The customers' side of the learning tests (tests/learn/learn_test.cpp,
// tests/e2e/learn_cli_test.cpp): a CA of the customers' own, which ribbon does
// not trust, certificates for customer addresses minted with the openssl
// CLI, mail signed with `openssl cms` and NSS `cmsutil`, what openssl says
// about a certificate, and mbox files written the mboxrd way. Everything is
// made and read by programs other than ribbon, so a test compares ribbon's
// reading of the mail with theirs rather than with itself.
//
// Not thread-safe. Every function throws std::runtime_error, naming the
// command and what it said, when a tool fails.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace ribbon::test {

struct Issued {
    std::filesystem::path key;   // PEM, unencrypted
    std::filesystem::path cert;  // PEM
};

// The subjectAltName-carrying extensions of a customer's S/MIME signing
// certificate (RFC 8550 §3: the address belongs in subjectAltName).
std::string signing_extensions(const std::string& address);

class CustomerCa {
  public:
    // A self-signed EC P-256 root "CN=Customer Test CA,O=Customer GmbH,C=DE"
    // in a TempDir of its own.
    CustomerCa();

    const Issued& root() const { return m_root; }
    const std::filesystem::path& dir() const { return m_dir.path(); }

    // A certificate for `subject` ("/C=DE/CN=Alice") with the extensions
    // given as openssl extfile text, signed by `issuer` (the root when
    // null), EC P-256, valid from now for `days` days, serial `serial_hex`.
    // `stem` names the files in dir().
    Issued issue(const std::string& stem, const std::string& subject, const std::string& extensions,
                 const std::string& serial_hex, const Issued* issuer = nullptr, int days = 30) const;

  private:
    TempDir m_dir{"ribbon-customers"};
    Issued m_root;
};

// Runs a tool and returns its stdout; throws unless it exits 0.
std::string tool(const std::vector<std::string>& argv, const std::string& stdin_data = {});

// `openssl cms -sign` over `content` (a MIME entity with LF line ends,
// canonicalised to CRLF by openssl before hashing, as clients do), with
// `headers` (RFC 5322 fields, each line ending in LF, without MIME-Version
// and Content-Type) put in front of what openssl writes. Detached
// (multipart/signed) unless `opaque` (application/pkcs7-mime;
// smime-type=signed-data). `extra_certs` go into the SignedData's
// certificates (-certfile).
struct OpensslSign {
    bool opaque = false;
    std::vector<std::filesystem::path> extra_certs;
};
std::string openssl_signed(const std::string& headers, const std::string& content,
                           const Issued& signer, const OpensslSign& options = {});

// The same made by NSS: the PKCS#12 of `signer` imported with pk12util
// into a fresh certutil database that trusts `ca`, then `cmsutil -S -G -P`
// (signing time and sMIMECapabilities, as NSS clients send them), `-T`
// for a detached signature. The MIME around it is written here: NSS makes
// only the CMS object. With `encryption`, that certificate is imported too
// and named in the SMIMEEncryptionKeyPreference attribute (`-Y`, RFC 8551
// §2.5.3), which puts it in the SignedData as well.
std::string nss_signed(const std::string& headers, const std::string& content, const Issued& signer,
                       const std::filesystem::path& ca, bool opaque, const Issued* encryption = nullptr);

// The same made by GnuPG: `gpgsm --detach-sign` in a GNUPGHOME of its own
// that trusts `root` and holds `chain` (intermediates) and the PKCS#12 of
// `signer`, all certificates but the root included. Detached only (gpgsm
// writes the CMS object; the MIME is written here). RSA signers: gpgsm 2.2
// does not sign with ECDSA keys.
std::string gpgsm_signed(const std::string& headers, const std::string& content, const Issued& signer,
                         const std::vector<std::filesystem::path>& chain, const std::filesystem::path& root);

// multipart/signed (RFC 8551 §3.5.3) around `content` (LF lines) and the
// base64 of a detached signature, with `headers` in front.
std::string multipart_signed(const std::string& headers, const std::string& content, const std::string& boundary,
                             const std::string& b64);

// What `openssl x509` says about a certificate (the names in RFC 2253 form
// without escaping UTF-8, as ribbon stores them), and its DER and SHA-256
// (of the DER, via sha256sum).
struct X509View {
    std::string subject, issuer;
    std::string serial;  // hex, lower case
    std::int64_t not_after = 0;
    std::string der;
    std::string sha256;  // hex, lower case
};
X509View x509_view(const std::filesystem::path& cert_pem);

// The sMIMECapabilities of the first SignerInfo of a DER SignedData, as
// `openssl cms -cmsout -print` shows them: the algorithms' names, in order.
std::vector<std::string> printed_capabilities(const std::string& signed_data_der);

// An mboxrd file (RFC 4155 and the mboxrd convention): each message after
// a "From " separator line, its lines that match ^>*From  given one more
// '>', a blank line after each.
std::string mboxrd(const std::vector<std::string>& messages);

}  // namespace ribbon::test
