// SPDX-License-Identifier: MIT
// proxy: Python's weakref.proxy, a weak handle used like a pointer that throws once dead.
#pragma once

#include "detail/invoke.hpp"
#include "weak_ref.hpp"

#include <type_traits>
#include <utility>

namespace weakref::detail {

/// A weak handle that is used like a pointer: `p->member` locks the referent, keeps it alive
/// for the whole full-expression, and throws bad_weak_ref if it died. Copies freely (the
/// implicit copy and move); counts as a weak observer. Threads: handle rule. Every operation
/// is O(1), plus the member access or call.
template <class T, class Policy> class basic_proxy {
public:
    /// What `operator->` returns: holds the referent strongly until the end of the
    /// full-expression that used it.
    class arrow {
    public:
        /// The referent, alive while this arrow lives. O(1).
        T* operator->() const noexcept { return held_.get(); }

    private:
        friend class basic_proxy;
        explicit arrow(basic_ref<T, Policy>&& r) noexcept : held_(std::move(r)) {}
        basic_ref<T, Policy> held_;
    };

    /// An empty proxy; it behaves as dead.
    basic_proxy() = default;
    ///@{
    /// Observes the referent of `r` or `w` (implicit). Throws nothing (the `ref` form is not
    /// declared noexcept). O(1).
    basic_proxy(const basic_ref<T, Policy>& r) : weak_(r) {} // NOLINT(google-explicit-constructor)
    basic_proxy(basic_weak_ref<T, Policy> w) noexcept        // NOLINT(google-explicit-constructor)
        : weak_(std::move(w)) {}
    ///@}
    ///@{
    /// From a handle to a derived type (or a less const-qualified one), as the handles convert:
    /// std::bad_cast where the `T` part is not at the object's own address. O(1).
    template <class U,
              class = std::enable_if_t<!std::is_same_v<U, T> && std::is_convertible_v<U*, T*>>>
    basic_proxy(const basic_ref<U, Policy>& r) // NOLINT(google-explicit-constructor)
        : weak_(r) {}
    template <class U,
              class = std::enable_if_t<!std::is_same_v<U, T> && std::is_convertible_v<U*, T*>>>
    basic_proxy(const basic_weak_ref<U, Policy>& w) // NOLINT(google-explicit-constructor)
        : weak_(w) {}
    ///@}

    /// Locks the referent and returns an arrow that holds it to the end of the full-expression
    /// (if that is the last strong ref, the death runs there, on this thread). Throws
    /// bad_weak_ref if the referent died (or the proxy is empty). O(1); lock-free in weakref::.
    arrow operator->() const { return arrow(lock_or_throw()); }

    /// Calls the referent (for callable `T`) as `std::invoke(referent, args...)`, holding it
    /// for the call. Throws bad_weak_ref if dead, else what the call throws.
    template <class... Args>
    auto operator()(Args&&... args) const -> std::invoke_result_t<T&, Args&&...> {
        auto r = lock_or_throw();
        return detail::invoke(*r, std::forward<Args>(args)...);
    }

    /// The referent, strongly; empty if it died. As weak_ref::lock(). O(1).
    [[nodiscard]] basic_ref<T, Policy> lock() const noexcept { return weak_.lock(); }
    /// True if empty or the referent died; as weak_ref::expired(), may be stale. O(1).
    [[nodiscard]] bool expired() const noexcept { return weak_.expired(); }
    /// The weak_ref this proxy holds. O(1).
    [[nodiscard]] const basic_weak_ref<T, Policy>& weak() const noexcept { return weak_; }

    ///@{
    /// Identity of the referent, as for weak_ref. O(1).
    friend bool operator==(const basic_proxy& a, const basic_proxy& b) noexcept {
        return a.weak_ == b.weak_;
    }
    friend bool operator!=(const basic_proxy& a, const basic_proxy& b) noexcept {
        return a.weak_ != b.weak_;
    }
    ///@}

private:
    basic_ref<T, Policy> lock_or_throw() const {
        auto r = weak_.lock();
        if (!r) {
            WEAKREF_THROW(bad_weak_ref());
        }
        return r;
    }

    basic_weak_ref<T, Policy> weak_;
};

} // namespace weakref::detail
