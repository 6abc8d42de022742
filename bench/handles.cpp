// SPDX-License-Identifier: MIT
// Benchmarks of ref/weak_ref (both flavours) against std::shared_ptr/std::weak_ptr, built once
// for a process that has started a thread and once for one that never has.
//
// Case names are `<operation>/<implementation>`, so that bench/ratios.py pairs the cases of one
// run. WEAKREF_BENCH_THREADED=1 makes main() start and join a std::thread before any benchmark:
// from then on libstdc++'s shared_ptr (and weakref::'s counts) use atomic instructions. With 0
// the process never starts a thread and both take their non-atomic shortcut. Every case labels
// itself with the value of __libc_single_threaded seen after its loop, so the JSON shows which
// process it ran in.

#include <weakref/weakref.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdlib>
#include <malloc.h>
#include <memory>
#include <new>
#include <string>
#include <sys/single_threaded.h>
#include <thread>
#include <type_traits>

#ifndef WEAKREF_BENCH_THREADED
#error "define WEAKREF_BENCH_THREADED to 1 (start a thread first) or 0 (never start one)"
#endif

namespace {

std::string process_label() {
    return __libc_single_threaded != 0 ? "libc_single_threaded=1" : "libc_single_threaded=0";
}

// --- copy + destroy a strong handle ------------------------------------------------------------

// The copy goes through DoNotOptimize (its address escapes into an asm with a memory clobber),
// so the +1 must reach memory before it and the -1 is read back after it: a non-atomic +1 -1
// cannot be folded away.
template <class Handle> void copy_destroy(benchmark::State& state, const Handle& original) {
    for (auto _ : state) {
        Handle copy = original;
        benchmark::DoNotOptimize(copy);
    }
    state.SetLabel(process_label());
}

void copy_destroy_std_shared_ptr(benchmark::State& state) {
    copy_destroy(state, std::make_shared<int>(42));
}
void copy_destroy_ref(benchmark::State& state) { copy_destroy(state, weakref::make_ref<int>(42)); }
void copy_destroy_local_ref(benchmark::State& state) {
    copy_destroy(state, weakref::local::make_ref<int>(42));
}
BENCHMARK(copy_destroy_std_shared_ptr)->Name("copy_destroy/std_shared_ptr");
BENCHMARK(copy_destroy_ref)->Name("copy_destroy/ref");
BENCHMARK(copy_destroy_local_ref)->Name("copy_destroy/local_ref");

// --- make + last release ----------------------------------------------------------------------

template <class Make> void make_release(benchmark::State& state, Make make) {
    for (auto _ : state) {
        auto handle = make();
        benchmark::DoNotOptimize(handle);
    }
    state.SetLabel(process_label());
}

void make_release_std_make_shared(benchmark::State& state) {
    make_release(state, [] { return std::make_shared<int>(42); });
}
void make_release_ref(benchmark::State& state) {
    make_release(state, [] { return weakref::make_ref<int>(42); });
}
void make_release_local_ref(benchmark::State& state) {
    make_release(state, [] { return weakref::local::make_ref<int>(42); });
}
BENCHMARK(make_release_std_make_shared)->Name("make_release/std_make_shared");
BENCHMARK(make_release_ref)->Name("make_release/ref");
BENCHMARK(make_release_local_ref)->Name("make_release/local_ref");

// --- lock() a live object + release -----------------------------------------------------------

template <class Strong> void lock_release(benchmark::State& state, const Strong& owner) {
    const auto weak = [&] {
        if constexpr (std::is_same_v<Strong, std::shared_ptr<int>>) {
            return std::weak_ptr<int>(owner);
        } else {
            return typename Strong::weak_type(owner);
        }
    }();
    for (auto _ : state) {
        auto locked = weak.lock();
        benchmark::DoNotOptimize(locked);
    }
    state.SetLabel(process_label());
}

void lock_release_std_weak_ptr(benchmark::State& state) {
    lock_release(state, std::make_shared<int>(42));
}
void lock_release_weak_ref(benchmark::State& state) {
    lock_release(state, weakref::make_ref<int>(42));
}
void lock_release_local_weak_ref(benchmark::State& state) {
    lock_release(state, weakref::local::make_ref<int>(42));
}
BENCHMARK(lock_release_std_weak_ptr)->Name("lock_release/std_weak_ptr");
BENCHMARK(lock_release_weak_ref)->Name("lock_release/weak_ref");
BENCHMARK(lock_release_local_weak_ref)->Name("lock_release/local_weak_ref");

// --- bytes per object -------------------------------------------------------------------------

struct allocation_totals {
    std::size_t calls = 0;
    std::size_t requested = 0; // bytes asked for
    std::size_t usable = 0;    // malloc_usable_size of what malloc gave
};
allocation_totals totals; // one thread runs these cases

/// An allocator that counts what it is asked for and what malloc really hands out.
template <class T> struct counting_allocator {
    using value_type = T;
    counting_allocator() noexcept = default;
    template <class U> counting_allocator(const counting_allocator<U>& /*unused*/) noexcept {}

    T* allocate(std::size_t n) {
        static_assert(alignof(T) <= alignof(std::max_align_t), "malloc's alignment is enough");
        const std::size_t bytes = n * sizeof(T);
        void* p = std::malloc(bytes);
        if (p == nullptr) {
            throw std::bad_alloc();
        }
        ++totals.calls;
        totals.requested += bytes;
        totals.usable += malloc_usable_size(p);
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t /*unused*/) noexcept { std::free(p); }

    template <class U> friend bool operator==(counting_allocator, counting_allocator<U>) noexcept {
        return true;
    }
    template <class U> friend bool operator!=(counting_allocator, counting_allocator<U>) noexcept {
        return false;
    }
};

template <class Make>
void bytes_per_object(benchmark::State& state, Make make, std::size_t handle_bytes) {
    totals = {};
    for (auto _ : state) {
        auto handle = make();
        benchmark::DoNotOptimize(handle);
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["bytes_per_object"] = static_cast<double>(totals.requested) / n;
    state.counters["usable_bytes_per_object"] = static_cast<double>(totals.usable) / n;
    state.counters["allocations_per_object"] = static_cast<double>(totals.calls) / n;
    state.counters["handle_bytes"] = static_cast<double>(handle_bytes);
    state.SetLabel(process_label());
}

void bytes_std_allocate_shared(benchmark::State& state) {
    bytes_per_object(
        state, [] { return std::allocate_shared<int>(counting_allocator<int>(), 42); },
        sizeof(std::shared_ptr<int>));
}
void bytes_ref(benchmark::State& state) {
    bytes_per_object(
        state, [] { return weakref::allocate_ref<int>(counting_allocator<int>(), 42); },
        sizeof(weakref::ref<int>));
}
void bytes_local_ref(benchmark::State& state) {
    bytes_per_object(
        state, [] { return weakref::local::allocate_ref<int>(counting_allocator<int>(), 42); },
        sizeof(weakref::local::ref<int>));
}
BENCHMARK(bytes_std_allocate_shared)->Name("bytes_per_object/std_allocate_shared");
BENCHMARK(bytes_ref)->Name("bytes_per_object/ref");
BENCHMARK(bytes_local_ref)->Name("bytes_per_object/local_ref");

} // namespace

int main(int argc, char** argv) {
#if WEAKREF_BENCH_THREADED
    // One thread, started and joined: __libc_single_threaded is false from here on, for good.
    std::thread([] {}).join();
    benchmark::AddCustomContext("weakref_process", "threaded (started and joined a std::thread)");
#else
    benchmark::AddCustomContext("weakref_process", "single-threaded (never started a thread)");
#endif
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
