// fuzz_learn.cpp — libFuzzer target for the learning path the milter's
// inbound role runs on every message from a customer: Learner::observe()
// with the shipped client rules (data/clients.toml, matched by RE2) and the
// system's trust roots, as src/milter/milter_daemon.cpp builds it.
//
// Each input is used twice:
//   1. as a whole message, given to observe() as the milter gives it;
//   2. as header values, one per line: line i becomes the value of the i-th
//      field the shipped rules read (cycled), given to ClientRules::detect()
//      raw (any octet, CR and NUL included, as a caller other than
//      parse_mail_headers() could pass), and then written as a message
//      after a From line and given to observe() as well.
//
// Aborts on: a crash or sanitizer report; an error that is not permanent
// (only out of memory may be transient) or has no message; a lesson that
// is both or neither learned and skipped; an observation whose confidence
// is outside 0..1; a client that is not a shipped rule's, a version over
// 64 octets, evidence over 200 octets or not "<field>: <value>" of a
// field that was there; observe() naming a different client than detect()
// on the same header fields.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/client_rules.hpp"
#include "ribbon/learn.hpp"

namespace {

constexpr std::size_t kMaxInput = 128 * 1024;
constexpr std::size_t kMaxValues = 64;
constexpr ribbon::UnixTime kNow = 1800000000;  // fixed: reproducers behave the same on any day

// The fields the shipped rules read (data/clients.toml), plus one no rule
// reads; a value of any of them may come from anyone.
constexpr std::string_view kFields[] = {"User-Agent",
                                        "X-Mailer",
                                        "Message-ID",
                                        "Content-Type",
                                        "MIME-Version",
                                        "X-MimeOLE",
                                        "X-Blue-Identity",
                                        "X-Is-Generated-Message-Id",
                                        "X-Readdle-Message-ID",
                                        "X-Android-Message-ID",
                                        "Subject"};

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_learn: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

std::optional<ribbon::ClientRules> g_rules;
std::optional<ribbon::Learner> g_learner;
std::set<std::string, std::less<>> g_names;

void check_match(const ribbon::ClientMatch& m, const std::vector<ribbon::MailHeader>& headers) {
    if (!g_names.contains(m.name)) die("a client no shipped rule names", m.name);
    if (m.version.size() > 64) die("a version over 64 octets", m.version);
    if (m.evidence.size() > 200) die("evidence over 200 octets", m.evidence);
    if (!(m.confidence >= 0.0 && m.confidence <= 1.0)) die("a rule's confidence outside 0..1", m.name);
    for (const auto& h : headers) {
        std::string shown = h.name + ": ";
        shown += std::string_view(h.value).substr(0, ribbon::kMaxMatchedValue);
        if (shown.substr(0, 200) == m.evidence) return;
    }
    die("evidence that is no field of the message", m.evidence);
}

void check_lesson(const ribbon::Result<ribbon::Learner::Lesson>& lesson, std::string_view message) {
    if (!lesson) {
        if (lesson.error().message().empty()) die("an Error without a message", ribbon::errc_name(lesson.error().code()));
        if (lesson.error().kind() != ribbon::ErrorKind::permanent) die("an error that is not permanent", lesson.error().message());
        return;
    }
    if (lesson->observation.has_value() == !lesson->skipped.empty()) die("learned and skipped, or neither", lesson->skipped);
    if (!lesson->observation) return;
    const ribbon::Observation& o = *lesson->observation;
    if (o.address.empty()) die("an observation without an address");
    if (!(o.confidence >= 0.0 && o.confidence <= 1.0)) die("confidence outside 0..1", o.capability_evidence);
    const auto headers = ribbon::parse_mail_headers(message);
    const auto match = g_rules->detect(headers);
    if (o.client.has_value() != match.has_value() || (match && o.client->name != match->name)) {
        die("observe() and detect() disagree on the client", match ? match->name : "(none)");
    }
    if (match) check_match(*match, headers);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    auto rules = ribbon::ClientRules::shipped();
    if (!rules) die("ClientRules::shipped failed", rules.error().message());
    for (auto& name : rules->names()) g_names.insert(std::move(name));
    auto copy = ribbon::ClientRules::shipped();
    auto trust = ribbon::TrustStore::system();
    if (!trust) die("TrustStore::system failed", trust.error().message());
    g_rules.emplace(std::move(*rules));
    g_learner.emplace(std::move(*copy), std::move(*trust),
                      [](std::string_view address) { return address == "notices@bank.example"; });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > kMaxInput) return -1;  // -1: keep out of the corpus
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    // 1. The whole input as a message.
    check_lesson(g_learner->observe(input, kNow), input);

    // 2. Each line a value of a field the rules read.
    std::vector<ribbon::MailHeader> headers;
    std::string message = "From: A Customer <customer@example.org>\r\n";
    std::size_t pos = 0;
    while (pos <= input.size() && headers.size() < kMaxValues) {
        std::size_t end = input.find('\n', pos);
        if (end == std::string_view::npos) end = input.size();
        const std::string_view name = kFields[headers.size() % std::size(kFields)];
        headers.push_back({std::string(name), std::string(input.substr(pos, end - pos))});
        message += name;
        message += ": ";
        message += headers.back().value;
        message += "\r\n";
        pos = end + 1;
    }
    if (auto m = g_rules->detect(headers)) check_match(*m, headers);
    message += "\r\nHello.\r\n";
    check_lesson(g_learner->observe(message, kNow), message);
    return 0;
}
