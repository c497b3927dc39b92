// recipients_names.cpp — the stable names of ribbon/recipients.hpp's enums:
// what the rules file, both databases, the CLI and JSON output spell, so
// they must never change once released.
#include "ribbon/recipients.hpp"

namespace ribbon {

std::string_view smime_support_name(SmimeSupport s) noexcept {
    switch (s) {
        case SmimeSupport::supported: return "supported";
        case SmimeSupport::unsupported: return "unsupported";
        case SmimeSupport::unknown: break;
    }
    return "unknown";
}

std::optional<SmimeSupport> parse_smime_support(std::string_view name) noexcept {
    for (SmimeSupport s : {SmimeSupport::unknown, SmimeSupport::supported, SmimeSupport::unsupported}) {
        if (name == smime_support_name(s)) return s;
    }
    return std::nullopt;
}

std::string_view recipient_override_name(RecipientOverride o) noexcept {
    switch (o) {
        case RecipientOverride::sign: return "sign";
        case RecipientOverride::no_sign: return "no-sign";
        case RecipientOverride::opaque: return "opaque";
        case RecipientOverride::none: break;
    }
    return "none";
}

std::optional<RecipientOverride> parse_recipient_override(std::string_view name) noexcept {
    for (RecipientOverride o : {RecipientOverride::none, RecipientOverride::sign, RecipientOverride::no_sign,
                                RecipientOverride::opaque}) {
        if (name == recipient_override_name(o)) return o;
    }
    return std::nullopt;
}

}  // namespace ribbon
