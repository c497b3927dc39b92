// session_prepare.hpp — what `ribbon relay` does with a received message
// before handing it on: sign it by the [[signer]] table, pass it unchanged,
// or refuse it by the failure actions, as the submission core decides
// (submit/submit.hpp); here its parts become spools. Runs on a worker thread.
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

// One downstream transaction: the recipients who get this form of the
// message. A message whose recipients get different answers from the
// recipient policy becomes one part per answer (signed, signed opaque,
// unsigned); otherwise there is one part for all.
struct Part {
    std::vector<std::string> rcpts;
    std::unique_ptr<Spool> message;
    std::string outcome;  // the core's decision line: "signed: from=<…> id=…", "not signed: …"
};

struct Prepared {
    std::vector<Part> parts;       // what goes to the next hop
    std::optional<Reply> refusal;  // or the reply the client gets instead
    std::string outcome;           // the refusal's, for the log
    std::vector<std::pair<spdlog::level::level_enum, std::string>> log;
};

// Never throws; every failure is a refusal or a configured pass-through.
Prepared prepare(Job& job) noexcept;

}  // namespace ribbon::relay
