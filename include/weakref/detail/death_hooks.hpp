// SPDX-License-Identifier: MIT
// The intrusive list of death callbacks of one object, newest first, and the lock that guards
// it, which lives in the list's head word inside the object's control block.
#pragma once

#include "policy.hpp"

#include <atomic>
#include <cstdint>

namespace weakref::detail {

template <class Policy> struct death_hook;

/// Who is told of a death: a container that holds entries for the object, or a finalizer.
/// One sink can serve many hooks (a container serves all its entries), which keeps a hook at
/// three words. A death runs in three passes over the object's hooks, each newest first:
///   1. every container's `remove`: the entry leaves its container; no user code runs;
///   2. every container's `finish` (for the hooks whose `remove` asked for it): what the
///      entry held is destroyed, listeners are told; user code may run;
///   3. every other hook's `finish`: finalizer callbacks;
/// then the object's destructor. So every callback and the destructor see the object gone
/// from every container, and no user code runs while an entry of it is still in one.
template <class Policy> struct hook_sink {
    /// Pass 1, containers only (null for finalizers). Runs with no lock of weakref held.
    /// Returns true if pass 2 must call `finish` for this hook; false if the hook belongs to
    /// the sink from now on and the death never touches it again.
    bool (*remove)(hook_sink* self, death_hook<Policy>* hook) noexcept;
    /// Pass 2 (containers) or 3 (finalizers). Runs with no lock of weakref held. From the
    /// call on, the hook belongs to the sink. Callbacks and listeners run now; with
    /// `put_off`, the destructions (a value, a callable) go to teardown::defer, in order,
    /// because the stack is nearly used up (the death decided once, see control_block::die).
    void (*finish)(hook_sink* self, death_hook<Policy>* hook, bool put_off) noexcept;

    /// A finalizer: its weak unit pins the block but is no observer (weak_count skips it).
    [[nodiscard]] bool is_finalizer() const noexcept { return remove == nullptr; }
};

/// One registration in an object's death list. It allocates nothing: it lives inside its
/// owner (a finalizer node, a container entry). Its fields are guarded by the hook lock of the
/// object's control block, except while the hook is in a running death's chain: then the
/// death's thread owns `next_`.
template <class Policy> struct death_hook {
    static constexpr std::uintptr_t idle = 0;    // not in a list: never linked, or detached
    static constexpr std::uintptr_t running = 1; // taken by a death (or by finalizer::()): it
                                                 // belongs to that death and its sink now
    static constexpr std::uintptr_t first = 2;   // linked, first in the list (the head word
                                                 // points here)

    explicit death_hook(hook_sink<Policy>* sink) noexcept : sink_(sink) {}
    death_hook(const death_hook&) = delete;
    death_hook& operator=(const death_hook&) = delete;

    [[nodiscard]] bool linked() const noexcept {
        // `first`, or the (8-aligned) address of the previous hook's next_. An odd word above
        // `running` is one a sink parked here once the hook left every list (see weak_table).
        return link_ == first || (link_ > first && (link_ & 1U) == 0);
    }
    [[nodiscard]] bool is_running() const noexcept { return link_ == running; }
    [[nodiscard]] hook_sink<Policy>* sink() const noexcept { return sink_; }

    // The next hook, or, at the end of the list, the control block's tag word (low bit set).
    std::uintptr_t next_ = 0;
    // While linked: `first`, or the address of the previous hook's next_, so that unlinking is
    // O(1) without a walk. Otherwise idle or running.
    std::uintptr_t link_ = idle;
    // Who is told of the death. A container's `remove` may re-point it (at a sink that
    // outlives the container) for pass 2.
    hook_sink<Policy>* sink_;
};

/// The head word of a hook list, with its lock: the newest hook, or the list's end tag (a
/// word with bit 0 set: the control block keeps its type-erased operations there). In the
/// thread-safe flavour bit 1 is the lock: a spin lock held for the few instructions of a
/// list update. It lives in the object's own block, so that one object's list has one lock
/// however many shared libraries use it; a detacher reaches it through a weak unit it holds.
template <class Policy> class hook_head {
public:
    using hook = death_hook<Policy>;
    static constexpr std::uintptr_t end_bit = 1;
    static constexpr std::uintptr_t lock_bit = 2;

    explicit hook_head(std::uintptr_t end_tag) noexcept : word_(end_tag) {}

    static bool is_hook(std::uintptr_t w) noexcept { return (w & end_bit) == 0; }
    static hook* as_hook(std::uintptr_t w) noexcept { return reinterpret_cast<hook*>(w); }

    /// The head without the lock bit. Read without the lock only where the caller says why
    /// that is enough.
    [[nodiscard]] std::uintptr_t peek(std::memory_order order) const noexcept {
        return word_.load(order) & ~lock_bit;
    }

    /// Holds the lock of one list; edits the list while it is held.
    class locked {
    public:
        explicit locked(hook_head& h) noexcept : head_(h), value_(h.acquire()) {}
        locked(const locked&) = delete;
        locked& operator=(const locked&) = delete;
        ~locked() { head_.release(value_); }

        [[nodiscard]] std::uintptr_t head() const noexcept { return value_; }

        /// Pushes `h` at the front (newest first).
        void push(hook* h) noexcept {
            h->next_ = value_;
            if (is_hook(value_)) {
                as_hook(value_)->link_ = reinterpret_cast<std::uintptr_t>(&h->next_);
            }
            h->link_ = hook::first;
            value_ = reinterpret_cast<std::uintptr_t>(h);
        }

        /// Takes a linked `h` out of the list, leaving it in `state`.
        void unlink(hook* h, std::uintptr_t state) noexcept {
            const std::uintptr_t next = h->next_;
            if (h->link_ == hook::first) {
                value_ = next;
            } else {
                *reinterpret_cast<std::uintptr_t*>(h->link_) = next;
            }
            if (is_hook(next)) {
                as_hook(next)->link_ = h->link_;
            }
            h->link_ = state;
        }

        /// Empties the list for a death: every hook is marked running and the chain of them,
        /// newest first, is returned (its last `next_` is the end tag). O(hooks).
        std::uintptr_t take_all() noexcept {
            const std::uintptr_t chain = value_;
            std::uintptr_t w = value_;
            for (; is_hook(w); w = as_hook(w)->next_) {
                as_hook(w)->link_ = hook::running;
            }
            value_ = w; // the end tag
            return chain;
        }

    private:
        hook_head& head_;
        std::uintptr_t value_;
    };

private:
    std::uintptr_t acquire() noexcept {
        if constexpr (!Policy::thread_safe) {
            return word_.load();
        } else {
            std::uintptr_t w = word_.load(std::memory_order_relaxed);
            for (unsigned spins = 0;;) {
                if ((w & lock_bit) == 0) {
                    // acquire: the previous holder's edits of the list (its release) happen
                    // before ours.
                    if (word_.compare_exchange_weak(w, w | lock_bit, std::memory_order_acquire,
                                                    std::memory_order_relaxed)) {
                        return w;
                    }
                } else {
                    Policy::pause(spins);
                    w = word_.load(std::memory_order_relaxed);
                }
            }
        }
    }
    void release(std::uintptr_t value) noexcept {
        // release: publishes the list's edits to the next holder, and to a death that reads
        // the head without the lock (see control_block::die).
        word_.store(value, std::memory_order_release);
    }

    typename Policy::template cell<std::uintptr_t> word_;
};

} // namespace weakref::detail
