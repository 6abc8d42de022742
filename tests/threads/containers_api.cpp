// SPDX-License-Identifier: MIT
// Working inside the thread-safe containers under threads: update and visit, get_or_insert on
// weak_key_map, removal listeners told of removals on every thread, erase_if racing deaths,
// == from two sides at once, and where user functions run.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/removals.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
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
using weakref::removal_cause;
using weakref::weak_ref;
using wrtest::problems;
using wrtest::wait_for;

struct api_tag {};
using node = wrtest::counted<api_tag>;

int pick(std::mt19937& rng, int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }

/// Spins until `done()`, yielding; false if `limit` passed first.
template <class F> bool spin_until(F done, std::chrono::milliseconds limit = 20000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::yield();
    }
    return true;
}

/// A thread that drops the refs it is handed: a death on a thread other than the owner's.
class killer {
public:
    killer() : thread_([this] { run(); }) {}
    killer(const killer&) = delete;
    killer& operator=(const killer&) = delete;
    ~killer() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        thread_.join();
    }
    void hand(ref<node> r) {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(r));
    }
    [[nodiscard]] std::thread::id id() const { return thread_.get_id(); }

private:
    void run() {
        for (;;) {
            std::vector<ref<node>> batch;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (queue_.empty() && stop_) {
                    return;
                }
                batch.swap(queue_);
            }
            batch.clear(); // the deaths, here, outside our lock
            std::this_thread::yield();
        }
    }

    std::mutex mutex_;
    std::vector<ref<node>> queue_;
    bool stop_ = false;
    std::thread thread_; // last: starts once the rest is ready
};

} // namespace

// --- update and visit ----------------------------------------------------------------------------

TEST_CASE("threads: 8 threads x 100k updates of one key's counter end exactly at 800k",
          "[threads][weak_key_map][update]") {
    wrtest::watchdog dog("8 threads x 100k updates of one key", 300s);
    problems bad;
    constexpr int updaters = 8;
    constexpr long per_thread = 100000;
    weakref::weak_key_map<node, long> m; // a plain long: only the value's lock makes it exact
    auto k = make_ref<node>(1);
    REQUIRE(m.insert(k, 0));
    std::atomic<int> finished{0};
    wrtest::run_threads(updaters + 1, bad, [&](int i) {
        if (i == updaters) {
            // A reader: the counter only grows, and visit sees whole values.
            long last = 0;
            while (finished.load() != updaters) {
                const std::optional<long> now = m.visit(k, [](const long& v) { return v; });
                bad.expect(now.has_value() && *now >= last, "the counter went back", last);
                last = now.value_or(last);
            }
            return;
        }
        long refused = 0;
        for (long n = 0; n < per_thread; ++n) {
            const bool ran = (n & 1) == 0 ? m.update(k, [](long& v) { ++v; })
                                          : m.update(k.get(), [](long& v) { ++v; });
            refused += ran ? 0 : 1;
        }
        bad.expect(refused == 0, "updates that found no entry", refused);
        finished.fetch_add(1);
    });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(m.get(k) == updaters * per_thread);
}

namespace {
/// Two fields that every update changes together: a torn read sees them differ.
struct twin_counter {
    long a = 0;
    long b = 0;
};
} // namespace

TEST_CASE("threads: update is atomic with respect to get, visit, snapshots, take and "
          "insert_or_assign of its key, and loses nothing",
          "[threads][weak_key_map][update][take]") {
    wrtest::watchdog dog("update against the other members of its key", 300s);
    problems bad;
    constexpr int updaters = 3;
    constexpr long per_thread = 20000;
    weakref::weak_key_map<node, twin_counter> m;
    auto k = make_ref<node>(1);
    m.insert(k, twin_counter{});
    std::atomic<long> replaced_sum{0};
    m.on_remove([&](const node*, twin_counter&& v, removal_cause c) {
        bad.expect(v.a == v.b, "the listener was handed a torn value", v.a - v.b);
        if (c == removal_cause::replaced) {
            replaced_sum.fetch_add(v.a);
        }
    });
    std::atomic<long> applied{0};
    std::atomic<long> taken_sum{0};
    std::atomic<int> finished{0};
    wrtest::run_threads(updaters + 2, bad, [&](int i) {
        if (i < updaters) {
            long ran = 0;
            for (long n = 0; n < per_thread; ++n) {
                ran += m.update(k,
                                [](twin_counter& v) {
                                    ++v.a;
                                    ++v.b;
                                })
                           ? 1
                           : 0;
            }
            applied.fetch_add(ran);
            finished.fetch_add(1);
            return;
        }
        std::mt19937 rng(static_cast<unsigned>(i));
        while (finished.load() != updaters) {
            if (i == updaters) { // the reader
                if (const std::optional<twin_counter> v = m.get(k)) {
                    bad.expect(v->a == v->b, "get returned a torn value", v->a - v->b);
                }
                m.visit(k, [&](const twin_counter& v) {
                    bad.expect(v.a == v.b, "visit saw a torn value", v.a - v.b);
                });
                for (const twin_counter& v : m.values()) {
                    bad.expect(v.a == v.b, "values() holds a torn value", v.a - v.b);
                }
                for (const auto& item : m.items()) {
                    bad.expect(item.second.a == item.second.b, "items() holds a torn value", 0);
                }
                continue;
            }
            // The mover: takes the value out, or replaces it, and puts a fresh one back.
            if (pick(rng, 2) == 0) {
                if (std::optional<twin_counter> v = m.take(k)) {
                    bad.expect(v->a == v->b, "take returned a torn value", v->a - v->b);
                    taken_sum.fetch_add(v->a);
                }
                m.insert(k, twin_counter{});
            } else {
                m.insert_or_assign(k, twin_counter{});
            }
            std::this_thread::yield();
        }
    });
    const std::optional<twin_counter> last = m.get(k);
    REQUIRE(last);
    CHECK(last->a == last->b);
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(applied.load() > 0);
    // Every update that ran is in exactly one place: taken, replaced, or still in the map.
    CHECK(applied.load() == taken_sum.load() + replaced_sum.load() + last->a);
    m.on_remove(nullptr);
}

// --- get_or_insert on weak_key_map
// ------------------------------------------------------------------

TEST_CASE("threads: weak_key_map get_or_insert racing on one key runs the factory once and gives "
          "every caller its value",
          "[threads][weak_key_map][get_or_insert][hazard-11]") {
    wrtest::watchdog dog("weak_key_map get_or_insert racing on one key");
    problems bad;
    constexpr int threads = 6;
    constexpr int rounds = 300;
    weakref::weak_key_map<node, std::string> m;
    std::atomic<int> calls{0};
    ref<node> key;
    std::vector<std::string> got(threads);
    wrtest::lockstep(
        threads, rounds, bad,
        [&](int round) {
            calls.store(0);
            key = make_ref<node>(round); // a new key each round; the old one dies here
        },
        [&](int i, int round) {
            got[static_cast<std::size_t>(i)] = m.get_or_insert(key, [&calls, round] {
                calls.fetch_add(1);
                std::this_thread::yield(); // let the others find the creation in flight
                return "made in round " + std::to_string(round);
            });
        },
        [&](int round) {
            bad.expect(calls.load() == 1, "factory calls in one round, not 1", calls.load());
            const std::string want = "made in round " + std::to_string(round);
            for (const std::string& s : got) {
                bad.expect(s == want, "a caller received another value", round);
            }
            bad.expect(m.get(key) == want, "the map holds another value", round);
            bad.expect(m.size() == 1, "the previous round's key left an entry", round);
        });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    key.reset();
    CHECK(m.empty());
}

TEST_CASE("threads: a slow weak_key_map get_or_insert factory blocks no other key and no reader",
          "[threads][weak_key_map][get_or_insert][hazard-11]") {
    wrtest::watchdog dog("a slow weak_key_map factory blocks no other key");
    weakref::weak_key_map<node, long> m;
    auto slow = make_ref<node>(0);
    std::atomic<bool> factory_running{false};
    std::atomic<bool> others_done{false};
    std::atomic<bool> factory_gave_up{false};
    std::atomic<bool> creator_returned{false};
    std::atomic<bool> waiter_started{false};
    std::atomic<bool> waiter_returned{false};
    std::atomic<int> waiter_factory_calls{0};
    long created = 0;
    long waited = 0;
    std::thread creator([&] {
        created = m.get_or_insert(slow, [&] {
            factory_running.store(true);
            const auto deadline = std::chrono::steady_clock::now() + 20s;
            while (!others_done.load() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(1ms);
            }
            factory_gave_up.store(!others_done.load());
            return 1234L;
        });
        creator_returned.store(true);
    });
    wait_for(factory_running);
    std::thread waiter([&] {
        waiter_started.store(true);
        waited = m.get_or_insert(slow, [&] {
            waiter_factory_calls.fetch_add(1);
            return -1L;
        });
        waiter_returned.store(true);
    });
    wait_for(waiter_started);

    std::vector<ref<node>> others;
    int wrong = 0;
    for (int i = 1; i <= 64; ++i) {
        others.push_back(make_ref<node>(i));
        const ref<node>& k = others.back();
        const long v = m.get_or_insert(k, [i] { return static_cast<long>(i); });
        const bool updated = m.update(k, [](long& x) { x *= 10; });
        const bool consistent = v == i && updated && m.get(k) == i * 10L &&
                                m.visit(k, [](const long& x) { return x; }) == i * 10L &&
                                !m.contains(slow) && !m.get(slow) &&
                                !m.visit(slow, [](const long&) {});
        wrong += consistent ? 0 : 1;
    }
    const bool erased = m.erase(others.front());
    const std::size_t size = m.size();
    const std::size_t values = m.values().size();
    const bool creator_still_running = !creator_returned.load();
    const bool waiter_still_waiting = !waiter_returned.load();
    others_done.store(true);
    creator.join();
    waiter.join();

    CHECK(wrong == 0);
    CHECK(erased);
    CHECK(size == 63);
    CHECK(values == 63);
    CHECK_FALSE(factory_gave_up.load());
    CHECK(creator_still_running);
    CHECK(waiter_still_waiting);
    CHECK(created == 1234);
    CHECK(waited == 1234);
    CHECK(waiter_factory_calls.load() == 0);
    CHECK(m.get(slow) == 1234L);
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE("threads: a weak_key_map get_or_insert factory that throws reaches its caller, and the "
          "waiting callers then run one factory",
          "[needs-exceptions][threads][weak_key_map][get_or_insert][hazard-11]") {
    wrtest::watchdog dog("a weak_key_map factory that throws");
    problems bad;
    constexpr int threads = 4;
    constexpr int rounds = 200;
    weakref::weak_key_map<node, long> m;
    ref<node> key;
    std::atomic<bool> started{false};
    std::atomic<int> arrived{0};
    std::atomic<int> thrown{0};
    std::atomic<int> made{0};
    std::vector<long> got(threads);
    int thrower = 0;
    wrtest::lockstep(
        threads, rounds, bad,
        [&](int round) {
            key = make_ref<node>(round);
            started.store(false);
            arrived.store(0);
            thrown.store(0);
            made.store(0);
            thrower = round % threads;
            std::fill(got.begin(), got.end(), -1L);
        },
        [&](int i, int round) {
            if (i == thrower) {
                try {
                    (void)m.get_or_insert(key, [&]() -> long {
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
            bad.expect(!m.contains(key), "the key had an entry while its factory ran", round);
            arrived.fetch_add(1);
            got[static_cast<std::size_t>(i)] = m.get_or_insert(key, [&made, round] {
                made.fetch_add(1);
                return static_cast<long>(round);
            });
        },
        [&](int round) {
            bad.expect(thrown.load() == 1, "exceptions in one round, not 1", thrown.load());
            bad.expect(made.load() == 1, "factories run after the failure, not 1", made.load());
            for (int i = 0; i < threads; ++i) {
                if (i != thrower) {
                    bad.expect(got[static_cast<std::size_t>(i)] == round,
                               "a waiter received another value", round);
                }
            }
            bad.expect(m.size() == 1 && m.get(key) == static_cast<long>(round),
                       "the map does not hold the value", round);
        });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
}
#endif

TEST_CASE("threads: get_or_emplace racing on one key constructs one value",
          "[threads][weak_value_map][get_or_emplace][hazard-11]") {
    wrtest::watchdog dog("get_or_emplace racing on one key");
    problems bad;
    constexpr int threads = 6;
    constexpr int rounds = 300;
    wrtest::count_scope<node> scope;
    weakref::weak_value_map<int, node> m;
    std::vector<ref<node>> got(threads);
    long made_before = 0;
    wrtest::lockstep(
        threads, rounds, bad, [&](int) { made_before = scope.made(); },
        [&](int i, int round) { got[static_cast<std::size_t>(i)] = m.get_or_emplace(7, round); },
        [&](int round) {
            bad.expect(scope.made() - made_before == 1, "values constructed in one round",
                       scope.made() - made_before);
            for (const auto& r : got) {
                bad.expect(r && r == got[0] && r->value == round, "callers received others", round);
            }
            for (auto& r : got) {
                r.reset();
            }
            bad.expect(m.empty(), "the entry outlived its value", round);
        });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(scope.alive() == 0);
}

// --- Removal listeners ---------------------------------------------------------------------------
//
// Each owner thread works on keys of its own in one shared container, so it knows what each
// of its operations must tell the listener; the listener also runs for the other owners'
// keys at the same moment, and uses the container itself. Some deaths are handed to a killer
// thread: their notice must come from there. The owner then waits for the notice before it
// touches the key again, so each key's notices are in a known order.

namespace {

struct expected_notice {
    removal_cause cause;
    std::thread::id thread;
    long value; // weak_key_map: the value handed over (-1: not checked)
};

/// Compares the notices a key got with those expected, in order.
template <class Notices>
void compare(problems& bad, const Notices& got, const std::vector<expected_notice>& want,
             long key) {
    bad.expect(got.size() == want.size(), "a key's count of notices differs", key);
    for (std::size_t i = 0; i < got.size() && i < want.size(); ++i) {
        bad.expect(got[i].cause == want[i].cause, "a notice's cause differs", key);
        bad.expect(got[i].thread == want[i].thread, "a notice came from another thread", key);
        bad.expect(want[i].value < 0 || got[i].value == want[i].value,
                   "a notice carried another value", key);
    }
}

struct seen_notice {
    removal_cause cause;
    std::thread::id thread;
    long value;
};

/// Notices by key, in the order they were given.
class notice_board {
public:
    void record(long key, removal_cause c, long value = -1) {
        std::lock_guard<std::mutex> lock(mutex_);
        by_key_[key].push_back(seen_notice{c, std::this_thread::get_id(), value});
        ++total_;
    }
    [[nodiscard]] std::size_t count_of(long key) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = by_key_.find(key);
        return it == by_key_.end() ? 0 : it->second.size();
    }
    [[nodiscard]] std::vector<seen_notice> of(long key) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = by_key_.find(key);
        return it == by_key_.end() ? std::vector<seen_notice>() : it->second;
    }
    [[nodiscard]] std::size_t total() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return total_;
    }

private:
    mutable std::mutex mutex_;
    std::map<long, std::vector<seen_notice>> by_key_;
    std::size_t total_ = 0;
};

constexpr int owners = 3;
constexpr int keys_per_owner = 12;
constexpr int steps_per_owner = 2500;

} // namespace

TEST_CASE("threads: a weak_value_map listener is told each removal once, with its cause, on the "
          "thread that removed it",
          "[threads][weak_value_map][on_remove]") {
    wrtest::watchdog dog("weak_value_map listener under threads", 300s);
    problems bad;
    notice_board board;
    weakref::weak_value_map<int, node> m;
    killer death_row;
    m.on_remove([&](const int& key, removal_cause c) {
        // The listener uses the map: the entry has left (unless replaced), and nothing blocks.
        // (Recorded last: the key's owner may go on once the notice is recorded.)
        const bool present = m.contains(key);
        bad.expect(present == (c == removal_cause::replaced), "the listener saw the entry", key);
        (void)m.size();
        board.record(key, c);
    });
    std::vector<std::vector<expected_notice>> want(owners * keys_per_owner);
    wrtest::run_threads(owners, bad, [&](int t) {
        std::mt19937 rng(static_cast<unsigned>(t) + 1U);
        std::vector<ref<node>> values(keys_per_owner);
        const auto me = std::this_thread::get_id();
        for (int step = 0; step < steps_per_owner; ++step) {
            const int i = pick(rng, keys_per_owner);
            const int key = t * keys_per_owner + i;
            auto& mine = want[static_cast<std::size_t>(key)];
            ref<node>& v = values[static_cast<std::size_t>(i)];
            const bool live = static_cast<bool>(v);
            switch (pick(rng, 7)) {
            case 0: { // replace, or add
                auto fresh = make_ref<node>(step);
                const bool added = m.insert_or_assign(key, fresh);
                bad.expect(added == !live, "insert_or_assign's result", key);
                if (live) {
                    mine.push_back({removal_cause::replaced, me, -1});
                }
                v = std::move(fresh); // the old value dies here, out of the map: no notice
                break;
            }
            case 1: // add, or refuse
                if (!live) {
                    v = make_ref<node>(step);
                    bad.expect(m.insert(key, v), "insert refused an absent key", key);
                } else {
                    bad.expect(!m.insert(key, make_ref<node>(step)), "insert over a live value",
                               key);
                }
                break;
            case 2:
                bad.expect(m.erase(key) == live, "erase's result", key);
                if (live) {
                    mine.push_back({removal_cause::erased, me, -1});
                }
                v.reset();
                break;
            case 3: {
                const ref<node> got = m.take(key);
                bad.expect(got == v, "take returned another value", key);
                if (live) {
                    mine.push_back({removal_cause::erased, me, -1});
                }
                v.reset();
                break;
            }
            case 4: { // get_or_insert adds where absent, and removes nothing
                const ref<node> got = m.get_or_insert(key, [&] { return make_ref<node>(step); });
                bad.expect(!live || got == v, "get_or_insert returned another value", key);
                v = got;
                break;
            }
            case 5: // the value dies here
                if (live) {
                    mine.push_back({removal_cause::died, me, -1});
                }
                v.reset();
                break;
            default: // the value dies on the killer thread
                if (live) {
                    mine.push_back({removal_cause::died, death_row.id(), -1});
                    const std::size_t before = board.count_of(key);
                    death_row.hand(std::move(v));
                    bad.expect(spin_until([&] { return board.count_of(key) > before; }),
                               "the killer's notice never came", key);
                }
                v.reset();
                break;
            }
        }
        for (int i = 0; i < keys_per_owner; ++i) {
            if (values[static_cast<std::size_t>(i)]) {
                want[static_cast<std::size_t>(t) * keys_per_owner + static_cast<std::size_t>(i)]
                    .push_back({removal_cause::died, me, -1});
            }
        }
        values.clear();
    });
    for (int key = 0; key < owners * keys_per_owner; ++key) {
        compare(bad, board.of(key), want[static_cast<std::size_t>(key)], key);
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(m.empty());
    CHECK(board.total() > std::size_t{owners * 100});
}

TEST_CASE("threads: a weak_key_map listener is handed each removed value once, with its cause, "
          "on the thread that removed it, before the key's destructor",
          "[threads][weak_key_map][on_remove]") {
    wrtest::watchdog dog("weak_key_map listener under threads", 300s);
    problems bad;
    notice_board board;
    weakref::weak_key_map<node, long> m;
    killer death_row;
    m.on_remove([&](const node* k, long&& v, removal_cause c) {
        // At a death the key object is not destroyed yet: its id is readable.
        bad.expect(k->value != node::poison, "the key was destroyed before its notice", 0);
        const bool present = m.contains(k);
        bad.expect(present == (c == removal_cause::replaced), "the listener saw the entry",
                   k->value);
        (void)m.size();
        board.record(k->value, c, v);
    });
    std::vector<std::vector<expected_notice>> want(owners * keys_per_owner);
    wrtest::run_threads(owners, bad, [&](int t) {
        std::mt19937 rng(static_cast<unsigned>(t) + 11U);
        std::vector<ref<node>> keys(keys_per_owner);
        std::vector<long> current(keys_per_owner, -1); // the key's value; -1: no entry
        const auto me = std::this_thread::get_id();
        long serial = 0;
        for (int step = 0; step < steps_per_owner; ++step) {
            const int i = pick(rng, keys_per_owner);
            const int id = t * keys_per_owner + i;
            auto& mine = want[static_cast<std::size_t>(id)];
            ref<node>& k = keys[static_cast<std::size_t>(i)];
            long& value = current[static_cast<std::size_t>(i)];
            if (!k) {
                k = make_ref<node>(id);
                value = -1;
            }
            const bool live = value >= 0;
            const long fresh = ++serial;
            switch (pick(rng, 8)) {
            case 0:
                bad.expect(m.insert_or_assign(k, fresh) == !live, "insert_or_assign's result", id);
                if (live) {
                    mine.push_back({removal_cause::replaced, me, value});
                }
                value = fresh;
                break;
            case 1:
                bad.expect(m.try_emplace(k, fresh) == !live, "try_emplace's result", id);
                value = live ? value : fresh;
                break;
            case 2:
                bad.expect(m.update(k.get(), [](long& x) { x += 1000000; }) == live,
                           "update's result", id);
                value = live ? value + 1000000 : value;
                break;
            case 3:
                bad.expect(m.erase(k) == live, "erase's result", id);
                if (live) {
                    mine.push_back({removal_cause::erased, me, value});
                }
                value = -1;
                break;
            case 4: {
                const std::optional<long> got = m.take(k.get());
                bad.expect(got.value_or(-1) == value, "take returned another value", id);
                if (live) {
                    mine.push_back({removal_cause::erased, me, value}); // a moved-from long
                }
                value = -1;
                break;
            }
            case 5: { // get_or_insert adds where absent, and removes nothing
                const long got = m.get_or_insert(k, [fresh] { return fresh; });
                bad.expect(got == (live ? value : fresh), "get_or_insert returned another value",
                           id);
                value = got;
                break;
            }
            case 6: // the key dies here
                if (live) {
                    mine.push_back({removal_cause::died, me, value});
                }
                k.reset();
                break;
            default: // the key dies on the killer thread
                if (live) {
                    mine.push_back({removal_cause::died, death_row.id(), value});
                    const std::size_t before = board.count_of(id);
                    death_row.hand(std::move(k));
                    bad.expect(spin_until([&] { return board.count_of(id) > before; }),
                               "the killer's notice never came", id);
                }
                k.reset();
                break;
            }
        }
        for (int i = 0; i < keys_per_owner; ++i) {
            if (current[static_cast<std::size_t>(i)] >= 0 && keys[static_cast<std::size_t>(i)]) {
                want[static_cast<std::size_t>(t) * keys_per_owner + static_cast<std::size_t>(i)]
                    .push_back({removal_cause::died, me, current[static_cast<std::size_t>(i)]});
            }
        }
        keys.clear();
    });
    for (int id = 0; id < owners * keys_per_owner; ++id) {
        compare(bad, board.of(id), want[static_cast<std::size_t>(id)], id);
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(m.empty());
}

TEST_CASE("threads: a weak_set listener is told each removal once, with its cause, on the thread "
          "that removed it",
          "[threads][weak_set][on_remove]") {
    wrtest::watchdog dog("weak_set listener under threads", 300s);
    problems bad;
    notice_board board;
    weakref::weak_set<node> s;
    killer death_row;
    s.on_remove([&](const node* e, removal_cause c) {
        bad.expect(e->value != node::poison, "the element was destroyed before its notice", 0);
        bad.expect(!s.contains(e), "the listener saw the element", e->value);
        (void)s.size();
        board.record(e->value, c);
    });
    std::vector<std::vector<expected_notice>> want(owners * keys_per_owner);
    wrtest::run_threads(owners, bad, [&](int t) {
        std::mt19937 rng(static_cast<unsigned>(t) + 21U);
        std::vector<ref<node>> elements(keys_per_owner);
        std::vector<bool> in(keys_per_owner, false);
        const auto me = std::this_thread::get_id();
        for (int step = 0; step < steps_per_owner; ++step) {
            const int i = pick(rng, keys_per_owner);
            const int id = t * keys_per_owner + i;
            auto& mine = want[static_cast<std::size_t>(id)];
            ref<node>& e = elements[static_cast<std::size_t>(i)];
            if (!e) {
                e = make_ref<node>(id);
                in[static_cast<std::size_t>(i)] = false;
            }
            const bool live = in[static_cast<std::size_t>(i)];
            switch (pick(rng, 5)) {
            case 0:
                bad.expect(s.insert(e) == !live, "insert's result", id);
                in[static_cast<std::size_t>(i)] = true;
                break;
            case 1:
                bad.expect(s.erase(e.get()) == live, "erase's result", id);
                if (live) {
                    mine.push_back({removal_cause::erased, me, -1});
                }
                in[static_cast<std::size_t>(i)] = false;
                break;
            case 2:
                bad.expect(s.erase(e) == live, "erase's result", id);
                if (live) {
                    mine.push_back({removal_cause::erased, me, -1});
                }
                in[static_cast<std::size_t>(i)] = false;
                break;
            case 3:
                if (live) {
                    mine.push_back({removal_cause::died, me, -1});
                }
                e.reset();
                break;
            default:
                if (live) {
                    mine.push_back({removal_cause::died, death_row.id(), -1});
                    const std::size_t before = board.count_of(id);
                    death_row.hand(std::move(e));
                    bad.expect(spin_until([&] { return board.count_of(id) > before; }),
                               "the killer's notice never came", id);
                }
                e.reset();
                break;
            }
        }
        for (int i = 0; i < keys_per_owner; ++i) {
            if (in[static_cast<std::size_t>(i)] && elements[static_cast<std::size_t>(i)]) {
                want[static_cast<std::size_t>(t) * keys_per_owner + static_cast<std::size_t>(i)]
                    .push_back({removal_cause::died, me, -1});
            }
        }
        elements.clear();
    });
    for (int id = 0; id < owners * keys_per_owner; ++id) {
        compare(bad, board.of(id), want[static_cast<std::size_t>(id)], id);
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(s.empty());
}

// --- Every entry's end is told exactly once, whatever races it --------------------------------
//
// Threads share a few keys and values and do everything at once: insert over values that are
// dying on another thread, erase_if while entries die, replace, take, get_or_insert. Each
// entry that begins (an insertion that added, a replacement) ends exactly once, with one
// notice: at the end the notices equal the beginnings.

namespace {
template <class T, std::size_t N> class shared_refs {
public:
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
} // namespace

TEST_CASE("threads: every weak_value_map entry that begins ends with exactly one notice, while "
          "inserts, erase_if and deaths race",
          "[threads][weak_value_map][on_remove][erase_if][hazard-1]") {
    wrtest::watchdog dog("weak_value_map entries begin and end once", 300s);
    problems bad;
    constexpr int threads = 4;
    constexpr int ops = 30000;
    constexpr int keys = 4;
    weakref::weak_value_map<int, node> m;
    wrtest::removal_log<int> log;
    m.on_remove([&](const int& k, removal_cause c) { log.record(k, c); });
    shared_refs<node, 6> values;
    std::atomic<long> begun{0};
    std::atomic<long> replaced{0};
    std::atomic<long> erased{0};
    wrtest::run_threads(threads, bad, [&](int t) {
        std::mt19937 rng(static_cast<unsigned>(t) + 101U);
        long my_begun = 0;
        long my_replaced = 0;
        long my_erased = 0;
        for (int n = 0; n < ops; ++n) {
            const int k = pick(rng, keys);
            const auto slot = static_cast<std::size_t>(pick(rng, 6));
            switch (pick(rng, 9)) {
            case 0:
            case 1: { // a fresh value in a slot, then into the map: the old value may be dying
                auto fresh = make_ref<node>(n);
                ref<node> old = values.exchange(slot, fresh);
                my_begun += m.insert(k, fresh) ? 1 : 0;
                old.reset();
                break;
            }
            case 2: {
                auto fresh = make_ref<node>(n);
                if (m.insert_or_assign(k, fresh)) {
                    ++my_begun;
                } else {
                    ++my_begun; // a fresh value is never the one there: it replaced
                    ++my_replaced;
                }
                values.exchange(slot, std::move(fresh)).reset();
                break;
            }
            case 3:
                my_erased += m.erase(k) ? 1 : 0;
                break;
            case 4:
                my_erased += m.take(k) ? 1 : 0;
                break;
            case 5:
                my_erased += static_cast<long>(
                    m.erase_if([k](const int& key, const node&) { return key == k; }));
                break;
            case 6: {
                const node* made = nullptr;
                const ref<node> got = m.get_or_insert(k, [&] {
                    auto fresh = make_ref<node>(n);
                    made = fresh.get();
                    values.exchange(slot, fresh).reset();
                    return fresh;
                });
                my_begun += got && got.get() == made ? 1 : 0;
                break;
            }
            default: // a death, here: the values' only owners are the slots
                values.exchange(slot, ref<node>()).reset();
                break;
            }
        }
        begun.fetch_add(my_begun);
        replaced.fetch_add(my_replaced);
        erased.fetch_add(my_erased);
    });
    const std::size_t left = m.size();
    m.clear();
    values.clear();
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(log.count(removal_cause::cleared) == left);
    CHECK(log.count(removal_cause::replaced) == static_cast<std::size_t>(replaced.load()));
    CHECK(log.count(removal_cause::erased) == static_cast<std::size_t>(erased.load()));
    CHECK(log.size() == static_cast<std::size_t>(begun.load()));
    m.on_remove(nullptr);
}

TEST_CASE("threads: every weak_key_map and weak_set entry that begins ends with exactly one "
          "notice, while erase_if and deaths race",
          "[threads][weak_key_map][weak_set][on_remove][erase_if]") {
    wrtest::watchdog dog("weak_key_map and weak_set entries begin and end once", 300s);
    problems bad;
    constexpr int threads = 4;
    constexpr int ops = 20000;
    weakref::weak_key_map<node, long> km;
    weakref::weak_set<node> set;
    wrtest::removal_log<int> km_log;
    wrtest::removal_log<int> set_log;
    km.on_remove([&](const node* k, long&&, removal_cause c) { km_log.record(k->value, c); });
    set.on_remove([&](const node* e, removal_cause c) { set_log.record(e->value, c); });
    shared_refs<node, 6> keys;
    std::atomic<long> km_begun{0};
    std::atomic<long> km_erased{0};
    std::atomic<long> km_replaced{0};
    std::atomic<long> set_begun{0};
    std::atomic<long> set_erased{0};
    wrtest::run_threads(threads, bad, [&](int t) {
        std::mt19937 rng(static_cast<unsigned>(t) + 202U);
        long kb = 0;
        long ke = 0;
        long kr = 0;
        long sb = 0;
        long se = 0;
        for (int n = 0; n < ops; ++n) {
            const auto slot = static_cast<std::size_t>(pick(rng, 6));
            ref<node> k = keys.get(slot);
            if (!k) {
                k = make_ref<node>(static_cast<int>(slot));
                keys.exchange(slot, k).reset();
            }
            switch (pick(rng, 10)) {
            case 0:
                kb += km.insert(k, n) ? 1 : 0;
                break;
            case 1:
                if (km.insert_or_assign(k, n)) {
                    ++kb;
                } else {
                    ++kb;
                    ++kr;
                }
                break;
            case 2: {
                bool ran = false;
                const long got = km.get_or_insert(k, [&] {
                    ran = true;
                    return -static_cast<long>(n) - 1;
                });
                kb += ran && got == -static_cast<long>(n) - 1 ? 1 : 0;
                break;
            }
            case 3:
                ke += km.erase(k) ? 1 : 0;
                break;
            case 4:
                ke += static_cast<long>(
                    km.erase_if([](const node&, const long& v) { return (v & 1) == 0; }));
                break;
            case 5:
                sb += set.insert(k) ? 1 : 0;
                break;
            case 6:
                se += set.erase(k) ? 1 : 0;
                break;
            case 7:
                se += static_cast<long>(set.erase_if([](const node&) { return true; }));
                break;
            case 8:
                se += set.pop() ? 1 : 0;
                break;
            default: // the key dies (unless another thread holds it a moment longer)
                k.reset();
                keys.exchange(slot, ref<node>()).reset();
                break;
            }
        }
        km_begun.fetch_add(kb);
        km_erased.fetch_add(ke);
        km_replaced.fetch_add(kr);
        set_begun.fetch_add(sb);
        set_erased.fetch_add(se);
    });
    const std::size_t km_left = km.size();
    const std::size_t set_left = set.size();
    km.clear();
    set.clear();
    keys.clear();
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(km_log.count(removal_cause::cleared) == km_left);
    CHECK(km_log.count(removal_cause::erased) == static_cast<std::size_t>(km_erased.load()));
    CHECK(km_log.count(removal_cause::replaced) == static_cast<std::size_t>(km_replaced.load()));
    CHECK(km_log.size() == static_cast<std::size_t>(km_begun.load()));
    CHECK(set_log.count(removal_cause::cleared) == set_left);
    CHECK(set_log.count(removal_cause::erased) == static_cast<std::size_t>(set_erased.load()));
    CHECK(set_log.size() == static_cast<std::size_t>(set_begun.load()));
    km.on_remove(nullptr);
    set.on_remove(nullptr);
}

// --- == from both sides at once ------------------------------------------------------------------

TEST_CASE("threads: two threads comparing a == b and b == a at once do not deadlock",
          "[threads][weak_value_map][weak_key_map][weak_set][equality]") {
    wrtest::watchdog dog("a == b and b == a at once");
    problems bad;
    constexpr int rounds = 3000;
    std::vector<ref<node>> objects;
    for (int i = 0; i < 64; ++i) {
        objects.push_back(make_ref<node>(i));
    }
    weakref::weak_value_map<int, node> va;
    weakref::weak_value_map<int, node> vb;
    weakref::weak_key_map<node, int> ka;
    weakref::weak_key_map<node, int> kb;
    weakref::weak_set<node> sa;
    weakref::weak_set<node> sb;
    for (int i = 0; i < 64; ++i) {
        const auto& o = objects[static_cast<std::size_t>(i)];
        va.insert(i, o);
        vb.insert(i, o);
        ka.insert(o, i);
        kb.insert(o, i);
        sa.insert(o);
        sb.insert(o);
    }
    std::atomic<bool> stop{false};
    wrtest::run_threads(3, bad, [&](int t) {
        if (t == 2) {
            // A writer on other keys of the same containers: both sides change meanwhile,
            // always equally at rest.
            auto extra = make_ref<node>(-1);
            while (!stop.load()) {
                va.insert(1000, extra);
                vb.insert(1000, extra);
                va.erase(1000);
                vb.erase(1000);
                sa.insert(extra);
                sa.erase(extra);
            }
            return;
        }
        for (int n = 0; n < rounds; ++n) {
            const bool v = t == 0 ? va == vb : vb == va;
            const bool k = t == 0 ? ka == kb : kb == ka;
            const bool s = t == 0 ? sa == sb : sb != sa;
            bad.expect(k, "the key maps compared unequal", n);
            static_cast<void>(v); // the writer may be between its two inserts
            static_cast<void>(s);
            bad.expect(t == 0 ? va == va : ka == ka, "a == a was false", n);
        }
        if (t == 0) {
            stop.store(true);
        }
    });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(va == vb);
    CHECK(sa == sb);
}

// --- Where user functions run -------------------------------------------------------------------

TEST_CASE("threads: a container's destructor does not return while its listener runs on "
          "another thread",
          "[threads][weak_value_map][on_remove][hazard-9]") {
    // The destructor tells no listener; but a death on another thread may be telling it right
    // then. Its captures (here a flag; often the container itself, which a listener may use)
    // must outlive that call, so the destructor waits for it, as ~scoped_finalizer waits for a
    // running callback.
    wrtest::watchdog dog("a container destroyed while its listener runs");
    auto m = std::make_unique<weakref::weak_value_map<int, node>>();
    auto v = make_ref<node>(1);
    m->insert(1, v);
    std::atomic<bool> in_listener{false};
    std::atomic<bool> destroyed{false};
    std::atomic<int> saw_destroyed{-1};
    m->on_remove([&](const int&, removal_cause) {
        in_listener.store(true);
        const auto deadline = std::chrono::steady_clock::now() + 500ms;
        while (!destroyed.load() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        saw_destroyed.store(destroyed.load() ? 1 : 0);
    });
    std::thread death([mine = std::move(v)]() mutable { mine.reset(); });
    wait_for(in_listener);
    m.reset();
    destroyed.store(true);
    death.join();
    CHECK(saw_destroyed.load() == 0);
}

TEST_CASE("threads: an update function that waits for another thread does not deadlock with that "
          "thread's weak_count() or container destruction",
          "[threads][weak_key_map][update]") {
    // update's function runs under its entry's value lock only. Thread A's function waits for
    // a mutex that thread B holds while B asks a weak_count() (or destroys a container that
    // removed entries): both wait for lookups on other threads to end. If A's function ran
    // inside a lookup, neither would move; A's wait is bounded, so the test ends either way.
    wrtest::watchdog dog("an update function waiting for another thread");
    weakref::weak_key_map<node, long> m;
    auto k = make_ref<node>(1);
    m.insert(k, 0);
    std::mutex user;
    std::atomic<bool> in_fn{false};
    std::atomic<bool> b_holds{false};
    std::atomic<bool> got_lock{false};
    std::thread a([&] {
        m.update(k, [&](long& v) {
            in_fn.store(true);
            wait_for(b_holds);
            // A bounded wait (a polled try_lock: TSan does not model timed_mutex's waits).
            const auto deadline = std::chrono::steady_clock::now() + 3s;
            while (std::chrono::steady_clock::now() < deadline) {
                if (user.try_lock()) {
                    got_lock.store(true);
                    user.unlock();
                    break;
                }
                std::this_thread::sleep_for(1ms);
            }
            ++v;
        });
    });
    wait_for(in_fn);
    long weak = 0;
    {
        std::lock_guard<std::mutex> hold(user);
        b_holds.store(true);
        // Something retired, so that weak_count has lookups to wait for.
        auto other = make_ref<node>(2);
        m.insert(other, 1);
        m.erase(other);
        weak = k.weak_count();
    }
    a.join();
    CHECK(got_lock.load());
    CHECK(weak == 1);
    CHECK(m.get(k) == 1L);
}

TEST_CASE("threads: weak_key_map erase_if erases the entry its predicate accepted, not one that "
          "replaced it meanwhile",
          "[threads][weak_key_map][erase_if]") {
    wrtest::watchdog dog("erase_if against a replacement of the entry it offered");
    weakref::weak_key_map<node, long> m;
    auto k = make_ref<node>(1);
    m.insert(k, 1);
    wrtest::removal_log<long> log; // values handed over
    m.on_remove([&](const node*, long&& v, removal_cause c) { log.record(v, c); });
    std::atomic<bool> in_pred{false};
    std::size_t erased = 99;
    std::thread eraser([&] {
        erased = m.erase_if([&](const node&, const long& v) {
            in_pred.store(true);
            std::this_thread::sleep_for(100ms); // the replacement happens meanwhile
            return v % 2 == 1;                  // accepts the odd value it was offered
        });
    });
    wait_for(in_pred);
    CHECK_FALSE(m.insert_or_assign(k, 2)); // an even value: not accepted by anyone
    eraser.join();
    CHECK(erased == 0);
    CHECK(m.get(k) == 2L);
    CHECK(log.size() == 1);
    CHECK(log.count(1, removal_cause::replaced) == 1);
    m.on_remove(nullptr);
}

TEST_CASE("threads: a slow update of one key holds up no writer of other keys, even while an "
          "insert_or_assign of that key waits for it",
          "[threads][weak_key_map][update]") {
    wrtest::watchdog dog("a slow update and a replacement of its key");
    weakref::weak_key_map<node, long> m;
    auto k = make_ref<node>(0);
    m.insert(k, 0);
    std::vector<ref<node>> others;
    for (int i = 1; i <= 64; ++i) { // some share k's shard, whatever the sharding
        others.push_back(make_ref<node>(i));
    }
    std::atomic<bool> in_fn{false};
    std::atomic<bool> others_done{false};
    std::atomic<bool> gave_up{false};
    std::atomic<bool> replaced{false};
    long handed = -1;
    m.on_remove([&](const node*, long&& v, removal_cause c) {
        if (c == removal_cause::replaced) {
            handed = v;
        }
    });
    std::thread slow([&] {
        m.update(k, [&](long& v) {
            in_fn.store(true);
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!others_done.load() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(1ms);
            }
            gave_up.store(!others_done.load());
            ++v;
        });
    });
    wait_for(in_fn);
    std::thread replacer([&] {
        m.insert_or_assign(k, 100);
        replaced.store(true);
    });
    std::this_thread::sleep_for(50ms); // the replacer is in insert_or_assign by now
    int wrong = 0;
    for (std::size_t i = 0; i < others.size(); ++i) {
        const auto v = static_cast<long>(i);
        wrong += m.insert(others[i], v) && m.update(others[i], [](long& x) { x += 1000; }) &&
                         m.get(others[i]) == v + 1000
                     ? 0
                     : 1;
    }
    const bool replacer_waited = !replaced.load(); // for the slow update, outside every lock
    others_done.store(true);
    slow.join();
    replacer.join();
    CHECK(wrong == 0);
    CHECK_FALSE(gave_up.load());
    CHECK(replacer_waited);
    CHECK(m.get(k) == 100L);
    CHECK(handed == 1); // the old value, with the slow update in it
    m.on_remove(nullptr);
}
