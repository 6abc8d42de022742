// SPDX-License-Identifier: MIT
// Behaviour of weak_fn with any callable and bound arguments (methods alone: proxy_weak_fn.cpp).
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct widget {
    int n = 0;
    std::string name = "w";
    std::vector<std::string> log;

    void bump() { ++n; }
    int get() const { return n; }
    std::string describe(const std::string& prefix, int times) const {
        return prefix + name + std::to_string(n * times);
    }
};

int twice(widget& w, int k) { return 2 * (w.n + k); }
void note(widget& w, const std::string& s) { w.log.push_back(s); }

/// A function object that says which of its call operators ran.
struct which_call {
    std::string operator()(widget& /*unused*/) { return "non-const"; }
    std::string operator()(widget& /*unused*/) const { return "const"; }
};

/// A function object that says whether it received its argument as an lvalue or an rvalue.
struct value_category {
    std::string operator()(widget& /*unused*/, std::string& /*unused*/) const { return "lvalue"; }
    std::string operator()(widget& /*unused*/, std::string&& /*unused*/) const { return "rvalue"; }
};

/// Drops the last strong ref to the widget from inside the call.
struct dropper {
    wr::ref<widget>* owner;
    int operator()(widget& w) const {
        owner->reset();
        return w.n; // still alive: the call holds the referent
    }
};

struct bound_tag {};
using bound_counted = wrtest::counted<bound_tag>;

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a lambda is called with the referent while it lives",
          "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    int calls = 0;
    auto bump = wr::weak_fn(r, [&calls](widget& w) {
        ++calls;
        ++w.n;
    });
    auto read = wr::weak_fn(r, [](const widget& w) { return w.n * 10; });
    static_assert(std::is_same_v<decltype(bump()), bool>);
    static_assert(std::is_same_v<decltype(read()), std::optional<int>>);
    CHECK(bump());
    CHECK(bump());
    CHECK(r->n == 2);
    CHECK(read() == std::optional<int>(20));
    CHECK_FALSE(bump.expired());
    CHECK(bump.weak().lock() == r);
    r.reset();
    CHECK(bump.expired());
    CHECK_FALSE(bump());
    CHECK_FALSE(read().has_value());
    CHECK(calls == 2); // nothing was called once the referent died
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a function, a function pointer, a function object and a "
                          "std::function",
          "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    r->n = 1;
    auto by_reference = wr::weak_fn(r, twice, 3); // a function decays to a pointer
    auto by_pointer = wr::weak_fn(r, &twice, 4);
    auto by_object = wr::weak_fn(r, which_call{});
    std::function<int(widget&, int)> erased = [](widget& w, int k) { return w.n - k; };
    auto by_std_function = wr::weak_fn(r, erased);
    static_assert(std::is_same_v<decltype(by_reference()), std::optional<int>>);
    CHECK(by_reference() == std::optional<int>(8));
    CHECK(by_pointer() == std::optional<int>(10));
    CHECK(by_object() == std::optional<std::string>("non-const"));
    CHECK(by_std_function(5) == std::optional<int>(-4));
    erased = nullptr; // the weak_fn holds a copy
    CHECK(by_std_function(1) == std::optional<int>(0));
    auto void_function = wr::weak_fn(r, note);
    CHECK(void_function(std::string("a")));
    CHECK(r->log == std::vector<std::string>{"a"});
    r.reset();
    CHECK_FALSE(by_reference().has_value());
    CHECK_FALSE(by_pointer().has_value());
    CHECK_FALSE(by_object().has_value());
    CHECK_FALSE(by_std_function(1).has_value());
    CHECK_FALSE(void_function(std::string("b")));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: bound arguments come after the referent and before the "
                          "call's arguments",
          "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    auto record = wr::weak_fn(
        r,
        [](widget& w, const std::string& a, int b, const std::string& c) {
            w.log.push_back(a + std::to_string(b) + c);
        },
        std::string("first"), 2);
    CHECK(record(std::string("third")));
    CHECK(record("again"));
    CHECK(r->log == std::vector<std::string>{"first2third", "first2again"});

    // A pointer to member with bound arguments: (obj.*m)(bound..., call_args...).
    r->n = 3;
    auto describe = wr::weak_fn(r, &widget::describe, std::string("id:"));
    CHECK(describe(2) == std::optional<std::string>("id:w6"));
    auto describe_all_bound = wr::weak_fn(r, &widget::describe, std::string(">"), 1);
    CHECK(describe_all_bound() == std::optional<std::string>(">w3"));
    r.reset();
    CHECK_FALSE(describe(2).has_value());
    CHECK_FALSE(record("late"));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: bound arguments are decayed copies", "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    std::string prefix = "before";
    auto f = wr::weak_fn(
        r, [](widget&, const std::string& p) { return p; }, prefix);
    prefix = "after"; // the weak_fn kept its own copy
    CHECK(f() == std::optional<std::string>("before"));

    // An array decays to a pointer, a function to a function pointer.
    auto g = wr::weak_fn(
        r,
        [](widget&, auto text, auto fn) {
            static_assert(std::is_same_v<decltype(text), const char*>);
            static_assert(std::is_same_v<decltype(fn), int (*)(widget&, int)>);
            return std::string(text);
        },
        "literal", twice);
    CHECK(g() == std::optional<std::string>("literal"));

    // An lvalue is copied once, an rvalue moved once; no copy per call.
    wrtest::count_scope<bound_counted> scope;
    bound_counted original(7);
    auto h = wr::weak_fn(
        r, [](widget&, const bound_counted& b) { return b.value; }, original);
    CHECK(scope.made() == 2); // original and the weak_fn's copy
    auto k = wr::weak_fn(
        r, [](widget&, const bound_counted& b) { return b.value; }, bound_counted(8));
    CHECK(scope.made() == 4); // the temporary and the one moved from it
    CHECK(scope.alive() == 3);
    CHECK(h() == std::optional<int>(7));
    CHECK(k() == std::optional<int>(8));
    CHECK(scope.made() == 4);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: std::ref and std::cref bind references", "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    int total = 0;
    const std::string label = "label";
    auto add = wr::weak_fn(
        r,
        [](widget& w, int& sum, const std::string& l) { sum += w.n + static_cast<int>(l.size()); },
        std::ref(total), std::cref(label));
    r->n = 1;
    CHECK(add());
    CHECK(add());
    CHECK(total == 12); // twice 1 + 5, in the caller's variable
    const auto& const_add = add;
    CHECK(const_add()); // a reference binds the same through a const weak_fn
    CHECK(total == 18);
    r.reset();
    CHECK_FALSE(add());
    CHECK(total == 18);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: bound arguments are passed as lvalues that persist across "
                          "calls",
          "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    auto category = wr::weak_fn(r, value_category{}, std::string("bound"));
    CHECK(category() == std::optional<std::string>("lvalue"));
    auto unbound = wr::weak_fn(r, value_category{});
    CHECK(unbound(std::string("call")) == std::optional<std::string>("rvalue")); // forwarded

    auto accumulate = wr::weak_fn(
        r,
        [](widget&, std::string& so_far, const std::string& more) {
            so_far += more;
            return so_far;
        },
        std::string());
    CHECK(accumulate("a") == std::optional<std::string>("a"));
    CHECK(accumulate("b") == std::optional<std::string>("ab"));
    CHECK(accumulate("c") == std::optional<std::string>("abc"));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a const weak_fn calls the const call operator, a non-const "
                          "one the non-const",
          "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    auto f = wr::weak_fn(r, which_call{});
    const auto& cf = f;
    CHECK(f() == std::optional<std::string>("non-const"));
    CHECK(cf() == std::optional<std::string>("const"));
    CHECK(std::as_const(f)() == std::optional<std::string>("const"));

    // A mutable lambda keeps its state across calls of a non-const weak_fn.
    auto counter = wr::weak_fn(r, [calls = 0](widget&) mutable { return ++calls; });
    CHECK(counter() == std::optional<int>(1));
    CHECK(counter() == std::optional<int>(2));

    // A const bound argument in a const call; a non-const one in a non-const call.
    auto constness = wr::weak_fn(
        r,
        [](widget&, auto& bound) {
            return std::is_const_v<std::remove_reference_t<decltype(bound)>>;
        },
        0);
    CHECK(constness() == std::optional<bool>(false));
    CHECK(std::as_const(constness)() == std::optional<bool>(true));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: forwards the call's arguments to a callable", "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    auto take = wr::weak_fn(r, [](widget& w, std::unique_ptr<int> p, std::string&& s) {
        w.name = std::move(s);
        return *p;
    });
    std::string name(100, 'x');
    CHECK(take(std::make_unique<int>(4), std::move(name)) == std::optional<int>(4));
    CHECK(r->name == std::string(100, 'x'));
    auto generic = wr::weak_fn(r, [](auto& w, auto&&... args) { return w.n + (args + ... + 0); });
    CHECK(generic(1, 2, 3) == std::optional<int>(6));
    r.reset();
    auto p = std::make_unique<int>(1);
    CHECK_FALSE(take(std::move(p), std::string("y")).has_value());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a move-only callable or bound argument makes a move-only "
                          "weak_fn",
          "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    auto bound_unique = wr::weak_fn(
        r, [](widget& w, const std::unique_ptr<int>& p) { return w.n + *p; },
        std::make_unique<int>(5));
    auto captured_unique =
        wr::weak_fn(r, [p = std::make_unique<int>(6)](widget& w) { return w.n + *p; });
    using bound_type = decltype(bound_unique);
    using captured_type = decltype(captured_unique);
    static_assert(!std::is_copy_constructible_v<bound_type>);
    static_assert(std::is_nothrow_move_constructible_v<bound_type>);
    static_assert(!std::is_copy_constructible_v<captured_type>);
    static_assert(std::is_move_constructible_v<captured_type>);
    static_assert(std::is_copy_constructible_v<decltype(wr::weak_fn(r, &widget::get))>);

    auto moved = std::move(bound_unique);
    CHECK(moved() == std::optional<int>(5));
    CHECK(r.weak_count() == 2); // the moved-from weak_fn observes nothing
    // A moved-from weak_fn is expired and calls nothing (its callable may be moved-from too).
    CHECK(bound_unique.expired()); // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(bound_unique().has_value());
    auto moved_capture = std::move(captured_unique);
    CHECK(moved_capture() == std::optional<int>(6));
    CHECK_FALSE(captured_unique().has_value()); // NOLINT(bugprone-use-after-move)
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: the call holds the referent; the weak_fn counts as weak and "
                          "keeps nothing alive",
          "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    r->n = 9;
    auto f = wr::weak_fn(r, dropper{&r});
    CHECK(r.use_count() == 1);
    CHECK(r.weak_count() == 1);
    CHECK(f() == std::optional<int>(9));
    CHECK_FALSE(r);
    CHECK(f.expired());
    CHECK_FALSE(f().has_value());

    wrtest::count_scope<bound_counted> scope;
    auto counted = wr::make_ref<bound_counted>(3);
    {
        auto g = wr::weak_fn(
            counted, [](bound_counted& c, int k) { return c.value + k; }, 1);
        auto copy = g;
        CHECK(counted.use_count() == 1);
        CHECK(counted.weak_count() == 2);
        CHECK(copy() == std::optional<int>(4));
        counted.reset();
        CHECK(scope.alive() == 0); // neither weak_fn kept it
        CHECK_FALSE(g().has_value());
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: bound arguments live as long as the weak_fn, not the referent",
          "[weak_fn]") {
    wrtest::count_scope<bound_counted> scope;
    auto r = wr::make_ref<widget>();
    {
        auto f = wr::weak_fn(
            r, [](widget&, const bound_counted&) {}, bound_counted(1));
        CHECK(scope.alive() == 1);
        r.reset();
        CHECK(scope.alive() == 1); // the referent's death leaves them alone
        CHECK_FALSE(f());
    }
    CHECK(scope.alive() == 0); // destroyed with the weak_fn
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_fn: an exception from the callable reaches the caller and "
                          "releases the referent",
          "[needs-exceptions][weak_fn]") {
    wrtest::count_scope<bound_counted> scope;
    auto r = wr::make_ref<bound_counted>(1);
    auto f = wr::weak_fn(r, [](bound_counted&, bool fail) {
        if (fail) {
            throw std::runtime_error("callable failed");
        }
        return 1;
    });
    REQUIRE_THROWS_AS(f(true), std::runtime_error);
    CHECK(r.use_count() == 1); // the call's strong ref was dropped during unwinding
    CHECK(f(false) == std::optional<int>(1));
    r.reset();
    CHECK(scope.alive() == 0);
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a ref<const T> gives the callable a const T&", "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    r->n = 4;
    wr::ref<const widget> c = r;
    auto read = wr::weak_fn(c, [](auto& w) {
        static_assert(std::is_same_v<decltype(w), const widget&>);
        return w.n;
    });
    auto method = wr::weak_fn(c, &widget::get);
    CHECK(read() == std::optional<int>(4));
    CHECK(method() == std::optional<int>(4));
    c.reset();
    r.reset();
    CHECK_FALSE(read().has_value());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: through a handle to a derived type, a callable taking the "
                          "base",
          "[weak_fn]") {
    struct derived : widget {
        int extra = 5;
    };
    auto r = wr::make_ref<derived>();
    auto f = wr::weak_fn(r, [](widget& w, int k) { w.n += k; });
    auto g = wr::weak_fn(r, [](derived& d) { return d.extra; });
    CHECK(f(2));
    CHECK(r->n == 2);
    CHECK(g() == std::optional<int>(5));
    r.reset();
    CHECK_FALSE(f(1));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: a returned reference becomes a copy", "[weak_fn]") {
    auto r = wr::make_ref<widget>();
    auto name = wr::weak_fn(r, [](widget& w) -> const std::string& { return w.name; });
    static_assert(std::is_same_v<decltype(name()), std::optional<std::string>>);
    auto v = name();
    r->name = "changed";
    CHECK(v == std::optional<std::string>("w"));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: an empty ref calls nothing", "[weak_fn]") {
    int calls = 0;
    auto f = wr::weak_fn(wr::ref<widget>(), [&calls](widget&) { ++calls; });
    CHECK(f.expired());
    CHECK_FALSE(f.weak().lock());
    CHECK_FALSE(f());
    CHECK(calls == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_fn: the callable's own conversions do not become the weak_fn's",
          "[weak_fn][hazard-22]") {
    auto r = wr::make_ref<widget>();
    auto f = wr::weak_fn(r, [](widget& w) { return w.n; }); // converts to int (*)(widget&)
    using weak_fn_type = decltype(f);
    static_assert(!std::is_convertible_v<weak_fn_type, int (*)(widget&)>);
    static_assert(!std::is_constructible_v<bool, weak_fn_type>);
    static_assert(std::is_invocable_r_v<std::optional<int>, weak_fn_type&>);
    std::function<std::optional<int>()> erased = f; // a weak_fn fits a std::function
    r->n = 3;
    CHECK(erased() == std::optional<int>(3));
    r.reset();
    CHECK_FALSE(erased().has_value());
}
