// seal_stream.cpp — see seal_stream.hpp.
#include "core/seal_stream.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ribbon::seal {

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kLineBytes = 57;  // 76 base64 characters

}  // namespace

void ContentSource::stage(std::string_view raw) {
    // RFC 8551 §3.1.1: the enveloped entity is in canonical form, CRLF.
    m_staged.clear();
    m_pos = 0;
    m_staged.reserve(raw.size() + raw.size() / 16);
    for (char c : raw) {
        if (c == '\n' && !m_last_cr) m_staged.push_back('\r');
        m_staged.push_back(c);
        m_last_cr = c == '\r';
    }
}

bool ContentSource::refill() {
    if (m_error) return false;
    if (!m_prefix_done) {
        m_prefix_done = true;
        stage(m_prefix);
        return true;
    }
    if (!m_body_done) {
        m_body_done = true;
        if (!m_body.empty()) {
            m_total += m_body.size();
            stage(m_body);
            return true;
        }
    }
    if (m_fd < 0) return false;
    m_raw.resize(kChunk);
    ssize_t n;
    do {
        n = ::read(m_fd, m_raw.data(), m_raw.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        m_error = transient_error(Errc::io_error, std::string("cannot read the message: ") + std::strerror(errno));
        return false;
    }
    if (n == 0) return false;
    m_total += static_cast<std::uint64_t>(n);
    stage(std::string_view(m_raw.data(), static_cast<std::size_t>(n)));
    return true;
}

std::size_t ContentSource::read(char* out, std::size_t n) {
    while (m_pos == m_staged.size()) {
        if (!refill()) return 0;
    }
    if (m_total > m_max_size) {
        m_error = message_too_large(m_max_size);
        return 0;
    }
    const std::size_t k = std::min(n, m_staged.size() - m_pos);
    std::memcpy(out, m_staged.data() + m_pos, k);
    m_pos += k;
    return k;
}

bool Base64Target::write(std::string_view der) {
    if (m_error) return false;
    m_carry.append(der);
    std::size_t lines = m_carry.size() / kLineBytes;
    const std::size_t at = m_lines.size();
    m_lines.resize(at + lines * 78);
    char* p = m_lines.data() + at;
    for (std::size_t i = 0; i < lines; ++i) {
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(p),
                        reinterpret_cast<const unsigned char*>(m_carry.data()) + i * kLineBytes, kLineBytes);
        p[76] = '\r';
        p[77] = '\n';
        p += 78;
    }
    m_carry.erase(0, lines * kLineBytes);
    return m_lines.size() < kChunk || flush();
}

bool Base64Target::flush() {
    if (m_lines.empty()) return true;
    if (auto r = m_out.write(m_lines); !r) {
        m_error = std::move(r).error();
        return false;
    }
    m_lines.clear();
    return true;
}

Result<void> Base64Target::finish() {
    if (m_error) return *m_error;
    if (!m_carry.empty()) {
        std::string line(4 * ((m_carry.size() + 2) / 3) + 1, '\0');
        const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(line.data()),
                                      reinterpret_cast<const unsigned char*>(m_carry.data()),
                                      static_cast<int>(m_carry.size()));
        line.resize(static_cast<std::size_t>(n));
        m_lines += line;
        m_lines += "\r\n";
        m_carry.clear();
    }
    if (!flush()) return *m_error;
    return {};
}

namespace {

int source_read(BIO* bio, char* out, size_t n, size_t* got) {
    auto* source = static_cast<ContentSource*>(BIO_get_data(bio));
    *got = source->read(out, n);
    return *got > 0 ? 1 : 0;
}

int target_write(BIO* bio, const char* in, size_t n, size_t* written) {
    auto* target = static_cast<Base64Target*>(BIO_get_data(bio));
    if (!target->write(std::string_view(in, n))) return 0;
    *written = n;
    return 1;
}

long plain_ctrl(BIO*, int cmd, long, void*) {
    // Flushing happens in Base64Target::finish(); nothing else applies.
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int plain_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

const BIO_METHOD* make_method(const char* name, bool reader) {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);
    if (m == nullptr) return nullptr;
    if (reader) BIO_meth_set_read_ex(m, source_read);
    else BIO_meth_set_write_ex(m, target_write);
    BIO_meth_set_ctrl(m, plain_ctrl);
    BIO_meth_set_create(m, plain_create);
    return m;
}

ossl::BioPtr bio_for(const BIO_METHOD* method, void* data) {
    if (method == nullptr) return nullptr;
    ossl::BioPtr bio(BIO_new(method));
    if (bio) BIO_set_data(bio.get(), data);
    return bio;
}

}  // namespace

// The methods live as long as the process (OpenSSL keeps no reference to
// free them by), made once, thread-safely, on first use.
ossl::BioPtr source_bio(ContentSource& source) {
    static const BIO_METHOD* method = make_method("ribbon seal source", true);
    return bio_for(method, &source);
}

ossl::BioPtr target_bio(Base64Target& target) {
    static const BIO_METHOD* method = make_method("ribbon seal target", false);
    return bio_for(method, &target);
}

}  // namespace ribbon::seal
