// json_out.cpp — see json_out.hpp.
#include "cli/json_out.hpp"

#include <cstdio>

namespace ribbon::cli {

std::string json_line(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_json_error(const Error& error) {
    const nlohmann::json j = {{"verdict", "error"},
                              {"error",
                               {{"code", errc_name(error.code())},
                                {"kind", error_kind_name(error.kind())},
                                {"message", error.message()}}}};
    std::printf("%s\n", json_line(j).c_str());
}

}  // namespace ribbon::cli
