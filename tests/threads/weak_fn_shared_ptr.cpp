// SPDX-License-Identifier: MIT
// weak_fn and to_shared_ptr under threads: calls racing the referent's death, a std::shared_ptr
// family dropped on several threads.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace {

/// Rounds small enough that each case stays well under a few seconds under TSan.
constexpr int rounds = 200;
constexpr int threads_per_round = 4;

struct checked_tag {};
using checked = wrtest::counted<checked_tag>;

/// Starts `n` threads on `fn(i)` together and joins them.
template <class F> void run_threads(int n, F fn) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            ++ready;
            while (!go.load(std::memory_order_acquire)) {
                std::this_thread::yield();
            }
            fn(i);
        });
    }
    while (ready.load() != n) {
        std::this_thread::yield();
    }
    go.store(true, std::memory_order_release);
    for (auto& t : threads) {
        t.join();
    }
}

} // namespace

TEST_CASE("threads: const calls of one weak_fn racing the referent's death see it alive or do "
          "nothing",
          "[threads][weak_fn]") {
    wrtest::watchdog dog("weak_fn calls racing the death");
    wrtest::count_scope<checked> scope;
    long bad = 0;
    long live_calls = 0;
    int rounds_run = 0;
    // Bounded in time too: on a loaded machine (or under TSan) a round can wait for the killer
    // to be scheduled; at least 20 rounds run.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int round = 0; round < rounds; ++round) {
        if (round >= 20 && std::chrono::steady_clock::now() > deadline) {
            break;
        }
        ++rounds_run;
        auto r = weakref::make_ref<checked>(round);
        const auto f = weakref::weak_fn(
            r, [](const checked& c, int expected) { return c.value == expected; }, round);
        std::atomic<long> round_bad{0};
        std::atomic<long> round_live{0};
        std::atomic<bool> started{false};
        std::thread killer([&] {
            while (!started.load(std::memory_order_acquire)) {
                std::this_thread::yield();
            }
            r.reset(); // the death races the calls
        });
        run_threads(threads_per_round, [&](int) {
            for (;;) {
                std::optional<bool> seen = f(); // the const call, on one weak_fn from all threads
                started.store(true, std::memory_order_release);
                if (!seen) {
                    break;
                }
                ++round_live;
                if (!*seen) {
                    ++round_bad; // the call reached a dead or foreign object
                }
            }
            if (f() || !f.expired()) {
                ++round_bad; // once a call found it dead, it stays dead
            }
        });
        killer.join();
        bad += round_bad.load();
        live_calls += round_live.load();
    }
    CHECK(bad == 0);
    CHECK(rounds_run >= 20);
    CHECK(live_calls >= rounds_run); // at least one live call per round (started is set after one)
    CHECK(scope.alive() == 0);
}

TEST_CASE("threads: a to_shared_ptr family copied and dropped on several threads releases its "
          "one ref once",
          "[threads][shared_ptr]") {
    wrtest::watchdog dog("to_shared_ptr family dropped on several threads");
    wrtest::count_scope<checked> scope;
    long bad = 0;
    for (int round = 0; round < rounds; ++round) {
        auto r = weakref::make_ref<checked>(round);
        weakref::weak_ref<checked> w = r;
        auto sp = weakref::to_shared_ptr(std::move(r));
        std::vector<std::shared_ptr<checked>> copies(threads_per_round, sp);
        sp.reset();
        std::atomic<long> round_bad{0};
        run_threads(threads_per_round, [&](int i) {
            auto mine = std::move(copies[static_cast<std::size_t>(i)]);
            auto more = mine; // copied on this thread too
            if (mine->value != round || w.expired()) {
                ++round_bad; // the family holds the object while a copy lives
            }
            mine.reset();
            more.reset(); // one of the threads drops the last copy and runs the death
        });
        if (!w.expired() || w.use_count() != 0) {
            ++round_bad;
        }
        bad += round_bad.load();
    }
    CHECK(bad == 0);
    CHECK(scope.made() == rounds);
    CHECK(scope.destroyed() == rounds); // each object died once, after its family's last copy
}
