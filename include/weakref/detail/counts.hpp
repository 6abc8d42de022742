// SPDX-License-Identifier: MIT
// The strong and weak counts of one object, in each flavour, and their one set of operations.
#pragma once

#include "config.hpp"

#include <atomic>
#include <cstdint>

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

/// The most strong refs, and the most weak units, one object can have. An increment that
/// finds a count already there ends the program (weakref::detail::fatal) in every build, as
/// Rust's Arc does: never a silent wrap. The limit leaves 2^31 of headroom below the 32-bit
/// field's end, so increments that race past the check on other threads cannot reach it.
inline constexpr std::uint32_t count_limit = 0x7FFFFFFFU;

[[noreturn]] WEAKREF_NOINLINE inline void strong_count_overflow() noexcept {
    fatal("more than 2^31 - 1 strong refs to one object (the count would wrap)");
}
[[noreturn]] WEAKREF_NOINLINE inline void weak_count_overflow() noexcept {
    fatal("more than 2^31 - 1 weak refs and container entries on one object (the count would "
          "wrap)");
}

/// Tag: counts of an object still being constructed (no strong ref yet; see born()).
struct unborn_t {
    explicit unborn_t() = default;
};

/// Strong and weak counts of one object in one 64-bit atomic: strong in the low half, weak in
/// the high half. One word lets the last owner see "strong 1, weak 1" in one load, and lets
/// use_count() and weak_count() be read at one instant.
///
/// Invariants:
/// - weak counts the weak units: one per weak observer (weak_ref, proxy, weak_fn, container
///   entry), one per armed finalizer (its pin, see finalizer_node), plus 1 while the object is
///   being constructed or lives (strong != 0). The block is freed when weak reaches zero.
/// - strong goes from 0 to 1 once, when the constructor has returned (born()); after that,
///   strong == 0 is final: try_add_strong never takes it up from zero.
class atomic_counts {
public:
    explicit atomic_counts(unborn_t /*unused*/) noexcept : both_(weak_one) {}

    [[nodiscard]] std::uint64_t snapshot() const noexcept {
        return both_.load(std::memory_order_relaxed);
    }

    /// The constructor returned: the first strong ref. Never fails.
    void born() noexcept {
        // release: a weak_ref taken by the constructor (weak_from_this) and handed to another
        // thread may lock() from now on; its acquire must see the constructed object.
        both_.fetch_add(strong_one, std::memory_order_release);
    }

    /// +1 strong. The caller holds a strong ref, so the count cannot be zero.
    void add_strong() noexcept {
        // relaxed: the caller's own ref keeps the object alive; nothing is published here.
        std::uint64_t old = 0;
        if (process_is_single_threaded()) {
            old = both_.load(std::memory_order_relaxed);
            both_.store(old + strong_one, std::memory_order_relaxed);
        } else {
            old = both_.fetch_add(strong_one, std::memory_order_relaxed);
        }
        if (WEAKREF_UNLIKELY((old & strong_mask) >= count_limit)) {
            strong_count_overflow();
        }
    }

    /// +1 strong unless the strong count is zero; never takes the count up from zero.
    bool try_add_strong() noexcept {
        std::uint64_t v = both_.load(std::memory_order_relaxed);
        if (process_is_single_threaded()) {
            if ((v & strong_mask) == 0) {
                return false;
            }
            if (WEAKREF_UNLIKELY((v & strong_mask) >= count_limit)) {
                strong_count_overflow();
            }
            both_.store(v + strong_one, std::memory_order_relaxed);
            return true;
        }
        do {
            if ((v & strong_mask) == 0) {
                return false;
            }
            if (WEAKREF_UNLIKELY((v & strong_mask) >= count_limit)) {
                strong_count_overflow();
            }
            // acq_rel on success, as libstdc++'s weak_ptr::lock(): the acquire makes this
            // thread's uses of the object happen after every write another thread made before
            // it released a ref (its acq_rel decrement heads a release sequence this CAS
            // reads from). A relaxed CAS would let a reader see the object's old state.
        } while (!both_.compare_exchange_weak(v, v + strong_one, std::memory_order_acq_rel,
                                              std::memory_order_relaxed));
        return true;
    }

    /// True when the caller holds the only strong ref and no weak unit but the live object's
    /// exists: nobody else can reach the block, so it may be destroyed without touching the
    /// counts (no weak observer, no finalizer pin, no container entry, no hook).
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

    /// +1 weak. The caller holds a strong or weak unit, so the block cannot be freed.
    void add_weak() noexcept {
        // relaxed: nothing is published; the caller's unit keeps the block.
        std::uint64_t old = 0;
        if (process_is_single_threaded()) {
            old = both_.load(std::memory_order_relaxed);
            both_.store(old + weak_one, std::memory_order_relaxed);
        } else {
            old = both_.fetch_add(weak_one, std::memory_order_relaxed);
        }
        if (WEAKREF_UNLIKELY((old >> 32) >= count_limit)) {
            weak_count_overflow();
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

    std::atomic<std::uint64_t> both_;
};

/// The same counts for one thread: plain integers, the same limits.
class local_counts {
public:
    explicit local_counts(unborn_t /*unused*/) noexcept {}

    [[nodiscard]] std::uint64_t snapshot() const noexcept {
        return std::uint64_t{strong_} | (std::uint64_t{weak_} << 32);
    }
    void born() noexcept { strong_ = 1; }
    void add_strong() noexcept {
        if (WEAKREF_UNLIKELY(strong_ >= count_limit)) {
            strong_count_overflow();
        }
        ++strong_;
    }
    bool try_add_strong() noexcept {
        if (strong_ == 0) {
            return false;
        }
        add_strong();
        return true;
    }
    [[nodiscard]] bool sole_owner() const noexcept { return strong_ == 1 && weak_ == 1; }
    void mark_dying() noexcept { strong_ = 0; }
    [[nodiscard]] bool only_weak_unit() const noexcept { return weak_ == 1; }
    bool release_strong() noexcept { return --strong_ == 0; }
    bool release_strong_one_thread() noexcept { return release_strong(); }
    void add_weak() noexcept {
        if (WEAKREF_UNLIKELY(weak_ >= count_limit)) {
            weak_count_overflow();
        }
        ++weak_;
    }
    bool release_weak() noexcept { return --weak_ == 0; }
    static std::uint32_t strong_of(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v);
    }
    static std::uint32_t weak_of(std::uint64_t v) noexcept {
        return static_cast<std::uint32_t>(v >> 32);
    }

private:
    std::uint32_t strong_ = 0; // refs; 0 until born()
    std::uint32_t weak_ = 1;   // weak units, plus 1 while constructed or alive
};

} // namespace weakref::detail
