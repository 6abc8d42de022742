// SPDX-License-Identifier: MIT
// detail/locks.hpp, the thread-safe flavour's blocking pieces without <mutex>: mutual
// exclusion, try_lock, a condition variable that wakes its waiter, and unique_lock's state.
#include "support/catch.hpp"

#include <weakref/detail/locks.hpp>

#include <atomic>
#include <thread>
#include <type_traits>

namespace {
namespace d = weakref::detail;

// As libstdc++'s std::mutex: a trivial destructor, nothing to run at exit.
static_assert(std::is_trivially_destructible_v<d::mutex>);
static_assert(!std::is_copy_constructible_v<d::mutex> && !std::is_copy_assignable_v<d::mutex>);

} // namespace

#if defined(WEAKREF_NO_PTHREAD) && defined(WEAKREF_HAS_PTHREAD)
#error "WEAKREF_NO_PTHREAD is defined, yet weakref chose the pthread locks"
#endif

TEST_CASE("locks: try_lock fails while another thread holds the mutex", "[detail][locks]") {
    d::mutex m;
    REQUIRE(m.try_lock());
    bool other_got_it = true;
    std::thread([&] { other_got_it = m.try_lock(); }).join();
    CHECK_FALSE(other_got_it);
    m.unlock();
    std::thread([&] {
        other_got_it = m.try_lock();
        if (other_got_it) {
            m.unlock();
        }
    }).join();
    CHECK(other_got_it);
}

TEST_CASE("locks: the mutex excludes, over 2 threads x 100k increments", "[detail][locks]") {
    d::mutex m;
    long counter = 0; // not atomic: only the mutex keeps the increments whole
    auto work = [&] {
        for (int i = 0; i < 100000; ++i) {
            d::lock_guard<d::mutex> hold(m);
            ++counter;
        }
    };
    std::thread a(work);
    std::thread b(work);
    a.join();
    b.join();
    CHECK(counter == 200000);
}

TEST_CASE("locks: a condition variable wakes its waiter, which holds the lock again",
          "[detail][locks]") {
    d::mutex m;
    d::condition_variable cv;
    bool ready = false;
    std::atomic<bool> woke{false};
    bool held_on_return = false;
    std::thread waiter([&] {
        d::unique_lock<d::mutex> lock(m);
        while (!ready) {
            cv.wait(lock);
        }
        held_on_return = lock.owns_lock() && !m.try_lock();
        woke.store(true);
    });
    {
        d::lock_guard<d::mutex> hold(m);
        ready = true;
    }
    cv.notify_all();
    waiter.join();
    CHECK(woke.load());
    CHECK(held_on_return);
}

TEST_CASE("locks: unique_lock lets go and takes again", "[detail][locks]") {
    d::mutex m;
    {
        d::unique_lock<d::mutex> lock(m);
        CHECK(lock.owns_lock());
        CHECK(lock.mutex() == &m);
        lock.unlock();
        CHECK_FALSE(lock.owns_lock());
        REQUIRE(m.try_lock()); // really released
        m.unlock();
        lock.lock();
        CHECK(lock.owns_lock());
    }
    REQUIRE(m.try_lock()); // released by the destructor
    m.unlock();
}
