// ribbon/settings.hpp — the parts of ribbon.toml that layers below the
// daemons are given as plain values: the [[signer]] table's entries, the
// recipients store's settings and where the keystore is. The reference is
// docs/CONFIGURATION.md.
//
// Vocabulary only, with no reader: the configuration reader (ribbon/config.hpp,
// src/config/) fills these structs and only the daemons and the command
// link it, so the keystore, the store, the policy and learning never read
// the configuration file themselves (README.md, Layout). Whether a
// [[signer]] entry covers an address is the policy's rule
// (src/policy/addresses.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "ribbon/signer.hpp"

namespace ribbon {

// Which customers get signed mail from a [[signer]] (docs/LEARNING.md),
// by what the recipients store knows of their mail client. Opt-outs and an
// operator's per-address override come first, whatever this says.
enum class RecipientsMode {
    always,            // everyone
    unless_incapable,  // everyone but customers whose client is known not to show S/MIME
    capable_only,      // only customers whose client is known to show S/MIME
};

// The setting's value in ribbon.toml, for logs and `ribbon check-config`.
constexpr std::string_view recipients_mode_name(RecipientsMode mode) noexcept {
    switch (mode) {
        case RecipientsMode::always: return "always";
        case RecipientsMode::unless_incapable: return "unless-incapable";
        case RecipientsMode::capable_only: return "capable-only";
    }
    return "unless-incapable";
}

// One [[signer]] entry.
struct SignerRule {
    // "no-reply@bank.example" or "*@bank.example", in lower case.
    std::string from;
    // The keystore address whose Digital ID signs; empty means the From
    // address of each message.
    std::string id;
    SignMode mode = SignMode::detached;
    bool header_protection = true;
    // Adds a Ribbon-Signer header (outside the signature) naming the Digital
    // ID used: address, serial and issuer (docs/CONFIGURATION.md).
    bool trace_header = false;
    RecipientsMode recipients = RecipientsMode::unless_incapable;

    bool wildcard() const noexcept { return from.starts_with("*@"); }
};

// What the milter and `ribbon sendmail`, which cannot split a message, do
// when the recipients get different answers from the policy. An opted-out
// recipient always makes the message unsigned: an opt-out is the customer's own request.
enum class MixedAnswer {
    sign,      // sign for all (opaque if any recipient needs opaque)
    unsigned_, // send unsigned to all
};

// [store]: the recipients database (ribbon/recipients.hpp).
struct StoreSettings {
    // "sqlite:///path" or "postgresql://..."; empty: no store, every
    // customer is "unknown" and nothing is learned.
    std::string url = "sqlite:///var/lib/ribbon/store/ribbon.db";
    // How long a daemon reuses an answer before asking the store again,
    // and how many it keeps.
    std::chrono::seconds cache_ttl{60};
    std::size_t cache_size = 100000;
};

// [keystore] path and the key password file (Config::keystore_settings()):
// what the Digital-ID cache (ribbon/signer_pool.hpp) needs to load keys.
struct KeystoreSettings {
    std::filesystem::path dir = "/var/lib/ribbon/ids";
    // Passphrase for keys stored encrypted; empty: none.
    std::filesystem::path key_password_file;
};

}  // namespace ribbon
