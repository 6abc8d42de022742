// SPDX-License-Identifier: MIT
// Death callbacks: on_death, finalizer (Python's weakref.finalize) and scoped_finalizer.
#pragma once

#include "ref.hpp"

#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace weakref::detail {

/// One registration made by on_death: the hook in the object's list, the callback, and a
/// count of the finalizer handles that name it. Allocated once, by on_death.
///
/// Exactly one party wins the registration, by one compare-exchange on `state_`: the death
/// or a `f()` call (armed -> claimed: it runs the callback), or a `detach()` (armed ->
/// detached: it destroys the callback unrun). While armed, the node pins the object's block
/// with one weak unit (not counted by weak_count), so that the winner can always take the
/// block's hook lock; the winner drops the pin. The callable is destroyed by the winner before
/// it reports the registration done, so that a scoped_finalizer that waits returns only once
/// the callable and its captures are gone.
template <class Policy> struct finalizer_node : hook_sink<Policy> {
    using block = control_block<Policy>;
    static constexpr unsigned armed = 0;    // linked (or in a running death's chain), pinned
    static constexpr unsigned claimed = 1;  // its callback is running
    static constexpr unsigned done = 2;     // its callback ran and was destroyed
    static constexpr unsigned detached = 3; // detached unrun; the callback was destroyed

    finalizer_node(block* b, void (*invoke)(finalizer_node*) noexcept,
                   void (*drop)(finalizer_node*) noexcept,
                   void (*destroy)(finalizer_node*) noexcept) noexcept
        : hook_sink<Policy>{nullptr, &finish_of}, hook_(this), block_(b), invoke_(invoke),
          drop_(drop), destroy_(destroy) {}

    /// Pass 3 of the death: the callback runs (now) unless a detach or a f() call won; the
    /// callable's destruction, which may drop the last ref to another object, is put off with
    /// the death's other destructions where the stack is nearly used up.
    static void finish_of(hook_sink<Policy>* self, death_hook<Policy>* /*hook*/,
                          bool put_off) noexcept {
        auto* n = static_cast<finalizer_node*>(self);
        if (!n->try_claim()) {
            n->release(); // the death chain's reference
            return;
        }
        n->block_->release_weak(); // the pin; the dying object's own unit keeps the block
        n->invoke();
        if (WEAKREF_UNLIKELY(put_off)) {
            teardown::defer(n, &retire_after_call);
        } else {
            retire_after_call(n);
        }
    }

    bool try_claim() noexcept { return win(claimed); }
    bool try_detach() noexcept { return win(detached); }

    /// For a winner other than the death: takes the hook off the object's list (unless a
    /// death took it, which then drops the list's reference itself), then drops the pin.
    void unlink_and_unpin() noexcept {
        block* b = block_;
        if (b->unlink_if_linked(&hook_)) {
            release(); // the list's reference
        }
        b->release_weak(); // may free the block: not used after this
    }

    /// Runs the callable (after a won claim); the caller then calls finish_call.
    void invoke() noexcept {
        runner_.store(Policy::this_thread(), std::memory_order_relaxed);
        invoke_(this); // noexcept: a throwing callback ends the program
    }

    /// Destroys the callable after its call, then reports done.
    void finish_call() noexcept {
        drop_(this);
        // release: a scoped_finalizer waiting on another thread sees the callback's effects,
        // and the destruction of the callable and its captures, before it returns.
        state_.store(done, std::memory_order_release);
    }

    /// Destroys the callable unrun (after a won detach).
    void drop_callable() noexcept { drop_(this); }

    [[nodiscard]] unsigned state() const noexcept {
        // acquire: pairs with finish_call's release (see detach_and_wait).
        return state_.load(std::memory_order_acquire);
    }

    void add_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        // acq_rel: whoever frees the node sees every other user's last access first.
        if (handles_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            destroy_(this);
        }
    }

    death_hook<Policy> hook_;
    block* block_; // pinned while armed; touched only by the winner (see above)
    // Finalizer handles naming this node, plus 1 while the hook is in the list or in a
    // running death's chain.
    typename Policy::template cell<std::uint32_t> handles_{2};
    typename Policy::template cell<unsigned> state_{armed};
    typename Policy::template cell<typename Policy::thread_id> runner_{};
    void (*invoke_)(finalizer_node*) noexcept;  // runs the callable
    void (*drop_)(finalizer_node*) noexcept;    // destroys the callable
    void (*destroy_)(finalizer_node*) noexcept; // frees the node (the callable is gone)

private:
    /// After the death ran the callback: the callable goes, then the chain's reference.
    static void retire_after_call(void* self) noexcept {
        auto* n = static_cast<finalizer_node*>(self);
        n->finish_call();
        n->release(); // the death chain's reference
    }

    bool win(unsigned to) noexcept {
        unsigned expected = armed;
        // acq_rel: the winner sees the registration's setup; every loser, reading the
        // winner's state with acquire (state()), sees what the winner did before.
        return state_.compare_exchange_strong(expected, to, std::memory_order_acq_rel,
                                              std::memory_order_acquire);
    }
};

template <class Policy, class F> struct finalizer_node_of : finalizer_node<Policy> {
    template <class Arg>
    finalizer_node_of(control_block<Policy>* b, Arg&& fn)
        : finalizer_node<Policy>(b, &invoke, &drop, &destroy) {
        ::new (static_cast<void*>(storage_)) F(std::forward<Arg>(fn));
    }
    finalizer_node_of(const finalizer_node_of&) = delete;
    finalizer_node_of& operator=(const finalizer_node_of&) = delete;
    ~finalizer_node_of() = default; // the callable was destroyed by drop

    F& fn() noexcept { return *std::launder(reinterpret_cast<F*>(storage_)); }
    static void invoke(finalizer_node<Policy>* n) noexcept {
        static_cast<finalizer_node_of*>(n)->fn()();
    }
    static void drop(finalizer_node<Policy>* n) noexcept {
        static_cast<finalizer_node_of*>(n)->fn().~F();
    }
    static void destroy(finalizer_node<Policy>* n) noexcept {
        delete static_cast<finalizer_node_of*>(n);
    }
    alignas(F) unsigned char storage_[sizeof(F)];
};

/// A handle to one death callback registration (Python's weakref.finalize). The callback
/// runs exactly once: at the referent's death, or by `f()`; or never, if a `detach()`
/// returned true first. Copies name the same registration. Dropping every handle leaves the
/// callback armed. Thread-safe in weakref::: any handle may be used from any thread while the
/// referent dies on another.
template <class Policy> class basic_finalizer {
public:
    /// The registration's shared state (internal: on_death makes it; users never name it).
    using node = finalizer_node<Policy>;

    /// Names no registration: alive(), detach() and `f()` return false. O(1).
    basic_finalizer() noexcept = default;
    /// Names `other`'s registration too. O(1).
    basic_finalizer(const basic_finalizer& other) noexcept : node_(other.node_) {
        if (node_ != nullptr) {
            node_->add_handle();
        }
    }
    /// Takes `other`'s registration; `other` names none. O(1).
    basic_finalizer(basic_finalizer&& other) noexcept
        : node_(std::exchange(other.node_, nullptr)) {}
    /// Copy or move by value, then swap; the registration `*this` named stays armed. O(1).
    basic_finalizer& operator=(basic_finalizer other) noexcept {
        swap(other);
        return *this;
    }
    /// Drops this handle; the registration stays armed. The last handle of a registration that
    /// ran or was detached frees it (and the stored callable). O(1).
    ~basic_finalizer() {
        if (node_ != nullptr) {
            node_->release();
        }
    }
    /// Exchanges the registrations two handles name. O(1).
    void swap(basic_finalizer& other) noexcept { std::swap(node_, other.node_); }
    /// `a.swap(b)`.
    friend void swap(basic_finalizer& a, basic_finalizer& b) noexcept { a.swap(b); }

    /// True while the callback is still to run (neither ran, nor is running, nor detached).
    /// A snapshot in weakref::. O(1), lock-free (one atomic load).
    [[nodiscard]] bool alive() const noexcept {
        return node_ != nullptr && node_->state() == node::armed;
    }

    /// Unregisters the callback; true if it was armed (it will now never run, and the
    /// callable has been destroyed). False if it ran, is running, or was detached already.
    /// Across all copies at most one detach() returns true, and only if the callback never
    /// runs. Does not wait for a running callback (scoped_finalizer does). May race with the
    /// death and with `f()` on other threads. O(1).
    bool detach() noexcept { return detach_state() == detach_result::detached; }

    /// Runs the callback now, on this thread, if it is armed; returns whether it ran (then it
    /// never runs at the death). The referent may die on another thread meanwhile. A callback
    /// that throws calls std::terminate. O(1) plus the callback.
    bool operator()() noexcept {
        if (node_ == nullptr || !node_->try_claim()) {
            return false;
        }
        // Our own reference for the call: the callback may destroy this finalizer (or its
        // scoped_finalizer), and with it the last handle to the node.
        node* n = node_;
        n->add_handle();
        n->unlink_and_unpin();
        n->invoke();
        n->finish_call();
        n->release();
        return true;
    }

    /// Takes the node of a new registration (one handle counted for this finalizer).
    explicit basic_finalizer(node* n) noexcept : node_(n) {}

private:
    friend class basic_scoped_finalizer<Policy>;

    detach_result detach_state() noexcept {
        if (node_ == nullptr) {
            return detach_result::idle;
        }
        if (node_->try_detach()) {
            node_->unlink_and_unpin();
            node_->drop_callable();
            return detach_result::detached;
        }
        return node_->state() == node::claimed ? detach_result::running : detach_result::idle;
    }

    /// Detaches; if the callback is running on another thread, waits until it has returned
    /// and its callable (with the captures) is destroyed.
    void detach_and_wait() noexcept {
        if (detach_state() != detach_result::running) {
            return;
        }
        // acquire (in state()): pairs with the release in finish_call; the callback's effects
        // and the callable's destruction are visible.
        for (unsigned spins = 0; node_->state() == node::claimed;) {
            if (node_->runner_.load(std::memory_order_relaxed) == Policy::this_thread()) {
                return; // called from inside the callback itself: waiting would deadlock
            }
            Policy::pause(spins);
        }
    }

    node* node_ = nullptr;
};

/// Owns a registration and detaches it when destroyed (a weakref callback whose weakref dies
/// first). If the callback is running on another thread at that moment, the destructor waits
/// until it has returned and its callable is destroyed, unless it is called from inside that
/// callback. Move-only. In weakref::local:: it never waits.
template <class Policy> class basic_scoped_finalizer {
public:
    /// Owns no registration. O(1).
    basic_scoped_finalizer() noexcept = default;
    /// Owns `f`'s registration: `scoped_finalizer s{on_death(r, fn)};` (explicit, so `=` does
    /// not compile). Other finalizers of it stay valid and see it detached when this goes. O(1).
    explicit basic_scoped_finalizer(basic_finalizer<Policy>&& f) noexcept : f_(std::move(f)) {}
    /// Takes `other`'s registration; `other` owns none. O(1).
    basic_scoped_finalizer(basic_scoped_finalizer&&) noexcept = default;
    /// Does to the registration it owned what the destructor does (detach, maybe wait), then
    /// takes `other`'s; self-assignment does nothing. O(1) plus the wait.
    basic_scoped_finalizer& operator=(basic_scoped_finalizer&& other) noexcept {
        if (this != &other) {
            f_.detach_and_wait();
            f_ = std::move(other.f_);
        }
        return *this;
    }
    ///@{
    /// Move-only: one owner per registration.
    basic_scoped_finalizer(const basic_scoped_finalizer&) = delete;
    basic_scoped_finalizer& operator=(const basic_scoped_finalizer&) = delete;
    ///@}
    /// Detaches the registration; if its callback is running on another thread, waits (spinning,
    /// then yielding) until it returned, unless called from inside that callback. Do not
    /// destroy it holding a lock the callback takes. O(1) plus the wait.
    ~basic_scoped_finalizer() { f_.detach_and_wait(); }

    /// As finalizer::alive(). O(1).
    [[nodiscard]] bool alive() const noexcept { return f_.alive(); }
    /// As finalizer::detach(): true if it was armed; does not wait. O(1).
    bool detach() noexcept { return f_.detach(); }
    /// As finalizer's `f()`: runs the callback now if armed; returns whether it ran. O(1) plus
    /// the callback.
    bool operator()() noexcept { return f_(); }
    /// Gives up ownership: the registration stays armed and is no longer detached here; this
    /// owns none. O(1).
    basic_finalizer<Policy> release() noexcept { return std::move(f_); }

private:
    basic_finalizer<Policy> f_;
};

/// Registers `fn` to run when the referent of `r` dies (newest first, before its
/// destructor, on the thread that drops the last strong ref). Throws std::invalid_argument
/// if `r` is empty; may throw std::bad_alloc (one allocation). `fn` must not throw. Callable
/// from any thread in weakref::, also while the referent dies on another. O(1).
template <class T, class Policy, class F>
basic_finalizer<Policy> on_death(const basic_ref<T, Policy>& r, F&& fn) {
    using fn_type = std::decay_t<F>;
    static_assert(std::is_invocable_v<fn_type&>,
                  "weakref: on_death takes a callable with no arguments");
    if (!r) {
        detail::throw_invalid_argument("weakref::on_death: empty ref");
    }
    auto* b = control_block<Policy>::of(r.get());
    auto* node = new finalizer_node_of<Policy, fn_type>(b, std::forward<F>(fn));
    b->add_weak(); // the pin (see finalizer_node)
    b->link(&node->hook_);
    return basic_finalizer<Policy>(node);
}

} // namespace weakref::detail

namespace weakref {
/// Registers `fn` (a copy, decayed) to run once at the death of the referent of `r`, newest
/// first, on the thread that drops the last strong ref, before the destructor. Throws
/// std::invalid_argument if `r` is empty, std::bad_alloc (one allocation). `fn` must not
/// throw (std::terminate). Callable from any thread. O(1); see finalizer.
template <class T, class F> finalizer on_death(const ref<T>& r, F&& fn) {
    return detail::on_death(r, std::forward<F>(fn));
}
namespace local {
template <class T, class F> finalizer on_death(const ref<T>& r, F&& fn) {
    return detail::on_death(r, std::forward<F>(fn));
}
} // namespace local
} // namespace weakref
