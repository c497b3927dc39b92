// A CA answering certificate requests the way commercial ones do: `openssl
// ca` with the test PKI's intermediate, copying the requested extensions.
// Shared by the key request tests and the PKCS#11 tests.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace ribbon::test {

// A time as `openssl ca -startdate/-enddate` take it: YYYYMMDDHHMMSSZ.
std::string openssl_time(std::chrono::system_clock::time_point t);

class RequestCa {
  public:
    // Sets up the CA's files (config, index, serial) in `dir`, created.
    explicit RequestCa(std::filesystem::path dir);

    // Issues a certificate for the PEM request `csr`, valid from `start` to
    // `end`, with the extensions of config section `section` (v3_copy:
    // what the request asks for; v3_client: clientAuth only; v3_other:
    // for other@bank.example). Returns the PEM certificate's path; a
    // failing `openssl ca` is a test failure (EXPECT).
    std::filesystem::path issue(const std::filesystem::path& csr,
                                std::chrono::system_clock::time_point start,
                                std::chrono::system_clock::time_point end,
                                const std::string& section = "v3_copy");

  private:
    std::filesystem::path m_dir;
    int m_issued = 0;
};

}  // namespace ribbon::test
