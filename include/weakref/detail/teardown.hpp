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
/// Where the thread's stack is nearly used up, weakref stops recursing: the destructions of
/// the death that starts there (its containers' values, its callbacks' callables, then the
/// object itself, and the freeing of its memory) are put off, in that order, and run when the
/// outermost death on this thread ends, before the release that started it returns. A million-long
/// chain therefore never overflows the stack, and a chain that fits (at least 100,000 links on an 8
/// MiB stack in an optimised build) is destroyed in exactly std::shared_ptr's nested order.
///
/// Only the destructor is put off, never the death itself: the object's callbacks and its
/// removal from every container still happen at the moment its strong count reaches zero.
/// CPython bounds the same recursion with its "trashcan", at a fixed depth; weakref measures
/// the stack, so that nothing changes for chains that fit.
class teardown {
public:
    using step = void (*)(void*) noexcept;

    /// Bytes of stack kept free below the deepest destruction weakref starts (an eighth of a
    /// small stack): room for the callbacks of a death at that depth, and for the queue.
    static constexpr std::size_t reserve = std::size_t{128} * 1024;

    /// Marks a death in progress on this thread for its lifetime. The outermost one, when it
    /// ends, runs what deeper deaths put off (first in, first out), so that every destructor
    /// has run before the outermost release on the thread returns, on any stack.
    class scope {
    public:
        scope() noexcept { ++depth_; }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;
        ~scope() {
            if (--depth_ == 0 && WEAKREF_UNLIKELY(queue_ != nullptr)) {
                drain();
            }
        }
    };

    /// Whether the destructions of the death starting now must be put off: true when the
    /// thread's stack is nearly used up. A death asks once, and puts off all or none of its
    /// destructions, in its own order (values before the object, see control_block::die).
    static bool stack_low() noexcept {
        const std::uintptr_t here = frame();
        if (WEAKREF_UNLIKELY(here < low_water_)) {
            return first_look(here);
        }
        return false;
    }

    /// Queues `run(block)` behind what was put off before; runs it now only if memory ran out
    /// (then the stack may overflow, as with std::shared_ptr).
    static void defer(void* block, step run) noexcept {
        if (!push(block, run)) {
            run(block);
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

    // The first check on a thread finds low_water_ at its initial maximum: it measures the
    // stack once and answers again.
    WEAKREF_NOINLINE static bool first_look(std::uintptr_t here) noexcept {
        if (low_water_ != initial) {
            return true;
        }
        low_water_ = measure(here);
        return here < low_water_;
    }

    // The lowest address a destruction may start at: the stack's end plus what is kept free.
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
            constexpr std::uintptr_t assumed = std::uintptr_t{512} * 1024;
            bottom = here > assumed ? here - assumed : 0;
        }
        const std::uintptr_t room = here - bottom;
        // A small stack keeps an eighth of itself, a large one the reserve.
        const std::uintptr_t keep = room / 8 < reserve ? room / 8 : reserve;
        return bottom + keep;
    }

    /// False (and nothing queued) if memory ran out.
    static bool push(void* block, step run_step) noexcept {
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

    /// At the end of the outermost death: runs the queued destructions in order (each may
    /// queue more, and their own deaths nest from here), then frees the queue.
    WEAKREF_NOINLINE static void drain() noexcept {
        if (draining_) {
            return; // a death inside a drained destruction: the loop below runs its queue
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
    // queue per thread; a library that still gets its own copy drains it at the end of its own
    // outermost death.
    WEAKREF_EXPORT static inline thread_local std::uintptr_t low_water_ = initial;
    WEAKREF_EXPORT static inline thread_local unsigned depth_ = 0;
    WEAKREF_EXPORT static inline thread_local queue* queue_ = nullptr;
    WEAKREF_EXPORT static inline thread_local bool draining_ = false;
};

} // namespace weakref::detail
