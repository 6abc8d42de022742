// SPDX-License-Identifier: MIT
// The two flavours do not mix, and the type traits say so (hazard 22): generic code that asks
// std::is_convertible or std::is_constructible gets the same answer the compiler gives.
#include "support/catch.hpp"

#include <weakref/weakref.hpp>

#include <optional>
#include <type_traits>
#include <variant>

namespace {

template <class From, class To>
constexpr bool mixes = std::is_convertible_v<From, To> || std::is_constructible_v<To, From> ||
                       std::is_assignable_v<To&, From>;

// Every pair of handles across the flavours, both ways.
static_assert(!mixes<weakref::ref<int>, weakref::local::ref<int>>);
static_assert(!mixes<weakref::local::ref<int>, weakref::ref<int>>);
static_assert(!mixes<weakref::weak_ref<int>, weakref::local::weak_ref<int>>);
static_assert(!mixes<weakref::local::weak_ref<int>, weakref::weak_ref<int>>);
static_assert(!mixes<weakref::ref<int>, weakref::local::weak_ref<int>>);
static_assert(!mixes<weakref::local::ref<int>, weakref::weak_ref<int>>);
static_assert(!mixes<const weakref::ref<int>&, weakref::local::ref<int>>);
static_assert(!mixes<weakref::ref<int>&&, weakref::local::weak_ref<int>>);

// What generic code builds on those traits sees no conversion either.
static_assert(!std::is_constructible_v<std::optional<weakref::local::ref<int>>, weakref::ref<int>>);
static_assert(
    !std::is_constructible_v<std::variant<int, weakref::local::ref<int>>, weakref::ref<int>>);

// Within one flavour the conversions are still there.
static_assert(std::is_convertible_v<weakref::ref<int>, weakref::weak_ref<int>>);
static_assert(std::is_convertible_v<weakref::local::ref<int>, weakref::local::weak_ref<int>>);
static_assert(std::is_constructible_v<weakref::ref<int>, weakref::weak_ref<int>>);

} // namespace

TEST_CASE("flavours: the type traits refuse every conversion between the flavours",
          "[flavours][hazard-22]") {
    // The static_asserts above are the test; this case keeps one run-time fact beside them.
    std::variant<int, weakref::local::ref<int>> v = weakref::local::make_ref<int>(3);
    CHECK(*std::get<weakref::local::ref<int>>(v) == 3);
}
