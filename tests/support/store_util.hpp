// Helpers for the recipients store tests (tests/store/store_test.cpp): reading
// and writing a store's database behind ribbon's back, and running code in
// a forked child (another "process" using the store, or an unprivileged one).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "ribbon/error.hpp"

namespace ribbon::test {

// "code/kind: message", for assertion messages.
std::string describe(const Error& e);

// Asserts that a Result is ok, printing its error otherwise.
#define ASSERT_OK(expr)                                             \
    do {                                                            \
        auto&& ribbon_r_ = (expr);                                  \
        ASSERT_TRUE(ribbon_r_.ok()) << ::ribbon::test::describe(ribbon_r_.error()); \
    } while (0)

// Runs `sql` on the database of the store at `url` (sqlite:///path or
// postgresql://...) directly, not through ribbon: the first column of the
// first row as text, "" when there is none. Throws std::runtime_error with
// the database's message on failure.
std::string raw_sql(const std::string& url, const std::string& sql);

struct ChildResult {
    int exit_code = -1;  // 128 + signal when killed
    std::string output;  // what the child wrote to `say`
    bool timed_out = false;
};

// Forks; the child runs `body`, whose return value is its exit status, and
// _exit()s without running the parent's destructors (so it never touches
// the parent's database connections). `say` reaches the parent. The child
// is killed after `timeout`. Call from a single-threaded test.
ChildResult run_child(const std::function<int(std::string& say)>& body,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Several at once; each gets its index.
std::vector<ChildResult> run_children(int n,
                                      const std::function<int(int index, std::string& say)>& body,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace ribbon::test
