// SPDX-License-Identifier: MIT
// detail::invoke, weakref's own std::invoke (which spares its headers <functional>): the same
// result, value category and noexcept as std::invoke for every kind of callable weakref calls.
#include "support/catch.hpp"

#include <weakref/detail/invoke.hpp>

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace {

struct base {
    int value = 1;
    int get() const { return value; }
    int add(int n) noexcept { return value += n; }
    int on_lvalue() & { return 1; }
    int on_rvalue() && { return 2; }
};
struct derived : base {};

int twice(int n) { return 2 * n; }

/// Both calls give the same type (value category included) and the same noexcept.
template <class... A> constexpr bool same_as_std() {
    return std::is_same_v<decltype(weakref::detail::invoke(std::declval<A>()...)),
                          decltype(std::invoke(
                              std::declval<A>()...))>&& noexcept(weakref::detail::
                                                                     invoke(
                                                                         std::declval<A>()...)) ==
           noexcept(std::invoke(std::declval<A>()...));
}

using get_fn = int (base::*)() const;
using add_fn = int (base::*)(int) noexcept;
using value_ptr = int base::*;

static_assert(same_as_std<int (&)(int), int>());
static_assert(same_as_std<add_fn, base&, int>());
static_assert(same_as_std<add_fn, derived&, int>());
static_assert(same_as_std<add_fn, base*, int>());
static_assert(same_as_std<get_fn, const std::unique_ptr<derived>&>());
static_assert(same_as_std<get_fn, std::reference_wrapper<const derived>>());
static_assert(same_as_std<value_ptr, base&>());
static_assert(same_as_std<value_ptr, base&&>());
static_assert(same_as_std<value_ptr, const derived&>());
static_assert(same_as_std<value_ptr, base*>());
static_assert(same_as_std<value_ptr, std::reference_wrapper<base>>());
static_assert(same_as_std<int (base::*)() &&, base&&>());

} // namespace

TEST_CASE("invoke: calls what std::invoke calls, on the same object", "[detail][invoke]") {
    namespace d = weakref::detail;
    derived object;
    CHECK(d::invoke(twice, 21) == 42);
    CHECK(d::invoke([](int a, int b) { return a - b; }, 5, 3) == 2);
    CHECK(d::invoke(&base::add, object, 2) == 3);
    CHECK(d::invoke(&base::add, &object, 2) == 5);
    auto owned = std::make_unique<derived>();
    CHECK(d::invoke(&base::add, owned, 4) == 5);
    CHECK(owned->value == 5);
    CHECK(d::invoke(&base::get, std::cref(object)) == 5);
    d::invoke(&base::value, std::ref(object)) = 9;
    CHECK(object.value == 9);
    d::invoke(&base::value, &object) += 1;
    CHECK(object.value == 10);
    CHECK(d::invoke(&base::on_lvalue, object) == 1);
    CHECK(d::invoke(&base::on_rvalue, derived{}) == 2);
    int moved_from = d::invoke(&base::value, derived{});
    CHECK(moved_from == 1);
}
