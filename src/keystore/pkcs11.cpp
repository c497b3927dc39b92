// pkcs11.cpp — RFC 7512 URIs, the PIN, and key generation on a token by
// plain PKCS#11 (v2.40 §5.13 C_GenerateKeyPair), the module loaded with
// dlopen. libp11 is not used here: 0.4.12, Debian 12's, generates RSA only.
#include "keystore/pkcs11.hpp"

#include <dlfcn.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "base/ascii.hpp"
#include "core/openssl_objects.hpp"

namespace ribbon::p11 {

namespace {

constexpr std::string_view kScheme = "pkcs11:";
constexpr const char* kP11KitProxy = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = ascii_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// RFC 7512 §2.3: attribute values are percent-encoded (RFC 3986 §2.1).
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string percent_encode_all(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += '%';
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    while (!s.empty()) {
        std::size_t at = s.find(sep);
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) break;
        s.remove_prefix(at + 1);
    }
    return parts;
}

// The token's label as PKCS#11 reports it: 32 bytes padded with blanks.
std::string trimmed_label(const CK_UTF8CHAR* label, std::size_t n) {
    std::string s(reinterpret_cast<const char*>(label), n);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

std::string ckr(CK_RV rv) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "CKR 0x%lx", static_cast<unsigned long>(rv));
    return buf;
}

// One loaded module, initialised for this call and finalised after it.
class Module {
  public:
    Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    ~Module() {
        if (m_session != CK_INVALID_HANDLE) m_f->C_CloseSession(m_session);
        if (m_initialised) m_f->C_Finalize(nullptr);
        // Not dlclose()d: the engine may load the same module afterwards,
        // and some modules do not survive being unloaded and reloaded.
    }

    Result<void> open(const std::string& path) {
        if (path.empty()) {
            return unavailable("no PKCS#11 module: set RIBBON_PKCS11_MODULE or install p11-kit");
        }
        void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            return unavailable("cannot load the PKCS#11 module " + path + ": " + dlerror());
        }
        auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
        if (get == nullptr || get(&m_f) != CKR_OK || m_f == nullptr) {
            return unavailable(path + " is not a PKCS#11 module");
        }
        CK_RV rv = m_f->C_Initialize(nullptr);
        if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
            return unavailable("the PKCS#11 module " + path + " failed to start (" + ckr(rv) + ")");
        }
        m_initialised = rv == CKR_OK;
        return {};
    }

    // Opens a read-write session on the token labelled `token` (the first
    // initialised token when empty) and logs the user in.
    Result<void> login(const std::string& token, const std::string& pin) {
        CK_ULONG n = 0;
        if (m_f->C_GetSlotList(CK_TRUE, nullptr, &n) != CKR_OK) return unavailable("C_GetSlotList");
        std::vector<CK_SLOT_ID> slots(n);
        if (n > 0 && m_f->C_GetSlotList(CK_TRUE, slots.data(), &n) != CKR_OK)
            return unavailable("C_GetSlotList");
        std::optional<CK_SLOT_ID> found;
        for (CK_ULONG i = 0; i < n && !found; ++i) {
            CK_TOKEN_INFO info;
            if (m_f->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
            if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
            if (token.empty() || trimmed_label(info.label, sizeof info.label) == token)
                found = slots[i];
        }
        if (!found) {
            return unavailable("no PKCS#11 token" +
                               (token.empty() ? std::string() : " labelled \"" + token + "\"") +
                               " is present");
        }
        CK_RV rv = m_f->C_OpenSession(*found, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                      nullptr, &m_session);
        if (rv != CKR_OK) return unavailable("cannot open a session on the token (" + ckr(rv) + ")");
        rv = m_f->C_Login(m_session, CKU_USER,
                          reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(pin.c_str())),
                          pin.size());
        if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_INVALID ||
            rv == CKR_PIN_LEN_RANGE) {
            return unavailable("the token refused the PIN (" + ckr(rv) + ")");
        }
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
            return unavailable("cannot log in to the token (" + ckr(rv) + ")");
        return {};
    }

    // True if the token already holds a private key labelled `label`.
    bool has_private_key(const std::string& label) {
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                               {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
        if (m_f->C_FindObjectsInit(m_session, tmpl, 2) != CKR_OK) return false;
        CK_OBJECT_HANDLE h;
        CK_ULONG count = 0;
        m_f->C_FindObjects(m_session, &h, 1, &count);
        m_f->C_FindObjectsFinal(m_session);
        return count > 0;
    }

    CK_FUNCTION_LIST_PTR f() const { return m_f; }
    CK_SESSION_HANDLE session() const { return m_session; }

  private:
    CK_FUNCTION_LIST_PTR m_f = nullptr;
    bool m_initialised = false;
    CK_SESSION_HANDLE m_session = CK_INVALID_HANDLE;
};

}  // namespace

Result<Uri> parse_uri(std::string_view text) {
    auto bad = [&](const std::string& why) {
        std::string msg = "\"";
        msg.append(text).append("\" is not a usable pkcs11: URI (RFC 7512): ").append(why);
        return permanent_error(Errc::bad_key, msg);
    };
    if (text.substr(0, kScheme.size()) != kScheme) return bad("it must start with pkcs11:");
    std::string_view rest = text.substr(kScheme.size());
    std::size_t q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
    Uri uri;
    uri.recorded = std::string(kScheme) + std::string(path);
    for (auto attr : split(path, ';')) {
        std::size_t eq = attr.find('=');
        if (eq == std::string_view::npos) return bad("attribute without '='");
        auto value = percent_decode(attr.substr(eq + 1));
        if (!value) return bad("bad percent-encoding");
        std::string_view name = attr.substr(0, eq);
        if (name == "token") uri.token = *value;
        if (name == "object") uri.object = *value;
        if (name == "id") uri.id = *value;
    }
    // RFC 7512 §2.3: query attributes are separated by '&'.
    for (auto attr : split(query, '&')) {
        std::size_t eq = attr.find('=');
        if (eq == std::string_view::npos) return bad("query attribute without '='");
        auto value = percent_decode(attr.substr(eq + 1));
        if (!value) return bad("bad percent-encoding");
        std::string_view name = attr.substr(0, eq);
        if (name == "pin-value") uri.pin_value = *value;
        if (name == "pin-source") {
            uri.pin_source = *value;
            uri.recorded += "?pin-source=" + std::string(attr.substr(eq + 1));
        }
        if (name == "module-path") uri.module_path = *value;
    }
    if (uri.object.empty() && uri.id.empty()) return bad("it names no object (object= or id=)");
    return uri;
}

std::string module_path(const Uri& uri) {
    if (const char* env = std::getenv("RIBBON_PKCS11_MODULE"); env != nullptr && *env != '\0')
        return env;
    if (!uri.module_path.empty()) return uri.module_path;
    std::error_code ec;
    if (std::filesystem::exists(kP11KitProxy, ec)) return kP11KitProxy;
    return {};
}

Result<std::string> pin_for(const Uri& uri, const std::optional<std::string>& given) {
    if (given) return *given;
    if (const char* env = std::getenv("RIBBON_PKCS11_PIN"); env != nullptr) return std::string(env);
    if (!uri.pin_value.empty()) return uri.pin_value;
    if (!uri.pin_source.empty()) {
        // RFC 7512 §2.3 leaves pin-source's form to the application: a
        // file: URI or a plain path; the PIN is its first line.
        std::string file = uri.pin_source;
        if (file.starts_with("file:")) file = file.substr(5);
        auto text = read_small_file(file, "PIN file");
        if (!text) return std::move(text).error();
        return text->substr(0, text->find_first_of("\r\n"));
    }
    return unavailable("no PIN for the token: give --pin-file, set RIBBON_PKCS11_PIN, or put "
                       "pin-source in the key's pkcs11: URI");
}

Result<std::string> generate_on_token(const Uri& uri, NewKeyType type, const std::string& pin) {
    Module module;
    if (auto r = module.open(module_path(uri)); !r) return std::move(r).error();
    if (auto r = module.login(uri.token, pin); !r) return std::move(r).error();
    std::string label = uri.object.empty() ? std::string("ribbon") : uri.object;
    if (!uri.object.empty() && module.has_private_key(uri.object)) {
        return permanent_error(Errc::bad_key, "the token already holds a key labelled \"" +
                                                  uri.object + "\"; choose another object=");
    }
    std::string id = uri.id;
    if (id.empty()) {
        // A random CKA_ID names the pair: the engine finds an EC key's
        // public half by it (PKCS#11 v2.40 §4.4: CKA_ID ties objects).
        id.resize(16);
        if (RAND_bytes(reinterpret_cast<unsigned char*>(id.data()), 16) != 1)
            return ossl::crypto_error("RAND_bytes");
    }
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = type == NewKeyType::rsa2048 ? 2048 : 3072;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    // DER of the OID prime256v1 (RFC 5480 §2.1.1.1), CKA_EC_PARAMS' namedCurve form.
    CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    bool ec = type == NewKeyType::ec_p256;
    CK_MECHANISM mech = {ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    std::vector<CK_ATTRIBUTE> pub = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_LABEL, label.data(), label.size()},
        {CKA_ID, id.data(), id.size()},
    };
    if (ec) {
        pub.push_back({CKA_EC_PARAMS, p256, sizeof p256});
    } else {
        pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
        pub.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof exponent});
    }
    std::vector<CK_ATTRIBUTE> priv = {
        {CKA_TOKEN, &yes, sizeof yes},         {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},     {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},          {CKA_LABEL, label.data(), label.size()},
        {CKA_ID, id.data(), id.size()},
    };
    CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
    CK_RV rv = module.f()->C_GenerateKeyPair(module.session(), &mech, pub.data(), pub.size(),
                                             priv.data(), priv.size(), &hpub, &hpriv);
    if (rv != CKR_OK) {
        return permanent_error(Errc::crypto_failure,
                               "the token could not generate the key (" + ckr(rv) + ")");
    }
    module.f()->C_Logout(module.session());
    std::string recorded = uri.recorded;
    if (uri.id.empty()) {
        std::size_t q = recorded.find('?');
        recorded.insert(q == std::string::npos ? recorded.size() : q, ";id=" + percent_encode_all(id));
    }
    return recorded;
}

}  // namespace ribbon::p11
