// secrets.cpp — passwords and passphrases as every `ribbon` command takes
// them (commands.hpp): the first line of a file, else an environment
// variable, never an argument, where every user's `ps` would show them.
#include <string.h>  // explicit_bzero

#include <cstdlib>
#include <fstream>

#include "cli/commands.hpp"

namespace ribbon::cli {

Secret::~Secret() { explicit_bzero(bytes.data(), bytes.size()); }

Result<void> read_secret(const std::string& file, const char* env, Secret& out) {
    if (!file.empty()) {
        std::ifstream in(file);
        if (!in) return permanent_error(Errc::io_error, "cannot read password file " + file);
        std::getline(in, out.bytes);
        if (!out.bytes.empty() && out.bytes.back() == '\r') out.bytes.pop_back();
        return {};
    }
    if (const char* value = std::getenv(env)) out.bytes = value;
    return {};
}

}  // namespace ribbon::cli
