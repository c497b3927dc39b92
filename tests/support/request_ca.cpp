// request_ca.cpp — see request_ca.hpp.
#include "support/request_ca.hpp"

#include <gtest/gtest.h>

#include <ctime>

#include "support/pki.hpp"
#include "support/process.hpp"

namespace ribbon::test {

namespace fs = std::filesystem;
using TimePoint = std::chrono::system_clock::time_point;

namespace {

// A CA answering CSRs the way commercial ones do: `openssl ca` with the
// test PKI's intermediate, copying the requested extensions
// (copy_extensions = copy never overrides what the section sets).
const char* kCaConfig = R"([ ca ]
default_ca = reqca
[ reqca ]
dir             = .
database        = ./index.txt
serial          = ./serial
new_certs_dir   = ./newcerts
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = copy
email_in_dn     = no
preserve        = yes
[ policy_any ]
organizationName = optional
commonName       = supplied
[ v3_copy ]
basicConstraints       = critical, CA:FALSE
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ v3_client ]
basicConstraints       = critical, CA:FALSE
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ v3_other ]
basicConstraints       = critical, CA:FALSE
subjectAltName         = email:other@bank.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
)";

}  // namespace

std::string openssl_time(TimePoint t) {
    return openssl_time(std::chrono::system_clock::to_time_t(t));
}

RequestCa::RequestCa(fs::path dir) : m_dir(std::move(dir)) {
    fs::create_directories(m_dir / "newcerts");
    write_file(m_dir / "ca.cnf", kCaConfig);
    write_file(m_dir / "index.txt", "");
    write_file(m_dir / "serial", "1000\n");  // required by `openssl ca`; -rand_serial picks the serials
}

fs::path RequestCa::issue(const fs::path& csr, TimePoint start, TimePoint end,
                          const std::string& section) {
    fs::path out = m_dir / ("issued-" + std::to_string(++m_issued) + ".pem");
    ProcessOptions in_ca;
    in_ca.cwd = m_dir;
    ProcessResult r = run_process(
        {"openssl", "ca", "-batch", "-config", "ca.cnf", "-rand_serial", "-notext", "-extensions",
         section, "-startdate", openssl_time(start), "-enddate", openssl_time(end), "-cert",
         pki().intermediate_cert.string(), "-keyfile", pki().intermediate_key.string(), "-in",
         csr.string(), "-out", out.string()},
        in_ca);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return out;
}

}  // namespace ribbon::test
