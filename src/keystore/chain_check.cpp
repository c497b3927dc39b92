// chain_check.cpp — does a filed certificate lead to a trust anchor?
//
// A Digital ID whose chain stops short (an intermediate the CA sent was not
// installed) signs valid CMS that receivers nevertheless show as untrusted.
// ribbon cannot know every receiver's roots, so this is a warning, checked
// against the roots of this machine (or given CA files), and it names the
// missing link: the issuer that is neither in the chain nor a trusted root.
#include <openssl/x509_vfy.h>

#include "core/openssl_objects.hpp"
#include "core/openssl_util.hpp"
#include "ribbon/keystore.hpp"
#include "ribbon/verifier.hpp"

namespace ribbon {

namespace {

// A stack that borrows its certificates (they stay owned elsewhere).
struct BorrowedStackDeleter {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};

}  // namespace

std::optional<std::string> missing_chain_link(const std::filesystem::path& cert_file,
                                              const TrustStore& trust, TimePoint now) {
    auto cert_pem = read_small_file(cert_file, "certificate file");
    if (!cert_pem) return cert_pem.error().message();
    auto certs = parse_pem_certificates(*cert_pem, "certificate file");
    if (!certs || certs->empty()) return "cannot read " + cert_file.string();
    // The keystore files the chain as <serial>.chain.pem next to <serial>.pem.
    std::filesystem::path chain_file = cert_file;
    chain_file.replace_extension(".chain.pem");
    std::vector<ossl::X509Ptr> chain;
    if (std::filesystem::exists(chain_file)) {
        auto chain_pem = read_small_file(chain_file, "chain file");
        if (!chain_pem) return chain_pem.error().message();
        auto parsed = parse_pem_certificates(*chain_pem, "chain file");
        if (!parsed) return parsed.error().message();
        chain = std::move(*parsed);
    }

    std::unique_ptr<STACK_OF(X509), BorrowedStackDeleter> untrusted(sk_X509_new_null());
    for (const auto& c : chain) sk_X509_push(untrusted.get(), c.get());
    ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    X509* leaf = certs->front().get();
    if (!ctx || X509_STORE_CTX_init(ctx.get(), trust_store_roots(trust), leaf, untrusted.get()) != 1) {
        return "cannot check the chain (" + ossl::drain_errors() + ")";
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                               std::chrono::system_clock::to_time_t(now));
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SMIME_SIGN);
    if (X509_verify_cert(ctx.get()) == 1) return std::nullopt;
    ossl::drain_errors();

    int err = X509_STORE_CTX_get_error(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string subject = at != nullptr ? ossl::name_to_string(X509_get_subject_name(at)) : "?";
    std::string issuer = at != nullptr ? ossl::name_to_string(X509_get_issuer_name(at)) : "?";
    switch (err) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            return "the chain stops at " + subject + ": its issuer " + issuer +
                   " is neither in the chain nor a trusted root (" + trust_store_description(trust) +
                   "); install the CA's intermediate with --chain, or receivers may show the "
                   "signature as untrusted";
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return "the chain ends at the root " + subject + ", which is not a trusted root (" +
                   trust_store_description(trust) + ")";
        default:
            return std::string("the chain does not verify at ") + subject + ": " +
                   X509_verify_cert_error_string(err);
    }
}

}  // namespace ribbon
