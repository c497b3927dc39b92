#include "support/messages.hpp"

#include "support/mime.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <stdexcept>

namespace ribbon::test {
namespace fs = std::filesystem;

std::string rfc5322_date(std::time_t t) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

std::time_t parse_rfc5322_date(const std::string& value) {
    std::string v = value;
    if (const auto c = v.find(','); c != std::string::npos) v = v.substr(c + 1);
    int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
    char mon[4] = {0};
    char zone[8] = {0};
    if (std::sscanf(v.c_str(), " %d %3s %d %d:%d:%d %7s", &day, mon, &year, &hh, &mm, &ss, zone) != 7)
        return -1;
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int m = -1;
    for (int i = 0; i < 12; ++i)
        if (std::strcmp(months[i], mon) == 0) m = i;
    if (m < 0) return -1;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = m;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    std::time_t t = ::timegm(&tm);
    if ((zone[0] == '+' || zone[0] == '-') && std::strlen(zone) == 5) {
        const int z = std::atoi(zone + 1);
        const long off = (z / 100) * 3600L + (z % 100) * 60L;
        t += zone[0] == '+' ? -off : off;
    } else if (std::strcmp(zone, "GMT") != 0 && std::strcmp(zone, "UT") != 0 &&
               std::strcmp(zone, "UTC") != 0 && std::strcmp(zone, "Z") != 0) {
        return -1;
    }
    return t;
}

namespace {

std::string eol_of(const std::string& message) {
    const auto nl = message.find('\n');
    return nl != std::string::npos && nl > 0 && message[nl - 1] == '\r' ? "\r\n" : "\n";
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::string set_header(const std::string& message, const std::string& name,
                       const std::string& value) {
    mime::Entity e = mime::parse_entity(message);
    const std::string line = name + ": " + value + eol_of(message);
    for (auto& f : e.fields)
        if (lower(f.name) == lower(name)) {
            f.raw = line;
            return e.raw();
        }
    e.fields.insert(e.fields.begin(), {name, line});
    return e.raw();
}

std::string remove_header(const std::string& message, const std::string& name) {
    mime::Entity e = mime::parse_entity(message);
    std::erase_if(e.fields, [&](const mime::Field& f) { return lower(f.name) == lower(name); });
    return e.raw();
}

std::string large_attachment_message() {
    std::mt19937_64 rng(20240304);
    std::string bytes(3 * 1024 * 1024, '\0');
    for (size_t i = 0; i < bytes.size(); i += 8) {
        const uint64_t v = rng();
        std::memcpy(&bytes[i], &v, std::min<size_t>(8, bytes.size() - i));
    }
    std::string m =
        "From: Bank Example <no-reply@bank.example>\r\n"
        "To: archive@customer.example\r\n"
        "Subject: Annual report (large attachment)\r\n"
        "Date: " + rfc5322_date(std::time(nullptr) - 60) + "\r\n"
        "Message-ID: <annual-report-large@bank.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"large-boundary-3mb\"\r\n"
        "\r\n"
        "--large-boundary-3mb\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "The annual report is attached.\r\n"
        "--large-boundary-3mb\r\n"
        "Content-Type: application/pdf; name=\"annual-report.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"annual-report.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n";
    m += mime::base64_encode(bytes, 76, "\r\n");
    m += "--large-boundary-3mb--\r\n";
    return m;
}

const std::vector<TestMessage>& all_messages() {
    static const std::vector<TestMessage> messages = [] {
        std::vector<TestMessage> out;
        const fs::path dir = source_dir() / "tests" / "data" / "messages";
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir))
            if (e.path().extension() == ".eml") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        if (files.empty()) throw std::runtime_error("no messages in " + dir.string());
        const std::string date = rfc5322_date(std::time(nullptr) - 60);
        for (const auto& f : files) {
            const std::string lf = set_header(read_file(f), "Date", date);
            const std::string stem = f.stem().string();
            out.push_back({stem + "_lf", lf});
            out.push_back({stem + "_crlf", mime::to_crlf(lf)});
        }
        out.push_back({"large_attachment_crlf", large_attachment_message()});
        return out;
    }();
    return messages;
}

std::vector<std::string> all_message_names() {
    // Must not need the files at registration time to fail loudly: read them.
    std::vector<std::string> names;
    for (const auto& m : all_messages()) names.push_back(m.name);
    return names;
}

const TestMessage& message(const std::string& name) {
    for (const auto& m : all_messages())
        if (m.name == name) return m;
    throw std::runtime_error("no test message " + name);
}

}  // namespace ribbon::test
