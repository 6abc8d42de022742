// SPDX-License-Identifier: MIT
// weak_value_map::keep_recent under threads: readers sharing the tier, removals racing the
// uses that would put a removed value back, and n changed while threads read.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using weakref::make_ref;
using weakref::ref;
using weakref::weak_ref;

using wrtest::problems;
using wrtest::run_threads;
using wrtest::spin_barrier;

struct doc_tag {};
using doc = wrtest::counted<doc_tag>;
using docs = wrtest::count_scope<doc>;

} // namespace

TEST_CASE("threads: readers of a map with a strong tier find every value it keeps",
          "[threads][keep_recent]") {
    wrtest::watchdog dog("readers sharing the tier");
    problems bad;
    docs counts;
    {
        weakref::weak_value_map<int, doc> m;
        m.keep_recent(1024); // 64 per shard: more than the 64 keys, so nothing is pushed out
        for (int k = 0; k < 64; ++k) {
            m.insert(k, make_ref<doc>(k)); // held by the tier alone
        }
        run_threads(4, bad, [&](int t) {
            std::mt19937 rng(31U + static_cast<unsigned>(t));
            for (int i = 0; i < 20000; ++i) {
                // A hot key now and then, the others at random: the tier's shortcut and its
                // move-to-front both run on every thread.
                const int k = i % 3 == 0 ? 7 : static_cast<int>(rng() % 64);
                ref<doc> d = m.get(k);
                bad.expect(d && d->value == k, "a kept value was not found", k);
            }
        });
        CHECK(m.size() == 64);
        CHECK(counts.alive() == 64);
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(counts.alive() == 0); // the map's destruction released the tier
}

namespace {
/// A round: the key's value is inserted and held by the tier alone; readers get it (each get a
/// use that puts it back in the tier) while one thread removes it by `remove`. Once the round
/// is over the value must be dead: a removal drops it from the tier, and a use that raced the
/// removal must not have put it back for good.
template <class Remove> void removal_races_uses(const char* what, Remove remove) {
    wrtest::watchdog dog(what);
    problems bad;
    docs counts;
    weakref::weak_value_map<int, doc> m;
    m.keep_recent(64);
    constexpr int readers = 3;
    constexpr int rounds = 1500;
    spin_barrier barrier(readers + 2);
    std::atomic<bool> removed{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < readers; ++t) {
        pool.emplace_back([&, t] {
            for (int r = 0; r < rounds; ++r) {
                barrier.arrive_and_wait();
                const int key = r % 8;
                for (int spin = 0; spin < 200 && !removed.load(); ++spin) {
                    ref<doc> d = m.get(key);
                    bad.expect(!d || d->value == r, "get returned another round's value", r);
                }
                static_cast<void>(t);
                barrier.arrive_and_wait();
            }
        });
    }
    pool.emplace_back([&] {
        for (int r = 0; r < rounds; ++r) {
            barrier.arrive_and_wait();
            std::this_thread::yield();
            remove(m, r % 8, r);
            removed.store(true);
            barrier.arrive_and_wait();
        }
    });
    for (int r = 0; r < rounds; ++r) {
        weak_ref<doc> w;
        {
            ref<doc> d = make_ref<doc>(r);
            w = d;
            m.insert_or_assign(r % 8, std::move(d));
        }
        removed.store(false);
        barrier.arrive_and_wait();
        barrier.arrive_and_wait();
        // A replacement (insert_or_assign) leaves a new value: drop it too, then look.
        m.erase(r % 8);
        bad.expect(w.expired(), "a removed value stayed alive in the tier", r);
    }
    for (auto& t : pool) {
        t.join();
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(m.empty());
    CHECK(counts.alive() == 0);
}
} // namespace

TEST_CASE("threads: an erase racing gets leaves its value out of the tier",
          "[threads][keep_recent]") {
    removal_races_uses("erase racing gets", [](weakref::weak_value_map<int, doc>& m, int key,
                                               int /*round*/) { m.erase(key); });
}

TEST_CASE("threads: a take racing gets leaves its value out of the tier",
          "[threads][keep_recent]") {
    removal_races_uses("take racing gets", [](weakref::weak_value_map<int, doc>& m, int key,
                                              int /*round*/) { static_cast<void>(m.take(key)); });
}

TEST_CASE("threads: an assignment racing gets leaves the replaced value out of the tier",
          "[threads][keep_recent]") {
    removal_races_uses("insert_or_assign racing gets",
                       [](weakref::weak_value_map<int, doc>& m, int key, int round) {
                           m.insert_or_assign(key, make_ref<doc>(round));
                       });
}

TEST_CASE("threads: clear racing gets leaves the tier empty", "[threads][keep_recent]") {
    removal_races_uses("clear racing gets", [](weakref::weak_value_map<int, doc>& m, int /*key*/,
                                               int /*round*/) { m.clear(); });
}

TEST_CASE("threads: n changed while threads read, insert and let values go",
          "[threads][keep_recent]") {
    wrtest::watchdog dog("keep_recent changed under load");
    problems bad;
    docs counts;
    weakref::weak_value_map<int, doc> m;
    std::atomic<bool> stop{false};
    std::thread tuner([&] {
        const std::size_t settings[] = {0, 16, 1, 64, 0, 200, 3};
        for (int i = 0; i < 400; ++i) {
            m.keep_recent(settings[static_cast<std::size_t>(i) % 7]);
            std::this_thread::yield();
        }
        stop.store(true);
    });
    run_threads(3, bad, [&](int t) {
        std::mt19937 rng(5U + static_cast<unsigned>(t));
        while (!stop.load()) {
            const int k = static_cast<int>(rng() % 128);
            switch (rng() % 4) {
            case 0:
                m.insert(k, make_ref<doc>(k));
                break;
            case 1: {
                ref<doc> d = m.get_or_emplace(k, k);
                bad.expect(d && d->value == k, "get_or_emplace returned another value", k);
                break;
            }
            case 2:
                m.erase(k);
                break;
            default: {
                ref<doc> d = m.get(k);
                bad.expect(!d || d->value == k, "get returned another value", k);
                break;
            }
            }
        }
    });
    tuner.join();
    m.keep_recent(0);
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(counts.alive() == 0); // with n == 0 nothing holds them
    CHECK(m.empty());
}

TEST_CASE("threads: values pushed out of the tier die on the reading thread and may use the map",
          "[threads][keep_recent][death]") {
    wrtest::watchdog dog("evictions whose destructors use the map");
    problems bad;
    struct page {
        explicit page(int v, weakref::weak_value_map<int, page>* map) : value(v), m(map) {}
        page(const page&) = delete;
        page& operator=(const page&) = delete;
        ~page() {
            // Inside a death: the map is usable (no lock of it is held here).
            static_cast<void>(m->contains(value + 1));
            static_cast<void>(m->get(value + 2));
        }
        int value;
        weakref::weak_value_map<int, page>* m;
    };
    weakref::weak_value_map<int, page> m;
    m.keep_recent(16); // one per shard: uses push values out all the time
    run_threads(4, bad, [&](int t) {
        std::mt19937 rng(11U + static_cast<unsigned>(t));
        for (int i = 0; i < 4000; ++i) {
            const int k = static_cast<int>(rng() % 64);
            ref<page> p = m.get_or_emplace(k, k, &m);
            bad.expect(p && p->value == k, "get_or_emplace returned another value", k);
        }
    });
    m.keep_recent(0);
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(m.empty());
}

namespace {
// An equality that, on threads that ask for it, stops inside the map's shard lock until told to
// go on: it holds an erase between its decision about the tier and its removal of the entry.
struct held_equal {
    static inline thread_local bool holds = false;
    static inline std::atomic<int> state{0}; // 1: an erase is held inside; 2: let it go
    bool operator()(int a, int b) const {
        if (holds && state.load() == 0) {
            state.store(1);
            while (state.load() != 2) {
                std::this_thread::yield();
            }
        }
        return a == b;
    }
};
using held_map = weakref::weak_value_map<int, doc, std::hash<int>, held_equal>;

/// keep_recent(n) turned on while `remove` (on another thread) is between its look at the tier
/// and its removal of key 1's value, and a get putting the value into the tier meanwhile: the
/// value must still leave the tier with the entry. `key_stays`: `remove` maps key 1 to another
/// value (an assignment) instead of removing it.
template <class Remove>
void removal_racing_keep_recent(const char* what, Remove remove, bool key_stays = false) {
    wrtest::watchdog dog(what);
    docs counts;
    held_map m;
    ref<doc> v = make_ref<doc>(1);
    const weak_ref<doc> w(v);
    m.insert(1, v);
    held_equal::state.store(0);
    std::thread remover([&] {
        held_equal::holds = true;
        remove(m);
    });
    while (held_equal::state.load() != 1) {
        std::this_thread::yield();
    }
    m.keep_recent(16);
    CHECK(m.get(1) == v); // a lock-free lookup: the value goes into the tier
    held_equal::state.store(2);
    remover.join();
    v = ref<doc>();
    CHECK(m.contains(1) == key_stays);
    CHECK(w.expired()); // the tier let it go with its entry
}
} // namespace

TEST_CASE("threads: an assignment whose start saw no tier still takes the value it replaces out "
          "of it",
          "[threads][keep_recent]") {
    // With no listener and no tier at its start, an assignment takes the path that builds no
    // graveyard: it too must take the replaced value out of lists made meanwhile.
    const ref<doc> other = make_ref<doc>(2);
    removal_racing_keep_recent(
        "insert_or_assign racing keep_recent",
        [&](held_map& m) { CHECK_FALSE(m.insert_or_assign(1, other)); }, true);
}

TEST_CASE("threads: an erase whose start saw no tier still takes its value out of it",
          "[threads][keep_recent]") {
    removal_racing_keep_recent("erase racing keep_recent", [](held_map& m) { m.erase(1); });
}

TEST_CASE("threads: an erase_if whose start saw no tier still takes its values out of it",
          "[threads][keep_recent]") {
    removal_racing_keep_recent("erase_if racing keep_recent", [](held_map& m) {
        CHECK(m.erase_if([](int /*key*/, const doc& /*value*/) { return true; }) == 1);
    });
}
