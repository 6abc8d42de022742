// SPDX-License-Identifier: MIT
// Behaviour of weak_set (Python's WeakSet): a set by identity that forgets each element at death.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

struct ws_tag {};
using elem = wrtest::counted<ws_tag>;
using elem_set = wr::weak_set<elem>;

std::vector<int> values_of(const std::vector<wr::ref<elem>>& refs) {
    std::vector<int> out;
    for (const auto& r : refs) {
        out.push_back(r->value);
    }
    return wrtest::sorted(out);
}

/// An element that holds the next element of a chain strongly.
struct chain_link {
    wr::ref<chain_link> next;
    wrtest::counted<chain_link> count;
};

} // namespace

// --- Python's scenarios -------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_set: size counts the live elements, each death takes one",
          "[weak_set][hazard-6]") {
    wrtest::count_scope<elem> scope;
    elem_set s;
    CHECK(s.size() == 0);
    CHECK(s.empty());
    std::vector<wr::ref<elem>> items;
    for (int i = 0; i < 8; ++i) {
        items.push_back(wr::make_ref<elem>(i));
        CHECK(s.insert(items.back()));
        CHECK(s.size() == items.size());
    }
    CHECK_FALSE(s.insert(items[2])); // already in
    CHECK(s.size() == 8);
    CHECK(values_of(s.items()) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
    while (!items.empty()) {
        items.pop_back();
        CHECK(s.size() == items.size());
        CHECK(s.items().size() == items.size());
    }
    CHECK(s.empty());
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: contains and erase go by identity, by ref or by pointer",
          "[weak_set]") {
    elem_set s;
    auto a = wr::make_ref<elem>(1);
    auto twin = wr::make_ref<elem>(1); // equal value, another object
    s.insert(a);
    CHECK(s.contains(a));
    CHECK(s.contains(a.get()));
    CHECK_FALSE(s.contains(twin));
    CHECK_FALSE(s.contains(static_cast<const elem*>(nullptr)));
    CHECK_FALSE(s.contains(wr::ref<elem>()));
    CHECK_FALSE(s.erase(twin));
    CHECK_FALSE(s.erase(static_cast<const elem*>(nullptr)));
    CHECK(s.insert(twin));
    CHECK(s.size() == 2);
    CHECK(s.erase(a.get()));
    CHECK_FALSE(s.contains(a));
    CHECK_FALSE(s.erase(a));
    CHECK(s.erase(twin));
    CHECK(s.empty());
    CHECK(a.weak_count() == 0);
    const elem* raw = a.get();
    s.insert(a);
    a.reset();
    CHECK_FALSE(s.contains(raw)); // an address only: compared, never dereferenced
}

TEMPLATE_TEST_CASE(WEAKREF_FLAVOUR "weak_set: holds any element type weakly, by identity",
                   "[weak_set][typed]", int, std::set<int>, wrtest::final_type, wrtest::plain_base,
                   wrtest::over_aligned) {
    wr::weak_set<TestType> s;
    auto a = wrtest::subject<TestType>::make(1);
    auto b = wrtest::subject<TestType>::make(1);
    CHECK(s.insert(a));
    CHECK(s.insert(b));
    CHECK_FALSE(s.insert(a));
    CHECK(a.use_count() == 1);
    CHECK(a.weak_count() == 1);
    CHECK(s.contains(a.get()));
    CHECK(wrtest::identities(s.items()) == wrtest::identities_of(a, b));
    a.reset();
    CHECK(s.size() == 1);
    CHECK(wrtest::identities(s.items()) == wrtest::identities_of(b));
    b.reset();
    CHECK(s.empty());
}

// --- Death ---------------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_set: a dying element is gone before its callbacks and destructor "
                          "run",
          "[weak_set][death]") {
    wr::weak_set<wrtest::observed> s;
    auto keep = wr::make_ref<wrtest::observed>(0);
    auto dying = wr::make_ref<wrtest::observed>(1);
    const wrtest::observed* raw = dying.get();
    s.insert(keep);
    s.insert(dying);
    struct sight {
        bool looked = false;
        std::size_t size = 0;
        bool contains = true;
        std::size_t items = 0;
    };
    auto look = [&] {
        sight v;
        v.looked = true;
        v.size = s.size();
        v.contains = s.contains(raw);
        v.items = s.items().size();
        return v;
    };
    sight in_callback;
    sight in_destructor;
    auto f = wr::on_death(dying, [&] { in_callback = look(); });
    dying->on_destroy = [&] { in_destructor = look(); };
    dying.reset();
    for (const sight* v : {&in_callback, &in_destructor}) {
        REQUIRE(v->looked);
        CHECK(v->size == 1);
        CHECK_FALSE(v->contains);
        CHECK(v->items == 1);
    }
    CHECK(s.size() == 1);
    CHECK(s.contains(keep));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: an element's destructor and callbacks may use the set",
          "[weak_set][hazard-8]") {
    wr::weak_set<wrtest::observed> s;
    auto other = wr::make_ref<wrtest::observed>(2);
    auto victim = wr::make_ref<wrtest::observed>(3);
    auto late = wr::make_ref<wrtest::observed>(4);
    auto dying = wr::make_ref<wrtest::observed>(1);
    s.insert(dying);
    s.insert(victim);
    bool inserted = false;
    bool erased = false;
    bool saw_self = true;
    const wrtest::observed* raw = dying.get();
    std::size_t size_inside = 99;
    bool callback_inserted = false;
    auto f = wr::on_death(dying, [&] { callback_inserted = s.insert(late); });
    dying->on_destroy = [&] {
        inserted = s.insert(other);
        erased = s.erase(victim);
        size_inside = s.size();
        saw_self = s.contains(raw);
    };
    dying.reset();
    CHECK(callback_inserted);
    CHECK(inserted);
    CHECK(erased);
    CHECK_FALSE(saw_self);
    CHECK(size_inside == 2);
    CHECK(wrtest::identities(s.items()) == wrtest::identities_of(other, late));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: a chain of elements each holding the next empties the set",
          "[weak_set][hazard-8][hazard-14]") {
    constexpr int n = 5000;
    wrtest::count_scope<wrtest::counted<chain_link>> scope;
    wr::weak_set<chain_link> s;
    wr::ref<chain_link> head;
    {
        std::vector<wr::ref<chain_link>> links;
        for (int i = 0; i < n; ++i) {
            links.push_back(wr::make_ref<chain_link>());
            s.insert(links.back());
        }
        for (std::size_t i = 0; i + 1 < links.size(); ++i) {
            links[i]->next = links[i + 1];
        }
        head = links.front();
    }
    CHECK(s.size() == static_cast<std::size_t>(n));
    head.reset();
    CHECK(s.empty());
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: an element's memory is freed at its death while the set lives "
                          "(in weakref::, once no lookup can still read its entry)",
          "[weak_set][hazard-13]") {
    wrtest::alloc_stats stats;
    elem_set s;
    {
        auto e = wr::allocate_ref<elem>(wrtest::counting_allocator<elem>(stats), 1);
        s.insert(e);
        CHECK(stats.live_allocations() == 1);
    }
    // In weakref:: the entry's weak unit keeps the block (and the object's memory with it) for
    // a grace period: a lookup on another thread may still be reading the entry.
    // flush_retired() waits for it; weakref::local:: frees it at the death itself.
    wr::flush_retired();
    CHECK(stats.live_allocations() == 0);
    CHECK(stats.bad_deallocations.load() == 0);
    CHECK(s.empty());
}

// --- Snapshots -----------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_set: elements may die while a loop walks a snapshot",
          "[weak_set][hazard-3]") {
    wrtest::count_scope<elem> scope;
    elem_set s;
    std::vector<wr::ref<elem>> owners;
    for (int i = 0; i < 20; ++i) {
        owners.push_back(wr::make_ref<elem>(i));
        s.insert(owners.back());
    }

    SECTION("every owner dropped in the loop: the snapshot keeps them until it goes") {
        auto snapshot = s.items();
        std::size_t visited = 0;
        for (const auto& e : snapshot) {
            ++visited;
            owners.clear();
            CHECK(s.contains(e));
        }
        CHECK(visited == 20);
        CHECK(s.size() == 20);
        snapshot.clear();
        CHECK(s.empty());
        CHECK(scope.alive() == 0);
    }
    SECTION("each element released in turn: the set shrinks by one each time") {
        auto snapshot = s.items();
        owners.clear();
        std::size_t left = snapshot.size();
        for (auto& e : snapshot) {
            const elem* raw = e.get();
            e.reset();
            --left;
            CHECK_FALSE(s.contains(raw));
            CHECK(s.size() == left);
        }
        CHECK(scope.alive() == 0);
    }
    SECTION("elements inserted and erased in the loop") {
        std::vector<wr::ref<elem>> added;
        std::size_t visited = 0;
        for (const auto& e : s.items()) {
            ++visited;
            added.push_back(wr::make_ref<elem>(100 + e->value));
            CHECK(s.insert(added.back()));
            if (e->value % 2 == 0) {
                CHECK(s.erase(e));
            }
            owners.erase(owners.begin()); // an element dies once the snapshot lets go
        }
        CHECK(visited == 20);
        CHECK(s.size() == 20); // only the added ones: the originals are erased or dead
        CHECK(wrtest::identities(s.items()) == wrtest::identities(added));
    }
}

// --- The set dies first -------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_set: elements outlive a set destroyed, moved from, cleared or "
                          "swapped",
          "[weak_set][hazard-5]") {
    wrtest::count_scope<elem> scope;
    auto a = wr::make_ref<elem>(1);
    auto b = wr::make_ref<elem>(2);

    SECTION("destroyed") {
        {
            elem_set s;
            s.insert(a);
            s.insert(b);
        }
        CHECK(a.weak_count() == 0);
        CHECK(a.use_count() == 1);
    }
    SECTION("moved from, then destroyed") {
        auto s = std::make_unique<elem_set>();
        s->insert(a);
        s->insert(b);
        elem_set moved(std::move(*s));
        CHECK(s->empty());
        s.reset();
        a.reset();
        CHECK(moved.size() == 1);
        CHECK(moved.contains(b));
    }
    SECTION("move-assigned over") {
        elem_set s1;
        elem_set s2;
        s1.insert(a);
        s2.insert(b);
        s2 = std::move(s1);
        CHECK(b.weak_count() == 0);
        b.reset();
        CHECK(s2.contains(a));
        a.reset();
        CHECK(s2.empty());
    }
    SECTION("cleared") {
        elem_set s;
        s.insert(a);
        s.clear();
        CHECK(s.empty());
        CHECK(a.weak_count() == 0);
        CHECK(scope.alive() == 2);
        a.reset();
        CHECK(s.empty());
    }
    SECTION("swapped, then destroyed") {
        auto s1 = std::make_unique<elem_set>();
        elem_set s2;
        s1->insert(a);
        s2.insert(b);
        swap(*s1, s2);
        CHECK(s2.contains(a));
        CHECK(s1->contains(b));
        s1.reset();
        b.reset();
        a.reset();
        CHECK(s2.empty());
    }
    a.reset();
    b.reset();
    CHECK(scope.alive() == 0);
}

// --- Copy, move, swap, clear --------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_set: a copy holds the live elements and is independent",
          "[weak_set]") {
    elem_set s;
    auto a = wr::make_ref<elem>(1);
    auto b = wr::make_ref<elem>(2);
    s.insert(a);
    s.insert(b);
    {
        auto dead = wr::make_ref<elem>(3);
        s.insert(dead);
    }
    elem_set copy(s);
    CHECK(copy.size() == 2);
    CHECK(values_of(copy.items()) == std::vector<int>{1, 2});
    CHECK(a.weak_count() == 2);
    CHECK(a.use_count() == 1);
    copy.erase(a);
    CHECK(s.contains(a));
    auto c = wr::make_ref<elem>(4);
    s.insert(c);
    CHECK_FALSE(copy.contains(c));
    b.reset();
    CHECK(s.size() == 2);
    CHECK(copy.empty());

    elem_set assigned;
    assigned.insert(b = wr::make_ref<elem>(5));
    assigned = s;
    CHECK(values_of(assigned.items()) == std::vector<int>{1, 4});
    CHECK(b.weak_count() == 0);
    elem_set& alias = assigned;
    assigned = alias;
    CHECK(assigned.size() == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: a moved-from set is empty and usable; swap exchanges",
          "[weak_set]") {
    elem_set s;
    auto a = wr::make_ref<elem>(1);
    auto b = wr::make_ref<elem>(2);
    s.insert(a);
    elem_set moved(std::move(s));
    CHECK(s.empty()); // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(s.contains(a));
    CHECK(s.insert(b));
    CHECK(moved.contains(a));
    CHECK_FALSE(moved.contains(b));
    s.swap(moved);
    CHECK(s.contains(a));
    CHECK(moved.contains(b));
    swap(s, moved);
    CHECK(s.contains(b));
    elem_set target;
    target = std::move(s);
    CHECK(s.empty()); // NOLINT(bugprone-use-after-move)
    CHECK(target.contains(b));
    b.reset();
    CHECK(target.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: clear forgets every element and touches none", "[weak_set]") {
    wrtest::count_scope<elem> scope;
    elem_set s;
    auto a = wr::make_ref<elem>(1);
    auto b = wr::make_ref<elem>(2);
    s.insert(a);
    s.insert(b);
    s.clear();
    CHECK(s.empty());
    CHECK(scope.alive() == 2);
    CHECK(a.weak_count() == 0);
    CHECK(s.insert(a));
    CHECK(s.size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: an empty ref as an element throws std::invalid_argument",
          "[weak_set]") {
    elem_set s;
    auto a = wr::make_ref<elem>(1);
    s.insert(a);
    REQUIRE_THROWS_AS(s.insert(wr::ref<elem>()), std::invalid_argument);
    CHECK(s.size() == 1);
    CHECK(s.contains(a));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: weak_count counts the sets an element is in", "[weak_set]") {
    elem_set s1;
    elem_set s2;
    auto a = wr::make_ref<elem>(1);
    s1.insert(a);
    s1.insert(a);
    CHECK(a.weak_count() == 1);
    s2.insert(a);
    CHECK(a.weak_count() == 2);
    CHECK(a.use_count() == 1);
    s1.erase(a);
    CHECK(a.weak_count() == 1);
    a.reset();
    CHECK(s2.empty());
}
