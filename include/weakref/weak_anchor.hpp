// SPDX-License-Identifier: MIT
// weak_anchor, observer and pinned: weak handles to objects that no ref owns (a local, a member,
// a std::unique_ptr), in both flavours.
#pragma once

#include "detail/config.hpp"
#include "detail/locks.hpp"
#include "detail/policy.hpp"
#include "fwd.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace weakref::detail {

// --- Waiting for pins -------------------------------------------------------------------------

/// Returns once `done()` is true: spins briefly (a pin is usually held for a few hundred
/// nanoseconds), then yields the processor, then sleeps in steps that double up to a
/// millisecond (a pin held across real work should not cost its waiter a core).
///
/// It terminates because `done()` watches a count that only goes down: the anchor cleared its
/// valid bit before waiting, no pin can be taken after that (try_add_pin never counts up from
/// invalid), and each pin counted belongs to another thread that releases it when its scope
/// ends. The wait lasts as long as the longest of those pins, and no longer than a millisecond
/// after it.
template <class Done> void anchor_wait(Done done) noexcept {
    for (int i = 0; i < 128; ++i) {
        if (done()) {
            return;
        }
        cpu_relax();
    }
    for (int i = 0; i < 64; ++i) {
        yield_processor();
        if (done()) {
            return;
        }
    }
    long microseconds = 16;
    while (!done()) {
        nap(microseconds);
        if (microseconds < 1000) {
            microseconds *= 2;
        }
    }
}

// --- Which pins this thread holds (debug builds) ----------------------------------------------

#ifndef NDEBUG
/// The blocks on which the current thread holds pins, and how many, in debug builds only: the
/// anchor asks it whether the thread that invalidates holds a pin itself (a wait that would
/// never end). Fixed capacity, so that lock() never allocates; pins on more blocks at once are
/// not tracked (the check then misses them, it never misfires on them).
///
/// Nothing outside this list depends on it, and no object's layout changes with NDEBUG, so
/// translation units built with and without NDEBUG link together. Such a mix, or a shared
/// library built with -fvisibility=hidden (each has its own copy of this thread_local), can
/// leave a pin counted here that was released elsewhere; the anchor therefore consults the
/// list only when the block's own count says that some pin is held.
struct anchor_pin_ledger {
    static constexpr int capacity = 16;
    const void* block[capacity] = {};
    std::size_t pins[capacity] = {};

    static anchor_pin_ledger& of_this_thread() noexcept {
        thread_local anchor_pin_ledger ledger;
        return ledger;
    }
    void add(const void* b) noexcept {
        int free_slot = -1;
        for (int i = 0; i < capacity; ++i) {
            if (block[i] == b) {
                ++pins[i];
                return;
            }
            if (block[i] == nullptr && free_slot < 0) {
                free_slot = i;
            }
        }
        if (free_slot >= 0) {
            block[free_slot] = b;
            pins[free_slot] = 1;
        }
    }
    void remove(const void* b) noexcept {
        for (int i = 0; i < capacity; ++i) {
            if (block[i] == b) {
                if (--pins[i] == 0) {
                    block[i] = nullptr;
                }
                return;
            }
        }
    }
    [[nodiscard]] std::size_t held(const void* b) const noexcept {
        for (int i = 0; i < capacity; ++i) {
            if (block[i] == b) {
                return pins[i];
            }
        }
        return 0;
    }
};
#endif

// --- The block --------------------------------------------------------------------------------

/// What the observers of one anchor generation share: the object's address, a count of the
/// units that keep the block, and the validity bit and pin count in one word. Made by the first
/// observe() of a generation, freed by the last of its observers or by the anchor, whichever
/// lets go last. 24 bytes on a 64-bit target.
///
/// Neither count can wrap: each unit is an object of at least pointer size (an observer, a
/// pinned, the anchor), so a count never reaches a quarter of the address space, and the valid
/// bit sits above every pin count.
template <class T, class Policy> class anchor_block {
public:
    static constexpr std::size_t valid_bit = ~(~std::size_t{0} >> 1);
    static constexpr std::size_t pin_mask = valid_bit - 1;

    explicit anchor_block(T* object) noexcept : object_(object) {}
    anchor_block(const anchor_block&) = delete;
    anchor_block& operator=(const anchor_block&) = delete;

    [[nodiscard]] T* object() const noexcept { return object_; }

    /// +1 unit; the caller holds one already, so the block cannot be freed meanwhile.
    void add_weak() noexcept {
        // relaxed: the caller's own unit keeps the block; nothing is published by a copy.
        weak_.fetch_add(1, std::memory_order_relaxed);
    }

    /// -1 unit; frees the block when it was the last.
    void release_weak() noexcept {
        // acq_rel: release publishes this unit's last use of the block (its pins, its reads of
        // the state); acquire, in the thread that takes the count to zero, makes every other
        // unit's last use happen before the delete.
        if (weak_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

    /// True while the anchor has not begun to invalidate this generation. True is stale at
    /// once under threads; false is final.
    [[nodiscard]] bool valid() const noexcept {
        // relaxed: grants nothing, orders nothing (as std::weak_ptr::expired()).
        return (state_.load(std::memory_order_relaxed) & valid_bit) != 0;
    }

    /// +1 pin while the generation is valid; never counts up from invalid (as
    /// std::weak_ptr::lock never counts up from zero).
    bool try_add_pin() noexcept {
        std::size_t s = state_.load(std::memory_order_relaxed);
        while ((s & valid_bit) != 0) {
            // relaxed on success: a pin takes nothing from earlier pins (pins do not exclude
            // one another, so they promise no order among readers). What the protocol needs is
            // the modification order of this one word: a CAS that read "valid" comes before
            // the invalidating RMW, so the invalidator counts this pin and waits for it.
            if (state_.compare_exchange_strong(s, s + 1, std::memory_order_relaxed,
                                               std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }

    /// -1 pin. The last access of a pinned to the block: after it the anchor may free it.
    void release_pin() noexcept {
        // release: this thread's uses of the object happen before the acquire load of the
        // invalidating thread that sees the count drop (every RMW on this word continues the
        // release sequence), so they happen before invalidate() and the destructor return.
        state_.fetch_sub(1, std::memory_order_release);
    }

    /// Clears the valid bit, once per block, by its anchor; returns the pins held then.
    std::size_t invalidate() noexcept {
        // acquire: every pin released before this RMW (a release RMW of the same word's
        // release sequence) happens before what the anchor does next, so with no pin held
        // here the anchor may go on at once. No release needed: the clear publishes nothing;
        // that lock() fails from now on follows from the modification order of this word.
        return state_.fetch_sub(valid_bit, std::memory_order_acquire) & pin_mask;
    }

    /// Pins held now, after invalidate(): the count only goes down from there.
    [[nodiscard]] std::size_t pins() const noexcept {
        // acquire: pairs with release_pin; a zero read here makes every released pin's uses
        // of the object happen before the anchor's return.
        return state_.load(std::memory_order_acquire) & pin_mask;
    }

private:
    T* const object_;
    // Observers, plus 1 while an anchor holds the block (from its observe() to the end of its
    // invalidate()). Starts at 2: the anchor and the observer that the first observe() returns.
    typename Policy::template cell<std::size_t> weak_{2};
    // valid_bit until the anchor invalidates, plus the pins held now. One word, so that a pin
    // is taken only from a valid state and the invalidator sees the pins of that instant.
    typename Policy::template cell<std::size_t> state_{valid_bit};
};

/// The block type of a T: one per object type, shared by T and const T.
template <class T, class Policy> using anchor_block_of = anchor_block<std::remove_cv_t<T>, Policy>;

// --- pinned -----------------------------------------------------------------------------------

/// A pin on an observed object: pinned<T> in either flavour, returned by observer<T>::lock().
/// While it is held, the object is usable: in weakref::, the anchor's destructor and
/// invalidate() wait on other threads until it is released. Empty when lock() found the anchor
/// invalidated or destroyed.
///
/// Move-only, as a lock is: each pin delays an invalidation on another thread, so making one is
/// an explicit lock() (an RMW), never a silent copy into a lambda that outlives the use. A
/// pinned is released on the thread that took it, and is not held while this thread invalidates
/// or destroys the anchor (both are documented errors, caught in debug builds).
/// One pointer; moving costs nothing, releasing one atomic decrement (weakref::) or a plain one.
template <class T, class Policy> class basic_pinned {
    using block = anchor_block_of<T, Policy>;

public:
    /// The pinned object's type.
    using element_type = T;

    /// An empty pin.
    constexpr basic_pinned() noexcept = default;
    /// Takes over `other`'s pin; `other` is empty. O(1), touches no count.
    basic_pinned(basic_pinned&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
    /// A pin on a const view of the same object, taking over `other`'s pin. O(1).
    template <class U, std::enable_if_t<!std::is_const_v<U> && std::is_same_v<const U, T>, int> = 0>
    basic_pinned(basic_pinned<U, Policy>&& other) noexcept // NOLINT(google-explicit-constructor)
        : block_(std::exchange(other.block_, nullptr)) {}
    ///@{
    /// Move-only: a new pin is an explicit lock().
    basic_pinned(const basic_pinned&) = delete;
    basic_pinned& operator=(const basic_pinned&) = delete;
    ///@}
    /// Releases the pin held (on this thread, as reset()), then takes over `other`'s. O(1).
    basic_pinned& operator=(basic_pinned&& other) noexcept {
        basic_pinned(std::move(other)).swap(*this);
        return *this;
    }
    /// Releases the pin, as reset(). O(1).
    ~basic_pinned() { reset(); }

    /// Lets go now, on the thread that took it; the pin is empty afterwards. An invalidate() or
    /// anchor destructor waiting on another thread may then return. O(1): one atomic decrement
    /// in weakref::.
    void reset() noexcept {
        if (block_ != nullptr) {
#ifndef NDEBUG
            if constexpr (Policy::thread_safe) {
                anchor_pin_ledger::of_this_thread().remove(block_);
            }
#endif
            std::exchange(block_, nullptr)->release_pin();
        }
    }

    /// The object, or nullptr when empty. O(1).
    [[nodiscard]] T* get() const noexcept { return block_ != nullptr ? block_->object() : nullptr; }
    ///@{
    /// The object. Asserts (debug builds) that the pin is not empty; with NDEBUG an empty pin
    /// is undefined behaviour. O(1).
    T& operator*() const noexcept {
        WEAKREF_ASSERT(block_ != nullptr, "dereferencing an empty pinned");
        return *get();
    }
    T* operator->() const noexcept {
        WEAKREF_ASSERT(block_ != nullptr, "dereferencing an empty pinned");
        return get();
    }
    ///@}
    /// True when it pins an object. O(1).
    explicit operator bool() const noexcept { return block_ != nullptr; }

    /// Exchanges the two pins. O(1).
    void swap(basic_pinned& other) noexcept { std::swap(block_, other.block_); }
    /// `a.swap(b)`.
    friend void swap(basic_pinned& a, basic_pinned& b) noexcept { a.swap(b); }

private:
    template <class U, class P> friend class basic_pinned;
    friend class basic_observer<T, Policy>;

    /// Adopts a pin that try_add_pin() took on `b`.
    explicit basic_pinned(block* b) noexcept : block_(b) {
#ifndef NDEBUG
        if constexpr (Policy::thread_safe) {
            anchor_pin_ledger::of_this_thread().add(b);
        }
#endif
    }

    // A block on which this pin counts, or nullptr. The block outlives the pin: its anchor
    // keeps its unit until no pin is held (weakref:: waits for that).
    block* block_ = nullptr;
};

// --- observer ---------------------------------------------------------------------------------

/// A weak handle to an object that a weak_anchor marks: observer<T> in either flavour. Expires,
/// for good, when the anchor is invalidated or destroyed, while the object lives on or not.
/// lock() returns a pinned that keeps the object usable until it is released.
///
/// One pointer (to the generation's shared block), copyable, default-constructible (expired).
/// Converts to observer<const T>; not to an observer of a base class (see weak_anchor).
/// Thread safety as std::weak_ptr: distinct observers may be used on any threads at once, even
/// while the anchor is invalidated or destroyed on another; one observer object may be read
/// (expired, lock, copies) from several threads at once, not assigned while it is read.
/// Copying costs one relaxed increment, destroying one acq_rel decrement (the last observer of
/// a dead generation frees its block); lock() one CAS, plus, in debug builds of weakref::, a
/// look-up in a 16-entry thread_local list.
template <class T, class Policy> class basic_observer {
    using block = anchor_block_of<T, Policy>;

public:
    /// The observed object's type.
    using element_type = T;

    /// An observer of nothing: expired, lock() returns an empty pinned.
    constexpr basic_observer() noexcept = default;
    /// Observes what `other` observes. O(1): one relaxed increment.
    basic_observer(const basic_observer& other) noexcept : block_(other.block_) {
        if (block_ != nullptr) {
            block_->add_weak();
        }
    }
    /// Takes over `other`'s observation; `other` observes nothing. O(1), touches no count.
    basic_observer(basic_observer&& other) noexcept
        : block_(std::exchange(other.block_, nullptr)) {}
    ///@{
    /// An observer of the same object that gives const access only; the move leaves `other`
    /// observing nothing. O(1).
    template <class U, std::enable_if_t<!std::is_const_v<U> && std::is_same_v<const U, T>, int> = 0>
    basic_observer(const basic_observer<U, Policy>& other) noexcept // NOLINT
        : block_(other.block_) {
        if (block_ != nullptr) {
            block_->add_weak();
        }
    }
    template <class U, std::enable_if_t<!std::is_const_v<U> && std::is_same_v<const U, T>, int> = 0>
    basic_observer(basic_observer<U, Policy>&& other) noexcept // NOLINT
        : block_(std::exchange(other.block_, nullptr)) {}
    ///@}
    ///@{
    /// Copy-and-swap: observes what `other` observes, then drops the old observation (the last
    /// observer of a dead generation frees its block). O(1).
    basic_observer& operator=(const basic_observer& other) noexcept {
        if (this != &other) {
            basic_observer(other).swap(*this);
        }
        return *this;
    }
    basic_observer& operator=(basic_observer&& other) noexcept {
        basic_observer(std::move(other)).swap(*this);
        return *this;
    }
    ///@}
    /// Drops the observation, as reset(). O(1).
    ~basic_observer() { reset(); }

    /// True once the anchor was invalidated or destroyed (or for a default-constructed
    /// observer). True is final; false may be stale at once under threads: lock() is the test
    /// that holds. O(1): one load.
    [[nodiscard]] bool expired() const noexcept { return block_ == nullptr || !block_->valid(); }

    /// A pin on the object, or an empty pinned once the anchor was invalidated or its
    /// destruction began. In weakref:: it never succeeds after invalidate() or the destructor
    /// has cleared the generation's validity, and every pin it returned is released before
    /// that invalidate() or destructor returns. One CAS; never allocates, never throws.
    [[nodiscard]] basic_pinned<T, Policy> lock() const noexcept {
        if (block_ != nullptr && block_->try_add_pin()) {
            return basic_pinned<T, Policy>(block_);
        }
        return {};
    }

    /// Observes nothing from now on (expired); the last observer of a dead generation frees
    /// its block. O(1).
    void reset() noexcept {
        if (block_ != nullptr) {
            std::exchange(block_, nullptr)->release_weak();
        }
    }

    /// Exchanges what the two observers observe. O(1).
    void swap(basic_observer& other) noexcept { std::swap(block_, other.block_); }
    /// `a.swap(b)`.
    friend void swap(basic_observer& a, basic_observer& b) noexcept { a.swap(b); }

private:
    template <class U, class P> friend class basic_observer;
    template <class U, class P> friend class basic_weak_anchor;

    struct adopt_t {};
    /// Takes over one unit of `b` that the caller counted for it.
    basic_observer(block* b, adopt_t /*unused*/) noexcept : block_(b) {}

    block* block_ = nullptr; // holds one unit of the block's weak_ count
};

// --- weak_anchor ------------------------------------------------------------------------------

/// Marks one object so that observers can watch it: weak_anchor<T> in either flavour. A member
/// of the object, however the object is owned (a local, a member, a std::unique_ptr):
///
///     class Widget {
///         ...
///         weakref::weak_anchor<Widget> anchor{this}; // last: destroyed before the others
///     };
///
/// invalidate() expires every observer at once and the object lives on; observe() afterwards
/// starts a new generation, whose observers the old ones never join. The destructor does what
/// invalidate() does. Members are destroyed after the destructor's body: where other threads
/// may use the object through a pin, call invalidate() first thing in the destructor of the
/// most derived class, so that no pin sees a half-destroyed object.
///
/// Not copyable or movable (an observer names this object). One pointer. An anchor never
/// observed allocates nothing; each generation allocates one 24-byte block, on its first
/// observe(), however many observers it has.
///
/// observer<T> converts to observer<const T>, not to observers of T's bases: the block holds a
/// T*, and an observer is one pointer to it, with no room for an adjusted address. To observe
/// through a base, put the anchor in the base (`weak_anchor<Base> anchor{this};`).
///
/// Thread safety (weakref::): observe() may run on any number of threads at once. invalidate()
/// and the destructor may run while other threads copy observers, lock() and hold pins (that is
/// the point); they must not run at the same time as another invalidate(), nor as an observe()
/// on a thread that holds no pin of this anchor (as any member against the destructor). An
/// observe() on a thread holding a pin is fine while invalidate() waits: it returns an expired
/// observer.
template <class T, class Policy> class basic_weak_anchor {
    static_assert(std::is_object_v<T> && !std::is_array_v<T>,
                  "weakref: weak_anchor<T> marks an object; T must be an object type, not a "
                  "reference, function or array");
    static_assert(!std::is_volatile_v<T>, "weakref: weak_anchor<T> does not support volatile T");

    using value_type = std::remove_cv_t<T>;
    using block = anchor_block<value_type, Policy>;

    // The word holds the object's address while no block exists, and the block's address with
    // its lowest bit set while one does. T is aligned to at least 2 (checked in the
    // constructor), so the two never look alike.
    static constexpr std::uintptr_t block_tag = 1;

public:
    /// The anchored object's type.
    using element_type = T;

    /// Anchors `object` (normally `this`). Allocates nothing. Throws std::invalid_argument if
    /// `object` is null.
    explicit basic_weak_anchor(T* object) : word_(address_of(object)) {}
    ///@{
    /// Not copyable or movable: observers name this object.
    basic_weak_anchor(const basic_weak_anchor&) = delete;
    basic_weak_anchor& operator=(const basic_weak_anchor&) = delete;
    ///@}

    /// Expires every observer, as invalidate() does, and waits as it does.
    ~basic_weak_anchor() { invalidate(); }

    /// An observer of the object, valid until the next invalidate() or the destructor. The
    /// first call of a generation allocates its block (24 bytes; throws std::bad_alloc, and
    /// then nothing changed); every other call costs one relaxed increment. Thread-safe in
    /// weakref::, also against other observe() calls making the first block.
    [[nodiscard]] basic_observer<T, Policy> observe() {
        return basic_observer<T, Policy>(acquire_block(),
                                         typename basic_observer<T, Policy>::adopt_t{});
    }
    /// An observer that gives const access only, for a const object.
    [[nodiscard]] basic_observer<const T, Policy> observe() const {
        return basic_observer<const T, Policy>(acquire_block(),
                                               typename basic_observer<const T, Policy>::adopt_t{});
    }

    /// Expires every observer now; the object lives on, and a later observe() starts a new
    /// generation (the expired observers stay expired).
    ///
    /// In weakref::, no lock() succeeds once it has begun, and it returns only when no pin on
    /// this anchor is held on another thread: what a reader did through its pin happens before
    /// invalidate() returns. It spins briefly, then yields, then sleeps up to a millisecond at a
    /// time, as long as the longest of those pins lasts. A pin held by the calling thread would
    /// make it wait forever: that is an error, stopped by a WEAKREF_ASSERT in debug builds.
    /// In weakref::local::, a pin held at invalidate() is always that error (no other thread
    /// could release it); without assertions the block is then kept (24 bytes leak) instead of
    /// being freed under the pin. Never allocates, never throws; nothing to do if no observer
    /// was made since the last invalidation.
    void invalidate() noexcept {
        // acquire: the block may have been made by observe() on another thread; its fields
        // (object_) happen before our reads of them. (The caller orders that observe() before
        // this call anyway; the acquire costs nothing on the targets that matter.)
        const std::uintptr_t word = word_.load(std::memory_order_acquire);
        if ((word & block_tag) == 0) {
            return; // no block: no observer, no pin
        }
        auto* b = reinterpret_cast<block*>(word & ~block_tag);
        const std::size_t pins = b->invalidate();
        if constexpr (Policy::thread_safe) {
            if (pins != 0) {
#ifndef NDEBUG
                WEAKREF_ASSERT(anchor_pin_ledger::of_this_thread().held(b) == 0,
                               "weak_anchor invalidated or destroyed by a thread that holds a "
                               "pinned of it (the wait for that pin would never end)");
#endif
                anchor_wait([b] { return b->pins() == 0; });
            }
        } else if (pins != 0) {
            WEAKREF_ASSERT(pins == 0, "weak_anchor invalidated or destroyed while a pinned of it "
                                      "is held");
            // Without assertions: keep the block for the pins still holding it; it leaks.
            word_.store(address_of_object(b), std::memory_order_relaxed);
            return;
        }
        // relaxed: observe() on another thread only runs now under a pin of this anchor, and no
        // pin is held any more; the next observe() is ordered after this call by its caller.
        word_.store(address_of_object(b), std::memory_order_relaxed);
        b->release_weak(); // the anchor's unit; the block lives on while observers hold it
    }

private:
    static std::uintptr_t address_of(T* object) {
        static_assert(alignof(T) >= 2,
                      "weakref: weak_anchor<T> needs a T aligned to at least 2 bytes (it keeps a "
                      "tag in the low bit of the object's address); a T that has the anchor as a "
                      "member always is");
        if (object == nullptr) {
            detail::throw_invalid_argument("weakref: weak_anchor of a null object");
        }
        return reinterpret_cast<std::uintptr_t>(const_cast<value_type*>(object));
    }
    static std::uintptr_t address_of_object(const block* b) noexcept {
        return reinterpret_cast<std::uintptr_t>(b->object());
    }

    /// The current generation's block, with one unit counted for the caller; makes it first.
    block* acquire_block() const {
        // acquire: pairs with the release of the CAS below on the thread that made the block,
        // so its fields happen before our use of them.
        std::uintptr_t word = word_.load(std::memory_order_acquire);
        if ((word & block_tag) == 0) {
            // Units: the anchor's and the caller's.
            auto* fresh = new block(reinterpret_cast<value_type*>(word));
            // release on success: publishes the new block's fields to every observe() that
            // reads the word after us. acquire on failure: another observe() published its
            // block first, and we are about to use it.
            if (word_.compare_exchange_strong(
                    word, reinterpret_cast<std::uintptr_t>(fresh) | block_tag,
                    std::memory_order_release, std::memory_order_acquire)) {
                return fresh;
            }
            delete fresh; // never seen by anyone
            WEAKREF_ASSERT((word & block_tag) != 0, "weak_anchor: observe() raced invalidate()");
        }
        auto* b = reinterpret_cast<block*>(word & ~block_tag);
        b->add_weak();
        return b;
    }

    // The object's address, or the generation's block's address | block_tag. Written by the
    // first observe() of a generation (CAS from the object's address) and by invalidate().
    mutable typename Policy::template cell<std::uintptr_t> word_;
};

} // namespace weakref::detail
