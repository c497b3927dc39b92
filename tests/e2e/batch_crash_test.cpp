// `ribbon sign --batch` killed mid-run (SIGKILL, at several points): every
// file of OUT under its final name is a whole signed message — the same
// as the one-shot `ribbon sign` output but for its boundary, signature and
// Subject number, and a sample verifies with `openssl cms -verify` — and a
// second run on the same OUT removes what the killed one left and signs
// everything. A power loss cannot be simulated here: what protects against
// it is the order FileGroup commits in (data on stable storage before any
// rename, ribbon/file_group.hpp), which the kill points cannot see.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ribbon/file_group.hpp"
#include "support/daemon.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/verifiers.hpp"

namespace ribbon::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kMessages = 3000;

std::string number(int i) {
    std::string n = std::to_string(i);
    return std::string(4 - n.size(), '0') + n;
}

std::vector<std::string> sign_argv(const fs::path& in, const fs::path& out) {
    return {ribbon_binary(), "sign",
            "--key",         pki().rsa.key.string(),
            "--cert",        pki().rsa.cert.string(),
            "--chain",       pki().chain.string(),
            "--batch",       in.string(),
            "--out-dir",     out.string(),
            "--jobs",        "2"};
}

// A signed message with what differs from one signing to the next taken
// out: the boundary, the signature's base64 and the Subject's number.
// "" when it is not a complete multipart/signed message.
std::string normalised(const std::string& signed_message) {
    std::smatch m;
    if (!std::regex_search(signed_message, m, std::regex("boundary=\"([^\"]+)\""))) return "";
    const std::string boundary = m[1];
    const std::string close = "\r\n--" + boundary + "--\r\n";
    if (!signed_message.ends_with(close)) return "";
    const std::string sig_head = "Content-Description: S/MIME Cryptographic Signature\r\n\r\n";
    const std::size_t sig = signed_message.rfind(sig_head);
    if (sig == std::string::npos) return "";
    std::string out = signed_message.substr(0, sig + sig_head.size()) + "SIGNATURE" + close;
    for (std::size_t at = out.find(boundary); at != std::string::npos;
         at = out.find(boundary, at)) {
        out.replace(at, boundary.size(), "BOUNDARY");
    }
    return std::regex_replace(out, std::regex("Subject: batch [0-9]{4}\r\n"),
                              "Subject: batch NNNN\r\n");
}

struct OutState {
    std::set<std::string> final_names;
    std::size_t leftovers = 0;      // FileGroup's temporary files
    std::set<std::string> strange;  // any other hidden file
};

OutState scan(const fs::path& out) {
    OutState s;
    for (const auto& e : fs::directory_iterator(out)) {
        const std::string name = e.path().filename().string();
        if (!name.starts_with(".")) {
            s.final_names.insert(name);
        } else if (FileGroup::is_temporary_name(name)) {
            ++s.leftovers;
        } else {
            s.strange.insert(name);
        }
    }
    return s;
}

// Every file under a final name is whole: the one-shot output's structure
// with its own Subject; the first, last and a middle one verify.
void expect_all_whole(const fs::path& out, const std::set<std::string>& names,
                      const std::string& reference) {
    std::size_t broken = 0;
    for (const auto& name : names) {
        const std::string got = read_file(out / name);
        if (normalised(got) != reference) {
            if (++broken <= 3)
                ADD_FAILURE() << name << " is not a whole signed message (" << got.size()
                              << " bytes)";
            continue;
        }
        const std::string subject = "Subject: batch " + name.substr(1, 4) + "\r\n";
        EXPECT_NE(got.find(subject), std::string::npos) << name;
    }
    EXPECT_EQ(broken, 0u) << "of " << names.size();
    if (names.empty()) return;
    std::vector<std::string> sample = {
        *names.begin(), *names.rbegin(),
        *std::next(names.begin(), static_cast<long>(names.size() / 2))};
    for (const auto& name : sample) {
        VerifyResult v = verify_openssl(read_file(out / name));
        EXPECT_TRUE(v.ok) << name << ": " << v.details;
    }
}

// Starts a batch into `out`, waits until `kill_after` files have their
// final names and SIGKILLs it. Returns how it ended.
std::string kill_mid_run(const fs::path& in, const fs::path& out, std::size_t kill_after,
                         const fs::path& log) {
    daemon::Daemon run;
    daemon::SpawnSpec spec;
    spec.argv = sign_argv(in, out);
    spec.output = log;
    if (auto e = run.start(spec); !e.empty()) return "not started: " + e;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (auto how = run.reap_if_exited(); !how.empty()) return how + " before the kill point";
        std::error_code ec;
        if (fs::is_directory(out, ec) && scan(out).final_names.size() >= kill_after) break;
        std::this_thread::sleep_for(2ms);
    }
    ::kill(run.pid(), SIGKILL);
    for (;;) {
        if (auto how = run.reap_if_exited(); !how.empty()) return how;
        std::this_thread::sleep_for(1ms);
    }
}

TEST(BatchCrash, KilledMidRunLeavesOnlyWholeFilesAndTheNextRunCompletes) {
    TempDir tmp("ribbon-batch-crash");
    fs::create_directories(tmp / "in");
    const std::string base = message("plain_ascii_lf").data;
    for (int i = 0; i < kMessages; ++i) {
        write_file(tmp / ("in/m" + number(i) + ".eml"),
                   set_header(base, "Subject", "batch " + number(i)));
    }
    ProcessResult one = run_process({ribbon_binary(), "sign", "--key", pki().rsa.key.string(),
                                     "--cert", pki().rsa.cert.string(), "--chain",
                                     pki().chain.string(), (tmp / "in/m0000.eml").string()});
    ASSERT_EQ(one.exit_code, 0) << one.describe();
    const std::string reference = normalised(one.out);
    ASSERT_NE(reference, "") << one.out;

    std::size_t leftovers = 0;
    for (std::size_t kill_after : {std::size_t{1}, std::size_t{500}, std::size_t{1500}}) {
        SCOPED_TRACE("killed after " + std::to_string(kill_after) + " files");
        const fs::path out = tmp / ("out" + std::to_string(kill_after));
        const std::string how = kill_mid_run(tmp / "in", out, kill_after, tmp / "log");
        ASSERT_EQ(how, "killed by signal 9") << daemon::log_tail(tmp / "log");
        const OutState state = scan(out);
        EXPECT_GE(state.final_names.size(), kill_after);
        EXPECT_LT(state.final_names.size(), static_cast<std::size_t>(kMessages));
        EXPECT_TRUE(state.strange.empty()) << *state.strange.begin();
        leftovers += state.leftovers;
        expect_all_whole(out, state.final_names, reference);
    }
    // The signing threads hold a temporary file almost all the time: the
    // kills must have left some for the next run to remove.
    EXPECT_GT(leftovers, 0u);

    const fs::path out = tmp / "out1";
    write_file(out / ".m0001.eml.ribbon-tmp.0123456789abcdef", "half a message");
    ProcessResult again = run_process(sign_argv(tmp / "in", out), ProcessOptions{.timeout = 300s});
    EXPECT_EQ(again.exit_code, 0) << again.describe();
    EXPECT_NE(again.err.find("ribbon sign: 3000 signed, 0 failed"), std::string::npos) << again.err;
    const OutState state = scan(out);
    EXPECT_EQ(state.leftovers, 0u);
    EXPECT_TRUE(state.strange.empty());
    ASSERT_EQ(state.final_names.size(), static_cast<std::size_t>(kMessages));
    expect_all_whole(out, state.final_names, reference);
}

}  // namespace
}  // namespace ribbon::test
