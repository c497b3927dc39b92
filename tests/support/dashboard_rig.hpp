// `ribbon dashboard` for the end-to-end tests (tests/e2e/dashboard_*test.cpp):
// a keystore with Digital IDs in each state, a SQLite store filled through
// the C++ API with message counts, recipients and failures whose numbers
// the tests know, and the real binary serving them on a free loopback port.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/daemon.hpp"
#include "support/process.hpp"

namespace ribbon::test {

// What the rig puts in the store, as the dashboard must show it (last 7 days).
struct DashboardExpected {
    static constexpr int kSigned = 42;    // 40 on mx1's milter + 2 on mx2's relay, this hour
    static constexpr int kUnsigned = 5;   // "policy", an hour ago
    static constexpr int kTempfail = 3;   // "no_key", two hours ago
    static constexpr int kReject = 1;     // "bad_message", five hours ago
    static constexpr int kOldSigned = 1000;  // ten days ago: outside the window
    static constexpr int kRecipients = 4;
    static constexpr int kSupported = 2;
    static constexpr int kUnsupported = 1;
    static constexpr int kUnknown = 1;
    // The newest failure's detail: markup the page must show as text.
    static constexpr const char* kHostileDetail = "<img src=x onerror=alert(1)> & broken";
    static constexpr const char* kNoKeyDetail = "no Digital ID for <no-reply@bank.example>";
};

class DashboardRig {
  public:
    // Fills the keystore and the store; "" in error() when that worked.
    DashboardRig();
    ~DashboardRig();
    const std::string& error() const { return m_error; }

    // Starts `ribbon dashboard --store ... --keystore ... --listen
    // 127.0.0.1:PORT` plus `extra`; "" when it listens, else why not.
    std::string start(const std::vector<std::string>& extra = {});
    std::string url(const std::string& path) const;
    std::string log() const;

    std::string store_url;
    std::filesystem::path keystore;

  private:
    std::string fill_keystore();
    std::string fill_store();

    TempDir m_tmp{"ribbon-dashboard"};
    std::unique_ptr<daemon::Daemon> m_daemon;
    std::filesystem::path m_log;
    int m_port = 0;
    std::string m_error;
};

}  // namespace ribbon::test
