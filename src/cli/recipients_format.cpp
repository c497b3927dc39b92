// recipients_format.cpp — see recipients_format.hpp.
#include "cli/recipients_format.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace ribbon::cli {

void print_line(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
}

void field(int indent, const char* label, const std::string& value) {
    print_line(pad(std::string(static_cast<std::size_t>(indent), ' ') + label, 18) + " " + value);
}

std::optional<std::string> address_argument(const char* command, const std::string& address) {
    auto key = recipient_address_key(address);
    if (!key) {
        std::fprintf(stderr,
                     "ribbon %s: \"%s\" is not an email address (local@domain, no spaces or control "
                     "characters, at most 254 octets)\n",
                     command, terminal_text(address).c_str());
    }
    return key;
}

std::string iso_time(UnixTime t) {
    if (t == 0) return "-";
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);  // out of range: the number itself
    char buf[32];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return n == 0 ? std::to_string(t) : std::string(buf, n);
}

std::string terminal_text(std::string_view text) {
    return text.empty() ? "-" : terminal_safe(text);
}

std::string address_text(std::string_view address) {
    return terminal_text(display_address(address));
}

std::string pad(std::string_view text, std::size_t width, bool right) {
    std::size_t columns = 0;
    for (char c : text) {
        if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++columns;
    }
    if (columns >= width) return std::string(text);
    const std::string fill(width - columns, ' ');
    return right ? fill + std::string(text) : std::string(text) + fill;
}

std::string base64(std::string_view bytes) {
    if (bytes.empty()) return {};
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return out;
}

std::string pem_certificate(std::string_view der) {
    // RFC 7468 §2: lines of exactly 64 characters except the last. The DER
    // is printed as stored, without parsing it: what the customer sent.
    const std::string b64 = base64(der);
    std::string out = "-----BEGIN CERTIFICATE-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64) out.append(b64, i, 64).append("\n");
    out += "-----END CERTIFICATE-----\n";
    return out;
}

std::string exact_number(double value) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    return std::string(buf, r.ptr);
}

namespace {

nlohmann::ordered_json json_time(UnixTime t) {
    return t == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(iso_time(t));
}

}  // namespace

nlohmann::ordered_json record_json(const RecipientRecord& r, bool with_pem) {
    nlohmann::ordered_json clients = nlohmann::ordered_json::array();
    for (const ClientSighting& c : r.clients) {
        clients.push_back({{"name", c.name},
                           {"version", c.version},
                           {"evidence", c.evidence},
                           {"smime", smime_support_name(c.smime)},
                           {"count", c.count},
                           {"first_seen", json_time(c.first_seen)},
                           {"last_seen", json_time(c.last_seen)}});
    }
    nlohmann::ordered_json certificates = nlohmann::ordered_json::array();
    for (const HarvestedCertificate& h : r.certificates) {
        nlohmann::ordered_json j = {{"sha256", h.sha256},
                                    {"subject", h.subject},
                                    {"issuer", h.issuer},
                                    {"serial", h.serial},
                                    {"not_after", json_time(h.not_after)},
                                    {"capabilities", h.capabilities},
                                    {"first_seen", json_time(h.first_seen)},
                                    {"last_seen", json_time(h.last_seen)},
                                    {"bound", h.bound},
                                    {"der", base64(h.der)}};
        if (with_pem) j["pem"] = pem_certificate(h.der);
        certificates.push_back(std::move(j));
    }
    return {{"address", r.address},
            {"first_seen", json_time(r.first_seen)},
            {"last_seen", json_time(r.last_seen)},
            {"message_count", r.message_count},
            {"capability", smime_support_name(r.capability)},
            {"confidence", r.confidence},
            {"capability_evidence", r.capability_evidence},
            {"override", recipient_override_name(r.override_)},
            {"opted_out", r.opted_out},
            {"seal", seal_choice_name(r.seal)},
            {"seal_certificate", r.seal_certificate.empty() ? nlohmann::ordered_json(nullptr)
                                                            : nlohmann::ordered_json(base64(r.seal_certificate))},
            {"clients", std::move(clients)},
            {"certificates", std::move(certificates)}};
}

std::string dump(const nlohmann::ordered_json& value) {
    return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string csv_field(std::string_view text) {
    // OWASP "CSV Injection": a spreadsheet runs a cell that starts with
    // = + - @ (or TAB, CR, which some strip first) as a formula, and a
    // client name is whatever a customer's X-Mailer said. Such a cell gets a
    // leading single quote, which makes it text, and is always quoted.
    const bool formula =
        !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos;
    if (!formula && text.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(text);
    }
    std::string out = formula ? "\"'" : "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

ExportOutput::~ExportOutput() {
    if (m_file != nullptr && m_file != stdout) {
        std::fclose(m_file);
        ::unlink(m_tmp.c_str());
    }
}

Result<void> ExportOutput::open(const std::filesystem::path& path) {
    if (path.empty()) {
        m_file = stdout;
        return {};
    }
    m_path = path;
    m_tmp = path;
    m_tmp += ".tmp";
    // O_NOFOLLOW: the name is predictable, and this may run as root.
    const int fd =
        ::open(m_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return permanent_error(Errc::io_error,
                               "cannot create " + m_tmp.string() + ": " + std::strerror(errno));
    }
    m_file = ::fdopen(fd, "w");
    if (m_file == nullptr) {
        ::close(fd);
        ::unlink(m_tmp.c_str());
        return permanent_error(Errc::io_error,
                               "cannot write " + m_tmp.string() + ": " + std::strerror(errno));
    }
    return {};
}

Result<void> ExportOutput::commit() {
    const bool failed = std::fflush(m_file) != 0 || std::ferror(m_file) != 0;
    if (m_file == stdout) {
        if (failed)
            return permanent_error(
                Errc::io_error, std::string("writing to stdout failed: ") + std::strerror(errno));
        return {};
    }
    const std::string where = m_tmp.string();
    // The data must be on disk before the rename makes it the file, or a
    // crash could leave an empty file under the final name.
    const bool synced = !failed && ::fsync(::fileno(m_file)) == 0;
    const int saved = errno;
    const bool closed = std::fclose(m_file) == 0;
    m_file = nullptr;
    if (!synced || !closed) {
        ::unlink(m_tmp.c_str());
        return permanent_error(Errc::io_error, "writing " + where + " failed: " +
                                                   std::strerror(synced ? errno : saved));
    }
    if (::rename(m_tmp.c_str(), m_path.c_str()) != 0) {
        const int e = errno;
        ::unlink(m_tmp.c_str());
        return permanent_error(Errc::io_error, "cannot rename " + where + " to " + m_path.string() +
                                                   ": " + std::strerror(e));
    }
    return {};
}

}  // namespace ribbon::cli
