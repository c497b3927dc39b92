// ribbon/mail_text.hpp — how ribbon compares and shows addresses and other
// text taken from mail: one place for every front end (verify, learn,
// recipients, sign, keys) and the daemons' log lines.
//
// Everything here takes untrusted bytes (header values, certificate
// subjectAltNames) and never fails: a value that cannot be converted is
// compared byte for byte or shown in a safe escaped form.
//
// Thread-safety: all functions may be called from any number of threads
// (the IDNA and spoof checkers behind them are built once and read-only).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ribbon {

// `address` (an addr-spec, "local@domain") with its domain in the ASCII
// form DNS and certificates use: each label an A-label where it is not
// ASCII (RFC 5890 §2.3.2.1, converted by UTS #46 processing, RFC 5891 §4
// and §5), lower case. The local part is kept as written: it has no ASCII
// form (RFC 6531 §3.3). nullopt when the domain is not a valid IDN (an
// "xn--" label that does not decode, a disallowed code point) or there is
// no '@'.
std::optional<std::string> address_ascii_form(std::string_view address);

// True when `a` and `b` name the same mailbox: the domains compared in
// their A-label form, so "no-reply@xn--bcher-kva.example" and
// "no-reply@bücher.example" are the same address and a lookalike
// "bаnk.example" (Cyrillic а, xn--bnk-6cd) is not "bank.example". ASCII
// letters compare case-insensitively in both parts, as everywhere in
// ribbon; other local-part characters compare as their UTF-8 bytes. An
// address whose domain is not a valid IDN equals only the same bytes
// (ASCII case aside).
bool same_address(std::string_view a, std::string_view b);

// Addresses to look others up in by same_address(), each converted once.
// A certificate may carry thousands of rfc822Names and a From field
// thousands of addresses; comparing every pair (two IDNA conversions each)
// took 45 s for 30,000 names and 1,000 From addresses in one message
// (tests/e2e/hostile_certs_test.cpp). find() is one conversion and a hash
// lookup, with exactly same_address()'s answers.
class AddressSet {
public:
    explicit AddressSet(const std::vector<std::string>& addresses);
    // The index in `addresses` of the first one same_address() as
    // `address`, or nullopt.
    std::optional<std::size_t> find(std::string_view address) const;

private:
    // Lower-cased A-label forms of those that have one; the lower-cased
    // bytes of those that have none; and of all of them. Each maps to the
    // first index with that key.
    std::unordered_map<std::string, std::size_t> m_ascii;
    std::unordered_map<std::string, std::size_t> m_raw_without_form;
    std::unordered_map<std::string, std::size_t> m_raw;
};

// `address` as ribbon shows it to people: the domain in Unicode only when
// every label is safe to read that way (one script, or a combination a
// browser allows, by ICU's "highly restrictive" level of UTS #39 §5.2,
// only characters recommended for identifiers, no invisible characters, no
// mixed digit sets, and not a whole-script lookalike of an ASCII label such
// as an all-Cyrillic "аре"), otherwise the A-label form,
// so "bаnk.example" with a Cyrillic а is shown "xn--bnk-6cd.example" and
// "xn--bcher-kva.example" is shown "bücher.example". An address whose
// domain is not a valid IDN, and a plain ASCII one, is returned as given
// (case kept). The local part is never changed. The result is not yet
// safe for a terminal: pass it through terminal_safe() there.
std::string display_address(std::string_view address);

// `text` safe to print on a terminal line: C0 control characters and DEL
// become \xNN and C1 controls (U+0080..U+009F, which some terminals obey as
// CSI and OSC) become \u00NN, so text from mail can neither start an escape
// sequence (ESC [ 2J, ESC ] 0; ... BEL) nor break a one-line layout; the
// invisible bidirectional controls (U+061C, U+200E/F, U+202A..U+202E,
// U+2066..U+2069) and U+2028/U+2029 become \u20NN, so text cannot be shown
// reordered (UAX #9; CVE-2021-42574). Each byte that is not part of
// well-formed UTF-8 becomes \xNN (a lone 0x9B is CSI to a terminal that
// reads 8-bit controls). Everything else is kept as it is.
std::string terminal_safe(std::string_view text);

}  // namespace ribbon
