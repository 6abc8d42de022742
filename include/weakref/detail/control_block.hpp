// SPDX-License-Identifier: MIT
// The control block: strong and weak counts and the death-hook list; the lifetime invariants.
#pragma once

#include "config.hpp"
#include "death_hooks.hpp"
#include "policy.hpp"

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace weakref::detail {

/// What a control block does with the object it was made with, erased of the object's type.
struct alignas(8) block_ops {
    void (*destroy)(void* block) noexcept;    // runs the object's destructor; null if trivial
    void (*deallocate)(void* block) noexcept; // frees the whole allocation
    // Nonzero when the allocation starts at the block and came from ::operator new of this
    // many bytes (std::allocator, default alignment): the last release may free it directly.
    std::size_t new_bytes;
};

/// Outcome of taking a hook off a list.
enum class detach_result {
    detached, // it was linked and now never runs
    running,  // it was taken to run (by a death or by finalizer::operator()) and belongs to
              // its sink
    idle,     // it was not linked: detached or run before
};

/// Runs the end of an object's life (its callbacks, destructor and release), iteratively
/// rather than recursively past a depth: an object whose destructor drops the last ref to the
/// next object of a chain a million long must not overflow the stack (CPython bounds the same
/// recursion with its "trashcan"). Past `max_depth` nested ends on one thread, an end is
/// queued, and the outermost end on the thread runs the queue before it returns: every object
/// of the chain is destroyed, and every callback has run, before the call that dropped the
/// head returns. A queued object is already dead to lock() and expired() meanwhile.
struct teardown {
    using step = void (*)(void*) noexcept;
    static constexpr unsigned max_depth = 128;

    struct pending {
        void* block;
        step run;
    };

    static void end(void* block, step run) noexcept {
        if (depth_ >= max_depth && defer(block, run)) {
            return;
        }
        ++depth_;
        run(block);
        if (depth_ == 1 && queue_ != nullptr) {
            drain();
        }
        --depth_;
    }

private:
    static bool defer(void* block, step run) noexcept {
        try {
            if (queue_ == nullptr) {
                queue_ = new std::vector<pending>();
            }
            queue_->push_back(pending{block, run});
            return true;
        } catch (...) {
            return false; // out of memory: recurse instead
        }
    }

    // At depth 1: runs what deeper ends queued (each may queue more), then frees the queue.
    static void drain() noexcept {
        while (!queue_->empty()) {
            const pending next = queue_->back();
            queue_->pop_back();
            next.run(next.block);
        }
        delete std::exchange(queue_, nullptr);
    }

    // Trivially constructible thread_locals: no guard on the path every death takes.
    static inline thread_local unsigned depth_ = 0;
    static inline thread_local std::vector<pending>* queue_ = nullptr;
};

/// The header that sits immediately before every object made by make_ref / allocate_ref.
///
/// Layout: 16 bytes, then the object. A handle stores the object's address and finds the
/// block 16 bytes below it, so `ref<T>` and `weak_ref<T>` are one pointer each.
///
/// Lifetime invariants:
/// - strong == 0 is final: try_add_strong never takes it back up (lock() cannot resurrect).
/// - weak counts the weak observers, plus 1 while strong != 0; the block is freed when weak
///   reaches zero, so it outlives the object while anyone observes it.
/// - Hooks are linked only by holders of a strong ref, so none is added once strong is zero.
///   The thread that takes strong to zero runs every linked hook, newest first, then the
///   destructor, then drops the live object's weak unit.
template <class Policy> class control_block {
public:
    using hook = death_hook<Policy>;
    using list = hook_list<Policy>;

    explicit control_block(const block_ops* ops) noexcept
        : hooks_(reinterpret_cast<std::uintptr_t>(ops) | 1U) {}
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

    void add_strong() noexcept { counts_.add_strong(); }
    bool try_add_strong() noexcept { return counts_.try_add_strong(); }

    /// Drops one strong ref. At zero: hooks, newest first; then the destructor; then the
    /// object's weak unit. No lock of weakref is held while hooks or the destructor run.
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
            run_death();
        }
    }

    void add_weak() noexcept { counts_.add_weak(); }
    void release_weak() noexcept {
        if (counts_.release_weak()) {
            ops()->deallocate(this);
        }
    }

    [[nodiscard]] long use_count() const noexcept {
        return static_cast<long>(Policy::counts::strong_of(counts_.snapshot()));
    }
    /// The weak observers: weak handles, proxies, weak_fns and container entries.
    [[nodiscard]] long weak_count() const noexcept {
        const std::uint64_t v = counts_.snapshot();
        const auto strong = Policy::counts::strong_of(v);
        const auto weak = Policy::counts::weak_of(v);
        return static_cast<long>(weak) - (strong != 0 ? 1 : 0);
    }
    [[nodiscard]] bool expired() const noexcept {
        return Policy::counts::strong_of(counts_.snapshot()) == 0;
    }

    /// Registers `h` to run at death. The caller holds a strong ref to this object.
    void link(hook* h) noexcept {
        WEAKREF_ASSERT(!expired(), "a death hook registered on a dead object");
        typename Policy::hook_guard guard(this);
        list::push(hooks_, h);
    }

    /// Takes `h` off the list of the block at `block` unless it already ran or is running.
    /// `block` may already be freed: the lock is found by address alone, and a hook that is
    /// still linked proves, under that lock, that the block is alive.
    static detach_result detach(const control_block* block, hook* h) noexcept {
        typename Policy::hook_guard guard(block);
        if (h->linked()) {
            list::unlink(h, hook::idle);
            return detach_result::detached;
        }
        return h->is_running() ? detach_result::running : detach_result::idle;
    }

    /// Takes `h` off the list to run it now (finalizer::operator()); true if it was linked.
    static bool claim(const control_block* block, hook* h) noexcept {
        typename Policy::hook_guard guard(block);
        if (!h->linked()) {
            return false;
        }
        list::unlink(h, hook::running);
        return true;
    }

    /// Whether `h` is still linked, i.e. will run at death.
    static bool armed(const control_block* block, const hook* h) noexcept {
        typename Policy::hook_guard guard(block);
        return h->linked();
    }

private:
    /// The operations, from a head word that is no hook (the tagged ops pointer).
    static const block_ops* ops_of(std::uintptr_t head) noexcept {
        WEAKREF_ASSERT(!list::is_hook(head), "control block operations read with hooks linked");
        return reinterpret_cast<const block_ops*>(head & ~std::uintptr_t{1});
    }
    const block_ops* ops() const noexcept {
        // Only read once no hook is linked, when the head word is the tagged ops pointer.
        return ops_of(hooks_.load(std::memory_order_relaxed));
    }
    /// Runs the object's destructor, unless it is trivial.
    void destroy_object() noexcept {
        if (const auto destroy = ops()->destroy) {
            destroy(this);
        }
    }

    /// release_strong in a process with threads: the sole owner's shortcut, else the atomic
    /// decrement (acq_rel, see the counts) and, at zero, the death.
    WEAKREF_NOINLINE void release_strong_atomic() noexcept {
        if (counts_.sole_owner()) {
            release_sole_owner_impl();
        } else if (counts_.release_strong()) {
            teardown::end(this, &die);
        }
    }

    /// The strong count reached zero: hooks, destructor, weak unit (queued when deep).
    WEAKREF_NOINLINE void run_death() noexcept { teardown::end(this, &die); }

    /// release_strong when no other strong ref and no weak observer exists.
    WEAKREF_NOINLINE void release_sole_owner() noexcept { release_sole_owner_impl(); }
    void release_sole_owner_impl() noexcept {
        // Acquire on the head: pairs with hook_list::unlink, which another thread (a detach
        // or a finalizer call, holding no strong ref) may have just run on this block.
        const std::uintptr_t head = hooks_.load(std::memory_order_acquire);
        if (list::is_hook(head)) {
            // Hooks to run: the ordinary way, which handles every race with them.
            if (counts_.release_strong()) {
                run_death();
            }
            return;
        }
        // Nobody else holds a strong ref, a weak observer or a hook, and only a strong ref
        // could add one: skip the atomic decrements. The head is the tagged ops pointer.
        const block_ops* o = ops_of(head);
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
        teardown::end(this, &finish_sole_owner);
    }

    static void finish_sole_owner(void* self) noexcept {
        auto* block = static_cast<control_block*>(self);
        block->destroy_object();
        if (block->counts_.only_weak_unit()) {
            block->ops()->deallocate(block);
        } else {
            block->release_weak();
        }
    }

    static void die(void* self) noexcept { static_cast<control_block*>(self)->die(); }

    void die() noexcept {
        // No hook can be added from here on (that needs a strong ref), so an empty list read
        // without the lock stays empty; a concurrent detach can only shorten it. That read is
        // an acquire: where a detach on another thread emptied the list, its unlink (a release)
        // must happen before this thread frees the block.
        // Container hooks first (newest first among them), so that every user callback and
        // the destructor see the object gone from every container; then the rest, newest
        // first. The scan for container hooks stops once a pass finds none.
        bool containers_left = true;
        while (list::is_hook(hooks_.load(std::memory_order_acquire))) {
            hook* h = nullptr;
            {
                typename Policy::hook_guard guard(this);
                std::uintptr_t w = hooks_.load(std::memory_order_relaxed);
                if (!list::is_hook(w)) {
                    break;
                }
                h = list::as_hook(w);
                if (containers_left) {
                    hook* first_container = nullptr;
                    for (; list::is_hook(w);
                         w = list::as_hook(w)->next_.load(std::memory_order_relaxed)) {
                        if (list::as_hook(w)->sink()->runs_first) {
                            first_container = list::as_hook(w);
                            break;
                        }
                    }
                    if (first_container != nullptr) {
                        h = first_container;
                    } else {
                        containers_left = false;
                    }
                }
                list::unlink(h, hook::running);
            }
            // noexcept: a callback that throws ends the program here.
            h->sink()->on_death(h->sink(), h);
        }
        destroy_object();
        release_weak();
    }

    typename Policy::counts counts_;
    // The newest death hook; when there is none, the address of this block's block_ops with
    // the low bit set. Written under the hook lock; read without it only where the comment
    // at the read says why that is enough.
    typename Policy::template cell<std::uintptr_t> hooks_;
};

} // namespace weakref::detail
