// proc_stat.hpp — CPU time from /proc for the load rows of `make bench`
// (mta_bench.cpp, relay_bench.cpp): how much of the machine a daemon used
// while a load generator ran. Linux only.
#pragma once

#include <sys/types.h>

#include <fstream>
#include <sstream>
#include <string>

namespace ribbon::bench {

// Busy jiffies of the whole machine (/proc/stat "cpu" line, without idle
// and iowait).
inline double machine_busy_jiffies() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;
    double v = 0, busy = 0;
    for (int i = 0; i < 8 && in >> v; ++i) {
        if (i != 3 && i != 4) busy += v;
    }
    return busy;
}

// utime + stime of a process, in jiffies (/proc/PID/stat fields 14, 15).
inline double process_jiffies(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stod(field);
        if (i == 15) stime = std::stod(field);
    }
    return utime + stime;
}

}  // namespace ribbon::bench
