// ribbon/keystore.hpp — the directory that holds an organisation's Digital
// IDs: per sending address its keys, certificates and chains, several
// certificates per address (old, current, next), and the rollover rule that
// picks the one to sign with. Layout and rules: docs/KEYSTORE.md.
//
// A Keystore is a path and nothing more: every call reads the directory
// afresh, so a certificate installed while a daemon runs is seen by the next
// lookup. Calls may be made from any number of threads; writers (the dev CA)
// create each file under a temporary name and rename it into place, so
// readers see a file whole or not at all.
//
// Keys are read under the keystore's StrictModes (docs/KEYSTORE.md "Safe
// keys"): a key file readable by group or others, a directory on its path
// that group or others may write in, either owned by another non-root
// user, or a symbolic link that leads out of the keystore is refused with
// Errc::unsafe_key_permissions, as OpenDKIM's RequireSafeKeys and OpenSSH's
// StrictModes refuse unsafe files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/decrypt.hpp"
#include "ribbon/digital_id.hpp"
#include "ribbon/error.hpp"

namespace ribbon {

// Where a certificate stands at a given time, among its address's others.
enum class IdStatus {
    current,  // valid now, latest notBefore: the one that signs
    next,     // not valid yet (installed ahead of a renewal)
    expired,  // notAfter has passed
    old,      // valid now but superseded by a newer current one
};
std::string_view id_status_name(IdStatus status) noexcept;

struct KeystoreEntry {
    std::string address;  // the directory name: the address in lower case
    CertificateInfo certificate;
    std::filesystem::path cert_file;
    std::filesystem::path chain_file;  // empty when the certificate has no chain file
    std::filesystem::path key_file;    // where the key is expected (may be missing);
                                       // for a token key, its <key-id>.key.uri
    std::string key_location = "file";  // "file", or "token" (PKCS#11, RFC 7512 URI)
    bool key_present = false;
    // Whole days until notAfter, rounded down; negative once expired.
    std::int64_t days_left = 0;
    IdStatus status = IdStatus::old;
    // Issued by ribbon's dev CA: a test Digital ID that no receiver trusts.
    bool dev_ca = false;
    // Non-empty when the certificate file could not be read or parsed.
    std::string problem;
};

// The Digital ID chosen to sign for an address, and what the operator
// should hear about it (e.g. "expires in 12 days").
struct SelectedDigitalId {
    DigitalId id;
    KeystoreEntry entry;
    std::vector<std::string> warnings;
};

// From how long before notAfter a selected Digital ID carries a warning.
inline constexpr std::chrono::hours kExpiryWarning{30 * 24};

class Keystore {
  public:
    // --keystore, else $RIBBON_KEYSTORE, else /var/lib/ribbon/ids.
    static std::filesystem::path default_dir();

    // A keystore at `dir`; nothing is read until it is used.
    explicit Keystore(std::filesystem::path dir) : m_dir(std::move(dir)) {}
    const std::filesystem::path& dir() const noexcept { return m_dir; }

    // Every certificate in the keystore, sorted by address then notBefore,
    // with its status at `now`. A missing or unreadable keystore directory
    // is Errc::io_error. A certificate file that cannot be parsed is listed
    // with `problem` set (and nothing else), so monitoring can report it.
    Result<std::vector<KeystoreEntry>> list(TimePoint now) const;

    // The rollover rule: among `address`'s certificates, the one valid at
    // `now` with the latest notBefore; never an expired or not-yet-valid
    // one. Errors: no certificate for the address → Errc::no_digital_id;
    // none valid now → certificate_expired (naming the latest expiry) or
    // certificate_not_yet_valid; a key, or a directory on its path, that
    // breaks the StrictModes above → unsafe_key_permissions; an address
    // that is not a valid addr-spec (ks::normalise_address) →
    // malformed_message; otherwise DigitalId::from_pem's errors (a key
    // file protected by a passphrase needs `password`, else
    // wrong_password). `ribbon keys check` calls this too, so it fails
    // exactly where signing would.
    Result<SelectedDigitalId> digital_id_for(std::string_view address, TimePoint now,
                                             std::string_view password = {}) const;

    // Files a Digital ID: the key as <key-id>.key (0600), the certificate as
    // <serial>.pem and, when given, the chain as <serial>.chain.pem, in the
    // address's directory (0700), created as needed. The key must belong to
    // the certificate; the address must be one the certificate vouches for.
    // Returns the certificate's path.
    Result<std::filesystem::path> add(std::string_view address, std::string_view key_pem,
                                      std::string_view cert_pem,
                                      std::string_view chain_pem = {}) const;

  private:
    std::filesystem::path m_dir;
};

// Opening sealed mail (ribbon/decrypt.hpp): the keys of every certificate
// in the keystore, whatever its status — current, next, old or expired,
// for mail sealed to last year's certificate still arrives — from key files
// (under the StrictModes above; encrypted ones with `password`) and PKCS#11
// tokens. A certificate whose key is missing or cannot be loaded is left
// out and named in `skipped`; none loading is the first such error, or
// Errc::no_digital_id for a keystore without certificates.
struct KeystoreDecryptionKeys {
    DecryptionKeys keys;
    std::vector<std::string> skipped;  // "<cert file>: <why>"
};
Result<KeystoreDecryptionKeys> decryption_keys(const Keystore& store, std::string_view password = {});

namespace ks {
// Checks that `address` is an addr-spec that is safe as one directory
// name and returns it in lower case, the form the keystore stores it
// under: exactly one '@'; a local part and a domain that are dot-atoms
// (RFC 5322 §3.2.3: no empty label, so no leading, trailing or doubled
// dot, and a domain is never "." or ".."); no '/', '\\', ',', '"', space or
// control character; at most 254 octets (RFC 5321 §4.5.3.1.3); UTF-8 when
// not ASCII (RFC 6531). Anything else is Errc::malformed_message. The
// [[signer]] table checks its `id` values with it (policy/addresses.hpp).
Result<std::string> normalise_address(std::string_view address);
}  // namespace ks

class TrustStore;  // ribbon/verifier.hpp

// RFC 5280 §6: whether a certificate filed in a keystore, with the chain
// filed next to it, leads to one of `trust`'s roots at `now`. Empty when it
// does; otherwise a sentence naming the missing link, for a warning (the
// receivers' roots may differ from this machine's, so nothing is refused).
std::optional<std::string> missing_chain_link(const std::filesystem::path& cert_file,
                                              const TrustStore& trust, TimePoint now);

// ---- the dev CA -------------------------------------------------------------
// A throw-away CA in <keystore>/dev-ca/ for trying ribbon and for tests. Its
// certificates say so: the issuer CN is kDevCaName, and no one trusts it.

inline constexpr std::string_view kDevCaName = "ribbon dev CA (TEST ONLY)";

enum class NewKeyType { rsa2048, rsa3072, ec_p256 };
// "rsa2048", "rsa3072", "ec-p256"; nullopt for anything else.
std::optional<NewKeyType> parse_new_key_type(std::string_view name);

struct DevCaIssueOptions {
    NewKeyType type = NewKeyType::ec_p256;
    // Unset: one hour before now (for clocks slightly behind ours).
    std::optional<TimePoint> not_before;
    // Unset: now + `days` days.
    std::optional<TimePoint> not_after;
    int days = 365;
};

class DevCa {
  public:
    // The CA's files in a keystore: dev-ca/ca.key (0600) and dev-ca/ca.pem.
    static std::filesystem::path key_file(const Keystore& ks);
    static std::filesystem::path cert_file(const Keystore& ks);

    // Creates the CA (a self-signed root valid ten years); refuses to
    // overwrite an existing one (Errc::io_error). `type` is ec_p256 or
    // rsa3072. Returns the root certificate's path.
    static Result<std::filesystem::path> init(const Keystore& ks,
                                              NewKeyType type = NewKeyType::ec_p256);

    // A new key and a certificate for `address` from the dev CA, filed in
    // the keystore with Keystore::add. Returns the certificate's path.
    static Result<std::filesystem::path> issue(const Keystore& ks, std::string_view address,
                                               const DevCaIssueOptions& options = {});
};

}  // namespace ribbon
