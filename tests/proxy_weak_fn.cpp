// SPDX-License-Identifier: MIT
// Behaviour of proxy (Python's weakref.proxy) and weak_fn (Python's weakref.WeakMethod).
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace {

struct counter {
    int n = 0;
    std::string name = "c";

    void bump() { ++n; }
    void add(int k) { n += k; }
    int get() const { return n; }
    int& slot() { return n; }
    std::string greet(const std::string& who) const { return name + ":" + who; }
    std::size_t take(std::unique_ptr<int> p) { return p ? static_cast<std::size_t>(*p) : 0; }
    void set_name(std::string s) { name = std::move(s); }
};

struct adder {
    int base = 0;
    int operator()(int x) const { return base + x; }
};

/// Drops the last strong ref to itself from inside a member call.
struct self_dropper {
    wr::ref<self_dropper>* owner = nullptr;
    int value = 5;
    int drop_owner_and_read() {
        owner->reset();
        return value; // still alive: the call holds the referent
    }
};

struct proxy_tag {};
using live = wrtest::counted<proxy_tag>;
struct live_reader : live {
    live_reader() noexcept : live(4) {}
    int read() const { return value; }
};

} // namespace

// --- proxy ---

TEST_CASE(WEAKREF_FLAVOUR "proxy: p->member reaches the live referent", "[proxy]") {
    auto r = wr::make_ref<counter>();
    wr::proxy<counter> p = r;
    p->bump();
    p->add(4);
    CHECK(p->get() == 5);
    CHECK(r->n == 5);
    p->n = 7;
    CHECK(r->n == 7);
    CHECK(p->greet("x") == "c:x");
    CHECK_FALSE(p.expired());
    CHECK(p.lock() == r);
}

TEST_CASE(WEAKREF_FLAVOUR "proxy: throws bad_weak_ref once the referent died", "[proxy]") {
    auto r = wr::make_ref<counter>();
    wr::proxy<counter> p = r;
    r.reset();
    CHECK(p.expired());
    CHECK_FALSE(p.lock());
#if WEAKREF_TEST_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(p->bump(), weakref::bad_weak_ref);
    REQUIRE_THROWS_AS(p->get(), weakref::bad_weak_ref);
    wr::proxy<counter> empty;
    REQUIRE_THROWS_AS(empty->get(), weakref::bad_weak_ref);
#endif
}

TEST_CASE(WEAKREF_FLAVOUR "proxy: does not keep the referent alive and counts as weak", "[proxy]") {
    wrtest::count_scope<live> scope;
    auto r = wr::make_ref<live>(1);
    wr::proxy<live> p = r;
    CHECK(r.weak_count() == 1);
    CHECK(r.use_count() == 1);
    {
        auto copy = p;
        CHECK(r.weak_count() == 2);
    }
    CHECK(r.weak_count() == 1);
    r.reset();
    CHECK(scope.alive() == 0);
    CHECK(p.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "proxy: p->member keeps the referent alive for the whole expression",
          "[proxy]") {
    auto r = wr::make_ref<self_dropper>();
    r->owner = &r;
    wr::proxy<self_dropper> p = r;
    CHECK(p->drop_owner_and_read() == 5);
    CHECK_FALSE(r);
    CHECK(p.expired()); // it died at the end of that expression
}

namespace {
struct counter_derived : counter {
    int extra = 7;
};
} // namespace

TEST_CASE(WEAKREF_FLAVOUR "proxy: made from handles to a derived or non-const type",
          "[proxy][conversion]") {
    auto d = wr::make_ref<counter_derived>();
    wr::weak_ref<counter_derived> wd = d;
    wr::proxy<counter> from_ref = d;
    wr::proxy<counter> from_weak = wd;
    wr::proxy<const counter> to_const = d;
    from_ref->bump();
    from_weak->bump();
    CHECK(to_const->get() == 2);
    CHECK(d.use_count() == 1);
    CHECK(d.weak_count() == 4); // wd and the three proxies
    static_assert(!std::is_constructible_v<wr::proxy<counter_derived>, wr::ref<counter>>,
                  "no proxy to a derived type from a base handle");
    d.reset();
#if WEAKREF_TEST_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(from_ref->get(), weakref::bad_weak_ref);
#endif
}

TEST_CASE(WEAKREF_FLAVOUR "proxy: copies observe the same referent", "[proxy]") {
    auto r = wr::make_ref<counter>();
    wr::proxy<counter> p = r;
    wr::proxy<counter> q = p;
    wr::proxy<counter> s;
    s = q;
    q->bump();
    s->bump();
    CHECK(p->get() == 2);
    CHECK(p == q);
    CHECK(q == s);
    auto other = wr::make_ref<counter>();
    wr::proxy<counter> o = other;
    CHECK(p != o);
    r.reset();
#if WEAKREF_TEST_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(q->get(), weakref::bad_weak_ref);
    REQUIRE_THROWS_AS(s->get(), weakref::bad_weak_ref);
#endif
    CHECK(p == q); // identity survives the death
}

TEST_CASE(WEAKREF_FLAVOUR "proxy: made from a weak_ref", "[proxy]") {
    auto r = wr::make_ref<counter>();
    wr::weak_ref<counter> w = r;
    wr::proxy<counter> p = w;
    p->bump();
    CHECK(r->n == 1);
    CHECK(p.weak() == w);
#if WEAKREF_TEST_HAS_EXCEPTIONS
    r.reset();
    REQUIRE_THROWS_AS(p->bump(), weakref::bad_weak_ref);
#endif
}

TEST_CASE(WEAKREF_FLAVOUR "proxy: calls a callable referent", "[proxy]") {
    auto r = wr::make_ref<adder>(adder{10});
    wr::proxy<adder> p = r;
    CHECK(p(5) == 15);
#if WEAKREF_TEST_HAS_EXCEPTIONS
    r.reset();
    REQUIRE_THROWS_AS(p(5), weakref::bad_weak_ref);
#endif
}

// --- weak_fn ---

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a void method gives bool", "[weak_fn]") {
    auto r = wr::make_ref<counter>();
    auto f = wr::weak_fn(r, &counter::bump);
    static_assert(std::is_same_v<decltype(f()), bool>);
    CHECK(f());
    CHECK(f());
    CHECK(r->n == 2);
    CHECK_FALSE(f.expired());
    r.reset();
    CHECK(f.expired());
    CHECK_FALSE(f());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a value method gives std::optional", "[weak_fn]") {
    auto r = wr::make_ref<counter>();
    r->n = 3;
    auto get = wr::weak_fn(r, &counter::get); // a const method
    static_assert(std::is_same_v<decltype(get()), std::optional<int>>);
    auto v = get();
    REQUIRE(v.has_value());
    CHECK(*v == 3);
    auto slot = wr::weak_fn(r, &counter::slot); // a reference is returned as a copy
    static_assert(std::is_same_v<decltype(slot()), std::optional<int>>);
    CHECK(slot() == std::optional<int>(3));
    r.reset();
    CHECK_FALSE(get().has_value());
    CHECK_FALSE(slot().has_value());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: forwards its arguments", "[weak_fn]") {
    auto r = wr::make_ref<counter>();
    auto add = wr::weak_fn(r, &counter::add);
    CHECK(add(5));
    CHECK(r->n == 5);
    auto greet = wr::weak_fn(r, &counter::greet);
    CHECK(greet(std::string("y")) == std::optional<std::string>("c:y"));
    auto take = wr::weak_fn(r, &counter::take);
    CHECK(take(std::make_unique<int>(9)) == std::optional<std::size_t>(9)); // move-only argument
    auto set_name = wr::weak_fn(r, &counter::set_name);
    std::string name(100, 'n');
    CHECK(set_name(std::move(name)));
    CHECK(r->name == std::string(100, 'n'));
    r.reset();
    CHECK_FALSE(add(1));
    auto arg = std::make_unique<int>(1);
    CHECK_FALSE(take(std::move(arg)).has_value());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: counts as weak, does not keep alive, holds for the call",
          "[weak_fn]") {
    wrtest::count_scope<live> scope;
    auto l = wr::make_ref<live_reader>();
    auto read = wr::weak_fn(l, &live_reader::read);
    CHECK(read() == std::optional<int>(4));
    l.reset();
    CHECK(scope.alive() == 0);
    CHECK_FALSE(read().has_value());

    auto r = wr::make_ref<self_dropper>();
    r->owner = &r;
    auto f = wr::weak_fn(r, &self_dropper::drop_owner_and_read);
    CHECK(r.weak_count() == 1);
    CHECK(r.use_count() == 1);
    CHECK(f() == std::optional<int>(5));
    CHECK_FALSE(r);
    CHECK(f.expired());
    CHECK_FALSE(f().has_value());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: binds a base class method through a derived handle",
          "[weak_fn]") {
    struct derived : counter {
        int extra = 0;
    };
    auto r = wr::make_ref<derived>();
    auto f = wr::weak_fn(r, &counter::bump);
    CHECK(f());
    CHECK(r->n == 1);
    auto copy = f;
    CHECK(copy());
    CHECK(r->n == 2);
    r.reset();
    CHECK_FALSE(copy());
}
