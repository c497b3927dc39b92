// workers.hpp — runs CPU-bound work (signing, password hashing, fsync'ed
// maildir writes) on the relay's worker pool and resumes the calling
// coroutine on its own executor, so the I/O thread never waits for it and
// slow clients never hold a worker.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace ribbon::relay {

// `fn` must not throw: it runs on a pool thread with no one to catch.
//
// GCC 12 mishandles non-trivial temporaries in a co_await expression
// (GCC PR 99576: destroyed twice): callers pass a named lambda when it
// captures anything but references, and `fn` travels to the pool as a raw
// pointer so no coroutine frame holds a copy.
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<std::decay_t<Fn>&>> run_on(boost::asio::thread_pool& pool, Fn&& fn) {
    namespace asio = boost::asio;
    using F = std::decay_t<Fn>;
    using R = std::invoke_result_t<F&>;
    F* job = new F(std::forward<Fn>(fn));
    return asio::async_initiate<const asio::use_awaitable_t<>, void(R)>(
        [&pool, job](auto handler) {
            auto home = asio::get_associated_executor(handler);
            asio::post(pool, [handler = std::move(handler), home, job]() mutable {
                std::unique_ptr<F> owned(job);
                R result = (*owned)();
                owned.reset();
                asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
                    std::move(handler)(std::move(result));
                });
            });
        },
        asio::use_awaitable);
}

}  // namespace ribbon::relay
