// SPDX-License-Identifier: MIT
// The thread-safe table's lock-free readers against everything that changes it: readers (get,
// contains, snapshots) race inserts, replacements, erasures, growth and shrinking, clear(),
// deaths on another thread and, at the end, the container's destruction racing deaths. A ledger
// checks that no lookup returns a value whose death had begun, a value of another key or an
// older value than one the same reader already saw, and that no entry is lost or duplicated.
#include "support/catch.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

using weakref::make_ref;
using weakref::ref;

std::atomic<long> items_alive{0};

/// A value that knows its key and generation, and says when its death began (its on_death
/// callback runs at the death, before the destructor) and when it was destroyed.
struct item {
    item(int k, long g) : key(k), gen(g) { items_alive.fetch_add(1); }
    item(const item&) = delete;
    item& operator=(const item&) = delete;
    ~item() {
        alive.store(false);
        items_alive.fetch_sub(1);
    }
    const int key;
    const long gen;
    std::atomic<bool> death_begun{false};
    std::atomic<bool> alive{true};
};

ref<item> make_item(int key, long gen) {
    ref<item> r = make_ref<item>(key, gen);
    item* raw = r.get();
    // The callback runs while the object still lives (before its destructor).
    weakref::on_death(r, [raw] { raw->death_begun.store(true); });
    return r;
}

/// What the threads found wrong; the main thread asserts after joining them.
class ledger {
public:
    void expect(bool ok, const char* what, long detail) {
        if (ok) {
            return;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        if (first_.size() < 8) {
            first_.push_back(std::string(what) + " (" + std::to_string(detail) + ")");
        }
        ++count_;
    }
    long count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_;
    }
    std::string summary() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string out = std::to_string(count_) + " problem(s)";
        for (const auto& s : first_) {
            out += "\n  " + s;
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> first_;
    long count_ = 0;
};

/// Refs handed to the killer thread, which drops them in a shuffled order: their deaths (and
/// the removals they make) happen on its thread.
class death_row {
public:
    void hand(ref<item> r) {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(r));
    }
    /// Drops up to `n` refs, a random one each time; returns how many it dropped.
    std::size_t drop_some(std::mt19937& rng, std::size_t n) {
        std::vector<ref<item>> out;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            while (!queue_.empty() && out.size() < n) {
                const std::size_t i = rng() % queue_.size();
                std::swap(queue_[i], queue_.back());
                out.push_back(std::move(queue_.back()));
                queue_.pop_back();
            }
        }
        std::shuffle(out.begin(), out.end(), rng);
        const std::size_t dropped = out.size();
        while (!out.empty()) {
            out.pop_back(); // a death, on this thread, outside the lock
        }
        return dropped;
    }
    bool empty() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return queue_.empty();
    }

private:
    mutable std::mutex mutex_;
    std::deque<ref<item>> queue_;
};

constexpr int stable_keys = 256;   // inserted before the threads start, never touched
constexpr int writer_keys = 512;   // one writer's: inserted, replaced, erased, let die
constexpr int burst_keys = 4096;   // inserted at once and let die: the table grows and shrinks
constexpr int burst_base = 100000; // their keys
constexpr int writer_steps = 1500; // per round

using map_type = weakref::weak_value_map<int, item>;

/// One reader's checks of a value a lookup returned for `key`. `last_gen` holds the newest
/// generation this reader saw of each writer key: the writer's generations only grow, so a
/// linearizable lookup never goes back.
void check_found(ledger& bad, const ref<item>& r, int key, std::vector<long>& last_gen) {
    bad.expect(r->key == key, "a lookup returned another key's value", key);
    bad.expect(!r->death_begun.load(), "a lookup returned a value whose death had begun", key);
    bad.expect(r->alive.load(), "a lookup returned a destroyed value", key);
    if (key >= stable_keys && key < stable_keys + writer_keys) {
        long& seen = last_gen[static_cast<std::size_t>(key - stable_keys)];
        bad.expect(r->gen >= seen, "a reader saw an older value after a newer one", key);
        seen = std::max(seen, r->gen);
    }
}

/// A reader: lookups of stable keys (which must be found once published, until clear()
/// begins), of the writer's keys and of the bursts' keys, and snapshots.
void read_loop(ledger& bad, const map_type& map, const std::vector<ref<item>>& stable,
               const std::atomic<int>& published, const std::atomic<bool>& cleared,
               const std::atomic<bool>& stop, unsigned seed, std::atomic<long>& lookups) {
    std::mt19937 rng(seed);
    std::vector<long> last_gen(writer_keys, 0);
    long n = 0;
    while (!stop.load()) {
        const unsigned op = rng() % 16;
        const bool before = cleared.load();
        // acquire: the insert of every stable key below `limit` happened before this lookup.
        const int limit = published.load(std::memory_order_acquire);
        if (op < 8 && limit == 0) {
            continue;
        }
        if (op < 6) {
            const int key = static_cast<int>(rng() % static_cast<unsigned>(limit));
            ref<item> r = map.get(key);
            const bool after = cleared.load();
            if (r) {
                check_found(bad, r, key, last_gen);
                bad.expect(r == stable[static_cast<std::size_t>(key)],
                           "a stable key's lookup returned another object", key);
            } else {
                bad.expect(before || after, "a stable key was lost", key);
            }
        } else if (op < 8) {
            const int key = static_cast<int>(rng() % static_cast<unsigned>(limit));
            const bool found = map.contains(key);
            const bool after = cleared.load();
            bad.expect(found || before || after, "contains() lost a stable key", key);
        } else if (op < 14) {
            const int key = stable_keys + static_cast<int>(rng() % writer_keys);
            if (ref<item> r = map.get(key)) {
                check_found(bad, r, key, last_gen);
            }
        } else if (op == 14) {
            const int key = burst_base + static_cast<int>(rng() % burst_keys);
            if (ref<item> r = map.get(key)) {
                check_found(bad, r, key, last_gen);
            }
        } else {
            // A snapshot: each key once, each value its key's and alive; every stable key in it
            // unless clear() began.
            const auto items = map.items();
            const bool after = cleared.load();
            std::unordered_set<int> keys;
            int stable_seen = 0;
            for (const auto& kv : items) {
                bad.expect(keys.insert(kv.first).second, "a snapshot holds a key twice", kv.first);
                bad.expect(static_cast<bool>(kv.second), "a snapshot holds an empty ref", kv.first);
                if (kv.second) {
                    check_found(bad, kv.second, kv.first, last_gen);
                }
                stable_seen += kv.first < stable_keys ? 1 : 0;
            }
            bad.expect(before || after || stable_seen >= limit, "a snapshot lost a stable key",
                       stable_seen);
        }
        ++n;
    }
    lookups.fetch_add(n);
}

} // namespace

TEST_CASE("threads: lock-free readers racing inserts, replacements, erasures, growth, clear(), "
          "deaths on another thread and destruction never see a dying, foreign or older value, "
          "and lose or duplicate no entry",
          "[threads][weak_value_map][table]") {
    wrtest::watchdog dog("table readers against every writer", std::chrono::seconds(240));
    ledger bad;
    constexpr int rounds = 24;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    long total_lookups = 0;
    int rounds_run = 0;
    for (int round = 0; round < rounds && std::chrono::steady_clock::now() < deadline; ++round) {
        ++rounds_run;
        auto map = std::make_unique<map_type>();
        std::vector<ref<item>> stable;
        stable.reserve(stable_keys);
        for (int k = 0; k < stable_keys; ++k) {
            stable.push_back(make_item(k, 1));
        }
        std::atomic<int> published{0};
        std::atomic<bool> cleared{false};
        std::atomic<bool> stop{false};
        std::atomic<bool> writer_done{false};
        std::atomic<long> lookups{0};
        death_row row;
        std::vector<ref<item>> held(writer_keys); // the writer's live values, by key

        std::thread readers[2];
        for (int i = 0; i < 2; ++i) {
            readers[i] = std::thread([&, i] {
                read_loop(bad, *map, stable, published, cleared, stop,
                          static_cast<unsigned>(round * 10 + i + 1), lookups);
            });
        }
        std::thread killer([&] {
            std::mt19937 rng(static_cast<unsigned>(round) + 77U);
            while (!writer_done.load() || !row.empty()) {
                if (row.drop_some(rng, 64) == 0) {
                    std::this_thread::yield();
                }
            }
        });

        // The writer (this thread): replacements whose old value dies here or on the killer's
        // thread, erasures, and bursts that make the table grow, then shrink as they die.
        std::mt19937 rng(static_cast<unsigned>(round) + 1000U);
        // The stable keys go in while the readers already look them up: the empty table grows
        // under them.
        for (int k = 0; k < stable_keys; ++k) {
            bad.expect(map->insert(k, stable[static_cast<std::size_t>(k)]),
                       "insert of a stable key", k);
            // release: the insert happens before a reader's lookup of key k.
            published.store(k + 1, std::memory_order_release);
        }
        long gen = 1;
        for (int step = 0; step < writer_steps; ++step) {
            const unsigned op = rng() % 100;
            const int j = static_cast<int>(rng() % writer_keys);
            const int key = stable_keys + j;
            ref<item>& slot = held[static_cast<std::size_t>(j)];
            if (op < 50) {
                ref<item> fresh = make_item(key, ++gen);
                const bool added = map->insert_or_assign(key, fresh);
                // Without a held value the key may still hold one handed to the killer.
                bad.expect(!slot || !added, "insert_or_assign over a live value added", key);
                ref<item> old = std::exchange(slot, std::move(fresh));
                if (old && (op & 1) != 0) {
                    row.hand(std::move(old)); // dies on the killer's thread
                }
                // else: dies here, now, as the replaced value goes
            } else if (op < 70) {
                const bool erased = map->erase(key);
                bad.expect(!slot || erased, "erase of a live value returned false", key);
                if (slot) {
                    row.hand(std::move(slot));
                    slot = ref<item>();
                }
            } else if (op < 85) {
                if (slot) {
                    row.hand(std::move(slot)); // its death removes the entry
                    slot = ref<item>();
                }
            } else if (op == 85 && rng() % 4 == 0) {
                // A burst: the table grows while the readers walk it, then shrinks as the
                // values die in a shuffled order on the killer's thread.
                for (int b = 0; b < burst_keys; ++b) {
                    ref<item> v = make_item(burst_base + b, 1);
                    map->insert_or_assign(burst_base + b, v);
                    row.hand(std::move(v));
                }
            } else if (slot) {
                bad.expect(map->get(key) == slot, "the writer's own key", key);
            }
        }

        // Quiet for the writer's keys: every value handed over has died. The readers still
        // run; the size and the contents must now be exact.
        while (!row.empty()) {
            std::this_thread::yield();
        }
        // The killer may still hold the last ones it took: wait until their entries are gone.
        std::size_t expected = stable_keys;
        for (const auto& h : held) {
            expected += h ? 1 : 0;
        }
        // A reader's snapshot or lookup may hold one of them a moment longer (its death then
        // runs on the reader's thread): wait for the entries by time, not by a count of yields.
        const auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (map->size() != expected && std::chrono::steady_clock::now() < settle) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        bad.expect(map->size() == expected, "size() after the writer's deaths",
                   static_cast<long>(map->size()));
        bad.expect(map->items().size() == expected, "items() after the writer's deaths",
                   static_cast<long>(map->items().size()));
        for (int j = 0; j < writer_keys; ++j) {
            const ref<item>& h = held[static_cast<std::size_t>(j)];
            bad.expect(map->get(stable_keys + j) == h, "a writer key's final value", j);
        }

        // clear() while the readers run.
        cleared.store(true);
        map->clear();
        bad.expect(map->empty(), "clear() left entries", static_cast<long>(map->size()));
        stop.store(true);
        for (auto& t : readers) {
            t.join();
        }
        total_lookups += lookups.load();

        // The writer's values refill the map, then die on the killer's thread while this
        // thread destroys the map.
        for (int j = 0; j < writer_keys; ++j) {
            ref<item>& h = held[static_cast<std::size_t>(j)];
            if (h) {
                map->insert(stable_keys + j, h);
                row.hand(std::move(h));
                h = ref<item>();
            }
        }
        writer_done.store(true);
        map.reset();
        killer.join();
        stable.clear();
        bad.expect(items_alive.load() == 0, "values alive after the round", items_alive.load());
    }
    INFO(bad.summary());
    INFO("rounds: " << rounds_run << ", lookups: " << total_lookups);
    CHECK(bad.count() == 0);
    CHECK(rounds_run >= 1);
    CHECK(total_lookups > 0);
    CHECK(items_alive.load() == 0);
}
