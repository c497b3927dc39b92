// sign_batch.hpp — `ribbon sign --batch DIR --out-dir OUT`: every message
// of a folder signed on all cores, the signed messages committed to OUT in
// groups (ribbon/file_group.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ribbon/error.hpp"
#include "ribbon/io.hpp"
#include "ribbon/signer.hpp"

namespace ribbon::cli {

// The Signer for one message: the one fixed Digital ID, or the keystore's
// Digital ID for the message's sender. Called from the batch threads.
using SignerFor = std::function<Result<Signer>(const MessageInput&)>;

struct BatchArgs {
    std::string in_dir;
    std::string out_dir;
    unsigned jobs = 0;  // 0: one per core
    std::uint64_t max_message_size = kDefaultMaxMessageSize;
};

// Signs every file of args.in_dir into args.out_dir; returns the exit code
// of the first failure in file order (0 when all were signed). A message
// counts as signed only once its output is on stable storage under its
// name.
int run_batch(const SignerFor& signer_for, const SignOptions& options, const BatchArgs& args);

}  // namespace ribbon::cli
