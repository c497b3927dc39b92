// header_recipients.cpp — the recipients `ribbon sendmail -t` takes from
// the message (submit.hpp): To, Cc and Bcc (RFC 5322 §3.6.3), parsed by
// GMime's address-list parser so that display names, comments, quoted
// local parts and groups (§3.4) are read as mail clients write them.
#include <gmime/gmime.h>
#include <strings.h>

#include <cstring>

#include "core/header_scan.hpp"
#include "core/mime_parse.hpp"
#include "submit/submit.hpp"

namespace ribbon::submit {

namespace {

void collect(InternetAddressList* list, std::vector<std::string>& out) {
    if (list == nullptr) return;
    const int n = internet_address_list_length(list);
    for (int i = 0; i < n; ++i) {
        InternetAddress* a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(a)) {
            collect(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out);
        } else if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
            if (addr != nullptr && *addr != '\0') out.emplace_back(addr);
        }
    }
}

}  // namespace

std::vector<std::string> header_recipients(std::string_view header_section) {
    std::vector<std::string> out;
    mime::HeaderScan scan = mime::scan_header_section(header_section);
    mime::ensure_gmime();
    for (const mime::HeaderField& f : scan.fields) {
        bool wanted = false;
        for (const char* name : {"To", "Cc", "Bcc"}) {
            wanted = wanted || (f.name.size() == std::strlen(name) && ::strncasecmp(f.name.data(), name, f.name.size()) == 0);
        }
        if (!wanted) continue;
        const std::string value(f.raw_value);
        mime::GPtr<InternetAddressList> list(internet_address_list_parse(nullptr, value.c_str()));
        collect(list.get(), out);
    }
    return out;
}

}  // namespace ribbon::submit
