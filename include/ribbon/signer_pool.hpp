// ribbon/signer_pool.hpp — the Digital IDs behind a configuration's
// [[signer]] table, ready to sign, for the daemons (milter, relay).
//
// Keys and certificates are parsed when an entry is first needed (or at
// start-up for entries whose Digital ID is fixed), never per message. Each
// lookup then checks the address directory and the key with stat(2) — a
// few microseconds — so that an operator who removes a key, makes it
// unreadable, or files a new certificate is obeyed by the very next
// message; a certificate or chain file edited in place is noticed within a
// second (those two files are checked at most once a second); and the
// rollover rule is re-run at least once a minute so a renewed certificate
// takes over at its notBefore without a restart.
//
// Thread-safe: lookups may come from any number of threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/settings.hpp"
#include "ribbon/signer.hpp"

namespace ribbon {

// A Digital ID ready to sign, and which certificate it is (for logs and the
// trace header).
struct ActiveSigner {
    Signer signer;
    KeystoreEntry entry;
    std::vector<std::string> warnings;  // e.g. dev CA, near expiry
};

class SignerPool {
public:
    // Reads the key password file, if `keystore` names one, and loads the
    // Digital ID of every entry of `signers` (the [[signer]] table) that
    // names one (an `id`, or an exact `from`): one that cannot sign at `now`
    // is an error naming the entry, so a daemon refuses to start (or to
    // reload) with a configuration it cannot honour. Wildcard entries
    // without `id` load per address on use. Without `preload` nothing is
    // loaded until get() (a one-shot command such as `ribbon sendmail`
    // needs one Digital ID, not all of them). Nothing of the configuration
    // file is read here: the caller passes the values.
    static Result<std::shared_ptr<SignerPool>> create(const KeystoreSettings& keystore,
                                                      const std::vector<SignerRule>& signers, TimePoint now,
                                                      bool preload = true);

    ~SignerPool();
    SignerPool(const SignerPool&) = delete;
    SignerPool& operator=(const SignerPool&) = delete;

    // The signer for mail from `from_address` under `rule` (from
    // Config::signer_for, the policy's rule). Errors are Keystore::digital_id_for's.
    Result<std::shared_ptr<const ActiveSigner>> get(const SignerRule& rule, std::string_view from_address,
                                                    TimePoint now) const;

    // What the operator should hear at start-up: every loaded Digital ID
    // that comes from the dev CA or expires within kExpiryWarning.
    const std::vector<std::string>& warnings() const noexcept;

    // The certificates of the Digital IDs loaded so far: the fixed ones
    // from start-up and the wildcard ones used since, each as last loaded,
    // even if a later lookup failed (the daemons' expiry metric,
    // docs/MONITORING.md).
    std::vector<CertificateInfo> certificates() const;

    class Impl;

private:
    explicit SignerPool(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace ribbon
