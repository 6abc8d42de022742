// SPDX-License-Identifier: MIT
// Behaviour of weak_anchor, observer and pinned: expiry at invalidate() and destruction,
// generations, pins, const access, layout, in both flavours.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct widget_tag {};

/// A uniquely owned object that can be observed: the anchor is its last member.
struct widget : wrtest::counted<widget_tag> {
    explicit widget(int v) : wrtest::counted<widget_tag>(v) {}
    std::string title = "untitled";
    wr::weak_anchor<widget> anchor{this};
};

struct base {
    int b = 1;
};
struct derived : base {
    int d = 2;
    wr::weak_anchor<derived> anchor{this};
};

/// An object that observes itself: its own observer dies with it, before or after the anchor.
struct self_observer {
    wr::observer<self_observer> before; // destroyed after the anchor
    wr::weak_anchor<self_observer> anchor{this};
    wr::observer<self_observer> after{anchor.observe()}; // destroyed before the anchor
    self_observer() { before = anchor.observe(); } // not a mem-initializer: anchor comes later
};

// One pointer each, in both flavours, whatever T.
static_assert(sizeof(wr::observer<widget>) == sizeof(void*));
static_assert(sizeof(wr::observer<const widget>) == sizeof(void*));
static_assert(sizeof(wr::pinned<widget>) == sizeof(void*));
static_assert(sizeof(wr::weak_anchor<widget>) == sizeof(void*));
static_assert(sizeof(wr::observer<wrtest::over_aligned>) == sizeof(void*));
static_assert(sizeof(wr::weak_anchor<std::set<int>>) == sizeof(void*));

// observer copies; pinned moves only; the anchor neither.
static_assert(std::is_nothrow_default_constructible_v<wr::observer<widget>>);
static_assert(std::is_nothrow_copy_constructible_v<wr::observer<widget>>);
static_assert(std::is_nothrow_move_constructible_v<wr::observer<widget>>);
static_assert(std::is_nothrow_default_constructible_v<wr::pinned<widget>>);
static_assert(!std::is_copy_constructible_v<wr::pinned<widget>>);
static_assert(!std::is_copy_assignable_v<wr::pinned<widget>>);
static_assert(std::is_nothrow_move_constructible_v<wr::pinned<widget>>);
static_assert(std::is_nothrow_move_assignable_v<wr::pinned<widget>>);
static_assert(!std::is_copy_constructible_v<wr::weak_anchor<widget>>);
static_assert(!std::is_move_constructible_v<wr::weak_anchor<widget>>);
static_assert(!std::is_copy_assignable_v<wr::weak_anchor<widget>>);
static_assert(!std::is_move_assignable_v<wr::weak_anchor<widget>>);
// The anchor is made explicitly from the object's address.
static_assert(!std::is_convertible_v<widget*, wr::weak_anchor<widget>>);
// pinned tests as a bool only explicitly.
static_assert(!std::is_convertible_v<wr::pinned<widget>, bool>);
static_assert(std::is_constructible_v<bool, wr::pinned<widget>>);

// Const access: observer<T> and pinned<T> convert to their const forms, never back, and never
// to a base (an observer has no room for an adjusted address); the traits say so (no
// constructor that a static_assert would refuse later).
static_assert(std::is_convertible_v<wr::observer<widget>, wr::observer<const widget>>);
static_assert(std::is_convertible_v<wr::pinned<widget>&&, wr::pinned<const widget>>);
static_assert(!std::is_convertible_v<wr::observer<const widget>, wr::observer<widget>>);
static_assert(!std::is_convertible_v<wr::pinned<const widget>&&, wr::pinned<widget>>);
static_assert(!std::is_constructible_v<wr::observer<base>, wr::observer<derived>>);
static_assert(!std::is_constructible_v<wr::pinned<base>, wr::pinned<derived>&&>);

// The flavours do not mix.
static_assert(
    !std::is_constructible_v<weakref::observer<widget>, weakref::local::observer<widget>>);

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: lock() pins the object while the anchor lives",
          "[weak_anchor]") {
    widget w(7);
    wr::observer<widget> o = w.anchor.observe();
    CHECK_FALSE(o.expired());
    wr::pinned<widget> p = o.lock();
    REQUIRE(p);
    CHECK(p.get() == &w);
    CHECK(&*p == &w);
    CHECK(p->value == 7);
    p->title = "changed through the pin";
    CHECK(w.title == "changed through the pin");
    // A second pin and a second observer name the same object.
    wr::observer<widget> o2 = w.anchor.observe();
    wr::pinned<widget> p2 = o2.lock();
    CHECK(p2.get() == &w);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: invalidate() expires every observer; the object lives on",
          "[weak_anchor]") {
    wrtest::count_scope<widget> scope;
    widget w(3);
    std::vector<wr::observer<widget>> observers;
    for (int i = 0; i < 10; ++i) {
        observers.push_back(w.anchor.observe());
    }
    wr::observer<widget> copy = observers.front();
    for (const auto& o : observers) {
        REQUIRE_FALSE(o.expired());
    }
    w.anchor.invalidate();
    for (const auto& o : observers) {
        CHECK(o.expired());
        CHECK_FALSE(o.lock());
        CHECK(o.lock().get() == nullptr);
    }
    CHECK(copy.expired());
    CHECK_FALSE(copy.lock());
    // The object itself was not touched.
    CHECK(scope.alive() == 1);
    CHECK(w.value == 3);
    // A second invalidate() with nothing observed since does nothing.
    w.anchor.invalidate();
    CHECK(observers.back().expired());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: the anchor's destruction expires every observer",
          "[weak_anchor]") {
    wrtest::count_scope<widget> scope;
    auto owner = std::make_unique<widget>(5);
    wr::observer<widget> o = owner->anchor.observe();
    wr::observer<const widget> c = o;
    REQUIRE(o.lock()->value == 5);
    owner.reset();
    CHECK(scope.alive() == 0);
    CHECK(o.expired());
    CHECK(c.expired());
    CHECK_FALSE(o.lock());
    CHECK_FALSE(c.lock());
    // Observers of a dead object copy, assign and die without touching it.
    wr::observer<widget> late = o;
    CHECK(late.expired());
    late = wr::observer<widget>();
    CHECK(late.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: observe() after invalidate() starts a new generation; the "
                          "old observers stay expired",
          "[weak_anchor]") {
    widget w(1);
    wr::observer<widget> first = w.anchor.observe();
    w.anchor.invalidate();
    REQUIRE(first.expired());

    wr::observer<widget> second = w.anchor.observe();
    CHECK_FALSE(second.expired());
    CHECK(second.lock().get() == &w);
    CHECK(first.expired());
    CHECK_FALSE(first.lock());

    // Copies join the generation of their source, not the anchor's current one.
    wr::observer<widget> first_copy = first;
    CHECK(first_copy.expired());

    w.anchor.invalidate();
    CHECK(second.expired());
    wr::observer<widget> third = w.anchor.observe();
    CHECK(third.lock().get() == &w);
    CHECK(first.expired());
    CHECK(second.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: a default-constructed observer is expired and a default "
                          "pinned is empty",
          "[weak_anchor]") {
    wr::observer<widget> o;
    CHECK(o.expired());
    CHECK_FALSE(o.lock());
    wr::pinned<widget> p;
    CHECK_FALSE(p);
    CHECK(p.get() == nullptr);
    wr::pinned<widget> locked = o.lock();
    CHECK_FALSE(locked);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: observers, pins and the anchor are one pointer each",
          "[weak_anchor][layout]") {
    CHECK(sizeof(wr::observer<widget>) == sizeof(void*));
    CHECK(sizeof(wr::pinned<widget>) == sizeof(void*));
    CHECK(sizeof(wr::weak_anchor<widget>) == sizeof(void*));
    // So the anchor costs its object one pointer.
    struct bare {
        wrtest::counted<widget_tag> c;
        std::string title;
    };
    CHECK(sizeof(widget) == sizeof(bare) + sizeof(void*));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: a moved pin moves its hold; reset() lets go",
          "[weak_anchor]") {
    widget w(2);
    wr::observer<widget> o = w.anchor.observe();
    wr::pinned<widget> a = o.lock();
    REQUIRE(a);
    wr::pinned<widget> b = std::move(a);
    CHECK_FALSE(a); // NOLINT(bugprone-use-after-move): a moved-from pin is empty
    CHECK(b.get() == &w);
    a = std::move(b);
    CHECK(a.get() == &w);
    CHECK_FALSE(b); // NOLINT(bugprone-use-after-move)
    swap(a, b);
    CHECK_FALSE(a);
    CHECK(b.get() == &w);
    b.reset();
    CHECK_FALSE(b);
    // Every pin is released: invalidate() is free to go on at once (in weakref::local:: a pin
    // left here would be a caught error).
    w.anchor.invalidate();
    CHECK(o.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: observer copies, moves, swaps and resets",
          "[weak_anchor]") {
    widget x(1);
    widget y(2);
    wr::observer<widget> ox = x.anchor.observe();
    wr::observer<widget> oy = y.anchor.observe();
    wr::observer<widget> moved = std::move(ox);
    CHECK(ox.expired()); // NOLINT(bugprone-use-after-move): a moved-from observer is expired
    CHECK(moved.lock().get() == &x);
    swap(moved, oy);
    CHECK(moved.lock().get() == &y);
    CHECK(oy.lock().get() == &x);
    oy = moved;
    CHECK(oy.lock().get() == &y);
    const wr::observer<widget>& same = oy;
    oy = same; // self-assignment keeps the observer
    CHECK(oy.lock().get() == &y);
    moved.reset();
    CHECK(moved.expired());
    CHECK(oy.lock().get() == &y);
    y.anchor.invalidate();
    CHECK(oy.expired());
    CHECK_FALSE(x.anchor.observe().expired());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: a const object gives observers of const", "[weak_anchor]") {
    widget w(9);
    const widget& cw = w;
    auto c = cw.anchor.observe();
    static_assert(std::is_same_v<decltype(c), wr::observer<const widget>>);
    static_assert(std::is_same_v<decltype(c.lock()), wr::pinned<const widget>>);
    static_assert(std::is_same_v<decltype(c.lock().get()), const widget*>);
    CHECK(c.lock()->value == 9);
    // A mutable observer converts to a const one of the same generation, a pin likewise.
    wr::observer<const widget> from_mutable = w.anchor.observe();
    wr::pinned<const widget> pin = w.anchor.observe().lock();
    CHECK(pin.get() == &w);
    pin.reset();
    w.anchor.invalidate();
    CHECK(c.expired());
    CHECK(from_mutable.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: a pin outlives the observer it came from",
          "[weak_anchor]") {
    widget w(4);
    wr::pinned<widget> p = w.anchor.observe().lock(); // the observer is a temporary
    REQUIRE(p);
    CHECK(p->value == 4);
    p.reset();
    w.anchor.invalidate();
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: an anchor outside its object, over any object type",
          "[weak_anchor]") {
    std::set<int> s{1, 2, 3};
    wr::observer<std::set<int>> o;
    {
        wr::weak_anchor<std::set<int>> anchor(&s);
        o = anchor.observe();
        CHECK(o.lock()->count(2) == 1);
    }
    CHECK(o.expired());
    CHECK(s.size() == 3);

    wrtest::over_aligned big(11);
    wr::weak_anchor<wrtest::over_aligned> big_anchor(&big);
    CHECK(big_anchor.observe().lock()->value == 11);

    const int constant = 8;
    wr::weak_anchor<const int> int_anchor(&constant);
    CHECK(*int_anchor.observe().lock() == 8);
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: a null object throws std::invalid_argument",
          "[needs-exceptions][weak_anchor]") {
    widget* none = nullptr;
    CHECK_THROWS_AS(wr::weak_anchor<widget>(none), std::invalid_argument);
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: an object observing itself dies cleanly", "[weak_anchor]") {
    wr::observer<self_observer> outside;
    {
        self_observer s;
        CHECK(s.before.lock().get() == &s);
        CHECK(s.after.lock().get() == &s);
        outside = s.after;
    }
    CHECK(outside.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_anchor: a derived class observes itself; the base's part is "
                          "reached through the pin",
          "[weak_anchor]") {
    derived d;
    wr::observer<derived> o = d.anchor.observe();
    wr::pinned<derived> p = o.lock();
    base* as_base = p.get();
    CHECK(as_base->b == 1);
    CHECK(p->d == 2);
}
