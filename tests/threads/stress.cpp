// SPDX-License-Identifier: MIT
// A time-bounded stress test of the thread-safe flavour: threads make, share, lock and drop refs,
// register, call and detach death callbacks, and use one weak_value_map, one weak_key_map and one
// weak_set together, while the objects die on whichever thread lets go last. At the end every
// object is dead, every container is empty, and every registration ran exactly once or was
// detached exactly once.
//
// It runs for WEAKREF_STRESS_SECONDS seconds (2 by default; set it higher for a long run), on
// four threads, under a watchdog that aborts on a deadlock instead of hanging.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using weakref::finalizer;
using weakref::make_ref;
using weakref::ref;
using weakref::weak_ref;

struct stress_tag {};
using node = wrtest::counted<stress_tag>;

std::chrono::seconds stress_seconds() {
    if (const char* s = std::getenv("WEAKREF_STRESS_SECONDS")) {
        const long n = std::strtol(s, nullptr, 10);
        if (n > 0) {
            return std::chrono::seconds(n);
        }
    }
    return std::chrono::seconds(2);
}

/// One registration's fate: how often its callback ran, and whether a detach() claimed it.
struct registration {
    std::atomic<int> ran{0};
    std::atomic<int> detached{0};
};

/// Slots of refs shared by every thread, one mutex each. A dropped ref leaves the lock first,
/// so that deaths (and their callbacks, which may use the slots) run outside it.
class slots {
public:
    static constexpr std::size_t count = 32;
    ref<node> get(std::size_t i) {
        std::lock_guard<std::mutex> lock(slots_[i].mutex);
        return slots_[i].r;
    }
    ref<node> exchange(std::size_t i, ref<node> r) {
        std::lock_guard<std::mutex> lock(slots_[i].mutex);
        std::swap(slots_[i].r, r);
        return r;
    }
    void clear() {
        for (std::size_t i = 0; i < count; ++i) {
            exchange(i, ref<node>());
        }
    }

private:
    struct slot {
        std::mutex mutex;
        ref<node> r;
    };
    std::array<slot, count> slots_;
};

/// What the worker threads found wrong; the main thread asserts on it after the join.
struct problems {
    std::atomic<long> count{0};
    std::mutex mutex;
    std::string first;
    void expect(bool ok, const char* what) {
        if (ok) {
            return;
        }
        if (count.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(mutex);
            first = what;
        }
    }
};

} // namespace

TEST_CASE("threads: stress: refs, callbacks and shared containers on four threads end with "
          "everything dead, empty and accounted for",
          "[threads][stress][hazard-2][hazard-6][hazard-9]") {
    const std::chrono::seconds seconds = stress_seconds();
    wrtest::watchdog dog("stress", seconds + std::chrono::seconds(120));
    wrtest::count_scope<node> scope;

    constexpr int threads = 4;
    constexpr std::size_t max_registrations = 60000; // per thread; past it, no more are made
    constexpr long max_iterations = 4000000;         // per thread, a bound besides the clock
    constexpr int keys = 24;

    problems bad;
    std::array<std::unique_ptr<registration[]>, threads> ledgers;
    std::array<std::size_t, threads> registered{};
    for (auto& l : ledgers) {
        l = std::make_unique<registration[]>(max_registrations);
    }
    std::array<long, threads> iterations{};
    {
        weakref::weak_value_map<int, node> values;
        weakref::weak_key_map<node, int> tags;
        weakref::weak_set<node> members;
        slots shared;

        const auto deadline = std::chrono::steady_clock::now() + seconds;
        std::atomic<int> ready{0};
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                std::mt19937 rng(977U * static_cast<unsigned>(t) + 1U);
                auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
                registration* ledger = ledgers[static_cast<std::size_t>(t)].get();
                std::size_t& used = registered[static_cast<std::size_t>(t)];
                std::vector<std::pair<finalizer, std::size_t>> fins; // (finalizer, ledger index)
                std::vector<weak_ref<node>> watched;
                std::vector<ref<node>> held;

                ready.fetch_add(1);
                while (ready.load() < threads) {
                    std::this_thread::yield();
                }
                long& i = iterations[static_cast<std::size_t>(t)];
                for (; i < max_iterations; ++i) {
                    if ((i & 63) == 0 && std::chrono::steady_clock::now() >= deadline) {
                        break;
                    }
                    const std::size_t s = pick(slots::count);
                    const int key = static_cast<int>(pick(keys));
                    switch (pick(16)) {
                    case 0:
                    case 1: { // a new object replaces a shared one (the old may die here)
                        ref<node> fresh = make_ref<node>(key);
                        values.insert_or_assign(key, fresh);
                        ref<node> old = shared.exchange(s, std::move(fresh));
                        old.reset();
                        break;
                    }
                    case 2: // drop a shared object
                        shared.exchange(s, ref<node>()).reset();
                        break;
                    case 3: { // copy, watch, lock
                        ref<node> r = shared.get(s);
                        if (r) {
                            bad.expect(r->value >= 0 && r->value < keys, "a shared ref to a dead object");
                            watched.emplace_back(r);
                        }
                        if (!watched.empty()) {
                            const std::size_t w = pick(watched.size());
                            ref<node> locked = watched[w].lock();
                            bad.expect(!locked || locked->value != node::poison,
                                       "lock() gave a dead object");
                            if (watched.size() > 16) {
                                watched.erase(watched.begin() + static_cast<long>(w));
                            }
                        }
                        break;
                    }
                    case 4:
                    case 5: { // register a callback that counts, and sometimes uses the maps
                        ref<node> r = shared.get(s);
                        if (!r || used == max_registrations) {
                            break;
                        }
                        const std::size_t index = used++;
                        registration* entry = &ledger[index];
                        const bool reenter = pick(4) == 0;
                        fins.emplace_back(
                            weakref::on_death(r,
                                              [entry, reenter, key, &values, &tags, &members] {
                                                  entry->ran.fetch_add(1);
                                                  if (reenter) {
                                                      // Containers used from a callback, on
                                                      // whichever thread the death happens.
                                                      (void)values.get(key);
                                                      (void)tags.size();
                                                      (void)members.empty();
                                                  }
                                              }),
                            index);
                        break;
                    }
                    case 6: { // detach or call one of this thread's finalizers
                        if (fins.empty()) {
                            break;
                        }
                        const std::size_t f = pick(fins.size());
                        auto [fin, index] = std::move(fins[f]);
                        fins.erase(fins.begin() + static_cast<long>(f));
                        if (pick(2) == 0) {
                            if (fin.detach()) {
                                ledger[index].detached.fetch_add(1);
                            }
                        } else {
                            (void)fin(); // runs it here if still armed; counted by `ran`
                        }
                        bad.expect(!fin.alive(), "a finalizer alive after detach() or ()");
                        break;
                    }
                    case 7: { // a scoped_finalizer that goes out of scope at once
                        ref<node> r = shared.get(s);
                        if (!r || used == max_registrations) {
                            break;
                        }
                        const std::size_t index = used++;
                        registration* entry = &ledger[index];
                        finalizer f = weakref::on_death(r, [entry] { entry->ran.fetch_add(1); });
                        {
                            weakref::scoped_finalizer scoped{finalizer(f)}; // a copy names the same one
                            r.reset(); // perhaps the last ref: then it runs here
                        }
                        // Destroying the scoped_finalizer detached it unless it had run.
                        if (entry->ran.load() == 0) {
                            entry->detached.fetch_add(1);
                            bad.expect(!f.alive(), "a scoped_finalizer left its callback armed");
                        }
                        break;
                    }
                    case 8:
                    case 9: { // the value map
                        ref<node> got = values.get(key);
                        bad.expect(!got || got->value == key, "values.get: another key's object");
                        ref<node> made = values.get_or_insert(key, [&] {
                            // A shared object of this key if there is one, else a new one.
                            ref<node> r = shared.get(s);
                            return r && r->value == key ? r : make_ref<node>(key);
                        });
                        bad.expect(made && made->value == key,
                                   "values.get_or_insert: empty or another key's object");
                        if (pick(8) == 0) {
                            (void)values.erase(key);
                        }
                        break;
                    }
                    case 10:
                    case 11: { // the key map and the set
                        ref<node> r = shared.get(s);
                        if (r) {
                            tags.insert_or_assign(r, r->value);
                            const std::optional<int> tag = tags.get(r);
                            bad.expect(!tag || *tag == r->value, "tags.get: a wrong value");
                            members.insert(r); // (another thread may erase it at once)
                            if (pick(4) == 0) {
                                (void)tags.erase(r);
                                (void)members.erase(r.get());
                            }
                        }
                        break;
                    }
                    case 12: { // snapshots hold only live entries
                        for (const auto& kv : values.items()) {
                            bad.expect(kv.second && kv.second->value == kv.first,
                                       "values.items: a dead or foreign value");
                        }
                        for (const auto& kv : tags.items()) {
                            bad.expect(kv.first && kv.first->value == kv.second,
                                       "tags.items: a dead key");
                        }
                        for (const auto& m : members.items()) {
                            bad.expect(m && m->value != node::poison, "members.items: a dead one");
                        }
                        break;
                    }
                    case 13: { // hold some objects on this thread for a while
                        ref<node> r = shared.get(s);
                        if (r) {
                            held.push_back(std::move(r));
                        }
                        if (held.size() > 8) {
                            held.erase(held.begin() + static_cast<long>(pick(held.size())));
                        }
                        break;
                    }
                    case 14: // once in a long while, a clear races everything else
                        if (pick(64) == 0) {
                            members.clear();
                        }
                        break;
                    default: { // a copy of the value map, destroyed at once
                        if (pick(32) == 0) {
                            weakref::weak_value_map<int, node> copy(values);
                            bad.expect(copy.size() <= static_cast<std::size_t>(keys),
                                       "a copy with more entries than keys");
                        }
                        break;
                    }
                    }
                }
                // This thread's finalizers stay armed: their objects' deaths will run them.
            });
        }
        for (auto& th : pool) {
            th.join();
        }

        // Every thread's refs are gone; the shared slots hold the last ones.
        shared.clear();
        CHECK(scope.alive() == 0);
        CHECK(values.empty());
        CHECK(values.items().empty());
        CHECK(tags.empty());
        CHECK(tags.items().empty());
        CHECK(members.empty());
        CHECK(members.items().empty());
    }

    INFO(bad.first);
    CHECK(bad.count.load() == 0);

    long ran = 0;
    long detached = 0;
    long wrong = 0;
    for (std::size_t t = 0; t < threads; ++t) {
        for (std::size_t i = 0; i < registered[t]; ++i) {
            const int r = ledgers[t][i].ran.load();
            const int d = ledgers[t][i].detached.load();
            ran += r;
            detached += d;
            if (r + d != 1) {
                ++wrong;
            }
        }
    }
    long total_iterations = 0;
    for (long n : iterations) {
        total_iterations += n;
    }
    INFO("iterations " << total_iterations << ", registrations ran " << ran << ", detached "
                       << detached);
    CHECK(wrong == 0); // each registration ran once or was detached once, never both or neither
    CHECK(ran > 0);
    CHECK(detached > 0);
    CHECK(scope.made() > 1000);
    CHECK(scope.alive() == 0);
}
