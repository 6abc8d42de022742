// SPDX-License-Identifier: MIT
// Benchmarks of weak_value_map (both flavours) against a hand-rolled map of std::weak_ptr and a
// map of raw pointers, including the cheese-shop workload that bench/python_cheese.py runs, and
// the thread-safe map on 1 and 2 threads against the concurrent maps a C++ user would reach for.
//
// Case names are `<operation>/<implementation>`; bench/ratios.py pairs the cases of one run.
// Implementations:
//   weak_value_map        weakref::weak_value_map<std::string, cheese>
//   local_weak_value_map  weakref::local::weak_value_map<std::string, cheese>
//   hand_rolled_mutex     std::unordered_map<std::string, std::weak_ptr<cheese>> + std::mutex
//   hand_rolled           the same without the mutex
//   shared_mutex          the same behind a std::shared_mutex (get takes it shared)
//   sharded16             16 such maps, each behind its own std::mutex, picked by the key's hash
//   tbb                   oneTBB's concurrent_hash_map<std::string, std::weak_ptr<cheese>>, get
//                         being find with a const_accessor, then lock() (built only where CMake
//                         found oneTBB)
//   floor                 std::unordered_map<std::string, cheese*>: no weak semantics, no lock
// The hand-rolled maps' `get` is find + lock(); their dead entries leave by a sweep over the
// whole map (what std::erase_if would do), which the churn and drop phases count.
//
// The threaded cases (get_own_keys, get_hot_keys, mixed_get_replace) run on 1 and 2 threads
// over one container per implementation, shared by the threads; each sets its own minimum time
// and repetitions (see `threaded` below), whatever --benchmark_repetitions says.
//
// main() starts and joins a std::thread before any benchmark, so the process is threaded:
// std::shared_ptr and weakref::ref use atomic counts, as in a real server.

#include <weakref/weakref.hpp>

#include <benchmark/benchmark.h>

#if WEAKREF_BENCH_TBB
#include <oneapi/tbb/concurrent_hash_map.h>
#include <oneapi/tbb/version.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <random>
#include <shared_mutex>
#include <string>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include "counting.hpp"

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

/// ReadLock is what get and size take: std::lock_guard, or std::shared_lock for a shared_mutex.
template <class Mutex, template <class> class ReadLock = std::lock_guard> class hand_rolled_map {
public:
    using handle = std::shared_ptr<cheese>;
    static handle make(std::uint64_t i) { return std::make_shared<cheese>(cheese{i, 1.5}); }
    handle get(const std::string& key) const {
        ReadLock<Mutex> lock(mutex_);
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
        ReadLock<Mutex> lock(mutex_);
        return map_.size();
    }

private:
    mutable Mutex mutex_;
    std::unordered_map<std::string, std::weak_ptr<cheese>> map_;
};
using hand_rolled_mutex = hand_rolled_map<std::mutex>;
using hand_rolled = hand_rolled_map<no_mutex>;
using shared_mutex_map = hand_rolled_map<std::shared_mutex, std::shared_lock>;

/// The hand-rolled map split in 16, each shard behind its own std::mutex on its own cache line,
/// the shard picked by the key's std::hash. The key is hashed twice (for its shard, then by the
/// shard's unordered_map), as the plain way of writing it does.
class sharded16_map {
public:
    using handle = std::shared_ptr<cheese>;
    static handle make(std::uint64_t i) { return std::make_shared<cheese>(cheese{i, 1.5}); }
    handle get(const std::string& key) const {
        const shard& s = shard_of(key);
        std::lock_guard<std::mutex> lock(s.mutex);
        auto it = s.map.find(key);
        return it != s.map.end() ? it->second.lock() : handle();
    }
    void put(const std::string& key, const handle& v) {
        shard& s = shard_of(key);
        std::lock_guard<std::mutex> lock(s.mutex);
        s.map.insert_or_assign(key, v);
    }
    std::size_t size() const {
        std::size_t n = 0;
        for (const shard& s : shards_) {
            std::lock_guard<std::mutex> lock(s.mutex);
            n += s.map.size();
        }
        return n;
    }

private:
    static constexpr std::size_t shard_count = 16;
    struct alignas(64) shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, std::weak_ptr<cheese>> map;
    };
    shard& shard_of(const std::string& key) {
        return shards_[std::hash<std::string>{}(key) % shard_count];
    }
    const shard& shard_of(const std::string& key) const {
        return shards_[std::hash<std::string>{}(key) % shard_count];
    }
    std::array<shard, shard_count> shards_;
};

#if WEAKREF_BENCH_TBB
/// oneTBB's concurrent hash map of weak_ptr, used as its documentation shows: get is find with a
/// const_accessor (the element's reader lock, held until the accessor dies), then lock(); put is
/// insert with an accessor (the writer lock; the key copied only when absent), then assignment.
/// Its nodes come from tbb_allocator, which is tbbmalloc where that library is installed.
class tbb_map {
public:
    using handle = std::shared_ptr<cheese>;
    static handle make(std::uint64_t i) { return std::make_shared<cheese>(cheese{i, 1.5}); }
    handle get(const std::string& key) const {
        table::const_accessor a;
        return map_.find(a, key) ? a->second.lock() : handle();
    }
    void put(const std::string& key, const handle& v) {
        table::accessor a;
        map_.insert(a, key);
        a->second = v;
    }
    std::size_t size() const { return map_.size(); }

private:
    using table = tbb::concurrent_hash_map<std::string, std::weak_ptr<cheese>>;
    table map_;
};
#endif

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

/// Whether every key is found, each through an equal but distinct string. Run once on each
/// shared fixture before any case times it, so that every implementation starts from a table
/// it has read through once (oneTBB's rehashes after growth are lazy: its first look-ups would
/// finish them).
template <class Impl> bool every_key_found(const Impl& map) {
    for (const std::string& k : lookup_names(entries)) {
        if (!map.get(k)) {
            return false;
        }
    }
    return true;
}

/// A map of `entries` entries, made and checked once, on first use (thread-safe), and shared by
/// every thread of every case that asks for it. get and the read-only threaded cases share
/// fixture 0; mixed_get_replace changes values, so it has fixture 1 to itself.
template <class Impl, int Which = 0> filled<Impl>& shared_fixture() {
    static filled<Impl> f(entries);
    static const bool found = every_key_found(f.map);
    if (!found) {
        std::fputs("bench_containers: a fixture lost a key\n", stderr);
        std::abort();
    }
    return f;
}

void label(benchmark::State& state) {
    state.SetLabel(__libc_single_threaded != 0 ? "libc_single_threaded=1"
                                               : "libc_single_threaded=0");
}

// --- get of a live key -------------------------------------------------------------------------

template <class Impl> void get(benchmark::State& state) {
    const Impl& map = shared_fixture<Impl>().map;
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

// --- On 1 and 2 threads, one container shared by the threads ------------------------------------
//
// Every case runs on 1 and 2 threads (Google Benchmark's threads, started afresh for each run)
// and reports items_per_second: the operations of all its threads per second of wall time.
// bench/ratios.py divides the 2-thread figure by the 1-thread one of the same implementation
// and the same run. The key lists are copies, made by the thread that uses them before its
// timed loop, with fixed seeds: every implementation gets the same keys in the same orders.

constexpr int thread_repetitions = 15;   // enough for a spread below 10% on 2 shared cores
constexpr double thread_min_time = 0.25; // seconds of wall time per repetition
constexpr std::size_t hot_count = 64;

// The machine may be shared: another tenant's build takes a core from a 2-thread case for
// seconds at a time (and, on a virtual machine whose two CPUs are one core's two hardware
// threads, slows a 1-thread case by half), which no number of repetitions averages away. So
// before each run of a threaded case its first thread waits, untimed, until the other tenants
// have been idle for a moment (the case's other thread asleep at Google Benchmark's start
// barrier meanwhile), and after the run it reports how many cores they took during it (counter
// others_cores; bench/ratios.py leaves out the runs where they took more than quiet_cores).
// The same for every implementation.
namespace tenants {

constexpr double quiet_window = 0.2;      // seconds others must stay below quiet_cores
constexpr double quiet_cores = 0.1;       // cores others may take meanwhile (kernel threads do)
constexpr double default_patience = 30.0; // seconds of waiting, after which the run goes ahead
constexpr double budget = 600.0;          // seconds of waiting in all, after which no run waits
double waited = 0.0; // so far; only thread 0 of a case waits, one case at a time

/// Clock ticks the machine's CPUs have been busy (steal included: the host's other guests), from
/// /proc/stat; -1 where there is none.
long long busy_ticks() {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) {
        return -1;
    }
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                       steal = 0;
    const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice,
                              &system, &idle, &iowait, &irq, &softirq, &steal);
    std::fclose(f);
    return n == 8 ? static_cast<long long>(user + nice + system + irq + softirq + steal) : -1;
}

/// CPU seconds this process has used, every thread.
double own_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

/// The machine's busy time, ours, and the wall clock, at one instant.
struct snapshot {
    long long busy = busy_ticks();
    double own = own_cpu_seconds();
    std::chrono::steady_clock::time_point when = std::chrono::steady_clock::now();

    /// The cores others have taken on average since `this`; 0 without /proc/stat.
    double others_since() const {
        const snapshot now;
        const double wall = std::chrono::duration<double>(now.when - when).count();
        if (busy < 0 || now.busy < 0 || wall <= 0) {
            return 0.0;
        }
        const double busy_s = static_cast<double>(now.busy - busy) / clock_hz();
        return std::max(0.0, (busy_s - (now.own - own)) / wall);
    }
    static double clock_hz() {
        static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
        return hz;
    }
};

/// The patience: WEAKREF_BENCH_PATIENCE seconds if set (0: never wait), else default_patience.
double patience() {
    static const double p = [] {
        const char* v = std::getenv("WEAKREF_BENCH_PATIENCE");
        return v != nullptr ? std::strtod(v, nullptr) : default_patience;
    }();
    return p;
}

/// Waits until others took at most quiet_cores over one quiet_window, or for patience(), or
/// until the budget is spent; returns whether it found the machine quiet.
bool wait_for_quiet() {
    if (patience() <= 0.0) {
        return false;
    }
    const auto start = std::chrono::steady_clock::now();
    const auto spent = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    for (;;) {
        const snapshot before;
        std::this_thread::sleep_for(std::chrono::duration<double>(quiet_window));
        const bool quiet = before.others_since() <= quiet_cores;
        if (quiet || spent() >= patience() || waited + spent() >= budget) {
            waited += spent();
            return quiet;
        }
    }
}

/// Thread 0 of a threaded case: made just before the timed loop, it waits for quiet; report(),
/// after the loop, sets the counters others_cores and quiet_start (1 if the wait found quiet).
class quiet_run {
public:
    explicit quiet_run(benchmark::State& state)
        : state_(state), first_(state.thread_index() == 0), quiet_(first_ && wait_for_quiet()) {}
    void report() const {
        if (first_) {
            state_.counters["others_cores"] = start_.others_since();
            state_.counters["quiet_start"] = quiet_ ? 1.0 : 0.0;
        }
    }

private:
    benchmark::State& state_;
    bool first_;
    bool quiet_;
    snapshot start_; // after the wait
};

} // namespace tenants

std::mt19937_64 thread_seed(std::size_t t) { return std::mt19937_64(20260401 + 1 + t); }

/// (max - min) / median of the repetitions: the spread bench/ratios.py prints beside each
/// threaded figure.
double max_min_over_median(const std::vector<double>& v) {
    if (v.empty()) {
        return 0.0;
    }
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t n = sorted.size();
    const double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    return median != 0.0 ? (sorted.back() - sorted.front()) / median : 0.0;
}

/// What every threaded case runs with, whatever the command line asks.
void threaded(benchmark::internal::Benchmark* b) {
    b->Threads(1)
        ->Threads(2)
        ->UseRealTime()
        ->MinTime(thread_min_time)
        ->Repetitions(thread_repetitions)
        ->ComputeStatistics("spread", &max_min_over_median, benchmark::StatisticUnit::kPercentage);
}

/// Thread t of n, in get_own_keys: every n-th key of the shuffled order from the t-th, which is
/// a share of the keys of its own, in a random order of its own.
std::vector<std::string> own_keys(std::size_t t, std::size_t n) {
    const auto& all = shuffled_names();
    std::vector<std::string> out;
    for (std::size_t i = t; i < all.size(); i += n) {
        out.push_back(all[i]);
    }
    return out;
}

/// The 64 hot keys (the first of the shuffled order, so spread over any table), in thread t's
/// own shuffled order.
std::vector<std::string> hot_keys(std::size_t t) {
    const auto& all = shuffled_names();
    std::vector<std::string> out(all.begin(), all.begin() + hot_count);
    std::shuffle(out.begin(), out.end(), thread_seed(t));
    return out;
}

/// Every key, in thread t's own shuffled order.
std::vector<std::string> all_keys(std::size_t t) {
    std::vector<std::string> out = lookup_names(entries);
    std::shuffle(out.begin(), out.end(), thread_seed(t));
    return out;
}

/// A key that thread t may replace, with its number (its value's slot in the fixture).
struct owned_key {
    std::size_t number;
    std::string key;
};

/// Thread t of n's keys to replace in mixed_get_replace: the numbers [t*N/n, (t+1)*N/n), in
/// its own shuffled order. The shares are disjoint, so that no two threads ever write the same
/// owner slot; and contiguous, so that they write different cache lines of the slots.
std::vector<owned_key> replaced_keys(std::size_t t, std::size_t n) {
    const auto& in_order = lookup_names(entries);
    std::vector<owned_key> out;
    for (std::size_t k = t * entries / n; k < (t + 1) * entries / n; ++k) {
        out.push_back({k, in_order[k]});
    }
    std::shuffle(out.begin(), out.end(), thread_seed(t + 100));
    return out;
}

/// xorshift64*: the per-thread coin of mixed_get_replace, a few cycles a toss.
struct xorshift {
    std::uint64_t state;
    std::uint64_t next() noexcept {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1DULL;
    }
};

template <class Impl>
void get_each(benchmark::State& state, const Impl& map, const std::vector<std::string>& keys) {
    std::size_t i = 0;
    const tenants::quiet_run quiet(state);
    for (auto _ : state) {
        auto v = map.get(keys[i]);
        benchmark::DoNotOptimize(v);
        if (++i == keys.size()) {
            i = 0;
        }
    }
    quiet.report();
    state.SetItemsProcessed(state.iterations());
    label(state);
}

/// get, each thread over keys of its own (its share of the 100,000 keys).
template <class Impl> void get_own_keys(benchmark::State& state) {
    const Impl& map = shared_fixture<Impl>().map;
    const auto keys = own_keys(static_cast<std::size_t>(state.thread_index()),
                               static_cast<std::size_t>(state.threads()));
    get_each(state, map, keys);
}

/// get, every thread over the same 64 hot keys (in an order of its own).
template <class Impl> void get_hot_keys(benchmark::State& state) {
    const Impl& map = shared_fixture<Impl>().map;
    const auto keys = hot_keys(static_cast<std::size_t>(state.thread_index()));
    get_each(state, map, keys);
}

/// 90% get over every key, 10% replace: a fresh value for one of the thread's own keys, put
/// with insert_or_assign, then moved into the key's owner slot, so that the value it replaces
/// (whose last strong ref the slot held) dies right there. Which of the two an operation is
/// comes from the thread's coin, seeded by its index: the same sequence for every
/// implementation.
template <class Impl> void mixed_get_replace(benchmark::State& state) {
    auto& f = shared_fixture<Impl, 1>();
    const auto t = static_cast<std::size_t>(state.thread_index());
    const auto gets = all_keys(t);
    const auto mine = replaced_keys(t, static_cast<std::size_t>(state.threads()));
    xorshift coin{0x9E3779B97F4A7C15ULL * (t + 1)};
    std::size_t g = 0;
    std::size_t r = 0;
    const tenants::quiet_run quiet(state);
    for (auto _ : state) {
        if (coin.next() % 10 != 0) {
            auto v = f.map.get(gets[g]);
            benchmark::DoNotOptimize(v);
            if (++g == gets.size()) {
                g = 0;
            }
        } else {
            const owned_key& k = mine[r];
            auto fresh = Impl::make(k.number);
            f.map.put(k.key, fresh);
            f.values[k.number] = std::move(fresh); // the replaced value dies here
            if (++r == mine.size()) {
                r = 0;
            }
        }
    }
    quiet.report();
    state.SetItemsProcessed(state.iterations());
    label(state);
    // Every thread has left its loop (Google Benchmark waits for all at its end).
    if (t == 0 && f.map.size() != entries) {
        state.SkipWithError("mixed_get_replace changed the number of entries");
    }
}

#define WEAKREF_THREADED(workload, Impl, impl_name)                                                \
    BENCHMARK(workload<Impl>)->Name(#workload "/" impl_name)->Apply(threaded)

WEAKREF_THREADED(get_own_keys, floor_map, "floor");
WEAKREF_THREADED(get_own_keys, hand_rolled_mutex, "hand_rolled_mutex");
WEAKREF_THREADED(get_own_keys, shared_mutex_map, "shared_mutex");
WEAKREF_THREADED(get_own_keys, sharded16_map, "sharded16");
#if WEAKREF_BENCH_TBB
WEAKREF_THREADED(get_own_keys, tbb_map, "tbb");
#endif
WEAKREF_THREADED(get_own_keys, weak_value_map, "weak_value_map");

WEAKREF_THREADED(get_hot_keys, floor_map, "floor");
WEAKREF_THREADED(get_hot_keys, hand_rolled_mutex, "hand_rolled_mutex");
WEAKREF_THREADED(get_hot_keys, shared_mutex_map, "shared_mutex");
WEAKREF_THREADED(get_hot_keys, sharded16_map, "sharded16");
#if WEAKREF_BENCH_TBB
WEAKREF_THREADED(get_hot_keys, tbb_map, "tbb");
#endif
WEAKREF_THREADED(get_hot_keys, weak_value_map, "weak_value_map");

// No floor: it has no weak semantics to keep while values die.
WEAKREF_THREADED(mixed_get_replace, hand_rolled_mutex, "hand_rolled_mutex");
WEAKREF_THREADED(mixed_get_replace, shared_mutex_map, "shared_mutex");
WEAKREF_THREADED(mixed_get_replace, sharded16_map, "sharded16");
#if WEAKREF_BENCH_TBB
WEAKREF_THREADED(mixed_get_replace, tbb_map, "tbb");
#endif
WEAKREF_THREADED(mixed_get_replace, weak_value_map, "weak_value_map");
#undef WEAKREF_THREADED

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

// --- churn: insert N into an empty map, the N values die in a shuffled order, entries gone ------

/// The order in which churn's values die: 0..N-1, shuffled with a fixed seed.
const std::vector<std::size_t>& death_order() {
    static const std::vector<std::size_t> v = [] {
        std::vector<std::size_t> out(entries);
        std::iota(out.begin(), out.end(), std::size_t{0});
        std::shuffle(out.begin(), out.end(), std::mt19937_64(20260402));
        return out;
    }();
    return v;
}

/// Every key put, then every value let die, in death_order(); then the hand-rolled maps sweep
/// (and the floor clears) in drop, which finds only empty handles left in the catalog.
template <class Impl> void churn_round(Impl& map, std::vector<typename Impl::handle>& catalog) {
    const auto& keys = names(entries);
    for (std::size_t i = 0; i < entries; ++i) {
        map.put(keys[i], catalog[i]);
    }
    for (std::size_t i : death_order()) {
        catalog[i] = typename Impl::handle();
    }
    map.drop(catalog);
}

/// The bytes of one churn round, untimed, every allocation counted (the values' not): the most
/// the map held at any instant, and what it still holds once its entries are gone (empty
/// buckets, and whatever it keeps to free later). Measured once per implementation.
struct churn_bytes {
    std::size_t peak;
    std::size_t left;
};
template <class Impl> churn_bytes count_churn_bytes() {
    auto catalog = make_catalog<Impl>(entries);
    counting::start();
    auto map = std::make_unique<Impl>();
    churn_round(*map, catalog);
    const churn_bytes bytes{counting::peak_bytes, counting::live_bytes};
    counting::stop();
    return bytes;
}

template <class Impl> void churn(benchmark::State& state) {
    for (auto _ : state) {
        state.PauseTiming();
        auto catalog = make_catalog<Impl>(entries);
        auto map = std::make_unique<Impl>();
        state.ResumeTiming();
        churn_round(*map, catalog);
        state.PauseTiming();
        if (map->size() != 0) {
            state.SkipWithError("churn left entries behind");
        }
        map.reset();
        state.ResumeTiming();
    }
    static const churn_bytes bytes = count_churn_bytes<Impl>();
    state.counters["ops_per_iteration"] = static_cast<double>(entries);
    state.counters["peak_bytes_per_entry"] = static_cast<double>(bytes.peak) / entries;
    state.counters["left_bytes_per_entry"] = static_cast<double>(bytes.left) / entries;
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
#if WEAKREF_BENCH_TBB
    benchmark::AddCustomContext("weakref_tbb", TBB_VERSION_STRING);
#else
    benchmark::AddCustomContext("weakref_tbb", "not found by CMake");
#endif
    benchmark::AddCustomContext("weakref_thread_repetitions", std::to_string(thread_repetitions));
    benchmark::AddCustomContext("weakref_thread_min_time_s", std::to_string(thread_min_time));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
