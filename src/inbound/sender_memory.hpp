// sender_memory.hpp — what the receiving side remembers of signers, for
// `ribbon verify` and the inbound milter alike (docs/RECEIVING.md):
//   - key continuity: each valid signature is judged against the keys seen
//     before for its From address and counted (ribbon/continuity.hpp; the
//     key_sightings tables of the recipients store, docs/STORE.md);
//   - lookalike senders: the signer's domain is compared with the domains
//     ribbon knows as signers, the organisation's own [[signer]] domains
//     and every domain it has recorded a key for (ribbon/lookalike.hpp).
//
// Known domains are indexed in memory, from the store, once and then again
// when the index is older than `refresh` (so a domain another host
// recorded is known here within that time); a domain recorded by this
// process is added at once. A domain that resembled a known one when it
// first appeared never becomes a known domain itself: its mail keeps being
// reported as a lookalike, however often it comes.
//
// Failures of the store never throw and never lose the verification: the
// assessment is marked temperror ("Ribbon-Continuity: temperror") with the
// reason for the log.
//
// Thread-safety: one SenderMemory may be shared by any number of threads.
// It keeps a few store connections (ribbon/recipients.hpp: one per thread
// at a time); on SQLite it records through one SightingRecorder instead
// (group commit: sighting_recorder.hpp). It guards the index with a shared
// lock.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "inbound/assessment.hpp"
#include "inbound/sighting_recorder.hpp"
#include "ribbon/lookalike.hpp"
#include "ribbon/recipients.hpp"
#include "ribbon/settings.hpp"

namespace ribbon::inbound {

struct SenderMemorySettings {
    std::string store_url;
    // The organisation's own signer domains: taken from [[signer]] from
    // patterns ("*@statements.bank.example" → statements.bank.example).
    std::vector<std::string> own_domains;
    KeyRecording recording = KeyRecording::record;
    std::chrono::seconds refresh{600};
};

// The domains of `signers`' from patterns, each once, in the order given.
std::vector<std::string> signer_domains(const std::vector<SignerRule>& signers);

class SenderMemory {
public:
    explicit SenderMemory(SenderMemorySettings settings);
    ~SenderMemory();
    SenderMemory(const SenderMemory&) = delete;
    SenderMemory& operator=(const SenderMemory&) = delete;

    // For a valid signature (the overall verdict) whose result names the
    // signer's key and exactly one From address: fills a.continuity and,
    // when the domain is not a known signer domain, a.lookalike. Anything
    // else is left as it is. `now` is the time of the sighting.
    void consider(Assessment& a, TimePoint now);

private:
    using StorePtr = std::unique_ptr<RecipientStore>;
    Result<StorePtr> take_store();
    void give_back(StorePtr store);
    // The index, rebuilt first when missing or older than the refresh.
    // Returns false (and marks `a`) when the store cannot be read.
    bool ensure_index(Assessment& a, TimePoint now);
    Result<std::shared_ptr<LookalikeIndex>> build_index();
    // The sighting judged, and with KeyRecording::record counted.
    Result<ContinuityReport> observe(const KeySighting& sighting);

    SenderMemorySettings m_settings;
    std::mutex m_stores_mutex;
    std::vector<StorePtr> m_idle_stores;
    std::mutex m_build_mutex;  // held by the one thread rebuilding the index
    std::shared_mutex m_index_mutex;
    std::shared_ptr<LookalikeIndex> m_index;
    TimePoint m_index_built{};
    std::unique_ptr<SightingRecorder> m_recorder;  // recording into SQLite
};

}  // namespace ribbon::inbound
