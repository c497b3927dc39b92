// Running ribbon as an unprivileged user from tests that run as root (CI):
// root ignores file modes, so a test about what a user may not read or
// write runs the command as `nobody` through setpriv(1). As a non-root
// test user, the command runs as that user, who is bound by modes already.
#pragma once

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ribbon::test {

// The argv prefix that runs a command as nobody when the test is root;
// empty otherwise, or when there is no user nobody (check with
// can_drop_to_nobody() and skip).
inline std::vector<std::string> as_nobody_prefix() {
    if (::geteuid() != 0) return {};
    const passwd* pw = ::getpwnam("nobody");
    if (pw == nullptr) return {};
    return {"setpriv", "--reuid=" + std::to_string(pw->pw_uid),
            "--regid=" + std::to_string(pw->pw_gid), "--clear-groups", "--"};
}

// False when the test is root and there is no user nobody to become.
inline bool can_drop_to_nobody() { return ::geteuid() != 0 || ::getpwnam("nobody") != nullptr; }

// Gives `p` to nobody when the test is root (so nobody owns it).
inline void give_to_nobody(const std::filesystem::path& p) {
    if (::geteuid() != 0) return;
    if (const passwd* pw = ::getpwnam("nobody")) {
        if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0)
            throw std::runtime_error("chown " + p.string());
    }
}

}  // namespace ribbon::test
