// ribbon/versions.hpp — the versions of the libraries core runs with, as
// `ribbon --version` reports them.
//
// Read from the libraries at run time, not from the headers ribbon was
// compiled against: a security update of libssl3 or libgmime-3.0-0 changes
// what the installed binary runs with without rebuilding it, and that is
// what an operator asks when a CVE is announced.
#pragma once

#include <string>

namespace ribbon {

// OpenSSL_version(OPENSSL_VERSION), e.g. "OpenSSL 3.0.19 27 Jan 2026".
std::string openssl_runtime_version();

// GMime's gmime_major_version.gmime_minor_version.gmime_micro_version,
// e.g. "3.2.13".
std::string gmime_runtime_version();

}  // namespace ribbon
