// SPDX-License-Identifier: MIT
// weak_fn: Python's weakref.WeakMethod, a method or any callable bound weakly to an object,
// with bound arguments (Unreal's BindWeakLambda, Chromium's BindOnce(f, weak_ptr, args...)).
#pragma once

#include "detail/invoke.hpp"
#include "weak_ref.hpp"

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weakref::detail {

// weak_fn's helpers, in a namespace of their own so that other headers' helpers may take the
// same short names.
namespace weak_fn_impl {

/// Holds a `V`. When `V` is empty and not final it is a base, so it takes no room (C++17 has no
/// [[no_unique_address]]); `Index` keeps two boxes apart when they hold one type.
template <class V, std::size_t Index, bool AsBase = std::is_empty_v<V> && !std::is_final_v<V>>
class ebo_box {
public:
    template <class... U>
    explicit ebo_box(std::in_place_t /*unused*/, U&&... u) : value_(std::forward<U>(u)...) {}
    V& get() noexcept { return value_; }
    const V& get() const noexcept { return value_; }

private:
    V value_;
};
template <class V, std::size_t Index> class ebo_box<V, Index, true> : private V {
public:
    template <class... U>
    explicit ebo_box(std::in_place_t /*unused*/, U&&... u) : V(std::forward<U>(u)...) {}
    V& get() noexcept { return *this; }
    const V& get() const noexcept { return *this; }
};

/// How a weak_fn passes a bound argument, as std::bind does: a std::reference_wrapper<U> as the
/// `U&` it refers to, anything else as the lvalue stored in the weak_fn (const in a const call).
template <class B> decltype(auto) pass_bound(B& bound) noexcept {
    if constexpr (is_reference_wrapper<std::remove_const_t<B>>::value) {
        return bound.get();
    } else {
        return (bound);
    }
}

} // namespace weak_fn_impl

/// What `weak_fn` returns: a callable that, while the referent of `r` lives, calls
/// `std::invoke(fn, referent, bound..., args...)`: `fn(referent, bound..., args...)` for a
/// callable, `(referent.*fn)(bound..., args...)` for a pointer to member function. The call holds
/// the referent strongly for its duration. A void result gives `bool` (whether it ran); any
/// other gives `std::optional<R>` with R the result with references and cv removed (a copy: the
/// referent may die right after the call).
///
/// `Fn` and `Bound...` are decayed copies, held inline (no type erasure, no allocation): the
/// size is one pointer plus `Fn` plus the bound arguments, and one pointer for an empty `Fn`
/// with nothing bound. Copyable when they all are, movable when they all are. Counts as one
/// weak observer. Threads: handle rule; the const call may run on one weak_fn from several
/// threads at once when `Fn`'s const call operator may.
template <class T, class Fn, class Policy, class... Bound> class basic_weak_fn {
    static_assert(!std::is_member_object_pointer_v<Fn>,
                  "weakref: weak_fn takes a callable or a member function pointer, not a data "
                  "member pointer");
    static_assert(std::is_same_v<Fn, std::decay_t<Fn>> &&
                      (std::is_same_v<Bound, std::decay_t<Bound>> && ...),
                  "weakref: basic_weak_fn holds decayed types; make one with weak_fn(r, fn, ...)");

public:
    /// Observes the referent of `r` (nothing if empty); stores `fn` and `bound...` as
    /// `Fn(std::forward<F>(fn))` and `Bound(std::forward<B>(bound))...`. Throws what those
    /// throw. Asserts (debug builds) that a pointer `Fn` is not null.
    template <class F, class... B, std::enable_if_t<sizeof...(B) == sizeof...(Bound), int> = 0>
    basic_weak_fn(const basic_ref<T, Policy>& r, F&& fn, B&&... bound)
        : state_(r, std::forward<F>(fn), std::forward<B>(bound)...) {
        if constexpr (std::is_pointer_v<Fn> || std::is_member_function_pointer_v<Fn>) {
            WEAKREF_ASSERT(state_.fn() != nullptr, "weak_fn with a null pointer to a function");
        }
    }

    /// Calls `fn(referent, bound..., args...)` if the referent lives; see the class. Throws what
    /// the call throws, and what copying its result throws.
    template <class... Args> auto operator()(Args&&... args) {
        return call(state_, std::index_sequence_for<Bound...>(), std::forward<Args>(args)...);
    }
    /// The same through a const weak_fn: `fn` and the bound arguments are const.
    template <class... Args> auto operator()(Args&&... args) const {
        return call(state_, std::index_sequence_for<Bound...>(), std::forward<Args>(args)...);
    }

    /// True if the referent died (or `r` was empty). A snapshot, as weak_ref::expired.
    [[nodiscard]] bool expired() const noexcept { return state_.weak.expired(); }
    /// The weak handle the calls lock.
    [[nodiscard]] const basic_weak_ref<T, Policy>& weak() const noexcept { return state_.weak; }

private:
    using fn_box = weak_fn_impl::ebo_box<Fn, 0>;
    using bound_box = weak_fn_impl::ebo_box<std::tuple<Bound...>, 1>;

    // The callable and the bound arguments are (empty) bases where they can be, so a weak_fn of
    // a captureless lambda with nothing bound is the weak_ref alone. They live in a member, not
    // in bases of basic_weak_fn, so that their members (a lambda's conversion to a function
    // pointer, say) never become the weak_fn's.
    struct state : fn_box, bound_box {
        template <class F, class... B>
        state(const basic_ref<T, Policy>& r, F&& f, B&&... b)
            : fn_box(std::in_place, std::forward<F>(f)),
              bound_box(std::in_place, std::forward<B>(b)...), weak(r) {}
        Fn& fn() noexcept { return fn_box::get(); }
        const Fn& fn() const noexcept { return fn_box::get(); }
        /// The I-th bound argument as the call passes it.
        template <std::size_t I> decltype(auto) bound() noexcept {
            return weak_fn_impl::pass_bound(std::get<I>(bound_box::get()));
        }
        template <std::size_t I> decltype(auto) bound() const noexcept {
            return weak_fn_impl::pass_bound(std::get<I>(bound_box::get()));
        }

        basic_weak_ref<T, Policy> weak; // the referent; counts as one weak observer
    };

    // What the call passes the callable, for `state` or `const state`.
    template <class Self> using fn_of = decltype(std::declval<Self&>().fn());
    template <class Self, std::size_t I>
    using bound_of = decltype(std::declval<Self&>().template bound<I>());

    // Self is `state` or `const state`: the call is const exactly when the weak_fn is.
    template <class Self, std::size_t... I, class... Args>
    static auto call(Self& self, std::index_sequence<I...> /*unused*/, Args&&... args) {
        constexpr bool ok = std::is_invocable_v<fn_of<Self>, T&, bound_of<Self, I>..., Args&&...>;
        if constexpr (!ok) {
            // Say why. The probes run only here: asking whether a generic lambda takes other
            // arguments instantiates its body, which may not compile for them.
            // Would the call work through a non-const weak_fn, or with a non-const referent?
            constexpr bool needs_mutable_fn =
                std::is_invocable_v<fn_of<state>, T&, bound_of<state, I>..., Args&&...>;
            constexpr bool needs_mutable_referent =
                std::conjunction_v<std::bool_constant<!needs_mutable_fn>,
                                   std::is_invocable<fn_of<Self>, std::remove_const_t<T>&,
                                                     bound_of<Self, I>..., Args&&...>>;
            constexpr bool other = !needs_mutable_fn && !needs_mutable_referent;
            static_assert(!needs_mutable_fn,
                          "weakref: a const weak_fn passes its callable and bound arguments as "
                          "const, and this call needs them non-const (a mutable lambda?): call it "
                          "through a non-const weak_fn");
            static_assert(!needs_mutable_referent,
                          "weakref: weak_fn's referent is const (a ref<const T>), but the method "
                          "or callable needs a non-const T&");
            static_assert(!other || !std::is_member_function_pointer_v<Fn>,
                          "weakref: weak_fn called with arguments the method does not take");
            static_assert(!other || std::is_member_function_pointer_v<Fn>,
                          "weakref: weak_fn's callable is not invocable as fn(T&, bound..., "
                          "args...) with these arguments");
            return false; // not reached: a static_assert above failed
        } else {
            using result = std::invoke_result_t<fn_of<Self>, T&, bound_of<Self, I>..., Args&&...>;
            auto r = self.weak.lock(); // held until the call returned (or threw)
            if constexpr (std::is_void_v<result>) {
                if (!r) {
                    return false;
                }
                detail::invoke(self.fn(), *r, self.template bound<I>()...,
                               std::forward<Args>(args)...);
                return true;
            } else {
                using value = std::remove_cv_t<std::remove_reference_t<result>>;
                if (!r) {
                    return std::optional<value>();
                }
                return std::optional<value>(detail::invoke(
                    self.fn(), *r, self.template bound<I>()..., std::forward<Args>(args)...));
            }
        }
    }

    state state_;
};

template <class T, class Policy, class F, class... B>
basic_weak_fn<T, std::decay_t<F>, Policy, std::decay_t<B>...>
make_weak_fn(const basic_ref<T, Policy>& r, F&& fn, B&&... bound) {
    static_assert(!std::is_member_object_pointer_v<std::decay_t<F>>,
                  "weakref: weak_fn takes a callable or a member function pointer, not a data "
                  "member pointer");
    static_assert(std::is_constructible_v<std::decay_t<F>, F&&>,
                  "weakref: weak_fn stores a copy of the callable: move a move-only one in "
                  "(std::move)");
    static_assert((std::is_constructible_v<std::decay_t<B>, B&&> && ...),
                  "weakref: weak_fn stores copies of its bound arguments: move a move-only one in "
                  "(std::move), or bind a reference with std::ref");
    return basic_weak_fn<T, std::decay_t<F>, Policy, std::decay_t<B>...>(r, std::forward<F>(fn),
                                                                         std::forward<B>(bound)...);
}

} // namespace weakref::detail

namespace weakref {
/// Binds `fn` and `bound...` to the referent of `r` weakly: Python's WeakMethod for a pointer to
/// member function, and any callable invoked as `fn(T&, bound..., args...)` while the referent
/// lives. Bound arguments are stored as decayed copies (std::ref binds a reference) and passed
/// as lvalues. Returns a detail::basic_weak_fn (see there); allocates nothing.
template <class T, class F, class... Bound>
auto weak_fn(const ref<T>& r, F&& fn, Bound&&... bound) {
    return detail::make_weak_fn(r, std::forward<F>(fn), std::forward<Bound>(bound)...);
}
namespace local {
template <class T, class F, class... Bound>
auto weak_fn(const ref<T>& r, F&& fn, Bound&&... bound) {
    return detail::make_weak_fn(r, std::forward<F>(fn), std::forward<Bound>(bound)...);
}
} // namespace local
} // namespace weakref
