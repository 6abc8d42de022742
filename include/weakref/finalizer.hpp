// SPDX-License-Identifier: MIT
// Death callbacks: on_death, finalizer (Python's weakref.finalize) and scoped_finalizer.
#pragma once

#include "ref.hpp"

#include <cstdint>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace weakref::detail {

/// One registration made by on_death: the hook in the object's list, the callback, and a
/// count of the finalizer handles that name it. Allocated once, by on_death.
template <class Policy> struct finalizer_node : hook_sink<Policy> {
    using block = control_block<Policy>;

    finalizer_node(block* b, void (*call)(finalizer_node*) noexcept,
                   void (*destroy)(finalizer_node*) noexcept) noexcept
        : hook_sink<Policy>{&on_death_of, false}, hook_(this), block_(b), call_(call),
          destroy_(destroy) {}

    static void on_death_of(hook_sink<Policy>* self, death_hook<Policy>* /*hook*/) noexcept {
        static_cast<finalizer_node*>(self)->run();
    }

    /// Runs the callback; the hook was taken off the list (state running) by the caller.
    void run() noexcept {
        runner_.store(Policy::this_thread(), std::memory_order_relaxed);
        call_(this); // noexcept: a throwing callback ends the program
        // release: a scoped_finalizer waiting on another thread sees the callback's effects.
        done_.store(true, std::memory_order_release);
        release(); // the list's reference
    }

    void add_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        // acq_rel: whoever deletes the node sees every other user's last access first.
        if (handles_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            destroy_(this);
        }
    }

    death_hook<Policy> hook_;
    block* block_; // never dereferenced unless hook_ is linked (checked under the hook lock)
    // Finalizer handles naming this node, plus 1 while the hook is linked or running.
    typename Policy::template cell<std::uint32_t> handles_{2};
    typename Policy::template cell<bool> done_{false}; // the callback has returned
    typename Policy::template cell<typename Policy::thread_id> runner_{};
    void (*call_)(finalizer_node*) noexcept;
    void (*destroy_)(finalizer_node*) noexcept;
};

template <class Policy, class F> struct finalizer_node_of : finalizer_node<Policy> {
    finalizer_node_of(control_block<Policy>* b, F&& fn)
        : finalizer_node<Policy>(b, &call, &destroy), fn_(std::move(fn)) {}
    finalizer_node_of(control_block<Policy>* b, const F& fn)
        : finalizer_node<Policy>(b, &call, &destroy), fn_(fn) {}
    static void call(finalizer_node<Policy>* n) noexcept {
        static_cast<finalizer_node_of*>(n)->fn_();
    }
    static void destroy(finalizer_node<Policy>* n) noexcept {
        delete static_cast<finalizer_node_of*>(n);
    }
    F fn_;
};

/// A handle to one death callback registration (Python's weakref.finalize). The callback
/// runs exactly once: at the referent's death, or by `f()`; or never, if a `detach()`
/// returned true first. Copies name the same registration. Dropping every handle leaves the
/// callback armed. Thread-safe in weakref::: any handle may be used from any thread while the
/// referent dies on another.
template <class Policy> class basic_finalizer {
public:
    basic_finalizer() noexcept = default;
    basic_finalizer(const basic_finalizer& other) noexcept : node_(other.node_) {
        if (node_ != nullptr) {
            node_->add_handle();
        }
    }
    basic_finalizer(basic_finalizer&& other) noexcept
        : node_(std::exchange(other.node_, nullptr)) {}
    basic_finalizer& operator=(basic_finalizer other) noexcept {
        swap(other);
        return *this;
    }
    ~basic_finalizer() {
        if (node_ != nullptr) {
            node_->release();
        }
    }
    void swap(basic_finalizer& other) noexcept { std::swap(node_, other.node_); }
    friend void swap(basic_finalizer& a, basic_finalizer& b) noexcept { a.swap(b); }

    /// True while the callback is still to run (neither ran, nor is running, nor detached).
    [[nodiscard]] bool alive() const noexcept {
        return node_ != nullptr && control_block<Policy>::armed(node_->block_, &node_->hook_);
    }

    /// Unregisters the callback; true if it was armed (it will now never run). False if it
    /// ran, is running, or was detached already. Exactly one detach() can return true.
    bool detach() noexcept { return detach_state() == detach_result::detached; }

    /// Runs the callback now, on this thread, if it is armed; returns whether it ran.
    bool operator()() noexcept {
        if (node_ == nullptr || !control_block<Policy>::claim(node_->block_, &node_->hook_)) {
            return false;
        }
        node_->run();
        return true;
    }

    /// Takes the node of a new registration (one handle counted for this finalizer).
    explicit basic_finalizer(finalizer_node<Policy>* node) noexcept : node_(node) {}

private:
    friend class basic_scoped_finalizer<Policy>;

    detach_result detach_state() noexcept {
        if (node_ == nullptr) {
            return detach_result::idle;
        }
        const detach_result r = control_block<Policy>::detach(node_->block_, &node_->hook_);
        if (r == detach_result::detached) {
            node_->release(); // the list's reference
        }
        return r;
    }

    /// Detaches; if the callback is running on another thread, waits for it to return.
    void detach_and_wait() noexcept {
        if (detach_state() != detach_result::running) {
            return;
        }
        // acquire: pairs with the release in run(); the callback's effects are visible.
        while (!node_->done_.load(std::memory_order_acquire)) {
            if (node_->runner_.load(std::memory_order_relaxed) == Policy::this_thread()) {
                return; // called from inside the callback itself: waiting would deadlock
            }
            Policy::pause();
        }
    }

    finalizer_node<Policy>* node_ = nullptr;
};

/// Owns a registration and detaches it when destroyed (a weakref callback whose weakref dies
/// first). If the callback is running on another thread at that moment, the destructor waits
/// for it to return, unless it is called from inside that callback. Move-only.
template <class Policy> class basic_scoped_finalizer {
public:
    basic_scoped_finalizer() noexcept = default;
    explicit basic_scoped_finalizer(basic_finalizer<Policy>&& f) noexcept : f_(std::move(f)) {}
    basic_scoped_finalizer(basic_scoped_finalizer&&) noexcept = default;
    basic_scoped_finalizer& operator=(basic_scoped_finalizer&& other) noexcept {
        if (this != &other) {
            f_.detach_and_wait();
            f_ = std::move(other.f_);
        }
        return *this;
    }
    basic_scoped_finalizer(const basic_scoped_finalizer&) = delete;
    basic_scoped_finalizer& operator=(const basic_scoped_finalizer&) = delete;
    ~basic_scoped_finalizer() { f_.detach_and_wait(); }

    [[nodiscard]] bool alive() const noexcept { return f_.alive(); }
    bool detach() noexcept { return f_.detach(); }
    bool operator()() noexcept { return f_(); }
    /// Gives up ownership: the registration stays armed and is no longer detached here.
    basic_finalizer<Policy> release() noexcept { return std::move(f_); }

private:
    basic_finalizer<Policy> f_;
};

/// Registers `fn` to run when the referent of `r` dies (newest first, before its
/// destructor, on the thread that drops the last strong ref). Throws std::invalid_argument
/// if `r` is empty; may throw std::bad_alloc (one allocation). `fn` must not throw.
template <class T, class Policy, class F>
basic_finalizer<Policy> on_death(const basic_ref<T, Policy>& r, F&& fn) {
    using fn_type = std::decay_t<F>;
    static_assert(std::is_invocable_v<fn_type&>,
                  "weakref: on_death takes a callable with no arguments");
    if (!r) {
        throw std::invalid_argument("weakref::on_death: empty ref");
    }
    auto* b = control_block<Policy>::of(r.get());
    auto* node = new finalizer_node_of<Policy, fn_type>(b, std::forward<F>(fn));
    b->link(&node->hook_);
    return basic_finalizer<Policy>(node);
}

} // namespace weakref::detail

namespace weakref {
/// Registers `fn` to run at the death of the referent of `r`; see finalizer.
template <class T, class F> finalizer on_death(const ref<T>& r, F&& fn) {
    return detail::on_death(r, std::forward<F>(fn));
}
namespace local {
template <class T, class F> finalizer on_death(const ref<T>& r, F&& fn) {
    return detail::on_death(r, std::forward<F>(fn));
}
} // namespace local
} // namespace weakref
