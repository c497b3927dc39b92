// files.cpp — the keystore's file rules (files.hpp). Trusts nothing it is
// given: addresses become directory names only after normalise_address()
// has checked them, and a key is read only through read_key_file(), after
// the file, its real path and the directories above it up to the keystore
// have passed the keystore's StrictModes.
#include "keystore/files.hpp"

#include <fcntl.h>
#include <glib.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/ascii.hpp"
#include "core/openssl_util.hpp"
#include "ribbon/mail_text.hpp"

namespace ribbon::ks {

namespace fs = std::filesystem;

namespace {

Error io_failure(const std::string& what, const fs::path& path, int err) {
    auto kind = err == ENOENT || err == EEXIST || err == ENOTDIR ? ErrorKind::permanent
                                                                 : ErrorKind::transient;
    return Error(Errc::io_error, kind, what + " " + path.string() + ": " + std::strerror(err));
}

}  // namespace

// One side of an addr-spec as a dot-atom (RFC 5322 §3.2.3): labels of at
// least one character separated by single dots. An empty label would make
// "x@.." or "x@a..b" a directory name that is no domain at all.
bool is_dot_atom(std::string_view part) {
    return !part.empty() && part.front() != '.' && part.back() != '.' &&
           part.find("..") == std::string_view::npos;
}

Result<std::string> normalise_address(std::string_view address) {
    auto bad = [&](const char* why) {
        // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "x" + string.
        // An address that is not UTF-8 is shown with its bytes escaped.
        std::string shown;
        for (unsigned char c : address) {
            if (c < 0x20 || c >= 0x7f) {
                char hex[5];
                std::snprintf(hex, sizeof hex, "\\x%02X", c);
                shown += hex;
            } else {
                shown += static_cast<char>(c);
            }
        }
        std::string msg(1, '"');
        msg.append(shown).append("\" is not a usable mail address (").append(why).append(")");
        return permanent_error(Errc::malformed_message, msg);
    };
    if (address.empty() || address.size() > 254) return bad("length");
    std::size_t at = address.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
        address.find('@', at + 1) != std::string_view::npos) {
        return bad("it needs exactly one @ with text on both sides");
    }
    for (unsigned char c : address) {
        // '/' and NUL would escape the directory; ',' and control characters
        // would confuse OpenSSL's extension syntax and log lines.
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ',' || c == '"') {
            return bad("it contains a space, control character, slash, comma or quote");
        }
    }
    // RFC 6531 §3.3 allows UTF-8 in both parts; other bytes cannot go into
    // a certificate request's UTF8String or a log line.
    if (g_utf8_validate_len(address.data(), address.size(), nullptr) == FALSE)
        return bad("it is not valid UTF-8");
    if (!is_dot_atom(address.substr(0, at)))
        return bad("the local part starts or ends with a dot, or has two in a row");
    if (!is_dot_atom(address.substr(at + 1)))
        return bad("the domain starts or ends with a dot, or has two in a row");
    // One name per Digital ID whichever form a From or an operator uses:
    // the domain in A-labels, as certificates carry it (RFC 8398 §3), so
    // "bücher.example" and "xn--bcher-kva.example" are one directory.
    auto ascii = address_ascii_form(address);
    if (!ascii) return bad("the domain is not a valid internationalised domain name");
    return ascii_lower(*ascii);
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

namespace {

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

std::string describe_user(uid_t uid) {
    std::string out = "uid " + std::to_string(uid);
    passwd pw{};
    passwd* found = nullptr;
    char buf[1024];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
        out.append(" (").append(found->pw_name).append(")");
    return out;
}

Error unsafe(std::string message) {
    return permanent_error(Errc::unsafe_key_permissions, std::move(message));
}

// `p`'s real path: every symbolic link and ".." resolved.
Result<fs::path> real_path(const fs::path& p, const char* what) {
    char* real = ::realpath(p.c_str(), nullptr);
    if (real == nullptr) return io_failure(std::string("cannot read ") + what, p, errno);
    fs::path out(real);
    std::free(real);
    return out;
}

// Whether the real path `p` is `root` or below it, component by component
// (so /srv/ids2 is not inside /srv/ids).
bool is_within(const fs::path& p, const fs::path& root) {
    auto r = root.begin();
    for (auto it = p.begin(); r != root.end(); ++it, ++r) {
        if (it == p.end() || *it != *r) return false;
    }
    return true;
}

// The rules every file and directory on a key's path obey: owned by root
// or the keystore's user, and none of `unsafe_bits`. `named` says what
// `st` describes ("directory D", "key file K").
Result<void> check_owner_and_mode(const std::string& named, const struct stat& st, uid_t trusted,
                                  unsigned unsafe_bits, const char* why) {
    if (st.st_uid != 0 && st.st_uid != trusted) {
        return unsafe(named + " is owned by " + describe_user(st.st_uid) +
                      ", not by root or the keystore's user " + describe_user(trusted) +
                      ": that user could change what ribbon signs with; refused (chown it)");
    }
    if ((st.st_mode & unsafe_bits) != 0) {
        return unsafe(named + " has mode " + octal_mode(st.st_mode) + ": " + why);
    }
    return {};
}

}  // namespace

Result<void> read_key_file(const Keystore& store, const fs::path& key_file, SecretString& out) {
    auto root = real_path(store.dir(), "the keystore");
    if (!root) return std::move(root).error();
    struct stat root_st {};
    if (::stat(root->c_str(), &root_st) != 0)
        return io_failure("cannot examine the keystore", store.dir(), errno);
    // Whose files the keystore may hold. Root, which may read anyone's,
    // trusts the keystore's owner: the daemons' keystore belongs to their
    // user, and `sudo ribbon keys check` must see what they see.
    const uid_t me = ::geteuid();
    const uid_t trusted = me != 0 ? me : root_st.st_uid;

    auto real = real_path(key_file, "key file");
    if (!real) return std::move(real).error();
    struct stat link_st {};
    const bool is_link = ::lstat(key_file.c_str(), &link_st) == 0 && S_ISLNK(link_st.st_mode);
    const std::string named =
        "key file " + key_file.string() + (is_link ? " (a link to " + real->string() + ")" : "");
    if (!is_within(*real, *root)) {
        // Outside, nothing protects it: its directories are not the
        // keystore's, and a planted link could make ribbon read any file.
        return unsafe("key file " + key_file.string() + " leads to " + real->string() +
                      ", outside the keystore " + root->string() +
                      ": ribbon follows symbolic links only within the keystore; refused (copy "
                      "the key in, mode 0600)");
    }
    for (fs::path dir = real->parent_path();; dir = dir.parent_path()) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0)
            return io_failure("cannot examine directory", dir, errno);
        auto r = check_owner_and_mode("directory " + dir.string(), st, trusted, kUnsafeDirBits,
                                      "group or others may write in it and plant a key or a "
                                      "certificate; refused (chmod go-w it)");
        if (!r) return r;
        if (dir == *root || dir == dir.parent_path()) break;
    }

    // O_NOFOLLOW: the path is real, so a link found now was swapped in
    // since; O_NONBLOCK: a FIFO in the key's place must not hang signing.
    const int fd = ::open(real->c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP) return unsafe(named + " was replaced by a link while read; refused");
        return io_failure("cannot read key file", key_file, errno);
    }
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    // fstat on the open file: what is checked is what is read.
    if (::fstat(fd, &st) != 0) return io_failure("cannot examine key file", key_file, errno);
    if (!S_ISREG(st.st_mode)) return unsafe(named + " is not a regular file; refused");
    if (auto r = check_owner_and_mode(named, st, trusted, kUnsafeKeyBits,
                                      "group or others may use it; refused (chmod 600 it)");
        !r) {
        return r;
    }
    // Keys are a few kilobytes; anything larger is not one.
    constexpr off_t kMaxKeyFile = 1 << 20;
    if (st.st_size > kMaxKeyFile) {
        return permanent_error(Errc::bad_key, named + " is over 1 MiB: not a key");
    }
    out.bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < out.bytes.size()) {
        ssize_t n = ::read(fd, out.bytes.data() + done, out.bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_failure("cannot read key file", key_file, errno);
        if (n == 0) break;  // shrunk meanwhile: what is there is parsed
        done += static_cast<std::size_t>(n);
    }
    out.bytes.resize(done);
    return {};
}

Result<void> make_private_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return {};
    if (dir.has_parent_path() && dir.parent_path() != dir) {
        if (auto r = make_private_dir(dir.parent_path()); !r) return r;
    }
    if (::mkdir(dir.c_str(), 0700) != 0) {
        // EEXIST is fine when another process made the directory meanwhile,
        // not when a file or a dangling link is in its place.
        const int err = errno;
        if (err != EEXIST || !fs::is_directory(dir, ec)) return io_failure("cannot create directory", dir, err);
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
