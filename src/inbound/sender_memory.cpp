// sender_memory.cpp — see sender_memory.hpp.
#include "inbound/sender_memory.hpp"

#include <algorithm>
#include <map>
#include <new>

#include "base/ascii.hpp"

namespace ribbon::inbound {

namespace {

UnixTime unix_seconds(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string domain_of(std::string_view address) {
    const auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string() : ascii_lower(address.substr(at + 1));
}

// The sighting a valid result stands for, or nullopt when it names no
// signer key or not exactly one From address (RFC 5322 §3.6.2 allows a
// list; whose key would it be?), or one the store cannot keep: a quoted
// local part with control characters matches the same bytes in a
// certificate, but the store refuses it, and that is the message's doing,
// not a temporary failure of ribbon's (it was stamped temperror).
std::optional<KeySighting> sighting_of(const VerifyResult& r, TimePoint now) {
    if (r.verdict != Verdict::valid || !r.signer || r.signer->spki_sha256.empty() ||
        r.from_addresses.size() != 1 || !recipient_address_key(r.from_addresses.front())) {
        return std::nullopt;
    }
    const CertificateInfo& cert = r.signer->certificate;
    KeySighting s;
    s.address = r.from_addresses.front();
    s.spki_sha256 = r.signer->spki_sha256;
    s.certificate.sha256 = r.signer->certificate_sha256;
    s.certificate.subject = cert.subject;
    s.certificate.issuer = cert.issuer;
    s.certificate.serial_hex = cert.serial_hex;
    s.certificate.not_before = unix_seconds(cert.not_before);
    s.certificate.not_after = unix_seconds(cert.not_after);
    // A message is counted once however often it is verified: its
    // Message-ID with the digest of what was signed (continuity.hpp).
    s.message_key = r.message_id + "\n" + r.content_sha256;
    s.time = unix_seconds(now);
    return s;
}

void mark_store_failure(Assessment& a, const Error& e) {
    a.temperror = true;
    a.temperror_reason = "key continuity: " + e.message();
}

}  // namespace

std::vector<std::string> signer_domains(const std::vector<SignerRule>& signers) {
    std::vector<std::string> domains;
    for (const SignerRule& rule : signers) {
        std::string d = domain_of(rule.from);
        if (!d.empty() && std::find(domains.begin(), domains.end(), d) == domains.end()) {
            domains.push_back(std::move(d));
        }
    }
    return domains;
}

SenderMemory::SenderMemory(SenderMemorySettings settings) : m_settings(std::move(settings)) {
    // SQLite has one writer at a time: the threads' sightings go through one
    // connection, committed together, instead of taking turns for the write
    // lock (docs/BENCHMARKS.md: 79 against 115 µs a message, 8 threads).
    // PostgreSQL writes in parallel, each thread on its own connection
    // (299 against 392 µs).
    if (m_settings.recording == KeyRecording::record && sqlite_store_file(m_settings.store_url)) {
        m_recorder = std::make_unique<SightingRecorder>(m_settings.store_url);
    }
}
SenderMemory::~SenderMemory() = default;

Result<SenderMemory::StorePtr> SenderMemory::take_store() {
    {
        std::lock_guard lock(m_stores_mutex);
        if (!m_idle_stores.empty()) {
            StorePtr s = std::move(m_idle_stores.back());
            m_idle_stores.pop_back();
            return s;
        }
    }
    const StoreAccess access = m_settings.recording == KeyRecording::record ? StoreAccess::read_write
                                                                              : StoreAccess::read_only;
    return RecipientStore::open(m_settings.store_url, access);
}

void SenderMemory::give_back(StorePtr store) {
    std::lock_guard lock(m_stores_mutex);
    m_idle_stores.push_back(std::move(store));
}

// Known domains in the order they were first seen, each added only when it
// does not resemble one added before: the organisation's own first, then
// recorded senders. So "paypa1.example", recorded after "paypal.example",
// stays a lookalike whatever its count.
Result<std::shared_ptr<LookalikeIndex>> SenderMemory::build_index() {
    auto store = take_store();
    if (!store) return std::move(store).error();
    struct Seen {
        UnixTime first = 0;
        std::uint64_t messages = 0;
    };
    std::map<std::string, Seen> domains;
    auto walked = (*store)->for_each_sender([&](const SenderRecord& sender) {
        Seen& d = domains[domain_of(sender.address)];
        for (const KeyHistory& k : sender.keys) {
            d.first = d.first == 0 ? k.first_seen : std::min(d.first, k.first_seen);
            d.messages += k.messages;
        }
        return true;
    });
    if (!walked) return std::move(walked).error();
    give_back(std::move(*store));

    auto index = std::make_shared<LookalikeIndex>();
    index->reserve(m_settings.own_domains.size() + domains.size());
    for (const std::string& own : m_settings.own_domains) index->add(KnownDomain{own, true, 0});
    std::vector<std::pair<std::string, Seen>> ordered(domains.begin(), domains.end());
    // First seen in the same second (one sighting each, recorded together):
    // the better established first.
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
        return a.second.first != b.second.first ? a.second.first < b.second.first
                                                : a.second.messages > b.second.messages;
    });
    for (auto& [domain, seen] : ordered) {
        if (!index->find(domain)) index->add(KnownDomain{domain, false, seen.messages});
    }
    return index;
}

Result<ContinuityReport> SenderMemory::observe(const KeySighting& sighting) {
    if (m_recorder) return m_recorder->record(sighting);
    auto store = take_store();
    if (!store) return std::move(store).error();
    auto report = (*store)->observe_key(sighting, m_settings.recording);
    if (report) give_back(std::move(*store));  // a failed connection is not kept
    return report;
}

bool SenderMemory::ensure_index(Assessment& a, TimePoint now) {
    {
        std::shared_lock lock(m_index_mutex);
        if (m_index && now - m_index_built < m_settings.refresh) return true;
    }
    // One thread rebuilds, outside the index lock; the others keep the old
    // index meanwhile (or, when there is none yet, wait for that thread),
    // so a stale index costs one read of the store, not one per thread.
    std::unique_lock build(m_build_mutex, std::defer_lock);
    if (!build.try_lock()) {
        {
            std::shared_lock lock(m_index_mutex);
            if (m_index) return true;
        }
        build.lock();
    }
    {
        std::shared_lock lock(m_index_mutex);
        if (m_index && now - m_index_built < m_settings.refresh) return true;  // built while we waited
    }
    auto built = build_index();
    if (!built) {
        mark_store_failure(a, built.error());
        std::unique_lock lock(m_index_mutex);
        // An old index is better than none, and is tried again only after
        // another refresh period, not on every message while the store is down.
        if (m_index) m_index_built = now;
        return m_index != nullptr;
    }
    std::unique_lock lock(m_index_mutex);
    m_index = std::move(*built);
    m_index_built = now;
    return true;
}

void SenderMemory::consider(Assessment& a, TimePoint now) {
    if (!a.verified) return;
    auto sighting = sighting_of(*a.verified, now);
    if (!sighting) return;
    try {
        // The index first: built after recording, it would hold this very
        // message's domain, and a lookalike first seen in the same second
        // as the domain it imitates could sort before it and pass as known.
        const bool have_index = ensure_index(a, now);
        auto report = observe(*sighting);
        if (!report) return mark_store_failure(a, report.error());
        a.continuity = std::move(*report);

        if (!have_index) return;
        const std::string domain = domain_of(sighting->address);
        {
            std::shared_lock lock(m_index_mutex);
            a.lookalike = m_index->find(domain);
        }
        // A new sender's domain recorded here is known from now on, unless
        // it is itself a lookalike (see build_index()). add() of a domain
        // already known only keeps the larger count.
        if (!a.lookalike && a.continuity->recorded && a.continuity->verdict == Continuity::first) {
            std::unique_lock lock(m_index_mutex);
            m_index->add(KnownDomain{domain, false, 1});
        }
    } catch (const std::bad_alloc&) {
        mark_store_failure(a, Error(Errc::internal_error, ErrorKind::transient, "out of memory"));
    }
}

}  // namespace ribbon::inbound
