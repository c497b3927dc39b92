// pkcs11_engine.cpp — token keys as EVP_PKEYs through OpenSSL's pkcs11
// engine (libp11's, Debian package libengine-pkcs11-openssl, loaded at run
// time from OpenSSL's engines directory). Signing with such a key is done
// by the token; the private key never reaches this process.
//
// Threads. The milter signs from many threads with one Signer, and a
// daemon loads a token key again when the keystore changes while others
// sign. Two rules follow:
//  - A key from the engine is never copied. libp11 keeps its token object
//    in the key's ex_data, which EVP_PKEY_dup copies without a reference:
//    each copy frees the object (the crash that the test
//    Pkcs11.OneTokenSignerSignsFromManyThreadsAtOnce found when the signer
//    kept a copy per thread, as it does for key files).
//  - Everything that enters the engine — loading and freeing a key here,
//    and every operation with a loaded one (DigitalId::Impl::token_lock:
//    cms_builder.cpp, requests.cpp) — holds one lock, the engine's, not a
//    lock per key or a session per thread: libp11 0.4.12 says its PKCS11_*
//    layer, which the engine runs on, is not fully thread-safe, and it
//    keeps sessions, objects and login state per slot, shared by all keys
//    of the token, so a lock per key would still let two keys, or a load
//    (which may log in again; PKCS#11 v2.40, C_Login: all of an
//    application's sessions with a token share one login state) and a
//    signature meet in there. Sessions
//    per thread are not ours to make: the engine pools its own.
//    SoftHSM2 with libp11 0.4.12 passed the test without the lock too; it
//    is kept for the tokens and libp11 versions a test here cannot show.
// The cost is one token operation at a time per process, which is what
// most tokens (smart cards, USB HSMs) do anyway. Key files never take it.
//
// The ENGINE API is deprecated in OpenSSL 3, but the engine is what Debian 12
// packages (the pkcs11 provider is not in Debian 12), so this one file is
// built with -Wno-deprecated-declarations (CMakeLists.txt).
#include <openssl/engine.h>
#include <openssl/ui.h>

#include <memory>
#include <mutex>

#include "keystore/pkcs11.hpp"

namespace ribbon::p11 {

namespace {

// One engine per process, started on first use and never freed: every
// EVP_PKEY it hands out refers to it, and DigitalIds live until exit. Its
// lock (see the top of this file) is shared with every key it hands out.
const std::shared_ptr<std::mutex>& lock_of_engine() {
    static const auto lock = std::make_shared<std::mutex>();
    return lock;
}
ENGINE* g_engine = nullptr;
std::string g_module;

// The engine, started with `module`; the caller holds the engine's lock.
Result<ENGINE*> engine_for(const std::string& module) {
    if (g_engine != nullptr) {
        if (module != g_module) {
            return permanent_error(Errc::bad_key, "this process already uses the PKCS#11 module " +
                                                      g_module + ", not " + module);
        }
        return g_engine;
    }
    if (module.empty()) {
        return unavailable("no PKCS#11 module: set RIBBON_PKCS11_MODULE or install p11-kit");
    }
    // ENGINE_by_id loads engines-3/pkcs11.so through the dynamic engine.
    ENGINE* e = ENGINE_by_id("pkcs11");
    if (e == nullptr) {
        return permanent_error(Errc::crypto_failure,
                               "OpenSSL's pkcs11 engine is not installed "
                               "(Debian package libengine-pkcs11-openssl): " +
                                   ossl::drain_errors());
    }
    // MODULE_PATH must be set before ENGINE_init, which loads the module.
    if (ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module.c_str(), 0) != 1 || ENGINE_init(e) != 1) {
        std::string why = ossl::drain_errors();
        ENGINE_free(e);
        return unavailable("cannot start the PKCS#11 module " + module + " (" + why + ")");
    }
    g_engine = e;
    g_module = module;
    return e;
}

enum class Half { private_key, public_key };

Result<TokenKey> load(Half half, const std::string& uri, const std::string& module,
                      const std::string& pin) {
    std::lock_guard<std::mutex> lock(*lock_of_engine());
    auto e = engine_for(module);
    if (!e) return std::move(e).error();
    if (ENGINE_ctrl_cmd_string(*e, "PIN", pin.c_str(), 0) != 1)
        return unavailable("cannot give the PIN to the pkcs11 engine");
    // UI_null(): never prompt on a terminal; a daemon has none, and a
    // wrong PIN must fail rather than wait.
    // The engine gets the path attributes only: the query (pin-source)
    // is ribbon's business, and the PIN was given above.
    std::string path = uri.substr(0, uri.find('?'));
    EVP_PKEY* key = half == Half::private_key
                        ? ENGINE_load_private_key(*e, path.c_str(), const_cast<UI_METHOD*>(UI_null()), nullptr)
                        : ENGINE_load_public_key(*e, path.c_str(), const_cast<UI_METHOD*>(UI_null()), nullptr);
    if (key == nullptr) {
        std::string why = ossl::drain_errors();
        return unavailable("the token did not give the key " + uri +
                           " (token missing, PIN refused or key absent" +
                           (why.empty() ? std::string(")") : "; " + why + ")"));
    }
    return TokenKey(lock_of_engine(), ossl::PkeyPtr(key));
}

}  // namespace

std::shared_ptr<std::mutex> engine_lock() { return lock_of_engine(); }

TokenKey::~TokenKey() {
    if (!key) return;
    std::lock_guard<std::mutex> held(*lock);
    key.reset();
}

Result<TokenKey> load_private_key(const std::string& uri, const std::string& module,
                                  const std::string& pin) {
    return load(Half::private_key, uri, module, pin);
}

Result<TokenKey> load_public_key(const std::string& uri, const std::string& module,
                                 const std::string& pin) {
    return load(Half::public_key, uri, module, pin);
}

Result<TokenKey> load_recorded_key(const std::string& recorded_uri) {
    auto uri = parse_uri(recorded_uri);
    if (!uri) return std::move(uri).error();
    auto pin = pin_for(*uri);
    if (!pin) return std::move(pin).error();
    return load_private_key(uri->recorded, module_path(*uri), *pin);
}

}  // namespace ribbon::p11
