// SPDX-License-Identifier: MIT
// weak_fn: Python's weakref.WeakMethod, a member function bound to a weak handle.
#pragma once

#include "weak_ref.hpp"

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace weakref::detail {

/// A callable that calls `method` on the referent while it lives. The call holds the
/// referent strongly for its duration. A void method gives `bool` (whether it ran); any other
/// gives `std::optional<R>` with R the result with references and cv removed (a copy: the
/// referent may die right after the call). Counts as a weak observer.
template <class T, class Method, class Policy> class basic_weak_fn {
    static_assert(std::is_member_function_pointer_v<Method>,
                  "weakref: weak_fn takes a pointer to a member function, e.g. &T::method");

public:
    basic_weak_fn(const basic_ref<T, Policy>& r, Method method) : weak_(r), method_(method) {}

    template <class... Args> auto operator()(Args&&... args) const {
        static_assert(std::is_invocable_v<Method, T&, Args&&...>,
                      "weakref: weak_fn called with arguments the method does not take");
        using result = std::invoke_result_t<Method, T&, Args&&...>;
        auto r = weak_.lock();
        if constexpr (std::is_void_v<result>) {
            if (!r) {
                return false;
            }
            std::invoke(method_, *r, std::forward<Args>(args)...);
            return true;
        } else {
            using value = std::remove_cv_t<std::remove_reference_t<result>>;
            if (!r) {
                return std::optional<value>();
            }
            return std::optional<value>(std::invoke(method_, *r, std::forward<Args>(args)...));
        }
    }

    [[nodiscard]] bool expired() const noexcept { return weak_.expired(); }
    [[nodiscard]] const basic_weak_ref<T, Policy>& weak() const noexcept { return weak_; }

private:
    basic_weak_ref<T, Policy> weak_;
    Method method_;
};

template <class T, class Policy, class Method>
basic_weak_fn<T, Method, Policy> make_weak_fn(const basic_ref<T, Policy>& r, Method method) {
    static_assert(std::is_member_function_pointer_v<Method>,
                  "weakref: weak_fn takes a pointer to a member function, e.g. &T::method");
    return basic_weak_fn<T, Method, Policy>(r, method);
}

} // namespace weakref::detail

namespace weakref {
/// Binds `method` to the referent of `r` weakly (Python's WeakMethod).
template <class T, class Method> auto weak_fn(const ref<T>& r, Method method) {
    return detail::make_weak_fn(r, method);
}
namespace local {
template <class T, class Method> auto weak_fn(const ref<T>& r, Method method) {
    return detail::make_weak_fn(r, method);
}
} // namespace local
} // namespace weakref
