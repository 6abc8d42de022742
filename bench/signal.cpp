// SPDX-License-Identifier: MIT
// Benchmarks of weak_signal::emit (both flavours) against a std::vector<std::function> (no weak
// semantics at all: the floor) and against Boost.Signals2 with each slot tracking its subscriber's
// std::shared_ptr (the weak multicast C++ users reach for), in one threaded process.
//
// Case names are `<operation>/<implementation>/<subscribers>`, so that each ratio pairs cases of
// one run. main() starts and joins a std::thread before any benchmark: the process is threaded,
// so std::shared_ptr, Boost and weakref:: use atomic instructions, as in any program with threads.
//
//   emit          one emit to 1, 10 or 1,000 live subscribers. Subscribers are allocated in one
//                 order and connected in a shuffled one, so that an emit walks memory as it would
//                 in a program that connected them over time. Each call adds the argument to a
//                 field of its subscriber.
//   emit_shared   two threads emitting one signal with 10 subscribers at once (contention on the
//                 signal and on each subscriber's counts; wall time)
//   churn         1,000 subscribers connected, then dropped in a shuffled order, then one emit
//                 (which finds nobody): what a signal pays for subscribers that come and go. Boost
//                 forgets a dead slot only when an emit or a connect walks over it.

#include <weakref/weakref.hpp>

#include <benchmark/benchmark.h>

#if WEAKREF_BENCH_BOOST
#include <boost/signals2.hpp>
#endif

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <sys/single_threaded.h>
#include <thread>
#include <vector>

namespace {

std::string process_label() {
    return __libc_single_threaded != 0 ? "libc_single_threaded=1" : "libc_single_threaded=0";
}

/// A subscriber of a typical size: what a call touches is its `total`.
struct subscriber {
    long total = 0;
    char body[48] = {};
    void on(int x) { total += x; }
};

/// 0..n-1 in a fixed shuffled order.
std::vector<std::size_t> shuffled_order(std::size_t n, unsigned seed) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) {
        order[i] = i;
    }
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    return order;
}

long sum_of(const std::vector<subscriber*>& subs) {
    long sum = 0;
    for (const subscriber* s : subs) {
        sum += s->total;
    }
    return sum;
}

/// Emits `x` once per iteration; checks afterwards that every subscriber heard every emit.
template <class Emit>
void run_emit(benchmark::State& state, Emit&& emit, const std::vector<subscriber*>& subs) {
    int x = 1;
    for (auto _ : state) {
        emit(x);
        x ^= 3; // 1, 2, 1, 2, ...: not a constant the compiler could fold
    }
    const long sum = sum_of(subs);
    benchmark::DoNotOptimize(sum);
    const auto calls = static_cast<double>(state.iterations()) * static_cast<double>(subs.size());
    state.counters["calls_per_emit"] = static_cast<double>(subs.size());
    if (sum < static_cast<long>(calls)) {
        state.SkipWithError("a subscriber missed an emit");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(calls));
    state.SetLabel(process_label());
}

// --- emit: the floor, a vector of std::function over raw pointers --------------------------------

void emit_std_function_vector(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<std::unique_ptr<subscriber>> owners;
    std::vector<subscriber*> subs;
    for (std::size_t i = 0; i < n; ++i) {
        owners.push_back(std::make_unique<subscriber>());
        subs.push_back(owners.back().get());
    }
    std::vector<std::function<void(int)>> slots;
    for (std::size_t i : shuffled_order(n, 7)) {
        subscriber* s = subs[i];
        slots.emplace_back([s](int x) { s->on(x); });
    }
    run_emit(
        state,
        [&slots](int x) {
            for (const auto& f : slots) {
                f(x);
            }
        },
        subs);
}

// --- emit: weak_signal, both flavours
// --------------------------------------------------------------

template <class Signal, class Make> void emit_weak_signal(benchmark::State& state, Make make) {
    const auto n = static_cast<std::size_t>(state.range(0));
    using ref_type = decltype(make());
    std::vector<ref_type> owners;
    std::vector<subscriber*> subs;
    for (std::size_t i = 0; i < n; ++i) {
        owners.push_back(make());
        subs.push_back(owners.back().get());
    }
    Signal sig;
    for (std::size_t i : shuffled_order(n, 7)) {
        sig.connect(owners[i], &subscriber::on);
    }
    run_emit(
        state, [&sig](int x) { sig.emit(x); }, subs);
}

void emit_weak_signal_sync(benchmark::State& state) {
    emit_weak_signal<weakref::weak_signal<void(int)>>(
        state, [] { return weakref::make_ref<subscriber>(); });
}
void emit_weak_signal_local(benchmark::State& state) {
    emit_weak_signal<weakref::local::weak_signal<void(int)>>(
        state, [] { return weakref::local::make_ref<subscriber>(); });
}

// --- emit: Boost.Signals2, each slot tracking its subscriber's std::shared_ptr -------------------

#if WEAKREF_BENCH_BOOST
using boost_signal = boost::signals2::signal<void(int)>;

/// A slot calling `s->on`, tracking `owner`: Boost locks it for each call and drops the slot
/// once it expired (the documented way to hold subscribers weakly).
boost::signals2::connection connect_tracked(boost_signal& sig,
                                            const std::shared_ptr<subscriber>& owner) {
    subscriber* s = owner.get();
    return sig.connect(boost_signal::slot_type([s](int x) { s->on(x); }).track_foreign(owner));
}

void emit_boost_signals2(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<std::shared_ptr<subscriber>> owners;
    std::vector<subscriber*> subs;
    for (std::size_t i = 0; i < n; ++i) {
        owners.push_back(std::make_shared<subscriber>());
        subs.push_back(owners.back().get());
    }
    boost_signal sig;
    for (std::size_t i : shuffled_order(n, 7)) {
        connect_tracked(sig, owners[i]);
    }
    run_emit(
        state, [&sig](int x) { sig(x); }, subs);
}
#endif

#define WEAKREF_EMIT_SIZES ->Arg(1)->Arg(10)->Arg(1000)
BENCHMARK(emit_std_function_vector)->Name("emit/std_function_vector") WEAKREF_EMIT_SIZES;
#if WEAKREF_BENCH_BOOST
BENCHMARK(emit_boost_signals2)->Name("emit/boost_signals2_tracked") WEAKREF_EMIT_SIZES;
#endif
BENCHMARK(emit_weak_signal_sync)->Name("emit/weak_signal") WEAKREF_EMIT_SIZES;
BENCHMARK(emit_weak_signal_local)->Name("emit/local_weak_signal") WEAKREF_EMIT_SIZES;

// --- emit_shared: two threads emitting one signal
// --------------------------------------------------

constexpr std::size_t shared_subscribers = 10;
// What the calls add to: one per thread, so that the two emitting threads share only what the
// signal itself shares (the signal, and each subscriber's counts).
thread_local long shared_sink = 0;

// Made in main() before any benchmark runs; each thread only emits.
std::vector<weakref::ref<subscriber>> shared_weak_owners;
std::unique_ptr<weakref::weak_signal<void(int)>> shared_weak_signal;
#if WEAKREF_BENCH_BOOST
std::vector<std::shared_ptr<subscriber>> shared_boost_owners;
std::unique_ptr<boost_signal> shared_boost_signal;
#endif

void make_shared_signals() {
    shared_weak_signal = std::make_unique<weakref::weak_signal<void(int)>>();
    for (std::size_t i = 0; i < shared_subscribers; ++i) {
        shared_weak_owners.push_back(weakref::make_ref<subscriber>());
    }
    for (std::size_t i : shuffled_order(shared_subscribers, 11)) {
        shared_weak_signal->connect(shared_weak_owners[i],
                                    [](subscriber&, int x) { shared_sink += x; });
    }
#if WEAKREF_BENCH_BOOST
    shared_boost_signal = std::make_unique<boost_signal>();
    for (std::size_t i = 0; i < shared_subscribers; ++i) {
        shared_boost_owners.push_back(std::make_shared<subscriber>());
    }
    for (std::size_t i : shuffled_order(shared_subscribers, 11)) {
        shared_boost_signal->connect(boost_signal::slot_type([](int x) {
                                         shared_sink += x;
                                     }).track_foreign(shared_boost_owners[i]));
    }
#endif
}

void emit_shared_weak_signal(benchmark::State& state) {
    for (auto _ : state) {
        shared_weak_signal->emit(1);
    }
    benchmark::DoNotOptimize(shared_sink);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * shared_subscribers));
    state.SetLabel(process_label());
}
BENCHMARK(emit_shared_weak_signal)->Name("emit_shared/weak_signal/10")->Threads(2)->UseRealTime();
#if WEAKREF_BENCH_BOOST
void emit_shared_boost(benchmark::State& state) {
    for (auto _ : state) {
        (*shared_boost_signal)(1);
    }
    benchmark::DoNotOptimize(shared_sink);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * shared_subscribers));
    state.SetLabel(process_label());
}
BENCHMARK(emit_shared_boost)
    ->Name("emit_shared/boost_signals2_tracked/10")
    ->Threads(2)
    ->UseRealTime();
#endif

// --- churn: connect 1,000, drop them in a shuffled order, emit once
// ---------------------------------

constexpr std::size_t churn_subscribers = 1000;

void churn_weak_signal(benchmark::State& state) {
    const auto death_order = shuffled_order(churn_subscribers, 13);
    std::vector<weakref::ref<subscriber>> owners(churn_subscribers);
    weakref::weak_signal<void(int)> sig;
    for (auto _ : state) {
        for (auto& o : owners) {
            o = weakref::make_ref<subscriber>();
            sig.connect(o, &subscriber::on);
        }
        for (std::size_t i : death_order) {
            owners[i].reset(); // its connection leaves the signal now
        }
        sig.emit(1);
    }
    if (!sig.empty()) {
        state.SkipWithError("connections outlived their subscribers");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * churn_subscribers));
    state.SetLabel(process_label());
}
BENCHMARK(churn_weak_signal)->Name("churn/weak_signal/1000");

#if WEAKREF_BENCH_BOOST
void churn_boost(benchmark::State& state) {
    const auto death_order = shuffled_order(churn_subscribers, 13);
    std::vector<std::shared_ptr<subscriber>> owners(churn_subscribers);
    boost_signal sig;
    for (auto _ : state) {
        for (auto& o : owners) {
            o = std::make_shared<subscriber>();
            connect_tracked(sig, o);
        }
        for (std::size_t i : death_order) {
            owners[i].reset(); // the slot stays until an emit or connect walks over it
        }
        sig(1);
    }
    if (!sig.empty()) {
        state.SkipWithError("slots outlived their subscribers");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * churn_subscribers));
    state.SetLabel(process_label());
}
BENCHMARK(churn_boost)->Name("churn/boost_signals2_tracked/1000");
#endif

} // namespace

int main(int argc, char** argv) {
    // One thread, started and joined: __libc_single_threaded is false from here on, for good.
    std::thread([] {}).join();
    make_shared_signals();
    benchmark::AddCustomContext("weakref_process", "threaded (started and joined a std::thread)");
#if WEAKREF_BENCH_BOOST
    benchmark::AddCustomContext("weakref_boost", BOOST_LIB_VERSION);
#else
    benchmark::AddCustomContext("weakref_boost", "not found: Boost.Signals2 cases left out");
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
