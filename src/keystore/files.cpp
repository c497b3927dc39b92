// files.cpp — see files.hpp. Trusts nothing it is given: addresses become
// directory names only after normalise_address() has checked them.
#include "keystore/files.hpp"

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/openssl_util.hpp"

namespace ribbon::ks {

namespace fs = std::filesystem;

namespace {

Error io_failure(const std::string& what, const fs::path& path, int err) {
    auto kind = err == ENOENT || err == EEXIST || err == ENOTDIR ? ErrorKind::permanent
                                                                 : ErrorKind::transient;
    return Error(Errc::io_error, kind, what + " " + path.string() + ": " + std::strerror(err));
}

}  // namespace

Result<std::string> normalise_address(std::string_view address) {
    auto bad = [&](const char* why) {
        // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "x" + string.
        std::string msg(1, '"');
        msg.append(address).append("\" is not a usable mail address (").append(why).append(")");
        return permanent_error(Errc::malformed_message, msg);
    };
    if (address.empty() || address.size() > 254) return bad("length");
    std::size_t at = address.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
        address.find('@', at + 1) != std::string_view::npos) {
        return bad("it needs exactly one @ with text on both sides");
    }
    if (address.front() == '.') return bad("it starts with a dot");
    for (unsigned char c : address) {
        // '/' and NUL would escape the directory; ',' and control characters
        // would confuse OpenSSL's extension syntax and log lines.
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ',' || c == '"') {
            return bad("it contains a space, control character, slash, comma or quote");
        }
    }
    return ossl::ascii_lower(address);
}

std::string key_id(EVP_PKEY* public_key) {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(public_key, &der);
    if (len <= 0) return {};
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(der, static_cast<std::size_t>(len), digest);
    OPENSSL_free(der);
    return ossl::hex(digest, 20);
}

Result<std::string> public_key_pem(EVP_PKEY* key) {
    ossl::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
        return ossl::crypto_error("cannot write the public key");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

Result<void> check_key_file(const fs::path& key_file) {
    struct stat st {};
    if (::stat(key_file.c_str(), &st) != 0)
        return io_failure("cannot examine key file", key_file, errno);
    if ((st.st_mode & kUnsafeKeyBits) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return permanent_error(Errc::unsafe_key_permissions,
                               "key file " + key_file.string() + " has mode " + mode +
                                   ": group or others may use it; refused (chmod 600 it)");
    }
    return {};
}

Result<void> make_private_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return {};
    if (dir.has_parent_path() && dir.parent_path() != dir) {
        if (auto r = make_private_dir(dir.parent_path()); !r) return r;
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return io_failure("cannot create directory", dir, errno);
    }
    return {};
}

Result<void> write_file_atomic(const fs::path& path, std::string_view bytes, unsigned mode,
                               bool exclusive) {
    std::error_code ec;
    if (exclusive && fs::exists(path, ec)) return io_failure("will not overwrite", path, EEXIST);
    std::string tmp = path.string() + ".tmp.XXXXXX";
    // mkstemp creates the file 0600, so a key is never readable by others,
    // not even for a moment; the final mode is set before the rename.
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) return io_failure("cannot create a file next to", path, errno);
    auto fail = [&](const char* what) {
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return io_failure(what, path, err);
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("cannot write");
        done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, mode) != 0) return fail("cannot set the mode of");
    if (::fsync(fd) != 0) return fail("cannot sync");
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return io_failure("cannot write", path, err);
    }
    if (exclusive) {
        // link() fails if the target exists, where rename() would replace it.
        if (::link(tmp.c_str(), path.c_str()) != 0) {
            int err = errno;
            ::unlink(tmp.c_str());
            return io_failure("cannot create", path, err);
        }
        ::unlink(tmp.c_str());
        return {};
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return io_failure("cannot create", path, err);
    }
    return {};
}

}  // namespace ribbon::ks
