// SPDX-License-Identifier: MIT
// Behaviour of to_shared_ptr: a std::shared_ptr family that holds one strong ref.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct shared_tag {};
using counted = wrtest::counted<shared_tag>;

struct first_base {
    int first = 1;
};
struct second_base {
    int second = 2;
};
/// `second_base` is not at the object's address: ref<second_base> cannot be made from a
/// ref<both>, a std::shared_ptr<second_base> can.
struct both : first_base, second_base {
    counted member{3};
};

struct from_this : std::enable_shared_from_this<from_this> {
    int value = 4;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: points at the object and holds one strong ref for the "
                          "whole family",
          "[shared_ptr]") {
    auto r = wr::make_ref<counted>(5);
    std::shared_ptr<counted> sp = wr::to_shared_ptr(r);
    static_assert(std::is_same_v<decltype(wr::to_shared_ptr(r)), std::shared_ptr<counted>>);
    CHECK(sp.get() == r.get());
    CHECK(sp->value == 5);
    CHECK(r.use_count() == 2);
    CHECK(sp.use_count() == 1);
    {
        auto copy = sp;
        std::shared_ptr<const counted> to_const = sp;
        std::vector<std::shared_ptr<counted>> many(10, sp);
        CHECK(sp.use_count() == 13);
        CHECK(r.use_count() == 2); // still one strong ref for the family
    }
    auto moved = std::move(sp);
    CHECK(r.use_count() == 2);
    moved.reset();
    CHECK(r.use_count() == 1); // the last copy let its ref go
    CHECK(r.weak_count() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: the object lives while the family does, and dies with "
                          "its last copy",
          "[shared_ptr]") {
    wrtest::count_scope<counted> scope;
    auto r = wr::make_ref<counted>(6);
    wr::weak_ref<counted> w = r;
    bool died = false;
    auto f = wr::on_death(r, [&died]() noexcept { died = true; });
    auto sp = wr::to_shared_ptr(r);
    r.reset();
    CHECK(scope.alive() == 1);
    CHECK_FALSE(w.expired());
    CHECK(sp->value == 6);
    CHECK(w.use_count() == 1);
    auto copy = sp;
    sp.reset();
    CHECK_FALSE(died);
    copy.reset(); // the death runs here, on this thread
    CHECK(died);
    CHECK(scope.alive() == 0);
    CHECK(w.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: a std::weak_ptr follows the family, not the object",
          "[shared_ptr]") {
    auto r = wr::make_ref<counted>(7);
    wr::weak_ref<counted> w = r;
    auto sp = wr::to_shared_ptr(r);
    std::weak_ptr<counted> wp = sp;
    CHECK(wp.lock() == sp);
    sp.reset();
    CHECK(wp.expired()); // the family is gone...
    CHECK_FALSE(wp.lock());
    CHECK_FALSE(w.expired()); // ...the object is not
    CHECK(r->value == 7);
    // A new call starts a new family; the old std::weak_ptr stays expired.
    auto again = wr::to_shared_ptr(r);
    CHECK(wp.expired());
    CHECK(again.get() == r.get());
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: an empty ref gives an empty shared_ptr and allocates "
                          "nothing",
          "[shared_ptr]") {
    wrtest::alloc_stats stats;
    wrtest::counting_allocator<char> alloc(stats);
    wr::ref<counted> empty;
    auto sp = wr::to_shared_ptr(empty, alloc);
    CHECK_FALSE(sp);
    CHECK(sp.use_count() == 0);
    CHECK(stats.allocations == 0);
    CHECK_FALSE(wr::to_shared_ptr(empty));
    CHECK_FALSE(wr::to_shared_ptr(wr::ref<counted>()));
    std::weak_ptr<counted> wp = sp;
    CHECK(wp.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: one allocation per call, freed with the family's last "
                          "copy",
          "[shared_ptr]") {
    wrtest::alloc_stats stats;
    wrtest::counting_allocator<char> alloc(stats);
    auto r = wr::make_ref<std::string>(100, 's');
    {
        auto sp = wr::to_shared_ptr(r, alloc);
        CHECK(stats.allocations == 1);
        auto copy = sp;
        std::shared_ptr<const std::string> to_const = copy;
        std::weak_ptr<std::string> wp = sp;
        CHECK(stats.allocations == 1); // copies and weak_ptrs share the one control block
        auto second = wr::to_shared_ptr(r, alloc);
        CHECK(stats.allocations == 2);
        CHECK(stats.live_allocations() == 2);
        second.reset();
        CHECK(stats.live_allocations() == 1);
        CHECK(*to_const == std::string(100, 's'));
    }
    CHECK(stats.live_allocations() == 0);
    CHECK(stats.bad_deallocations == 0);
    CHECK(r.use_count() == 1);
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: a failed allocation leaves the ref as it was",
          "[needs-exceptions][shared_ptr]") {
    wrtest::alloc_stats stats;
    wrtest::counting_allocator<char> alloc(stats);
    auto r = wr::make_ref<counted>(8);
    stats.fail_next = true;
    REQUIRE_THROWS_AS(wr::to_shared_ptr(r, alloc), std::bad_alloc);
    CHECK(r.use_count() == 1);
    auto moved_in = r;
    stats.fail_next = true;
    REQUIRE_THROWS_AS(wr::to_shared_ptr(std::move(moved_in), alloc), std::bad_alloc);
    CHECK(moved_in == r); // NOLINT(bugprone-use-after-move): not moved from on failure
    CHECK(r.use_count() == 2);
    CHECK(stats.live_allocations() == 0);
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: from an rvalue ref moves its strong ref in",
          "[shared_ptr]") {
    auto r = wr::make_ref<counted>(9);
    auto donor = r;
    CHECK(r.use_count() == 2);
    auto sp = wr::to_shared_ptr(std::move(donor));
    CHECK_FALSE(donor); // NOLINT(bugprone-use-after-move)
    CHECK(r.use_count() == 2);
    CHECK(sp.get() == r.get());
    sp.reset();
    CHECK(r.use_count() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: each call starts a family of its own", "[shared_ptr]") {
    auto r = wr::make_ref<counted>(10);
    auto a = wr::to_shared_ptr(r);
    auto b = wr::to_shared_ptr(r);
    auto a2 = a;
    CHECK(a.get() == b.get());
    CHECK(a == b); // std::shared_ptr's == compares the pointers
    CHECK((a.owner_before(b) || b.owner_before(a)));
    CHECK_FALSE(a.owner_before(a2));
    CHECK_FALSE(a2.owner_before(a));
    CHECK(a.use_count() == 2);
    CHECK(b.use_count() == 1);
    CHECK(r.use_count() == 3); // r and one per family
    a.reset();
    a2.reset();
    CHECK(r.use_count() == 2);
    CHECK(b.use_count() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: const T, and conversions to bases at any address",
          "[shared_ptr][conversion]") {
    auto r = wr::make_ref<const counted>(11);
    std::shared_ptr<const counted> sc = wr::to_shared_ptr(r);
    CHECK(sc->value == 11);
    CHECK(r.use_count() == 2);

    wrtest::count_scope<counted> scope;
    auto d = wr::make_ref<both>();
    std::shared_ptr<first_base> first = wr::to_shared_ptr(d);
    std::shared_ptr<second_base> second = wr::to_shared_ptr(d); // another address: fine here
    CHECK(static_cast<void*>(first.get()) == static_cast<void*>(d.get()));
    CHECK(second.get() == static_cast<second_base*>(d.get()));
    CHECK(second->second == 2);
    CHECK(d.use_count() == 3);
    d.reset();
    first.reset();
    CHECK(scope.alive() == 1);
    second.reset(); // the family held a ref<both>: the whole object is destroyed
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: a base without a virtual destructor destroys the "
                          "derived object",
          "[shared_ptr][conversion]") {
    using counts = wrtest::counted<wrtest::plain_derived>;
    wrtest::count_scope<counts> scope;
    std::shared_ptr<wrtest::plain_base> base =
        wr::to_shared_ptr(wr::make_ref<wrtest::plain_derived>(12));
    CHECK(base->base_value == 7);
    CHECK(scope.alive() == 1);
    base.reset();
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "to_shared_ptr: a std::enable_shared_from_this base is not linked to "
                          "the family",
          "[shared_ptr]") {
    auto r = wr::make_ref<from_this>();
    auto sp = wr::to_shared_ptr(r);
    CHECK(sp->value == 4);
    CHECK(r->weak_from_this().expired());
#if WEAKREF_TEST_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(r->shared_from_this(), std::bad_weak_ptr);
#endif
}
