// SPDX-License-Identifier: MIT
// weakref::weak_anchor under threads: the destructor and invalidate() wait for pins held on
// other threads, lock() racing invalidate(), observers copied while the anchor dies, concurrent
// first observe() calls.
#include "support/catch.hpp"
#include "support/watchdog.hpp"

#include <weakref/weak_anchor.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace {

/// Rounds small enough that each case stays within a few seconds under TSan.
constexpr int anchor_rounds = 200;

void wait_for(const std::atomic<bool>& flag) {
    while (!flag.load(std::memory_order_acquire)) {
        std::this_thread::yield();
    }
}

/// Starts `n` threads at once on `fn(i)`; returns them running.
template <class F> std::vector<std::thread> start_threads(int n, F fn) {
    auto ready = std::make_shared<std::atomic<int>>(0);
    auto go = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([=] {
            ++*ready;
            wait_for(*go);
            fn(i);
        });
    }
    while (ready->load() != n) {
        std::this_thread::yield();
    }
    go->store(true, std::memory_order_release);
    return threads;
}

void join_all(std::vector<std::thread>& threads) {
    for (auto& t : threads) {
        t.join();
    }
}

/// What a reader writes through its pin: a plain int, so that TSan sees a race if the
/// destroyer reads it without the destructor having waited for the pin.
struct ledger {
    int written = 0;
};

/// A uniquely owned object whose destructor invalidates first, then reads what readers wrote.
struct page {
    explicit page(int* seen_out) : seen(seen_out) {}
    ~page() {
        anchor.invalidate();
        *seen = entry.written; // after every pin on another thread was released
    }
    page(const page&) = delete;
    page& operator=(const page&) = delete;

    ledger entry;
    int* seen;
    weakref::weak_anchor<page> anchor{this};
};

} // namespace

TEST_CASE("threads: a pin keeps the object usable while another thread destroys the anchor",
          "[threads][weak_anchor]") {
    wrtest::watchdog dog("a pin against the anchor's destructor");
    long mismatches = 0;
    long readers_without_pin = 0;
    for (int round = 1; round <= anchor_rounds; ++round) {
        ledger target;
        auto anchor = std::make_unique<weakref::weak_anchor<ledger>>(&target);
        weakref::observer<ledger> seen_by_reader = anchor->observe();
        std::atomic<bool> pinned{false};
        std::atomic<bool> had_pin{true};
        std::thread reader([&] {
            weakref::pinned<ledger> pin = seen_by_reader.lock();
            if (!pin) {
                had_pin.store(false);
                pinned.store(true, std::memory_order_release);
                return;
            }
            pinned.store(true, std::memory_order_release);
            // expired() turns true when the destructor has cleared the generation: from then on
            // it can only be waiting for this pin. The write below comes after that.
            while (!seen_by_reader.expired()) {
                std::this_thread::yield();
            }
            pin->written = round;
        }); // the pin is released as the lambda returns
        wait_for(pinned);
        anchor.reset(); // waits for the reader's pin
        // The destructor returned, so the reader's write happened before this read.
        if (target.written != round) {
            ++mismatches;
        }
        reader.join();
        if (!had_pin.load()) {
            ++readers_without_pin;
        }
    }
    CHECK(readers_without_pin == 0);
    CHECK(mismatches == 0);
}

TEST_CASE("threads: invalidate() at the top of a destructor waits for a reader's pin",
          "[threads][weak_anchor]") {
    wrtest::watchdog dog("a pin against invalidate() in the owner's destructor");
    long mismatches = 0;
    for (int round = 1; round <= anchor_rounds; ++round) {
        int seen = 0;
        auto owner = std::make_unique<page>(&seen);
        weakref::observer<page> o = owner->anchor.observe();
        std::atomic<bool> pinned{false};
        std::thread reader([&] {
            weakref::pinned<page> pin = o.lock();
            pinned.store(true, std::memory_order_release);
            while (!o.expired()) {
                std::this_thread::yield();
            }
            // The destructor's body has begun and waits in invalidate(): the page is intact.
            pin->entry.written = round;
        });
        wait_for(pinned);
        owner.reset();
        if (seen != round) {
            ++mismatches;
        }
        reader.join();
    }
    CHECK(mismatches == 0);
}

TEST_CASE("threads: lock() racing invalidate() never returns a pin after invalidate() returned",
          "[threads][weak_anchor]") {
    wrtest::watchdog dog("lock() against invalidate()");
    struct target {
        std::atomic<long> uses{0};
        weakref::weak_anchor<target> anchor{this};
    };
    constexpr int lockers = 3;
    constexpr int generations = 4;
    long late_pins = 0;
    long uses_after_return = 0;
    for (int round = 0; round < anchor_rounds / 4; ++round) {
        target t;
        for (int generation = 0; generation < generations; ++generation) {
            weakref::observer<target> o = t.anchor.observe();
            std::atomic<bool> returned{false};
            std::atomic<long> bad{0};
            auto threads = start_threads(lockers, [&](int /*unused*/) {
                for (;;) {
                    const bool returned_before = returned.load(std::memory_order_acquire);
                    weakref::pinned<target> pin = o.lock();
                    if (!pin) {
                        break;
                    }
                    pin->uses.fetch_add(1, std::memory_order_relaxed);
                    // invalidate() waits for this pin, so it cannot have returned before the
                    // lock() nor while the pin is held.
                    if (returned_before || returned.load(std::memory_order_acquire)) {
                        ++bad;
                    }
                }
                // Once lock() failed, it fails for good.
                for (int k = 0; k < 20; ++k) {
                    if (o.lock() || !o.expired()) {
                        ++bad;
                    }
                }
            });
            // Let the lockers get going, then invalidate under them.
            while (t.uses.load(std::memory_order_relaxed) < 20) {
                std::this_thread::yield();
            }
            t.anchor.invalidate();
            const long uses_at_return = t.uses.load(std::memory_order_relaxed);
            returned.store(true, std::memory_order_release);
            join_all(threads);
            late_pins += bad.load();
            uses_after_return += t.uses.load() - uses_at_return;
        }
    }
    CHECK(late_pins == 0);
    CHECK(uses_after_return == 0);
}

TEST_CASE("threads: observers copied and dropped on many threads while the anchor dies",
          "[threads][weak_anchor]") {
    wrtest::watchdog dog("observer copies against the anchor's destructor");
    constexpr int copiers = 3;
    long unexpired_after_death = 0;
    long pins_taken = 0;
    for (int round = 0; round < anchor_rounds; ++round) {
        auto owned = std::make_unique<ledger>();
        auto anchor = std::make_unique<weakref::weak_anchor<ledger>>(owned.get());
        const weakref::observer<ledger> shared = anchor->observe();
        std::atomic<bool> dead{false};
        std::atomic<long> unexpired{0};
        std::atomic<long> pins{0};
        auto threads = start_threads(copiers, [&](int /*unused*/) {
            std::vector<weakref::observer<ledger>> mine;
            bool stop = false;
            while (!stop) {
                stop = dead.load(std::memory_order_acquire);
                mine.push_back(shared); // copies of one observer read by all threads at once
                if (mine.size() > 8) {
                    mine.erase(mine.begin());
                }
                if (mine.back().lock()) {
                    pins.fetch_add(1, std::memory_order_relaxed);
                }
            }
            // The anchor is gone: every copy, old or new, is expired for good.
            for (const auto& o : mine) {
                if (!o.expired() || o.lock()) {
                    ++unexpired;
                }
            }
        });
        while (pins.load(std::memory_order_relaxed) < copiers) {
            std::this_thread::yield();
        }
        anchor.reset();
        dead.store(true, std::memory_order_release);
        join_all(threads);
        unexpired_after_death += unexpired.load();
        pins_taken += pins.load();
    }
    CHECK(unexpired_after_death == 0);
    CHECK(pins_taken >= anchor_rounds * copiers);
}

TEST_CASE("threads: concurrent first observe() calls join one generation",
          "[threads][weak_anchor]") {
    wrtest::watchdog dog("concurrent first observe()");
    constexpr int observers = 4;
    long not_expired = 0;
    long not_locked = 0;
    for (int round = 0; round < anchor_rounds; ++round) {
        ledger target;
        weakref::weak_anchor<ledger> anchor(&target);
        std::vector<weakref::observer<ledger>> made(observers);
        auto threads = start_threads(
            observers, [&](int i) { made[static_cast<std::size_t>(i)] = anchor.observe(); });
        join_all(threads);
        for (const auto& o : made) {
            not_locked += o.lock().get() == &target ? 0 : 1;
        }
        // One invalidate() reaches them all: no observe() kept a block of its own.
        anchor.invalidate();
        for (const auto& o : made) {
            not_expired += o.expired() ? 0 : 1;
        }
    }
    CHECK(not_locked == 0);
    CHECK(not_expired == 0);
}

TEST_CASE("threads: observe() under a pin while invalidate() waits returns an expired observer",
          "[threads][weak_anchor]") {
    wrtest::watchdog dog("observe() under a pin against invalidate()");
    struct target {
        weakref::weak_anchor<target> anchor{this};
    };
    long wrong = 0;
    for (int round = 0; round < anchor_rounds; ++round) {
        target t;
        weakref::observer<target> o = t.anchor.observe();
        std::atomic<bool> pinned{false};
        std::atomic<bool> late_expired{false};
        std::thread reader([&] {
            weakref::pinned<target> pin = o.lock();
            pinned.store(true, std::memory_order_release);
            while (!o.expired()) {
                std::this_thread::yield();
            }
            // invalidate() is waiting for this pin: the anchor still has the old generation.
            late_expired.store(pin->anchor.observe().expired());
        });
        wait_for(pinned);
        t.anchor.invalidate();
        reader.join();
        if (!late_expired.load()) {
            ++wrong;
        }
        // After invalidate() returned, observe() starts the next generation.
        if (t.anchor.observe().lock().get() != &t) {
            ++wrong;
        }
    }
    CHECK(wrong == 0);
}
