// SPDX-License-Identifier: MIT
// Benchmarks of weak_value_map (both flavours) against a hand-rolled map of std::weak_ptr and a
// map of raw pointers, including the cheese-shop workload that bench/python_cheese.py runs.
//
// Case names are `<operation>/<implementation>`; bench/ratios.py pairs the cases of one run.
// Implementations:
//   weak_value_map        weakref::weak_value_map<std::string, cheese>
//   local_weak_value_map  weakref::local::weak_value_map<std::string, cheese>
//   hand_rolled_mutex     std::unordered_map<std::string, std::weak_ptr<cheese>> + std::mutex
//   hand_rolled           the same without the mutex
//   floor                 std::unordered_map<std::string, cheese*>: no weak semantics at all
// The hand-rolled maps' `get` is find + lock(); their dead entries leave by a sweep over the
// whole map (what std::erase_if would do), which the churn and drop phases count.
//
// main() starts and joins a std::thread before any benchmark, so the process is threaded:
// std::shared_ptr and weakref::ref use atomic counts, as in a real server.

#include <weakref/weakref.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <sys/single_threaded.h>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

// --- Counting the bytes a map allocates --------------------------------------------------------
//
// operator new/delete are replaced for the whole program: malloc/free, plus, while `on` is set
// (by one thread, in bytes_per_entry only), a record of every block allocated and not yet
// freed, so that the bytes a map holds after its insertions are exact, whatever it freed on
// the way (a rehash frees the old bucket array).

namespace counting {

std::atomic<bool> on{false};

struct slot {
    void* block;
    std::size_t bytes;
};
constexpr std::size_t slot_count = std::size_t{1} << 21; // open addressing, linear probing
slot* slots = nullptr;                                   // malloc'd when counting starts
void* const tombstone = reinterpret_cast<void*>(std::uintptr_t{1});
std::size_t live_bytes = 0;
std::size_t live_blocks = 0;

std::size_t home(void* p) {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    a ^= a >> 21;
    return static_cast<std::size_t>(a * 0x9E3779B97F4A7C15ULL) & (slot_count - 1);
}

void record(void* p, std::size_t bytes) {
    for (std::size_t i = home(p);; i = (i + 1) & (slot_count - 1)) {
        if (slots[i].block == nullptr || slots[i].block == tombstone) {
            slots[i] = {p, bytes};
            live_bytes += bytes;
            ++live_blocks;
            return;
        }
    }
}

void forget(void* p) {
    for (std::size_t i = home(p); slots[i].block != nullptr; i = (i + 1) & (slot_count - 1)) {
        if (slots[i].block == p) {
            live_bytes -= slots[i].bytes;
            --live_blocks;
            slots[i].block = tombstone;
            return;
        }
    }
}

/// Counts from now: live_bytes and live_blocks cover what is allocated from here on.
void start() {
    if (slots == nullptr) {
        slots = static_cast<slot*>(std::malloc(slot_count * sizeof(slot)));
        if (slots == nullptr) {
            std::abort();
        }
    }
    std::fill(slots, slots + slot_count, slot{nullptr, 0});
    live_bytes = 0;
    live_blocks = 0;
    on.store(true, std::memory_order_relaxed);
}
void stop() { on.store(false, std::memory_order_relaxed); }

void* allocate(std::size_t bytes, std::size_t align) {
    void* p = nullptr;
    if (align <= alignof(std::max_align_t)) {
        p = std::malloc(bytes != 0 ? bytes : 1);
    } else if (posix_memalign(&p, align, bytes != 0 ? bytes : 1) != 0) {
        p = nullptr;
    }
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    if (on.load(std::memory_order_relaxed)) {
        record(p, bytes);
    }
    return p;
}

void deallocate(void* p) noexcept {
    if (p != nullptr && on.load(std::memory_order_relaxed)) {
        forget(p);
    }
    std::free(p);
}

} // namespace counting

void* operator new(std::size_t n) { return counting::allocate(n, 0); }
void* operator new[](std::size_t n) { return counting::allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
    return counting::allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return counting::allocate(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t& /*unused*/) noexcept {
    try {
        return counting::allocate(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t& /*unused*/) noexcept {
    try {
        return counting::allocate(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept { counting::deallocate(p); }
void operator delete[](void* p) noexcept { counting::deallocate(p); }
void operator delete(void* p, std::size_t /*unused*/) noexcept { counting::deallocate(p); }
void operator delete[](void* p, std::size_t /*unused*/) noexcept { counting::deallocate(p); }
void operator delete(void* p, std::align_val_t /*unused*/) noexcept { counting::deallocate(p); }
void operator delete[](void* p, std::align_val_t /*unused*/) noexcept { counting::deallocate(p); }
void operator delete(void* p, std::size_t /*unused*/, std::align_val_t /*unused*/) noexcept {
    counting::deallocate(p);
}
void operator delete[](void* p, std::size_t /*unused*/, std::align_val_t /*unused*/) noexcept {
    counting::deallocate(p);
}
void operator delete(void* p, const std::nothrow_t& /*unused*/) noexcept {
    counting::deallocate(p);
}
void operator delete[](void* p, const std::nothrow_t& /*unused*/) noexcept {
    counting::deallocate(p);
}

namespace {

// --- The data ----------------------------------------------------------------------------------

constexpr std::size_t entries = 100'000;      // the container targets
constexpr std::size_t cheese_count = 200'000; // the cheese shop, as in python_cheese.py
constexpr const char* filler = "cheese-wensleydale-stilton";

/// Key i: 12 to 20 characters, unique by its 6-digit prefix (python_cheese.py agrees). Keys
/// of 16 characters and more live on the heap (libstdc++ keeps up to 15 inside the string).
std::string cheese_name(std::size_t i) {
    const std::size_t length = 12 + (i * 7919) % 9;
    std::string digits = std::to_string(i);
    std::string name = std::string(6 - std::min<std::size_t>(6, digits.size()), '0') + digits;
    name += '-';
    name += filler;
    name.resize(length);
    return name;
}

/// The keys 0..n-1, made once per n.
const std::vector<std::string>& names(std::size_t n) {
    static const std::vector<std::string> small = [] {
        std::vector<std::string> v;
        for (std::size_t i = 0; i < entries; ++i) {
            v.push_back(cheese_name(i));
        }
        return v;
    }();
    static const std::vector<std::string> large = [] {
        std::vector<std::string> v;
        for (std::size_t i = 0; i < cheese_count; ++i) {
            v.push_back(cheese_name(i));
        }
        return v;
    }();
    return n == entries ? small : large;
}

/// Equal keys in distinct strings (a lookup never finds its own key object), in order.
const std::vector<std::string>& lookup_names(std::size_t n) {
    static const std::vector<std::string> small(names(entries).begin(), names(entries).end());
    static const std::vector<std::string> large(names(cheese_count).begin(),
                                                names(cheese_count).end());
    return n == entries ? small : large;
}

/// The same keys as lookup_names(entries), shuffled with a fixed seed.
const std::vector<std::string>& shuffled_names() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out = lookup_names(entries);
        std::shuffle(out.begin(), out.end(), std::mt19937_64(20260401));
        return out;
    }();
    return v;
}

struct cheese {
    std::uint64_t number;
    double price;
};

// --- The implementations, behind one interface --------------------------------------------------
//
// make(i): a value; put(key, value): insert_or_assign with a key copy; get(key): the value or
// empty; drop(catalog): let every value of `catalog` die and the map empty itself.

template <class Map, class Ref, Ref (*Make)(std::uint64_t)> class library_map {
public:
    using handle = Ref;
    static handle make(std::uint64_t i) { return Make(i); }
    handle get(const std::string& key) const { return map_.get(key); }
    void put(const std::string& key, const handle& v) { map_.insert_or_assign(key, v); }
    void drop(std::vector<handle>& catalog) { catalog.clear(); } // entries leave at the death
    std::size_t size() const { return map_.size(); }

private:
    Map map_;
};

weakref::ref<cheese> make_ts(std::uint64_t i) { return weakref::make_ref<cheese>(cheese{i, 1.5}); }
weakref::local::ref<cheese> make_local(std::uint64_t i) {
    return weakref::local::make_ref<cheese>(cheese{i, 1.5});
}
using weak_value_map =
    library_map<weakref::weak_value_map<std::string, cheese>, weakref::ref<cheese>, &make_ts>;
using local_weak_value_map = library_map<weakref::local::weak_value_map<std::string, cheese>,
                                         weakref::local::ref<cheese>, &make_local>;

struct no_mutex {
    void lock() noexcept {}
    void unlock() noexcept {}
};

template <class Mutex> class hand_rolled_map {
public:
    using handle = std::shared_ptr<cheese>;
    static handle make(std::uint64_t i) { return std::make_shared<cheese>(cheese{i, 1.5}); }
    handle get(const std::string& key) const {
        std::lock_guard<Mutex> lock(mutex_);
        auto it = map_.find(key);
        return it != map_.end() ? it->second.lock() : handle();
    }
    void put(const std::string& key, const handle& v) {
        std::lock_guard<Mutex> lock(mutex_);
        map_.insert_or_assign(key, v);
    }
    void drop(std::vector<handle>& catalog) {
        catalog.clear();
        purge();
    }
    /// What std::erase_if(map, expired) does, under the lock.
    void purge() {
        std::lock_guard<Mutex> lock(mutex_);
        for (auto it = map_.begin(); it != map_.end();) {
            if (it->second.expired()) {
                it = map_.erase(it);
            } else {
                ++it;
            }
        }
    }
    std::size_t size() const {
        std::lock_guard<Mutex> lock(mutex_);
        return map_.size();
    }

private:
    mutable Mutex mutex_;
    std::unordered_map<std::string, std::weak_ptr<cheese>> map_;
};
using hand_rolled_mutex = hand_rolled_map<std::mutex>;
using hand_rolled = hand_rolled_map<no_mutex>;

class floor_map {
public:
    using handle = std::unique_ptr<cheese>;
    static handle make(std::uint64_t i) { return std::make_unique<cheese>(cheese{i, 1.5}); }
    cheese* get(const std::string& key) const {
        auto it = map_.find(key);
        return it != map_.end() ? it->second : nullptr;
    }
    void put(const std::string& key, const handle& v) { map_.insert_or_assign(key, v.get()); }
    void drop(std::vector<handle>& catalog) {
        catalog.clear();
        map_.clear();
    }
    std::size_t size() const { return map_.size(); }

private:
    std::unordered_map<std::string, cheese*> map_;
};

template <class Impl> std::vector<typename Impl::handle> make_catalog(std::size_t n) {
    std::vector<typename Impl::handle> catalog;
    catalog.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        catalog.push_back(Impl::make(i));
    }
    return catalog;
}

/// A map of `n` entries and the values that keep them alive.
template <class Impl> struct filled {
    explicit filled(std::size_t n) : values(make_catalog<Impl>(n)) {
        const auto& keys = names(n);
        for (std::size_t i = 0; i < n; ++i) {
            map.put(keys[i], values[i]);
        }
    }
    std::vector<typename Impl::handle> values;
    Impl map;
};

/// The map that get and get_threads read: made once, on first use (thread-safe).
template <class Impl> filled<Impl>& get_fixture() {
    static filled<Impl> f(entries);
    return f;
}

void label(benchmark::State& state) {
    state.SetLabel(__libc_single_threaded != 0 ? "libc_single_threaded=1"
                                               : "libc_single_threaded=0");
}

// --- get of a live key -------------------------------------------------------------------------

template <class Impl> void get(benchmark::State& state) {
    const Impl& map = get_fixture<Impl>().map;
    const auto& keys = shuffled_names();
    std::size_t i = 0;
    for (auto _ : state) {
        auto v = map.get(keys[i]);
        benchmark::DoNotOptimize(v);
        if (++i == keys.size()) {
            i = 0;
        }
    }
    label(state);
}
BENCHMARK(get<weak_value_map>)->Name("get/weak_value_map");
BENCHMARK(get<local_weak_value_map>)->Name("get/local_weak_value_map");
BENCHMARK(get<hand_rolled_mutex>)->Name("get/hand_rolled_mutex");
BENCHMARK(get<hand_rolled>)->Name("get/hand_rolled");
BENCHMARK(get<floor_map>)->Name("get/floor");

// --- get on 1 and 2 threads, each thread its own keys ------------------------------------------

template <class Impl> void get_threads(benchmark::State& state) {
    const Impl& map = get_fixture<Impl>().map;
    const auto& keys = shuffled_names();
    const auto first = static_cast<std::size_t>(state.thread_index());
    const auto stride = static_cast<std::size_t>(state.threads());
    std::size_t i = first;
    for (auto _ : state) {
        auto v = map.get(keys[i]);
        benchmark::DoNotOptimize(v);
        i += stride;
        if (i >= keys.size()) {
            i = first;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(get_threads<weak_value_map>)
    ->Name("get_threads/weak_value_map")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(get_threads<hand_rolled_mutex>)
    ->Name("get_threads/hand_rolled_mutex")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(get_threads<floor_map>)->Name("get_threads/floor")->Threads(1)->Threads(2)->UseRealTime();

// --- insert_or_assign: replace a live key's value ----------------------------------------------

template <class Impl> void insert_or_assign(benchmark::State& state) {
    // Two value sets, both alive; each assignment swaps a key to the other set's value.
    filled<Impl> f(entries);
    const auto others = make_catalog<Impl>(entries);
    const auto& keys = shuffled_names();
    const auto& in_order = names(entries);
    std::vector<std::size_t> index(entries);
    for (std::size_t i = 0; i < entries; ++i) {
        // The shuffled key's number is its 6-digit prefix.
        index[i] = static_cast<std::size_t>(std::stoul(keys[i].substr(0, 6)));
    }
    std::size_t i = 0;
    bool to_others = true;
    for (auto _ : state) {
        const std::size_t k = index[i];
        f.map.put(in_order[k], to_others ? others[k] : f.values[k]);
        if (++i == entries) {
            i = 0;
            to_others = !to_others;
        }
    }
    if (f.map.size() != entries) {
        state.SkipWithError("insert_or_assign changed the number of entries");
    }
    label(state);
}
BENCHMARK(insert_or_assign<weak_value_map>)->Name("insert_or_assign/weak_value_map");
BENCHMARK(insert_or_assign<local_weak_value_map>)->Name("insert_or_assign/local_weak_value_map");
BENCHMARK(insert_or_assign<hand_rolled_mutex>)->Name("insert_or_assign/hand_rolled_mutex");
BENCHMARK(insert_or_assign<hand_rolled>)->Name("insert_or_assign/hand_rolled");
BENCHMARK(insert_or_assign<floor_map>)->Name("insert_or_assign/floor");

// --- churn: insert N into an empty map, drop the N values, entries gone --------------------------

template <class Impl> void churn(benchmark::State& state) {
    const auto& keys = names(entries);
    for (auto _ : state) {
        state.PauseTiming();
        auto catalog = make_catalog<Impl>(entries);
        auto map = std::make_unique<Impl>();
        state.ResumeTiming();
        for (std::size_t i = 0; i < entries; ++i) {
            map->put(keys[i], catalog[i]);
        }
        map->drop(catalog);
        state.PauseTiming();
        if (map->size() != 0) {
            state.SkipWithError("churn left entries behind");
        }
        map.reset();
        state.ResumeTiming();
    }
    state.counters["ops_per_iteration"] = static_cast<double>(entries);
    label(state);
}
BENCHMARK(churn<weak_value_map>)->Name("churn/weak_value_map")->Unit(benchmark::kMillisecond);
BENCHMARK(churn<local_weak_value_map>)
    ->Name("churn/local_weak_value_map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(churn<hand_rolled_mutex>)->Name("churn/hand_rolled_mutex")->Unit(benchmark::kMillisecond);
BENCHMARK(churn<hand_rolled>)->Name("churn/hand_rolled")->Unit(benchmark::kMillisecond);
BENCHMARK(churn<floor_map>)->Name("churn/floor")->Unit(benchmark::kMillisecond);

// --- bytes per entry: what the map itself holds, keys included, values not -----------------------

template <class Impl> void bytes_per_entry(benchmark::State& state) {
    const auto& keys = names(entries);
    std::size_t bytes = 0;
    std::size_t blocks = 0;
    for (auto _ : state) {
        auto catalog = make_catalog<Impl>(entries); // the values: not counted
        counting::start();
        auto map = std::make_unique<Impl>();
        for (std::size_t i = 0; i < entries; ++i) {
            map->put(keys[i], catalog[i]);
        }
        counting::stop();
        bytes = counting::live_bytes;
        blocks = counting::live_blocks;
        map.reset();
    }
    state.counters["bytes_per_entry"] = static_cast<double>(bytes) / entries;
    state.counters["allocations_per_entry"] = static_cast<double>(blocks) / entries;
    label(state);
}
BENCHMARK(bytes_per_entry<weak_value_map>)->Name("bytes_per_entry/weak_value_map")->Iterations(1);
BENCHMARK(bytes_per_entry<local_weak_value_map>)
    ->Name("bytes_per_entry/local_weak_value_map")
    ->Iterations(1);
BENCHMARK(bytes_per_entry<hand_rolled_mutex>)
    ->Name("bytes_per_entry/hand_rolled_mutex")
    ->Iterations(1);
BENCHMARK(bytes_per_entry<hand_rolled>)->Name("bytes_per_entry/hand_rolled")->Iterations(1);
BENCHMARK(bytes_per_entry<floor_map>)->Name("bytes_per_entry/floor")->Iterations(1);

// --- The cheese shop: python_cheese.py's three phases, 200k cheeses ------------------------------

/// insert: every cheese into an empty map (insert_or_assign, the key copied, as d[k] = v).
template <class Impl> void cheese_insert(benchmark::State& state) {
    const auto& keys = names(cheese_count);
    for (auto _ : state) {
        state.PauseTiming();
        auto catalog = make_catalog<Impl>(cheese_count);
        auto map = std::make_unique<Impl>();
        state.ResumeTiming();
        for (std::size_t i = 0; i < cheese_count; ++i) {
            map->put(keys[i], catalog[i]);
        }
        state.PauseTiming();
        map->drop(catalog);
        map.reset();
        state.ResumeTiming();
    }
    state.counters["ops_per_iteration"] = static_cast<double>(cheese_count);
    label(state);
}

/// lookup: every cheese, through an equal but distinct string.
template <class Impl> void cheese_lookup(benchmark::State& state) {
    filled<Impl> f(cheese_count);
    const auto& keys = lookup_names(cheese_count);
    for (auto _ : state) {
        for (const std::string& k : keys) {
            auto v = f.map.get(k);
            benchmark::DoNotOptimize(v);
        }
    }
    state.counters["ops_per_iteration"] = static_cast<double>(cheese_count);
    label(state);
}

/// drop: let every cheese die; the map ends empty.
template <class Impl> void cheese_drop(benchmark::State& state) {
    const auto& keys = names(cheese_count);
    for (auto _ : state) {
        state.PauseTiming();
        auto catalog = make_catalog<Impl>(cheese_count);
        auto map = std::make_unique<Impl>();
        for (std::size_t i = 0; i < cheese_count; ++i) {
            map->put(keys[i], catalog[i]);
        }
        state.ResumeTiming();
        map->drop(catalog);
        state.PauseTiming();
        if (map->size() != 0) {
            state.SkipWithError("drop left entries behind");
        }
        map.reset();
        state.ResumeTiming();
    }
    state.counters["ops_per_iteration"] = static_cast<double>(cheese_count);
    label(state);
}

#define WEAKREF_CHEESE(phase)                                                                      \
    BENCHMARK(cheese_##phase<weak_value_map>)                                                      \
        ->Name("cheese_" #phase "/weak_value_map")                                                 \
        ->Unit(benchmark::kMillisecond);                                                           \
    BENCHMARK(cheese_##phase<local_weak_value_map>)                                                \
        ->Name("cheese_" #phase "/local_weak_value_map")                                           \
        ->Unit(benchmark::kMillisecond);                                                           \
    BENCHMARK(cheese_##phase<hand_rolled_mutex>)                                                   \
        ->Name("cheese_" #phase "/hand_rolled_mutex")                                              \
        ->Unit(benchmark::kMillisecond);                                                           \
    BENCHMARK(cheese_##phase<hand_rolled>)                                                         \
        ->Name("cheese_" #phase "/hand_rolled")                                                    \
        ->Unit(benchmark::kMillisecond);                                                           \
    BENCHMARK(cheese_##phase<floor_map>)                                                           \
        ->Name("cheese_" #phase "/floor")                                                          \
        ->Unit(benchmark::kMillisecond)
WEAKREF_CHEESE(insert);
WEAKREF_CHEESE(lookup);
WEAKREF_CHEESE(drop);
#undef WEAKREF_CHEESE

} // namespace

int main(int argc, char** argv) {
    // One thread, started and joined: the process is threaded from here on, for good.
    std::thread([] {}).join();
    benchmark::AddCustomContext("weakref_process", "threaded (started and joined a std::thread)");
    benchmark::AddCustomContext("weakref_libc_single_threaded",
                                std::to_string(int{__libc_single_threaded}));
    benchmark::AddCustomContext("weakref_entries", std::to_string(entries));
    benchmark::AddCustomContext("weakref_cheeses", std::to_string(cheese_count));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
