// SPDX-License-Identifier: MIT
// atomic_policy and local_policy: the one place where weakref:: and weakref::local:: differ.
#pragma once

#include "config.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#if defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define WEAKREF_HAS_SINGLE_THREADED 1
#endif
#endif

namespace weakref::detail {

/// True while the process has never started a second thread (glibc 2.32+). libstdc++'s
/// shared_ptr takes the same shortcut: with one thread, plain loads and stores are atomic
/// enough, and the flag only ever goes from true to false, inside pthread_create, before the
/// new thread exists.
inline bool process_is_single_threaded() noexcept {
#ifdef WEAKREF_HAS_SINGLE_THREADED
    return __libc_single_threaded != 0;
#else
    return false;
#endif
}

/// Strong and weak counts of one object in one 64-bit atomic: strong in the low half, weak in
/// the high half. One word lets the last owner see "strong 1, weak 1" in one load, and lets
/// use_count() and weak_count() be read at one instant.
class atomic_counts {
public:
    atomic_counts() noexcept = default;

    [[nodiscard]] std::uint64_t snapshot() const noexcept {
        return both_.load(std::memory_order_relaxed);
    }

    /// +1 strong. The caller holds a strong ref, so the count cannot be zero.
    void add_strong() noexcept {
        // relaxed: the caller's own ref keeps the object alive; nothing is published here.
        if (process_is_single_threaded()) {
            both_.store(both_.load(std::memory_order_relaxed) + strong_one,
                        std::memory_order_relaxed);
        } else {
            both_.fetch_add(strong_one, std::memory_order_relaxed);
        }
    }

    /// +1 strong unless the strong count is zero; never takes the count up from zero.
    bool try_add_strong() noexcept {
        std::uint64_t v = both_.load(std::memory_order_relaxed);
        if (process_is_single_threaded()) {
            if ((v & strong_mask) == 0) {
                return false;
            }
            both_.store(v + strong_one, std::memory_order_relaxed);
            return true;
        }
        do {
            if ((v & strong_mask) == 0) {
                return false;
            }
            // relaxed on success: the new ref is released later with acq_rel, which is what
            // orders this thread's uses before the destructor; lock() publishes nothing itself.
        } while (!both_.compare_exchange_weak(v, v + strong_one, std::memory_order_relaxed,
                                              std::memory_order_relaxed));
        return true;
    }

    /// True when the caller holds the only strong ref and no weak observer exists: nobody
    /// else can reach the object, so it may be destroyed without touching the counts.
    [[nodiscard]] bool sole_owner() const noexcept {
        // acquire: pairs with the acq_rel decrements of every other handle that ever existed,
        // so their uses of the object happen before the destruction that follows.
        return both_.load(std::memory_order_acquire) == (strong_one | weak_one);
    }

    /// For the sole owner: strong 0 and the weak unit, without an atomic read-modify-write.
    void mark_dying() noexcept { both_.store(weak_one, std::memory_order_relaxed); }
    /// After mark_dying and the destructor: true if no weak handle was made meanwhile.
    [[nodiscard]] bool only_weak_unit() const noexcept {
        // acquire: a weak handle that the destructor made and another thread dropped since
        // was dropped with acq_rel; its last access happens before the free that follows.
        return both_.load(std::memory_order_acquire) == weak_one;
    }

    /// -1 strong without an atomic read-modify-write, for a process that has never started
    /// a thread (see process_is_single_threaded); true when it reached zero.
    bool release_strong_one_thread() noexcept {
        const std::uint64_t v = both_.load(std::memory_order_relaxed) - strong_one;
        both_.store(v, std::memory_order_relaxed);
        return (v & strong_mask) == 0;
    }

    /// -1 strong; true when it reached zero.
    bool release_strong() noexcept {
        if (process_is_single_threaded()) {
            return release_strong_one_thread();
        }
        // acq_rel: release publishes this thread's uses of the object; acquire, on the thread
        // that reaches zero, makes every other thread's uses happen before the callbacks and
        // the destructor it runs next.
        return (both_.fetch_sub(strong_one, std::memory_order_acq_rel) & strong_mask) == 1;
    }

    void add_weak() noexcept {
        // relaxed: the caller holds a strong or weak handle, so the block cannot be freed.
        if (process_is_single_threaded()) {
            both_.store(both_.load(std::memory_order_relaxed) + weak_one,
                        std::memory_order_relaxed);
        } else {
            both_.fetch_add(weak_one, std::memory_order_relaxed);
        }
    }

    /// -1 weak; true when it reached zero (then the strong count is zero too).
    bool release_weak() noexcept {
        if (process_is_single_threaded()) {
            const std::uint64_t v = both_.load(std::memory_order_relaxed) - weak_one;
            both_.store(v, std::memory_order_relaxed);
            return v == 0;
        }
        // acq_rel: the thread that frees the block must see every other thread's last access
        // to it (their hook unlinks, their reads of the counts) happen before the free.
        return both_.fetch_sub(weak_one, std::memory_order_acq_rel) == weak_one;
    }

    static std::uint32_t strong_of(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v & strong_mask);
    }
    static std::uint32_t weak_of(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v >> 32);
    }

private:
    static constexpr std::uint64_t strong_one = 1;
    static constexpr std::uint64_t weak_one = std::uint64_t{1} << 32;
    static constexpr std::uint64_t strong_mask = weak_one - 1;

    // One strong ref (the creator's) and the weak unit that the live object holds on its own
    // block: weak = observers + 1 while strong != 0.
    std::atomic<std::uint64_t> both_{strong_one | weak_one};
};

/// The same counts for one thread: plain integers.
class local_counts {
public:
    [[nodiscard]] std::uint64_t snapshot() const noexcept {
        return std::uint64_t{strong_} | (std::uint64_t{weak_} << 32);
    }
    void add_strong() noexcept { ++strong_; }
    bool try_add_strong() noexcept {
        if (strong_ == 0) {
            return false;
        }
        ++strong_;
        return true;
    }
    [[nodiscard]] bool sole_owner() const noexcept { return strong_ == 1 && weak_ == 1; }
    void mark_dying() noexcept { strong_ = 0; }
    [[nodiscard]] bool only_weak_unit() const noexcept { return weak_ == 1; }
    bool release_strong() noexcept { return --strong_ == 0; }
    bool release_strong_one_thread() noexcept { return release_strong(); }
    void add_weak() noexcept { ++weak_; }
    bool release_weak() noexcept { return --weak_ == 0; }
    static std::uint32_t strong_of(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v);
    }
    static std::uint32_t weak_of(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v >> 32);
    }

private:
    std::uint32_t strong_ = 1; // refs
    std::uint32_t weak_ = 1;   // weak observers, plus 1 while strong_ != 0
};

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

private:
    T value_{};
};

/// A lock that is never taken: the local flavour's mutex.
struct null_mutex {
    void lock() noexcept {}
    bool try_lock() noexcept { return true; }
    void unlock() noexcept {}
};

/// A condition that is never waited on: with one thread, nobody else could signal it.
struct null_condition {
    template <class Lock> void wait(Lock& /*unused*/) noexcept {}
    void notify_all() noexcept {}
};

/// A test-and-test-and-set lock for the few instructions of a hook list update.
class spin_mutex {
public:
    void lock() noexcept {
        for (unsigned spins = 0;; ++spins) {
            // acquire: the holder's writes to the hook list happen before ours.
            if (!locked_.exchange(true, std::memory_order_acquire)) {
                return;
            }
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins > 64) {
                    std::this_thread::yield();
                }
            }
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

/// The locks that guard the death-hook lists, one of `hook_stripes` chosen by the control
/// block's address. They live outside the blocks, so that a detacher can take one without
/// knowing whether the block still exists, and learn that under the lock.
inline constexpr std::size_t hook_stripes = 64;
struct alignas(64) hook_stripe {
    spin_mutex mutex;
};
inline hook_stripe hook_stripe_table[hook_stripes];

inline spin_mutex& hook_lock_for(const void* block) noexcept {
    auto a = reinterpret_cast<std::uintptr_t>(block);
    a ^= a >> 17;
    return hook_stripe_table[(a >> 4) % hook_stripes].mutex;
}

/// The thread-safe flavour: weakref::.
struct atomic_policy {
    static constexpr bool thread_safe = true;
    using counts = atomic_counts;
    template <class T> using cell = std::atomic<T>;
    using mutex = std::mutex;
    using condition = std::condition_variable;
    /// Containers split their entries over 2^table_shard_bits independently locked shards,
    /// so that threads working on different keys rarely meet on one mutex.
    static constexpr unsigned table_shard_bits = 4;
    using thread_id = std::thread::id;
    static thread_id this_thread() noexcept { return std::this_thread::get_id(); }
    static void pause() noexcept { std::this_thread::yield(); }

    /// Holds the lock of the hook list of the block at `block`.
    class hook_guard {
    public:
        explicit hook_guard(const void* block) noexcept : mutex_(hook_lock_for(block)) {
            mutex_.lock();
        }
        ~hook_guard() { mutex_.unlock(); }
        hook_guard(const hook_guard&) = delete;
        hook_guard& operator=(const hook_guard&) = delete;

    private:
        spin_mutex& mutex_;
    };
};

/// The single-threaded flavour: weakref::local::. No atomics, no locks.
struct local_policy {
    static constexpr bool thread_safe = false;
    using counts = local_counts;
    template <class T> using cell = plain_cell<T>;
    using mutex = null_mutex;
    using condition = null_condition;
    static constexpr unsigned table_shard_bits = 0;
    struct thread_id {
        friend bool operator==(thread_id, thread_id) noexcept { return true; }
        friend bool operator!=(thread_id, thread_id) noexcept { return false; }
    };
    static thread_id this_thread() noexcept { return {}; }
    static void pause() noexcept {}
    struct hook_guard {
        explicit hook_guard(const void*) noexcept {}
    };
};

} // namespace weakref::detail
