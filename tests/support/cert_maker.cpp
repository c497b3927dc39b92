// Self-signed certificates made in process for the tests (cert_maker.hpp).
#include "support/cert_maker.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <functional>
#include <memory>
#include <stdexcept>

namespace ribbon::test {

namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct NamesFree {
    void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};

[[noreturn]] void fail(const std::string& what) {
    char buf[256] = {};
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    ERR_clear_error();
    throw std::runtime_error("make_self_signed: " + what + " (" + buf + ")");
}

EVP_PKEY* new_key(const std::string& spec) {
    if (spec.rfind("EC:", 0) == 0) return EVP_EC_gen(spec.substr(3).c_str());
    if (spec.rfind("RSA:", 0) == 0)
        return EVP_RSA_gen(static_cast<unsigned>(std::stoul(spec.substr(4))));
    throw std::runtime_error("make_self_signed: unknown key " + spec);
}

void add_conf_ext(X509* cert, int nid, const std::string& value) {
    if (value.empty()) return;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) fail("extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// Built entry by entry: the config syntax cannot carry a UTF-8 otherName.
void add_san(X509* cert, const std::vector<std::pair<int, std::string>>& san) {
    if (san.empty()) return;
    std::unique_ptr<GENERAL_NAMES, NamesFree> names(sk_GENERAL_NAME_new_null());
    for (const auto& [type, value] : san) {
        ASN1_STRING* s =
            ASN1_STRING_type_new(type == GEN_OTHERNAME ? V_ASN1_UTF8STRING : V_ASN1_IA5STRING);
        ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()));
        GENERAL_NAME* gn = GENERAL_NAME_new();
        if (type == GEN_OTHERNAME) {
            ASN1_TYPE* any = ASN1_TYPE_new();
            ASN1_TYPE_set(any, V_ASN1_UTF8STRING, s);
            GENERAL_NAME_set0_othername(gn, OBJ_nid2obj(NID_id_on_SmtpUTF8Mailbox), any);
        } else {
            GENERAL_NAME_set0_value(gn, type, s);
        }
        sk_GENERAL_NAME_push(names.get(), gn);
    }
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, 0) != 1)
        fail("subjectAltName");
}

std::string to_pem(const std::function<int(BIO*)>& write) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (write(bio.get()) != 1) fail("PEM");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

MadeCert::MadeCert(MadeCert&& other) noexcept
    : key_pem(std::move(other.key_pem)), cert_pem(std::move(other.cert_pem)), cert(other.cert) {
    other.cert = nullptr;
}

MadeCert::~MadeCert() { X509_free(cert); }

MadeCert make_self_signed(const CertSpec& spec) {
    std::unique_ptr<EVP_PKEY, PkeyFree> key(new_key(spec.key));
    if (!key) fail("key " + spec.key);
    MadeCert made;
    made.cert = X509_new();
    X509* cert = made.cert;
    X509_set_version(cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), spec.serial);
    X509_NAME* name = X509_get_subject_name(cert);
    for (const auto& [field, value] : spec.subject) {
        if (X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                       -1, 0) != 1) {
            fail("subject " + field);
        }
    }
    X509_set_issuer_name(cert, name);
    if (ASN1_TIME_set_string(X509_getm_notBefore(cert), spec.not_before.c_str()) != 1 ||
        ASN1_TIME_set_string(X509_getm_notAfter(cert), spec.not_after.c_str()) != 1) {
        fail("validity");
    }
    X509_set_pubkey(cert, key.get());
    add_san(cert, spec.san);
    add_conf_ext(cert, NID_key_usage, spec.key_usage);
    add_conf_ext(cert, NID_ext_key_usage, spec.extended_key_usage);
    const EVP_MD* md = EVP_get_digestbyname(spec.digest.c_str());
    if (md == nullptr || X509_sign(cert, key.get(), md) <= 0) fail("sign with " + spec.digest);
    made.key_pem = to_pem([&](BIO* b) {
        return PEM_write_bio_PKCS8PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    made.cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert); });
    return made;
}

}  // namespace ribbon::test
