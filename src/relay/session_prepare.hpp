// session_prepare.hpp — what `ribbon relay` does with a received message
// before handing it on: sign it by the [[signer]] table, pass it unchanged,
// or refuse it by the failure actions. Runs on a worker thread.
#pragma once

#include <spdlog/common.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "relay/server.hpp"
#include "relay/smtp_protocol.hpp"
#include "ribbon/io.hpp"

namespace ribbon::relay {

struct Envelope {
    std::string from;
    std::vector<std::string> rcpts;  // accepted by the next hop
    bool smtputf8 = false;
    bool eight_bit = false;
};

struct Job {
    std::shared_ptr<const Runtime> runtime;
    std::unique_ptr<Spool> received;  // the message as the client sent it (CRLF, unstuffed)
    std::string trace;                // Received: header to put on top
    std::vector<std::string> rcpts;
    std::string id;                   // session id, for logs
};

struct Prepared {
    std::unique_ptr<Spool> message;  // what goes to the next hop
    std::optional<Reply> refusal;    // or the reply the client gets instead
    std::string outcome;             // "signed id=… serial=…", "unsigned (…)"
    std::vector<std::pair<spdlog::level::level_enum, std::string>> log;
};

// Never throws; every failure is a refusal or a configured pass-through.
Prepared prepare(Job& job) noexcept;

}  // namespace ribbon::relay
