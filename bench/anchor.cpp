// SPDX-License-Identifier: MIT
// Benchmarks of observer<T>::lock() + release (both flavours) against std::weak_ptr::lock(), and
// the bytes that observing an object costs: weak_anchor + its block against std::shared_ptr's
// control block.
//
// Case names are `<operation>/<implementation>`, so that each ratio pairs cases of one run.
// main() starts and joins a std::thread before any benchmark: the process is threaded, so
// std::shared_ptr and weakref:: use atomic instructions, as in any program that has threads.
//
//   lock_release          one object, locked and released again and again (the hot path)
//   lock_read_shuffled    100,000 objects, each locked once per pass in a shuffled order and
//                         one field read through the pin (cache misses as in real use; the
//                         std side uses std::make_shared, whose block shares the object's line)
//   lock_release_shared   two threads locking one object at once (contention on one word)
//   observe_bytes         bytes that observing one object costs (counters; see below)

#include <weakref/weakref.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <malloc.h>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <sys/single_threaded.h>
#include <thread>
#include <vector>

// --- Counting what operator new hands out (observe_bytes only) ---------------------------------

namespace counting {
std::atomic<bool> on{false}; // set by one thread, in observe_bytes only
std::size_t calls = 0;
std::size_t requested = 0;
std::size_t usable = 0; // malloc_usable_size of what malloc gave

void* allocate(std::size_t n) {
    void* p = std::malloc(n != 0 ? n : 1);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    if (on.load(std::memory_order_relaxed)) {
        ++calls;
        requested += n;
        usable += malloc_usable_size(p);
    }
    return p;
}
} // namespace counting

void* operator new(std::size_t n) { return counting::allocate(n); }
void* operator new[](std::size_t n) { return counting::allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*unused*/) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t /*unused*/) noexcept { std::free(p); }

namespace {

std::string process_label() {
    return __libc_single_threaded != 0 ? "libc_single_threaded=1" : "libc_single_threaded=0";
}

/// What is observed: an object of a typical size, uniquely owned on our side.
struct sync_payload {
    long value = 1;
    char body[40] = {};
    weakref::weak_anchor<sync_payload> anchor{this};
};
struct local_payload {
    long value = 1;
    char body[40] = {};
    weakref::local::weak_anchor<local_payload> anchor{this};
};
struct std_payload {
    long value = 1;
    char body[40] = {};
};

// --- lock() + release of one object --------------------------------------------------------------

// The pin (or shared_ptr) goes through DoNotOptimize, so its +1 reaches memory before the -1.
template <class Weak> void lock_release(benchmark::State& state, const Weak& weak) {
    for (auto _ : state) {
        auto locked = weak.lock();
        benchmark::DoNotOptimize(locked);
    }
    state.SetLabel(process_label());
}

void lock_release_std_weak_ptr(benchmark::State& state) {
    auto owner = std::make_shared<std_payload>();
    lock_release(state, std::weak_ptr<std_payload>(owner));
}
void lock_release_weak_ref(benchmark::State& state) {
    auto owner = weakref::make_ref<std_payload>();
    lock_release(state, weakref::weak_ref<std_payload>(owner));
}
void lock_release_observer(benchmark::State& state) {
    auto owner = std::make_unique<sync_payload>();
    lock_release(state, owner->anchor.observe());
}
void lock_release_local_observer(benchmark::State& state) {
    auto owner = std::make_unique<local_payload>();
    lock_release(state, owner->anchor.observe());
}
BENCHMARK(lock_release_std_weak_ptr)->Name("lock_release/std_weak_ptr");
BENCHMARK(lock_release_weak_ref)->Name("lock_release/weak_ref");
BENCHMARK(lock_release_observer)->Name("lock_release/observer");
BENCHMARK(lock_release_local_observer)->Name("lock_release/local_observer");

// --- lock() + read of many objects, in a shuffled order ----------------------------------------

constexpr std::size_t object_count = 100'000;

/// 0..n-1 in a fixed shuffled order.
std::vector<std::size_t> shuffled_order(std::size_t n) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) {
        order[i] = i;
    }
    std::shuffle(order.begin(), order.end(), std::mt19937_64(20261201));
    return order;
}

/// Objects made and observed in one order (so our blocks lie in memory as the objects do) and
/// visited in another: neither the objects nor the blocks are met in allocation order.
template <class Owner, class Observe>
void lock_read_shuffled(benchmark::State& state, std::vector<Owner>& owners, Observe observe) {
    using weak_type = decltype(observe(owners.front()));
    std::vector<weak_type> in_order;
    in_order.reserve(owners.size());
    for (const auto& owner : owners) {
        in_order.push_back(observe(owner));
    }
    std::vector<weak_type> weaks;
    weaks.reserve(owners.size());
    for (std::size_t i : shuffled_order(owners.size())) {
        weaks.push_back(std::move(in_order[i]));
    }
    std::size_t next = 0;
    long sum = 0;
    for (auto _ : state) {
        if (auto locked = weaks[next].lock()) {
            sum += locked->value;
        }
        if (++next == weaks.size()) {
            next = 0;
        }
    }
    benchmark::DoNotOptimize(sum);
    state.SetLabel(process_label());
}

void lock_read_shuffled_std_weak_ptr(benchmark::State& state) {
    std::vector<std::shared_ptr<std_payload>> owners;
    for (std::size_t i = 0; i < object_count; ++i) {
        owners.push_back(std::make_shared<std_payload>());
    }
    lock_read_shuffled(state, owners, [](const auto& o) { return std::weak_ptr<std_payload>(o); });
}
void lock_read_shuffled_observer(benchmark::State& state) {
    std::vector<std::unique_ptr<sync_payload>> owners;
    for (std::size_t i = 0; i < object_count; ++i) {
        owners.push_back(std::make_unique<sync_payload>());
    }
    lock_read_shuffled(state, owners, [](const auto& o) { return o->anchor.observe(); });
}
void lock_read_shuffled_local_observer(benchmark::State& state) {
    std::vector<std::unique_ptr<local_payload>> owners;
    for (std::size_t i = 0; i < object_count; ++i) {
        owners.push_back(std::make_unique<local_payload>());
    }
    lock_read_shuffled(state, owners, [](const auto& o) { return o->anchor.observe(); });
}
BENCHMARK(lock_read_shuffled_std_weak_ptr)->Name("lock_read_shuffled/std_weak_ptr");
BENCHMARK(lock_read_shuffled_observer)->Name("lock_read_shuffled/observer");
BENCHMARK(lock_read_shuffled_local_observer)->Name("lock_read_shuffled/local_observer");

// --- Two threads locking one object ------------------------------------------------------------

// Made before any benchmark runs (main), so that each thread makes its own handle before its loop.
std::shared_ptr<std_payload> shared_std_owner;
std::unique_ptr<sync_payload> shared_sync_owner;

void lock_release_shared_std_weak_ptr(benchmark::State& state) {
    const std::weak_ptr<std_payload> weak = shared_std_owner;
    for (auto _ : state) {
        auto locked = weak.lock();
        benchmark::DoNotOptimize(locked);
    }
    state.SetLabel(process_label());
}
void lock_release_shared_observer(benchmark::State& state) {
    const weakref::observer<sync_payload> weak = shared_sync_owner->anchor.observe();
    for (auto _ : state) {
        auto locked = weak.lock();
        benchmark::DoNotOptimize(locked);
    }
    state.SetLabel(process_label());
}
BENCHMARK(lock_release_shared_std_weak_ptr)
    ->Name("lock_release_shared/std_weak_ptr")
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(lock_release_shared_observer)
    ->Name("lock_release_shared/observer")
    ->Threads(2)
    ->UseRealTime();

// --- Bytes per observed object -------------------------------------------------------------------

// Counters, per object made and observed once (a second observer adds no byte on either side):
//   overhead_bytes         heap bytes asked for beyond the object itself
//   overhead_usable_bytes  the same in malloc's usable bytes (what the heap really gives)
//   in_object_bytes        bytes added inside the object (the anchor)
//   owner_extra_bytes      bytes the owning handle adds over a std::unique_ptr
//   allocations            allocations beyond the object's own
template <class Object, class Make>
void observe_bytes(benchmark::State& state, Make make, std::size_t in_object,
                   std::size_t owner_extra) {
    // The object's own allocation (a std::make_unique<Object>), measured alone, is subtracted.
    counting::calls = counting::requested = counting::usable = 0;
    counting::on.store(true);
    {
        auto plain = std::make_unique<Object>();
        benchmark::DoNotOptimize(plain);
    }
    counting::on.store(false);
    const std::size_t object_usable = counting::usable;
    const std::size_t object_requested = counting::requested;

    counting::calls = counting::requested = counting::usable = 0;
    counting::on.store(true);
    for (auto _ : state) {
        auto made = make();
        benchmark::DoNotOptimize(made);
    }
    counting::on.store(false);
    const auto n = static_cast<double>(state.iterations());
    state.counters["overhead_bytes"] =
        static_cast<double>(counting::requested) / n - static_cast<double>(object_requested);
    state.counters["overhead_usable_bytes"] =
        static_cast<double>(counting::usable) / n - static_cast<double>(object_usable);
    state.counters["allocations"] = static_cast<double>(counting::calls) / n - 1;
    state.counters["in_object_bytes"] = static_cast<double>(in_object);
    state.counters["owner_extra_bytes"] = static_cast<double>(owner_extra);
    state.SetLabel(process_label());
}

void observe_bytes_std_make_shared(benchmark::State& state) {
    observe_bytes<std_payload>(
        state,
        [] {
            auto owner = std::make_shared<std_payload>();
            return std::make_pair(owner, std::weak_ptr<std_payload>(owner));
        },
        0, sizeof(std::shared_ptr<std_payload>) - sizeof(std::unique_ptr<std_payload>));
}
void observe_bytes_std_shared_ptr_new(benchmark::State& state) {
    observe_bytes<std_payload>(
        state,
        [] {
            std::shared_ptr<std_payload> owner(new std_payload); // a separate control block
            return std::make_pair(owner, std::weak_ptr<std_payload>(owner));
        },
        0, sizeof(std::shared_ptr<std_payload>) - sizeof(std::unique_ptr<std_payload>));
}
void observe_bytes_observer(benchmark::State& state) {
    // The anchor makes the object sizeof(weak_anchor) larger: in_object_bytes, not overhead.
    static_assert(sizeof(sync_payload) == sizeof(std_payload) + sizeof(void*));
    observe_bytes<sync_payload>(
        state,
        [] {
            auto owner = std::make_unique<sync_payload>();
            auto o = owner->anchor.observe();
            return std::make_pair(std::move(owner), std::move(o));
        },
        sizeof(weakref::weak_anchor<sync_payload>), 0);
}
BENCHMARK(observe_bytes_std_make_shared)->Name("observe_bytes/std_make_shared");
BENCHMARK(observe_bytes_std_shared_ptr_new)->Name("observe_bytes/std_shared_ptr_new");
BENCHMARK(observe_bytes_observer)->Name("observe_bytes/observer");

} // namespace

int main(int argc, char** argv) {
    // One thread, started and joined: __libc_single_threaded is false from here on, for good.
    std::thread([] {}).join();
    shared_std_owner = std::make_shared<std_payload>();
    shared_sync_owner = std::make_unique<sync_payload>();
    benchmark::AddCustomContext("weakref_process", "threaded (started and joined a std::thread)");
    benchmark::AddCustomContext("weakref_libc_single_threaded",
                                std::to_string(int{__libc_single_threaded}));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
