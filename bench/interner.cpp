// SPDX-License-Identifier: MIT
// weak_interner against the two ways C++ interns names today: a weak_value_map from the name to
// a Symbol that holds the name again, and Boost.Flyweight's refcounted factory
// (boost::flyweight<std::string>, where Debian's libboost-dev provides it).
//
// Case names are `<operation>/<implementation>`:
//   bytes_per_entry/<impl>/<names>  the bytes a process holds for each distinct name interned
//       (the table, its entries, the objects and their heap buffers; not the caller's handles),
//       requested from operator new (`bytes_per_entry`) and as malloc chunks (`heap_bytes`)
//   intern_present/<impl>           the canonical object of a name already interned, looked up
//       through an equal but distinct std::string, 100,000 names in a shuffled order; for the
//       map: get(name) (the anchor: API.md asks intern to be no slower) and get_or_insert
//   intern_threads/<impl>           the same on 1 and 2 threads, each thread its own keys
// Implementations: weak_interner, local_weak_interner, weak_value_map (weak_value_map<
// std::string, Symbol>), local_weak_value_map, boost_flyweight.
//
// main() starts and joins a std::thread before any benchmark: the process is threaded, so the
// counts are atomic, as in a real program.

#include <weakref/weakref.hpp>

#include <benchmark/benchmark.h>

#if WEAKREF_BENCH_HAVE_BOOST
#include <boost/flyweight.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <malloc.h>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "counting.hpp"

namespace {

// --- The names ----------------------------------------------------------------------------------

constexpr std::size_t entries = 100'000;

/// Identifier-like names. `short`: 6 to 15 characters, all inside std::string's own buffer
/// (libstdc++ keeps up to 15); `long`: 16 to 40 characters, all on the heap; `mixed`: 6 to 40.
/// Unique by their 6-character base-36 prefix.
enum class lengths { short_names, long_names, mixed };

std::string make_name(std::size_t i, lengths which) {
    static constexpr const char* stems = "_count_index_buffer_handle_of_widget_frame_layout";
    static constexpr const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string out;
    std::size_t n = i;
    for (int d = 0; d < 6; ++d) {
        out += digits[n % 36];
        n /= 36;
    }
    const std::size_t h = (i * 2654435761U) >> 7;
    std::size_t length = 0;
    switch (which) {
    case lengths::short_names:
        length = 6 + h % 10; // 6..15
        break;
    case lengths::long_names:
        length = 16 + h % 25; // 16..40
        break;
    case lengths::mixed:
        length = 6 + h % 35; // 6..40
        break;
    }
    out += stems;
    out.resize(length);
    return out;
}

const std::vector<std::string>& names(lengths which) {
    static const auto build = [](lengths w) {
        std::vector<std::string> v;
        v.reserve(entries);
        for (std::size_t i = 0; i < entries; ++i) {
            v.push_back(make_name(i, w));
        }
        return v;
    };
    static const std::vector<std::string> s = build(lengths::short_names);
    static const std::vector<std::string> l = build(lengths::long_names);
    static const std::vector<std::string> m = build(lengths::mixed);
    return which == lengths::short_names ? s : which == lengths::long_names ? l : m;
}

/// The mixed names again, equal but distinct strings, in a shuffled order (fixed seed).
const std::vector<std::string>& shuffled_names() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out(names(lengths::mixed).begin(), names(lengths::mixed).end());
        std::shuffle(out.begin(), out.end(), std::mt19937_64(20261101));
        return out;
    }();
    return v;
}

// --- The implementations, behind one interface ---------------------------------------------------

/// The interned object of the map approach: the map's key is the name, and so is this.
struct Symbol {
    explicit Symbol(std::string n) : name(std::move(n)) {}
    std::string name;
};

template <class Interner> struct interner_impl {
    using handle = typename Interner::ref_type;
    handle intern(const std::string& s) { return interner.intern(s); }
    handle find(const std::string& s) { return interner.intern(s); }
    Interner interner;
};
using weak_interner = interner_impl<weakref::weak_interner<std::string>>;
using local_weak_interner = interner_impl<weakref::local::weak_interner<std::string>>;

template <class Map, class Ref, Ref (*Make)(const std::string&)> struct map_impl {
    using handle = Ref;
    handle intern(const std::string& s) {
        return map.get_or_insert(s, [&] { return Make(s); });
    }
    handle find(const std::string& s) { return map.get(s); }
    Map map;
};
weakref::ref<Symbol> make_symbol(const std::string& s) { return weakref::make_ref<Symbol>(s); }
weakref::local::ref<Symbol> make_local_symbol(const std::string& s) {
    return weakref::local::make_ref<Symbol>(s);
}
using weak_value_map =
    map_impl<weakref::weak_value_map<std::string, Symbol>, weakref::ref<Symbol>, &make_symbol>;
using local_weak_value_map = map_impl<weakref::local::weak_value_map<std::string, Symbol>,
                                      weakref::local::ref<Symbol>, &make_local_symbol>;

#if WEAKREF_BENCH_HAVE_BOOST
struct boost_flyweight {
    using handle = boost::flyweight<std::string>;
    handle intern(const std::string& s) { return handle(s); }
    handle find(const std::string& s) { return handle(s); }
};
#endif

// --- bytes per entry -----------------------------------------------------------------------------

template <class Impl> void bytes_per_entry(benchmark::State& state) {
    const auto which = static_cast<lengths>(state.range(0));
    const auto& keys = names(which);
    std::size_t bytes = 0;
    std::size_t chunks = 0;
    std::size_t blocks = 0;
    for (auto _ : state) {
        std::vector<typename Impl::handle> held;
        held.reserve(entries); // the caller's handles: not counted
        auto impl = std::make_unique<Impl>();
        counting::start();
        for (const std::string& k : keys) {
            held.push_back(impl->intern(k));
        }
        counting::stop();
        bytes = counting::live_bytes;
        chunks = counting::live_chunks;
        blocks = counting::live_blocks;
        if (held.size() != entries || held.front() == held.back()) {
            state.SkipWithError("the names were not interned apart");
        }
        held.clear();
        impl.reset();
    }
    state.counters["bytes_per_entry"] = static_cast<double>(bytes) / entries;
    state.counters["heap_bytes"] = static_cast<double>(chunks) / entries;
    state.counters["allocations_per_entry"] = static_cast<double>(blocks) / entries;
}

// Bytes are exact: one run each, whatever --benchmark_repetitions says. Registered first, so
// that Boost.Flyweight's factory (a process-wide static) is counted as it grows.
#define WEAKREF_BYTES(impl)                                                                        \
    BENCHMARK(bytes_per_entry<impl>)                                                               \
        ->Name("bytes_per_entry/" #impl)                                                           \
        ->ArgName("names")                                                                         \
        ->Arg(static_cast<int>(lengths::short_names))                                              \
        ->Arg(static_cast<int>(lengths::long_names))                                               \
        ->Arg(static_cast<int>(lengths::mixed))                                                    \
        ->Iterations(1)                                                                            \
        ->Repetitions(1)
#if WEAKREF_BENCH_HAVE_BOOST
WEAKREF_BYTES(boost_flyweight);
#endif
WEAKREF_BYTES(weak_interner);
WEAKREF_BYTES(weak_value_map);
WEAKREF_BYTES(local_weak_interner);
WEAKREF_BYTES(local_weak_value_map);
#undef WEAKREF_BYTES

// --- intern of a present name
// ---------------------------------------------------------------------

/// The mixed names interned, and the handles that keep them alive.
template <class Impl> struct filled {
    filled() {
        held.reserve(entries);
        for (const std::string& k : names(lengths::mixed)) {
            held.push_back(impl.intern(k));
        }
    }
    Impl impl;
    std::vector<typename Impl::handle> held;
};
template <class Impl> filled<Impl>& fixture() {
    static filled<Impl> f;
    return f;
}

/// Interns every name, present, through an equal but distinct string, in a shuffled order.
/// `Find`: the map's get (no factory) rather than its get_or_insert.
template <class Impl, bool Find> void intern_present(benchmark::State& state) {
    auto& f = fixture<Impl>();
    const auto& keys = shuffled_names();
    std::size_t i = 0;
    for (auto _ : state) {
        auto h = Find ? f.impl.find(keys[i]) : f.impl.intern(keys[i]);
        benchmark::DoNotOptimize(h);
        if (++i == keys.size()) {
            i = 0;
        }
    }
}
BENCHMARK(intern_present<weak_interner, false>)->Name("intern_present/weak_interner");
BENCHMARK(intern_present<weak_value_map, true>)->Name("intern_present/weak_value_map_get");
BENCHMARK(intern_present<weak_value_map, false>)
    ->Name("intern_present/weak_value_map_get_or_insert");
BENCHMARK(intern_present<local_weak_interner, false>)->Name("intern_present/local_weak_interner");
BENCHMARK(intern_present<local_weak_value_map, true>)
    ->Name("intern_present/local_weak_value_map_get");
#if WEAKREF_BENCH_HAVE_BOOST
BENCHMARK(intern_present<boost_flyweight, false>)->Name("intern_present/boost_flyweight");
#endif

/// The same through std::string_view, with a transparent hash and equality: no std::string is
/// made for a present name.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>()(s);
    }
};
template <class Table> void intern_view(benchmark::State& state) {
    static const auto table = [] {
        auto t = std::make_unique<std::pair<Table, std::vector<weakref::ref<std::string>>>>();
        for (const std::string& k : names(lengths::mixed)) {
            if constexpr (std::is_same_v<typename Table::value_type, std::string>) {
                t->second.push_back(t->first.intern(k));
            } else {
                t->second.push_back(weakref::make_ref<std::string>(k));
                t->first.insert(k, t->second.back());
            }
        }
        return t;
    }();
    const auto& keys = shuffled_names();
    std::size_t i = 0;
    for (auto _ : state) {
        const std::string_view k = keys[i];
        if constexpr (std::is_same_v<typename Table::value_type, std::string>) {
            auto h = table->first.intern(k);
            benchmark::DoNotOptimize(h);
        } else {
            auto h = table->first.get(k);
            benchmark::DoNotOptimize(h);
        }
        if (++i == keys.size()) {
            i = 0;
        }
    }
}
BENCHMARK(intern_view<weakref::weak_interner<std::string, string_hash, std::equal_to<>>>)
    ->Name("intern_view/weak_interner");
BENCHMARK(
    intern_view<weakref::weak_value_map<std::string, std::string, string_hash, std::equal_to<>>>)
    ->Name("intern_view/weak_value_map_get");

template <class Impl, bool Find> void intern_threads(benchmark::State& state) {
    auto& f = fixture<Impl>();
    const auto& keys = shuffled_names();
    const auto first = static_cast<std::size_t>(state.thread_index());
    const auto stride = static_cast<std::size_t>(state.threads());
    std::size_t i = first;
    for (auto _ : state) {
        auto h = Find ? f.impl.find(keys[i]) : f.impl.intern(keys[i]);
        benchmark::DoNotOptimize(h);
        i += stride;
        if (i >= keys.size()) {
            i = first;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(intern_threads<weak_interner, false>)
    ->Name("intern_threads/weak_interner")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(intern_threads<weak_value_map, true>)
    ->Name("intern_threads/weak_value_map_get")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
#if WEAKREF_BENCH_HAVE_BOOST
BENCHMARK(intern_threads<boost_flyweight, false>)
    ->Name("intern_threads/boost_flyweight")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
#endif

} // namespace

int main(int argc, char** argv) {
    std::thread([] {}).join(); // threaded from here on
    benchmark::AddCustomContext("weakref_process", "threaded (started and joined a std::thread)");
    benchmark::AddCustomContext("weakref_entries", std::to_string(entries));
#if WEAKREF_BENCH_HAVE_BOOST
    benchmark::AddCustomContext("weakref_boost_flyweight", "yes");
#else
    benchmark::AddCustomContext("weakref_boost_flyweight", "not found");
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
