// SPDX-License-Identifier: MIT
// The intrusive list of death callbacks of one object, newest first.
#pragma once

#include <atomic>
#include <cstdint>

namespace weakref::detail {

template <class Policy> struct death_hook;

/// Who is told of a death: a finalizer, or a container that holds entries for the object.
/// One sink can serve many hooks (a container serves all its entries), which keeps a hook
/// at three words.
template <class Policy> struct hook_sink {
    /// Runs on the thread that released the last strong ref, with no lock of weakref held.
    /// From the call on, the hook belongs to the sink: the list never touches it again.
    void (*on_death)(hook_sink* self, death_hook<Policy>* hook) noexcept;
    /// Containers set this: their hooks run before every other hook of the dying object, so
    /// that user callbacks and the destructor already see the object gone from every
    /// container.
    bool runs_first;
};

/// One registration in an object's death list. It allocates nothing: it lives inside its
/// owner (a finalizer node, a container entry). Every field is guarded by the hook lock of
/// the object's control block.
template <class Policy> struct death_hook {
    using word = typename Policy::template cell<std::uintptr_t>;

    static constexpr std::uintptr_t idle = 0;    // not in a list: never linked, or detached
    static constexpr std::uintptr_t running = 1; // taken off the list to run; it belongs to
                                                 // its sink now

    explicit death_hook(hook_sink<Policy>* sink) noexcept : sink_(sink) {}
    death_hook(const death_hook&) = delete;
    death_hook& operator=(const death_hook&) = delete;

    [[nodiscard]] bool linked() const noexcept { return link_ > running; }
    [[nodiscard]] bool is_running() const noexcept { return link_ == running; }
    [[nodiscard]] hook_sink<Policy>* sink() const noexcept { return sink_; }

    // The next hook, or, at the end of the list, the control block's tag word (low bit set).
    word next_{0};
    // While linked: the address of the word that points here (the block's head or the
    // previous hook's next_), so unlinking is O(1) without a walk. Otherwise idle or running.
    std::uintptr_t link_ = idle;
    hook_sink<Policy>* sink_;
};

/// List operations on a head word. A word with its low bit set is the end of the list (the
/// control block keeps its type-erased operations there); any other word is a hook.
template <class Policy> struct hook_list {
    using hook = death_hook<Policy>;
    using word = typename hook::word;

    static bool is_hook(std::uintptr_t w) noexcept { return (w & 1U) == 0; }
    static hook* as_hook(std::uintptr_t w) noexcept { return reinterpret_cast<hook*>(w); }

    /// Pushes `h` at the front (newest first). Under the hook lock.
    static void push(word& head, hook* h) noexcept {
        const std::uintptr_t first = head.load(std::memory_order_relaxed);
        h->next_.store(first, std::memory_order_relaxed);
        if (is_hook(first)) {
            as_hook(first)->link_ = reinterpret_cast<std::uintptr_t>(&h->next_);
        }
        h->link_ = reinterpret_cast<std::uintptr_t>(&head);
        head.store(reinterpret_cast<std::uintptr_t>(h), std::memory_order_relaxed);
    }

    /// Takes a linked `h` out of its list, leaving it in `state`. Under the hook lock.
    static void unlink(hook* h, std::uintptr_t state) noexcept {
        word* prev = reinterpret_cast<word*>(h->link_);
        const std::uintptr_t next = h->next_.load(std::memory_order_relaxed);
        // Release: when this empties the list, the sole owner's release_strong may read the
        // head without the hook lock (acquire) and free the block at once; this store must
        // then happen before that free. (push needs none: its caller holds a strong ref, so
        // no release_strong can take that path meanwhile.)
        prev->store(next, std::memory_order_release);
        if (is_hook(next)) {
            as_hook(next)->link_ = h->link_;
        }
        h->link_ = state;
    }
};

} // namespace weakref::detail
