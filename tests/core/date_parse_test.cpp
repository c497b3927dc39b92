// outer::parse_plain_date(), the signer's reading of a plain RFC 5322 §3.3
// Date, against GMime's lenient parser, which the signer used for every
// message before and still uses for anything else: whatever the plain
// parser accepts, GMime must read as the same instant.
#include <gmime/gmime.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>

#include "core/mime_parse.hpp"
#include "core/outer_headers.hpp"

namespace ribbon::outer {
namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<std::int64_t> gmime_seconds(const std::string& value) {
    mime::ensure_gmime();
    GDateTime* date = g_mime_utils_header_decode_date(value.c_str());
    if (date == nullptr) return std::nullopt;
    std::int64_t seconds = g_date_time_to_unix(date);
    g_date_time_unref(date);
    return seconds;
}

// Whatever parse_plain_date() accepts, GMime reads the same way.
void expect_agrees(const std::string& value) {
    std::optional<std::int64_t> plain = parse_plain_date(value);
    if (!plain) return;
    std::optional<std::int64_t> gmime = gmime_seconds(value);
    ASSERT_TRUE(gmime.has_value()) << "GMime cannot read \"" << value << "\"";
    EXPECT_EQ(*plain, *gmime) << value;
}

struct Parts {
    int weekday = -1;  // -1: none
    int day = 1, month = 1, year = 2026, hour = 0, minute = 0, second = 0;
    bool with_seconds = true;
    char sign = '+';
    int zone_hours = 0, zone_minutes = 0;
};

std::string format(const Parts& p) {
    char buf[96];
    std::string out = p.weekday >= 0 ? std::string(kDays[p.weekday]) + ", " : "";
    std::snprintf(buf, sizeof buf, "%d %s %04d %02d:%02d", p.day, kMonths[p.month - 1], p.year, p.hour,
                  p.minute);
    out += buf;
    if (p.with_seconds) {
        std::snprintf(buf, sizeof buf, ":%02d", p.second);
        out += buf;
    }
    std::snprintf(buf, sizeof buf, " %c%02d%02d", p.sign, p.zone_hours, p.zone_minutes);
    return out + buf;
}

TEST(PlainDate, EveryDayReadsAsGMimeReadsIt) {
    std::mt19937 rng(20261123);
    // 1970 .. 2100, a random time and zone on each day; the day name is
    // the right one, computed by GMime's GDateTime.
    for (std::int64_t t = 0; t < 4133980800; t += 86400) {
        GDateTime* d = g_date_time_new_from_unix_utc(t);
        Parts p;
        p.year = g_date_time_get_year(d);
        p.month = g_date_time_get_month(d);
        p.day = g_date_time_get_day_of_month(d);
        p.weekday = g_date_time_get_day_of_week(d) % 7;
        g_date_time_unref(d);
        p.hour = static_cast<int>(rng() % 24);
        p.minute = static_cast<int>(rng() % 60);
        p.second = static_cast<int>(rng() % 60);
        p.sign = rng() % 2 ? '+' : '-';
        p.zone_hours = static_cast<int>(rng() % 15);
        p.zone_minutes = rng() % 4 == 0 ? 30 : 0;
        const std::string value = format(p);
        ASSERT_TRUE(parse_plain_date(value).has_value()) << value;
        expect_agrees(value);
        if (HasFatalFailure()) return;
    }
}

TEST(PlainDate, WhatItAccepts) {
    EXPECT_EQ(parse_plain_date("Thu, 01 Jan 1970 00:00:00 +0000"), 0);
    EXPECT_EQ(parse_plain_date("1 Jan 1970 01:00 +0100"), 0);
    EXPECT_EQ(parse_plain_date("Mon, 23 Nov 2026 04:28:00 -0130"), 1795408080 + 5400);
    EXPECT_EQ(parse_plain_date("29 Feb 2024 12:00:00 +0000"), 1709208000);
    for (const char* value : {"Mon, 23 Nov 2026 04:28:00 -0130", "29 Feb 2024 12:00:00 +0000",
                              "1 Jan 1970 01:00 +0100"}) {
        expect_agrees(value);
    }
}

TEST(PlainDate, LeavesEverythingElseToGMime) {
    for (const char* value : {
             "",
             "Tue, 23 Nov 2026 04:28:00 +0000",   // the 23rd is a Monday
             "Mon,23 Nov 2026 04:28:00 +0000",    // no space
             "Mon, 23 Nov 2026  04:28:00 +0000",  // two spaces
             "Mon, 23 nov 2026 04:28:00 +0000",   // month case
             "23 Nov 26 04:28:00 +0000",          // two-digit year
             "23 Nov 1969 04:28:00 +0000",        // before 1970
             "31 Nov 2026 04:28:00 +0000",        // no such day
             "29 Feb 2026 04:28:00 +0000",        // not a leap year
             "0 Nov 2026 04:28:00 +0000",
             "23 Nov 2026 24:00:00 +0000",
             "23 Nov 2026 23:60:00 +0000",
             "23 Nov 2026 23:59:60 +0000",        // a leap second
             "23 Nov 2026 4:28:00 +0000",
             "23 Nov 2026 04:28:00 GMT",          // obsolete zone
             "23 Nov 2026 04:28:00 +0000 (UTC)",  // a comment
             "23 Nov 2026 04:28:00 +2400",
             "23 Nov 2026 04:28:00 +0060",
             "23 Nov 2026 04:28:00 +000",
             "23 Nov 2026 04:28:00 +00000",
             "23 Nov 2026 04:28:00",
             "23\tNov 2026 04:28:00 +0000",
         }) {
        EXPECT_FALSE(parse_plain_date(value).has_value()) << value;
    }
}

TEST(PlainDate, RandomNearMissesAgreeWithGMime) {
    std::mt19937 rng(42);
    const std::string alphabet = "0123456789 :+-,MonTueJanFebNovDecGMT()\t";
    for (int n = 0; n < 20000; ++n) {
        Parts p;
        p.weekday = static_cast<int>(rng() % 8) - 1;
        p.day = static_cast<int>(rng() % 33);
        p.month = static_cast<int>(rng() % 12) + 1;
        p.year = 1960 + static_cast<int>(rng() % 200);
        p.hour = static_cast<int>(rng() % 26);
        p.minute = static_cast<int>(rng() % 62);
        p.second = static_cast<int>(rng() % 62);
        p.with_seconds = rng() % 4 != 0;
        p.sign = rng() % 2 ? '+' : '-';
        p.zone_hours = static_cast<int>(rng() % 26);
        p.zone_minutes = static_cast<int>(rng() % 62);
        std::string value = format(p);
        // Now and then one octet changed, inserted or removed.
        if (rng() % 3 == 0 && !value.empty()) {
            std::size_t at = rng() % value.size();
            switch (rng() % 3) {
                case 0: value[at] = alphabet[rng() % alphabet.size()]; break;
                case 1: value.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
                default: value.erase(at, 1); break;
            }
        }
        expect_agrees(value);
        if (HasFatalFailure()) return;
    }
}

}  // namespace
}  // namespace ribbon::outer
