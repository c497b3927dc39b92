// time_arg.cpp — the TIME of `--at TIME` (time_arg.hpp).
#include "cli/time_arg.hpp"

#include <cctype>
#include <ctime>

namespace ribbon::cli {

namespace {

bool parse_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

}  // namespace

std::optional<TimePoint> parse_time(std::string_view s) {
    if (!s.empty() && s[0] == '@') {
        if (s.size() < 2 || s.size() > 19) return std::nullopt;
        long long v = 0;
        for (std::size_t i = 1; i < s.size(); ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return time_from_unix(static_cast<std::int64_t>(v));
    }
    std::tm tm{};
    int year = 0, month = 0, day = 0;
    if (!parse_digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' ||
        !parse_digits(s, 5, 2, month) || s[7] != '-' || !parse_digits(s, 8, 2, day)) {
        return std::nullopt;
    }
    int hour = 0, minute = 0, second = 0, offset = 0;
    if (s.size() > 10) {
        if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s.size() < 20 ||
            !parse_digits(s, 11, 2, hour) || s[13] != ':' || !parse_digits(s, 14, 2, minute) ||
            s[16] != ':' || !parse_digits(s, 17, 2, second)) {
            return std::nullopt;
        }
        std::string_view zone = s.substr(19);
        if (zone == "Z" || zone == "z") {
            offset = 0;
        } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
            int oh = 0, om = 0;
            if (!parse_digits(zone, 1, 2, oh) || !parse_digits(zone, 4, 2, om)) return std::nullopt;
            offset = (oh * 60 + om) * 60 * (zone[0] == '-' ? -1 : 1);
        } else {
            return std::nullopt;
        }
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return time_from_unix(static_cast<std::int64_t>(timegm(&tm)) - offset);
}

}  // namespace ribbon::cli
