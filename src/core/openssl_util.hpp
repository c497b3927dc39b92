// openssl_util.hpp — one owning RAII type per OpenSSL handle, and the
// translation of OpenSSL's error queue into ribbon errors.
//
// Exported by core (CMakeLists.txt) to the layers that use OpenSSL;
// no public header includes this.
#pragma once

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

#include "ribbon/digital_id.hpp"
#include "ribbon/error.hpp"

namespace ribbon::ossl {

template <auto Fn>
struct Deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        Fn(p);
    }
};

using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdPtr = std::unique_ptr<EVP_MD, Deleter<EVP_MD_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo_free>>;

struct X509StackDeleter {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

// A read-only memory BIO over bytes the caller keeps alive.
BioPtr mem_bio(std::string_view bytes);

// Drains OpenSSL's thread-local error queue into one readable string
// ("error:...:lib:func:reason; ..."); empty if the queue was empty.
std::string drain_errors();

// An Error whose message is `what` followed by OpenSSL's reasons.
Error crypto_error(std::string what);

// Certificate facts in ribbon's vocabulary.
CertificateInfo describe_certificate(X509* cert);
std::string name_to_string(const X509_NAME* name);
TimePoint asn1_time_to_timepoint(const ASN1_TIME* t);

// Lower-case hex of `size` bytes (digests, key ids, boundaries).
std::string hex(const unsigned char* data, std::size_t size);

}  // namespace ribbon::ossl
