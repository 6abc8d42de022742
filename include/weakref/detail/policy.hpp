// SPDX-License-Identifier: MIT
// atomic_policy and local_policy: the one place where weakref:: and weakref::local:: differ.
#pragma once

#include "config.hpp"
#include "counts.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

// WEAKREF_NO_PTHREAD: use the standard's <mutex>, <condition_variable> and <thread> even where
// <pthread.h> exists (the portable path, as on a platform without it; tested in CI).
#if defined(__has_include) && !defined(WEAKREF_NO_PTHREAD)
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

/// Lets another thread run on this processor (std::this_thread::yield).
inline void yield_processor() noexcept {
#ifdef WEAKREF_HAS_PTHREAD
    sched_yield();
#else
    std::this_thread::yield();
#endif
}

/// A hint to the processor that this thread is spinning (x86 PAUSE, Arm YIELD), else nothing.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/// One step of a busy wait: a pause instruction, and past a few dozen spins a yield of the
/// processor, so that a waiter on a 2-core machine lets the thread it waits for run.
inline void spin_pause(unsigned& spins) noexcept {
    if (++spins < 64) {
        cpu_relax();
        return;
    }
    yield_processor();
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

/// A tag of the calling thread: 32 bits of its identity, never zero. Two threads alive at
/// once have different tags but for a 2^-32 chance, so a check by tag may miss, never
/// misfire. The check of thread_owner stores it where a full identity would grow a type.
inline std::uint32_t thread_tag() noexcept {
    std::uint64_t h = 0xcbf29ce484222325U; // FNV-1a over the identity's bytes
    const thread_identity me = thread_identity::current();
    unsigned char bytes[sizeof me.id];
    std::memcpy(bytes, &me.id, sizeof me.id);
    for (const unsigned char b : bytes) {
        h = (h ^ b) * 0x100000001b3U;
    }
    const auto tag = static_cast<std::uint32_t>(h ^ (h >> 32));
    return tag != 0 ? tag : 1;
}

/// Stops the program: the weakref::local:: container `name` was `action` ("used") on a thread
/// that is not its owner's.
[[noreturn]] WEAKREF_NOINLINE inline void wrong_thread(const char* name, const char* action,
                                                       std::uint32_t owner,
                                                       std::uint32_t caller) noexcept {
    char message[512];
    unsigned long long id = 0;
#ifdef WEAKREF_HAS_PTHREAD
    if constexpr (std::is_integral_v<pthread_t>) {
        id = static_cast<unsigned long long>(pthread_self());
    }
#endif
    std::snprintf(message, sizeof message,
                  "a weakref::local::%s %s on a thread that does not own it (owner: thread tag "
                  "%08x; this thread: tag %08x, id %#llx). A weakref::local:: container belongs "
                  "to one thread; its owner passes it to another with hand_over()",
                  name, action, static_cast<unsigned>(owner), static_cast<unsigned>(caller), id);
    fatal(message);
}

/// The thread that owns a weakref::local:: container, kept in the container's heap state
/// (its table, a signal's core), so that the container object keeps its size.
///
/// Unowned at first; the first thread that uses the container owns it from then on, and
/// debug builds (WEAKREF_CHECK_THREADS) stop the program when another thread uses it. The
/// owner gives it up with release() (the containers' hand_over()); the next user owns it.
/// Without WEAKREF_CHECK_THREADS the members do nothing and the tag stays in place, so the
/// layout does not depend on the macro. Four bytes, which every user fits in padding.
class thread_owner {
public:
    /// A use of the container `name` ("weak_set"): owns it for the caller if nobody does,
    /// else stops the program unless the caller owns it.
    void use(const char* name) const noexcept {
#if WEAKREF_CHECK_THREADS
        const std::uint32_t me = thread_tag();
        if (owner_ == 0) {
            owner_ = me;
        } else if (WEAKREF_UNLIKELY(owner_ != me)) {
            wrong_thread(name, "used", owner_, me);
        }
#else
        static_cast<void>(name);
#endif
    }
    /// As use(), but an unowned container stays unowned: for what does not make the caller its
    /// user (its destruction, a move out of it, a referent's death, the hand-over itself).
    /// `action` says what happened, for the message.
    void check(const char* name, const char* action = "used") const noexcept {
#if WEAKREF_CHECK_THREADS
        if (owner_ != 0) {
            const std::uint32_t me = thread_tag();
            if (WEAKREF_UNLIKELY(owner_ != me)) {
                wrong_thread(name, action, owner_, me);
            }
        }
#else
        static_cast<void>(name);
        static_cast<void>(action);
#endif
    }
    /// The owner gives the container up (checked as check()); the next user owns it.
    void release(const char* name) noexcept {
        check(name, "handed over");
        owner_ = 0;
    }

private:
    mutable std::uint32_t owner_ = 0; // a thread_tag(), or 0: nobody owns it yet
};

/// The thread-safe flavour's: any thread may use a container, nothing is checked.
struct no_thread_owner {
    void use(const char* /*unused*/) const noexcept {}
    void check(const char* /*unused*/, const char* /*unused*/ = nullptr) const noexcept {}
    void release(const char* /*unused*/) noexcept {}
};

/// The thread-safe flavour: weakref::.
struct atomic_policy {
    static constexpr bool thread_safe = true;
    using counts = atomic_counts;
    template <class T> using cell = std::atomic<T>;
    using thread_id = thread_identity;
    using thread_owner = no_thread_owner;
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
    /// Which thread owns a container: checked in debug builds (see thread_owner).
    using thread_owner = detail::thread_owner;
    static void pause(unsigned& /*spins*/) noexcept {}
};

} // namespace weakref::detail
