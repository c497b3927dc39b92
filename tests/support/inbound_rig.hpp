// The receiving side's Postfix rig (tests/e2e/inbound_stamp_test.cpp,
// inbound_continuity_test.cpp): `ribbon milter` in role "inbound" stamping
// as mx.bank.example, trusting the customers' own CA (support/customers.hpp)
// and the test PKI's root, with the customers' certificates the tests sign
// with and the exact fields ribbon is expected to add.
#pragma once

#include <string>

#include "support/customers.hpp"
#include "support/milter_rig.hpp"

namespace ribbon::test {

inline constexpr const char* kAlice = "alice@customer.example";
inline constexpr const char* kSupport = "support@bank.example";

// The customers' CA and the certificates issued under it, made once per
// process. All EC P-256 with "/C=DE/O=Customer GmbH/CN=..." subjects.
struct Customers {
    CustomerCa ca;
    // Alice's certificate, valid 30 days: within its last 60, so a new key
    // under the same name is a renewal (ribbon/continuity.hpp).
    Issued alice;
    // Another key for Alice, same subject and issuer, also 30 days.
    Issued alice_renewed;
    // Another key for Alice, same subject and issuer, valid a year: after
    // it, any other key is a change.
    Issued alice_year;
    // x@cust0mer.example (a zero for the o) and x@bank-example.com:
    // lookalikes of customer.example and of the bank's own domain.
    Issued cust0mer;
    Issued bank_hyphen;
    Customers();
};
Customers& customers();

// The header of Alice's message to support (LF line ends, Date now) with
// `message_id` ("a1@customer.example"), and its text/plain content.
std::string customer_headers(const std::string& from = kAlice, const std::string& message_id = "a1@customer.example");
std::string customer_content();

// `message` without its Received fields (and their continuation lines),
// wherever they are in the header.
std::string without_received(const std::string& message);

// Today's date in UTC as Ribbon-Continuity writes it ("2026-12-07").
std::string utc_date_today();

// The milter in role "inbound", stamping as mx.bank.example with the
// customers' root and the test PKI's as the only trust anchors;
// `inbound_extra` and `milter_extra` are lines added to [inbound] and
// [milter]. The rig's [[signer]] makes bank.example an own domain.
struct StampingMilter {
    MilterRig rig;
    explicit StampingMilter(const std::string& inbound_extra = {}, const std::string& milter_extra = {});

    // Submits `message` over SMTP and returns it as delivered, without the
    // Received field Postfix added (below ribbon's, which go on top).
    std::string deliver(const std::string& message);
};

// ribbon's Authentication-Results for a valid signature by `signer`'s
// certificate for `address`, serial and issuer as `openssl x509` prints
// them, folded as RFC 5322 §2.2.3 wants it (for the customers' short
// serials).
std::string smime_passes(const Issued& signer, const std::string& address = kAlice);
std::string alice_passes();

// The value of the first Ribbon-Continuity field of `message` (unfolded),
// or "" when there is none.
std::string continuity_of(const std::string& message);

}  // namespace ribbon::test
