// The three front ends that sign mail, behind one interface, for the
// table-driven test (tests/e2e/frontends_test.cpp, issue 14): the same message,
// envelope and configuration go in, and what comes out is compared.
//
//   milter    `ribbon milter` inside a real Postfix relaying to smtp-sink
//             (support/milter_rig.hpp); the client is swaks to Postfix.
//   relay     `ribbon relay` in front of smtp-sink (support/relay_rig.hpp);
//             the client is swaks to the relay.
//   sendmail  `ribbon sendmail`, its [sendmail] path a script that records
//             each hand-over (argv and stdin) in a directory.
//
// Each front end is built once per test and reconfigured only when the
// variant changes (the daemon is restarted then, Postfix and the sink stay).
// Every front end gets the same keystore (the test PKI's Digital IDs for
// no-reply@ and other@bank.example), the same [[signer]] table and the same
// recipients store, seeded with the customers named below.
//
// Not thread-safe; one object per test, used on the test's thread.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace ribbon::test {

// The configurations a table row can ask for. What each adds to the
// shared one is in frontends.cpp (variant_section_lines).
enum class Variant {
    standard,       // defaults: on_no_key = tempfail, on_bad_message = reject, ...
    // opaque_for = ["opaque.example"] in the front end's own section; for
    // [sendmail] that key comes with issue 14's recipient policy for sendmail.
    opaque_for,
    no_key_accept,  // on_no_key = "accept"
    store_down,     // [store] url: PostgreSQL on a loopback port nobody listens on
};
const char* variant_name(Variant v);

// Senders: each matches one [[signer]] entry (or none).
inline constexpr const char* kSigner = "no-reply@bank.example";         // detached, unless-incapable
inline constexpr const char* kCapableOnly = "other@bank.example";       // recipients = "capable-only"
inline constexpr const char* kNoKey = "clerk@nokey.example";            // *@nokey.example: no Digital ID
inline constexpr const char* kMismatch = "mismatch@bank.example";       // id = no-reply@: From not in the cert
inline constexpr const char* kNotASigner = "news@shop.example";         // no [[signer]] entry
// Customers, as the seeded store knows them.
inline constexpr const char* kUnknown = "unknown@cust.example";         // never seen: unknown
inline constexpr const char* kIncapable = "incapable@cust.example";     // client known not to show S/MIME
inline constexpr const char* kOptedOut = "optout@cust.example";         // opted out (capable client)
inline constexpr const char* kOpaqueDomain = "someone@opaque.example";  // a domain in opaque_for

enum class FrontEndKind { milter, relay, sendmail };
const char* front_end_name(FrontEndKind k);
inline void PrintTo(FrontEndKind k, std::ostream* os) { *os << front_end_name(k); }

// One message as it left ribbon's front end for the next program: the
// envelope recipients and the bytes (for the daemons, as smtp-sink got
// them, without the Received: fields Postfix and the relay add on top).
struct Handover {
    std::vector<std::string> rcpts;
    std::string data;
};

// What a submission did.
struct Attempt {
    bool accepted = false;   // 250 after DATA, or exit status 0
    std::string reply;       // milter, relay: the client's final SMTP reply line
    int exit_code = -1;      // sendmail: its exit status
    std::string said;        // what ribbon said meanwhile: the daemon's new log lines, or stderr
    std::vector<Handover> handed_over;  // in no particular order
};

class FrontEnd {
public:
    virtual ~FrontEnd() = default;
    virtual FrontEndKind kind() const = 0;
    // Whether it can send one message as several (the relay can: one
    // transaction downstream per treatment; the others cannot).
    virtual bool splits() const = 0;
    // (Re)starts the front end with `variant`; "" or what failed.
    [[nodiscard]] virtual std::string configure(Variant variant) = 0;
    // Sends `message` from `from` to `rcpts` and waits until whatever was
    // accepted has been handed over.
    virtual Attempt submit(const std::string& message, const std::string& from,
                           const std::vector<std::string>& rcpts) = 0;
    // Everything a failing assertion should show (logs).
    virtual std::string describe() const = 0;
};

// Builds the front end (starting Postfix and smtp-sink where needed);
// throws std::runtime_error when that fails. configure() before submit().
std::unique_ptr<FrontEnd> make_front_end(FrontEndKind kind);

// The form of a delivered message, judged from its bytes.
enum class Form {
    unchanged,  // byte for byte the message that was submitted
    detached,   // multipart/signed, protocol application/pkcs7-signature
    opaque,     // application/pkcs7-mime; smime-type=signed-data
    other,      // changed, but neither of the signed forms
};
const char* form_name(Form f);

// Judges `delivered` against the `submitted` bytes; for a signed form also
// checks with `openssl cms -verify` against the test root, and that the
// signed content holds `body_marker`. Problems found go into `problems`.
Form judge(const std::string& delivered, const std::string& submitted, const std::string& body_marker,
           std::string& problems);

}  // namespace ribbon::test
