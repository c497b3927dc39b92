// signer_pool.cpp — see ribbon/signer_pool.hpp.
#include "ribbon/signer_pool.hpp"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>

#include "base/ascii.hpp"

namespace ribbon {

namespace {

// How long a selection is trusted without re-running the rollover rule.
constexpr std::chrono::seconds kReselectAfter{60};

// What stat(2) says about one file; any difference means "read it again".
// ctime changes on chmod, chown, rename and write, so it covers a key made
// unreadable as well as one replaced.
struct FileStamp {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    std::int64_t ctime_ns = 0;
    off_t size = 0;

    static FileStamp of(const std::filesystem::path& p) {
        FileStamp s;
        if (p.empty()) return s;
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) return s;
        s.exists = true;
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.ctime_ns = std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
        s.size = st.st_size;
        return s;
    }
    bool operator==(const FileStamp&) const = default;
};

// What a lookup compares with the files. At every lookup: the address
// directory, which changes whenever a certificate or key is filed, renamed
// or removed there (a renewal, `ribbon keys install`, a key moved away),
// and the selected key (removed, or made readable by others). At most once
// per kFullCheckAfter: the selected certificate and chain files as well,
// which only an edit in place or a chmod changes without touching the
// directory. Two stat(2) calls per message instead of four (issue 17).
struct Stamps {
    FileStamp dir, key, cert, chain;
};

constexpr std::chrono::seconds kFullCheckAfter{1};

Stamps stamps_of(const KeystoreEntry& e) {
    return {FileStamp::of(e.cert_file.parent_path()), FileStamp::of(e.key_file), FileStamp::of(e.cert_file),
            FileStamp::of(e.chain_file)};
}

struct Cached {
    std::shared_ptr<const ActiveSigner> signer;
    std::filesystem::path dir;  // the address directory, cert_file's parent
    Stamps stamps;
    TimePoint selected_at;
    TimePoint fully_checked_at;  // when the certificate and chain were last compared

    // Whether the files still are what was loaded, as far as a lookup at
    // `now` looks (see Stamps). Updates fully_checked_at.
    bool still_current(TimePoint now) {
        const KeystoreEntry& e = signer->entry;
        if (FileStamp::of(dir) != stamps.dir || FileStamp::of(e.key_file) != stamps.key) return false;
        if (now >= fully_checked_at && now - fully_checked_at < kFullCheckAfter) return true;
        if (FileStamp::of(e.cert_file) != stamps.cert || FileStamp::of(e.chain_file) != stamps.chain) return false;
        fully_checked_at = now;
        return true;
    }
};

}  // namespace

class SignerPool::Impl {
public:
    Keystore keystore;
    std::string password;  // wiped in the destructor
    std::vector<std::string> warnings;

    mutable std::mutex mutex;
    mutable std::map<std::string, Cached, std::less<>> cache;  // by keystore address
    // The certificate last loaded for each address: kept when a later
    // lookup fails (a key moved away still has a certificate that expires).
    mutable std::map<std::string, CertificateInfo, std::less<>> known;

    explicit Impl(std::filesystem::path dir) : keystore(std::move(dir)) {}
    ~Impl() { OPENSSL_cleanse(password.data(), password.size()); }

    Result<std::shared_ptr<const ActiveSigner>> load(const std::string& address, TimePoint now) const {
        auto selected = keystore.digital_id_for(address, now, password);
        if (!selected) return std::move(selected).error();
        auto signer = Signer::create(selected->id);
        if (!signer) return std::move(signer).error();
        auto active = std::make_shared<const ActiveSigner>(
            ActiveSigner{std::move(*signer), selected->entry, std::move(selected->warnings)});
        std::lock_guard lock(mutex);
        cache[address] = Cached{active, active->entry.cert_file.parent_path(), stamps_of(active->entry), now, now};
        known[address] = active->entry.certificate;
        return std::shared_ptr<const ActiveSigner>(active);
    }

    Result<std::shared_ptr<const ActiveSigner>> get(const std::string& address, TimePoint now) const {
        std::optional<Cached> hit;
        {
            std::lock_guard lock(mutex);
            auto it = cache.find(address);
            if (it != cache.end() && now >= it->second.selected_at && now - it->second.selected_at < kReselectAfter &&
                now < it->second.signer->entry.certificate.not_after) {
                hit = it->second;
            }
        }
        // The files are looked at without the lock (a slow file system
        // must not hold up the other lookups).
        if (hit && hit->still_current(now)) {
            std::lock_guard lock(mutex);
            auto it = cache.find(address);
            if (it != cache.end() && it->second.signer == hit->signer) {
                it->second.fully_checked_at = std::max(it->second.fully_checked_at, hit->fully_checked_at);
            }
            return hit->signer;
        }
        {
            std::lock_guard lock(mutex);
            cache.erase(address);
        }
        return load(address, now);
    }
};

SignerPool::SignerPool(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
SignerPool::~SignerPool() = default;

Result<std::shared_ptr<SignerPool>> SignerPool::create(const KeystoreSettings& keystore,
                                                       const std::vector<SignerRule>& signers, TimePoint now,
                                                       bool preload) {
    auto impl = std::make_unique<Impl>(keystore.dir);
    if (!keystore.key_password_file.empty()) {
        auto text = read_small_file(keystore.key_password_file, "key password file");
        if (!text) return std::move(text).error();
        // The first line, as `ribbon sign --password-file` reads it.
        std::string& pw = *text;
        impl->password.assign(pw, 0, pw.find_first_of("\r\n"));
        OPENSSL_cleanse(pw.data(), pw.size());
    }
    for (const SignerRule& rule : signers) {
        const std::string& address = !rule.id.empty() ? rule.id : rule.from;
        if (!preload || (rule.id.empty() && rule.wildcard())) continue;
        auto loaded = impl->load(address, now);
        if (!loaded) {
            const Error& e = loaded.error();
            return Error(e.code(), e.kind(),
                         "[[signer]] from = \"" + rule.from + "\": Digital ID " + address + ": " + e.message());
        }
        for (const auto& w : (*loaded)->warnings) {
            if (std::find(impl->warnings.begin(), impl->warnings.end(), w) == impl->warnings.end()) {
                impl->warnings.push_back(w);
            }
        }
    }
    return std::shared_ptr<SignerPool>(new SignerPool(std::move(impl)));
}

Result<std::shared_ptr<const ActiveSigner>> SignerPool::get(const SignerRule& rule, std::string_view from_address,
                                                            TimePoint now) const {
    std::string address = !rule.id.empty() ? rule.id : ascii_lower(from_address);
    return m_impl->get(address, now);
}

const std::vector<std::string>& SignerPool::warnings() const noexcept { return m_impl->warnings; }

std::vector<CertificateInfo> SignerPool::certificates() const {
    std::lock_guard lock(m_impl->mutex);
    std::vector<CertificateInfo> out;
    for (const auto& [address, certificate] : m_impl->known) out.push_back(certificate);
    return out;
}

}  // namespace ribbon
