// openssl_util.cpp — see openssl_util.hpp.
#include "core/openssl_util.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace ribbon::ossl {

BioPtr mem_bio(std::string_view bytes) {
    return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

std::string drain_errors() {
    std::string out;
    unsigned long code;
    char buf[256];
    while ((code = ERR_get_error()) != 0) {
        ERR_error_string_n(code, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

Error crypto_error(std::string what) {
    std::string reasons = drain_errors();
    if (!reasons.empty()) what += " (" + reasons + ")";
    return Error(Errc::crypto_failure, ErrorKind::internal, std::move(what));
}

std::string hex(const unsigned char* data, std::size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(kDigits[data[i] >> 4]);
        out.push_back(kDigits[data[i] & 15]);
    }
    return out;
}

std::string name_to_string(const X509_NAME* name) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

TimePoint asn1_time_to_timepoint(const ASN1_TIME* t) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
    return time_from_unix(timegm(&tm));
}

namespace {

std::vector<std::string> certificate_addresses(X509* cert) {
    std::vector<std::string> out;
    // RFC 8550 §3: subjectAltName rfc822Name is where the address belongs;
    // the emailAddress attribute of the subject is the legacy fallback.
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
            const ASN1_STRING* s = nullptr;
            if (gn->type == GEN_EMAIL) {
                s = gn->d.rfc822Name;
            } else if (gn->type == GEN_OTHERNAME &&
                       OBJ_obj2nid(gn->d.otherName->type_id) == NID_id_on_SmtpUTF8Mailbox &&
                       gn->d.otherName->value != nullptr &&
                       gn->d.otherName->value->type == V_ASN1_UTF8STRING) {
                // RFC 8398 §3: an address with a non-ASCII local part is an
                // SmtpUTF8Mailbox otherName, a UTF8String whose domain is in
                // U-labels; it is compared in A-label form (mail_text.hpp).
                s = gn->d.otherName->value->value.utf8string;
            }
            if (s == nullptr) continue;
            out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s)));
        }
        GENERAL_NAMES_free(names);
    }
    if (out.empty()) {
        const X509_NAME* subject = X509_get_subject_name(cert);
        int pos = -1;
        while ((pos = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, pos)) >= 0) {
            const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, pos));
            out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s)));
        }
    }
    return out;
}

}  // namespace

CertificateInfo describe_certificate(X509* cert) {
    CertificateInfo info;
    info.subject = name_to_string(X509_get_subject_name(cert));
    info.issuer = name_to_string(X509_get_issuer_name(cert));
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
        if (char* hex = BN_bn2hex(bn)) {
            info.serial_hex = hex;
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    info.not_before = asn1_time_to_timepoint(X509_get0_notBefore(cert));
    info.not_after = asn1_time_to_timepoint(X509_get0_notAfter(cert));
    info.addresses = certificate_addresses(cert);
    if (EVP_PKEY* pub = X509_get0_pubkey(cert)) {
        info.key_bits = EVP_PKEY_get_bits(pub);
        if (EVP_PKEY_is_a(pub, "EC")) {
            info.key_type = KeyType::ecdsa;
            char group[64] = {};
            size_t glen = 0;
            EVP_PKEY_get_group_name(pub, group, sizeof group, &glen);
            std::string g(group, glen);
            info.key_description = g == "prime256v1"  ? "ECDSA P-256"
                                   : g == "secp384r1" ? "ECDSA P-384"
                                                      : "ECDSA " + g;
        } else {
            info.key_type = KeyType::rsa;
            info.key_description = "RSA-" + std::to_string(info.key_bits);
        }
    }
    return info;
}

}  // namespace ribbon::ossl

namespace ribbon {

TimePoint time_from_unix(std::int64_t seconds) {
    using std::chrono::duration_cast;
    constexpr auto kMax = duration_cast<std::chrono::seconds>(TimePoint::duration::max()).count() - 1;
    constexpr auto kMin = duration_cast<std::chrono::seconds>(TimePoint::duration::min()).count() + 1;
    if (seconds >= kMax) return TimePoint::max();
    if (seconds <= kMin) return TimePoint::min();
    return TimePoint(std::chrono::seconds(seconds));
}

std::string format_utc(TimePoint t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace ribbon
