// src/submit/header_recipients.cpp: the recipients `ribbon sendmail -t`
// takes from To, Cc and Bcc (RFC 5322 §3.4 address lists, parsed by GMime).
#include <gtest/gtest.h>

#include "submit/submit.hpp"

namespace ribbon::test {
namespace {

TEST(SubmitHeaderRecipients, ToCcAndBccAsMailClientsWriteThem) {
    const std::string head =
        "From: Bank <no-reply@bank.example>\r\n"
        "To: \"Doe, Jane\" <jane@example.org>, bob@example.org (Bob)\r\n"
        "Subject: To: not@this.example\r\n"
        "cc: Team: a@example.net, b@example.net;,\r\n\tcarol@example.com\r\n"
        "Bcc: <hidden@example.org>\r\n"
        "Reply-To: reply@example.org\r\n\r\nbody To: x@y.example\r\n";
    EXPECT_EQ(submit::header_recipients(head),
              (std::vector<std::string>{"jane@example.org", "bob@example.org", "a@example.net", "b@example.net",
                                        "carol@example.com", "hidden@example.org"}));
    EXPECT_TRUE(submit::header_recipients("From: a@b.example\n\nx\n").empty());
}

}  // namespace
}  // namespace ribbon::test
