// keystore.cpp — the keystore directory (docs/KEYSTORE.md): listing,
// the rollover rule, filing a Digital ID.
//
// Trusts the directory's owner, not its contents: every certificate is
// parsed, every key's mode is checked before the key is read, and an
// address becomes a path only after ks::normalise_address().
#include "ribbon/keystore.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdlib>

#include "core/openssl_objects.hpp"
#include "core/openssl_util.hpp"
#include "keystore/files.hpp"
#include "keystore/pkcs11.hpp"

namespace ribbon {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kCertSuffix = ".pem";
constexpr std::string_view kChainSuffix = ".chain.pem";

bool is_dev_ca_issuer(X509* cert) {
    const X509_NAME* issuer = X509_get_issuer_name(cert);
    int pos = X509_NAME_get_index_by_NID(issuer, NID_commonName, -1);
    if (pos < 0) return false;
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(issuer, pos));
    std::string_view value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                           static_cast<std::size_t>(ASN1_STRING_length(cn)));
    return value == kDevCaName;
}

std::int64_t whole_days(TimePoint from, TimePoint to) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
    std::int64_t days = seconds / 86400;
    if (seconds < 0 && seconds % 86400 != 0) --days;  // round towards the past
    return days;
}

// One certificate file of an address directory, described; `problem` set
// when it cannot be parsed.
KeystoreEntry read_entry(const std::string& address, const fs::path& cert_file, TimePoint now) {
    KeystoreEntry e;
    e.address = address;
    e.cert_file = cert_file;
    auto pem = read_small_file(cert_file, "certificate file");
    if (!pem) {
        e.problem = pem.error().message();
        return e;
    }
    auto bio = ossl::mem_bio(*pem);
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        e.problem = "certificate file " + cert_file.string() + " is not a PEM certificate (" +
                    ossl::drain_errors() + ")";
        return e;
    }
    e.certificate = ossl::describe_certificate(cert.get());
    e.dev_ca = is_dev_ca_issuer(cert.get());
    e.days_left = whole_days(now, e.certificate.not_after);
    std::string name = cert_file.filename().string();
    fs::path chain = cert_file.parent_path() /
                     (name.substr(0, name.size() - kCertSuffix.size()) + std::string(kChainSuffix));
    std::error_code ec;
    if (fs::exists(chain, ec)) e.chain_file = chain;
    fs::path stem = cert_file.parent_path() / ks::key_id(X509_get0_pubkey(cert.get()));
    e.key_file = stem.string() + ".key";
    e.key_present = fs::exists(e.key_file, ec);
    if (fs::path uri_file = stem.string() + std::string(ks::kTokenKeySuffix);
        !e.key_present && fs::exists(uri_file, ec)) {
        // A key in a token: the keystore holds only its pkcs11: URI.
        e.key_file = uri_file;
        e.key_location = "token";
        e.key_present = true;
    }
    return e;
}

bool valid_at(const KeystoreEntry& e, TimePoint now) {
    return e.problem.empty() && e.certificate.not_before <= now && now <= e.certificate.not_after;
}

// The rollover rule (issue 3): valid at `now`, latest notBefore wins. Sets
// every entry's status and returns the index of the current one, or -1.
int assign_status(std::vector<KeystoreEntry>& entries, TimePoint now) {
    int current = -1;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (!valid_at(entries[i], now)) continue;
        if (current < 0 || entries[i].certificate.not_before >
                               entries[static_cast<std::size_t>(current)].certificate.not_before) {
            current = static_cast<int>(i);
        }
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
        KeystoreEntry& e = entries[i];
        if (static_cast<int>(i) == current)
            e.status = IdStatus::current;
        else if (!e.problem.empty())
            e.status = IdStatus::old;
        else if (now < e.certificate.not_before)
            e.status = IdStatus::next;
        else if (now > e.certificate.not_after)
            e.status = IdStatus::expired;
        else
            e.status = IdStatus::old;
    }
    return current;
}

// The certificates filed for one (normalised) address, sorted by notBefore.
std::vector<KeystoreEntry> read_address(const fs::path& dir, const std::string& address,
                                        TimePoint now) {
    std::vector<KeystoreEntry> entries;
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(dir, ec)) {
        std::string name = item.path().filename().string();
        // <SERIAL>.pem only: chains and public keys share the suffix.
        if (!item.is_regular_file(ec) || name.starts_with(".") || !name.ends_with(kCertSuffix) ||
            name.ends_with(kChainSuffix) || name.ends_with(ks::kPublicKeySuffix)) {
            continue;
        }
        entries.push_back(read_entry(address, item.path(), now));
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        if (a.certificate.not_before != b.certificate.not_before) {
            return a.certificate.not_before < b.certificate.not_before;
        }
        return a.cert_file < b.cert_file;
    });
    assign_status(entries, now);
    return entries;
}

// An entry's certificate and chain as PEM (the chain may be absent): the
// same for a key file and a token key.
struct CertificatesPem {
    std::string cert;
    std::string chain;
};
Result<CertificatesPem> read_certificates(const KeystoreEntry& entry) {
    auto cert_pem = read_small_file(entry.cert_file, "certificate file");
    if (!cert_pem) return std::move(cert_pem).error();
    CertificatesPem pem{std::move(*cert_pem), {}};
    if (!entry.chain_file.empty()) {
        auto chain = read_small_file(entry.chain_file, "chain file");
        if (!chain) return std::move(chain).error();
        pem.chain = std::move(*chain);
    }
    return pem;
}

Result<void> check_keystore_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return {};
    return permanent_error(Errc::io_error,
                           "the keystore " + dir.string() +
                               (fs::exists(dir, ec) ? " is not a directory" : " does not exist"));
}

}  // namespace

std::string_view id_status_name(IdStatus status) noexcept {
    switch (status) {
        case IdStatus::current:
            return "current";
        case IdStatus::next:
            return "next";
        case IdStatus::expired:
            return "expired";
        case IdStatus::old:
            return "old";
    }
    return "unknown";
}

fs::path Keystore::default_dir() {
    if (const char* env = std::getenv("RIBBON_KEYSTORE"); env != nullptr && *env != '\0')
        return env;
    return "/var/lib/ribbon/ids";
}

Result<std::vector<KeystoreEntry>> Keystore::list(TimePoint now) const {
    if (auto r = check_keystore_dir(m_dir); !r) return std::move(r).error();
    std::vector<KeystoreEntry> all;
    std::error_code ec;
    fs::directory_iterator it(m_dir, ec);
    if (ec) {
        return transient_error(Errc::io_error,
                               "cannot read the keystore " + m_dir.string() + ": " + ec.message());
    }
    std::vector<std::string> addresses;
    for (const auto& item : it) {
        std::string name = item.path().filename().string();
        // Only address directories: dev-ca/ and anything else is not an ID.
        if (!item.is_directory(ec) || name.find('@') == std::string::npos) continue;
        addresses.push_back(name);
    }
    std::sort(addresses.begin(), addresses.end());
    for (const auto& a : addresses) {
        auto entries = read_address(m_dir / a, a, now);
        std::move(entries.begin(), entries.end(), std::back_inserter(all));
    }
    return all;
}

namespace {

// Why none of an address's certificates can sign at `now`: the latest
// expiry, or the earliest start, or the entry's own problem.
Error no_usable_certificate(const std::vector<KeystoreEntry>& entries, const std::string& address,
                            const fs::path& dir) {
    const KeystoreEntry* latest_expired = nullptr;
    const KeystoreEntry* earliest_next = nullptr;
    for (const auto& e : entries) {
        if (e.status == IdStatus::expired &&
            (!latest_expired || e.certificate.not_after > latest_expired->certificate.not_after)) {
            latest_expired = &e;
        }
        if (e.status == IdStatus::next &&
            (!earliest_next || e.certificate.not_before < earliest_next->certificate.not_before)) {
            earliest_next = &e;
        }
    }
    if (latest_expired != nullptr) {
        std::string msg = "every certificate for " + address + " in the keystore " + dir.string() +
                          " has expired; the latest expired on " +
                          format_utc(latest_expired->certificate.not_after);
        if (earliest_next != nullptr) {
            msg += "; the next is valid from " + format_utc(earliest_next->certificate.not_before);
        }
        return permanent_error(Errc::certificate_expired, msg);
    }
    if (earliest_next != nullptr) {
        return permanent_error(Errc::certificate_not_yet_valid,
                               "no certificate for " + address + " is valid yet; the first is valid from " +
                                   format_utc(earliest_next->certificate.not_before));
    }
    return permanent_error(Errc::bad_certificate, entries.front().problem);
}

// What the operator should hear when this Digital ID signs: near expiry
// with no successor, or the dev CA.
std::vector<std::string> selection_warnings(const std::vector<KeystoreEntry>& entries, const KeystoreEntry& entry,
                                            const std::string& address, TimePoint now) {
    std::vector<std::string> warnings;
    TimePoint expiry = entry.certificate.not_after;
    if (expiry - now <= kExpiryWarning) {
        // A successor that takes over before this one expires makes the
        // warning moot: rollover will switch to it by itself.
        bool covered = std::any_of(entries.begin(), entries.end(), [&](const KeystoreEntry& e) {
            return e.status == IdStatus::next && e.certificate.not_before <= expiry;
        });
        if (!covered) {
            warnings.push_back("the Digital ID for " + address + " (serial " + entry.certificate.serial_hex +
                               ") expires on " + format_utc(expiry) + ", in " + std::to_string(entry.days_left) +
                               " days, and no successor is installed");
        }
    }
    if (entry.dev_ca) {
        warnings.push_back("the Digital ID for " + address +
                           " comes from ribbon's dev CA: for tests only, no receiver trusts it");
    }
    return warnings;
}

// The Digital ID of the entry rollover chose: its key (a file, under the
// keystore's StrictModes, or a token) with its certificate and chain.
Result<DigitalId> load_entry(const Keystore& keystore, const KeystoreEntry& entry, std::string_view password) {
    if (!entry.key_present) {
        return permanent_error(Errc::io_error, "the key for certificate " + entry.cert_file.string() +
                                                   " is missing (expected " + entry.key_file.string() + ")");
    }
    // A token key signs through the pkcs11 engine; there is no file.
    if (entry.key_location == "token") return ks::load_token_digital_id(keystore, entry);
    // The keystore's StrictModes first: an unsafe key is refused unread.
    ks::SecretString key_pem;
    if (auto r = ks::read_key_file(keystore, entry.key_file, key_pem); !r) return std::move(r).error();
    auto pem = read_certificates(entry);
    if (!pem) return std::move(pem).error();
    return DigitalId::from_pem(key_pem.bytes, pem->cert, pem->chain, password);
}

}  // namespace

Result<SelectedDigitalId> Keystore::digital_id_for(std::string_view address, TimePoint now,
                                                    std::string_view password) const {
    auto normal = ks::normalise_address(address);
    if (!normal) return std::move(normal).error();
    if (auto r = check_keystore_dir(m_dir); !r) return std::move(r).error();
    std::vector<KeystoreEntry> entries = read_address(m_dir / *normal, *normal, now);
    if (entries.empty()) {
        return permanent_error(Errc::no_digital_id, "no Digital ID for " + std::string(address) +
                                                        " in the keystore " + m_dir.string());
    }
    int current = assign_status(entries, now);
    if (current < 0) return no_usable_certificate(entries, *normal, m_dir);
    const KeystoreEntry& entry = entries[static_cast<std::size_t>(current)];
    auto id = load_entry(*this, entry, password);
    if (!id) return std::move(id).error();
    return SelectedDigitalId{std::move(*id), entry, selection_warnings(entries, entry, *normal, now)};
}

Result<fs::path> Keystore::add(std::string_view address, std::string_view key_pem,
                               std::string_view cert_pem, std::string_view chain_pem) const {
    if (auto n = ks::normalise_address(address); !n) return std::move(n).error();
    // Loading checks the key belongs to the certificate, its type and usage.
    auto id = DigitalId::from_pem(key_pem, cert_pem, chain_pem);
    if (!id) return std::move(id).error();
    return ks::file_digital_id(*this, address, *id, key_pem, cert_pem, chain_pem);
}

namespace ks {

Result<fs::path> file_digital_id(const Keystore& store, std::string_view address,
                                 const DigitalId& id, std::string_view key_pem,
                                 std::string_view cert_pem, std::string_view chain_pem) {
    auto normal = ks::normalise_address(address);
    if (!normal) return std::move(normal).error();
    if (!id.covers_address(*normal)) {
        return permanent_error(
            Errc::from_not_in_certificate,
            "the certificate " + id.certificate().subject + " is not for " + *normal);
    }
    fs::path dir = store.dir() / *normal;
    if (auto r = ks::make_private_dir(dir); !r) return std::move(r).error();
    std::string serial = id.certificate().serial_hex;
    std::string key_id = ks::key_id(digital_id_key(id));
    fs::path key_file = dir / (key_id + ".key");
    fs::path pub_file = dir / (key_id + std::string(ks::kPublicKeySuffix));
    fs::path cert_file = dir / (serial + std::string(kCertSuffix));
    std::error_code ec;
    if (!key_pem.empty() && !fs::exists(key_file, ec)) {
        if (auto r = ks::write_file_atomic(key_file, key_pem, 0600, true); !r)
            return std::move(r).error();
    }
    if (!fs::exists(pub_file, ec)) {
        // Recorded for the next certificate of this key (a re-issue, a
        // renewal by the CA): install then needs neither the passphrase of
        // an encrypted key nor its token. Public: 0644. Not exclusive: a
        // concurrent writer can only write the same bytes (the name is
        // their hash).
        auto pub = ks::public_key_pem(digital_id_key(id));
        if (!pub) return std::move(pub).error();
        if (auto r = ks::write_file_atomic(pub_file, *pub, 0644, false); !r)
            return std::move(r).error();
    }
    if (!chain_pem.empty()) {
        fs::path chain_file = dir / (serial + std::string(kChainSuffix));
        if (auto r = ks::write_file_atomic(chain_file, chain_pem, 0644, true); !r) {
            return std::move(r).error();
        }
    }
    // The certificate last: once it is there, the Digital ID is complete.
    if (auto r = ks::write_file_atomic(cert_file, cert_pem, 0644, true); !r)
        return std::move(r).error();
    return cert_file;
}

Result<DigitalId> load_token_digital_id(const Keystore& store, const KeystoreEntry& entry) {
    // The URI is no secret, but it says which key signs: the same rules as
    // for a key file.
    ks::SecretString uri;
    if (auto r = ks::read_key_file(store, entry.key_file, uri); !r) return std::move(r).error();
    std::string text = uri.bytes.substr(0, uri.bytes.find_first_of("\r\n"));
    auto key = p11::load_recorded_key(text);
    if (!key) return std::move(key).error();
    auto pem = read_certificates(entry);
    if (!pem) return std::move(pem).error();
    return digital_id_from_key(std::move(key->key), pem->cert, pem->chain, key->lock);
}

}  // namespace ks

}  // namespace ribbon
