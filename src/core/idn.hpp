// idn.hpp — internationalised domain names for the core: the IDNA
// conversions (UTS #46 on top of IDNA2008, RFC 5891) and the UTS #39 §4
// confusable skeleton, by ICU. Private to the core: mail_text.cpp (compare
// and show addresses) and lookalike.cpp (domains made to be mistaken for
// known ones) share them.
//
// Input is untrusted: ICU is given explicit lengths, input over
// kMaxDomainBytes is refused before any work, and a failed conversion is a
// value (nullopt), never an exception or a crash. Every function may be
// called from any number of threads (the ICU objects are built once and
// only read).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ribbon::idn {

// Longest domain DNS carries is 253 octets; U-labels may need up to four
// bytes per character, so a generous fixed buffer avoids a second pass.
inline constexpr std::size_t kMaxDomainBytes = 1024;

bool is_ascii(std::string_view s) noexcept;

// True when some label starts "xn--": an A-label that must decode.
bool has_ace_label(std::string_view lower_domain) noexcept;

// The domain as lower-case A-labels (RFC 5890 §2.3.2.1); nullopt when it
// is not a valid IDN. A plain ASCII name without "xn--" labels is only
// lower-cased: its length and characters are the caller's to check.
std::optional<std::string> domain_ascii(std::string_view domain);

// The domain with its A-labels decoded to U-labels (UTS #46 ToUnicode);
// nullopt when one does not decode.
std::optional<std::string> domain_unicode(std::string_view ascii_domain);

// The UTS #39 §4 skeleton of `text` (Unicode's confusables.txt, as ICU
// ships it): two strings that look alike have the same skeleton, so
// "paypa1" and "paypal" are both "paypal", "rnybank" and "mybank" both
// "rnybank", Cyrillic "bаnk" is "bank". nullopt when ICU fails (invalid
// UTF-8) or for input over kMaxDomainBytes.
std::optional<std::string> skeleton(std::string_view text);

}  // namespace ribbon::idn
