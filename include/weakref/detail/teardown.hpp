// SPDX-License-Identifier: MIT
// teardown: how a destruction runs when deaths nest so deeply that the stack would overflow.
#pragma once

#include "config.hpp"

#include <cstddef>
#include <cstdint>
#include <new>

#if defined(__has_include)
#if __has_include(<pthread.h>)
#include <pthread.h>
#define WEAKREF_TEARDOWN_PTHREAD 1
#endif
#endif

namespace weakref::detail {

/// Dropping the head of a chain in which each object holds the only ref to the next destroys
/// the chain recursively, one level of the stack per link, exactly as std::shared_ptr does.
/// Where the thread's stack is nearly used up, weakref stops recursing: the destructor of the
/// object whose last ref just went (and the freeing of its memory) is put off, and runs as
/// soon as the stack has room again, at the latest before the outermost release on this
/// thread returns. A million-long chain therefore never overflows the stack, and a chain that
/// fits (at least 100,000 links on an 8 MiB stack in an optimised build) is destroyed in
/// exactly std::shared_ptr's nested order.
///
/// Only the destructor is put off, never the death itself: the object's callbacks and its
/// removal from every container still happen at the moment its strong count reaches zero.
/// CPython bounds the same recursion with its "trashcan", at a fixed depth; weakref measures
/// the stack, so that nothing changes for chains that fit.
class teardown {
public:
    using step = void (*)(void*) noexcept;

    /// Bytes of stack kept free below the deepest destructor weakref starts: room for the
    /// callbacks of a death at that depth, and for the queue.
    static constexpr std::size_t reserve = 128 * 1024;

    /// Runs `Step(block)`, or queues it if the stack is nearly used up; then, if the stack has
    /// room, runs what deeper destructions queued.
    /// A template on the step, so that the step inlines into the caller: one frame fewer per
    /// level of a nested destruction.
    template <step Step> static void run(void* block) noexcept {
        if (WEAKREF_UNLIKELY(stack_low()) && defer(block, Step)) {
            return;
        }
        Step(block);
        if (WEAKREF_UNLIKELY(queue_ != nullptr)) {
            drain();
        }
    }

private:
    struct pending {
        void* block;
        step run;
    };
    /// A growable ring of pending destructions, allocated with ::operator new only when
    /// needed and freed once empty. First in, first out: what one death queued runs in the
    /// order the death would have run it.
    struct queue {
        pending* items;
        std::size_t first;
        std::size_t size;
        std::size_t capacity; // a power of two, or 0
    };

    // The stack pointer, read without a frame of its own (a frame-address builtin would give
    // its caller a frame pointer: 16 more bytes per level of a nested destruction), and not a
    // local's address (with AddressSanitizer's fake stacks a local can live on the heap).
    static std::uintptr_t frame() noexcept {
        std::uintptr_t sp = 0;
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
        __asm__("movq %%rsp, %0" : "=r"(sp));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
        __asm__("mov %0, sp" : "=r"(sp));
#elif defined(__GNUC__) || defined(__clang__)
        sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
#else
        volatile char here = 0;
        sp = reinterpret_cast<std::uintptr_t>(&here);
#endif
        return sp;
    }

    static bool stack_low() noexcept {
        const std::uintptr_t here = frame();
        if (WEAKREF_UNLIKELY(here < low_water_)) {
            return first_look(here);
        }
        return false;
    }

    // The first check on a thread finds low_water_ at its initial maximum: it measures the
    // stack once and answers again.
    WEAKREF_NOINLINE static bool first_look(std::uintptr_t here) noexcept {
        if (low_water_ != initial) {
            return true;
        }
        low_water_ = measure(here);
        return here < low_water_;
    }

    // The lowest address a destruction may start at: the stack's end plus the reserve.
    static std::uintptr_t measure(std::uintptr_t here) noexcept {
        std::uintptr_t bottom = 0;
#if defined(WEAKREF_TEARDOWN_PTHREAD) && defined(__GLIBC__)
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            void* addr = nullptr;
            std::size_t size = 0;
            std::size_t guard = 0;
            if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                bottom = reinterpret_cast<std::uintptr_t>(addr);
                if (pthread_attr_getguardsize(&attr, &guard) == 0) {
                    bottom += guard;
                }
            }
            pthread_attr_destroy(&attr);
        }
#elif defined(WEAKREF_TEARDOWN_PTHREAD) && defined(__APPLE__)
        const auto top = reinterpret_cast<std::uintptr_t>(pthread_get_stackaddr_np(pthread_self()));
        bottom = top - pthread_get_stacksize_np(pthread_self());
#endif
        if (bottom == 0 || bottom >= here) {
            // Unknown: assume 512 KiB below the first death on this thread.
            bottom = here > 512 * 1024 ? here - 512 * 1024 : 0;
        }
        const std::uintptr_t room = here - bottom;
        // A small stack keeps an eighth of itself, a large one the reserve.
        const std::uintptr_t keep = room / 8 < reserve ? room / 8 : reserve;
        return bottom + keep;
    }

    /// Queues a destruction; false (and the caller recurses) only if memory ran out.
    static bool defer(void* block, step run_step) noexcept {
        if (queue_ == nullptr) {
            void* q = ::operator new(sizeof(queue), std::nothrow);
            if (q == nullptr) {
                return false;
            }
            queue_ = ::new (q) queue{nullptr, 0, 0, 0};
        }
        queue& q = *queue_;
        if (q.size == q.capacity) {
            const std::size_t grown = q.capacity == 0 ? 64 : q.capacity * 2;
            void* fresh = ::operator new(grown * sizeof(pending), std::nothrow);
            if (fresh == nullptr) {
                return false;
            }
            auto* items = static_cast<pending*>(fresh);
            for (std::size_t i = 0; i < q.size; ++i) {
                items[i] = q.items[(q.first + i) & (q.capacity - 1)];
            }
            ::operator delete(q.items);
            q.items = items;
            q.first = 0;
            q.capacity = grown;
        }
        q.items[(q.first + q.size) & (q.capacity - 1)] = pending{block, run_step};
        ++q.size;
        return true;
    }

    /// Runs the queued destructions in order while the stack has room (each may queue more),
    /// and frees the queue once it is empty. Only at the low-water mark plus the reserve, so
    /// that a drained destruction can nest a reserve's worth before it queues again.
    static void drain() noexcept {
        if (draining_ || frame() < low_water_ + reserve) {
            return; // a frame nearer the top drains it
        }
        draining_ = true;
        while (queue_->size != 0) {
            queue& q = *queue_;
            const pending next = q.items[q.first];
            q.first = (q.first + 1) & (q.capacity - 1);
            --q.size;
            next.run(next.block);
        }
        ::operator delete(queue_->items);
        ::operator delete(static_cast<void*>(queue_));
        queue_ = nullptr;
        draining_ = false;
    }

    static constexpr std::uintptr_t initial = ~std::uintptr_t{0};

    // Trivially constructible thread_locals: no guard on the path every death takes. Exported
    // (default visibility), so that shared libraries built with -fvisibility=hidden share one
    // queue per thread; a library that still gets its own copy drains it in its own deaths.
    WEAKREF_EXPORT static inline thread_local std::uintptr_t low_water_ = initial;
    WEAKREF_EXPORT static inline thread_local queue* queue_ = nullptr;
    WEAKREF_EXPORT static inline thread_local bool draining_ = false;
};

} // namespace weakref::detail
