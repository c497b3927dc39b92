// Unit tests of src/core/file_group.cpp (ribbon/file_group.hpp): a file
// gets its name only once its group is committed, and is reported only
// then, exactly once; a group waits for group_size or max_delay, finish()
// for neither; a rename that fails fails that file and no other, a disk
// that refuses a group (syncfs, the directory's fsync) fails that group
// and not the next; a file abandoned before submit() leaves nothing; leftovers of a killed group
// are removed (only FileGroup's own names, and not while another group writes there).
#include "ribbon/file_group.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

// A disk that fails: this executable's syncfs() and fsync() take the place
// of the C library's (a definition in the program wins over a shared
// library's), so a test can make the next calls fail with an errno; they
// are the system calls otherwise.
namespace {

// "prefix" + number, written so GCC 12 sees no -Wrestrict false positive.
std::string numbered(const char* prefix, std::size_t i) {
    return std::string(prefix).append(std::to_string(i));
}

std::atomic<int> g_syncfs_errno{0};     // the next syncfs() fails with this, once
std::atomic<int> g_dir_fsync_errno{0};  // the next fsync() of a directory fails with this, once
}  // namespace

extern "C" int syncfs(int fd) {
    if (const int err = g_syncfs_errno.exchange(0); err != 0) {
        errno = err;
        return -1;
    }
    return static_cast<int>(::syscall(SYS_syncfs, fd));
}

extern "C" int fsync(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (const int err = g_dir_fsync_errno.exchange(0); err != 0) {
            errno = err;
            return -1;
        }
    }
    return static_cast<int>(::syscall(SYS_fsync, fd));
}

namespace ribbon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::read_file;
using test::TempDir;
using test::write_file;

// What `done` reported, by tag; how often each tag was reported.
struct Reports {
    std::mutex mutex;
    std::map<std::size_t, std::string> result;  // "ok" or the error's message
    std::map<std::size_t, int> calls;

    FileGroup::Done callback() {
        return [this](std::size_t tag, Result<void> r) {
            std::lock_guard lock(mutex);
            ++calls[tag];
            result[tag] = r ? "ok"
                            : errc_name(r.error().code()).data() + std::string(" ") +
                                  error_kind_name(r.error().kind()).data() + ": " +
                                  r.error().message();
        };
    }
    std::size_t count() {
        std::lock_guard lock(mutex);
        return result.size();
    }
};

std::set<std::string> names_in(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

std::unique_ptr<FileGroup> open_group(const fs::path& dir, Reports& reports,
                                      FileGroupOptions options = {}) {
    auto group = FileGroup::open(dir, reports.callback(), options);
    if (!group) ADD_FAILURE() << group.error().message();
    return group ? std::move(*group) : nullptr;
}

FileGroup::File must_create(FileGroup& group, const std::string& name) {
    auto file = group.create(name);
    if (!file) throw std::runtime_error(file.error().message());
    return std::move(*file);
}

bool wait_for(const std::function<bool()>& ready, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ready()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

TEST(FileGroup, TemporaryNames) {
    EXPECT_TRUE(FileGroup::is_temporary_name(".m1.eml.ribbon-tmp.0123456789abcdef"));
    EXPECT_TRUE(
        FileGroup::is_temporary_name("..ribbon-tmp.0123456789abcdef.ribbon-tmp.fedcba9876543210"));
    EXPECT_FALSE(FileGroup::is_temporary_name(".ribbon-tmp.0123456789abcdef"));        // no NAME
    EXPECT_FALSE(FileGroup::is_temporary_name("m1.eml.ribbon-tmp.0123456789abcdef"));  // not hidden
    EXPECT_FALSE(FileGroup::is_temporary_name(".m1.eml.ribbon-tmp.0123456789ABCDEF"));
    EXPECT_FALSE(FileGroup::is_temporary_name(".m1.eml.ribbon-tmp.0123456789abcde"));
    EXPECT_FALSE(FileGroup::is_temporary_name(".m1.eml.ribbon-tmp.0123456789abcdefa"));
    EXPECT_FALSE(FileGroup::is_temporary_name(".m1.eml.ribbon-tmp-0123456789abcdef"));
    EXPECT_FALSE(FileGroup::is_temporary_name(".m1.eml.tmp.0123456789abcdef"));
    EXPECT_FALSE(FileGroup::is_temporary_name(".keep"));
}

// Before its group is committed a file exists only under a hidden
// temporary name; after, only under its name, whole, and reported once.
TEST(FileGroup, AFileGetsItsNameOnlyWhenItsGroupIsCommitted) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    FileGroupOptions options;
    options.group_size = 3;
    options.max_delay = std::chrono::hours(1);
    auto group = open_group(tmp.path(), reports, options);
    ASSERT_TRUE(group);
    const std::string big(200 * 1024, 'b');  // past the write buffer
    for (std::size_t i = 0; i < 2; ++i) {
        auto file = must_create(*group, numbered("m", i));
        EXPECT_TRUE(FileGroup::is_temporary_name(file.temporary_name())) << file.temporary_name();
        EXPECT_TRUE(file.discards_uncommitted());
        ASSERT_TRUE(file.write("first "));
        ASSERT_TRUE(file.write(big));
        ASSERT_TRUE(file.write(" last\n"));
        EXPECT_EQ(names_in(tmp.path()).count(file.name()), 0u);
        group->submit(std::move(file), i);
    }
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(reports.count(), 0u);  // two of three: the group waits
    for (const auto& name : names_in(tmp.path()))
        EXPECT_TRUE(FileGroup::is_temporary_name(name)) << name;

    auto third = must_create(*group, "m2");
    ASSERT_TRUE(third.write("third\n"));
    group->submit(std::move(third), 2);
    ASSERT_TRUE(wait_for([&] { return reports.count() == 3; }));
    EXPECT_EQ(names_in(tmp.path()), (std::set<std::string>{"m0", "m1", "m2"}));
    EXPECT_EQ(read_file(tmp / "m0"), "first " + big + " last\n");
    EXPECT_EQ(read_file(tmp / "m2"), "third\n");
    group->finish();
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(reports.result[i], "ok");
        EXPECT_EQ(reports.calls[i], 1);
    }
}

// finish() commits what is pending at once, not after max_delay; submit()
// waits while max_pending files are pending instead of failing.
TEST(FileGroup, FinishCommitsWhatIsPendingAndWritersWaitForRoom) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    FileGroupOptions options;
    options.group_size = 4;
    options.max_delay = std::chrono::hours(1);
    options.max_pending = 4;
    auto group = open_group(tmp.path(), reports, options);
    ASSERT_TRUE(group);
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < 10; ++i) {
        auto file = must_create(*group, numbered("f", i));
        ASSERT_TRUE(file.write(numbered("message ", i)));
        group->submit(std::move(file), i);
    }
    group->finish();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
    ASSERT_EQ(reports.count(), 10u);
    EXPECT_EQ(names_in(tmp.path()).size(), 10u);
    for (std::size_t i = 0; i < 10; ++i) {
        EXPECT_EQ(reports.result[i], "ok");
        EXPECT_EQ(read_file(tmp / (numbered("f", i))), numbered("message ", i));
    }
}

// Several writers at once, small groups: every file once, whole.
TEST(FileGroup, ManyWritersEveryFileOnceAndWhole) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    FileGroupOptions options;
    options.group_size = 16;
    options.max_delay = 1ms;
    options.max_pending = 32;
    auto group = open_group(tmp.path(), reports, options);
    ASSERT_TRUE(group);
    constexpr std::size_t kThreads = 4, kEach = 100;
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t i = t * kEach; i < (t + 1) * kEach; ++i) {
                auto file = group->create(numbered("m", i));
                if (!file) continue;
                for (int k = 0; k < 50; ++k) (void)file->write(std::to_string(i) + ",");
                group->submit(std::move(*file), i);
            }
        });
    }
    for (auto& t : threads) t.join();
    group->finish();
    ASSERT_EQ(reports.count(), kThreads * kEach);
    EXPECT_EQ(names_in(tmp.path()).size(), kThreads * kEach);
    for (std::size_t i = 0; i < kThreads * kEach; ++i) {
        EXPECT_EQ(reports.calls[i], 1);
        std::string want;
        for (int k = 0; k < 50; ++k) want += std::to_string(i) + ",";
        EXPECT_EQ(read_file(tmp / (numbered("m", i))), want);
    }
}

// A file dropped before submit() (the message could not be signed) leaves
// nothing and is never reported.
TEST(FileGroup, AnAbandonedFileLeavesNothing) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    auto group = open_group(tmp.path(), reports);
    ASSERT_TRUE(group);
    {
        auto file = must_create(*group, "half");
        ASSERT_TRUE(file.write("half a message"));
        EXPECT_EQ(names_in(tmp.path()).size(), 1u);
    }
    group->finish();
    EXPECT_TRUE(names_in(tmp.path()).empty());
    EXPECT_EQ(reports.count(), 0u);
}

// A file that cannot be named fails alone, naming the file; the rest of
// its group is committed, and its temporary file is gone.
TEST(FileGroup, AFailureFailsThatFileOnly) {
    TempDir tmp("ribbon-file-group");
    fs::create_directories(tmp / "taken" /
                           "full");  // renaming a file over a non-empty directory fails
    Reports reports;
    FileGroupOptions options;
    options.group_size = 3;
    options.max_delay = std::chrono::hours(1);
    auto group = open_group(tmp.path(), reports, options);
    ASSERT_TRUE(group);
    std::string bad_tmp;
    for (std::size_t i = 0; i < 3; ++i) {
        auto file = must_create(*group, i == 1 ? "taken" : numbered("m", i));
        if (i == 1) bad_tmp = file.temporary_name();
        ASSERT_TRUE(file.write("x"));
        group->submit(std::move(file), i);
    }
    group->finish();
    ASSERT_EQ(reports.count(), 3u);
    EXPECT_EQ(reports.result[0], "ok");
    EXPECT_EQ(reports.result[2], "ok");
    EXPECT_EQ(reports.result[1], "io_error transient: cannot rename " + (tmp / bad_tmp).string() +
                                     " to " + (tmp / "taken").string() + ": Is a directory");
    EXPECT_EQ(names_in(tmp.path()), (std::set<std::string>{"m0", "m2", "taken"}));
    EXPECT_TRUE(fs::is_directory(tmp / "taken"));
}

// Commits `names` as one group (group_size = their number) and returns
// what was reported for each, by index.
std::map<std::size_t, std::string> commit_one_group(FileGroup& group, Reports& reports,
                                                    const std::vector<std::string>& names,
                                                    std::size_t first_tag) {
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto file = must_create(group, names[i]);
        EXPECT_TRUE(file.write("content of " + names[i]));
        group.submit(std::move(file), first_tag + i);
    }
    EXPECT_TRUE(wait_for([&] { return reports.count() == first_tag + names.size(); }));
    std::lock_guard lock(reports.mutex);
    return reports.result;
}

// A group the disk refuses (syncfs fails: it cannot say which file) fails
// all its files, each named, and none gets its name; the next group is
// committed.
TEST(FileGroup, AGroupTheDiskRefusesFailsWholeAndTheNextIsCommitted) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    FileGroupOptions options;
    options.group_size = 2;
    options.max_delay = std::chrono::hours(1);
    auto group = open_group(tmp.path(), reports, options);
    ASSERT_TRUE(group);
    g_syncfs_errno = EIO;
    auto got = commit_one_group(*group, reports, {"a", "b"}, 0);
    for (const auto& [tag, name] : {std::pair<std::size_t, std::string>{0, "a"}, {1, "b"}}) {
        EXPECT_EQ(got[tag], "io_error transient: cannot write " + (tmp / name).string() +
                                " to disk (syncfs of " + tmp.path().string() +
                                " for a group of 2 files): Input/output error");
    }
    EXPECT_TRUE(names_in(tmp.path()).empty());  // no names, no temporary files
    got = commit_one_group(*group, reports, {"c", "d"}, 2);
    EXPECT_EQ(got[2], "ok");
    EXPECT_EQ(got[3], "ok");
    EXPECT_EQ(names_in(tmp.path()), (std::set<std::string>{"c", "d"}));
    EXPECT_EQ(read_file(tmp / "d"), "content of d");
}

// When the directory cannot be synced after the renames, the names may be
// lost in a crash: the group's files are reported failed (they are whole:
// their data was on the disk before the rename).
TEST(FileGroup, ADirectoryThatCannotBeSyncedFailsItsGroup) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    FileGroupOptions options;
    options.group_size = 2;
    options.max_delay = std::chrono::hours(1);
    auto group = open_group(tmp.path(), reports, options);
    ASSERT_TRUE(group);
    g_dir_fsync_errno = EIO;
    auto got = commit_one_group(*group, reports, {"a", "b"}, 0);
    for (const auto& [tag, name] : {std::pair<std::size_t, std::string>{0, "a"}, {1, "b"}}) {
        EXPECT_EQ(got[tag], "io_error transient: cannot sync the directory " + tmp.path().string() +
                                " after naming " + (tmp / name).string() + ": Input/output error");
    }
    EXPECT_EQ(read_file(tmp / "a"), "content of a");
    got = commit_one_group(*group, reports, {"c", "d"}, 2);
    EXPECT_EQ(got[2], "ok");
    EXPECT_EQ(got[3], "ok");
}

TEST(FileGroup, RefusesWhatIsNotAFileName) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    auto group = open_group(tmp.path(), reports);
    ASSERT_TRUE(group);
    for (const std::string name : {"", ".", "..", "a/b"}) {
        auto file = group->create(name);
        ASSERT_FALSE(file) << name;
        EXPECT_EQ(file.error().code(), Errc::io_error);
        EXPECT_EQ(file.error().kind(), ErrorKind::permanent);
        EXPECT_EQ(file.error().message(), "\"" + name + "\" is not a file name");
    }
    // A long name is cut in the temporary name, never in the final one.
    const std::string longest(255, 'n');
    auto file = must_create(*group, longest);
    EXPECT_TRUE(FileGroup::is_temporary_name(file.temporary_name()));
    ASSERT_TRUE(file.write("long"));
    group->submit(std::move(file), 0);
    group->finish();
    EXPECT_EQ(reports.result[0], "ok");
    EXPECT_EQ(read_file(tmp / longest), "long");
}

TEST(FileGroup, OpenRefusesAMissingDirectory) {
    TempDir tmp("ribbon-file-group");
    Reports reports;
    auto group = FileGroup::open(tmp / "missing", reports.callback());
    ASSERT_FALSE(group);
    EXPECT_EQ(group.error().code(), Errc::io_error);
    EXPECT_EQ(group.error().kind(), ErrorKind::permanent);
    EXPECT_EQ(group.error().message(), "cannot open the directory " + (tmp / "missing").string() +
                                           ": No such file or directory");
}

// What a killed group left is removed by the next one: only FileGroup's
// own temporary names.
TEST(FileGroup, LeftoversOfAKilledGroupAreRemoved) {
    TempDir tmp("ribbon-file-group");
    const std::set<std::string> kept = {"m1.eml",
                                        ".keep",
                                        ".m1.eml.ribbon-tmp.0123456789ABCDEF",
                                        "m1.eml.ribbon-tmp.0123456789abcdef",
                                        ".m1.eml.ribbon-tmp.0123",
                                        "m1.eml.tmp.12345"};
    for (const auto& name : kept) write_file(tmp / name, "keep");
    write_file(tmp / ".m1.eml.ribbon-tmp.0123456789abcdef", "half");
    write_file(tmp / ".m2.eml.ribbon-tmp.fedcba9876543210", "");
    Reports reports;
    auto group = open_group(tmp.path(), reports);
    ASSERT_TRUE(group);
    EXPECT_EQ(names_in(tmp.path()), kept);
}

// While a group writes into a directory (holding temporary files), a
// second group opened there removes none of them.
TEST(FileGroup, LeftoversAreNotTakenFromAGroupAtWork) {
    TempDir tmp("ribbon-file-group");
    Reports first_reports, second_reports;
    auto first = open_group(tmp.path(), first_reports);
    ASSERT_TRUE(first);
    auto file = must_create(*first, "m1");
    ASSERT_TRUE(file.write("from the first group"));
    auto second = open_group(tmp.path(), second_reports);
    ASSERT_TRUE(second);
    EXPECT_EQ(names_in(tmp.path()), (std::set<std::string>{file.temporary_name()}));
    first->submit(std::move(file), 7);
    first->finish();
    EXPECT_EQ(first_reports.result[7], "ok");
    EXPECT_EQ(read_file(tmp / "m1"), "from the first group");
    second->finish();
    // Once both are gone, a third removes leftovers again.
    first.reset();
    second.reset();
    write_file(tmp / ".m9.ribbon-tmp.0000000000000000", "half");
    Reports third_reports;
    auto third = open_group(tmp.path(), third_reports);
    EXPECT_EQ(names_in(tmp.path()), (std::set<std::string>{"m1"}));
}

}  // namespace
}  // namespace ribbon
