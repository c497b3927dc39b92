// names.cpp — the stable names of SmimeSupport, RecipientOverride and SealChoice
// (ribbon/recipients.hpp). The store writes these very strings into its
// tables (docs/STORE.md), so they must never change.
#include "ribbon/recipients.hpp"

namespace ribbon {

std::string_view smime_support_name(SmimeSupport s) noexcept {
    switch (s) {
        case SmimeSupport::supported:
            return "supported";
        case SmimeSupport::unsupported:
            return "unsupported";
        case SmimeSupport::unknown:
            break;
    }
    return "unknown";
}

std::optional<SmimeSupport> parse_smime_support(std::string_view name) noexcept {
    if (name == "unknown") return SmimeSupport::unknown;
    if (name == "supported") return SmimeSupport::supported;
    if (name == "unsupported") return SmimeSupport::unsupported;
    return std::nullopt;
}

std::string_view recipient_override_name(RecipientOverride o) noexcept {
    switch (o) {
        case RecipientOverride::sign:
            return "sign";
        case RecipientOverride::no_sign:
            return "no-sign";
        case RecipientOverride::opaque:
            return "opaque";
        case RecipientOverride::none:
            break;
    }
    return "none";
}

std::optional<RecipientOverride> parse_recipient_override(std::string_view name) noexcept {
    if (name == "none") return RecipientOverride::none;
    if (name == "sign") return RecipientOverride::sign;
    if (name == "no-sign") return RecipientOverride::no_sign;
    if (name == "opaque") return RecipientOverride::opaque;
    return std::nullopt;
}

std::string_view seal_choice_name(SealChoice c) noexcept {
    switch (c) {
        case SealChoice::pinned:
            return "pinned";
        case SealChoice::never:
            return "never";
        case SealChoice::automatic:
            break;
    }
    return "auto";
}

std::optional<SealChoice> parse_seal_choice(std::string_view name) noexcept {
    if (name == "auto") return SealChoice::automatic;
    if (name == "pinned") return SealChoice::pinned;
    if (name == "never") return SealChoice::never;
    return std::nullopt;
}

}  // namespace ribbon
