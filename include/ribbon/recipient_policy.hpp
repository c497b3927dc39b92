// ribbon/recipient_policy.hpp — whether one customer gets signed mail from
// a [[signer]], and how, from what the recipients store knows (the "track
// recipients" pattern; docs/LEARNING.md):
//
//   1. an opt-out: never signed;
//   2. the operator's override for the address: sign, no-sign or opaque;
//   3. the signer's `recipients` mode against the learned capability;
//   4. signed opaque when the signer says so or the recipient's domain is
//      in the front end's opaque_for list, detached otherwise.
//
// Answers are cached for [store] cache_ttl, so a warm lookup costs a hash
// lookup under a mutex (docs/BENCHMARKS.md measures it). When the store
// fails, an expired answer is used rather than none; without one the caller
// gets Errc::store_unavailable and applies its on_internal_error action.
//
// Thread-safety: decide() may be called from any number of threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ribbon/error.hpp"
#include "ribbon/recipients.hpp"
#include "ribbon/settings.hpp"

namespace ribbon {

enum class Treatment { sign, sign_opaque, plain };
std::string_view treatment_name(Treatment t) noexcept;  // "sign" | "sign-opaque" | "unsigned"

struct RecipientDecision {
    Treatment treatment = Treatment::sign;
    std::string reason;  // for logs: "capability supported", "opted out", ...
    bool opted_out = false;
};

// The one treatment for a message whose recipients got `decisions`, for a
// front end that cannot split it (the milter): all agree → that; any
// opt-out → plain; otherwise `mixed` decides, opaque winning among signed.
Treatment combine_treatments(const std::vector<RecipientDecision>& decisions, MixedAnswer mixed) noexcept;

// One operation on the store the policy made (a cache hit makes none):
// for the daemons' metrics. `operation` is a fixed word: "open", "standing".
struct StoreCall {
    std::string_view operation;
    std::chrono::steady_clock::duration took{};
    bool ok = true;
};
using StoreObserver = std::function<void(const StoreCall&)>;

class RecipientPolicy {
public:
    // Nothing is opened yet: a daemon connects once it runs as its own
    // user (a SQLite file created by root would not be its to write).
    explicit RecipientPolicy(const StoreSettings& settings);
    // Over a store opened by the caller (tests, benchmarks); null: no store.
    RecipientPolicy(std::unique_ptr<RecipientStore> store, const StoreSettings& settings);
    ~RecipientPolicy();
    RecipientPolicy(const RecipientPolicy&) = delete;
    RecipientPolicy& operator=(const RecipientPolicy&) = delete;

    // Opens the store now (nothing to do without a URL or when open). A
    // daemon refuses to start on a permanent error (bad URL, corrupt store)
    // and starts anyway on store_unavailable: lookups then open it again, at
    // most every few seconds, and fail meanwhile.
    Result<void> connect();

    Result<RecipientDecision> decide(const SignerRule& rule, std::string_view recipient,
                                     const std::vector<std::string>& opaque_for) const;

    // Tells `observer` of every store operation from now on, on the thread
    // that made it. Set before connect() and the first decide(): it is not
    // guarded against concurrent lookups.
    void set_store_observer(StoreObserver observer);

    class Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

}  // namespace ribbon
