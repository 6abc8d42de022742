// SPDX-License-Identifier: MIT
// Layout facts of weak_fn, both flavours: the weak handle plus what it stores, no type erasure.
#include "support/catch.hpp"

#include <weakref/weakref.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace {

struct widget {
    int n = 0;
    int get() const { return n; }
};

// Callables of known sizes.
const auto captureless = [](widget& w) { return w.n; };
const auto captures_a_pointer = [p = static_cast<int*>(nullptr)](widget& w) { return w.n + !p; };
struct empty_final final {
    int operator()(widget& w) const { return w.n; }
};
int free_function(widget& w) { return w.n; }

template <template <class> class Ref, class... Args>
using weak_fn_of = decltype(weakref::detail::make_weak_fn(std::declval<const Ref<widget>&>(),
                                                          std::declval<Args>()...));

// A captureless lambda with nothing bound: the weak handle alone, in both flavours.
static_assert(sizeof(weak_fn_of<weakref::ref, decltype(captureless)>) == sizeof(void*));
static_assert(sizeof(weak_fn_of<weakref::local::ref, decltype(captureless)>) == sizeof(void*));
// The handle plus what is stored, nothing else (no std::function, no allocation).
static_assert(sizeof(weak_fn_of<weakref::ref, decltype(captures_a_pointer)>) == 2 * sizeof(void*));
static_assert(sizeof(weak_fn_of<weakref::ref, int (*)(widget&)>) == 2 * sizeof(void*));
static_assert(sizeof(weak_fn_of<weakref::ref, int (&)(widget&)>) == 2 * sizeof(void*));
static_assert(sizeof(weak_fn_of<weakref::ref, int (widget::*)() const>) ==
              sizeof(void*) + sizeof(int(widget::*)() const));
static_assert(sizeof(weak_fn_of<weakref::local::ref, decltype(captureless), int*>) ==
              2 * sizeof(void*));
static_assert(sizeof(weak_fn_of<weakref::ref, decltype(captureless), std::unique_ptr<int>,
                                std::reference_wrapper<int>>) == 3 * sizeof(void*));
// A final empty class cannot be a base: it takes a pointer's room with padding.
static_assert(sizeof(weak_fn_of<weakref::ref, empty_final>) == 2 * sizeof(void*));
static_assert(sizeof(weak_fn_of<weakref::ref, decltype(captureless)>) <
              sizeof(std::function<int(widget&)>));

} // namespace

TEST_CASE("layout: a weak_fn is its weak handle plus its callable and bound arguments",
          "[layout][weak_fn]") {
    auto r = weakref::make_ref<widget>();
    r->n = 2;
    auto f = weakref::weak_fn(r, captureless);
    CHECK(sizeof(f) == sizeof(void*));
    CHECK(f() == std::optional<int>(2));
    auto g = weakref::weak_fn(r, free_function);
    CHECK(sizeof(g) == 2 * sizeof(void*));
    CHECK(g() == std::optional<int>(2));
    auto c = weakref::weak_fn(r, captures_a_pointer);
    CHECK(sizeof(c) == 2 * sizeof(void*));
    CHECK(c() == std::optional<int>(3)); // n + !nullptr
    auto h = weakref::weak_fn(r, empty_final{});
    CHECK(h() == std::optional<int>(2));
    CHECK(f.weak().lock() == r); // the empty callable overlaps the handle and leaves it intact
    r.reset();
    CHECK_FALSE(f().has_value());
}
