// workers.hpp — runs CPU-bound work (signing, password hashing, fsync'ed
// maildir writes) on the relay's worker pool and resumes the calling
// coroutine on its own executor, so the I/O thread never waits for it and
// slow clients never hold a worker.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <type_traits>
#include <utility>

namespace ribbon::relay {

// `fn` must not throw: it runs on a pool thread with no one to catch.
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> run_on(boost::asio::thread_pool& pool, Fn fn) {
    namespace asio = boost::asio;
    using R = std::invoke_result_t<Fn&>;
    auto home = co_await asio::this_coro::executor;
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(R)>(
        [&pool, home, fn = std::move(fn)](auto handler) mutable {
            asio::post(pool, [handler = std::move(handler), home, fn = std::move(fn)]() mutable {
                R result = fn();
                asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
                    std::move(handler)(std::move(result));
                });
            });
        },
        asio::use_awaitable);
}

}  // namespace ribbon::relay
