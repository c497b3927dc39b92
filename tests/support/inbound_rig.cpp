// inbound_rig.cpp — see inbound_rig.hpp.
#include "support/inbound_rig.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>

#include "base/ascii.hpp"
#include "support/messages.hpp"
#include "support/pki.hpp"

namespace ribbon::test {

namespace fs = std::filesystem;

namespace {

Issued issue_for(const CustomerCa& ca, const std::string& stem, const std::string& cn, const std::string& address,
                 const std::string& serial, int days = 30) {
    return ca.issue(stem, "/C=DE/O=Customer GmbH/CN=" + cn, signing_extensions(address), serial, nullptr, days);
}

}  // namespace

Customers::Customers()
    : alice(issue_for(ca, "alice", "Alice Customer", kAlice, "0a1b2c3d4e5f")),
      alice_renewed(issue_for(ca, "alice-renewed", "Alice Customer", kAlice, "0a1b2c3d4e60")),
      alice_year(issue_for(ca, "alice-year", "Alice Customer", kAlice, "0a1b2c3d4e61", 365)),
      cust0mer(issue_for(ca, "cust0mer", "X", "x@cust0mer.example", "0a1b2c3d4e62")),
      bank_hyphen(issue_for(ca, "bank-hyphen", "X", "x@bank-example.com", "0a1b2c3d4e63")) {}

Customers& customers() {
    static Customers c;
    return c;
}

std::string customer_headers(const std::string& from, const std::string& message_id) {
    return "From: Alice Customer <" + from + ">\nTo: support@bank.example\nSubject: Card\nDate: " +
           rfc5322_date(std::time(nullptr)) + "\nMessage-ID: <" + message_id + ">\n";
}

std::string customer_content() { return "Content-Type: text/plain; charset=utf-8\n\nIs my card ready?\n"; }

std::string without_received(const std::string& message) {
    std::string out;
    std::size_t pos = 0;
    bool in_received = false;
    while (pos < message.size()) {
        std::size_t end = message.find("\r\n", pos);
        end = end == std::string::npos ? message.size() : end + 2;
        std::string_view line(message.data() + pos, end - pos);
        if (line == "\r\n") break;
        bool continuation = line.front() == ' ' || line.front() == '\t';
        if (!continuation) in_received = ascii_istarts_with(line, "Received:");
        if (!in_received) out.append(line);
        pos = end;
    }
    return out + message.substr(pos);
}

std::string utc_date_today() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

StampingMilter::StampingMilter(const std::string& inbound_extra, const std::string& milter_extra) {
    // The customers' root and the test PKI's (gpgsm signs with its RSA
    // leaf). Read while the milter is still root, but public anyway.
    fs::path ca = rig.dir() / "inbound-roots.pem";
    write_file(ca, read_file(customers().ca.root().cert) + read_file(pki().root_cert));
    ::chmod(ca.c_str(), 0644);
    rig.write_config("role = \"inbound\"\n" + milter_extra,
                     "[inbound]\nverify = true\nauthserv_id = \"mx.bank.example\"\nca_file = \"" + ca.string() +
                         "\"\n" + inbound_extra);
    EXPECT_EQ(rig.start_milter(), "");
    EXPECT_EQ(rig.start_mta(), "") << rig.describe();
}

std::string StampingMilter::deliver(const std::string& message) {
    const std::size_t before = rig.sink().count();
    auto sub = rig.postfix().submit_smtp(message, kAlice, {kSupport});
    EXPECT_EQ(sub.final_code, 250) << sub.transcript << rig.describe();
    if (!rig.sink().wait_for(before + 1, std::chrono::seconds(30))) {
        ADD_FAILURE() << rig.describe();
        return {};
    }
    return without_received(rig.sink().messages()[before].data);
}

std::string smime_passes(const Issued& signer, const std::string& address) {
    const X509View cert = x509_view(signer.cert);
    return "Authentication-Results: mx.bank.example; smime=pass\r\n"
           " body.smime-identifier=" + address + " body.smime-serial=" + ascii_upper(cert.serial) +
           "\r\n body.smime-issuer=\"" + cert.issuer + "\"\r\n";
}

std::string alice_passes() { return smime_passes(customers().alice); }

std::string continuity_of(const std::string& message) {
    const std::string name = "\r\nRibbon-Continuity: ";
    const std::size_t at = ("\r\n" + message).find(name);
    if (at == std::string::npos) return {};
    std::string value;
    std::size_t pos = at + name.size() - 2;
    while (pos < message.size()) {
        const std::size_t end = message.find("\r\n", pos);
        if (end == std::string::npos) break;
        value += message.substr(pos, end - pos);
        pos = end + 2;
        if (pos >= message.size() || (message[pos] != ' ' && message[pos] != '\t')) break;
    }
    return value;
}

}  // namespace ribbon::test
