// fresh_fs.hpp — a new, journaled ext4 file system for one benchmark run
// (bench/mta_bench.cpp), mounted from a sparse image on a loop device.
//
// Why: every message through Postfix creates and deletes files (cleanup's
// queue file, smtp-sink's dump). On an ext4 *without* a journal, which is
// what this project's VMs have, allocating an inode first skips every inode
// of its group deleted in the last 60 s (5 min while its block is dirty):
// the kernel's recently_deleted(). `perf record -a` showed that check, with
// find_get_block_common under it, growing to a third of cleanup's and
// smtp-sink's CPU in whichever run followed another, so "Postfix alone"
// varied by ±30 % with the order of the runs. A file system made for the
// run starts every set-up from the same state, and a journal is what a
// Debian installation's ext4 has.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/process.hpp"

namespace ribbon::bench {

class FreshFs {
public:
    FreshFs() = default;
    FreshFs(const FreshFs&) = delete;
    FreshFs& operator=(const FreshFs&) = delete;
    ~FreshFs() { release(); }

    // Makes and mounts the file system; "" or why it could not.
    std::string mount() {
        char image[] = "/var/tmp/ribbon-bench-fs.XXXXXX";
        const int fd = ::mkstemp(image);
        if (fd < 0) return "mkstemp under /var/tmp failed";
        m_image = image;
        const bool sized = ::ftruncate(fd, 4LL << 30) == 0;  // sparse: takes what is written
        ::close(fd);
        if (!sized) return "cannot size the image " + m_image;
        auto made = test::run_process({"mkfs.ext4", "-q", "-F", m_image});
        if (made.exit_code != 0) return "mkfs.ext4: " + made.describe();
        char dir[] = "/var/tmp/ribbon-bench-mnt.XXXXXX";
        if (!::mkdtemp(dir)) return "mkdtemp under /var/tmp failed";
        m_dir = dir;
        auto mounted = test::run_process({"mount", "-o", "loop", m_image, m_dir});
        if (mounted.exit_code != 0) return "mount -o loop: " + mounted.describe();
        m_mounted = true;
        // Postfix's own users make files in the queue under it.
        if (::chmod(m_dir.c_str(), 01777) != 0) return "chmod " + m_dir + " failed";
        return {};
    }
    const std::string& dir() const noexcept { return m_dir; }

private:
    // Postfix's processes may take a moment to exit after `postfix stop`.
    void release() {
        for (int i = 0; m_mounted && i < 50; ++i) {
            if (test::run_process({"umount", m_dir}).exit_code == 0) m_mounted = false;
            else std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (m_mounted) test::run_process({"umount", "-l", m_dir});  // detached once the last user exits
        if (!m_dir.empty()) ::rmdir(m_dir.c_str());
        if (!m_image.empty()) ::unlink(m_image.c_str());
    }

    std::string m_image, m_dir;
    bool m_mounted = false;
};

}  // namespace ribbon::bench
