// SPDX-License-Identifier: MIT
// What a container's table holds, counted by replacing operator new/delete for this program
// (each block carries its size in a header, so that the bytes still held are exact): a
// thread-safe map that only grows, with no lookup running, holds no more than a local one
// filled alike. Its readers may still stand on an outgrown bucket array for a grace period,
// but when none is reading the array is freed as it is outgrown, not after 63 more
// retirements (which a map that never erases would not make).
//
// A program of its own (not part of weakref_tests_sync): replacing operator new is global.
#include "support/catch.hpp"
#include "support/exceptions.hpp"
#include "support/keys.hpp"
#include "support/watchdog.hpp"

#include <weakref/ref.hpp>
#include <weakref/weak_value_map.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <new>
#include <thread>
#include <utility>
#include <vector>

// --- Counting the bytes every operator new hands out and every delete takes back -------------

namespace {

std::atomic<long> live_bytes{0};
// Set on a thread: its allocations fail (and are counted), as when memory has run out.
thread_local bool out_of_memory = false;
std::atomic<int> failed_allocations{0};

// Keeps every block max_align_t-aligned, as malloc's are.
constexpr std::size_t header = alignof(std::max_align_t);

void* counted_malloc(std::size_t n) noexcept {
    if (out_of_memory) {
        failed_allocations.fetch_add(1);
        return nullptr;
    }
    void* raw = std::malloc(header + n);
    if (raw == nullptr) {
        return nullptr;
    }
    *static_cast<std::size_t*>(raw) = n;
    live_bytes.fetch_add(static_cast<long>(n), std::memory_order_relaxed);
    return static_cast<unsigned char*>(raw) + header;
}

void counted_delete(void* p) noexcept {
    if (p != nullptr) {
        void* raw = static_cast<unsigned char*>(p) - header;
        live_bytes.fetch_sub(static_cast<long>(*static_cast<std::size_t*>(raw)),
                             std::memory_order_relaxed);
        std::free(raw);
    }
}

} // namespace

#include "support/replaced_new.hpp"

namespace {

constexpr int entries = 100000;

/// The bytes a map of `entries` ints holds once filled (the values made before counting).
template <class Map, class Ref> long bytes_of_filled_map(const std::vector<Ref>& values) {
    Map map;
    const long before = live_bytes.load();
    for (int i = 0; i < entries; ++i) {
        map.insert_or_assign(i, values[static_cast<std::size_t>(i)]);
    }
    const long held = live_bytes.load() - before;
    const bool all_there = map.size() == static_cast<std::size_t>(entries) &&
                           map.get(entries / 2) == values[entries / 2];
    CHECK(all_there);
    return held;
}

template <class Ref, class Make> std::vector<Ref> make_values(Make make) {
    std::vector<Ref> values;
    values.reserve(entries);
    for (int i = 0; i < entries; ++i) {
        values.push_back(make(i));
    }
    return values;
}

} // namespace

TEST_CASE("weak_table allocations: a thread-safe map that only grows holds what a local one "
          "holds",
          "[weak_table][allocations]") {
    const auto local_values = make_values<weakref::local::ref<int>>(
        [](int i) { return weakref::local::make_ref<int>(i); });
    const auto sync_values =
        make_values<weakref::ref<int>>([](int i) { return weakref::make_ref<int>(i); });
    {
        // The thread's reclamation record and its ring exist before counting, as in a program
        // that has used a map before.
        weakref::weak_value_map<int, int> warm;
        warm.insert_or_assign(0, sync_values[0]);
        CHECK(warm.get(0) == sync_values[0]);
    }

    const long local_bytes =
        bytes_of_filled_map<weakref::local::weak_value_map<int, int>>(local_values);
    const long sync_bytes = bytes_of_filled_map<weakref::weak_value_map<int, int>>(sync_values);

    // The tables are alike but for what reclamation keeps: bucket arrays a thread-safe table
    // outgrew (about 8 bytes an entry, kept, before, until 64 retirements had passed) and its
    // retire ring. Half a byte an entry of leeway leaves the ring room to grow.
    CAPTURE(local_bytes, sync_bytes);
    CHECK(local_bytes >= static_cast<long>(entries * sizeof(void*))); // the count sees the map
    CHECK(sync_bytes <= local_bytes + entries / 2);
}

TEST_CASE("weak_table allocations: the blocks of replaced values that died are freed within the "
          "reclamation bound without a flush, and all of them after one",
          "[weak_table][allocations][reclamation]") {
    using epoch = weakref::detail::epoch_domain;
    weakref::weak_value_map<int, int> map;
    map.insert_or_assign(0, weakref::make_ref<int>(-1)); // warm: record, ring, table
    weakref::flush_retired();
    const long block_bytes = [] {
        const long before = live_bytes.load();
        const auto one = weakref::make_ref<int>(0);
        return live_bytes.load() - before;
    }();
    REQUIRE(block_bytes > 0);

    // Each assignment replaces a value that then dies: its block stays until the entry's weak
    // unit on it is let go of, after a grace period. With no lookup running, that is within a
    // batch; the promise is the backlog.
    constexpr int assignments = 4 * static_cast<int>(epoch::backlog);
    auto held = weakref::make_ref<int>(0);
    map.insert_or_assign(0, held);
    const auto replace_all = [&] {
        for (int i = 1; i <= assignments; ++i) {
            auto fresh = weakref::make_ref<int>(i);
            map.insert_or_assign(0, fresh);
            held = std::move(fresh); // the value it replaced dies here
        }
    };
    replace_all(); // the thread's ring grows to what the run needs (it never shrinks)
    weakref::flush_retired();
    const long before = live_bytes.load();
    replace_all();
    const long kept = live_bytes.load() - before;
    // A flush gives back every dead value's block: the same bytes as before the run.
    weakref::flush_retired();
    const long kept_after_flush = live_bytes.load() - before;
    CAPTURE(block_bytes, kept, kept_after_flush); // (Catch's messages allocate: counted last)
    CHECK(map.get(0) == held);
    CHECK(kept <= static_cast<long>(epoch::backlog + epoch::batch) * block_bytes);
    CHECK(kept_after_flush == 0);
}

TEST_CASE("weak_table allocations: a thread that exits when memory has run out frees what it "
          "retired itself, while another thread flushes",
          "[weak_table][allocations][reclamation]") {
    // At its exit a thread hands its ring to the domain's orphans; if the orphans cannot grow,
    // it waits out a grace period and frees its items itself, while a flush on another thread
    // may be freeing from the same ring. Each item must be freed once, and all of them.
    const auto first = weakref::make_ref<int>(1);
    const auto second = weakref::make_ref<int>(2);
    weakref::weak_value_map<int, int> map;
    map.insert_or_assign(-1, second); // the table exists before the threads
    std::atomic<bool> done{false};
    std::atomic<bool> pause{false};
    std::atomic<bool> paused{false};
    std::thread flusher([&] {
        while (!done.load()) {
            if (pause.load()) {
                paused.store(true);
                while (pause.load() && !done.load()) {
                    std::this_thread::yield();
                }
                paused.store(false);
                continue;
            }
            weakref::flush_retired();
        }
    });
    // The threads' records and rings are made in the first rounds, then reused: from then on
    // the bytes held after a flush stay the same. In even rounds the flusher stands still, so
    // that the exiting thread surely has items to hand over (and runs out of memory doing it);
    // in odd rounds it races the exit.
    constexpr int rounds = 20;
    constexpr int settled = 4;
    long after_settled = 0;
    int quiet_rounds = 0;
    int quiet_rounds_out_of_memory = 0;
    for (int round = 0; round < rounds; ++round) {
        const bool quiet = round % 2 == 0;
        if (quiet) {
            pause.store(true);
            while (!paused.load()) {
                std::this_thread::yield();
            }
        }
        const int failed_before = failed_allocations.load();
        std::thread exiting([&] {
            for (int i = 0; i < 40; ++i) {
                map.insert_or_assign(i, first);
                map.insert_or_assign(i, second); // first's unit waits in this thread's ring
                map.erase(i);                    // and so does the entry
            }
            out_of_memory = true; // the exit's hand-over of the ring cannot allocate
        });
        exiting.join();
        if (quiet) {
            ++quiet_rounds;
            quiet_rounds_out_of_memory += failed_allocations.load() > failed_before ? 1 : 0;
            pause.store(false);
        }
        if (round == settled) {
            weakref::flush_retired();
            after_settled = live_bytes.load();
        }
    }
    done.store(true);
    flusher.join();
    weakref::flush_retired();
    const long grown = live_bytes.load() - after_settled;
    CAPTURE(grown, quiet_rounds, quiet_rounds_out_of_memory);
    CHECK(quiet_rounds_out_of_memory == quiet_rounds); // those exits did run out of memory
    CHECK(first.weak_count() == 0);
    CHECK(second.weak_count() == 1); // the entry of key -1
    CHECK(map.size() == 1);
    CHECK(grown <= 0); // nothing leaked (a few bytes of the threads' own machinery may go)
}

namespace {

weakref::weak_value_map<int, int>* other_map = nullptr;
std::atomic<bool> key_erased{false};
std::atomic<bool> lookup_running{false};

/// The action of a thread_local map's key: it erases from another map (so that the free which
/// runs it retires more) and waits for a lookup on another thread to begin.
struct erase_and_wait {
    void operator()() const {
        static_cast<void>(other_map->erase(5));
        key_erased.store(true);
        for (int i = 0; i < 2000 && !lookup_running.load(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
};
using erasing_key = wrtest::acting_key<erase_and_wait>;
/// A key equality that takes a while the first time (it computes; it waits for nobody).
struct slow_equal {
    bool operator()(int a, int b) const noexcept {
        if (!lookup_running.exchange(true)) {
            const auto start = std::chrono::steady_clock::now();
            while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300)) {
            }
        }
        return a == b;
    }
};

} // namespace

TEST_CASE("weak_table allocations: a thread_local map destroyed at its thread's exit when memory "
          "has run out, whose key's destructor retires more, gives its record back once",
          "[weak_table][allocations][reclamation]") {
    // The map outlives the hand-back of the thread's records, so its destruction takes a record
    // for that use only; handing that record's ring to the orphans fails (no memory), so the
    // thread frees it itself, and a key's destructor there erases from another map. That must
    // not hand the record back while the first hand-back still uses it: a lookup on another
    // thread would take it, and its announcement would be left up for good (every flush hangs).
    wrtest::watchdog dog("a thread_local map destroyed out of memory", std::chrono::seconds(30));
    auto& domain = weakref::detail::epoch_domain::instance();
    const auto v = weakref::make_ref<int>(1);
    weakref::weak_value_map<int, int> others;
    other_map = &others;
    others.insert(5, v);
    weakref::weak_value_map<int, int, std::hash<int>, slow_equal> slow;
    slow.insert(1, v);
    weakref::flush_retired();
    const std::size_t records_before = domain.records_in_use();
    const int failed_before = failed_allocations.load();
    std::thread exiting([&v] {
        thread_local weakref::weak_value_map<erasing_key, int, wrtest::acting_key_hash> mine;
        mine.insert(erasing_key(1, erase_and_wait{}), v);
        CHECK(mine.get(erasing_key(1)) == v); // the thread's record: after `mine`
        mine.insert(erasing_key(2), v);
        mine.erase(erasing_key(2));
        weakref::flush_retired();
        out_of_memory = true; // from here to the thread's end
    });
    while (!key_erased.load()) {
        std::this_thread::yield();
    }
    std::thread reader([&] { CHECK(slow.get(1) == v); });
    exiting.join();
    reader.join();
    CHECK(failed_allocations.load() > failed_before); // the hand-back did run out of memory
    others.insert(6, v);
    others.erase(6);          // something retired: the flush below waits for the epoch
    weakref::flush_retired(); // returns: no announcement is left up
    CHECK(slow.get(1) == v);
    CHECK(others.get(5) == nullptr);
    CHECK(domain.records_in_use() == records_before);
    CHECK(v.weak_count() == 1); // slow's entry
    other_map = nullptr;
}
