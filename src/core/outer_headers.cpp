// outer_headers.cpp — see outer_headers.hpp.
#include "core/outer_headers.hpp"

#include <array>
#include <chrono>
#include <ctime>

#include "base/ascii.hpp"
#include "core/canonical.hpp"
#include "core/encoders.hpp"
#include "core/openssl_util.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::outer {

namespace {

// RFC 9788 §2.2 / docs/SIGNED-FORMAT.md: the header fields copied into the signed part.
constexpr std::array<const char*, 7> kProtected = {"From",    "To",   "Cc",        "Reply-To",
                                                   "Subject", "Date", "Message-ID"};

bool is_protected(std::string_view name) {
    for (const char* p : kProtected) {
        if (ascii_iequals(name, p)) return true;
    }
    return false;
}

// Any S/MIME top level is passed on as it is (ribbon/smime_form.hpp): a
// signature is not ribbon's to wrap again, and a signature around a sealed
// part is one receivers ignore. One error code for all of them, so every
// front end has one "pass unchanged" case.
Result<void> check_already_signed(GMimeObject* top) {
    const SmimeForm form = mime::smime_form_of(g_mime_object_get_content_type(top));
    if (!is_smime(form)) return {};
    return permanent_error(Errc::already_signed, "the message is already S/MIME (" +
                                                     std::string(smime_form_description(form)) + ")");
}

// RFC 5322 §3.6: exactly one From; its mailboxes, groups flattened.
Result<std::vector<std::string>> mailboxes_of_from(const mime::HeaderFields& fields) {
    const mime::HeaderField* from_field = nullptr;
    for (const mime::HeaderField& f : fields) {
        if (!ascii_iequals(f.name, "From")) continue;
        if (from_field != nullptr) {
            return permanent_error(Errc::malformed_message,
                                   "the message has more than one From header (RFC 5322 §3.6)");
        }
        from_field = &f;
    }
    if (from_field == nullptr) return permanent_error(Errc::no_from, "the message has no From header");
    // A signer sees the same From over and over; parsing it costs GMime
    // objects whose teardown takes GObject's global locks. The result
    // depends only on the unfolded value, so the last one is kept per thread.
    struct LastFrom {
        std::string value;
        std::vector<std::string> mailboxes;
    };
    thread_local LastFrom last;
    std::string unfolded = enc::unfold(from_field->raw_value);
    if (!last.mailboxes.empty() && last.value == unfolded) return last.mailboxes;
    mime::GPtr<InternetAddressList> from(internet_address_list_parse(nullptr, unfolded.c_str()));
    std::vector<std::string> mailboxes;
    std::vector<InternetAddressList*> lists = {from.get()};
    while (!lists.empty()) {
        InternetAddressList* list = lists.back();
        lists.pop_back();
        if (list == nullptr) continue;
        for (int i = 0; i < internet_address_list_length(list); ++i) {
            InternetAddress* a = internet_address_list_get_address(list, i);
            if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
                // The addr-spec as written: certificates carry the same form
                // (RFC 8398 SmtpUTF8Mailbox is not supported yet).
                mailboxes.emplace_back(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)));
            } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
                lists.push_back(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
            }
        }
    }
    if (mailboxes.empty()) {
        return permanent_error(Errc::no_from, "the message has no From address");
    }
    last.value = std::move(unfolded);
    last.mailboxes = mailboxes;
    return mailboxes;
}

// Every mailbox in From must be vouched for by the certificate (RFC 8550 §3).
Result<void> check_from(const mime::HeaderFields& fields, const DigitalId& id) {
    auto mailboxes = mailboxes_of_from(fields);
    if (!mailboxes) return std::move(mailboxes).error();
    for (const auto& m : *mailboxes) {
        if (!id.covers_address(m)) {
            // Shown as people should read them (ribbon/mail_text.hpp): a
            // lookalike domain in A-labels, so the refusal is understood.
            std::string certs;
            for (const auto& a : id.certificate().addresses)
                certs += (certs.empty() ? "" : ", ") + display_address(a);
            if (certs.empty()) certs = "no address";
            return permanent_error(Errc::from_not_in_certificate,
                                   "From address " + display_address(m) +
                                       " is not in the certificate (which is for " + certs + ")");
        }
    }
    return {};
}

// Appends "Name:raw" with line ends made CRLF; raw keeps its folding.
void append_raw_header(std::string& out, std::string_view name, std::string_view raw) {
    out.append(name);
    out.push_back(':');
    // Copied a line at a time, a CR inserted before each bare LF.
    std::size_t start = 0;
    for (std::size_t lf = raw.find('\n'); lf != std::string_view::npos; lf = raw.find('\n', lf + 1)) {
        if (lf == 0 || raw[lf - 1] != '\r') {
            out.append(raw.substr(start, lf - start));
            out.push_back('\r');
            start = lf;
        }
    }
    out.append(raw.substr(start));
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out.append("\r\n");
}

}  // namespace

std::optional<std::int64_t> parse_plain_date(std::string_view s) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::size_t i = 0;
    auto literal = [&](std::string_view lit) {
        if (s.substr(i, lit.size()) != lit) return false;
        i += lit.size();
        return true;
    };
    auto number = [&](std::size_t min_digits, std::size_t max_digits, int& out) {
        std::size_t n = 0;
        out = 0;
        for (; n < max_digits && i < s.size() && s[i] >= '0' && s[i] <= '9'; ++n, ++i) {
            out = out * 10 + (s[i] - '0');
        }
        return n >= min_digits;
    };
    auto name = [&](const char* const* names, int count) {
        for (int k = 0; k < count; ++k) {
            if (literal(names[k])) return k;
        }
        return -1;
    };
    int weekday = -1;
    if (s.size() > 3 && s[3] == ',') {
        weekday = name(kDays, 7);
        if (weekday < 0 || !literal(", ")) return std::nullopt;
    }
    int day, year, hour, minute, second = 0, zone_hours, zone_minutes;
    if (!number(1, 2, day) || !literal(" ")) return std::nullopt;
    int month = name(kMonths, 12) + 1;
    if (month == 0 || !literal(" ") || !number(4, 4, year) || !literal(" ")) return std::nullopt;
    if (!number(2, 2, hour) || !literal(":") || !number(2, 2, minute)) return std::nullopt;
    if (literal(":") && !number(2, 2, second)) return std::nullopt;
    if (!literal(" ") || i >= s.size() || (s[i] != '+' && s[i] != '-')) return std::nullopt;
    const int sign = s[i++] == '-' ? -1 : 1;
    if (!number(2, 2, zone_hours) || !number(2, 2, zone_minutes) || i != s.size()) return std::nullopt;
    namespace chrono = std::chrono;
    const chrono::year_month_day date{chrono::year{year}, chrono::month{static_cast<unsigned>(month)},
                                      chrono::day{static_cast<unsigned>(day)}};
    if (year < 1970 || !date.ok() || hour > 23 || minute > 59 || second > 59 || zone_hours > 23 ||
        zone_minutes > 59) {
        return std::nullopt;
    }
    const chrono::sys_days days{date};
    if (weekday >= 0 && chrono::weekday{days}.c_encoding() != static_cast<unsigned>(weekday)) {
        return std::nullopt;
    }
    const std::int64_t zone = sign * (zone_hours * 3600 + zone_minutes * 60);
    return std::int64_t{days.time_since_epoch().count()} * 86400 + hour * 3600 + minute * 60 + second - zone;
}

std::optional<std::int64_t> date_seconds(const std::string& unfolded) {
    if (auto seconds = parse_plain_date(unfolded)) return seconds;
    GDateTime* date = g_mime_utils_header_decode_date(unfolded.c_str());
    if (date == nullptr) return std::nullopt;
    std::int64_t seconds = g_date_time_to_unix(date);
    g_date_time_unref(date);
    return seconds;
}

Result<std::vector<std::string>> from_mailboxes(const mime::HeaderFields& fields) {
    return mailboxes_of_from(fields);
}

std::string rfc5322_date(TimePoint t) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                  tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

namespace {

// The Date rule (docs/SIGNED-FORMAT.md): receivers such as Thunderbird
// compare Date with signingTime. Mail composed hours before it is signed
// (a nightly statement run) keeps its Date and gets a signingTime equal
// to it, as long as the certificate was already valid then. Sets the
// plan's signing time and date flags; the Date to write when one is added
// or replaced, else empty.
std::string apply_date_rule(const mime::HeaderFields& fields, const CertificateInfo& cert, TimePoint now,
                            Plan& p) {
    const mime::HeaderField* date_field = nullptr;
    for (const mime::HeaderField& f : fields) {
        if (ascii_iequals(f.name, "Date")) {
            date_field = &f;
            break;
        }
    }
    if (date_field == nullptr) {
        p.date_added = true;
        return rfc5322_date(now);
    }
    std::optional<std::int64_t> seconds = date_seconds(enc::unfold(date_field->raw_value));
    bool usable = seconds.has_value();
    TimePoint when{};
    if (usable) when = time_from_unix(*seconds);
    if (usable && when > now + kDateTolerance) usable = false;  // in the future
    if (usable && when < now - kDateTolerance) {
        if (when >= cert.not_before) {
            p.signing_time = when;
            p.signing_time_aligned = true;
        } else {
            usable = false;  // older than the certificate
        }
    }
    if (usable) return {};
    p.date_replaced = true;
    return rfc5322_date(now);
}

// The header section that stays outside the signature, and the protected
// copies (RFC 9788) that go inside it.
Result<void> write_headers(const mime::HeaderFields& fields, const SignOptions& options, const mime::Limits& limits,
                           const std::string& new_date, Plan& p) {
    // Sized once: the section as written plus CRs for bare LFs.
    std::size_t section_size = 0;
    for (const mime::HeaderField& f : fields) section_size += f.name.size() + f.raw_value.size() + 8;
    p.outer_headers.reserve(section_size + 64);
    p.protected_headers.reserve(options.header_protection ? 512 : 0);
    std::string value;  // reused for each protected field
    for (const mime::HeaderField& f : fields) {
        std::string_view name = f.name;
        std::string_view raw_view = f.raw_value;
        if (raw_view.size() > limits.max_header_bytes) {
            return permanent_error(Errc::limit_exceeded,
                                   "header " + std::string(name) + " is " +
                                       std::to_string(raw_view.size()) + " bytes long; the limit is " +
                                       std::to_string(limits.max_header_bytes));
        }
        // MIME-Version and the Content-* fields are the signer's to write.
        if (ascii_iequals(name, "MIME-Version") ||
            (name.size() > 8 && ascii_istarts_with(name, "Content-"))) {
            continue;
        }
        bool is_date = ascii_iequals(name, "Date");
        if (is_date && p.date_replaced) {
            p.outer_headers += "Date: " + new_date + "\r\n";
        } else {
            append_raw_header(p.outer_headers, name, raw_view);
        }
        if (!options.header_protection || !is_protected(name)) continue;
        if (is_date && p.date_replaced) value = new_date;
        else enc::unfold_into(value, raw_view);
        if (auto r = canon::check_header_value(name, value, limits); !r) return r;
        enc::append_folded(p.protected_headers, name, value);
    }
    if (p.date_added) {
        p.outer_headers += "Date: " + new_date + "\r\n";
        if (options.header_protection) p.protected_headers += "Date: " + new_date + "\r\n";
    }
    return {};
}

}  // namespace

Result<Plan> plan(const mime::TopLevel& top, const DigitalId& id, const SignOptions& options,
                  TimePoint now, const mime::Limits& limits) {
    // The scanner's route never describes a message that may be signed.
    if (top.tree() != nullptr) {
        if (auto r = check_already_signed(top.tree()); !r) return std::move(r).error();
    }
    const mime::HeaderFields& fields = top.fields();
    if (auto r = check_from(fields, id); !r) return std::move(r).error();

    Plan p;
    p.signing_time = now;
    std::size_t count = fields.size();
    if (count > limits.max_header_count) {
        return permanent_error(Errc::limit_exceeded, "the message has " + std::to_string(count) +
                                                         " header fields; the limit is " +
                                                         std::to_string(limits.max_header_count));
    }
    std::string new_date = apply_date_rule(fields, id.certificate(), now, p);
    if (auto r = write_headers(fields, options, limits, new_date, p); !r) return std::move(r).error();
    return p;
}

}  // namespace ribbon::outer
