// cms_builder.cpp — see cms_builder.hpp. Structures and tags follow
// RFC 5652 §5.1–§5.4 and §11; algorithm identifiers RFC 5754 §2 (SHA-256,
// parameters absent), RFC 3370 §3.2 (rsaEncryption with NULL), RFC 5758
// §3.2 (ecdsa-with-SHA256, parameters absent), RFC 8551 §2.5.2
// (SMIMECapabilities).
#include "core/cms_builder.hpp"

#include <openssl/rsa.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "core/encoders.hpp"

namespace ribbon::cms {

namespace {

std::string der_length(std::size_t n);
std::string der_tlv(unsigned char tag, std::string_view content);
std::string der_utc_time(TimePoint t);

constexpr unsigned char kSequence = 0x30;
constexpr unsigned char kSet = 0x31;
constexpr unsigned char kInteger = 0x02;
constexpr unsigned char kOctetString = 0x04;
constexpr unsigned char kOid = 0x06;
constexpr unsigned char kUtcTime = 0x17;
constexpr unsigned char kContext0 = 0xA0;  // [0] constructed

std::string bytes(std::initializer_list<unsigned char> b) { return std::string(b.begin(), b.end()); }

const std::string kOidData = der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}));
const std::string kOidSignedData =
    der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}));
const std::string kOidContentType =
    der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03}));
const std::string kOidMessageDigest =
    der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04}));
const std::string kOidSigningTime =
    der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05}));
const std::string kOidSmimeCapabilities =
    der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0f}));
const std::string kSha256Algorithm =
    der_tlv(kSequence, der_tlv(kOid, bytes({0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01})));
const std::string kRsaEncryption = der_tlv(
    kSequence, der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01})) + bytes({0x05, 0x00}));
const std::string kEcdsaWithSha256 =
    der_tlv(kSequence, der_tlv(kOid, bytes({0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02})));
const std::string kVersion1 = der_tlv(kInteger, bytes({0x01}));

std::string aes_capability(unsigned char last) {
    return der_tlv(kSequence, der_tlv(kOid, bytes({0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, last})));
}

// The ciphers ribbon's organisation can decrypt, strongest first (RFC 8551
// §2.5.2: order states preference): AES-256-GCM, AES-128-GCM, AES-256-CBC,
// AES-128-CBC.
const std::string kCapabilitiesAttribute = der_tlv(
    kSequence,
    kOidSmimeCapabilities +
        der_tlv(kSet, der_tlv(kSequence, aes_capability(0x2e) + aes_capability(0x06) +
                                             aes_capability(0x2a) + aes_capability(0x02))));
const std::string kContentTypeAttribute =
    der_tlv(kSequence, kOidContentType + der_tlv(kSet, kOidData));

template <class Fn>
std::string i2d_string(Fn&& fn) {
    unsigned char* der = nullptr;
    int len = fn(&der);
    if (len <= 0) return {};
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

// DER SET OF: elements sorted by their encodings (X.690 §11.6).
std::string der_set_of(std::vector<std::string> elements, unsigned char tag) {
    std::sort(elements.begin(), elements.end());
    std::string content;
    for (const auto& e : elements) content += e;
    return der_tlv(tag, content);
}

}  // namespace

namespace {

std::string der_length(std::size_t n) {
    if (n < 0x80) return std::string(1, static_cast<char>(n));
    std::string out;
    while (n > 0) {
        out.insert(out.begin(), static_cast<char>(n & 0xff));
        n >>= 8;
    }
    out.insert(out.begin(), static_cast<char>(0x80 | out.size()));
    return out;
}

std::string der_tlv(unsigned char tag, std::string_view content) {
    std::string out(1, static_cast<char>(tag));
    out += der_length(content.size());
    out.append(content);
    return out;
}

// Size of a TLV whose content is n bytes (short or long form length).
std::size_t tlv_size(std::size_t n) {
    std::size_t len_bytes = 1;
    if (n >= 0x80) {
        for (std::size_t v = n; v > 0; v >>= 8) ++len_bytes;
    }
    return 1 + len_bytes + n;
}

// Appends a tag and a DER length, without building temporaries.
void put_header(std::string& out, unsigned char tag, std::size_t n) {
    out.push_back(static_cast<char>(tag));
    if (n < 0x80) {
        out.push_back(static_cast<char>(n));
        return;
    }
    unsigned char buf[sizeof n];
    std::size_t k = 0;
    for (std::size_t v = n; v > 0; v >>= 8) buf[k++] = static_cast<unsigned char>(v & 0xff);
    out.push_back(static_cast<char>(0x80 | k));
    while (k > 0) out.push_back(static_cast<char>(buf[--k]));
}

std::string der_utc_time(TimePoint t) {
    // RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime after. The
    // digits are written here rather than by gmtime_r() and strftime(),
    // which cost more than the rest of the signed attributes together.
    using namespace std::chrono;
    const sys_seconds secs{seconds{system_clock::to_time_t(t)}};
    const sys_days day = floor<days>(secs);
    const year_month_day ymd{day};
    const hh_mm_ss hms{secs - day};
    const int y = static_cast<int>(ymd.year());
    const bool generalized = y >= 2050;
    char buf[16];
    char* w = buf;
    auto two = [&w](unsigned v) {
        *w++ = static_cast<char>('0' + v / 10 % 10);
        *w++ = static_cast<char>('0' + v % 10);
    };
    if (generalized) two(static_cast<unsigned>(y / 100));
    two(static_cast<unsigned>(y % 100));
    two(static_cast<unsigned>(ymd.month()));
    two(static_cast<unsigned>(ymd.day()));
    two(static_cast<unsigned>(hms.hours().count()));
    two(static_cast<unsigned>(hms.minutes().count()));
    two(static_cast<unsigned>(hms.seconds().count()));
    *w++ = 'Z';
    return der_tlv(generalized ? 0x18 : kUtcTime, std::string_view(buf, static_cast<std::size_t>(w - buf)));
}

}  // namespace

struct SignedDataBuilder::KeyContext {
    ossl::PkeyPtr key;
    ossl::PkeyCtxPtr ctx;
};

SignedDataBuilder::~SignedDataBuilder() {
    // A token key's contexts go under its lock, like every use of them.
    std::unique_lock<std::mutex> token;
    if (m_id != nullptr && m_id->token_lock)
        token = std::unique_lock<std::mutex>(*m_id->token_lock);
    m_pool.clear();
}

Result<std::unique_ptr<SignedDataBuilder>> SignedDataBuilder::create(const DigitalId::Impl& id) {
    std::unique_ptr<SignedDataBuilder> b(new SignedDataBuilder());
    b->m_id = &id;
    b->m_sha256.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    if (!b->m_sha256) return ossl::crypto_error("cannot fetch SHA-256");
    b->m_is_rsa = id.info.key_type == KeyType::rsa;
    b->m_signature_algorithm = b->m_is_rsa ? kRsaEncryption : kEcdsaWithSha256;

    X509* cert = id.cert.get();
    std::string issuer = i2d_string([&](unsigned char** p) {
        return i2d_X509_NAME(X509_get_issuer_name(cert), p);
    });
    std::string serial = i2d_string([&](unsigned char** p) {
        return i2d_ASN1_INTEGER(const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(cert)), p);
    });
    if (issuer.empty() || serial.empty()) return ossl::crypto_error("cannot encode the issuer and serial");
    b->m_sid = der_tlv(kSequence, issuer + serial);

    std::vector<std::string> certs;
    certs.push_back(i2d_string([&](unsigned char** p) { return i2d_X509(cert, p); }));
    for (const auto& c : id.chain) {
        certs.push_back(i2d_string([&](unsigned char** p) { return i2d_X509(c.get(), p); }));
    }
    b->m_certificates = der_set_of(std::move(certs), kContext0);
    b->m_signer_info_head = kVersion1 + b->m_sid + kSha256Algorithm;
    b->m_detached_head = kVersion1 + der_tlv(kSet, kSha256Algorithm) + der_tlv(kSequence, kOidData) +
                         b->m_certificates;
    if (auto r = check_attribute_order(); !r) return std::move(r).error();

    // Fail now, not on the first message, if the key cannot sign. A token
    // key's lock is let go before `b` can be destroyed, which takes it.
    auto ready = [&]() -> Result<void> {
        std::unique_lock<std::mutex> token;
        if (id.token_lock) token = std::unique_lock<std::mutex>(*id.token_lock);
        auto ctx = b->make_context();
        if (!ctx) return std::move(ctx).error();
        int max_sig = EVP_PKEY_get_size(id.key.get());
        if (max_sig <= 0) return ossl::crypto_error("cannot size the signature");
        b->m_max_signature = static_cast<std::size_t>(max_sig);
        b->release(std::move(*ctx));
        return {};
    }();
    if (!ready) return std::move(ready).error();
    b->prepare_base64_cache();
    return b;
}

Result<std::unique_ptr<SignedDataBuilder::KeyContext>> SignedDataBuilder::make_context() const {
    auto kc = std::make_unique<KeyContext>();
    if (m_id->token_lock) {
        // A token key is shared, never copied (digital_id_impl.hpp); its
        // operations are serialised by sign_hash() instead.
        EVP_PKEY_up_ref(m_id->key.get());
        kc->key.reset(m_id->key.get());
    } else {
        // A private copy of the key per context: OpenSSL 3.0 serialises
        // threads on an RSA key's shared blinding state.
        kc->key.reset(EVP_PKEY_dup(m_id->key.get()));
        if (!kc->key) return ossl::crypto_error("cannot copy the private key");
    }
    kc->ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, kc->key.get(), nullptr));
    if (!kc->ctx || EVP_PKEY_sign_init(kc->ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_signature_md(kc->ctx.get(), m_sha256.get()) != 1) {
        return ossl::crypto_error("cannot prepare the private key for signing");
    }
    if (m_is_rsa && EVP_PKEY_CTX_set_rsa_padding(kc->ctx.get(), RSA_PKCS1_PADDING) != 1) {
        return ossl::crypto_error("cannot select RSA PKCS#1 v1.5 padding");
    }
    return kc;
}

std::unique_ptr<SignedDataBuilder::KeyContext> SignedDataBuilder::acquire() const {
    std::lock_guard lock(m_pool_mutex);
    if (m_pool.empty()) return nullptr;
    auto kc = std::move(m_pool.back());
    m_pool.pop_back();
    return kc;
}

void SignedDataBuilder::release(std::unique_ptr<KeyContext> kc) const {
    std::lock_guard lock(m_pool_mutex);
    m_pool.push_back(std::move(kc));
}

Result<std::string> SignedDataBuilder::sign_hash(const Digest& hash) const {
    // A token key signs one message at a time, whichever thread asks (why:
    // keystore/pkcs11_engine.cpp); held from acquire() to release(), so the
    // pool of a token key never grows past one context. A key file takes
    // no lock here: each thread signs with a context and key of its own.
    std::unique_lock<std::mutex> token;
    if (m_id->token_lock) token = std::unique_lock<std::mutex>(*m_id->token_lock);
    auto kc = acquire();
    if (!kc) {
        auto made = make_context();
        if (!made) return std::move(made).error();
        kc = std::move(*made);
    }
    // EVP_PKEY_get_size() bounds every signature of the key: no sizing call.
    std::size_t len = m_max_signature;
    std::string sig(len, '\0');
    if (EVP_PKEY_sign(kc->ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, hash.data(),
                      hash.size()) != 1) {
        // The context may be in a bad state (a token went away): drop it.
        return Error(Errc::crypto_failure, ErrorKind::transient,
                     "the private key operation failed (" + ossl::drain_errors() + ")");
    }
    sig.resize(len);
    release(std::move(kc));
    return sig;
}

Result<void> SignedDataBuilder::sha256_once(std::string_view data, Digest& out) const {
    // One digest context per thread, reused: EVP_Digest() would allocate
    // and free a context and its provider state for every message.
    // Once it holds SHA-256, it is restarted with a null type: OpenSSL 3.0
    // then keeps the provider's context instead of freeing and allocating
    // it again.
    thread_local ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    unsigned int len = 0;
    const EVP_MD* md = EVP_MD_CTX_get0_md(ctx.get()) == m_sha256.get() ? nullptr : m_sha256.get();
    if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
        return ossl::crypto_error("SHA-256 over the signed attributes failed");
    }
    return {};
}

Result<std::string> SignedDataBuilder::signer_info(const Digest& digest, TimePoint signing_time) const {
    // The signed attributes in DER SET OF order (X.690 §11.6: sorted by
    // encoding). All four are SEQUENCEs with a one-byte length, so the
    // order is that of their lengths, which do not depend on the message:
    // contentType (24), signingTime (28 or 30), messageDigest (47),
    // sMIMECapabilities (67). create() checks this against a real sort.
    // Written straight into one buffer: this runs for every message.
    std::string time = der_utc_time(signing_time);
    std::size_t time_attr_len = kOidSigningTime.size() + tlv_size(time.size());
    std::size_t md_attr_len = kOidMessageDigest.size() + tlv_size(tlv_size(digest.size()));
    std::size_t attrs_len = kContentTypeAttribute.size() + tlv_size(time_attr_len) +
                            tlv_size(md_attr_len) + kCapabilitiesAttribute.size();
    std::string signed_attrs;
    signed_attrs.reserve(tlv_size(attrs_len));
    put_header(signed_attrs, kSet, attrs_len);
    signed_attrs += kContentTypeAttribute;
    put_header(signed_attrs, kSequence, time_attr_len);
    signed_attrs += kOidSigningTime;
    put_header(signed_attrs, kSet, time.size());
    signed_attrs += time;
    put_header(signed_attrs, kSequence, md_attr_len);
    signed_attrs += kOidMessageDigest;
    put_header(signed_attrs, kSet, tlv_size(digest.size()));
    put_header(signed_attrs, kOctetString, digest.size());
    signed_attrs.append(reinterpret_cast<const char*>(digest.data()), digest.size());
    signed_attrs += kCapabilitiesAttribute;

    // RFC 5652 §5.4: the signature covers the DER of the attributes with an
    // EXPLICIT SET OF tag; the SignerInfo carries them as [0] IMPLICIT.
    Digest attr_hash{};
    if (auto r = sha256_once(signed_attrs, attr_hash); !r) return std::move(r).error();
    auto signature = sign_hash(attr_hash);
    if (!signature) return std::move(signature).error();
    signed_attrs[0] = static_cast<char>(kContext0);

    std::size_t si_len = m_signer_info_head.size() + signed_attrs.size() +
                         m_signature_algorithm.size() + tlv_size(signature->size());
    std::string si;
    si.reserve(tlv_size(si_len));
    put_header(si, kSequence, si_len);
    si += m_signer_info_head;
    si += signed_attrs;
    si += m_signature_algorithm;
    put_header(si, kOctetString, signature->size());
    si += *signature;
    return si;
}

std::string SignedDataBuilder::detached_prefix(std::size_t signer_info_size) const {
    // encapContentInfo without eContent: a detached signature (§5.2). All
    // but the SignerInfo was encoded once, in m_detached_head.
    std::size_t sd_len = m_detached_head.size() + tlv_size(signer_info_size);
    std::size_t explicit_len = tlv_size(sd_len);
    std::size_t ci_len = kOidSignedData.size() + tlv_size(explicit_len);
    std::string out;
    out.reserve(32);
    put_header(out, kSequence, ci_len);
    out += kOidSignedData;
    put_header(out, kContext0, explicit_len);
    put_header(out, kSequence, sd_len);
    return out;
}

Result<std::string> SignedDataBuilder::detached(const Digest& digest, TimePoint signing_time) const {
    auto si = signer_info(digest, signing_time);
    if (!si) return std::move(si).error();
    std::string out = detached_prefix(si->size());
    out.reserve(out.size() + m_detached_head.size() + tlv_size(si->size()));
    out += m_detached_head;
    put_header(out, kSet, si->size());
    out += *si;
    return out;
}

namespace {
constexpr std::size_t kBase64Line = 57;  // octets per 76-character line
}  // namespace

void SignedDataBuilder::prepare_base64_cache() {
    // The prefix's size depends only on how many octets its lengths take,
    // the same for every SignerInfo of this key (a few bytes either way);
    // a message whose prefix differs is encoded whole.
    std::size_t typical_si = m_signer_info_head.size() + 256 + m_signature_algorithm.size() + m_max_signature;
    std::size_t prefix = detached_prefix(typical_si).size();
    std::size_t first_line = (prefix + kBase64Line - 1) / kBase64Line;            // first whole line
    std::size_t end_line = (prefix + m_detached_head.size()) / kBase64Line;        // one past the last
    if (end_line <= first_line) return;
    m_b64_prefix_size = prefix;
    m_b64_from = first_line * kBase64Line - prefix;
    m_b64_to = end_line * kBase64Line - prefix;
    enc::Base64Encoder::append_lines(m_b64_lines,
                                     std::string_view(m_detached_head).substr(m_b64_from, m_b64_to - m_b64_from));
}

Result<void> SignedDataBuilder::append_detached_base64(const Digest& digest, TimePoint signing_time,
                                                        std::string& out) const {
    auto si = signer_info(digest, signing_time);
    if (!si) return std::move(si).error();
    std::string prefix = detached_prefix(si->size());
    std::string tail;
    if (m_b64_lines.empty() || prefix.size() != m_b64_prefix_size) {
        tail.reserve(prefix.size() + m_detached_head.size() + tlv_size(si->size()));
        tail = prefix;
        tail += m_detached_head;
        put_header(tail, kSet, si->size());
        tail += *si;
        enc::Base64Encoder::append_lines(out, tail);
        return {};
    }
    // Lines of 57 octets each start a new base64 line, so encoding the
    // three pieces apart gives the same text as encoding them together.
    prefix.append(m_detached_head, 0, m_b64_from);
    enc::Base64Encoder::append_lines(out, prefix);
    out += m_b64_lines;
    tail.reserve(m_detached_head.size() - m_b64_to + tlv_size(si->size()));
    tail.append(m_detached_head, m_b64_to);
    put_header(tail, kSet, si->size());
    tail += *si;
    enc::Base64Encoder::append_lines(out, tail);
    return {};
}

Result<SignedDataBuilder::Encapsulated> SignedDataBuilder::encapsulated(
    const Digest& digest, TimePoint signing_time, std::uint64_t content_length) const {
    auto si = signer_info(digest, signing_time);
    if (!si) return std::move(si).error();
    std::string suffix = m_certificates + der_tlv(kSet, *si);
    // eContent [0] EXPLICIT OCTET STRING, with the content itself left out
    // of the prefix and streamed by the caller.
    std::string octet_header = std::string(1, static_cast<char>(kOctetString)) + der_length(content_length);
    std::size_t econtent_len = octet_header.size() + content_length;
    std::string econtent_header = std::string(1, static_cast<char>(kContext0)) + der_length(econtent_len);
    std::size_t encap_content_len = kOidData.size() + econtent_header.size() + econtent_len;
    std::string encap_header = std::string(1, static_cast<char>(kSequence)) + der_length(encap_content_len);
    std::string head = kVersion1 + der_tlv(kSet, kSha256Algorithm);
    std::size_t sd_len = head.size() + encap_header.size() + encap_content_len + suffix.size();
    std::string sd_header = std::string(1, static_cast<char>(kSequence)) + der_length(sd_len);
    std::size_t explicit_len = sd_header.size() + sd_len;
    std::string explicit_header = std::string(1, static_cast<char>(kContext0)) + der_length(explicit_len);
    std::size_t ci_len = kOidSignedData.size() + explicit_header.size() + explicit_len;

    Encapsulated out;
    out.prefix = std::string(1, static_cast<char>(kSequence)) + der_length(ci_len) + kOidSignedData +
                 explicit_header + sd_header + head + encap_header + kOidData + econtent_header +
                 octet_header;
    out.suffix = std::move(suffix);
    return out;
}

namespace {

// The fixed order signer_info() writes, checked against a real DER SET OF
// sort for both time encodings; a failure here is a bug, caught at start-up.
bool fixed_order_is_sorted(TimePoint t) {
    std::string digest(32, '\x5a');
    std::vector<std::string> attributes = {
        kContentTypeAttribute,
        der_tlv(kSequence, kOidSigningTime + der_tlv(kSet, der_utc_time(t))),
        der_tlv(kSequence, kOidMessageDigest + der_tlv(kSet, der_tlv(kOctetString, digest))),
        kCapabilitiesAttribute,
    };
    return std::is_sorted(attributes.begin(), attributes.end());
}

}  // namespace

Result<void> SignedDataBuilder::check_attribute_order() {
    if (!fixed_order_is_sorted(std::chrono::system_clock::from_time_t(0)) ||
        !fixed_order_is_sorted(std::chrono::system_clock::from_time_t(4102444800))) {  // 2100
        return internal_error("signed attributes are not in DER order");
    }
    return {};
}

}  // namespace ribbon::cms
