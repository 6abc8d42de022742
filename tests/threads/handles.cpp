// SPDX-License-Identifier: MIT
// The thread-safe handles and death callbacks under threads: lock() against the last release,
// copies from many threads, on_death/detach against death, scoped_finalizer waiting.
#include "support/catch.hpp"
#include "support/counting.hpp"

#include <weakref/weakref.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace {

/// Iterations small enough that each case stays well under a few seconds under TSan.
constexpr int race_rounds = 500;

/// Spins until `flag` is set; yields, so that TSan and few cores are fine.
void wait_for(const std::atomic<bool>& flag) {
    while (!flag.load(std::memory_order_acquire)) {
        std::this_thread::yield();
    }
}

/// Starts `n` threads at once on `fn(i)` and joins them.
template <class F> void run_threads(int n, F fn) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            ++ready;
            wait_for(go);
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

/// An object that checks it is used only while alive: a dead one carries the poison value.
struct checked_tag {};
using checked = wrtest::counted<checked_tag>;

} // namespace

TEST_CASE("threads: lock() racing the last release either wins or fails, never resurrects",
          "[threads][weak_ref][hazard-10]") {
    wrtest::count_scope<checked> scope;
    long wins = 0;
    long bad = 0;
    for (int round = 0; round < race_rounds; ++round) {
        auto r = weakref::make_ref<checked>(round);
        weakref::weak_ref<checked> w = r;
        std::atomic<bool> locking{false};
        long round_wins = 0;
        long round_bad = 0;
        std::thread locker([&] {
            // lock() again and again until it fails: the last release happens meanwhile.
            while (auto l = w.lock()) {
                locking.store(true, std::memory_order_release);
                ++round_wins;
                // A won lock() holds a live, intact object for as long as it is kept.
                if (l->value != round || l.use_count() < 1) {
                    ++round_bad;
                }
            }
            // Once lock() failed, the object is gone for good.
            for (int k = 0; k < 10; ++k) {
                if (w.lock() || !w.expired()) {
                    ++round_bad;
                }
            }
        });
        wait_for(locking);
        r.reset(); // races the locker's lock() and its release of the won refs
        locker.join();
        if (!w.expired() || w.lock()) {
            ++round_bad; // nobody holds it: it must be dead, and stay dead
        }
        wins += round_wins;
        bad += round_bad;
    }
    INFO("lock() won " << wins << " times in " << race_rounds << " rounds");
    CHECK(bad == 0);
    CHECK(wins >= race_rounds);
    CHECK(scope.made() == race_rounds);
    CHECK(scope.alive() == 0);
}

TEST_CASE("threads: many threads copy, lock and drop handles to one object",
          "[threads][ref][hazard-12]") {
    wrtest::count_scope<checked> scope;
    constexpr int threads = 4;
    constexpr int per_thread = 5000;
    auto r = weakref::make_ref<checked>(7);
    weakref::weak_ref<checked> w = r;
    std::atomic<long> bad{0};
    run_threads(threads, [&](int i) {
        weakref::ref<checked> mine = r; // copying a shared const handle is allowed
        for (int k = 0; k < per_thread; ++k) {
            weakref::ref<checked> copy = mine;
            weakref::weak_ref<checked> wc = copy;
            weakref::ref<checked> l = wc.lock();
            if (!l || l->value != 7) {
                ++bad;
            }
            if ((k + i) % 3 == 0) {
                weakref::weak_ref<checked> w2 = w;
                if (w2.expired()) {
                    ++bad;
                }
            }
        }
    });
    CHECK(bad == 0);
    CHECK(r.use_count() == 1);
    CHECK(r.weak_count() == 1);
    r.reset();
    CHECK(scope.alive() == 0);
    CHECK(w.expired());
}

TEST_CASE("threads: the last strong handle dropped on any thread destroys the object once",
          "[threads][ref][hazard-12]") {
    wrtest::count_scope<checked> scope;
    constexpr int threads = 4;
    std::atomic<long> callbacks{0};
    std::atomic<long> misread{0};
    for (int round = 0; round < race_rounds / 4; ++round) {
        auto r = weakref::make_ref<checked>(round);
        weakref::weak_ref<checked> w = r;
        auto f = weakref::on_death(r, [&] { ++callbacks; });
        std::vector<weakref::ref<checked>> copies(threads, r);
        r.reset();
        run_threads(threads, [&](int i) {
            // Read through the object before dropping: the destructor (which writes the value)
            // must come after every other thread's read (TSan checks the ordering).
            if (copies[static_cast<std::size_t>(i)]->value != round) {
                ++misread;
            }
            copies[static_cast<std::size_t>(i)].reset();
        });
        CHECK(w.expired());
    }
    CHECK(misread == 0);
    CHECK(callbacks == race_rounds / 4);
    CHECK(scope.alive() == 0);
    CHECK(scope.made() == race_rounds / 4);
}

TEST_CASE("threads: callbacks run on the thread that releases the last strong ref",
          "[threads][finalizer]") {
    for (int round = 0; round < 20; ++round) {
        auto r = weakref::make_ref<int>(round);
        std::thread::id callback_thread;
        std::thread::id releasing_thread;
        std::vector<weakref::finalizer> fins;
        fins.push_back(weakref::on_death(r, [&] { callback_thread = std::this_thread::get_id(); }));
        auto copy = r;
        std::thread releaser([&, mine = std::move(copy)]() mutable {
            releasing_thread = std::this_thread::get_id();
            mine.reset();
        });
        // Whichever of the two drops last runs the callback.
        r.reset();
        const std::thread::id main_thread = std::this_thread::get_id();
        releaser.join();
        REQUIRE(callback_thread != std::thread::id());
        CHECK((callback_thread == main_thread || callback_thread == releasing_thread));
    }
    // Deterministic: only the other thread holds a strong ref.
    auto r = weakref::make_ref<int>(1);
    std::thread::id callback_thread;
    std::thread::id releasing_thread;
    auto f = weakref::on_death(r, [&] { callback_thread = std::this_thread::get_id(); });
    std::thread releaser([&, mine = std::move(r)]() mutable {
        releasing_thread = std::this_thread::get_id();
        mine.reset();
    });
    releaser.join();
    CHECK(callback_thread == releasing_thread);
    CHECK(callback_thread != std::this_thread::get_id());
}

TEST_CASE("threads: on_death and detach racing the death have exactly one outcome each",
          "[threads][finalizer][hazard-9]") {
    constexpr int callbacks_per_object = 8;
    long ran_total = 0;
    long detached_total = 0;
    long bad = 0;
    for (int round = 0; round < race_rounds; ++round) {
        auto r = weakref::make_ref<int>(round);
        std::vector<std::atomic<int>> ran(callbacks_per_object);
        std::vector<weakref::finalizer> fins;
        for (int i = 0; i < callbacks_per_object; ++i) {
            ran[static_cast<std::size_t>(i)] = 0;
            fins.push_back(weakref::on_death(r, [&ran, i] { ++ran[static_cast<std::size_t>(i)]; }));
        }
        std::vector<int> detached(callbacks_per_object, 0);
        std::atomic<bool> go{false};
        std::thread detacher([&] {
            wait_for(go);
            for (int i = 0; i < callbacks_per_object; i += 2) {
                detached[static_cast<std::size_t>(i)] += fins[static_cast<std::size_t>(i)].detach();
                // a second detach() never says true again
                detached[static_cast<std::size_t>(i)] += fins[static_cast<std::size_t>(i)].detach();
            }
        });
        std::thread runner([&] {
            wait_for(go);
            for (int i = 1; i < callbacks_per_object; i += 2) {
                (void)fins[static_cast<std::size_t>(i)](); // runs it now, or finds it ran
            }
        });
        go.store(true, std::memory_order_release);
        r.reset();
        detacher.join();
        runner.join();
        for (int i = 0; i < callbacks_per_object; ++i) {
            const int runs = ran[static_cast<std::size_t>(i)].load();
            const int dets = detached[static_cast<std::size_t>(i)];
            if (runs + dets != 1) {
                ++bad;
            }
            ran_total += runs;
            detached_total += dets;
            if (fins[static_cast<std::size_t>(i)].alive()) {
                ++bad;
            }
        }
    }
    INFO("ran " << ran_total << ", detached " << detached_total);
    CHECK(bad == 0);
    CHECK(ran_total + detached_total == long{race_rounds} * callbacks_per_object);
}

TEST_CASE("threads: on_death registered while other threads drop their refs runs once",
          "[threads][finalizer]") {
    std::atomic<long> bad{0};
    for (int round = 0; round < race_rounds / 4; ++round) {
        auto r = weakref::make_ref<int>(round);
        std::atomic<int> runs{0};
        std::vector<weakref::finalizer> fins(3);
        std::vector<weakref::ref<int>> refs(3, r);
        r.reset();
        run_threads(3, [&](int i) {
            auto& mine = refs[static_cast<std::size_t>(i)];
            fins[static_cast<std::size_t>(i)] = weakref::on_death(mine, [&] { ++runs; });
            mine.reset();
        });
        if (runs.load() != 3) {
            ++bad;
        }
    }
    CHECK(bad == 0);
}

TEST_CASE("threads: a scoped_finalizer destroyed while its callback runs waits for it",
          "[threads][scoped_finalizer][hazard-9]") {
    for (int round = 0; round < 20; ++round) {
        auto r = weakref::make_ref<int>(round);
        std::atomic<bool> started{false};
        std::atomic<bool> finished{false};
        int side_effect = 0; // written by the callback only; read after the destructor
        auto s = std::make_unique<weakref::scoped_finalizer>(weakref::on_death(r, [&] {
            started.store(true, std::memory_order_release);
            // Long enough that the destructor surely starts while we are still here.
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            side_effect = 42;
            finished.store(true, std::memory_order_release);
        }));
        std::thread killer([&] { r.reset(); });
        wait_for(started);
        CHECK_FALSE(finished.load()); // the callback is provably still running
        s.reset();                    // must wait for the callback to return
        const bool finished_when_destructor_returned = finished.load(std::memory_order_acquire);
        const int seen = side_effect; // TSan: ordered by the destructor's wait
        killer.join();
        REQUIRE(finished_when_destructor_returned);
        REQUIRE(seen == 42);
    }
}

TEST_CASE("threads: a scoped_finalizer destroyed while another callback of the object runs "
          "never runs",
          "[threads][scoped_finalizer]") {
    for (int round = 0; round < 50; ++round) {
        auto r = weakref::make_ref<int>(round);
        std::atomic<int> mine_ran{0};
        auto s =
            std::make_unique<weakref::scoped_finalizer>(weakref::on_death(r, [&] { ++mine_ran; }));
        std::atomic<bool> started{false};
        std::atomic<bool> release{false};
        // Newer, so it runs first and holds the death until we let it go.
        auto blocker = weakref::on_death(r, [&] {
            started.store(true, std::memory_order_release);
            wait_for(release);
        });
        std::thread killer([&] { r.reset(); });
        wait_for(started);
        s.reset(); // detaches the not-yet-run callback
        release.store(true, std::memory_order_release);
        killer.join();
        REQUIRE(mine_ran.load() == 0);
    }
}

TEST_CASE("threads: weak_refs made and dropped during the death", "[threads][weak_ref]") {
    wrtest::count_scope<checked> scope;
    std::atomic<long> bad{0};
    for (int round = 0; round < race_rounds / 4; ++round) {
        auto r = weakref::make_ref<checked>(round);
        weakref::weak_ref<checked> w = r;
        std::atomic<bool> go{false};
        std::thread observer([&] {
            wait_for(go);
            for (int k = 0; k < 20; ++k) {
                weakref::weak_ref<checked> copy = w;
                auto l = copy.lock();
                if (l && l->value != round) {
                    ++bad;
                }
            }
        });
        go.store(true, std::memory_order_release);
        r.reset();
        observer.join();
        if (!w.expired()) {
            ++bad;
        }
    }
    CHECK(bad == 0);
    CHECK(scope.alive() == 0);
}
