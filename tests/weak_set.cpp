// SPDX-License-Identifier: MIT
// Behaviour of weak_set (Python's WeakSet): a set by identity that forgets each element at death.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"
#include "support/removals.hpp"

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
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

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_set: an empty ref as an element throws std::invalid_argument",
          "[needs-exceptions][weak_set]") {
    elem_set s;
    auto a = wr::make_ref<elem>(1);
    s.insert(a);
    REQUIRE_THROWS_AS(s.insert(wr::ref<elem>()), std::invalid_argument);
    CHECK(s.size() == 1);
    CHECK(s.contains(a));
}
#endif

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

// --- Working inside the set: removal listener, pop, erase_if, set algebra, == -------------------

namespace {

using cause = wr::removal_cause;
using elem_log = wrtest::removal_log<const elem*>;

void listen(elem_set& s, elem_log& log) {
    s.on_remove([&log](const elem* e, cause c) { log.record(e, c); });
}

/// Sets of elements by their values, for comparing results of the set algebra.
std::set<int> contents(const elem_set& s) {
    std::set<int> out;
    for (const auto& r : s.items()) {
        out.insert(r->value);
    }
    return out;
}

/// Elements 0..n-1, and sets holding the ones whose values are listed.
struct elements {
    explicit elements(int n) {
        for (int i = 0; i < n; ++i) {
            refs.push_back(wr::make_ref<elem>(i));
        }
    }
    elem_set of(std::initializer_list<int> values) const {
        elem_set s;
        for (int v : values) {
            s.insert(refs[static_cast<std::size_t>(v)]);
        }
        return s;
    }
    const elem* at(int v) const { return refs[static_cast<std::size_t>(v)].get(); }
    std::vector<wr::ref<elem>> refs;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_set: the listener is told each removal once, with its cause",
          "[weak_set][on_remove]") {
    wrtest::count_scope<elem> scope;
    elements e(4);
    elem_set s = e.of({0, 1, 2, 3});
    elem_log log;
    listen(s, log);
    CHECK_FALSE(s.insert(e.refs[0])); // already in: nothing
    REQUIRE(log.empty());

    SECTION("erase, by ref and by pointer") {
        CHECK(s.erase(e.refs[1]));
        CHECK(s.erase(e.at(2)));
        CHECK_FALSE(s.erase(e.refs[1]));
        CHECK(log.size() == 2);
        CHECK(log.count(e.at(1), cause::erased) == 1);
        CHECK(log.count(e.at(2), cause::erased) == 1);
    }
    SECTION("pop: erased, for the element it returned") {
        wr::ref<elem> popped = s.pop();
        REQUIRE(popped);
        CHECK(log.size() == 1);
        CHECK(log.count(popped.get(), cause::erased) == 1);
    }
    SECTION("erase_if: erased") {
        CHECK(s.erase_if([](const elem& x) { return x.value >= 2; }) == 2);
        CHECK(log.count(cause::erased) == 2);
        CHECK(log.count_of(e.at(2)) == 1);
        CHECK(log.count_of(e.at(3)) == 1);
    }
    SECTION("clear: cleared, each element") {
        s.clear();
        CHECK(log.size() == 4);
        CHECK(log.count(cause::cleared) == 4);
    }
    SECTION("a death: died, the element not yet destroyed") {
        const elem* raw = e.at(3);
        long destroyed_at_notice = -1;
        int value_at_notice = 0;
        s.on_remove([&](const elem* x, cause c) {
            log.record(x, c);
            destroyed_at_notice = scope.destroyed();
            value_at_notice = x->value;
        });
        e.refs[3].reset();
        CHECK(log.causes() == std::vector<cause>{cause::died});
        CHECK(log.last().what == raw);
        CHECK(destroyed_at_notice == 0);
        CHECK(value_at_notice == 3);
        CHECK(scope.destroyed() == 1);
        s.on_remove(nullptr);
    }
    SECTION("the compound operators: erased for what they remove, nothing for what they add") {
        elements more(2);
        elem_set other = e.of({1, 2});
        other.insert(more.refs[0]);
        SECTION("|=") {
            s |= other;
            CHECK(log.empty());
            CHECK(s.size() == 5);
        }
        SECTION("&=") {
            s &= other;
            CHECK(log.size() == 2);
            CHECK(log.count(e.at(0), cause::erased) == 1);
            CHECK(log.count(e.at(3), cause::erased) == 1);
        }
        SECTION("-=") {
            s -= other;
            CHECK(log.size() == 2);
            CHECK(log.count(e.at(1), cause::erased) == 1);
            CHECK(log.count(e.at(2), cause::erased) == 1);
        }
        SECTION("^=") {
            s ^= other;
            CHECK(log.size() == 2);
            CHECK(log.count(e.at(1), cause::erased) == 1);
            CHECK(log.count(e.at(2), cause::erased) == 1);
            CHECK(s.contains(more.refs[0]));
        }
        SECTION("s -= s and s ^= s: erased, each element") {
            elem_set& self = s; // the same set, named twice
            s -= self;
            CHECK(log.size() == 4);
            CHECK(log.count(cause::erased) == 4);
            CHECK(s.empty());
            s = e.of({0, 1});
            log.clear();
            listen(s, log);
            s ^= self;
            CHECK(log.size() == 2);
            CHECK(log.count(cause::erased) == 2);
            CHECK(s.empty());
        }
        other.clear();
        more.refs.clear();
    }
    SECTION("assigning over the set: cleared, for what it held") {
        elem_set other = e.of({0});
        SECTION("copy") { s = other; }
        SECTION("move") { s = std::move(other); }
        CHECK(log.size() == 4);
        CHECK(log.count(cause::cleared) == 4);
        log.clear();
        CHECK(s.erase(e.refs[0]));
        CHECK(log.empty()); // the listener went with the old contents: other had none
    }
    SECTION("destruction: nothing") {
        {
            elem_set gone = e.of({0, 1});
            listen(gone, log);
        }
        s.on_remove(nullptr);
        e.refs.clear();
        CHECK(log.empty());
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: the listener runs after the element left, and may use the "
                          "set",
          "[weak_set][on_remove]") {
    elements e(3);
    elem_set s = e.of({0, 1});
    bool contained = true;
    std::size_t size = 99;
    bool inserted = false;
    s.on_remove([&](const elem* x, cause) {
        contained = s.contains(x);
        size = s.size();
        inserted = s.insert(e.refs[2]);
    });
    SECTION("erase") { CHECK(s.erase(e.refs[0])); }
    SECTION("pop") { CHECK(s.pop()); }
    SECTION("death") { e.refs[0].reset(); }
    CHECK_FALSE(contained);
    CHECK(size == 1);
    CHECK(inserted);
    CHECK(s.contains(e.refs[2]));
    s.on_remove(nullptr);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: copies copy the listener, moves move it, swap swaps it; a set "
                          "made by an operator has none",
          "[weak_set][on_remove][hazard-5]") {
    elements e(3);
    wrtest::removal_log<std::pair<int, const elem*>> log; // (tag, element)
    elem_set a = e.of({0, 1});
    a.on_remove([&log](const elem* x, cause c) { log.record({1, x}, c); });
    elem_set b = e.of({2});
    b.on_remove([&log](const elem* x, cause c) { log.record({2, x}, c); });

    SECTION("copy construction and assignment") {
        elem_set copy(a);
        a.on_remove(nullptr);
        CHECK(copy.erase(e.refs[0]));
        CHECK(log.count({1, e.at(0)}, cause::erased) == 1);
        b = copy;
        CHECK(log.count({2, e.at(2)}, cause::cleared) == 1);
        CHECK(b.erase(e.refs[1]));
        CHECK(log.count({1, e.at(1)}, cause::erased) == 1);
        CHECK(log.size() == 3);
    }
    SECTION("move construction: the moved-from set has none") {
        elem_set moved(std::move(a));
        a.insert(e.refs[2]); // NOLINT(bugprone-use-after-move)
        CHECK(a.erase(e.refs[2]));
        CHECK(log.empty());
        CHECK(moved.erase(e.refs[0]));
        CHECK(log.count({1, e.at(0)}, cause::erased) == 1);
    }
    SECTION("swap") {
        a.swap(b);
        CHECK(a.erase(e.refs[2]));
        CHECK(b.erase(e.refs[0]));
        CHECK(log.count({2, e.at(2)}, cause::erased) == 1);
        CHECK(log.count({1, e.at(0)}, cause::erased) == 1);
    }
    SECTION("a | b, a & b, a - b, a ^ b have no listener") {
        elem_set u = a | b;
        elem_set i = a & a;
        elem_set d = a - b;
        elem_set x = a ^ b;
        u.clear();
        i.clear();
        d.clear();
        x.clear();
        CHECK(log.empty());
        elem_set target = e.of({2});
        target.on_remove([&log](const elem* p, cause c) { log.record({3, p}, c); });
        target = a | b; // a move assignment: the old contents cleared, then no listener
        CHECK(log.size() == 1);
        CHECK(log.count({3, e.at(2)}, cause::cleared) == 1);
        target.clear();
        CHECK(log.size() == 1);
    }
    a.on_remove(nullptr);
    b.on_remove(nullptr);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: pop removes and returns each live element once, then an "
                          "empty ref",
          "[weak_set][pop]") {
    wrtest::count_scope<elem> scope;
    elem_set s;
    CHECK_FALSE(s.pop()); // never allocated
    std::vector<wr::ref<elem>> refs;
    for (int i = 0; i < 50; ++i) {
        refs.push_back(wr::make_ref<elem>(i));
        s.insert(refs.back());
    }
    for (int i = 0; i < 50; i += 5) {
        refs[static_cast<std::size_t>(i)].reset();
    }
    std::set<int> popped;
    std::size_t expected_size = 40;
    while (wr::ref<elem> r = s.pop()) {
        CHECK(r.use_count() == 2); // the caller's and the owner's
        CHECK_FALSE(s.contains(r));
        CHECK(popped.insert(r->value).second);
        CHECK(s.size() == --expected_size);
    }
    CHECK(popped.size() == 40);
    CHECK(popped.count(0) == 0);
    CHECK(popped.count(45) == 0);
    CHECK(s.empty());
    CHECK_FALSE(s.pop());
    CHECK(refs[1].weak_count() == 0);

    SECTION("the popped element is held by the caller alone") {
        auto only = wr::make_ref<elem>(100);
        wr::weak_ref<elem> watch = only;
        s.insert(only);
        only.reset(); // died: the set is empty again
        CHECK_FALSE(s.pop());
        auto held = wr::make_ref<elem>(101);
        s.insert(held);
        wr::ref<elem> out = s.pop();
        held.reset();
        CHECK(out->value == 101);
        CHECK(scope.alive() == 41);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: erase_if offers each live element once",
          "[weak_set][erase_if]") {
    elements e(30);
    elem_set s;
    for (const auto& r : e.refs) {
        s.insert(r);
    }
    e.refs[4].reset();
    std::multiset<int> offered;
    const std::size_t erased = s.erase_if([&](const elem& x) {
        offered.insert(x.value);
        return x.value < 10;
    });
    CHECK(offered.size() == 29);
    CHECK(std::set<int>(offered.begin(), offered.end()).size() == 29);
    CHECK(offered.count(4) == 0);
    CHECK(erased == 9);
    CHECK(s.size() == 20);
    CHECK(e.refs[3].use_count() == 1);
    elem_set never;
    CHECK(never.erase_if([](const elem&) { return true; }) == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: subset, superset and disjoint go by identity of live elements",
          "[weak_set][algebra]") {
    elements e(5);
    const elem_set none;
    const elem_set ab = e.of({0, 1});
    const elem_set abc = e.of({0, 1, 2});
    const elem_set de = e.of({3, 4});
    CHECK(ab.is_subset_of(abc));
    CHECK_FALSE(abc.is_subset_of(ab));
    CHECK(abc.is_superset_of(ab));
    CHECK_FALSE(ab.is_superset_of(abc));
    CHECK(ab.is_subset_of(ab));
    CHECK(ab.is_superset_of(ab));
    CHECK(none.is_subset_of(ab));
    CHECK(ab.is_superset_of(none));
    CHECK(ab.is_disjoint(de));
    CHECK(de.is_disjoint(ab));
    CHECK_FALSE(ab.is_disjoint(abc));
    CHECK_FALSE(ab.is_disjoint(ab));
    CHECK(none.is_disjoint(none));
    CHECK(none.is_disjoint(ab));

    elements twins(5); // equal values, other objects
    const elem_set twin_ab = twins.of({0, 1});
    CHECK_FALSE(twin_ab.is_subset_of(abc));
    CHECK(twin_ab.is_disjoint(abc));

    elem_set abd = e.of({0, 1, 3});
    CHECK_FALSE(abd.is_subset_of(abc));
    CHECK_FALSE(abd.is_disjoint(de));
    e.refs[3].reset(); // the element that was not in abc, and was in de, dies
    CHECK(abd.is_subset_of(abc));
    CHECK(abd.is_superset_of(ab));
    CHECK(abd.is_disjoint(de));
    e.refs[0].reset();
    e.refs[1].reset();
    CHECK(abd.empty());
    CHECK(abd.is_subset_of(none));
}

TEST_CASE(WEAKREF_FLAVOUR
          "weak_set: |, &, - and ^ make new sets; the compound forms change the set "
          "and return it",
          "[weak_set][algebra]") {
    elements e(6);
    elem_set a = e.of({0, 1, 2, 3});
    elem_set b = e.of({2, 3, 4, 5});
    CHECK(contents(a | b) == std::set<int>{0, 1, 2, 3, 4, 5});
    CHECK(contents(a & b) == std::set<int>{2, 3});
    CHECK(contents(a - b) == std::set<int>{0, 1});
    CHECK(contents(b - a) == std::set<int>{4, 5});
    CHECK(contents(a ^ b) == std::set<int>{0, 1, 4, 5});
    CHECK(contents(a | a) == contents(a));
    CHECK(contents(a & a) == contents(a));
    CHECK((a - a).empty());
    CHECK((a ^ a).empty());
    CHECK(contents(a) == std::set<int>{0, 1, 2, 3}); // the operands are untouched
    CHECK(contents(b) == std::set<int>{2, 3, 4, 5});

    elem_set u = a | b;
    CHECK(e.refs[0].weak_count() == 2); // a, u: the element is shared, not copied
    CHECK(e.refs[0].use_count() == 1);
    e.refs[0].reset();
    CHECK(contents(u) == std::set<int>{1, 2, 3, 4, 5}); // a new set forgets a death too

    elem_set x = e.of({1, 2});
    STATIC_REQUIRE(std::is_same_v<decltype(x |= b), elem_set&>);
    STATIC_REQUIRE(std::is_same_v<decltype(x &= b), elem_set&>);
    STATIC_REQUIRE(std::is_same_v<decltype(x -= b), elem_set&>);
    STATIC_REQUIRE(std::is_same_v<decltype(x ^= b), elem_set&>);
    CHECK(&(x |= b) == &x);
    CHECK(contents(x) == std::set<int>{1, 2, 3, 4, 5});
    CHECK(&(x &= a) == &x);
    CHECK(contents(x) == std::set<int>{1, 2, 3});
    CHECK(&(x -= b) == &x);
    CHECK(contents(x) == std::set<int>{1});
    CHECK(&(x ^= a) == &x);
    CHECK(contents(x) == std::set<int>{2, 3});
    CHECK(&(x |= x) == &x);
    CHECK(&(x &= x) == &x);
    CHECK(contents(x) == std::set<int>{2, 3});
    CHECK(&(x -= x) == &x);
    CHECK(x.empty());
    x = e.of({4, 5});
    CHECK(&(x ^= x) == &x);
    CHECK(x.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: == compares the live elements by identity",
          "[weak_set][equality]") {
    elements e(3);
    elements twins(3);
    const elem_set none;
    CHECK(none == elem_set());
    elem_set a = e.of({0, 1});
    elem_set b = e.of({1, 0});
    CHECK(a == b);
    CHECK_FALSE(a != b);
    CHECK(a == a);
    CHECK(a != twins.of({0, 1}));
    CHECK(a != e.of({0}));
    CHECK(a != e.of({0, 1, 2}));
    CHECK(a != none);
    b.insert(e.refs[2]);
    e.refs[2].reset();
    CHECK(a == b); // the dead element does not count
}

TEST_CASE(WEAKREF_FLAVOUR "weak_set: at a death the listener runs before the element's on_death "
                          "callbacks and its destructor",
          "[weak_set][on_remove][death]") {
    wr::weak_set<wrtest::observed> s;
    std::vector<std::string> order;
    auto e = wr::make_ref<wrtest::observed>(1);
    e->on_destroy = [&] { order.emplace_back("destructor"); };
    s.insert(e);
    s.on_remove([&](const wrtest::observed*, cause) { order.emplace_back("listener"); });
    auto f = wr::on_death(e, [&] { order.emplace_back("callback"); });
    e.reset();
    CHECK(order == std::vector<std::string>{"listener", "callback", "destructor"});
    s.on_remove(nullptr);
}
