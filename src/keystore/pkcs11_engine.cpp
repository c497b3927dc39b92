// pkcs11_engine.cpp — token keys as EVP_PKEYs through OpenSSL's pkcs11
// engine (libp11's, Debian package libengine-pkcs11-openssl, loaded at run
// time from OpenSSL's engines directory). Signing with such a key is done
// by the token; the private key never reaches this process.
//
// The ENGINE API is deprecated in OpenSSL 3, but the engine is what Debian 12
// packages (the pkcs11 provider is not in Debian 12), so this one file is
// built with -Wno-deprecated-declarations (CMakeLists.txt).
#include <openssl/engine.h>
#include <openssl/ui.h>

#include <mutex>

#include "keystore/pkcs11.hpp"

namespace ribbon::p11 {

namespace {

std::mutex g_mutex;
// One engine per process, started on first use and never freed: every
// EVP_PKEY it hands out refers to it, and DigitalIds live until exit.
ENGINE* g_engine = nullptr;
std::string g_module;

// The engine, started with `module`; the caller holds g_mutex.
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

Result<ossl::PkeyPtr> load(Half half, const std::string& uri, const std::string& module,
                           const std::string& pin) {
    std::lock_guard<std::mutex> lock(g_mutex);
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
    return ossl::PkeyPtr(key);
}

}  // namespace

Result<ossl::PkeyPtr> load_private_key(const std::string& uri, const std::string& module,
                                       const std::string& pin) {
    return load(Half::private_key, uri, module, pin);
}

Result<ossl::PkeyPtr> load_public_key(const std::string& uri, const std::string& module,
                                      const std::string& pin) {
    return load(Half::public_key, uri, module, pin);
}

Result<ossl::PkeyPtr> load_recorded_key(const std::string& recorded_uri) {
    auto uri = parse_uri(recorded_uri);
    if (!uri) return std::move(uri).error();
    auto pin = pin_for(*uri);
    if (!pin) return std::move(pin).error();
    return load_private_key(uri->recorded, module_path(*uri), *pin);
}

}  // namespace ribbon::p11
