// The header builders of src/inbound/stamp.cpp: the exact
// Authentication-Results (RFC 8601, RFC 7281 smime) and Ribbon-Continuity
// values for each kind of assessment, and hostile text from mail and
// certificates kept inside quoted-strings.
#include "inbound/stamp.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "inbound/forged.hpp"

namespace ribbon::inbound {
namespace {

Assessment valid_from(std::vector<std::string> cert_addresses, std::vector<std::string> from) {
    VerifyResult v;
    v.verdict = Verdict::valid;
    v.reason = VerifyReason::none;
    v.detail = "signature valid";
    SignerDetails s;
    s.certificate.addresses = std::move(cert_addresses);
    s.certificate.serial_hex = "1A2B3C";
    s.certificate.issuer = "CN=Bank CA,O=Bank Ltd,C=GB";
    v.signer = s;
    v.from_addresses = std::move(from);
    v.from_in_certificate = true;
    Assessment a;
    a.verified = v;
    return a;
}

// What a reader sees after unfolding (RFC 5322 §2.2.3: CRLF removed).
std::string unfolded(std::string s) {
    for (std::size_t p; (p = s.find("\r\n")) != std::string::npos;) s.erase(p, 2);
    return s;
}

// Every line of "Name:" + value within `max` characters (RFC 5322 §2.1.1:
// 78 SHOULD, 998 MUST; only a word without spaces may pass 78), and only
// CRLF + WSP between lines.
void expect_folded(std::string_view name, const std::string& value, std::size_t max = 78) {
    std::string field = std::string(name) + ":" + value;
    std::size_t start = 0;
    while (true) {
        std::size_t end = field.find("\r\n", start);
        std::string line = field.substr(start, end == std::string::npos ? std::string::npos : end - start);
        EXPECT_LE(line.size(), max) << line;
        EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << line;
        if (start > 0) {
            EXPECT_TRUE(line.front() == ' ' || line.front() == '\t') << line;
        }
        if (end == std::string::npos) break;
        start = end + 2;
    }
}

TEST(AuthenticationResults, PassNamesTheAddressSerialAndIssuer) {
    Assessment a = valid_from({"alice@bank.example"}, {"Alice@Bank.Example"});
    const std::string v = authentication_results("mx.bank.example", a);
    EXPECT_EQ(v,
              " mx.bank.example; smime=pass\r\n"
              " body.smime-identifier=alice@bank.example body.smime-serial=1A2B3C\r\n"
              " body.smime-issuer=\"CN=Bank CA,O=Bank Ltd,C=GB\"");
    expect_folded(kAuthenticationResults, v);
}

TEST(AuthenticationResults, IdentifierIsTheFromAddressTheCertificateHolds) {
    Assessment a = valid_from({"alias@bank.example", "alice@bank.example"}, {"alice@bank.example"});
    EXPECT_NE(unfolded(authentication_results("mx", a)).find(" body.smime-identifier=alice@bank.example "),
              std::string::npos);
    // Without the From address in it: the certificate's first address.
    a.verified->from_addresses = {"mallory@evil.example"};
    EXPECT_NE(unfolded(authentication_results("mx", a)).find(" body.smime-identifier=alias@bank.example "),
              std::string::npos);
    // No address at all: no identifier, serial and issuer still.
    a.verified->signer->certificate.addresses.clear();
    EXPECT_EQ(unfolded(authentication_results("mx", a)),
              " mx; smime=pass body.smime-serial=1A2B3C body.smime-issuer=\"CN=Bank CA,O=Bank Ltd,C=GB\"");
}

TEST(AuthenticationResults, ResultsForEachVerdictAndError) {
    Assessment none;
    none.verified = VerifyResult{};  // not_signed
    EXPECT_EQ(authentication_results("mx.bank.example", none), " mx.bank.example; smime=none");

    Assessment tampered = valid_from({"alice@bank.example"}, {"alice@bank.example"});
    tampered.verified->verdict = Verdict::invalid;
    tampered.verified->reason = VerifyReason::digest_mismatch;
    tampered.verified->detail = "the content was changed after signing";
    EXPECT_EQ(unfolded(authentication_results("mx.bank.example", tampered)),
              " mx.bank.example; smime=fail reason=\"the content was changed after signing\""
              " body.smime-identifier=alice@bank.example body.smime-serial=1A2B3C"
              " body.smime-issuer=\"CN=Bank CA,O=Bank Ltd,C=GB\"");

    Assessment weak = tampered;
    weak.verified->reason = VerifyReason::weak_algorithm;
    EXPECT_EQ(smime_result(weak), SmimeResult::policy);
    weak.verified->reason = VerifyReason::weak_key;
    EXPECT_EQ(smime_result(weak), SmimeResult::policy);
    weak.verified->reason = VerifyReason::untrusted;
    EXPECT_EQ(smime_result(weak), SmimeResult::fail);

    Assessment garbled;
    garbled.verify_error = permanent_error(Errc::bad_signature_format, "the signature is not CMS");
    EXPECT_EQ(authentication_results("mx", garbled), " mx; smime=neutral reason=\"the signature is not CMS\"");

    Assessment not_mime;
    not_mime.verify_error = permanent_error(Errc::malformed_message, "malformed MIME: no message body");
    EXPECT_EQ(authentication_results("mx", not_mime), " mx; smime=permerror\r\n reason=\"malformed MIME: no message body\"");

    Assessment oom;
    oom.verify_error = Error(Errc::internal_error, ErrorKind::transient, "out of memory while verifying");
    EXPECT_EQ(smime_result(oom), SmimeResult::temperror);

    // What failed inside is for the log only.
    EXPECT_EQ(authentication_results("mx", Assessment::internal_failure("cannot write /var/spool/x")),
              " mx; smime=temperror\r\n"
              " reason=\"a temporary failure of the receiving system, not of the message\"");
}

TEST(AuthenticationResults, PartIsStatedWhenTheSignatureCoversOnePart) {
    Assessment a = valid_from({"a@b.example"}, {"a@b.example"});
    a.part = "1.2";
    EXPECT_EQ(unfolded(authentication_results("mx", a)),
              " mx; smime=pass body.smime-part=1.2 body.smime-identifier=a@b.example body.smime-serial=1A2B3C"
              " body.smime-issuer=\"CN=Bank CA,O=Bank Ltd,C=GB\"");
}

TEST(AuthenticationResults, HostileTextStaysQuotedAndBounded) {
    Assessment a = valid_from({"\"a b\"@bank.example"}, {"x@y.example"});
    a.verified->verdict = Verdict::invalid;
    a.verified->reason = VerifyReason::from_not_in_certificate;
    a.verified->detail = std::string("From \"x\\y\"; smime=pass\r\nAuthentication-Results: mx; smime=pass\x1b[2J\xff") +
                         std::string(5000, 'A');
    a.verified->signer->certificate.issuer = "CN=\"Evil\\\", CA\"\n X-Injected: yes,O=\xc3";
    a.verified->signer->certificate.serial_hex = "00FF";
    const std::string v = authentication_results("mx.bank.example", a);
    expect_folded(kAuthenticationResults, v, 998);
    EXPECT_LT(v.size(), 1200u);
    const std::string u = unfolded(v);
    EXPECT_EQ(u.find('\n'), std::string::npos);
    EXPECT_EQ(u.find('\x1b'), std::string::npos);
    EXPECT_EQ(u.find('\xff'), std::string::npos);
    EXPECT_EQ(u.rfind(" mx.bank.example; smime=fail reason=\"From \\\"x\\\\y\\\"; smime=pass\\\\x0d\\\\x0aAuthentication-Results:"
                      " mx; smime=pass\\\\x1b[2J\\\\xff",
                      0),
              0u)
        << u;
    EXPECT_NE(u.find("AAA...\" body.smime-identifier=\"\\\"a b\\\"@bank.example\" body.smime-serial=00FF"
                     " body.smime-issuer=\"CN=\\\"Evil\\\\\\\", CA\\\"\\\\x0a X-Injected: yes,O=\\\\xc3\""),
              std::string::npos)
        << u;
}

// Quotes and backslashes double when escaped: an issuer (OpenSSL's RFC
// 2253 form writes a '"' as '\"') and an address made of nothing else, with
// no space to fold at, still leave every line within 998 octets, cut after
// escaping and never inside an escape.
TEST(AuthenticationResults, EscapedQuotesStayWithinTheLineLimit) {
    std::string issuer;
    for (int i = 0; i < 400; ++i) issuer += "\\\"";
    Assessment a = valid_from({std::string(600, '"') + "@bank.example"}, {"x@y.example"});
    a.verified->signer->certificate.issuer = issuer;
    const std::string v = authentication_results("mx.bank.example", a);
    expect_folded(kAuthenticationResults, v, 998);
    const std::string u = unfolded(v);
    // Each '\' and '"' becomes two octets: the issuer's first 128 pairs
    // (escaped, 4 octets each) fill the 512, and 256 of the address's '"'.
    auto repeat = [](std::string_view unit, int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += unit;
        return s;
    };
    EXPECT_NE(u.find(" body.smime-issuer=\"" + repeat("\\\\\\\"", 128) + "...\""), std::string::npos) << u;
    EXPECT_NE(u.find(" body.smime-identifier=\"" + repeat("\\\"", 256) + "...\""), std::string::npos) << u;
}

TEST(AuthenticationResults, AnIdThatIsNoTokenIsQuoted) {
    Assessment none;
    none.verified = VerifyResult{};
    EXPECT_EQ(authentication_results("mx bank", none), " \"mx bank\"; smime=none");
}

TEST(RibbonContinuity, EachVerdict) {
    Assessment a;
    EXPECT_EQ(continuity_header(a), " none");
    EXPECT_EQ(continuity_header(Assessment::internal_failure("store down")), " temperror");

    ContinuityReport known;
    known.verdict = Continuity::known;
    known.key.messages = 57;
    known.key.first_seen = 1'772'323'200;  // 2026-03-01T00:00:00Z
    known.key.last_seen = 1'780'000'000;
    a.continuity = known;
    EXPECT_EQ(continuity_header(a), " known; seen=57; since=2026-03-01");

    ContinuityReport first;
    first.verdict = Continuity::first;
    first.key.messages = 1;
    first.key.first_seen = 1'780'000'000;  // 2026-05-28
    a.continuity = first;
    EXPECT_EQ(continuity_header(a), " first; seen=1; since=2026-05-28");

    ContinuityReport changed = first;
    changed.verdict = Continuity::changed;
    changed.previous = known.key;
    a.continuity = changed;
    EXPECT_EQ(continuity_header(a),
              " changed; seen=1; since=2026-05-28; previous-seen=57;\r\n"
              " previous-since=2026-03-01; previous-last=2026-05-28");
    changed.verdict = Continuity::renewed;
    a.continuity = changed;
    EXPECT_EQ(continuity_header(a),
              " renewed; seen=1; since=2026-05-28; previous-seen=57;\r\n"
              " previous-since=2026-03-01; previous-last=2026-05-28");
}

// The grammar's date is 4DIGIT "-" 2DIGIT "-" 2DIGIT: a time outside years
// 0..9999 is the unknown date, never "-1200-..." or a wrapped year.
TEST(RibbonContinuity, DatesOutsideFourDigitYearsAreUnknown) {
    ContinuityReport known;
    known.verdict = Continuity::known;
    known.key.messages = 2;
    Assessment a;
    for (UnixTime t : {UnixTime{-100'000'000'000}, UnixTime{300'000'000'000}, INT64_MIN, INT64_MAX}) {
        known.key.first_seen = t;
        a.continuity = known;
        EXPECT_EQ(continuity_header(a), " known; seen=2; since=0000-00-00") << t;
    }
    known.key.first_seen = -62'167'219'200;  // 0000-01-01T00:00:00Z
    a.continuity = known;
    EXPECT_EQ(continuity_header(a), " known; seen=2; since=0000-01-01");
    known.key.first_seen = 253'402'300'799;  // 9999-12-31T23:59:59Z
    a.continuity = known;
    EXPECT_EQ(continuity_header(a), " known; seen=2; since=9999-12-31");
}

TEST(RibbonContinuity, LookalikeNamesTheKnownDomainOnlyInItsPlainForm) {
    Assessment a;
    LookalikeMatch match;
    match.domain = "bnak.example";
    match.resembles.domain = "Bank.Example";
    match.kind = LookalikeKind::edit_distance;
    a.lookalike = match;
    EXPECT_EQ(continuity_header(a), " none; lookalike=bank.example");
    a.lookalike->resembles.domain = "bank.example; seen=999";
    EXPECT_EQ(continuity_header(a), " none");
    a.lookalike->resembles.domain = "b\xc3\xa4nk.example";
    EXPECT_EQ(continuity_header(a), " none");
}

// Random bytes where mail and certificates put text: whatever they hold,
// the field stays one well-folded field without control characters, and
// ribbon's own forged-field rule recognises it as ribbon's.
TEST(AuthenticationResults, RandomHostileTextNeverBreaksTheField) {
    std::mt19937 rng(20261207);
    auto random_text = [&](std::size_t max) {
        static constexpr std::string_view kSpecial = "\"\\()<>;=@, \t\r\n\x1b\x7f\xc3\xa9\xe2\x80\xae\xff";
        std::string t(rng() % max, '\0');
        for (char& c : t) c = rng() % 3 == 0 ? kSpecial[rng() % kSpecial.size()] : static_cast<char>(rng() % 256);
        return t;
    };
    for (int i = 0; i < 2000; ++i) {
        Assessment a = valid_from({random_text(80)}, {random_text(80)});
        a.verified->verdict = i % 2 == 0 ? Verdict::invalid : Verdict::valid;
        a.verified->detail = random_text(600);
        a.verified->signer->certificate.issuer = random_text(900);
        a.verified->signer->certificate.serial_hex = random_text(40);
        a.part = i % 7 == 0 ? random_text(20) : "";
        const std::string v = authentication_results("mx.bank.example", a);
        expect_folded(kAuthenticationResults, v, 998);
        for (std::size_t k = 0; k < v.size(); ++k) {
            auto c = static_cast<unsigned char>(v[k]);
            bool fold = v.compare(k, 3, "\r\n ") == 0 || (k > 0 && v.compare(k - 1, 3, "\r\n ") == 0);
            ASSERT_TRUE(fold || (c >= 0x20 && c != 0x7f)) << "byte " << k << " of " << v;
        }
        ASSERT_EQ(authserv_id_of(v), "mx.bank.example") << v;
        const std::vector<Removal> ours = {{std::string(kAuthenticationResults), 1}};
        ASSERT_EQ(forged_fields({{std::string(kAuthenticationResults), v}}, "mx.bank.example"), ours);
        if (HasFailure()) break;
    }
}

TEST(HeaderValue, TokenOrQuotedString) {
    EXPECT_EQ(header_value("mx.bank.example"), "mx.bank.example");
    EXPECT_EQ(header_value("a=b"), "\"a=b\"");
    EXPECT_EQ(header_value(""), "\"\"");
    EXPECT_EQ(header_value("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
    EXPECT_EQ(header_value(std::string("a\0b", 3)), "\"a\\\\x00b\"");
}

}  // namespace
}  // namespace ribbon::inbound
