// recipient_policy.cpp — the signing policy per recipient, with its cache
// (ribbon/recipient_policy.hpp).
#include "ribbon/recipient_policy.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "policy/addresses.hpp"

namespace ribbon {

std::string_view treatment_name(Treatment t) noexcept {
    switch (t) {
        case Treatment::sign: return "sign";
        case Treatment::sign_opaque: return "sign-opaque";
        case Treatment::plain: return "unsigned";
    }
    return "sign";
}

Treatment combine_treatments(const std::vector<RecipientDecision>& decisions, MixedAnswer mixed) noexcept {
    bool any_plain = false, any_signed = false, any_opaque = false;
    for (const auto& d : decisions) {
        if (d.opted_out) return Treatment::plain;
        any_plain = any_plain || d.treatment == Treatment::plain;
        any_signed = any_signed || d.treatment != Treatment::plain;
        any_opaque = any_opaque || d.treatment == Treatment::sign_opaque;
    }
    if (!any_signed) return decisions.empty() ? Treatment::sign : Treatment::plain;
    if (any_plain && mixed == MixedAnswer::unsigned_) return Treatment::plain;
    return any_opaque ? Treatment::sign_opaque : Treatment::sign;
}

using Clock = std::chrono::steady_clock;

class RecipientPolicy::Impl {
public:
    Impl(std::unique_ptr<RecipientStore> store, const StoreSettings& settings)
        : m_settings(settings), m_store(std::move(store)) {}

    // What the store says of `address` (lower case), through the cache.
    Result<RecipientStanding> standing(const std::string& address) const {
        const Clock::time_point now = Clock::now();
        std::optional<RecipientStanding> stale;
        {
            std::lock_guard lock(m_cache_mutex);
            if (auto it = m_cache.find(address); it != m_cache.end()) {
                if (it->second.expires > now) return it->second.standing;
                stale = it->second.standing;
            }
        }
        auto fresh = query(address);
        if (!fresh) {
            // A database outage should not undo what was known a minute
            // ago: an expired answer beats a tempfail.
            if (stale) return *stale;
            return std::move(fresh).error();
        }
        std::lock_guard lock(m_cache_mutex);
        if (m_cache.size() >= m_settings.cache_size) evict(now);
        if (m_settings.cache_size > 0) m_cache[address] = Entry{*fresh, now + m_settings.cache_ttl};
        return *fresh;
    }

    StoreObserver observer;

    Result<void> connect() {
        std::lock_guard lock(m_store_mutex);
        if (m_store || m_settings.url.empty()) return {};
        return open_locked(Clock::now());
    }

private:
    struct Entry {
        RecipientStanding standing;
        Clock::time_point expires;
    };

    // How often a store that could not be opened is tried again.
    static constexpr std::chrono::seconds kReopenInterval{5};

    Result<RecipientStanding> query(const std::string& address) const {
        std::lock_guard lock(m_store_mutex);
        if (m_settings.url.empty() && !m_store) return RecipientStanding{};
        if (!m_store) {
            const Clock::time_point now = Clock::now();
            // Until the pause is over, the last failure stands (its kind
            // too: a corrupt store stays corrupt).
            if (now < m_next_open && m_open_error) return *m_open_error;
            if (auto r = open_locked(now); !r) return std::move(r).error();
        }
        const Clock::time_point start = Clock::now();
        auto found = m_store->standing(address);
        tell("standing", start, found.ok());
        if (!found) return std::move(found).error();
        return found->value_or(RecipientStanding{});
    }

    Result<void> open_locked(Clock::time_point now) const {
        auto opened = RecipientStore::open(m_settings.url);
        tell("open", now, opened.ok());
        if (!opened) {
            m_open_error = opened.error();
            m_next_open = now + kReopenInterval;
            return std::move(opened).error();
        }
        m_store = std::move(*opened);
        return {};
    }

    void tell(std::string_view operation, Clock::time_point start, bool ok) const {
        if (observer) observer(StoreCall{operation, Clock::now() - start, ok});
    }

    // Expired entries go first; if that frees nothing, everything does (a
    // cache this full is churning anyway, and a rebuild costs one query
    // per address).
    void evict(Clock::time_point now) const {
        std::erase_if(m_cache, [now](const auto& item) { return item.second.expires <= now; });
        if (m_cache.size() >= m_settings.cache_size) m_cache.clear();
    }

    StoreSettings m_settings;
    mutable std::mutex m_cache_mutex;
    mutable std::unordered_map<std::string, Entry> m_cache;
    // One connection, used by one thread at a time (RecipientStore is not
    // thread-safe); only cache misses take it.
    mutable std::mutex m_store_mutex;
    mutable std::unique_ptr<RecipientStore> m_store;
    mutable std::optional<Error> m_open_error;
    mutable Clock::time_point m_next_open{};
};

RecipientPolicy::RecipientPolicy(std::unique_ptr<RecipientStore> store, const StoreSettings& settings)
    : m_impl(std::make_unique<Impl>(std::move(store), settings)) {}

RecipientPolicy::~RecipientPolicy() = default;

RecipientPolicy::RecipientPolicy(const StoreSettings& settings)
    : m_impl(std::make_unique<Impl>(nullptr, settings)) {}

Result<void> RecipientPolicy::connect() { return m_impl->connect(); }

void RecipientPolicy::set_store_observer(StoreObserver observer) { m_impl->observer = std::move(observer); }

Result<RecipientDecision> RecipientPolicy::decide(const SignerRule& rule, std::string_view recipient,
                                                  const std::vector<std::string>& opaque_for) const {
    const std::string address = ascii_lower(recipient);
    auto standing = m_impl->standing(address);
    if (!standing) return std::move(standing).error();

    RecipientDecision d;
    if (standing->opted_out) {
        d.treatment = Treatment::plain;
        d.reason = "opted out";
        d.opted_out = true;
        return d;
    }
    bool sign = true;
    switch (standing->override_) {
        case RecipientOverride::sign: d.reason = "override sign"; break;
        case RecipientOverride::no_sign:
            sign = false;
            d.reason = "override no-sign";
            break;
        case RecipientOverride::opaque:
            d.treatment = Treatment::sign_opaque;
            d.reason = "override opaque";
            return d;
        case RecipientOverride::none:
            d.reason = "capability " + std::string(smime_support_name(standing->capability)) + ", recipients = " +
                       std::string(recipients_mode_name(rule.recipients));
            if (rule.recipients == RecipientsMode::unless_incapable) {
                sign = standing->capability != SmimeSupport::unsupported;
            } else if (rule.recipients == RecipientsMode::capable_only) {
                sign = standing->capability == SmimeSupport::supported;
            }
            break;
    }
    if (!sign) {
        d.treatment = Treatment::plain;
        return d;
    }
    const std::size_t at = address.rfind('@');
    const std::string_view domain = at == std::string::npos ? std::string_view() : std::string_view(address).substr(at + 1);
    const bool opaque_domain = std::find(opaque_for.begin(), opaque_for.end(), domain) != opaque_for.end();
    d.treatment = rule.mode == SignMode::opaque || opaque_domain ? Treatment::sign_opaque : Treatment::sign;
    return d;
}

}  // namespace ribbon
