// SPDX-License-Identifier: MIT
// The thread-safe containers under threads: shared use, racing get_or_insert, snapshots while
// referents die, and erase, clear, detach and destruction racing the deaths of their entries.
#include "support/containers.hpp"
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/keys.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using weakref::make_ref;
using weakref::ref;
using weakref::weak_ref;
using wrtest::lockstep;
using wrtest::problems;
using wrtest::run_threads;
using wrtest::spin_barrier;
using wrtest::wait_for;

/// Spins until the referent of `w` has died: a snapshot taken by another thread may hold it a
/// moment longer than its owner does.
template <class T> void wait_until_expired(const weak_ref<T>& w) {
    while (!w.expired()) {
        std::this_thread::yield();
    }
}

/// Slots of refs shared between threads, one mutex each.
template <class T, std::size_t N> class shared_pool {
public:
    static constexpr std::size_t size = N;
    ref<T> get(std::size_t i) {
        std::lock_guard<std::mutex> lock(slots_[i].mutex);
        return slots_[i].r;
    }
    /// Puts `r` in slot `i`; returns the previous ref, for the caller to drop after the lock.
    ref<T> exchange(std::size_t i, ref<T> r) {
        std::lock_guard<std::mutex> lock(slots_[i].mutex);
        std::swap(slots_[i].r, r);
        return r;
    }
    void clear() {
        for (std::size_t i = 0; i < N; ++i) {
            exchange(i, ref<T>());
        }
    }

private:
    struct slot {
        std::mutex mutex;
        ref<T> r;
    };
    std::array<slot, N> slots_;
};

int pick(std::mt19937& rng, int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }

constexpr int poison = wrtest::counted<>::poison;

} // namespace

// --- (1) Shared use of one container by several threads ------------------------------------------

namespace {
struct vm_shared_tag {};
using vm_node = wrtest::counted<vm_shared_tag>;
} // namespace

TEST_CASE("threads: a weak_value_map shared by threads that insert, look up, erase and drop "
          "stays consistent and ends empty",
          "[threads][weak_value_map][hazard-2][hazard-6]") {
    wrtest::watchdog dog("a weak_value_map shared by threads");
    wrtest::count_scope<vm_node> scope;
    problems bad;
    constexpr int threads = 4;
    constexpr int iterations = 5000;
    constexpr int own_keys = 8;    // per thread; no other thread touches them
    constexpr int shared_keys = 8; // 0..7, used by every thread
    {
        weakref::weak_value_map<int, vm_node> map;
        run_threads(threads, bad, [&](int t) {
            std::mt19937 rng(1234U + static_cast<unsigned>(t));
            struct own_slot {
                ref<vm_node> held;
                bool in_map = false;
            };
            std::array<own_slot, own_keys> mine{};
            std::vector<ref<vm_node>> kept;
            for (int i = 0; i < iterations; ++i) {
                const int op = pick(rng, 12);
                if (op < 5) {
                    const int j = pick(rng, own_keys);
                    const int key = 1000 * (t + 1) + j;
                    own_slot& s = mine[static_cast<std::size_t>(j)];
                    if (!s.held) {
                        s.held = make_ref<vm_node>(key);
                        bad.expect(map.insert(key, s.held),
                                   "insert of an own key with no live value returned false", key);
                        s.in_map = true;
                    }
                    // Only this thread inserts or erases its own keys, and it holds the value.
                    bad.expect(s.in_map ? map.get(key) == s.held : !map.get(key),
                               "get of an own key", key);
                    bad.expect(map.contains(key) == s.in_map, "contains of an own key", key);
                    if (op == 0 && s.in_map) {
                        bad.expect(map.erase(key), "erase of a live own key returned false", key);
                        s.in_map = false;
                        bad.expect(!map.contains(key) && !map.get(key), "erased own key seen", key);
                    } else if (op == 1 && !s.in_map) {
                        bad.expect(map.insert(key, s.held), "re-insert of an own key", key);
                        s.in_map = true;
                    } else if (op == 2) {
                        bad.expect(!map.insert_or_assign(key, s.held) == s.in_map,
                                   "insert_or_assign of an own key", key);
                        s.in_map = true;
                    } else if (op == 3) {
                        weak_ref<vm_node> w = s.held;
                        s.held.reset();
                        s.in_map = false;
                        wait_until_expired(w); // another thread's snapshot may hold it
                        bad.expect(!map.contains(key) && !map.get(key),
                                   "an own key seen after its value died", key);
                    }
                } else if (op < 10) {
                    const int key = pick(rng, shared_keys);
                    ref<vm_node> v;
                    switch (op) {
                    case 5:
                        v = make_ref<vm_node>(key);
                        map.insert_or_assign(key, v);
                        break;
                    case 6:
                        v = make_ref<vm_node>(key);
                        map.insert(key, v);
                        break;
                    case 7:
                        v = map.get(key);
                        break;
                    case 8:
                        v = map.get_or_insert(key, [key] { return make_ref<vm_node>(key); });
                        bad.expect(static_cast<bool>(v), "get_or_insert returned empty", key);
                        break;
                    default:
                        map.erase(key);
                        break;
                    }
                    if (v) {
                        bad.expect(v->value == key, "a shared key's value has another key",
                                   v->value);
                    }
                    if (v && pick(rng, 2) == 0) {
                        kept.push_back(std::move(v));
                    }
                    if (kept.size() > 4) {
                        kept.erase(kept.begin() + pick(rng, static_cast<int>(kept.size())));
                    }
                } else if (op == 10) {
                    for (const auto& item : map.items()) {
                        bad.expect(item.second && item.second->value == item.first,
                                   "items(): a value that is dead or not its key's", item.first);
                    }
                    for (const auto& v : map.values()) {
                        bad.expect(v && v->value != poison, "values(): a dead value");
                    }
                } else {
                    const std::size_t n = map.size();
                    bad.expect(n <= std::size_t{threads * own_keys + shared_keys},
                               "size() beyond every key", static_cast<long>(n));
                }
            }
        });
        // Every ref died with its thread.
        CHECK(map.size() == 0);
        CHECK(map.empty());
        CHECK(map.items().empty());
        CHECK(map.keys().empty());
        CHECK(map.values().empty());
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(scope.made() > 0);
    CHECK(scope.alive() == 0);
}

namespace {
struct km_shared_key_tag {};
struct km_shared_value_tag {};
using km_key = wrtest::counted<km_shared_key_tag>;
using km_value = wrtest::counted<km_shared_value_tag>;
} // namespace

TEST_CASE("threads: a weak_key_map shared by threads that insert, look up, erase and drop "
          "stays consistent and ends empty with every value destroyed",
          "[threads][weak_key_map][hazard-2][hazard-6]") {
    wrtest::watchdog dog("a weak_key_map shared by threads");
    wrtest::count_scope<km_key> keys_scope;
    wrtest::count_scope<km_value> values_scope;
    problems bad;
    constexpr int threads = 4;
    constexpr int iterations = 5000;
    constexpr int own_keys = 8;
    {
        weakref::weak_key_map<km_key, km_value> map;
        shared_pool<km_key, 8> pool;
        std::atomic<int> next_id{1};
        run_threads(threads, bad, [&](int t) {
            std::mt19937 rng(5678U + static_cast<unsigned>(t));
            struct own_slot {
                ref<km_key> held;
                bool in_map = false;
            };
            std::array<own_slot, own_keys> mine{};
            for (int i = 0; i < iterations; ++i) {
                const int op = pick(rng, 12);
                if (op < 5) {
                    own_slot& s = mine[static_cast<std::size_t>(pick(rng, own_keys))];
                    if (!s.held) {
                        s.held = make_ref<km_key>(next_id.fetch_add(1));
                        bad.expect(map.insert(s.held, km_value(s.held->value)),
                                   "insert of a new key returned false", s.held->value);
                        s.in_map = true;
                    }
                    const int id = s.held->value;
                    const std::optional<km_value> got = map.get(s.held);
                    bad.expect(s.in_map ? got && got->value == id : !got, "get of an own key", id);
                    bad.expect(map.contains(s.held) == s.in_map, "contains of an own key", id);
                    if (op == 0 && s.in_map) {
                        bad.expect(map.erase(s.held), "erase of a live own key returned false", id);
                        bad.expect(!map.erase(s.held), "a second erase returned true", id);
                        s.in_map = false;
                    } else if (op == 1 && !s.in_map) {
                        bad.expect(map.insert(s.held, km_value(id)), "re-insert of an own key", id);
                        s.in_map = true;
                    } else if (op == 2) {
                        bad.expect(!map.insert_or_assign(s.held, km_value(id)) == s.in_map,
                                   "insert_or_assign of an own key", id);
                        s.in_map = true;
                    } else if (op == 3) {
                        // The weak_ref keeps the address from being reused by a new key.
                        weak_ref<km_key> w = s.held;
                        const km_key* raw = s.held.get();
                        s.held.reset();
                        s.in_map = false;
                        wait_until_expired(w);
                        bad.expect(!map.contains(raw) && !map.get(raw),
                                   "a key seen after its death", id);
                    }
                } else if (op < 10) {
                    const auto slot = static_cast<std::size_t>(pick(rng, pool.size));
                    ref<km_key> k = pool.get(slot);
                    if (!k || op == 5) {
                        k = make_ref<km_key>(next_id.fetch_add(1));
                        pool.exchange(slot, k); // the old key may die here
                    }
                    const int id = k->value;
                    switch (op) {
                    case 6:
                        map.insert(k, km_value(id));
                        break;
                    case 7:
                        map.insert_or_assign(k, km_value(id));
                        break;
                    case 8:
                        map.erase(k);
                        break;
                    default:
                        break;
                    }
                    if (const std::optional<km_value> got = map.get(k)) {
                        bad.expect(got->value == id, "a shared key's value belongs to another", id);
                    }
                } else if (op == 10) {
                    for (const auto& item : map.items()) {
                        bad.expect(item.first && item.first->value != poison &&
                                       item.first->value == item.second.value,
                                   "items(): a dead key or another key's value", item.second.value);
                    }
                    for (const auto& k : map.keys()) {
                        bad.expect(k && k->value != poison, "keys(): a dead key");
                    }
                } else {
                    // Live keys: each thread's own, the pool's, and one more a thread: the key
                    // its `k` still holds after another thread took it out of the pool, or the
                    // one its own exchange took out and is dropping.
                    const std::size_t n = map.size();
                    bad.expect(n <= std::size_t{threads * (own_keys + 1) + pool.size},
                               "size() beyond every key", static_cast<long>(n));
                }
            }
        });
        pool.clear();
        CHECK(map.size() == 0);
        CHECK(map.empty());
        CHECK(map.items().empty());
        CHECK(map.keys().empty());
        // Every key died, so every value was destroyed, while the map still exists.
        CHECK(values_scope.made() > 0);
        CHECK(values_scope.alive() == 0);
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(keys_scope.alive() == 0);
    CHECK(values_scope.alive() == 0);
}

namespace {
struct ws_shared_tag {};
using ws_node = wrtest::counted<ws_shared_tag>;
} // namespace

TEST_CASE("threads: a weak_set shared by threads that insert, test, erase and drop stays "
          "consistent and ends empty",
          "[threads][weak_set][hazard-2][hazard-6]") {
    wrtest::watchdog dog("a weak_set shared by threads");
    wrtest::count_scope<ws_node> scope;
    problems bad;
    constexpr int threads = 4;
    constexpr int iterations = 5000;
    constexpr int own = 8;
    {
        weakref::weak_set<ws_node> set;
        shared_pool<ws_node, 8> pool;
        run_threads(threads, bad, [&](int t) {
            std::mt19937 rng(9012U + static_cast<unsigned>(t));
            struct own_slot {
                ref<ws_node> held;
                bool in_set = false;
            };
            std::array<own_slot, own> mine{};
            for (int i = 0; i < iterations; ++i) {
                const int op = pick(rng, 11);
                if (op < 5) {
                    own_slot& s = mine[static_cast<std::size_t>(pick(rng, own))];
                    if (!s.held) {
                        s.held = make_ref<ws_node>(t);
                        bad.expect(set.insert(s.held), "insert of a new element returned false");
                        s.in_set = true;
                    }
                    bad.expect(set.contains(s.held) == s.in_set, "contains of an own element");
                    if (op == 0 && s.in_set) {
                        bad.expect(set.erase(s.held), "erase of a live element returned false");
                        s.in_set = false;
                    } else if (op == 1) {
                        bad.expect(set.insert(s.held) != s.in_set, "insert of an own element");
                        s.in_set = true;
                    } else if (op == 2) {
                        weak_ref<ws_node> w = s.held;
                        const ws_node* raw = s.held.get();
                        s.held.reset();
                        s.in_set = false;
                        wait_until_expired(w);
                        bad.expect(!set.contains(raw), "an element seen after its death");
                    }
                } else if (op < 9) {
                    const auto slot = static_cast<std::size_t>(pick(rng, pool.size));
                    ref<ws_node> e = pool.get(slot);
                    if (!e || op == 5) {
                        e = make_ref<ws_node>(100 + t);
                        pool.exchange(slot, e);
                    }
                    if (op == 6) {
                        set.insert(e);
                    } else if (op == 7) {
                        set.erase(e);
                    } else {
                        set.contains(e);
                    }
                } else if (op == 9) {
                    for (const auto& e : set.items()) {
                        bad.expect(e && e->value != poison, "items(): a dead element");
                    }
                } else {
                    // As for the weak_key_map above: one element a thread may be out of the
                    // pool and still alive (its `e`, or the one its exchange is dropping).
                    const std::size_t n = set.size();
                    bad.expect(n <= std::size_t{threads * (own + 1) + pool.size},
                               "size() beyond every element", static_cast<long>(n));
                }
            }
        });
        pool.clear();
        CHECK(set.size() == 0);
        CHECK(set.empty());
        CHECK(set.items().empty());
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(scope.made() > 0);
    CHECK(scope.alive() == 0);
}

// --- (2)-(4) get_or_insert ----------------------------------------------------------------------

namespace {
struct goi_tag {};
using goi_node = wrtest::counted<goi_tag>;
} // namespace

TEST_CASE("threads: get_or_insert racing on one key runs the factory once and gives every "
          "caller the same object",
          "[threads][weak_value_map][hazard-11]") {
    wrtest::watchdog dog("get_or_insert racing on one key");
    wrtest::count_scope<goi_node> scope;
    problems bad;
    constexpr int threads = 4;
    constexpr int rounds = 1000;
    constexpr int key = 7;
    weakref::weak_value_map<int, goi_node> map;
    std::atomic<int> calls{0};
    std::vector<ref<goi_node>> got(threads);
    long rounds_checked = 0;
    lockstep(
        threads, rounds, bad, [&](int) { calls.store(0); },
        [&](int i, int round) {
            got[static_cast<std::size_t>(i)] = map.get_or_insert(key, [&calls, round] {
                calls.fetch_add(1);
                std::this_thread::yield(); // let the others find the creation in flight
                return make_ref<goi_node>(round);
            });
        },
        [&](int round) {
            // The previous round's object died with its refs: each round is a new generation.
            bad.expect(calls.load() == 1, "factory calls in one round, not 1", calls.load());
            for (const auto& r : got) {
                bad.expect(r == got[0], "callers received different objects", round);
                bad.expect(r && r->value == round, "an object of another round", round);
            }
            bad.expect(map.get(key) == got[0], "the map holds another object", round);
            for (auto& r : got) {
                r.reset();
            }
            bad.expect(!map.contains(key) && map.size() == 0, "the entry outlived its value",
                       round);
            ++rounds_checked;
        });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(rounds_checked == rounds);
    CHECK(scope.made() == rounds);
    CHECK(scope.alive() == 0);
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
namespace {
/// A weak_key_map value whose copy throws on the thread that armed it (`armed`).
struct throwing_copy_tag {};
struct throwing_copy {
    explicit throwing_copy(int v) : value(v) {}
    throwing_copy(const throwing_copy& other) : value(other.value.value) {
        if (armed) {
            armed = false;
            throw wrtest::injected_failure();
        }
    }
    throwing_copy& operator=(const throwing_copy&) = default;
    ~throwing_copy() = default;
    wrtest::counted<throwing_copy_tag> value;
    static inline thread_local bool armed = false;
};
} // namespace

TEST_CASE("threads: a waiter of weak_key_map::get_or_insert whose copy of the result throws "
          "leaks nothing",
          "[threads][weak_key_map][needs-exceptions]") {
    // The waiter copies the creation's result under the shard lock; before the fix, a throw
    // there kept its count on the creation, which then never freed itself or its V.
    wrtest::watchdog dog("a waiter's copy of the result throws");
    wrtest::count_scope<wrtest::counted<throwing_copy_tag>> values;
    constexpr int rounds = 20;
    int waiter_threw = 0;
    for (int round = 0; round < rounds; ++round) {
        weakref::weak_key_map<goi_node, throwing_copy> map;
        auto key = make_ref<goi_node>(round);
        std::atomic<bool> in_make{false};
        std::thread creator([&] {
            const throwing_copy got = map.get_or_insert(key, [&] {
                in_make.store(true);
                // Long enough for the waiter to find the creation in flight (if it comes later,
                // it copies from the entry instead: also a throw, also nothing to leak).
                std::this_thread::sleep_for(20ms);
                return throwing_copy(round);
            });
            CHECK(got.value.value == round);
        });
        while (!in_make.load()) {
            std::this_thread::yield();
        }
        std::thread waiter([&] {
            throwing_copy::armed = true;
            try {
                (void)map.get_or_insert(key, [] { return throwing_copy(-1); });
            } catch (const wrtest::injected_failure&) {
                ++waiter_threw;
            }
            throwing_copy::armed = false;
        });
        waiter.join();
        creator.join();
        CHECK(map.size() == 1);
        key.reset();
        CHECK(map.size() == 0);
        weakref::flush_retired();
    }
    CHECK(waiter_threw == rounds);
    weakref::flush_retired();
    CHECK(values.alive() == 0);
}
#endif

TEST_CASE("threads: a slow get_or_insert factory for one key blocks no other key",
          "[threads][weak_value_map][hazard-11]") {
    wrtest::count_scope<goi_node> scope;
    wrtest::watchdog dog("a slow get_or_insert factory for one key blocks no other key");
    weakref::weak_value_map<int, goi_node> map;
    constexpr int slow_key = 0;
    std::atomic<bool> factory_running{false};
    std::atomic<bool> others_done{false};
    std::atomic<bool> factory_gave_up{false};
    std::atomic<bool> creator_returned{false};
    std::atomic<bool> waiter_returned{false};
    std::atomic<bool> waiter_started{false};
    std::atomic<int> waiter_factory_calls{0};
    ref<goi_node> created;
    ref<goi_node> waited;

    std::thread creator([&] {
        created = map.get_or_insert(slow_key, [&] {
            factory_running.store(true);
            // Runs until the main thread is done with the other keys (or 20 s have passed,
            // which means they were blocked).
            const auto deadline = std::chrono::steady_clock::now() + 20s;
            while (!others_done.load() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(1ms);
            }
            factory_gave_up.store(!others_done.load());
            return make_ref<goi_node>(slow_key);
        });
        creator_returned.store(true);
    });
    wait_for(factory_running);
    // A second caller for the slow key waits for the running factory instead of making its own.
    std::thread waiter([&] {
        waiter_started.store(true);
        waited = map.get_or_insert(slow_key, [&] {
            waiter_factory_calls.fetch_add(1);
            return make_ref<goi_node>(-1);
        });
        waiter_returned.store(true);
    });
    wait_for(waiter_started);

    // 64 other keys: some share the slow key's shard, whatever the sharding.
    std::vector<ref<goi_node>> others;
    int wrong = 0;
    for (int k = 1; k <= 64; ++k) {
        ref<goi_node> v = map.get_or_insert(k, [k] { return make_ref<goi_node>(k); });
        ref<goi_node> w = make_ref<goi_node>(1000 + k);
        const bool inserted = map.insert(1000 + k, w);
        const bool consistent = v && v->value == k && inserted && map.get(1000 + k) == w &&
                                map.get(k) == v && map.contains(k) && !map.get(slow_key) &&
                                !map.contains(slow_key);
        wrong += consistent ? 0 : 1;
        others.push_back(std::move(v));
        others.push_back(std::move(w));
    }
    const bool erased = map.erase(1001);
    const std::size_t size = map.size();
    const std::size_t items = map.items().size();
    // Everything above finished while the slow factory was still running: it returns only
    // once others_done is set, below.
    const bool creator_still_running = !creator_returned.load();
    const bool waiter_still_waiting = !waiter_returned.load();
    others_done.store(true);
    creator.join();
    waiter.join();

    CHECK(wrong == 0);
    CHECK(erased);
    CHECK(size == 127);
    CHECK(items == 127);
    CHECK_FALSE(factory_gave_up.load());
    CHECK(creator_still_running);
    CHECK(waiter_still_waiting);
    REQUIRE(created);
    CHECK(created->value == slow_key);
    CHECK(waited == created);
    CHECK(waiter_factory_calls.load() == 0);
    CHECK(map.get(slow_key) == created);
    others.clear();
    created.reset();
    waited.reset();
    CHECK(map.size() == 0);
    CHECK(scope.alive() == 0);
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE("threads: a get_or_insert factory that throws reaches its caller, and the waiting "
          "callers then make exactly one object",
          "[needs-exceptions][threads][weak_value_map][hazard-11]") {
    wrtest::count_scope<goi_node> scope;
    wrtest::watchdog dog("a get_or_insert factory that throws");
    problems bad;
    constexpr int threads = 4;
    constexpr int rounds = 300;
    constexpr int key = 42;
    weakref::weak_value_map<int, goi_node> map;
    std::atomic<bool> started{false};
    std::atomic<int> arrived{0};
    std::atomic<int> thrown{0};
    std::atomic<int> made{0};
    std::vector<ref<goi_node>> got(threads);
    int thrower = 0;
    lockstep(
        threads, rounds, bad,
        [&](int round) {
            started.store(false);
            arrived.store(0);
            thrown.store(0);
            made.store(0);
            thrower = round % threads;
        },
        [&](int i, int round) {
            if (i == thrower) {
                try {
                    map.get_or_insert(key, [&]() -> ref<goi_node> {
                        started.store(true);
                        while (arrived.load() != threads - 1) {
                            std::this_thread::yield();
                        }
                        std::this_thread::sleep_for(1ms); // the others are waiting by now
                        throw std::runtime_error("factory failed");
                    });
                    bad.expect(false, "a throwing factory's caller returned", round);
                } catch (const std::runtime_error&) {
                    thrown.fetch_add(1);
                }
                return;
            }
            wait_for(started);
            arrived.fetch_add(1);
            got[static_cast<std::size_t>(i)] = map.get_or_insert(key, [&made, round] {
                made.fetch_add(1);
                return make_ref<goi_node>(round);
            });
        },
        [&](int round) {
            bad.expect(thrown.load() == 1, "exceptions in one round, not 1", thrown.load());
            bad.expect(made.load() == 1, "objects made in one round, not 1", made.load());
            const ref<goi_node> first = got[static_cast<std::size_t>((thrower + 1) % threads)];
            bad.expect(first && first->value == round, "a waiter got nothing or an old object",
                       round);
            for (int i = 0; i < threads; ++i) {
                const auto& r = got[static_cast<std::size_t>(i)];
                bad.expect(i == thrower ? !r : r == first, "callers received different objects",
                           round);
            }
            bad.expect(map.size() == 1 && map.get(key) == first, "the map does not hold it", round);
            for (auto& r : got) {
                r.reset();
            }
        });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(map.empty());
    CHECK(scope.made() == rounds);
    CHECK(scope.alive() == 0);
}
#endif

// --- (5) Snapshots while referents die ----------------------------------------------------------

namespace {
struct snap_tag {};
struct snap_value_tag {};
using snap_node = wrtest::counted<snap_tag>;
using snap_value = wrtest::counted<snap_value_tag>;
} // namespace

TEST_CASE("threads: snapshots taken while referents die on another thread hold only live "
          "objects",
          "[threads][weak_value_map][weak_key_map][weak_set][hazard-3][hazard-8]") {
    wrtest::watchdog dog("snapshots while referents die");
    wrtest::count_scope<snap_node> scope;
    wrtest::count_scope<snap_value> values_scope;
    problems bad;
    constexpr int rounds = 80;
    constexpr int batch = 24;
    std::atomic<long> seen{0};
    {
        weakref::weak_value_map<int, snap_node> vm;
        weakref::weak_key_map<snap_node, snap_value> km;
        weakref::weak_set<snap_node> ws;
        std::atomic<bool> done{false};
        run_threads(3, bad, [&](int t) {
            if (t == 0) {
                // The killer: fills the containers, then drops every object, in random order.
                std::mt19937 rng(77);
                int id = 0;
                for (int round = 0; round < rounds; ++round) {
                    std::vector<ref<snap_node>> objects;
                    for (int k = 0; k < batch; ++k) {
                        auto r = make_ref<snap_node>(++id);
                        vm.insert(id, r);
                        km.insert(r, snap_value(id));
                        ws.insert(r);
                        objects.push_back(std::move(r));
                    }
                    std::shuffle(objects.begin(), objects.end(), rng);
                    while (!objects.empty()) {
                        objects.pop_back();
                        if (objects.size() % 4 == 0) {
                            std::this_thread::yield();
                        }
                    }
                }
                done.store(true);
                return;
            }
            // The readers: every item of every snapshot is alive and consistent. Dropping a
            // snapshot may release an object's last ref: its death then runs here.
            while (!done.load()) {
                long n = 0;
                for (const auto& item : vm.items()) {
                    bad.expect(item.second && item.second->value == item.first,
                               "weak_value_map::items(): a dead or wrong value", item.first);
                    ++n;
                }
                for (const auto& v : vm.values()) {
                    bad.expect(v && v->value != poison, "weak_value_map::values(): a dead value");
                    ++n;
                }
                for (const auto& item : km.items()) {
                    bad.expect(item.first && item.first->value == item.second.value,
                               "weak_key_map::items(): a dead key or a wrong value",
                               item.second.value);
                    ++n;
                }
                for (const auto& k : km.keys()) {
                    bad.expect(k && k->value != poison, "weak_key_map::keys(): a dead key");
                    ++n;
                }
                for (const auto& e : ws.items()) {
                    bad.expect(e && e->value != poison, "weak_set::items(): a dead element");
                    ++n;
                }
                (void)vm.keys();
                seen.fetch_add(n);
                std::this_thread::yield(); // lock_all on every container: let the killer in
            }
        });
        CHECK(vm.size() == 0);
        CHECK(vm.items().empty());
        CHECK(km.size() == 0);
        CHECK(km.items().empty());
        CHECK(ws.size() == 0);
        CHECK(ws.items().empty());
        CHECK(values_scope.alive() == 0);
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(seen.load() > 0); // the readers did overlap the deaths
    CHECK(scope.made() == rounds * batch);
    CHECK(scope.alive() == 0);
}

// --- (6)-(8) Erase, clear, detach and destruction racing the deaths of their entries
// ---------------

namespace {
struct race_tag {};
struct race_value_tag {};
using race_node = wrtest::counted<race_tag>;
using race_value = wrtest::counted<race_value_tag>;

/// One of each container, on the heap so that a round can destroy them.
struct containers {
    weakref::weak_value_map<int, race_node> vm;
    weakref::weak_key_map<race_node, race_value> km;
    weakref::weak_set<race_node> ws;

    void fill(const ref<race_node>& r) {
        vm.insert(r->value, r);
        km.insert(r, race_value(r->value));
        ws.insert(r);
    }
    [[nodiscard]] std::size_t size() const { return vm.size() + km.size() + ws.size(); }
};

/// What thread A does to the entries while thread B drops the last refs to their objects.
enum class action { erase, clear, destroy, detach };

const char* name_of(action a) {
    switch (a) {
    case action::erase:
        return "erase against death";
    case action::clear:
        return "clear against death";
    case action::destroy:
        return "destruction against death";
    case action::detach:
        return "detach against death";
    }
    return "?";
}

/// Runs `rounds` rounds of: thread B drops the only refs to `batch` objects, each held in three
/// containers and watched by a finalizer, while thread A applies `what` to the same entries.
/// Records in `bad` any object, entry or weak_key_map value left after a round; returns the
/// registrations that ran and those that a detach() took back.
struct race_outcome {
    long registered = 0;
    long ran = 0;
    long detached = 0;
    long callback_saw_entry = 0;
};

race_outcome race_deaths(action what, int rounds, int batch, problems& bad) {
    wrtest::count_scope<race_node> nodes;
    wrtest::count_scope<race_value> values;
    std::unique_ptr<containers> box;
    std::vector<ref<race_node>> victims;               // B's: the only strong refs
    std::vector<weak_ref<race_node>> watched;          // A's: keeps the addresses from reuse
    std::vector<std::pair<int, const race_node*>> ids; // A's: the keys of the entries
    std::vector<weakref::finalizer> finals;            // A's
    std::atomic<long> ran{0};
    std::atomic<long> saw_entry{0};
    race_outcome out;
    std::mt19937 rng(static_cast<unsigned>(what) + 11U);
    const bool touch = what != action::destroy; // the callbacks may use the containers
    lockstep(
        2, rounds, bad,
        [&](int round) {
            box = std::make_unique<containers>();
            for (int k = 0; k < batch; ++k) {
                const int id = round * batch + k;
                auto r = make_ref<race_node>(id);
                box->fill(r);
                containers* c = box.get();
                // Runs after the containers' hooks, on B: the object is gone from them. It
                // takes every shard lock of each container, while A may hold one of them.
                const race_node* p = r.get();
                finals.push_back(weakref::on_death(r, [&ran, &saw_entry, c, touch, id, p] {
                    if (touch) {
                        (void)c->size();
                        if (c->vm.contains(id) || c->km.contains(p) || c->ws.contains(p)) {
                            saw_entry.fetch_add(1);
                        }
                    }
                    ran.fetch_add(1);
                }));
                ++out.registered;
                ids.emplace_back(id, r.get());
                watched.emplace_back(r);
                victims.push_back(std::move(r));
            }
            std::shuffle(victims.begin(), victims.end(), rng);
        },
        [&](int i, int) {
            if (i == 1) {
                while (!victims.empty()) {
                    victims.pop_back(); // each death removes three entries
                }
                return;
            }
            switch (what) {
            case action::erase:
                for (const auto& [key, address] : ids) {
                    box->vm.erase(key);
                    box->km.erase(address);
                    box->ws.erase(address);
                }
                break;
            case action::clear:
                box->vm.clear();
                box->km.clear();
                box->ws.clear();
                break;
            case action::destroy:
                box.reset();
                break;
            case action::detach:
                for (auto& f : finals) {
                    out.detached += f.detach() ? 1 : 0;
                }
                break;
            }
        },
        [&](int round) {
            bad.expect(nodes.alive() == 0, "objects alive after a round", round);
            if (box) {
                bad.expect(box->size() == 0, "entries left after every object died", round);
                bad.expect(box->vm.items().empty() && box->km.items().empty() &&
                               box->ws.items().empty(),
                           "items() not empty after every object died", round);
                box.reset();
            }
            bad.expect(values.alive() == 0, "weak_key_map values alive after a round", round);
            finals.clear();
            watched.clear();
            ids.clear();
        });
    out.ran = ran.load();
    out.callback_saw_entry = saw_entry.load();
    bad.expect(nodes.made() == long{rounds} * batch, "objects made, not rounds * batch",
               nodes.made());
    return out;
}

} // namespace

TEST_CASE("threads: erase, clear or detach on one thread while the entries' objects die on "
          "another never deadlock and leave nothing behind",
          "[threads][weak_value_map][weak_key_map][weak_set][finalizer][hazard-7]") {
    wrtest::watchdog dog("erase, clear or detach against death (hazard 7)");
    problems bad;
    constexpr int rounds = 1500;
    constexpr int batch = 6;
    race_outcome out;
    SECTION("erase") {
        dog.phase(name_of(action::erase));
        out = race_deaths(action::erase, rounds, batch, bad);
    }
    SECTION("clear") {
        dog.phase(name_of(action::clear));
        out = race_deaths(action::clear, rounds, batch, bad);
    }
    SECTION("detach the finalizers") {
        dog.phase(name_of(action::detach));
        out = race_deaths(action::detach, rounds, batch, bad);
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(out.registered == long{rounds} * batch);
    // Each registration had exactly one outcome: it ran, or one detach() returned true.
    CHECK(out.ran + out.detached == out.registered);
    // Container hooks run before user callbacks: no callback finds its object in a container.
    CHECK(out.callback_saw_entry == 0);
}

TEST_CASE("threads: a container destroyed on one thread while its referents die on another "
          "frees nothing twice and leaks nothing",
          "[threads][weak_value_map][weak_key_map][weak_set][hazard-9]") {
    wrtest::watchdog dog("destruction against death (hazard 9)");
    dog.phase(name_of(action::destroy));
    problems bad;
    constexpr int rounds = 1500;
    constexpr int batch = 6;
    const race_outcome out = race_deaths(action::destroy, rounds, batch, bad);
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(out.ran == out.registered);
}

TEST_CASE("threads: clear() and erase() racing the death of the same entry leave it gone and "
          "destroy its weak_key_map value",
          "[threads][weak_value_map][weak_key_map][weak_set][hazard-9]") {
    wrtest::watchdog dog("clear and erase against the death of one entry (hazard 9)");
    wrtest::count_scope<race_node> nodes;
    wrtest::count_scope<race_value> values;
    problems bad;
    constexpr int rounds = 3000;
    containers box;
    ref<race_node> victim;
    weak_ref<race_node> watched;
    int key = 0;
    const race_node* address = nullptr;
    long erased_true = 0;
    lockstep(
        2, rounds, bad,
        [&](int round) {
            victim = make_ref<race_node>(round);
            box.fill(victim);
            watched = victim;
            key = round;
            address = victim.get();
        },
        [&](int i, int round) {
            if (i == 1) {
                victim.reset();
            } else if (round % 2 == 0) {
                erased_true += box.vm.erase(key) ? 1 : 0;
                erased_true += box.km.erase(address) ? 1 : 0;
                erased_true += box.ws.erase(address) ? 1 : 0;
            } else {
                box.ws.clear();
                box.km.clear();
                box.vm.clear();
            }
        },
        [&](int round) {
            bad.expect(watched.expired(), "the object outlived its last ref", round);
            bad.expect(!box.vm.contains(key) && !box.km.contains(address) &&
                           !box.ws.contains(address) && box.size() == 0,
                       "an entry left after the race", round);
            bad.expect(values.alive() == 0, "a weak_key_map value outlived its entry", round);
            watched.reset();
        });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(nodes.made() == rounds);
    CHECK(nodes.alive() == 0);
    CHECK(values.alive() == 0);
    CHECK(values.made() > 0);
    CHECK(box.size() == 0);
    INFO("erase() returned true " << erased_true << " times");
    CHECK(erased_true <= 3L * rounds);
}

namespace {
/// A weak_key_map value that records, for its key's id, how many times and on which thread the
/// value stored in the map was destroyed. Move-only: moved-from values record nothing.
struct tracked_value {
    struct record {
        std::atomic<int> destroyed{0};
        std::atomic<int> by_thread{-1};
    };
    static thread_local int thread_index;

    explicit tracked_value(record* r) noexcept : rec(r) {}
    tracked_value(tracked_value&& other) noexcept : rec(std::exchange(other.rec, nullptr)) {}
    tracked_value& operator=(tracked_value&&) = delete;
    tracked_value(const tracked_value&) = delete;
    tracked_value& operator=(const tracked_value&) = delete;
    ~tracked_value() {
        if (rec != nullptr) {
            rec->destroyed.fetch_add(1);
            rec->by_thread.store(thread_index);
        }
    }
    record* rec;
};
thread_local int tracked_value::thread_index = -1;

struct tracked_key_tag {};
using tracked_key = wrtest::counted<tracked_key_tag>;
} // namespace

TEST_CASE("threads: a weak_key_map value is destroyed exactly once when erase races its key's "
          "death, by the side that won",
          "[threads][weak_key_map][hazard-9][hazard-4]") {
    wrtest::watchdog dog("weak_key_map erase against the key's death (hazard 9)");
    wrtest::count_scope<tracked_key> keys;
    problems bad;
    constexpr int rounds = 1500;
    constexpr int batch = 8;
    weakref::weak_key_map<tracked_key, tracked_value> map;
    std::vector<ref<tracked_key>> victims;
    std::vector<weak_ref<tracked_key>> watched;
    std::vector<const tracked_key*> addresses;
    std::vector<std::unique_ptr<tracked_value::record>> records;
    std::vector<bool> erased(batch);
    long erase_won = 0;
    long death_won = 0;
    lockstep(
        2, rounds, bad,
        [&](int round) {
            records.clear();
            for (int k = 0; k < batch; ++k) {
                auto r = make_ref<tracked_key>(round * batch + k);
                records.push_back(std::make_unique<tracked_value::record>());
                map.insert(r, tracked_value(records.back().get()));
                addresses.push_back(r.get());
                watched.emplace_back(r);
                victims.push_back(std::move(r));
                erased[static_cast<std::size_t>(k)] = false;
            }
            // The erasing thread goes from the first key, the dying one from the last.
        },
        [&](int i, int) {
            tracked_value::thread_index = i;
            if (i == 1) {
                while (!victims.empty()) {
                    victims.pop_back();
                }
                return;
            }
            for (std::size_t k = 0; k < addresses.size(); ++k) {
                erased[k] = map.erase(addresses[k]);
            }
        },
        [&](int round) {
            for (std::size_t k = 0; k < records.size(); ++k) {
                const auto& rec = *records[k];
                bad.expect(rec.destroyed.load() == 1, "a value destroyed other than once",
                           rec.destroyed.load());
                // erase() true: the erasing thread took the entry and destroyed the value;
                // false: the death took it and destroyed the value on the dying thread.
                bad.expect(rec.by_thread.load() == (erased[k] ? 0 : 1),
                           "the value destroyed by the side that did not win", round);
                (erased[k] ? erase_won : death_won) += 1;
            }
            bad.expect(map.size() == 0, "entries left after the round", round);
            addresses.clear();
            watched.clear();
        });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(erase_won + death_won == long{rounds} * batch);
    CHECK(keys.alive() == 0);
    INFO("erase won " << erase_won << ", death won " << death_won);
    CHECK(map.empty());
}

namespace {
struct clear_tag {};
using clear_node = wrtest::counted<clear_tag>;
} // namespace

TEST_CASE("threads: insert_or_assign racing the death of the value it replaces: the new value "
          "is in place, and the result and the one notice say which came first",
          "[threads][weak_value_map][on_remove]") {
    // Each round a fresh key (so that shards grow meanwhile) whose value one thread drops while
    // another assigns it a new one. Either the assignment re-pointed a live value (false, one
    // `replaced`), or the death took the entry first or was under way (true, one `died`).
    // Without a listener the assignment takes the path that builds no graveyard; with one, the
    // general path: both must end the same way.
    wrtest::watchdog dog("insert_or_assign racing the old value's death");
    for (const bool listening : {false, true}) {
        weakref::weak_value_map<int, int> map;
        std::mutex log_mutex;
        std::vector<std::pair<int, weakref::removal_cause>> log;
        if (listening) {
            map.on_remove([&](const int& key, weakref::removal_cause cause) {
                const std::lock_guard<std::mutex> lock(log_mutex);
                log.emplace_back(key, cause);
            });
        }
        constexpr int rounds = 2000;
        std::vector<ref<int>> fresh(rounds);
        ref<int> old;
        bool added = false;
        long replaced_first = 0;
        long died_first = 0;
        problems bad;
        lockstep(
            2, rounds, bad,
            [&](int r) {
                old = make_ref<int>(-r);
                fresh[static_cast<std::size_t>(r)] = make_ref<int>(r);
                map.insert(r, old);
            },
            [&](int i, int r) {
                if (i == 0) {
                    added = map.insert_or_assign(r, fresh[static_cast<std::size_t>(r)]);
                } else {
                    old.reset();
                }
            },
            [&](int r) {
                const auto& value = fresh[static_cast<std::size_t>(r)];
                bad.expect(map.get(r) == value, "the new value is in place", r);
                bad.expect(map.size() == static_cast<std::size_t>(r) + 1, "one entry a key", r);
                bad.expect(value.weak_count() == 1, "the new value held by one entry", r);
                (added ? died_first : replaced_first) += 1;
                if (listening) {
                    const std::lock_guard<std::mutex> lock(log_mutex);
                    bad.expect(log.size() == 1 && log[0].first == r, "one notice a round", r);
                    if (log.size() == 1) {
                        const auto expected =
                            added ? weakref::removal_cause::died : weakref::removal_cause::replaced;
                        bad.expect(log[0].second == expected, "the notice matches the result", r);
                    }
                    log.clear();
                }
            });
        INFO(bad.summary());
        CHECK(bad.count() == 0);
        if (replaced_first == 0 || died_first == 0) {
            // Not a failure (a machine may run the two threads one after the other), but then
            // this run tried one order only.
            WARN("listening " << listening << ": replaced first " << replaced_first
                              << ", died first " << died_first);
        }
    }
}

TEST_CASE("threads: clear() returns while another thread keeps inserting",
          "[threads][weak_set][weak_value_map]") {
    wrtest::watchdog dog("clear against a busy inserter");
    wrtest::count_scope<clear_node> scope;
    std::vector<ref<clear_node>> objects;
    for (int i = 0; i < 64; ++i) {
        objects.push_back(make_ref<clear_node>(i));
    }
    weakref::weak_set<clear_node> set;
    weakref::weak_value_map<int, clear_node> map;
    std::atomic<bool> stop{false};
    std::atomic<long> rounds{0};
    std::thread inserter([&] {
        while (!stop.load()) {
            for (const auto& o : objects) {
                set.insert(o);
                map.insert_or_assign(o->value, o);
            }
            rounds.fetch_add(1);
        }
    });
    while (rounds.load() < 2) {
        std::this_thread::yield();
    }
    // Each clear() removes what it finds and returns, however fast the other thread refills.
    for (int i = 0; i < 200; ++i) {
        set.clear();
        map.clear();
    }
    stop.store(true);
    inserter.join();
    CHECK(set.size() <= objects.size());
    CHECK(map.size() <= objects.size());
    set.clear();
    map.clear();
    CHECK(set.empty());
    CHECK(map.empty());
    CHECK(scope.alive() == 64);
}

TEST_CASE("threads: clear() does not chase entries another thread inserts meanwhile",
          "[threads][weak_key_map]") {
    // Each value's destructor, run by clear() on this thread, has another thread insert a new
    // entry and waits until it has. clear() must return after one pass over its shards:
    // repeating while the map is not empty would chase the other thread's entries (here up to
    // 100 of them).
    wrtest::watchdog dog("clear against a helper inserting from its destructors");
    std::atomic<bool> armed{true};
    std::atomic<int> requests{0};
    std::atomic<int> served{0};
    std::atomic<bool> stop{false};
    weakref::weak_key_map<clear_node, wrtest::last_words> map;
    const std::function<void()> ask = [&] {
        if (!armed.load()) {
            return;
        }
        const int n = requests.fetch_add(1) + 1;
        while (served.load() < n) {
            std::this_thread::yield();
        }
    };
    std::vector<ref<clear_node>> helper_keys;
    std::thread helper([&] {
        int seen = 0;
        while (!stop.load()) {
            if (requests.load() > seen) {
                ++seen;
                if (seen <= 100) {
                    auto k = make_ref<clear_node>(seen);
                    helper_keys.push_back(k);
                    map.insert(k, wrtest::last_words(ask));
                }
                served.store(seen);
            } else {
                std::this_thread::yield();
            }
        }
    });
    auto first = make_ref<clear_node>(0);
    map.insert(first, wrtest::last_words(ask));
    map.clear();
    const int asked = requests.load();
    const std::size_t left = map.size();
    armed.store(false);
    stop.store(true);
    helper.join();
    // An entry the helper puts into a shard that the pass has not reached yet is removed in
    // the same pass (and asks again); one put behind the pass stays. One pass over 16 shards
    // asks at most 16 times; chasing would ask 101 times.
    CHECK(asked >= 1);
    CHECK(asked <= 16);
    CHECK(left == 1);
    map.clear();
    CHECK(map.empty());
}

// --- Replaced values' weak units: released late, but counted exactly -------------------------
//
// An assignment over a live value lets go of the entry's weak unit on it only after the lookups
// that may still stand on its block have ended. Those units wait in the assigning thread's
// reclamation ring without an epoch until the thread seals them (at its next reclaim, retire
// or exit), so weak_count() on another thread must seal them itself before it waits.

TEST_CASE("threads: a value replaced on a thread that is still running is no longer counted by "
          "weak_count() asked on another thread",
          "[threads][weak_value_map][reclamation]") {
    wrtest::watchdog dog("weak_count of a value replaced on a running thread");
    weakref::weak_value_map<int, int> map;
    auto first = make_ref<int>(1);
    auto second = make_ref<int>(2);
    std::atomic<bool> replaced{false};
    std::atomic<bool> checked{false};
    std::thread writer([&] {
        map.insert_or_assign(0, first);
        map.insert_or_assign(0, second); // first's unit now waits in this thread's ring
        replaced.store(true);
        wait_for(checked); // still running: its ring is not handed over
    });
    wait_for(replaced);
    const long first_weak = first.weak_count();
    const long second_weak = second.weak_count();
    checked.store(true);
    writer.join();
    CHECK(first_weak == 0);
    CHECK(second_weak == 1);
    CHECK(map.get(0) == second);
}

TEST_CASE("threads: a value replaced on a thread that has exited is no longer counted by "
          "weak_count()",
          "[threads][weak_value_map][reclamation]") {
    wrtest::watchdog dog("weak_count of a value replaced on an exited thread");
    weakref::weak_value_map<int, int> map;
    auto first = make_ref<int>(1);
    auto second = make_ref<int>(2);
    std::thread writer([&] {
        map.insert_or_assign(0, first);
        map.insert_or_assign(0, second);
    });
    writer.join(); // its ring went to the domain's orphans, sealed
    CHECK(first.weak_count() == 0);
    CHECK(second.weak_count() == 1);
    // And without a weak_count: the value's block is let go of by whoever reclaims next.
    auto third = make_ref<int>(3);
    std::thread again([&] { map.insert_or_assign(0, third); });
    again.join();
    const weak_ref<int> w = second;
    second.reset();
    CHECK(w.expired());
    CHECK(w.weak_count() == 1); // w's own unit: the entry's went with the thread's ring
}

TEST_CASE("threads: weak_count() asked while other threads keep replacing values counts every "
          "value replaced before it as out of the map",
          "[threads][weak_value_map][reclamation]") {
    wrtest::watchdog dog("weak_count racing replacements");
    constexpr int writers = 2;
    constexpr int per_writer = 3000;
    weakref::weak_value_map<int, int> map;
    // Made up front: the checker reads them while the writers run.
    std::vector<std::vector<ref<int>>> values(writers);
    for (int w = 0; w < writers; ++w) {
        for (int i = 0; i < per_writer; ++i) {
            values[static_cast<std::size_t>(w)].push_back(make_ref<int>(i));
        }
    }
    // done[w]: how many of writer w's values are out of the map (replaced by a later one).
    std::array<std::atomic<int>, writers> done{};
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            const auto& mine = values[static_cast<std::size_t>(w)];
            for (int i = 0; i < per_writer; ++i) {
                map.insert_or_assign(w, mine[static_cast<std::size_t>(i)]);
                // release: the replacement of value i - 1 happens before a reader of i.
                done[static_cast<std::size_t>(w)].store(i, std::memory_order_release);
            }
            finished.fetch_add(1);
        });
    }
    int asked = 0;
    int wrong = 0;
    long last_wrong = -1;
    while (finished.load() < writers || asked < 20) {
        for (int w = 0; w < writers; ++w) {
            const int out = done[static_cast<std::size_t>(w)].load(std::memory_order_acquire);
            if (out == 0) {
                continue;
            }
            ++asked;
            const long n =
                values[static_cast<std::size_t>(w)][static_cast<std::size_t>(out - 1)].weak_count();
            if (n != 0) {
                ++wrong;
                last_wrong = n;
            }
        }
        if (asked > 100000) {
            break;
        }
    }
    for (auto& t : threads) {
        t.join();
    }
    CAPTURE(asked, last_wrong);
    CHECK(asked >= 20);
    CHECK(wrong == 0);
    for (int w = 0; w < writers; ++w) {
        const auto& mine = values[static_cast<std::size_t>(w)];
        CHECK(mine.back().weak_count() == 1);
        CHECK(mine[per_writer / 2].weak_count() == 0);
    }
}

namespace {
/// A key's action: once armed, the first live key destroyed runs `during` (inside the flush
/// that frees its entry).
struct run_during {
    static inline std::atomic<bool>* armed = nullptr;
    static inline std::function<void()> during;
    void operator()() const {
        if (armed != nullptr && armed->exchange(false)) {
            during();
        }
    }
};
using slow_key = wrtest::acting_key<run_during>;
} // namespace

TEST_CASE("threads: weak_count() frees a replaced value's unit that reached the orphans behind a "
          "younger item of a thread that exited first",
          "[threads][weak_value_map][reclamation]") {
    // Thread O replaced `first` (its unit waits in O's ring) and waits. The main thread's
    // weak_count() seals that unit and waits out a grace period; while it frees another
    // thread's entry (a slow key), thread X retires an entry (after the seal: too young to
    // free) and exits, then O exits: the orphans hold X's young item, then first's ripe unit.
    // The flush must free the ripe unit behind the young one.
    wrtest::watchdog dog("weak_count and the orphans' order");
    // Flush walks the records newest first, and a thread takes a record an exited thread gave
    // back before it makes one: the two orders in which O and S start cover both cases.
    for (const bool slow_first : {false, true}) {
        CAPTURE(slow_first);
        weakref::weak_value_map<slow_key, int, wrtest::acting_key_hash> slow;
        weakref::weak_value_map<int, int> map;
        const auto v = make_ref<int>(0);
        const auto first = make_ref<int>(1);
        const auto second = make_ref<int>(2);
        std::atomic<int> stage{0};
        std::atomic<int> ready{0};
        const auto wait_stage = [&](int s) {
            while (stage.load() < s) {
                std::this_thread::yield();
            }
        };
        const auto wait_ready = [&](int n) {
            while (ready.load() < n) {
                std::this_thread::yield();
            }
        };
        const auto run_o = [&] {
            map.insert_or_assign(0, first);
            map.insert_or_assign(0, second); // first's unit: in O's ring, unsealed
            ready.fetch_add(1);
            wait_stage(2);
        };
        const auto run_s = [&] {
            slow.insert(slow_key(7, run_during{}), v);
            slow.erase(slow_key(7)); // an entry with a slow key in S's ring
            ready.fetch_add(1);
            wait_stage(3);
        };
        std::thread early(slow_first ? std::function<void()>(run_s) : run_o);
        wait_ready(1);
        std::thread late(slow_first ? std::function<void()>(run_o) : run_s);
        wait_ready(2);
        std::thread& o = slow_first ? late : early;
        std::thread& s = slow_first ? early : late;
        std::thread x([&] {
            map.insert(100, v);
            ready.fetch_add(1);
            wait_stage(1);
            map.erase(100); // retired during the flush; goes to the orphans when X exits
        });
        wait_ready(3);
        std::atomic<bool> armed{true};
        run_during::armed = &armed;
        run_during::during = [&] {
            stage.store(1);
            x.join();
            stage.store(2);
            o.join();
        };
        const long seen = first.weak_count();
        stage.store(3);
        s.join();
        run_during::armed = nullptr;
        run_during::during = nullptr;
        CHECK(seen == 0);
        CHECK(first.weak_count() == 0);
        CHECK(!armed.load()); // the slow key's destructor ran inside that weak_count
    }
}

namespace {
/// A key's action: says it runs (stage 1), then waits for stage 2.
struct hold_free {
    std::atomic<int>* stage = nullptr;
    void operator()() const {
        stage->store(1);
        while (stage->load() < 2) {
            std::this_thread::yield();
        }
    }
};

/// Runs `frees` on a thread of its own (it ends by freeing an entry whose key holds the free
/// open, see hold_free), calls `measure` on this thread while that free waits, then lets it go
/// on and joins the thread.
template <class Frees, class Measure>
void while_free_runs(std::atomic<int>& stage, Frees frees, Measure measure) {
    std::thread t(frees);
    while (stage.load() < 1) {
        std::this_thread::yield();
    }
    measure();
    stage.store(2);
    t.join();
}
} // namespace

TEST_CASE("threads: weak_count() does not count an erased entry whose free is running on another "
          "thread",
          "[threads][weak_value_map][reclamation]") {
    // Thread T erases an entry and frees it with its own flush; the entry's key destructor
    // holds that free open while the main thread asks for the value's weak_count(). T's ring no
    // longer has the entry, so the main thread's flush cannot wait for it: the entry's unit must
    // already be gone (it was counted until its free ended before table_entry::settle_unit).
    wrtest::watchdog dog("weak_count while another thread frees an entry");
    using key = wrtest::acting_key<hold_free>;
    for (int round = 0; round < 20; ++round) {
        CAPTURE(round);
        std::atomic<int> stage{0};
        weakref::weak_value_map<key, int, wrtest::acting_key_hash> map;
        const auto v = make_ref<int>(round);
        const auto kept = make_ref<int>(-1);
        map.insert(key(1), kept); // an entry that stays (an inert key)
        long seen = -1;
        long kept_seen = -1;
        while_free_runs(
            stage,
            [&] {
                map.insert(key(7, hold_free{&stage}), v);
                map.erase(key(7));        // the entry waits in this thread's ring
                weakref::flush_retired(); // and is freed here: its key's destructor waits
            },
            [&] {
                seen = v.weak_count();
                kept_seen = kept.weak_count();
            });
        CHECK(seen == 0);
        CHECK(kept_seen == 1); // a live entry still counts
        CHECK(v.weak_count() == 0);
        CHECK(map.size() == 1);
    }
}

TEST_CASE("threads: weak_count() does not count the entry of a dead value whose free is running "
          "on another thread",
          "[threads][weak_value_map][reclamation]") {
    // As above, but the entry leaves at its value's death on thread T (the death's removal and
    // finish retire it there): only the main thread's weak_ref is left to count.
    wrtest::watchdog dog("weak_count while another thread frees a dead value's entry");
    using key = wrtest::acting_key<hold_free>;
    for (int round = 0; round < 20; ++round) {
        CAPTURE(round);
        std::atomic<int> stage{0};
        weakref::weak_value_map<key, int, wrtest::acting_key_hash> map;
        weakref::weak_ref<int> watched;
        std::atomic<bool> made{false};
        long seen = -1;
        while_free_runs(
            stage,
            [&] {
                auto v = make_ref<int>(round);
                watched = v;
                map.insert(key(7, hold_free{&stage}), v);
                made.store(true);
                v = nullptr;              // the death: the entry waits in this thread's ring
                weakref::flush_retired(); // and is freed here: its key's destructor waits
            },
            [&] { seen = watched.weak_count(); });
        REQUIRE(made.load());
        CHECK(seen == 1); // the weak_ref alone
        CHECK(watched.weak_count() == 1);
        CHECK(watched.expired());
        CHECK(map.size() == 0);
    }
}

TEST_CASE("threads: a thread whose thread_local container is destroyed after the thread's "
          "reclamation record went back leaves no record in use",
          "[threads][weak_value_map][reclamation]") {
    // The usual order: the container is made before the thread's first lookup, so it is
    // destroyed after the hand-back of the thread's records; its destructor flushes (it
    // removed something) on a record taken for that, which must go back too.
    auto& domain = weakref::detail::epoch_domain::instance();
    const auto v = make_ref<int>(1);
    const std::size_t before = domain.records_in_use();
    for (int i = 0; i < 50; ++i) {
        std::thread([&v] {
            thread_local weakref::weak_value_map<int, int> mine;
            mine.insert(1, v);
            mine.erase(1);
            CHECK(mine.empty());
        }).join();
    }
    CHECK(domain.records_in_use() == before);
    CHECK(v.weak_count() == 0);
}
