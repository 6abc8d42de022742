// SPDX-License-Identifier: MIT
// Counting the bytes a benchmark's containers allocate, for bench/containers.cpp and
// bench/interner.cpp. Include it in one source file per program: it replaces operator new and
// delete for the whole program.
//
// They become malloc/free, plus, while `on` is set (the bytes cases and churn's counting round
// only), a record of every block allocated and not yet freed, so that the bytes a container
// holds are exact, whatever it freed on the way (a rehash frees the old bucket array), and so
// is the most it ever held (peak_bytes). A block allocated before counting started and freed
// while it runs (a value's) counts for nothing.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <malloc.h>
#include <new>

namespace counting {

std::atomic<bool> on{false};

struct slot {
    void* block;
    std::size_t bytes;
};
constexpr std::size_t slot_count = std::size_t{1} << 21; // open addressing, linear probing
slot* slots = nullptr;                                   // malloc'd when counting starts
void* const tombstone = reinterpret_cast<void*>(std::uintptr_t{1});
std::size_t live_bytes = 0;  // requested
std::size_t live_chunks = 0; // malloc_usable_size + the chunk header glibc keeps (8 bytes)
std::size_t live_blocks = 0;
std::size_t peak_bytes = 0; // the most live_bytes has been since start()

// The record is shared by every thread that allocates while counting is on (a map may free
// memory on a thread of its own); a spin lock keeps it whole. Taken only while `on` is set.
std::atomic_flag record_lock = ATOMIC_FLAG_INIT;
struct record_guard {
    record_guard() noexcept {
        // acquire: the record as the last holder left it.
        while (record_lock.test_and_set(std::memory_order_acquire)) {
        }
    }
    // release: the next holder sees this holder's changes to the record.
    ~record_guard() { record_lock.clear(std::memory_order_release); }
    record_guard(const record_guard&) = delete;
    record_guard& operator=(const record_guard&) = delete;
};

std::size_t home(void* p) {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    a ^= a >> 21;
    return static_cast<std::size_t>(a * 0x9E3779B97F4A7C15ULL) & (slot_count - 1);
}

void record(void* p, std::size_t bytes) {
    const record_guard guard;
    for (std::size_t i = home(p);; i = (i + 1) & (slot_count - 1)) {
        if (slots[i].block == nullptr || slots[i].block == tombstone) {
            slots[i] = {p, bytes};
            live_bytes += bytes;
            live_chunks += malloc_usable_size(p) + sizeof(void*);
            ++live_blocks;
            peak_bytes = std::max(peak_bytes, live_bytes);
            return;
        }
    }
}

void forget(void* p) {
    const record_guard guard;
    for (std::size_t i = home(p); slots[i].block != nullptr; i = (i + 1) & (slot_count - 1)) {
        if (slots[i].block == p) {
            live_bytes -= slots[i].bytes;
            live_chunks -= malloc_usable_size(p) + sizeof(void*);
            --live_blocks;
            slots[i].block = tombstone;
            return;
        }
    }
}

/// Counts from now: live_bytes, live_blocks and peak_bytes cover what is allocated from here on.
void start() {
    if (slots == nullptr) {
        slots = static_cast<slot*>(std::malloc(slot_count * sizeof(slot)));
        if (slots == nullptr) {
            std::abort();
        }
    }
    std::fill(slots, slots + slot_count, slot{nullptr, 0});
    live_bytes = 0;
    live_chunks = 0;
    live_blocks = 0;
    peak_bytes = 0;
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

void* allocate_nothrow(std::size_t bytes, std::size_t align) noexcept {
    try {
        return allocate(bytes, align);
    } catch (...) {
        return nullptr;
    }
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
    return counting::allocate_nothrow(n, 0);
}
void* operator new[](std::size_t n, const std::nothrow_t& /*unused*/) noexcept {
    return counting::allocate_nothrow(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t& /*unused*/) noexcept {
    return counting::allocate_nothrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& /*unused*/) noexcept {
    return counting::allocate_nothrow(n, static_cast<std::size_t>(a));
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
