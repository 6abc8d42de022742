// SPDX-License-Identifier: MIT
// atomic_policy and local_policy: the one place where weakref:: and weakref::local:: differ.
#pragma once

#include "config.hpp"
#include "counts.hpp"

#include <atomic>
#include <cstdint>

#if defined(__has_include)
#if __has_include(<pthread.h>) && __has_include(<sched.h>)
#include <pthread.h>
#include <sched.h>
#define WEAKREF_HAS_PTHREAD 1
#endif
#endif
#ifndef WEAKREF_HAS_PTHREAD
#include <thread>
#endif

namespace weakref::detail {

/// A value with the member subset of std::atomic that weakref uses, for one thread.
template <class T> class plain_cell {
public:
    constexpr plain_cell() noexcept = default;
    constexpr explicit plain_cell(T v) noexcept : value_(v) {}
    T load(std::memory_order = std::memory_order_seq_cst) const noexcept { return value_; }
    void store(T v, std::memory_order = std::memory_order_seq_cst) noexcept { value_ = v; }
    T fetch_add(T v, std::memory_order = std::memory_order_seq_cst) noexcept {
        T old = value_;
        value_ = static_cast<T>(value_ + v);
        return old;
    }
    T fetch_sub(T v, std::memory_order = std::memory_order_seq_cst) noexcept {
        T old = value_;
        value_ = static_cast<T>(value_ - v);
        return old;
    }
    T fetch_or(T v, std::memory_order = std::memory_order_seq_cst) noexcept {
        T old = value_;
        value_ = static_cast<T>(value_ | v);
        return old;
    }
    T exchange(T v, std::memory_order = std::memory_order_seq_cst) noexcept {
        T old = value_;
        value_ = v;
        return old;
    }
    bool compare_exchange_strong(T& expected, T desired,
                                 std::memory_order = std::memory_order_seq_cst,
                                 std::memory_order = std::memory_order_seq_cst) noexcept {
        if (value_ == expected) {
            value_ = desired;
            return true;
        }
        expected = value_;
        return false;
    }
    bool compare_exchange_weak(T& expected, T desired,
                               std::memory_order s = std::memory_order_seq_cst,
                               std::memory_order f = std::memory_order_seq_cst) noexcept {
        return compare_exchange_strong(expected, desired, s, f);
    }

private:
    T value_{};
};

/// One step of a busy wait: a pause instruction, and past a few dozen spins a yield of the
/// processor, so that a waiter on a 2-core machine lets the thread it waits for run.
inline void spin_pause(unsigned& spins) noexcept {
    if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
        __asm__ __volatile__("yield");
#endif
        return;
    }
#ifdef WEAKREF_HAS_PTHREAD
    sched_yield();
#else
    std::this_thread::yield();
#endif
}

/// The identity of the calling thread, unique in the process: pthread_self(), not the address
/// of a thread_local (which a shared library built with hidden visibility would duplicate).
/// A default-constructed identity names no thread that runs weakref code (glibc's
/// pthread_self() is never zero). One word, so that std::atomic<thread_identity> is lock-free.
struct thread_identity {
#ifdef WEAKREF_HAS_PTHREAD
    pthread_t id{};
    static thread_identity current() noexcept { return thread_identity{pthread_self()}; }
    friend bool operator==(const thread_identity& a, const thread_identity& b) noexcept {
        return pthread_equal(a.id, b.id) != 0;
    }
#else
    std::thread::id id{};
    static thread_identity current() noexcept {
        return thread_identity{std::this_thread::get_id()};
    }
    friend bool operator==(const thread_identity& a, const thread_identity& b) noexcept {
        return a.id == b.id;
    }
#endif
    friend bool operator!=(const thread_identity& a, const thread_identity& b) noexcept {
        return !(a == b);
    }
};

/// The thread-safe flavour: weakref::.
struct atomic_policy {
    static constexpr bool thread_safe = true;
    using counts = atomic_counts;
    template <class T> using cell = std::atomic<T>;
    using thread_id = thread_identity;
    static thread_id this_thread() noexcept { return thread_identity::current(); }
    static void pause(unsigned& spins) noexcept { spin_pause(spins); }
};

/// The single-threaded flavour: weakref::local::. No atomics, no locks.
struct local_policy {
    static constexpr bool thread_safe = false;
    using counts = local_counts;
    template <class T> using cell = plain_cell<T>;
    struct thread_id {
        friend bool operator==(thread_id, thread_id) noexcept { return true; }
        friend bool operator!=(thread_id, thread_id) noexcept { return false; }
    };
    static thread_id this_thread() noexcept { return {}; }
    static void pause(unsigned& /*spins*/) noexcept {}
};

} // namespace weakref::detail
