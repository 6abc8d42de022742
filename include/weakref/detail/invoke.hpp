// SPDX-License-Identifier: MIT
// invoke and is_reference_wrapper: std::invoke's rules without the rest of <functional>.
#pragma once

// std::invoke is declared in <functional>, which in C++17 also brings std::function, std::bind,
// the searchers and much of <algorithm> (see function_objects.hpp). std::invoke_result_t and
// std::is_invocable_v, which weakref uses with it, are in <type_traits>. Only the call itself
// is written here, as the standard specifies it ([func.require]).
//
// std::reference_wrapper (to unwrap a bound argument, and an object passed by std::ref) is
// defined in <functional>; libstdc++'s <type_traits> declares it, since its own invoke_result
// needs the name, and the specialisation below needs nothing more. Elsewhere, <functional>.
#include <type_traits>
#include <utility>

#if !defined(__GLIBCXX__)
#include <functional>
#endif

namespace weakref::detail {

template <class B> struct is_reference_wrapper : std::false_type {};
template <class U> struct is_reference_wrapper<std::reference_wrapper<U>> : std::true_type {};

/// The member-pointer half of invoke: `pm` is a pointer to a member of C.
template <class M, class C, class Object, class... Args>
constexpr decltype(auto) invoke_member(M C::*pm, Object&& object, Args&&... args) {
    using object_type = std::remove_cv_t<std::remove_reference_t<Object>>;
    if constexpr (std::is_function_v<M>) {
        if constexpr (std::is_base_of_v<C, object_type>) {
            return (std::forward<Object>(object).*pm)(std::forward<Args>(args)...);
        } else if constexpr (is_reference_wrapper<object_type>::value) {
            return (object.get().*pm)(std::forward<Args>(args)...);
        } else {
            return ((*std::forward<Object>(object)).*pm)(std::forward<Args>(args)...);
        }
    } else {
        static_assert(sizeof...(Args) == 0, "weakref: a data member pointer takes no arguments");
        if constexpr (std::is_base_of_v<C, object_type>) {
            return std::forward<Object>(object).*pm;
        } else if constexpr (is_reference_wrapper<object_type>::value) {
            return object.get().*pm;
        } else {
            return (*std::forward<Object>(object)).*pm;
        }
    }
}

/// std::invoke(f, args...): a pointer to member applied to its first argument (an object of the
/// member's class or of a class derived from it, a std::reference_wrapper to one, or a pointer
/// or pointer-like handle to one), anything else called with the arguments.
template <class F, class... Args>
constexpr decltype(auto) invoke(F&& f,
                                Args&&... args) noexcept(std::is_nothrow_invocable_v<F, Args...>) {
    if constexpr (std::is_member_pointer_v<std::decay_t<F>>) {
        return invoke_member(f, std::forward<Args>(args)...);
    } else {
        return std::forward<F>(f)(std::forward<Args>(args)...);
    }
}

} // namespace weakref::detail
