// json_out.hpp — JSON as the commands print it. Certificates and headers
// are the sender's bytes: a subject or an rfc822Name need not be UTF-8,
// and nlohmann's default dump() throws on one. Here invalid sequences
// become U+FFFD, the same in every command.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "ribbon/error.hpp"

namespace ribbon::cli {

// `j` on one line.
std::string json_line(const nlohmann::json& j);

// {"verdict":"error","error":{"code":…,"kind":…,"message":…}} and a line
// end on stdout: what `verify --json` and `doctor --json` print for input
// they cannot read.
void print_json_error(const Error& error);

}  // namespace ribbon::cli
