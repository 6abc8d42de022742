// SPDX-License-Identifier: MIT
// The control block: strong and weak counts and the death-hook list; the lifetime invariants.
#pragma once

#include "config.hpp"
#include "counts.hpp"
#include "death_hooks.hpp"
#include "policy.hpp"
#include "reclamation.hpp"
#include "teardown.hpp"

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace weakref::detail {

/// What a control block does with the object it was made with, erased of the object's type.
struct alignas(8) block_ops {
    void (*destroy)(void* block) noexcept;    // runs the object's destructor; null if trivial
    void (*deallocate)(void* block) noexcept; // frees the whole allocation
    // Nonzero when the allocation starts at the block and came from ::operator new of this
    // many bytes (std::allocator, default alignment): the last release may free it directly.
    std::size_t new_bytes;
};

/// Outcome of taking a container's hook off a list.
enum class detach_result {
    detached, // it was linked, the referent lived, and the hook now never runs
    dying,    // still linked, but the strong count is zero: the death will take it
    running,  // a death took it: it belongs to that death and its sink
    idle,     // it was not linked
};

/// The header that sits immediately before every object made by make_ref / allocate_ref.
///
/// Layout: 16 bytes, then the object. A handle stores the object's address and finds the
/// block 16 bytes below it, so `ref<T>` and `weak_ref<T>` are one pointer each. The first
/// word holds the counts (see atomic_counts), the second the death-hook list and its lock
/// (see hook_head): nothing about an object lives outside its block.
///
/// Lifetime invariants:
/// - The block is freed when the weak count reaches zero; the object is destroyed when the
///   strong count does. Whoever touches the block holds a unit: a strong ref, a weak ref, a
///   container entry (its weak unit) or an armed finalizer (its pin).
/// - strong == 0 is final once the object was born: try_add_strong never takes it back up.
/// - Hooks are linked only by holders of a strong ref, so none is added once strong is zero.
///   The thread that takes strong to zero takes every linked hook at once, runs them in three
///   passes (see hook_sink), then the destructor (see teardown), then drops the object's
///   weak unit. One death costs O(hooks).
template <class Policy> class control_block {
public:
    using hook = death_hook<Policy>;
    using head = hook_head<Policy>;

    explicit control_block(const block_ops* ops) noexcept
        : counts_(unborn_t()), hooks_(reinterpret_cast<std::uintptr_t>(ops) | head::end_bit) {}
    control_block(const control_block&) = delete;
    control_block& operator=(const control_block&) = delete;

    /// The block of the object at `object` (made by make_ref or allocate_ref).
    ///
    /// By integer arithmetic: the block and the object are parts of one allocation, but a
    /// pointer step below an object that GCC saw declared on the stack (in a branch that never
    /// runs: enable_ref_from_this on an object not made by make_ref) trips its -Warray-bounds
    /// and -Wstringop-overflow in optimised builds of the user's code.
    static control_block* of(const void* object) noexcept {
        return reinterpret_cast<control_block*>(reinterpret_cast<std::uintptr_t>(object) -
                                                sizeof(control_block));
    }
    [[nodiscard]] void* object() const noexcept {
        return const_cast<char*>(reinterpret_cast<const char*>(this) + sizeof(control_block));
    }

    /// The constructor returned: the first strong ref (see make_object).
    void born() noexcept { counts_.born(); }
    /// The constructor threw: drops the unit the unborn object held, freeing the block unless
    /// a weak_ref taken during construction still holds it. The object is not destroyed.
    void stillborn() noexcept { release_weak(); }

    void add_strong() noexcept { counts_.add_strong(); }
    bool try_add_strong() noexcept { return counts_.try_add_strong(); }

    /// Drops one strong ref. At zero: the death (hooks, then destructor, then the object's
    /// weak unit). No lock of weakref is held while hooks or the destructor run.
    ///
    /// With one thread (the local flavour, or a process that has never started a thread) a
    /// copy's release is inlined: a test and a plain decrement. Otherwise it is a call, whose
    /// atomic path measured faster out of line than inlined into the caller's loop (see
    /// bench/README.md). The last release goes out of line in both.
    void release_strong() noexcept {
        if constexpr (Policy::thread_safe) {
            if (!process_is_single_threaded()) {
                release_strong_atomic();
                return;
            }
        }
        if (WEAKREF_UNLIKELY(counts_.sole_owner())) {
            release_sole_owner();
        } else if (counts_.release_strong_one_thread()) {
            die();
        }
    }

    void add_weak() noexcept { counts_.add_weak(); }
    void release_weak() noexcept {
        if (drop_weak()) {
            deallocate();
        }
    }
    /// release_weak in two, for a caller that drops the unit under a lock of its own and frees
    /// after it: whether that was the last unit, and then the block must be deallocated.
    [[nodiscard]] bool drop_weak() noexcept { return counts_.release_weak(); }
    void deallocate() noexcept { ops()->deallocate(this); }

    [[nodiscard]] long use_count() const noexcept {
        return static_cast<long>(Policy::counts::strong_of(counts_.snapshot()));
    }
    /// The weak observers: weak handles, proxies, weak_fns and container entries; not the
    /// finalizers' pins. O(1), or O(hooks) while finalizers are armed (they are counted under
    /// the hook lock). In weakref::, first waits until lookups running on other threads have
    /// ended, if container entries were removed since (see epoch_domain::flush).
    [[nodiscard]] long weak_count() const noexcept {
        if constexpr (Policy::thread_safe) {
            // A container entry removed a moment ago holds its weak unit until no lock-free
            // lookup can hold it any more: wait for that, so that it is not counted.
            epoch_domain::instance().flush();
        }
        const std::uint64_t v = counts_.snapshot();
        const auto strong = Policy::counts::strong_of(v);
        const auto weak = static_cast<long>(Policy::counts::weak_of(v));
        long pins = 0;
        if (head::is_hook(hooks_.peek(std::memory_order_acquire))) {
            auto& self = const_cast<control_block&>(*this);
            typename head::locked list(self.hooks_);
            for (std::uintptr_t w = list.head(); head::is_hook(w); w = head::as_hook(w)->next_) {
                pins += head::as_hook(w)->sink()->is_finalizer() ? 1 : 0;
            }
        }
        const long observers = weak - (strong != 0 ? 1 : 0) - pins;
        return observers > 0 ? observers : 0;
    }
    [[nodiscard]] bool expired() const noexcept {
        return Policy::counts::strong_of(counts_.snapshot()) == 0;
    }

    /// Registers `h` to run at death. The caller holds a strong ref to this object.
    void link(hook* h) noexcept {
        WEAKREF_ASSERT(!expired(), "a death hook registered on a dead object");
        typename head::locked list(hooks_);
        list.push(h);
    }

    /// Takes a container's `h` off the list unless the object's death took it or is about to.
    /// The caller holds a unit on this block (the entry's weak unit), so the block is alive.
    /// With `take_ref`, a detached hook comes with one strong ref for the caller, taken under
    /// the lock (a removal listener is then told while the referent still lives).
    ///
    /// Between the strong count's last decrement and the death's take_all the hook is still
    /// linked: it is left for the death (`dying`), which removes the entry and reports `died`;
    /// detaching it would make a container report an erase of an entry whose value was dead.
    detach_result detach(hook* h, bool take_ref = false) noexcept {
        typename head::locked list(hooks_);
        if (h->linked()) {
            if (take_ref ? !counts_.try_add_strong() : expired()) {
                return detach_result::dying;
            }
            list.unlink(h, hook::idle);
            return detach_result::detached;
        }
        return h->is_running() ? detach_result::running : detach_result::idle;
    }

    /// Takes `h` off the list if it is still linked (not yet taken by a death); true if it
    /// was. For a finalizer that won its claim or detach (see finalizer_node); the caller
    /// holds the finalizer's pin.
    bool unlink_if_linked(hook* h) noexcept {
        typename head::locked list(hooks_);
        if (!h->linked()) {
            return false;
        }
        list.unlink(h, hook::idle);
        return true;
    }

private:
    /// The operations, from a head word that is no hook (the end tag, perhaps locked).
    static const block_ops* ops_of(std::uintptr_t w) noexcept {
        WEAKREF_ASSERT(!head::is_hook(w), "control block operations read with hooks linked");
        return reinterpret_cast<const block_ops*>(w & ~(head::end_bit | head::lock_bit));
    }
    const block_ops* ops() const noexcept {
        // Read once no hook is linked, when the head word is the end tag: the tag never
        // changes, and a transient lock bit is masked.
        return ops_of(hooks_.peek(std::memory_order_relaxed));
    }

    /// release_strong in a process with threads: the sole owner's shortcut, else the atomic
    /// decrement (acq_rel, see the counts) and, at zero, the death.
    WEAKREF_NOINLINE void release_strong_atomic() noexcept {
        if (counts_.sole_owner()) {
            release_sole_owner();
        } else if (counts_.release_strong()) {
            die();
        }
    }

    /// release_strong when no other strong ref and no weak unit exists.
    WEAKREF_NOINLINE void release_sole_owner() noexcept {
        // No other unit exists, and only a unit's holder could link a hook or touch the block:
        // nothing is linked, and nobody else reads the counts. The head is the end tag.
        const block_ops* o = ops();
        if (o->destroy == nullptr) {
            // A trivial destructor releases nothing in turn, and nobody else can reach the
            // object: free it at once.
            if (o->new_bytes != 0) {
                static_assert(std::is_trivially_destructible_v<control_block>);
#ifdef __cpp_sized_deallocation
                ::operator delete(static_cast<void*>(this), o->new_bytes);
#else
                ::operator delete(static_cast<void*>(this)); // clang without sized deallocation
#endif
            } else {
                o->deallocate(this);
            }
            return;
        }
        // The counts read "dead, weak unit held" while the destructor runs, so lock() fails
        // and a weak_from_this() taken by the destructor is counted like any other.
        counts_.mark_dying();
        teardown::scope death;
        if (WEAKREF_UNLIKELY(teardown::stack_low())) {
            teardown::defer(this, &put_off_end_of_life);
        } else {
            end_of_life(this);
        }
    }

    /// The strong count reached zero: every hook, then the destructor, then the weak unit.
    /// Whether the destructions are put off (the stack is nearly used up) is decided once,
    /// here: then the containers' values, the callables and the object go to the teardown
    /// queue in the order they would have run, while the removals and callbacks happen now.
    WEAKREF_NOINLINE void die() noexcept {
        teardown::scope death;
        const bool put_off = teardown::stack_low();
        // No hook can be added from here on (that needs a strong ref), so a head read without
        // the lock that shows no hook stays so; a concurrent detach can only empty the list.
        // acquire: where a detach on another thread emptied it, its unlink (the lock's
        // release) happens before this thread destroys and frees.
        if (head::is_hook(hooks_.peek(std::memory_order_acquire))) {
            std::uintptr_t chain = 0;
            {
                typename head::locked list(hooks_);
                chain = list.take_all();
            }
            run_hooks(chain, put_off);
        }
        if (WEAKREF_UNLIKELY(put_off)) {
            teardown::defer(this, &put_off_end_of_life);
        } else {
            end_of_life(this);
        }
    }

    /// The three passes of a death over the hooks it took (see hook_sink), newest first.
    static void run_hooks(std::uintptr_t chain, bool put_off) noexcept {
        // Pass 1: containers remove their entries. Those that need pass 2 stay in the chain;
        // the others belong to their sinks and are spliced out before `remove` returns.
        std::uintptr_t* at = &chain;
        while (head::is_hook(*at)) {
            hook* h = head::as_hook(*at);
            hook_sink<Policy>* sink = h->sink();
            if (sink->is_finalizer()) {
                at = &h->next_;
                continue;
            }
            const std::uintptr_t next = h->next_; // `remove` may give the hook away
            if (sink->remove(sink, h)) {
                at = &h->next_;
            } else {
                *at = next;
            }
        }
        // Pass 2: containers finish (listeners; the values' destructors).
        at = &chain;
        while (head::is_hook(*at)) {
            hook* h = head::as_hook(*at);
            if (h->sink()->is_finalizer()) {
                at = &h->next_;
                continue;
            }
            *at = h->next_;
            h->sink()->finish(h->sink(), h, put_off);
        }
        // Pass 3: everything else (finalizers), newest first.
        for (std::uintptr_t w = chain; head::is_hook(w);) {
            hook* h = head::as_hook(w);
            w = h->next_;
            h->sink()->finish(h->sink(), h, put_off);
        }
    }

    /// end_of_life, queued (a function of its own: end_of_life itself is always inlined).
    static void put_off_end_of_life(void* self) noexcept { end_of_life(self); }

    /// The destructor, then the object's weak unit. Inlined into the release paths: one frame
    /// fewer per level of a nested destruction.
    WEAKREF_ALWAYS_INLINE static void end_of_life(void* self) noexcept {
        auto* block = static_cast<control_block*>(self);
        const block_ops* o = block->ops();
        if (o->destroy != nullptr) {
            o->destroy(block);
        }
        if (block->counts_.only_weak_unit()) {
            o->deallocate(block); // nobody else holds a unit: no atomic decrement needed
        } else {
            block->release_weak();
        }
    }

    typename Policy::counts counts_;
    // The newest death hook, or the end tag (the address of this block's block_ops with bit 0
    // set); bit 1 is the hook lock.
    head hooks_;
};

} // namespace weakref::detail
