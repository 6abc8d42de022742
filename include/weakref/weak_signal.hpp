// SPDX-License-Identifier: MIT
// weak_signal, connection and scoped_connection: a multicast signal whose subscribers are held
// weakly and leave it at their death, in both flavours.
#pragma once

#include "detail/config.hpp"
#include "detail/control_block.hpp"
#include "detail/death_hooks.hpp"
#include "detail/invoke.hpp"
#include "detail/locks.hpp"
#include "detail/policy.hpp"
#include "detail/reclamation.hpp"
#include "detail/teardown.hpp"
#include "fwd.hpp"
#include "ref.hpp"

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace weakref::detail {

// --- Locks, by flavour ---------------------------------------------------------------------------

/// A lock that is never taken: the local flavour's.
struct signal_null_lock {
    void lock() noexcept {}
    void unlock() noexcept {}
};

/// The two locks of a signal. `writers` serialises every change of the connection list
/// (connect, disconnect, a death's removal) and the rebuilding of the emit snapshot; it may be
/// held while a hook lock (a leaf) is taken, never the reverse. `snapshot` guards only the
/// pointer to the current snapshot, for the few instructions an emit needs to take a reference
/// to it, so that emits never wait for a writer's list walk. Order: writers, then snapshot.
template <class Policy> struct signal_locks {
    using writers = detail::mutex;
    using snapshot = tiny_lock;
};
template <> struct signal_locks<local_policy> {
    using writers = signal_null_lock;
    using snapshot = signal_null_lock;
};

template <class Policy> struct signal_core;
template <class Policy> struct signal_snapshot;
template <class Policy> struct signal_calls;

// --- One connection ------------------------------------------------------------------------------

/// What a subscriber receives for a parameter of type `A`: the caller's referent for an
/// lvalue reference, a const lvalue otherwise, so that every subscriber of one emit sees the
/// same values (a subscriber cannot move an argument away from the ones after it).
template <class A>
using signal_arg_t =
    std::conditional_t<std::is_lvalue_reference_v<A>, A, const std::remove_reference_t<A>&>;

/// One connection: the death hook on the subscriber's control block (the signal's core is its
/// sink, as a table is its entries'), its place in the signal's list, and the callable (in the
/// derived slot_node_of).
///
/// The word: `retired` once the connection ended (a disconnect or the subscriber's death; one
/// of them, decided under the signal's writer lock by control_block::detach), `dead` when the
/// death ended it, `dropped` once the callable is destroyed, and below them the calls in flight.
/// An emit enters (+1 call, only while not retired) before it locks the subscriber, and leaves
/// after the call. Whoever brings the word to "retired, no call" retires the node: destroys the
/// callable and lets go of the subscriber's block. That is the winner of the disconnect or
/// death when no call is in flight, otherwise the last call to leave; one RMW of the word
/// decides it, so exactly one of them does.
///
/// References (`refs_`): 1 while registered (in the list with its hook armed, or in the death
/// that ended it), 1 per connection handle, 1 per emit snapshot that lists it. The node holds
/// one reference to its core for its whole life, so that a handle can always take the signal's
/// lock, even after the signal is gone.
template <class Policy> struct connection_node : death_hook<Policy> {
    using block = control_block<Policy>;
    using word_type = std::size_t;
    static constexpr word_type retired = word_type{1} << (sizeof(word_type) * 8 - 1);
    static constexpr word_type dead = retired >> 1;
    static constexpr word_type dropped = dead >> 1;
    static constexpr word_type calls_mask = dropped - 1;

    struct ops {
        void (*drop)(connection_node*) noexcept;    // destroys the callable
        void (*destroy)(connection_node*) noexcept; // frees the node (callable gone)
    };

    connection_node(signal_core<Policy>* core, void* object, const ops* o) noexcept
        : death_hook<Policy>(core), core_(core), object_(object), ops_(o) {}
    connection_node(const connection_node&) = delete;
    connection_node& operator=(const connection_node&) = delete;
    ~connection_node() = default;

    [[nodiscard]] block* subscriber_block() const noexcept { return block::of(object_); }

    void add_ref() noexcept {
        // relaxed: the caller holds a reference (or the writer lock of a list that does).
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    /// Drops one reference; the last frees the node, then lets go of its core.
    void release() noexcept;

    /// True while neither a disconnect nor the death ended the connection. One load.
    [[nodiscard]] bool connected() const noexcept {
        // acquire: a caller that reads "retired" sees what the winner did before.
        return (word_.load(std::memory_order_acquire) & retired) == 0;
    }

    /// +1 call unless retired: an emit reached this connection. One CAS.
    bool enter() noexcept {
        word_type w = word_.load(std::memory_order_relaxed);
        while ((w & retired) == 0) {
            // relaxed on success: exclusion against the winner comes from the modification
            // order of this one word (an enter ordered before the retiring RMW is counted by
            // it); the callable itself was published to this thread by the signal's locks.
            if (word_.compare_exchange_weak(w, w + 1, std::memory_order_relaxed,
                                            std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }

    /// -1 call; the last call of a retired node retires it.
    void leave() noexcept {
        // acq_rel: release publishes this call's uses of the callable; acquire, in the call
        // that retires, makes every other call's uses happen before the callable's destruction.
        const word_type w = word_.fetch_sub(1, std::memory_order_acq_rel) - 1;
        if ((w & retired) != 0 && (w & calls_mask) == 0) {
            retire();
        }
    }

    /// Ends the connection (with `dead` for a death); true if no call is in flight, so that
    /// the caller must retire the node, false if the last call to leave will. Once per node,
    /// under the signal's writer lock.
    bool end(word_type how) noexcept {
        // acq_rel: acquire sees the uses of the callable by calls that already left; release
        // publishes the state (and, for a death, the dying thread) to those who read it.
        const word_type w = word_.fetch_or(retired | how, std::memory_order_acq_rel);
        WEAKREF_ASSERT((w & retired) == 0, "a connection ended twice");
        return (w & calls_mask) == 0;
    }

    /// The callable goes, then the weak unit on the subscriber's block, then waiters are told.
    void retire() noexcept;

    signal_core<Policy>* const core_; // one reference held for the node's life
    void* const object_;              // the subscriber (the block is just below it)
    const ops* const ops_;
    connection_node* before_ = nullptr; // the signal's list, under its writer lock
    connection_node* after_ = nullptr;
    bool listed_ = false; // in the list, under the writer lock
    // Whether the party that ended the connection retires it (no call was in flight): set under
    // the writer lock by a death's removal (pass 1) or disconnect_all, read after it by the same
    // thread (pass 2, or after the lock).
    bool retires_ = false;
    // The cached snapshot a death's removal took (pass 1), released in its pass 2.
    signal_snapshot<Policy>* stale_ = nullptr;
    typename Policy::template cell<word_type> word_{0};
    typename Policy::template cell<std::size_t> refs_{1};
    // The thread that ended the connection and retires it after user code may have run: the
    // death's (written before `dead` is set), or disconnect_all's for the nodes it retires
    // itself (written after the end, by that thread, which alone compares it with its own id
    // meanwhile). A scoped_connection destroyed by that user code on that thread must not wait.
    typename Policy::template cell<typename Policy::thread_id> ends_on_{};
};

/// The part of a node that knows the signal's arguments: how to call the subscriber.
template <class Policy, class... Args> struct slot_node : connection_node<Policy> {
    using invoke_fn = void (*)(slot_node*, void* object, signal_arg_t<Args>...);
    slot_node(signal_core<Policy>* core, void* object,
              const typename connection_node<Policy>::ops* o, invoke_fn invoke) noexcept
        : connection_node<Policy>(core, object, o), invoke_(invoke) {}
    const invoke_fn invoke_;
};

/// A node holding `F` (a callable or a pointer to member), called as `fn(T&, args...)`.
template <class Policy, class T, class F, class... Args>
struct slot_node_of final : slot_node<Policy, Args...> {
    using base = slot_node<Policy, Args...>;
    using node = connection_node<Policy>;

    template <class Arg>
    slot_node_of(signal_core<Policy>* core, T* object, Arg&& fn)
        : base(core, const_cast<std::remove_cv_t<T>*>(object), &table, &invoke) {
        ::new (static_cast<void*>(storage_)) F(std::forward<Arg>(fn));
    }

    F& fn() noexcept { return *std::launder(reinterpret_cast<F*>(storage_)); }

    static void invoke(base* n, void* object, signal_arg_t<Args>... args) {
        static_cast<void>(
            detail::invoke(static_cast<slot_node_of*>(n)->fn(), *static_cast<T*>(object), args...));
    }
    static void drop(node* n) noexcept { static_cast<slot_node_of*>(n)->fn().~F(); }
    static void destroy(node* n) noexcept { delete static_cast<slot_node_of*>(n); }
    static constexpr typename node::ops table{&drop, &destroy};

    alignas(F) unsigned char storage_[sizeof(F)];
};

// --- The emit snapshot ---------------------------------------------------------------------------

/// The connections of a signal at one instant, in connection order, each with one node
/// reference: what an emit walks with no lock held. Immutable once built; shared by count
/// between the signal (its cached current snapshot) and the emits walking it. A change of the
/// list drops the cache; the next emit builds a new one.
template <class Policy> struct signal_snapshot {
    using node = connection_node<Policy>;

    explicit signal_snapshot(std::size_t n) noexcept : refs(2), count(n) {}
    signal_snapshot(const signal_snapshot&) = delete;
    signal_snapshot& operator=(const signal_snapshot&) = delete;

    typename Policy::template cell<std::size_t> refs; // the cache's and the emits'
    const std::size_t count;

    node** items() noexcept { return std::launder(reinterpret_cast<node**>(this + 1)); }

    /// Room for `n` nodes; throws std::bad_alloc.
    static signal_snapshot* make(std::size_t n) {
        static_assert(alignof(node*) <= alignof(signal_snapshot));
        void* mem = ::operator new(sizeof(signal_snapshot) + n * sizeof(node*));
        return ::new (mem) signal_snapshot(n); // the cache's reference and the caller's
    }
    void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    static void release(signal_snapshot* s) noexcept {
        // acq_rel: the last holder frees after every other holder's last read.
        if (s != nullptr && s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            node** items = s->items();
            for (std::size_t i = 0; i < s->count; ++i) {
                items[i]->release();
            }
            ::operator delete(static_cast<void*>(s));
        }
    }
};

// --- The signal's shared state -------------------------------------------------------------------

/// What a signal and its connections share: the list of connections (in connection order),
/// its locks, the cached emit snapshot, and the live count. Heap-allocated; held by the signal
/// and by each node, so a connection handle or a death on another thread can always take its
/// lock, whether or not the signal still exists. It is the hook sink of all its nodes.
template <class Policy> struct signal_core : hook_sink<Policy> {
    using node = connection_node<Policy>;
    using snapshot = signal_snapshot<Policy>;
    using writer_guard = lock_guard<typename signal_locks<Policy>::writers>;
    using snapshot_guard = lock_guard<typename signal_locks<Policy>::snapshot>;

    signal_core() noexcept : hook_sink<Policy>{&remove_of, &finish_of} {}
    signal_core(const signal_core&) = delete;
    signal_core& operator=(const signal_core&) = delete;
    ~signal_core() {
        WEAKREF_ASSERT(first_ == nullptr && cached_ == nullptr, "a signal core freed in use");
    }

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        // acq_rel: the last holder frees the core after every other holder's last use.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

    /// weakref::local:: in debug builds: stops the program unless the calling thread owns the
    /// signal (taking it if nobody does); see thread_owner. Nothing in weakref::.
    void use_here() const noexcept { owner_.use("weak_signal"); }
    /// As use_here(), but leaves an unowned signal unowned; `action` names what happens.
    void check_here(const char* action) const noexcept { owner_.check("weak_signal", action); }
    /// The owner gives the signal up: the next thread to use it owns it.
    void hand_over() noexcept { owner_.release("weak_signal"); }

    [[nodiscard]] std::size_t size() const noexcept {
        // relaxed: a count written under the writer lock; a caller ordered after a change (by
        // its own synchronisation) reads that change or a later one.
        return size_.load(std::memory_order_relaxed);
    }

    // --- Under the writer lock ---

    void append(node* n) noexcept {
        n->before_ = last_;
        n->after_ = nullptr;
        (last_ != nullptr ? last_->after_ : first_) = n;
        last_ = n;
        n->listed_ = true;
        size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    void unlink(node* n) noexcept {
        (n->before_ != nullptr ? n->before_->after_ : first_) = n->after_;
        (n->after_ != nullptr ? n->after_->before_ : last_) = n->before_;
        n->before_ = n->after_ = nullptr;
        n->listed_ = false;
        size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    /// Takes the cached snapshot away (the list changed); the caller releases it after the lock.
    snapshot* take_cache() noexcept {
        snapshot_guard lock(snapshot_lock_);
        return std::exchange(cached_, nullptr);
    }

    // --- Emit ---

    /// The current snapshot with one reference for the caller, built if the list changed since
    /// the last one; null when there is no connection. Throws std::bad_alloc (building).
    snapshot* acquire_snapshot() {
        {
            snapshot_guard lock(snapshot_lock_);
            if (cached_ != nullptr) {
                cached_->add_ref();
                return cached_;
            }
        }
        writer_guard lock(writers_);
        // Written only under both locks: under the writer lock it is stable.
        if (cached_ != nullptr) {
            cached_->add_ref();
            return cached_;
        }
        const std::size_t n = size_.load(std::memory_order_relaxed);
        if (n == 0) {
            return nullptr;
        }
        snapshot* s = snapshot::make(n);
        node** items = s->items();
        std::size_t i = 0;
        for (node* c = first_; c != nullptr; c = c->after_) {
            c->add_ref();
            items[i++] = c;
        }
        WEAKREF_ASSERT(i == n, "a signal's size disagrees with its list");
        snapshot_guard cache(snapshot_lock_);
        cached_ = s;
        return s;
    }

    // --- Ending connections ---

    /// Ends `n` by a disconnect if it is still connected and its subscriber lives: true if it
    /// did (then it retired or left the retiring to the calls in flight, and dropped the
    /// registration). False if it had ended, or if its subscriber's death began: that death
    /// ends it.
    static bool disconnect(node* n) noexcept {
        signal_core* core = n->core_;
        core->check_here("changed by a connection's disconnect()");
        snapshot* stale = nullptr;
        bool retire_now = false;
        {
            writer_guard lock(core->writers_);
            if (!n->listed_) {
                return false;
            }
            if (n->subscriber_block()->detach(n) != detach_result::detached) {
                return false; // dying or taken by its death, which removes it (remove_of)
            }
            core->unlink(n);
            retire_now = n->end(0);
            stale = core->take_cache();
        }
        snapshot::release(stale);
        if (retire_now) {
            n->retire();
        }
        n->release(); // the registration
        return true;
    }

    /// Ends every connection whose subscriber lives (those whose death began are left to it).
    void disconnect_all() noexcept {
        node* ended = nullptr; // chained through after_
        snapshot* stale = nullptr;
        {
            writer_guard lock(writers_);
            for (node* c = first_; c != nullptr;) {
                node* next = c->after_;
                if (c->subscriber_block()->detach(c) == detach_result::detached) {
                    unlink(c);
                    c->retires_ = c->end(0);
                    if (c->retires_) {
                        // relaxed: read by this thread only, in a callable's destruction below
                        // (a scoped_connection of this batch must not wait for this loop);
                        // other threads read another id than theirs either way.
                        c->ends_on_.store(Policy::this_thread(), std::memory_order_relaxed);
                    }
                    c->after_ = ended;
                    ended = c;
                }
                c = next;
            }
            stale = take_cache();
        }
        snapshot::release(stale);
        while (ended != nullptr) {
            node* c = std::exchange(ended, ended->after_);
            c->after_ = nullptr;
            if (c->retires_) {
                c->retire(); // user code (the callable's destructor): no lock held
            }
            c->release(); // the registration
        }
    }

    // --- A subscriber's death (see hook_sink) ---

    /// Pass 1: the connection leaves the list and ends (no user code). The node is listed: only
    /// a detached hook is ever unlisted, and a detached hook never reaches a death.
    static bool remove_of(hook_sink<Policy>* sink, death_hook<Policy>* hook) noexcept {
        auto* core = static_cast<signal_core*>(sink);
        auto* n = static_cast<node*>(hook);
        core->check_here("changed by the death of a subscriber");
        writer_guard lock(core->writers_);
        WEAKREF_ASSERT(n->listed_, "a dying subscriber's connection missing from its signal");
        core->unlink(n);
        n->ends_on_.store(Policy::this_thread(), std::memory_order_relaxed);
        n->retires_ = n->end(node::dead);
        n->stale_ = core->take_cache();
        return true; // pass 2: the callable's destruction and the references
    }

    /// Pass 2: the cached snapshot the removal took goes, the callable is destroyed (unless a
    /// call still in flight does it), and the registration's reference is dropped. Where the
    /// stack is nearly used up, the destruction is put off with the death's others.
    static void finish_of(hook_sink<Policy>* /*sink*/, death_hook<Policy>* hook,
                          bool put_off) noexcept {
        auto* n = static_cast<node*>(hook);
        snapshot::release(std::exchange(n->stale_, nullptr));
        if (!n->retires_) {
            n->release();
        } else if (WEAKREF_UNLIKELY(put_off)) {
            teardown::defer(n, &retire_and_release);
        } else {
            retire_and_release(n);
        }
    }
    static void retire_and_release(void* p) noexcept {
        auto* n = static_cast<node*>(p);
        n->retire();
        n->release();
    }

    mutable typename signal_locks<Policy>::writers writers_;
    mutable typename signal_locks<Policy>::snapshot snapshot_lock_;
    // weakref::local:: only: the thread that owns the signal (in the padding after the locks).
    typename Policy::thread_owner owner_;
    node* first_ = nullptr; // the list, in connection order, under writers_
    node* last_ = nullptr;
    snapshot* cached_ = nullptr; // written under both locks, read under either
    typename Policy::template cell<std::size_t> size_{0};
    typename Policy::template cell<std::size_t> refs_{1}; // the signal's, plus one per node
};

template <class Policy> void connection_node<Policy>::release() noexcept {
    // acq_rel: whoever frees the node sees every other holder's last access first.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        WEAKREF_ASSERT((word_.load(std::memory_order_relaxed) & dropped) != 0,
                       "a connection freed before its callable was destroyed");
        signal_core<Policy>* core = core_;
        ops_->destroy(this);
        core->release();
    }
}

// --- Calls in flight on this thread --------------------------------------------------------------

/// The calls of subscribers running on this thread, innermost first (weakref:: only): a
/// scoped_connection destroyed inside a call of its own subscriber must not wait for that call.
template <class Policy> struct signal_calls {
    struct frame {
        const connection_node<Policy>* node;
        frame* outer;
    };
    // Default visibility, so shared libraries built with -fvisibility=hidden share one list
    // per thread (see WEAKREF_EXPORT).
    WEAKREF_EXPORT static inline thread_local frame* active = nullptr;

    static std::size_t here(const connection_node<Policy>* n) noexcept {
        std::size_t count = 0;
        for (const frame* f = active; f != nullptr; f = f->outer) {
            count += f->node == n ? 1 : 0;
        }
        return count;
    }
};

template <class Policy> void connection_node<Policy>::retire() noexcept {
    if constexpr (Policy::thread_safe) {
        // The callable's destruction counts as a call of this node on this thread: a
        // scoped_connection of this very connection that it destroys (a callable that owns
        // its own connection) must not wait for the destruction it runs inside, which sets
        // `dropped` only after it returns (see wait_retired).
        typename signal_calls<Policy>::frame frame{this, signal_calls<Policy>::active};
        signal_calls<Policy>::active = &frame;
        ops_->drop(this);
        signal_calls<Policy>::active = frame.outer;
    } else {
        ops_->drop(this);
    }
    subscriber_block()->release_weak();
    // release: a scoped_connection waiting on another thread sees the callable (and its
    // captures) destroyed before it returns.
    word_.fetch_or(dropped, std::memory_order_release);
}

/// Waits until connection `n`, ended, has no call in flight on another thread and its callable
/// is destroyed; returns at once where only calls of it on this thread remain (it is destroyed
/// when the last of them returns), where this thread is destroying that callable (retire), or
/// where this thread is running the death or disconnect_all that ended it (and retires it).
template <class Policy> void wait_retired(const connection_node<Policy>* n) noexcept {
    using node = connection_node<Policy>;
    if constexpr (Policy::thread_safe) {
        for (unsigned spins = 0;; Policy::pause(spins)) {
            // acquire: pairs with retire()'s release (the callable is gone) and with end()'s.
            const typename node::word_type w = n->word_.load(std::memory_order_acquire);
            if ((w & node::dropped) != 0) {
                return;
            }
            // relaxed: written by this thread, or before the `dead` that the acquire above read.
            if ((w & node::retired) != 0 &&
                n->ends_on_.load(std::memory_order_relaxed) == Policy::this_thread()) {
                return; // inside user code of the death or disconnect_all that ended it, which
                        // destroys the callable later
            }
            const std::size_t mine = signal_calls<Policy>::here(n);
            if (mine != 0 && (w & node::calls_mask) <= mine) {
                return; // only this thread's calls remain: waiting would never end
            }
        }
    } else {
        static_cast<void>(n); // one thread: nothing can be running elsewhere
    }
}

// --- connection ----------------------------------------------------------------------------------

/// A handle to one connection of a weak_signal: connection in either flavour. Copies name the
/// same connection; a default-constructed one names nothing. Dropping every handle leaves the
/// connection in place (it ends at a disconnect, at disconnect_all() or the signal's
/// destruction, or at its subscriber's death).
///
/// Thread safety (weakref::): distinct handles may be used on any threads at once, while the
/// subscriber dies and the signal emits or is destroyed on others; one handle object is not
/// written while another thread uses it. Copying costs one relaxed increment, destroying one
/// acq_rel decrement; alive() one load.
template <class Policy> class basic_connection {
    using node = connection_node<Policy>;

public:
    /// Names no connection: alive() is false, disconnect() returns false. O(1).
    basic_connection() noexcept = default;
    /// Names `other`'s connection too. O(1): one relaxed increment.
    basic_connection(const basic_connection& other) noexcept : node_(other.node_) {
        if (node_ != nullptr) {
            node_->add_ref();
        }
    }
    /// Takes `other`'s connection; `other` names none. O(1).
    basic_connection(basic_connection&& other) noexcept
        : node_(std::exchange(other.node_, nullptr)) {}
    /// Copy or move by value, then swap; the connection `*this` named stays in place. O(1).
    basic_connection& operator=(basic_connection other) noexcept {
        swap(other);
        return *this;
    }
    /// Drops this handle; the connection stays in place. O(1): one acq_rel decrement.
    ~basic_connection() {
        if (node_ != nullptr) {
            node_->release();
        }
    }
    /// Exchanges the connections two handles name. O(1).
    void swap(basic_connection& other) noexcept { std::swap(node_, other.node_); }
    /// `a.swap(b)`.
    friend void swap(basic_connection& a, basic_connection& b) noexcept { a.swap(b); }

    /// True until the connection is disconnected (by any handle, disconnect_all() or the
    /// signal's destruction) or its subscriber dies. False is final; true may be stale at once
    /// under threads. By the time the call that dropped the subscriber's last strong ref
    /// returns, it is false on every thread. One acquire load, lock-free.
    [[nodiscard]] bool alive() const noexcept { return node_ != nullptr && node_->connected(); }

    /// Ends the connection: true if it was connected (no emit reaches the subscriber from now
    /// on), false if it had already ended or its subscriber's death had begun (the death ends
    /// it). Exactly one disconnect() of a connection can return true, and never once its death
    /// began. The callable is destroyed here, unless a call of it is in flight on another
    /// thread: then when that call returns (a scoped_connection waits for that). Does not wait.
    /// Takes the signal's writer lock and the subscriber's hook lock. Never throws. Const: it
    /// changes the connection, which every copy names, not the handle.
    bool disconnect() const noexcept {
        return node_ != nullptr && signal_core<Policy>::disconnect(node_);
    }

    ///@{
    /// Whether two handles name the same connection (two empty handles are equal). O(1).
    friend bool operator==(const basic_connection& a, const basic_connection& b) noexcept {
        return a.node_ == b.node_;
    }
    friend bool operator!=(const basic_connection& a, const basic_connection& b) noexcept {
        return a.node_ != b.node_;
    }
    ///@}

    /// Takes the reference of a new connection (made by weak_signal::connect).
    explicit basic_connection(node* n) noexcept : node_(n) {}

private:
    friend class basic_scoped_connection<Policy>;

    /// disconnect(), then the wait of a scoped_connection (see wait_retired).
    void disconnect_and_wait() noexcept {
        if (node_ != nullptr) {
            signal_core<Policy>::disconnect(node_);
            wait_retired(node_);
        }
    }

    node* node_ = nullptr;
};

/// Owns a connection and ends it when destroyed (or assigned over). Where that subscriber's
/// call is running on another thread at that moment, the destructor waits until it has returned
/// and the callable (with its captures) is destroyed, unless it runs inside that call itself,
/// or inside the destruction of a callable whose connection the same thread is ending (a
/// callable that owns its own scoped_connection, or one of the same disconnect_all); it never
/// waits for other subscribers' calls. Move-only.
///
/// The wait spins, then yields the processor, for as long as the call lasts: do not destroy a
/// scoped_connection while holding a lock that its subscriber's call may take.
template <class Policy> class basic_scoped_connection {
public:
    /// Owns no connection. O(1).
    basic_scoped_connection() noexcept = default;
    /// Takes over `c` (a copy of a handle shares its connection: `s{c}` copies, `s{f()}` moves).
    explicit basic_scoped_connection(basic_connection<Policy> c) noexcept : c_(std::move(c)) {}
    /// Takes `other`'s connection; `other` owns none. O(1).
    basic_scoped_connection(basic_scoped_connection&&) noexcept = default;
    /// Does to the connection it owned what the destructor does (disconnect, maybe wait), then
    /// takes `other`'s; self-assignment does nothing. O(1) plus the wait.
    basic_scoped_connection& operator=(basic_scoped_connection&& other) noexcept {
        if (this != &other) {
            c_.disconnect_and_wait();
            c_ = std::move(other.c_);
        }
        return *this;
    }
    ///@{
    /// Move-only: one owner per connection.
    basic_scoped_connection(const basic_scoped_connection&) = delete;
    basic_scoped_connection& operator=(const basic_scoped_connection&) = delete;
    ///@}
    /// Disconnects; if that subscriber's call runs on another thread, waits until it returned
    /// and its callable is destroyed, unless called from inside that call. O(1) plus the wait.
    ~basic_scoped_connection() { c_.disconnect_and_wait(); }

    /// Exchanges the connections two owners own. O(1).
    void swap(basic_scoped_connection& other) noexcept { c_.swap(other.c_); }
    /// `a.swap(b)`.
    friend void swap(basic_scoped_connection& a, basic_scoped_connection& b) noexcept { a.swap(b); }

    /// As connection::alive(). O(1), lock-free.
    [[nodiscard]] bool alive() const noexcept { return c_.alive(); }
    /// As connection::disconnect(): does not wait.
    bool disconnect() noexcept { return c_.disconnect(); }
    /// Gives up ownership: the connection stays and is no longer ended here; this owns none.
    /// O(1).
    basic_connection<Policy> release() noexcept { return std::move(c_); }
    /// A handle to the owned connection (a copy: this one still owns it). O(1).
    [[nodiscard]] basic_connection<Policy> get() const noexcept { return c_; }

private:
    basic_connection<Policy> c_;
};

// --- weak_signal ---------------------------------------------------------------------------------

/// Only `void(Args...)` signals exist: several subscribers have no one result.
template <class Signature, class Policy> class basic_weak_signal {
    static_assert(dependent_false<Signature>,
                  "weakref: weak_signal<Signature> takes a function type returning void, "
                  "e.g. weak_signal<void(int)>");
};

/// A multicast signal whose subscribers are held weakly: weak_signal<void(Args...)> in either
/// flavour. Each connection names a subscriber (a `ref<T>`, held weakly) and what to call on it;
/// emit() calls every connected subscriber that lives, in connection order, holding a strong ref
/// to it for its call. A connection leaves the signal at its subscriber's death, before any
/// callback of that death runs, as a weak_set entry does: nothing is swept, size() is exact.
///
/// Thread safety (weakref::): every member may be called from any number of threads at once
/// (but not the destructor or an assignment, as for any object), while subscribers die on
/// others. No lock of weakref is held while user code runs (subscribers, callables' destructors).
///
/// Not copyable (connections name this signal); movable: the connections move with it, and a
/// moved-from signal is empty and usable.
template <class... Args, class Policy> class basic_weak_signal<void(Args...), Policy> {
    using core = signal_core<Policy>;
    using node = connection_node<Policy>;
    using slot = slot_node<Policy, Args...>;
    using snapshot = signal_snapshot<Policy>;

public:
    /// What connect() returns: the connection handle of this flavour.
    using connection_type = basic_connection<Policy>;

    /// A signal with no connection. Allocates nothing (the first connect() does).
    basic_weak_signal() noexcept = default;
    ///@{
    /// Not copyable: connections name this signal.
    basic_weak_signal(const basic_weak_signal&) = delete;
    basic_weak_signal& operator=(const basic_weak_signal&) = delete;
    ///@}
    /// Takes `other`'s connections; `other` is left empty and usable. No other thread may use
    /// either signal meanwhile. O(1).
    basic_weak_signal(basic_weak_signal&& other) noexcept : core_(other.take()) {}
    /// Disconnects this signal's connections (as disconnect_all()), then takes `other`'s. No
    /// other thread may use either signal meanwhile. O(connections of `*this`).
    basic_weak_signal& operator=(basic_weak_signal&& other) noexcept {
        if (this != &other) {
            basic_weak_signal old(std::move(*this));
            core_.store(other.take(), std::memory_order_release);
        }
        return *this;
    }
    /// Disconnects every connection (as disconnect_all()). Connection handles stay valid and
    /// report !alive(). Destroying a signal while another thread uses it is undefined, as for
    /// any object; destroying it from inside one of its subscribers' calls is allowed: that
    /// emit calls no further subscriber and returns normally. Does not wait for calls running
    /// on other threads. O(connections).
    ~basic_weak_signal() {
        if (core* c = core_.load(std::memory_order_acquire)) {
            c->check_here("destroyed");
            c->disconnect_all();
            c->release();
        }
    }

    /// Exchanges the two signals' connections. No other thread may use either signal
    /// meanwhile. O(1).
    void swap(basic_weak_signal& other) noexcept {
        check("swapped");
        other.check("swapped");
        core* a = core_.load(std::memory_order_acquire);
        core_.store(other.core_.load(std::memory_order_acquire), std::memory_order_release);
        other.core_.store(a, std::memory_order_release);
    }
    /// `a.swap(b)`.
    friend void swap(basic_weak_signal& a, basic_weak_signal& b) noexcept { a.swap(b); }

    /// weakref::local:: only: the owner thread gives the signal up, so that another thread may
    /// use it (the next thread to use it owns it); see weak_value_map::hand_over. Connection
    /// handles, and deaths of subscribers, are checked against the signal's owner too.
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    void hand_over() noexcept {
        if (core* c = core_.load(std::memory_order_acquire)) {
            c->hand_over();
        }
    }

    /// Connects `method` of the referent of `r`: each emit calls it on the referent `obj`, as
    /// `std::invoke(method, obj, args...)`, while the referent lives. `method` is a pointer to a
    /// (const or non-const) member function of `T` callable with the signal's arguments; its
    /// result, if any, is discarded. Throws std::invalid_argument if `r` is empty, std::bad_alloc
    /// (one allocation, plus the signal's shared state on its first connect). The subscriber is
    /// held weakly: its weak count grows by one while connected.
    template <class T, class M, std::enable_if_t<std::is_member_function_pointer_v<M>, int> = 0>
    connection_type connect(const basic_ref<T, Policy>& r, M method) {
        static_assert(std::is_invocable_v<M, T&, signal_arg_t<Args>...>,
                      "weakref: weak_signal::connect: the method cannot be called on the "
                      "subscriber with the signal's arguments");
        return make_connection<T, M>(r, method);
    }

    /// Connects `fn`, called as `fn(obj, args...)` with `obj` the referent of `r` (a `T&`)
    /// while it lives. `fn` is stored as a decayed copy; it may be called by emits on several
    /// threads at once. It is destroyed when the connection ends (at once, or when a call in
    /// flight returns). Throws as the other overload, and what copying `fn` throws.
    template <class T, class F, std::enable_if_t<!std::is_member_function_pointer_v<F>, int> = 0>
    connection_type connect(const basic_ref<T, Policy>& r, F fn) {
        static_assert(!std::is_member_object_pointer_v<F>,
                      "weakref: weak_signal::connect takes a pointer to a member function or a "
                      "callable, not a pointer to a data member");
        static_assert(std::is_invocable_v<F&, T&, signal_arg_t<Args>...>,
                      "weakref: weak_signal::connect takes a callable invoked as "
                      "fn(T&, args...) with the signal's arguments");
        return make_connection<T, F>(r, std::move(fn));
    }

    /// Calls each connected subscriber whose referent lives, in connection order, with `args`
    /// (each as a const lvalue, or the caller's referent for an lvalue reference parameter),
    /// holding a strong ref to it for its call and no lock of the signal.
    ///
    /// - A subscriber that died or was disconnected before the emit reached it is not called;
    ///   one whose death has begun is never called (its strong count is zero, and emit never
    ///   takes it back up). One connected during this emit is not called by it (a later emit
    ///   calls it).
    /// - A subscriber may connect, disconnect, emit this signal again (that emit calls every
    ///   subscriber, this one included: bounding the recursion is the caller's), drop refs, and
    ///   destroy the signal (then no further subscriber is called).
    /// - If a subscriber throws, the exception leaves emit at once, after the strong ref and the
    ///   snapshot are released; the subscribers after it are not called by this emit.
    ///
    /// Cost: without a change since the last emit, a short spin lock and one increment and
    /// decrement of the shared snapshot; per subscriber, two CASes and two decrements (the
    /// connection's call count and the subscriber's strong count), plus the call. After a
    /// change (connect, disconnect, a death), one emit rebuilds the snapshot: O(connections)
    /// under the writer lock, and one allocation (std::bad_alloc leaves everything unchanged).
    void emit(Args... args) const {
        core* c = used_core();
        if (c == nullptr || c->size() == 0) {
            return;
        }
        snapshot* s = c->acquire_snapshot();
        if (s == nullptr) {
            return;
        }
        struct snapshot_hold {
            snapshot* s;
            ~snapshot_hold() { snapshot::release(s); }
        } hold{s};
        node** items = s->items();
        for (std::size_t i = 0, n = s->count; i < n; ++i) {
            call_one(items[i], args...);
        }
    }
    /// emit(args...).
    void operator()(Args... args) const { emit(static_cast<Args&&>(args)...); }

    /// The live connections: connected, and their subscribers not dead. Exact: a connection
    /// whose subscriber died is gone by the time the call that dropped its last strong ref
    /// returns, on any thread. O(1), lock-free.
    [[nodiscard]] std::size_t size() const noexcept {
        core* c = used_core();
        return c != nullptr ? c->size() : 0;
    }
    /// `size() == 0`. O(1), lock-free.
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    /// Disconnects every connection (connections whose subscriber's death has begun end by
    /// that death instead). Each callable is destroyed after the lock, unless a call of it is
    /// in flight (then when it returns); does not wait. O(connections).
    void disconnect_all() noexcept {
        if (core* c = used_core()) {
            c->disconnect_all();
        }
    }

private:
    /// The shared state, or null; checks the calling thread (see signal_core::use_here).
    core* used_core() const noexcept {
        core* c = core_.load(std::memory_order_acquire);
        if (c != nullptr) {
            c->use_here();
        }
        return c;
    }
    /// Checks that a signal moved, swapped or destroyed is not another thread's. Not in
    /// weakref::, where it would cost an atomic load that nothing needs.
    void check(const char* action) const noexcept {
        if constexpr (!Policy::thread_safe) {
            if (core* c = core_.load(std::memory_order_relaxed)) {
                c->check_here(action);
            }
        }
    }
    core* take() noexcept {
        check("moved from");
        return core_.exchange(nullptr, std::memory_order_acq_rel);
    }

    /// Calls the subscriber of `n` if it is connected and lives; leaves and releases in that
    /// order on every path (an exception included).
    static void call_one(node* n, signal_arg_t<Args>... args) {
        if (!n->enter()) {
            return;
        }
        control_block<Policy>* b = n->subscriber_block();
        if (!b->try_add_strong()) {
            n->leave(); // its death began: never called
            return;
        }
        struct call_scope {
            node* n;
            control_block<Policy>* b;
            typename signal_calls<Policy>::frame frame;
            call_scope(node* nn, control_block<Policy>* bb) noexcept
                : n(nn), b(bb), frame{nn, nullptr} {
                if constexpr (Policy::thread_safe) {
                    frame.outer = signal_calls<Policy>::active;
                    signal_calls<Policy>::active = &frame;
                }
            }
            call_scope(const call_scope&) = delete;
            call_scope& operator=(const call_scope&) = delete;
            ~call_scope() {
                if constexpr (Policy::thread_safe) {
                    signal_calls<Policy>::active = frame.outer;
                }
                // Leave first: a callable whose connection ended during the call is destroyed
                // while the subscriber still lives; then the strong ref, which may end it.
                n->leave();
                b->release_strong();
            }
        } scope(n, b);
        slot* s = static_cast<slot*>(n);
        s->invoke_(s, n->object_, args...);
    }

    template <class T, class F, class Arg>
    connection_type make_connection(const basic_ref<T, Policy>& r, Arg&& fn) {
        if (!r) {
            detail::throw_invalid_argument("weakref::weak_signal::connect: empty ref");
        }
        core* c = ensure_core();
        using made = slot_node_of<Policy, T, F, Args...>;
        auto* n = new made(c, r.get(), std::forward<Arg>(fn)); // one reference: the registration
        c->add_ref();                                          // the node's, for its life
        n->add_ref();                                          // the handle returned
        control_block<Policy>* b = n->subscriber_block();
        // The caller holds a strong ref: add_weak and link are allowed (see control_block).
        b->add_weak(); // held until the node retires
        snapshot* stale = nullptr;
        {
            typename core::writer_guard lock(c->writers_);
            b->link(n);
            c->append(n);
            stale = c->take_cache();
        }
        snapshot::release(stale);
        return connection_type(n);
    }

    /// The shared state, made by the first connect (thread-safe: concurrent first connects
    /// agree on one). Throws std::bad_alloc.
    core* ensure_core() {
        core* c = core_.load(std::memory_order_acquire);
        if (c != nullptr) {
            c->use_here();
            return c;
        }
        auto* fresh = new core();
        // acq_rel: release publishes the new core; acquire, on failure, sees the winner's.
        if (core_.compare_exchange_strong(c, fresh, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
            fresh->use_here();
            return fresh;
        }
        fresh->release();
        return c;
    }

    typename Policy::template cell<core*> core_{nullptr};
};

} // namespace weakref::detail
