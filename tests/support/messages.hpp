// The test corpus: tests/data/messages/*.eml (LF as stored, and a CRLF
// variant made here) plus generated messages.
#pragma once

#include <ctime>
#include <string>
#include <vector>

namespace ribbon::test {

struct TestMessage {
    std::string name;  // gtest-safe: [A-Za-z0-9_]
    std::string data;
};

// Every corpus message, LF and CRLF variants, plus the large attachment.
// Each message's Date is set to one minute ago (see README.md).
const std::vector<TestMessage>& all_messages();
std::vector<std::string> all_message_names();
const TestMessage& message(const std::string& name);

// A message with a ~3 MB random (seeded) base64 PDF-typed attachment, CRLF.
std::string large_attachment_message();

// RFC 5322 date-time for t, in UTC ("Mon, 04 Mar 2024 09:15:00 +0000").
std::string rfc5322_date(std::time_t t);
// Parses an RFC 5322 date-time (day name optional, numeric zone). -1 on error.
std::time_t parse_rfc5322_date(const std::string& value);
// Replaces (or adds) a header's value; keeps the message's line endings.
std::string set_header(const std::string& message, const std::string& name,
                       const std::string& value);
std::string remove_header(const std::string& message, const std::string& name);

}  // namespace ribbon::test
