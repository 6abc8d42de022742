// SPDX-License-Identifier: MIT
// Behaviour of weak_value_map (Python's WeakValueDictionary): entries leave at their value's death.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"
#include "support/removals.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct vm_tag {};
using item = wrtest::counted<vm_tag>;
using item_map = wr::weak_value_map<int, item>;

struct cheese {
    std::string kind;
};

/// A value that holds the next value of a chain strongly.
struct chain_link {
    wr::ref<chain_link> next;
    wrtest::counted<chain_link> count;
};

/// What a look at the map from inside a death saw.
struct sight {
    bool looked = false;
    std::size_t size = 0;
    bool empty = true;
    bool contains_dying = true;
    bool get_dying = true;
    bool contains_other = false;
    std::vector<int> keys;
    std::size_t items = 0;
    std::size_t values = 0;
};

template <class Map> sight look(const Map& m, std::initializer_list<int> dying, int other) {
    sight s;
    s.looked = true;
    s.size = m.size();
    s.empty = m.empty();
    s.contains_dying = false;
    s.get_dying = false;
    for (int k : dying) {
        s.contains_dying = s.contains_dying || m.contains(k);
        s.get_dying = s.get_dying || static_cast<bool>(m.get(k));
    }
    s.contains_other = m.contains(other);
    s.keys = wrtest::sorted(m.keys());
    s.items = m.items().size();
    s.values = m.values().size();
    return s;
}

void check_gone(const sight& s, int other) {
    REQUIRE(s.looked);
    CHECK(s.size == 1);
    CHECK_FALSE(s.empty);
    CHECK_FALSE(s.contains_dying);
    CHECK_FALSE(s.get_dying);
    CHECK(s.contains_other);
    CHECK(s.keys == std::vector<int>{other});
    CHECK(s.items == 1);
    CHECK(s.values == 1);
}

template <class M, class Q, class = void> struct can_get : std::false_type {};
template <class M, class Q>
struct can_get<M, Q, std::void_t<decltype(std::declval<const M&>().get(std::declval<const Q&>()))>>
    : std::true_type {};

} // namespace

// --- Python's scenarios -------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: the cheese shop stocks only the cheeses someone holds",
          "[weak_value_map][cheese]") {
    wr::weak_value_map<std::string, cheese> stock;
    std::vector<wr::ref<cheese>> catalog;
    for (const char* kind : {"Red Leicester", "Tilsit", "Brie", "Parmesan"}) {
        catalog.push_back(wr::make_ref<cheese>(cheese{kind}));
    }
    wr::ref<cheese> ce; // outlives the loop, as Python's loop variable does
    for (const wr::ref<cheese>& c : catalog) {
        ce = c;
        CHECK(stock.insert_or_assign(ce->kind, ce));
    }
    CHECK(wrtest::sorted(stock.keys()) ==
          std::vector<std::string>{"Brie", "Parmesan", "Red Leicester", "Tilsit"});
    CHECK(stock.size() == 4);

    catalog.clear();
    CHECK(stock.keys() == std::vector<std::string>{"Parmesan"});
    CHECK(stock.size() == 1);
    CHECK(stock.get("Parmesan") == ce);
    CHECK_FALSE(stock.contains("Brie"));
    CHECK_FALSE(stock.get("Tilsit"));

    ce.reset();
    CHECK(stock.keys().empty());
    CHECK(stock.size() == 0);
    CHECK(stock.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: each death shrinks the map by exactly one entry",
          "[weak_value_map][hazard-6]") {
    wrtest::count_scope<item> scope;
    item_map m;
    std::vector<wr::ref<item>> objects;
    for (int i = 0; i < 10; ++i) {
        objects.push_back(wr::make_ref<item>(i));
        CHECK(m.insert(i, objects.back()));
    }
    REQUIRE(m.size() == objects.size());
    for (const auto& kv : m.items()) {
        CHECK(kv.second->value == kv.first);
        CHECK(kv.second == objects[static_cast<std::size_t>(kv.first)]);
    }
    for (int i = 0; i < 10; ++i) {
        CHECK(m.get(i) == objects[static_cast<std::size_t>(i)]);
    }
    while (!objects.empty()) {
        const int last = objects.back()->value;
        objects.pop_back();
        CHECK(m.size() == objects.size());
        CHECK_FALSE(m.contains(last));
        CHECK(m.keys().size() == objects.size());
    }
    CHECK(m.empty());
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: erase removes one entry and leaves the rest",
          "[weak_value_map]") {
    item_map m;
    auto o1 = wr::make_ref<item>(1);
    auto o2 = wr::make_ref<item>(2);
    m.insert(10, o1);
    m.insert(20, o2);
    CHECK(m.size() == 2);
    CHECK(m.erase(10));
    CHECK(m.size() == 1);
    auto items = m.items();
    REQUIRE(items.size() == 1);
    CHECK(items[0].first == 20);
    CHECK(items[0].second == o2);
    CHECK_FALSE(m.erase(10)); // already gone
    CHECK_FALSE(m.erase(30)); // never there
    CHECK(o1.use_count() == 1);
    CHECK(o1.weak_count() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: insert keeps a live value, insert_or_assign replaces it",
          "[weak_value_map]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    CHECK(m.insert(1, a));
    CHECK_FALSE(m.insert(1, b)); // as setdefault: the live value stays
    CHECK(m.get(1) == a);
    CHECK_FALSE(m.insert(1, a));
    CHECK_FALSE(m.insert_or_assign(1, b)); // replaced
    CHECK(m.get(1) == b);
    CHECK(a.weak_count() == 0);
    CHECK(b.weak_count() == 1);
    CHECK_FALSE(m.insert_or_assign(1, b)); // the same value again
    CHECK(m.size() == 1);
    CHECK(b.weak_count() == 1);
    CHECK(m.insert_or_assign(2, a)); // added
    CHECK(m.size() == 2);

    SECTION("a key whose value died takes a new one with insert") {
        a.reset();
        CHECK_FALSE(m.contains(2));
        auto c = wr::make_ref<item>(3);
        CHECK(m.insert(2, c));
        CHECK(m.get(2) == c);
    }
    SECTION("rvalue keys and values") {
        auto c = wr::make_ref<item>(3);
        CHECK(m.insert(3, wr::ref<item>(c))); // an rvalue binds to the const& overload
        CHECK(m.get(3) == c);
        CHECK(c.use_count() == 1);
        CHECK(c.weak_count() == 1);
    }
}

TEMPLATE_TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: holds any value type weakly and forgets it "
                                   "at its death",
                   "[weak_value_map][typed]", int, std::set<int>, wrtest::final_type,
                   wrtest::plain_base, wrtest::over_aligned) {
    wr::weak_value_map<int, TestType> m;
    auto a = wrtest::subject<TestType>::make(1);
    auto b = wrtest::subject<TestType>::make(2);
    CHECK(m.insert(1, a));
    CHECK(m.insert(2, a));
    CHECK(m.insert(3, b));
    CHECK(a.use_count() == 1); // never kept alive by the map
    CHECK(a.weak_count() == 2);
    CHECK(m.get(1).get() == a.get());
    CHECK(m.get(3).get() == b.get());
    wr::weak_ref<TestType> wa = a;
    a.reset();
    CHECK(wa.expired());
    CHECK_FALSE(m.contains(1));
    CHECK_FALSE(m.contains(2));
    CHECK(m.size() == 1);
    CHECK(wrtest::identities(m.values()) == wrtest::identities_of(b));
    b.reset();
    CHECK(m.empty());
}

// --- Death ---------------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a dying value is gone from every observation before "
                          "its callbacks and its destructor run",
          "[weak_value_map][death]") {
    wr::weak_value_map<int, wrtest::observed> m;
    auto keep = wr::make_ref<wrtest::observed>(0);
    auto dying = wr::make_ref<wrtest::observed>(1);
    m.insert(0, keep);
    m.insert(1, dying);
    m.insert(2, dying); // one value under two keys
    sight in_callback;
    sight in_destructor;
    auto f = wr::on_death(dying, [&] { in_callback = look(m, {1, 2}, 0); });
    dying->on_destroy = [&] { in_destructor = look(m, {1, 2}, 0); };
    CHECK(m.size() == 3);
    dying.reset();
    check_gone(in_callback, 0);
    check_gone(in_destructor, 0);
    check_gone(look(m, {1, 2}, 0), 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: one value under many keys leaves them all at its death",
          "[weak_value_map][hazard-6]") {
    item_map m;
    auto v = wr::make_ref<item>(7);
    auto other = wr::make_ref<item>(8);
    for (int k = 0; k < 100; ++k) {
        CHECK(m.insert(k, v));
    }
    m.insert(1000, other);
    CHECK(v.weak_count() == 100);
    CHECK(m.size() == 101);
    v.reset();
    CHECK(m.size() == 1);
    CHECK(m.keys() == std::vector<int>{1000});
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a replaced value's death leaves the new entry",
          "[weak_value_map][hazard-1]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert_or_assign(1, a);
    m.insert_or_assign(2, a);
    m.insert_or_assign(1, b);
    a.reset(); // its removal must not take b's entry for key 1
    CHECK(m.get(1) == b);
    CHECK(m.contains(1));
    CHECK_FALSE(m.contains(2));
    CHECK(m.size() == 1);

    SECTION("and the same after an erase and a fresh insert of the key") {
        auto c = wr::make_ref<item>(3);
        auto d = wr::make_ref<item>(4);
        m.insert(5, c);
        CHECK(m.erase(5));
        m.insert(5, d);
        c.reset();
        CHECK(m.get(5) == d);
        CHECK(m.size() == 2);
    }
    SECTION("and the same when the new value is put in by the old one's callback") {
        auto c = wr::make_ref<item>(3);
        auto d = wr::make_ref<item>(4);
        m.insert(5, c);
        auto f = wr::on_death(c, [&] { m.insert(5, d); });
        c.reset();
        CHECK(m.get(5) == d);
        CHECK(m.size() == 2);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a value in two maps leaves both at its death",
          "[weak_value_map]") {
    item_map m1;
    wr::weak_value_map<std::string, item> m2;
    auto v = wr::make_ref<item>(1);
    m1.insert(1, v);
    m2.insert("one", v);
    CHECK(v.weak_count() == 2);
    v.reset();
    CHECK(m1.empty());
    CHECK(m2.empty());
    CHECK_FALSE(m2.contains("one"));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: get returns a strong ref that outlives every other",
          "[weak_value_map][hazard-2]") {
    wrtest::count_scope<item> scope;
    item_map m;
    auto v = wr::make_ref<item>(42);
    m.insert(1, v);
    REQUIRE(m.contains(1));
    wr::ref<item> got = m.get(1);
    CHECK(got.use_count() == 2);
    v.reset(); // the map's answer is all that holds it now
    REQUIRE(got);
    CHECK(got->value == 42);
    CHECK(m.contains(1));
    CHECK(scope.alive() == 1);
    got.reset();
    CHECK_FALSE(m.contains(1));
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: the referent's memory is freed at its death while the "
                          "map lives (in weakref::, once no lookup can still read its entry)",
          "[weak_value_map][hazard-13]") {
    wrtest::alloc_stats stats;
    item_map m;
    {
        auto v = wr::allocate_ref<item>(wrtest::counting_allocator<item>(stats), 1);
        m.insert(1, v);
        m.insert(2, v);
        CHECK(stats.live_allocations() == 1);
    }
    // In weakref:: the entry's weak unit keeps the block (and the object's memory with it) for
    // a grace period: a lookup on another thread may still be reading the entry.
    // flush_retired() waits for it; weakref::local:: frees it at the death itself.
    wr::flush_retired();
    CHECK(stats.live_allocations() == 0);
    CHECK(stats.bad_deallocations.load() == 0);
    CHECK(m.empty());
}

// --- Snapshots -----------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a loop over a snapshot may drop and erase entries",
          "[weak_value_map][hazard-3]") {
    wrtest::count_scope<item> scope;
    item_map m;
    std::map<int, wr::ref<item>> owners;
    for (int i = 0; i < 50; ++i) {
        owners[i] = wr::make_ref<item>(i);
        m.insert(i, owners[i]);
    }

    SECTION("items(): dropping every owner keeps the snapshot's values alive") {
        auto snapshot = m.items();
        REQUIRE(snapshot.size() == 50);
        for (auto& kv : snapshot) {
            owners.erase(kv.first);
            REQUIRE(kv.second);
            CHECK(kv.second->value == kv.first);
            CHECK(m.contains(kv.first)); // the snapshot still holds it
        }
        CHECK(m.size() == 50);
        snapshot.clear();
        CHECK(m.empty());
        CHECK(scope.alive() == 0);
    }
    SECTION("items(): dropping each value, snapshot's ref too, shrinks the map by one") {
        auto snapshot = m.items();
        owners.clear();
        std::size_t left = snapshot.size();
        for (auto& kv : snapshot) {
            kv.second.reset();
            --left;
            CHECK_FALSE(m.contains(kv.first));
            CHECK(m.size() == left);
        }
        CHECK(scope.alive() == 0);
    }
    SECTION("keys(): erasing the entry visited and the one after it") {
        int erased = 0;
        for (int k : wrtest::sorted(m.keys())) {
            if (m.erase(k)) {
                ++erased;
                CHECK(m.erase(k + 1));
            }
        }
        CHECK(erased == 25);
        CHECK(m.empty());
        CHECK(scope.alive() == 50); // erasing touched no value
    }
    SECTION("keys(): dropping owners of keys not yet visited") {
        int found = 0;
        for (int k : wrtest::sorted(m.keys())) {
            if (m.get(k)) {
                ++found;
                owners.erase(k + 1);
            }
        }
        CHECK(found == 25);
        CHECK(m.size() == 25);
        CHECK(scope.alive() == 25);
    }
    SECTION("values(): dropping every owner") {
        auto values = m.values();
        owners.clear();
        CHECK(m.size() == 50);
        for (auto& v : values) {
            v.reset();
        }
        CHECK(m.empty());
    }
}

// --- Re-entrance ---------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a value's destructor and callbacks may use the map",
          "[weak_value_map][hazard-8]") {
    wr::weak_value_map<int, wrtest::observed> m;
    auto survivor = wr::make_ref<wrtest::observed>(5);
    auto victim = wr::make_ref<wrtest::observed>(6);
    auto dying = wr::make_ref<wrtest::observed>(1);
    m.insert(1, dying);
    m.insert(6, victim);
    std::size_t size_in_destructor = 99;
    bool inserted = false;
    bool erased = false;
    dying->on_destroy = [&] {
        inserted = m.insert(5, survivor);
        erased = m.erase(6);
        size_in_destructor = m.size();
    };
    bool callback_inserted = false;
    auto f = wr::on_death(dying, [&] { callback_inserted = m.insert_or_assign(7, survivor); });
    dying.reset();
    CHECK(callback_inserted);
    CHECK(inserted);
    CHECK(erased);
    CHECK(size_in_destructor == 2);
    CHECK(wrtest::sorted(m.keys()) == std::vector<int>{5, 7});
    CHECK(m.get(5) == survivor);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a temporary inserted dies at once and leaves no entry",
          "[weak_value_map][hazard-8]") {
    wr::weak_value_map<int, wrtest::observed> m;
    std::size_t seen = 99;
    CHECK(m.insert(1, [&] {
        auto r = wr::make_ref<wrtest::observed>(1);
        r->on_destroy = [&] { seen = m.size(); };
        return r;
    }()));
    CHECK(seen == 0);
    CHECK(m.empty());
    CHECK_FALSE(m.contains(1));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a chain of values each holding the next empties the map "
                          "at the head's death",
          "[weak_value_map][hazard-8][hazard-14]") {
    constexpr int n = 5000;
    wrtest::count_scope<wrtest::counted<chain_link>> scope;
    wr::weak_value_map<int, chain_link> m;
    wr::ref<chain_link> head;
    {
        std::vector<wr::ref<chain_link>> links;
        for (int i = 0; i < n; ++i) {
            links.push_back(wr::make_ref<chain_link>());
            m.insert(i, links.back());
        }
        for (int i = 0; i + 1 < n; ++i) {
            links[static_cast<std::size_t>(i)]->next = links[static_cast<std::size_t>(i) + 1];
        }
        head = links.front();
    }
    CHECK(m.size() == static_cast<std::size_t>(n));
    CHECK(scope.alive() == n);
    head.reset();
    CHECK(m.size() == 0);
    CHECK(m.keys().empty());
    CHECK(scope.alive() == 0);
}

// --- The map dies first -----------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: values outlive a map destroyed, moved from, cleared or "
                          "swapped",
          "[weak_value_map][hazard-5]") {
    wrtest::count_scope<item> scope;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    auto c = wr::make_ref<item>(3);

    SECTION("destroyed") {
        {
            item_map m;
            m.insert(1, a);
            m.insert(2, b);
            CHECK(a.weak_count() == 1);
        }
        CHECK(a.weak_count() == 0);
        CHECK(a.use_count() == 1);
        CHECK(a->value == 1);
    }
    SECTION("moved from, then destroyed") {
        auto m = std::make_unique<item_map>();
        m->insert(1, a);
        m->insert(2, b);
        item_map moved(std::move(*m));
        CHECK(m->empty());
        m.reset();
        a.reset();
        CHECK(moved.size() == 1);
        CHECK(moved.get(2) == b);
    }
    SECTION("move-assigned over") {
        item_map m1;
        item_map m2;
        m1.insert(1, a);
        m2.insert(3, c);
        m2 = std::move(m1);
        CHECK(c.weak_count() == 0); // m2's old entry let go
        CHECK(m2.get(1) == a);
        c.reset();
        a.reset();
        CHECK(m2.empty());
    }
    SECTION("cleared") {
        item_map m;
        m.insert(1, a);
        m.insert(2, b);
        m.clear();
        CHECK(m.empty());
        CHECK(a.weak_count() == 0);
        CHECK(a.use_count() == 1);
        CHECK(scope.alive() == 3); // clear touched no value
    }
    SECTION("swapped, then destroyed") {
        auto m1 = std::make_unique<item_map>();
        item_map m2;
        m1->insert(1, a);
        m2.insert(3, c);
        m1->swap(m2);
        CHECK(m2.get(1) == a);
        CHECK(m1->get(3) == c);
        m1.reset();
        c.reset();
        a.reset();
        CHECK(m2.empty());
    }
    a.reset();
    b.reset();
    c.reset();
    CHECK(scope.alive() == 0);
}

// --- Copy, move, swap, clear --------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a copy holds the live entries and is independent",
          "[weak_value_map]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert(1, a);
    m.insert(2, b);
    {
        auto dead = wr::make_ref<item>(3);
        m.insert(3, dead);
    }
    item_map copy(m);
    CHECK(copy.size() == 2);
    CHECK(copy.get(1) == a);
    CHECK(copy.get(2) == b);
    CHECK(a.weak_count() == 2);
    CHECK(a.use_count() == 1);

    copy.erase(1);
    CHECK(m.get(1) == a);
    auto c = wr::make_ref<item>(4);
    m.insert(4, c);
    CHECK_FALSE(copy.contains(4));

    b.reset(); // leaves both
    CHECK_FALSE(m.contains(2));
    CHECK_FALSE(copy.contains(2));

    item_map assigned;
    assigned.insert(9, c);
    assigned = m;
    CHECK(wrtest::sorted(assigned.keys()) == std::vector<int>{1, 4});
    item_map& alias = assigned;
    assigned = alias; // self-assignment keeps the entries
    CHECK(wrtest::sorted(assigned.keys()) == std::vector<int>{1, 4});
    CHECK(c.weak_count() == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a moved-from map is empty and usable",
          "[weak_value_map]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    m.insert(1, a);
    item_map moved(std::move(m));
    CHECK(moved.get(1) == a);
    CHECK(m.empty());           // NOLINT(bugprone-use-after-move)
    CHECK(m.size() == 0);       // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(m.contains(1)); // NOLINT(bugprone-use-after-move)
    CHECK(m.insert(1, a));
    CHECK(a.weak_count() == 2);
    item_map assigned;
    assigned = std::move(moved);
    CHECK(moved.empty()); // NOLINT(bugprone-use-after-move)
    CHECK(moved.insert(2, a));
    a.reset();
    CHECK(m.empty());
    CHECK(moved.empty());
    CHECK(assigned.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: swap exchanges the entries", "[weak_value_map]") {
    item_map m1;
    item_map m2;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m1.insert(1, a);
    m2.insert(2, b);
    m2.insert(3, b);
    m1.swap(m2);
    CHECK(wrtest::sorted(m1.keys()) == std::vector<int>{2, 3});
    CHECK(m2.keys() == std::vector<int>{1});
    swap(m1, m2);
    CHECK(m1.keys() == std::vector<int>{1});
    CHECK(m2.size() == 2);
    b.reset();
    CHECK(m2.empty());
    CHECK(m1.size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: clear empties the map and leaves the values",
          "[weak_value_map]") {
    wrtest::count_scope<item> scope;
    item_map m;
    auto a = wr::make_ref<item>(1);
    m.insert(1, a);
    m.insert(2, a);
    m.clear();
    CHECK(m.empty());
    CHECK(a.use_count() == 1);
    CHECK(a.weak_count() == 0);
    CHECK(scope.alive() == 1);
    CHECK(m.insert(1, a)); // still usable
    m.clear();
    item_map never_used;
    never_used.clear();
    CHECK(never_used.empty());
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: an empty ref as a value throws std::invalid_argument",
          "[needs-exceptions][weak_value_map]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    m.insert(1, a);
    REQUIRE_THROWS_AS(m.insert(2, wr::ref<item>()), std::invalid_argument);
    REQUIRE_THROWS_AS(m.insert_or_assign(1, wr::ref<item>()), std::invalid_argument);
    const int key = 3;
    const wr::ref<item> empty;
    REQUIRE_THROWS_AS(m.insert(key, empty), std::invalid_argument);
    CHECK(m.size() == 1);
    CHECK(m.get(1) == a);
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: weak_count counts the entries; use_count is untouched",
          "[weak_value_map]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    wr::weak_ref<item> w = a;
    CHECK(a.weak_count() == 1);
    m.insert(1, a);
    m.insert(2, a);
    CHECK(a.weak_count() == 3);
    CHECK(a.use_count() == 1);
    m.erase(1);
    CHECK(a.weak_count() == 2);
    m.insert_or_assign(2, wr::make_ref<item>(2)); // the temporary dies at once
    CHECK(a.weak_count() == 1);
    CHECK(m.empty());
}

// --- get_or_insert --------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: get_or_insert makes only on a miss",
          "[weak_value_map][get_or_insert]") {
    item_map m;
    int made = 0;
    auto make = [&] {
        ++made;
        return wr::make_ref<item>(made);
    };
    wr::ref<item> first = m.get_or_insert(1, make);
    REQUIRE(first);
    CHECK(made == 1);
    CHECK(m.get(1) == first);
    CHECK(m.get_or_insert(1, make) == first); // the live value
    CHECK(made == 1);

    auto other = wr::make_ref<item>(100);
    m.insert(2, other);
    CHECK(m.get_or_insert(2, make) == other);
    CHECK(made == 1);

    first.reset(); // the entry left: the next call makes again
    wr::ref<item> second = m.get_or_insert(1, make);
    CHECK(made == 2);
    CHECK(second->value == 2);
    CHECK(m.get(1) == second);
    CHECK(second.use_count() == 1); // the map holds it weakly
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: an empty result of make is returned and not inserted",
          "[weak_value_map][get_or_insert]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    m.insert(1, a);
    wr::ref<item> got = m.get_or_insert(2, [] { return wr::ref<item>(); });
    CHECK_FALSE(got);
    CHECK_FALSE(m.contains(2));
    CHECK(m.size() == 1);
    // and the key is free again
    auto b = wr::make_ref<item>(2);
    CHECK(m.get_or_insert(2, [&] { return b; }) == b);
    CHECK(m.get(2) == b);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: get_or_insert from inside make: same key throws "
                          "std::logic_error, another key works",
          "[weak_value_map][get_or_insert]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);

#if WEAKREF_TEST_HAS_EXCEPTIONS
    SECTION("the inner call for the same key throws; the outer call goes on") {
        bool threw = false;
        auto got = m.get_or_insert(1, [&] {
            try {
                (void)m.get_or_insert(1, [&] { return b; });
            } catch (const std::logic_error&) {
                threw = true;
            }
            return a;
        });
        CHECK(threw);
        CHECK(got == a);
        CHECK(m.get(1) == a);
        CHECK(m.size() == 1);
    }
    SECTION("the logic_error escaping make leaves the map unchanged and the key free") {
        REQUIRE_THROWS_AS(m.get_or_insert(1,
                                          [&] {
                                              (void)m.get_or_insert(1, [&] { return b; });
                                              return a;
                                          }),
                          std::logic_error);
        CHECK(m.empty());
        CHECK(m.get_or_insert(1, [&] { return b; }) == b);
    }
#endif
    SECTION("another key inside make") {
        auto got = m.get_or_insert(1, [&] {
            CHECK(m.get_or_insert(2, [&] { return b; }) == b);
            CHECK(m.get(2) == b);
            return a;
        });
        CHECK(got == a);
        CHECK(m.get(1) == a);
        CHECK(m.get(2) == b);
        CHECK(m.size() == 2);
    }
    SECTION("an insert of the same key inside make: the result is what the map holds") {
        auto got = m.get_or_insert(1, [&] {
            CHECK(m.insert(1, b));
            return a;
        });
        CHECK(m.get(1) == got);
        CHECK(m.size() == 1);
    }
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a throwing make leaves the map unchanged and leaks "
                          "nothing",
          "[needs-exceptions][weak_value_map][get_or_insert][exceptions]") {
    wrtest::count_scope<item> scope;
    item_map m;
    auto a = wr::make_ref<item>(1);
    m.insert(1, a);
    int runs = 0;
    auto failing = [&]() -> wr::ref<item> {
        ++runs;
        auto half_made = wr::make_ref<item>(2);
        throw wrtest::injected_failure();
    };
    REQUIRE_THROWS_AS(m.get_or_insert(2, failing), wrtest::injected_failure);
    CHECK(runs == 1);
    CHECK(m.size() == 1);
    CHECK_FALSE(m.contains(2));
    CHECK(scope.alive() == 1);
    // a later call runs make again
    REQUIRE_THROWS_AS(m.get_or_insert(2, failing), wrtest::injected_failure);
    CHECK(runs == 2);
    auto b = m.get_or_insert(2, [] { return wr::make_ref<item>(3); });
    CHECK(m.get(2) == b);
    CHECK(m.get_or_insert(1, failing) == a); // a hit never runs make
    CHECK(runs == 2);
}
#endif

// --- Heterogeneous lookup -----------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: transparent hash and equal look std::string keys up by "
                          "std::string_view",
          "[weak_value_map][heterogeneous]") {
    using smap = wr::weak_value_map<std::string, item, wrtest::string_hash, wrtest::string_equal>;
    static_assert(can_get<smap, std::string_view>::value);
    static_assert(!can_get<wr::weak_value_map<std::string, item>, std::string_view>::value);

    smap m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert(std::string("alpha"), a);
    const std::string_view alpha = "alpha";
    const std::string_view beta = "beta";
    const long before = wrtest::string_equal::view_calls().load();
    CHECK(m.get(alpha) == a);
    CHECK(m.contains(alpha));
    CHECK_FALSE(m.contains(beta));
    CHECK_FALSE(m.get(beta));
    CHECK(wrtest::string_equal::view_calls().load() > before);

    int made = 0;
    auto got = m.get_or_insert(beta, [&] {
        ++made;
        return b;
    });
    CHECK(got == b);
    CHECK(m.get(std::string("beta")) == b);
    CHECK(m.get_or_insert(alpha, [&] {
        ++made;
        return b;
    }) == a);
    CHECK(made == 1);
    CHECK(m.erase(alpha));
    CHECK_FALSE(m.erase(alpha));
    CHECK(m.keys() == std::vector<std::string>{"beta"});
}

// --- Exceptions from the user's hash, key-equal and key copies ---------------------------------

namespace {
struct hash_fault {};
struct equal_fault {};
struct key_copy_tag {};
} // namespace

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a throwing hash leaves the map unchanged",
          "[needs-exceptions][weak_value_map][exceptions]") {
    using fault = wrtest::fault<hash_fault>;
    wrtest::disarm_at_exit<hash_fault> disarm;
    wr::weak_value_map<int, item, wrtest::flaky_hash<hash_fault>> m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert(1, a);
    auto unchanged = [&] {
        CHECK(m.size() == 1);
        CHECK(m.get(1) == a);
        CHECK(a.weak_count() == 1);
        CHECK(b.weak_count() == 0);
    };
    fault::arm();
    REQUIRE_THROWS_AS(m.insert(2, b), wrtest::injected_failure);
    unchanged();
    fault::arm();
    REQUIRE_THROWS_AS(m.insert_or_assign(1, b), wrtest::injected_failure);
    unchanged();
    fault::arm();
    REQUIRE_THROWS_AS(m.get(1), wrtest::injected_failure);
    fault::arm();
    REQUIRE_THROWS_AS(m.contains(1), wrtest::injected_failure);
    fault::arm();
    REQUIRE_THROWS_AS(m.erase(1), wrtest::injected_failure);
    unchanged();
    int made = 0;
    fault::arm();
    REQUIRE_THROWS_AS(m.get_or_insert(2,
                                      [&] {
                                          ++made;
                                          return b;
                                      }),
                      wrtest::injected_failure);
    CHECK(made == 0);
    unchanged();
    CHECK(m.get_or_insert(2, [&] { return b; }) == b);
}
#endif

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a throwing key-equal leaves the map unchanged",
          "[needs-exceptions][weak_value_map][exceptions]") {
    using fault = wrtest::fault<equal_fault>;
    wrtest::disarm_at_exit<equal_fault> disarm;
    // Every key hashes alike, so that each lookup compares keys.
    wr::weak_value_map<int, item, wrtest::flaky_hash<equal_fault, true>,
                       wrtest::flaky_equal<equal_fault>>
        m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert(1, a);
    auto unchanged = [&] {
        CHECK(m.size() == 1);
        CHECK(m.get(1) == a);
        CHECK_FALSE(m.contains(2));
        CHECK(a.weak_count() == 1);
        CHECK(b.weak_count() == 0);
    };
    // flaky_hash<equal_fault> shares the switch: arm(1) lets the hash pass and fails the equal.
    fault::arm(1);
    REQUIRE_THROWS_AS(m.insert(2, b), wrtest::injected_failure);
    unchanged();
    fault::arm(1);
    REQUIRE_THROWS_AS(m.insert_or_assign(1, b), wrtest::injected_failure);
    unchanged();
    fault::arm(1);
    REQUIRE_THROWS_AS(m.get(2), wrtest::injected_failure);
    fault::arm(1);
    REQUIRE_THROWS_AS(m.contains(1), wrtest::injected_failure);
    fault::arm(1);
    REQUIRE_THROWS_AS(m.erase(1), wrtest::injected_failure);
    unchanged();
    int made = 0;
    fault::arm(1);
    REQUIRE_THROWS_AS(m.get_or_insert(2,
                                      [&] {
                                          ++made;
                                          return b;
                                      }),
                      wrtest::injected_failure);
    CHECK(made == 0);
    unchanged();
    CHECK(m.get_or_insert(2, [&] { return b; }) == b);
    CHECK(m.size() == 2);
}
#endif

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a key-equal that throws after make ran leaves the map "
                          "unchanged and the key free",
          "[needs-exceptions][weak_value_map][exceptions][get_or_insert]") {
    using fault = wrtest::fault<equal_fault>;
    wrtest::disarm_at_exit<equal_fault> disarm;
    wr::weak_value_map<int, item, wrtest::flaky_hash<equal_fault, true>,
                       wrtest::flaky_equal<equal_fault>>
        m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert(1, a);
    // make arms the switch: the first comparison after it (the insertion's look-up) throws.
    REQUIRE_THROWS_AS(m.get_or_insert(2,
                                      [&] {
                                          fault::arm();
                                          return b;
                                      }),
                      wrtest::injected_failure);
    fault::disarm();
    CHECK(m.size() == 1);
    CHECK_FALSE(m.contains(2));
    CHECK(b.use_count() == 1);
    // The failed creation must not stay registered: the key takes a new get_or_insert.
    wr::ref<item> got;
    CHECK_NOTHROW(got = m.get_or_insert(2, [&] { return b; }));
    CHECK(got == b);
}
#endif

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a throwing key copy leaves the map unchanged and "
                          "leaks no key",
          "[needs-exceptions][weak_value_map][exceptions]") {
    using key = wrtest::flaky_key<key_copy_tag>;
    using fault = key::fault_type;
    using key_map = wr::weak_value_map<key, item, wrtest::flaky_key_hash<key_copy_tag>>;
    wrtest::disarm_at_exit<wrtest::copy_fault_tag<key_copy_tag>> disarm;
    wrtest::count_scope<wrtest::counted<key>> keys;
    {
        key_map m;
        auto a = wr::make_ref<item>(1);
        auto b = wr::make_ref<item>(2);
        const key k1(1);
        const key k2(2);
        m.insert(k1, a);
        auto unchanged = [&] {
            CHECK(m.size() == 1);
            CHECK(m.get(k1) == a);
            CHECK_FALSE(m.contains(k2));
            CHECK(a.weak_count() == 1);
            CHECK(b.weak_count() == 0);
        };

        fault::arm();
        REQUIRE_THROWS_AS(m.insert(k2, b), wrtest::injected_failure);
        unchanged();

        SECTION("assigning to a present key keeps the stored key: no copy that could fail") {
            fault::arm();
            CHECK_FALSE(m.insert_or_assign(k1, b)); // replaced, not added
            CHECK(fault::armed());                  // no copy consumed it
            fault::disarm();
            CHECK(m.size() == 1);
            CHECK(m.get(k1) == b);
            CHECK(a.weak_count() == 0);
            CHECK(b.weak_count() == 1);
        }
        SECTION("get_or_insert: the copy for the pending creation fails before make runs") {
            int made = 0;
            fault::arm();
            REQUIRE_THROWS_AS(m.get_or_insert(k2,
                                              [&] {
                                                  ++made;
                                                  return b;
                                              }),
                              wrtest::injected_failure);
            CHECK(made == 0);
            unchanged();
        }
        SECTION("get_or_insert: the copy into the entry fails after make ran") {
            int made = 0;
            fault::arm(1);
            REQUIRE_THROWS_AS(m.get_or_insert(k2,
                                              [&] {
                                                  ++made;
                                                  return b;
                                              }),
                              wrtest::injected_failure);
            fault::disarm();
            CHECK(made == 1);
            unchanged();
            CHECK(m.get_or_insert(k2, [&] { return b; }) == b); // the key is free
            CHECK(m.size() == 2);
        }
        SECTION("a copy of the map") {
            m.insert(key(3), b); // moves: no copy
            fault::arm(1);
            REQUIRE_THROWS_AS(key_map(m), wrtest::injected_failure);
            fault::disarm();
            CHECK(m.size() == 2);
            CHECK(b.use_count() == 1);
        }
        SECTION("an rvalue key is moved, never copied") {
            fault::arm();
            CHECK(m.insert(key(4), b));
            CHECK(m.insert_or_assign(key(5), b));
            CHECK(fault::armed()); // no copy consumed it
            fault::disarm();
            CHECK(m.size() == 3);
        }
    }
    CHECK(keys.alive() == 0);
}
#endif

// --- Threads (thread-safe flavour) -------------------------------------------------------------

#if !(defined(WEAKREF_TEST_LOCAL) && WEAKREF_TEST_LOCAL)

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a value dying on another thread has left when its "
                          "release returns there",
          "[weak_value_map][death]") {
    item_map m;
    auto v = wr::make_ref<item>(1);
    m.insert(1, v);
    bool contains_after = true;
    std::size_t size_after = 99;
    std::thread t([&, mine = std::move(v)]() mutable {
        mine.reset();
        contains_after = m.contains(1);
        size_after = m.size();
    });
    t.join();
    CHECK_FALSE(contains_after);
    CHECK(size_after == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: concurrent get_or_insert for one key makes one value",
          "[weak_value_map][get_or_insert][hazard-11]") {
    item_map m;
    std::atomic<int> made{0};
    constexpr int threads = 4;
    std::vector<wr::ref<item>> results(threads);
    std::vector<std::thread> pool;
    std::atomic<int> ready{0};
    for (int i = 0; i < threads; ++i) {
        pool.emplace_back([&, i] {
            ++ready;
            while (ready.load() < threads) {
                std::this_thread::yield();
            }
            results[static_cast<std::size_t>(i)] = m.get_or_insert(1, [&] {
                ++made;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                return wr::make_ref<item>(1);
            });
        });
    }
    for (auto& t : pool) {
        t.join();
    }
    CHECK(made.load() == 1);
    for (const auto& r : results) {
        CHECK(r == results.front());
    }
    CHECK(m.get(1) == results.front());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a running make blocks no other key",
          "[weak_value_map][get_or_insert][hazard-11]") {
    item_map m;
    std::atomic<bool> other_done{false};
    bool saw_other = false;
    std::thread slow([&] {
        (void)m.get_or_insert(1, [&] {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (!other_done.load() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            saw_other = other_done.load();
            return wr::make_ref<item>(1);
        });
    });
    auto b = wr::make_ref<item>(2);
    // Key 2 is likely in another shard; a shard shared with key 1 must not block either.
    for (int k = 2; k < 40; ++k) {
        (void)m.get_or_insert(k, [&] { return b; });
    }
    other_done.store(true);
    slow.join();
    CHECK(saw_other);
    CHECK(m.size() == 38); // key 1's value died with the slow thread's result
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: racing get_or_insert callers that drop their results "
                          "never get an empty ref",
          "[weak_value_map][get_or_insert][hazard-11]") {
    item_map m;
    std::atomic<int> empties{0};
    std::vector<std::thread> pool;
    for (int i = 0; i < 4; ++i) {
        pool.emplace_back([&] {
            for (int n = 0; n < 2000; ++n) {
                auto r = m.get_or_insert(n % 3, [&] { return wr::make_ref<item>(n); });
                if (!r) {
                    ++empties;
                }
            }
        });
    }
    for (auto& t : pool) {
        t.join();
    }
    CHECK(empties.load() == 0);
    CHECK(m.empty());
}

#endif

// --- Working inside the map: removal listener, erase_if, take, get_or_emplace, value_refs, == ---

namespace {

using cause = wr::removal_cause;
using key_log = wrtest::removal_log<int>;

/// Installs a listener on `m` that records (key, cause) in `log`.
template <class Map> void listen(Map& m, key_log& log) {
    m.on_remove([&log](const int& key, cause c) { log.record(key, c); });
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: assignments before, while and after a listener is "
                          "installed: only those while it is there are told, and every one "
                          "replaces its value",
          "[weak_value_map][on_remove]") {
    // An assignment with no listener and no keep_recent takes a shorter path (no graveyard):
    // this walks a key through both paths and back.
    item_map m;
    key_log log;
    std::vector<wr::ref<item>> old;
    auto value = wr::make_ref<item>(0);
    CHECK(m.insert_or_assign(1, value));
    const auto assign = [&](int n) {
        old.push_back(value);
        value = wr::make_ref<item>(n);
        CHECK_FALSE(m.insert_or_assign(1, value)); // replaced, not added
        CHECK(m.get(1) == value);
        CHECK(value.weak_count() == 1);
        CHECK(old.back().weak_count() == 0); // the entry let go of the old value at once
        CHECK(m.size() == 1);
    };
    assign(1);
    listen(m, log);
    assign(2);
    assign(3);
    m.on_remove(nullptr);
    assign(4);
    CHECK(log.causes() == std::vector<cause>{cause::replaced, cause::replaced});
    listen(m, log);
    old.clear(); // the replaced values die: none is in the map any more, nothing to tell
    CHECK(log.size() == 2);
    CHECK(m.get(1) == value);
    value.reset();
    CHECK(log.causes() == std::vector<cause>{cause::replaced, cause::replaced, cause::died});
    CHECK(m.empty());
}

/// A listener that records (tag, key) and counts how often it was copied: a copy of the map
/// must copy it, a move must not.
struct tagged_listener {
    wrtest::removal_log<std::pair<int, int>>* log;
    int tag;
    int* copies;
    tagged_listener(wrtest::removal_log<std::pair<int, int>>* l, int t, int* c)
        : log(l), tag(t), copies(c) {}
    tagged_listener(const tagged_listener& other)
        : log(other.log), tag(other.tag), copies(other.copies) {
        ++*copies;
    }
    tagged_listener(tagged_listener&&) noexcept = default;
    tagged_listener& operator=(const tagged_listener&) = delete;
    tagged_listener& operator=(tagged_listener&&) = delete;
    ~tagged_listener() = default;
    void operator()(const int& key, cause c) const { log->record({tag, key}, c); }
};

/// A case-insensitive hash and equality of ASCII strings: keys equal by KeyEqual, not by ==.
struct ci_hash {
    std::size_t operator()(const std::string& s) const {
        std::string lower;
        for (char ch : s) {
            lower.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
        }
        return std::hash<std::string>()(lower);
    }
};
struct ci_equal {
    bool operator()(const std::string& a, const std::string& b) const {
        return ci_hash()(a) == ci_hash()(b) && a.size() == b.size();
    }
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: removal_cause is one type in both flavours",
          "[weak_value_map][on_remove]") {
    STATIC_REQUIRE(std::is_same_v<weakref::removal_cause, weakref::local::removal_cause>);
    STATIC_REQUIRE(std::is_enum_v<wr::removal_cause>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<wr::removal_cause, int>); // an enum class
    const wr::removal_cause all[] = {cause::died, cause::erased, cause::replaced, cause::cleared};
    CHECK(std::set<wr::removal_cause>(std::begin(all), std::end(all)).size() == 4);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: the listener is told each removal once, with its cause",
          "[weak_value_map][on_remove]") {
    item_map m;
    key_log log;
    listen(m, log);
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    auto c = wr::make_ref<item>(3);
    m.insert(1, a);
    m.insert(2, b);
    m.insert(3, c);
    REQUIRE(log.empty()); // insertions tell nothing

    SECTION("erase: erased; erasing what is not there tells nothing") {
        CHECK(m.erase(2));
        CHECK(log.size() == 1);
        CHECK(log.count(2, cause::erased) == 1);
        CHECK_FALSE(m.erase(2));
        CHECK_FALSE(m.erase(99));
        CHECK(log.size() == 1);
    }
    SECTION("take: erased; taking what is not there tells nothing") {
        CHECK(m.take(3) == c);
        CHECK(log.size() == 1);
        CHECK(log.count(3, cause::erased) == 1);
        CHECK_FALSE(m.take(3));
        CHECK(log.size() == 1);
    }
    SECTION("erase_if: erased, for each entry it erased") {
        CHECK(m.erase_if([](const int& k, const item&) { return k != 2; }) == 2);
        CHECK(log.size() == 2);
        CHECK(log.count(1, cause::erased) == 1);
        CHECK(log.count(3, cause::erased) == 1);
    }
    SECTION("clear: cleared, for each entry") {
        m.clear();
        CHECK(log.size() == 3);
        CHECK(log.count(cause::cleared) == 3);
        for (int k : {1, 2, 3}) {
            CHECK(log.count_of(k) == 1);
        }
        m.clear();
        CHECK(log.size() == 3);
    }
    SECTION("a death: died, once per key that held the value") {
        m.insert(4, a); // a under two keys
        a.reset();
        CHECK(log.size() == 2);
        CHECK(log.count(1, cause::died) == 1);
        CHECK(log.count(4, cause::died) == 1);
    }
    SECTION("insert_or_assign over a live value: replaced; the old value's death: nothing") {
        auto a2 = wr::make_ref<item>(10);
        CHECK_FALSE(m.insert_or_assign(1, a2));
        CHECK(log.causes() == std::vector<cause>{cause::replaced});
        CHECK(log.last().what == 1);
        a.reset(); // no longer in the map: its death finds the entry gone
        CHECK(log.size() == 1);
        CHECK(m.get(1) == a2);
        a2.reset();
        CHECK(log.causes() == std::vector<cause>{cause::replaced, cause::died});
        CHECK(log.count(1, cause::died) == 1);
    }
    SECTION("insert_or_assign of the value already there, insert over a live value: nothing") {
        CHECK_FALSE(m.insert_or_assign(1, a));
        CHECK_FALSE(m.insert(1, b));
        CHECK(m.insert_or_assign(5, a)); // a new key: an addition, no removal
        CHECK(log.empty());
        CHECK(m.get(1) == a);
    }
    SECTION("erase, then the value's death: only erased") {
        CHECK(m.erase(1));
        a.reset();
        CHECK(log.causes() == std::vector<cause>{cause::erased});
    }
    SECTION("get_or_insert and get_or_emplace on a miss tell nothing") {
        auto made = m.get_or_insert(7, [] { return wr::make_ref<item>(7); });
        auto emplaced = m.get_or_emplace(8, 8);
        CHECK(log.empty());
        made.reset();
        CHECK(log.causes() == std::vector<cause>{cause::died});
        CHECK(log.last().what == 7);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: the listener runs after the entry left, and may use "
                          "the map",
          "[weak_value_map][on_remove]") {
    item_map m;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    auto extra = wr::make_ref<item>(3);
    m.insert(1, a);
    m.insert(2, b);
    struct seen {
        int calls = 0;
        int key = 0;
        cause why = cause::died;
        bool contains = true;
        bool got = true;
        std::size_t size = 99;
        bool inserted = false;
        wr::ref<item> now;
    } at;
    m.on_remove([&](const int& key, cause why) {
        ++at.calls;
        at.key = key;
        at.why = why;
        at.contains = m.contains(key);
        at.now = m.get(key);
        at.got = static_cast<bool>(at.now);
        at.size = m.size();
        at.inserted = m.insert(3, extra); // inserting from the listener
    });

    SECTION("erase") {
        CHECK(m.erase(1));
        CHECK(at.why == cause::erased);
        CHECK_FALSE(at.contains);
        CHECK_FALSE(at.got);
        CHECK(at.size == 1);
    }
    SECTION("death") {
        a.reset();
        CHECK(at.why == cause::died);
        CHECK_FALSE(at.contains);
        CHECK_FALSE(at.got);
        CHECK(at.size == 1);
    }
    SECTION("take") {
        CHECK(m.take(1) == a);
        CHECK(at.why == cause::erased);
        CHECK_FALSE(at.contains);
        CHECK(at.size == 1);
    }
    SECTION("replaced: the new value is in place") {
        auto a2 = wr::make_ref<item>(10);
        CHECK_FALSE(m.insert_or_assign(1, a2));
        CHECK(at.why == cause::replaced);
        CHECK(at.contains);
        CHECK(at.now == a2);
        CHECK(at.size == 2);
    }
    CHECK(at.calls == 1);
    CHECK(at.key == 1);
    CHECK(at.inserted);
    CHECK(m.get(3) == extra);
    CHECK(m.get(2) == b);
    m.on_remove(nullptr); // `at` and `extra` go before the map
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a listener may erase from the map, and is told that "
                          "removal too",
          "[weak_value_map][on_remove]") {
    item_map m;
    key_log log;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert(1, a);
    m.insert(2, b);
    m.on_remove([&](const int& key, cause why) {
        log.record(key, why);
        if (key == 1) {
            m.erase(2);
        }
    });
    a.reset();
    CHECK(m.empty());
    CHECK(log.size() == 2);
    CHECK(log.count(1, cause::died) == 1);
    CHECK(log.count(2, cause::erased) == 1);
    b.reset();
    CHECK(log.size() == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: on_remove replaces the listener; on_remove(nullptr) "
                          "removes it",
          "[weak_value_map][on_remove]") {
    item_map m;
    m.on_remove(nullptr); // on a map that has allocated nothing yet
    key_log first;
    key_log second;
    listen(m, first); // before the first insertion
    auto a = wr::make_ref<item>(1);
    m.insert(1, a);
    m.insert(2, a);
    m.insert(3, a);
    CHECK(m.erase(1));
    listen(m, second);
    CHECK(m.erase(2));
    m.on_remove(nullptr);
    CHECK(m.erase(3));
    CHECK(first.size() == 1);
    CHECK(first.count(1, cause::erased) == 1);
    CHECK(second.size() == 1);
    CHECK(second.count(2, cause::erased) == 1);
    m.insert(4, a);
    a.reset();
    CHECK(first.size() + second.size() == 2);
    CHECK(m.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: copies copy the listener, moves move it, swap swaps "
                          "it, destruction tells nothing",
          "[weak_value_map][on_remove][hazard-5]") {
    wrtest::removal_log<std::pair<int, int>> log; // (tag of the listener, key)
    int copies = 0;
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    auto original = std::make_unique<item_map>();
    original->on_remove(tagged_listener(&log, 1, &copies));
    original->insert(1, a);
    original->insert(2, b);
    const int copies_before = copies;

    SECTION("copy construction: an independent copy of the listener") {
        item_map copy(*original);
        CHECK(copies == copies_before + 1);
        original->on_remove(nullptr);
        CHECK(copy.erase(1));
        CHECK(log.count({1, 1}, cause::erased) == 1);
        CHECK(original->erase(2)); // its own listener is gone
        CHECK(log.size() == 1);
    }
    SECTION("copy assignment: the old entries are cleared, then the listener is copied") {
        item_map target;
        target.on_remove(tagged_listener(&log, 2, &copies));
        auto c = wr::make_ref<item>(3);
        target.insert(3, c);
        target.insert(4, c);
        target = *original;
        CHECK(log.size() == 2);
        CHECK(log.count({2, 3}, cause::cleared) == 1);
        CHECK(log.count({2, 4}, cause::cleared) == 1);
        CHECK(copies > copies_before);
        CHECK(target.erase(1));
        CHECK(log.count({1, 1}, cause::erased) == 1); // the copy of the original's listener
        c.reset();
        CHECK(log.size() == 3);
    }
    SECTION("move construction: the listener goes with the entries") {
        item_map moved(std::move(*original));
        CHECK(copies == copies_before);
        CHECK(moved.erase(1));
        CHECK(log.count({1, 1}, cause::erased) == 1);
        original->insert(5, a); // the moved-from map has no listener
        CHECK(original->erase(5));
        CHECK(log.size() == 1);
    }
    SECTION("move assignment: the old entries are cleared, then the listener moves") {
        item_map target;
        target.on_remove(tagged_listener(&log, 2, &copies));
        target.insert(3, a);
        target = std::move(*original);
        CHECK(log.causes() == std::vector<cause>{cause::cleared});
        CHECK(log.count({2, 3}, cause::cleared) == 1);
        b.reset();
        CHECK(log.count({1, 2}, cause::died) == 1);
        original->insert(5, a);
        CHECK(original->erase(5));
        CHECK(log.size() == 2);
    }
    SECTION("swap: each map keeps the other's listener") {
        item_map other;
        other.on_remove(tagged_listener(&log, 2, &copies));
        other.insert(3, a);
        SECTION("member") { original->swap(other); }
        SECTION("free") { swap(*original, other); }
        CHECK(original->erase(3));
        CHECK(log.count({2, 3}, cause::erased) == 1);
        CHECK(other.erase(1));
        CHECK(log.count({1, 1}, cause::erased) == 1);
        CHECK(log.size() == 2);
    }
    SECTION("destruction: nothing, then or at the values' later deaths") {
        original.reset();
        a.reset();
        b.reset();
        CHECK(log.empty());
    }
    SECTION("self-assignment changes nothing and tells nothing") {
        item_map& alias = *original;
        *original = alias;
        *original = std::move(alias);
        CHECK(original->size() == 2);
        CHECK(log.empty());
        CHECK(original->erase(1));
        CHECK(log.count({1, 1}, cause::erased) == 1);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: erase_if offers each live entry once and erases what "
                          "pred accepts",
          "[weak_value_map][erase_if]") {
    item_map m;
    key_log log;
    listen(m, log);
    std::vector<wr::ref<item>> values;
    for (int k = 0; k < 40; ++k) {
        values.push_back(wr::make_ref<item>(k * 10));
        m.insert(k, values.back());
    }
    values[5].reset(); // dead entries are not offered
    values[6].reset();
    log.clear();
    std::multiset<int> offered;
    bool values_match = true;
    const std::size_t erased = m.erase_if([&](const int& k, const item& v) {
        offered.insert(k);
        values_match = values_match && v.value == k * 10;
        return k % 3 == 0;
    });
    std::multiset<int> live;
    std::size_t accepted = 0;
    for (int k = 0; k < 40; ++k) {
        if (k != 5 && k != 6) {
            live.insert(k);
            accepted += k % 3 == 0 ? 1 : 0;
        }
    }
    CHECK(offered == live);
    CHECK(values_match);
    CHECK(erased == accepted);
    CHECK(m.size() == live.size() - accepted);
    CHECK(log.size() == accepted);
    CHECK(log.count(cause::erased) == accepted);
    for (int k = 0; k < 40; ++k) {
        const bool dead = k == 5 || k == 6;
        CHECK(m.contains(k) == (!dead && k % 3 != 0));
    }
    // The values are untouched.
    CHECK(values[3].use_count() == 1);
    CHECK(values[3]->value == 30);

    CHECK(m.erase_if([](const int&, const item&) { return false; }) == 0);
    CHECK(m.size() == live.size() - accepted);
    item_map never;
    int calls = 0;
    CHECK(never.erase_if([&](const int&, const item&) { return ++calls > 0; }) == 0);
    CHECK(calls == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: take removes the entry and hands over its live value",
          "[weak_value_map][take]") {
    wrtest::count_scope<item> items;
    item_map m;
    auto a = wr::make_ref<item>(1);
    wr::weak_ref<item> watch = a;
    m.insert(1, a);
    m.insert(2, a);
    a.reset(); // the map holds it weakly: it died
    CHECK(watch.expired());
    CHECK_FALSE(m.take(1));
    auto b = wr::make_ref<item>(2);
    m.insert(1, b);
    const item* raw = b.get();
    wr::ref<item> got = m.take(1);
    CHECK(got.get() == raw);
    CHECK(got.use_count() == 2);
    CHECK_FALSE(m.contains(1));
    CHECK(m.empty());
    CHECK_FALSE(m.take(1));
    b.reset();
    CHECK(items.alive() == 1); // the taken ref holds it
    got.reset();
    CHECK(items.alive() == 0);

    wr::weak_value_map<std::string, item, wrtest::string_hash, wrtest::string_equal> by_name;
    auto c = wr::make_ref<item>(3);
    by_name.insert("three", c);
    const long before = wrtest::string_equal::view_calls().load();
    CHECK(by_name.take(std::string_view("three")) == c);
    CHECK(wrtest::string_equal::view_calls().load() > before); // no std::string was made
    CHECK(by_name.empty());
    CHECK_FALSE(by_name.take(std::string_view("three")));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: get_or_emplace makes the value from its arguments only "
                          "on a miss",
          "[weak_value_map][get_or_emplace]") {
    wr::weak_value_map<int, std::string> m;
    std::string text(40, 'x'); // beyond any small-string buffer: a move would empty it
    wr::ref<std::string> made = m.get_or_emplace(1, std::move(text)); // NOLINT
    REQUIRE(made);
    CHECK(*made == std::string(40, 'x'));
    CHECK(m.get(1) == made);
    std::string again(30, 'y');
    wr::ref<std::string> found = m.get_or_emplace(1, std::move(again)); // NOLINT
    CHECK(found == made);
    CHECK(again == std::string(30, 'y')); // NOLINT(bugprone-use-after-move): left alone
    CHECK(*m.get_or_emplace(2, 3, 'z') == "zzz");
    CHECK(m.size() == 1); // key 2's value was a temporary: it died with the statement
    found.reset();
    made.reset();
    CHECK(m.empty());

#if WEAKREF_TEST_HAS_EXCEPTIONS
    SECTION("a throwing constructor leaves the map unchanged") {
        struct tag {};
        using fragile = wrtest::throwing_ctor<tag>;
        wrtest::count_scope<wrtest::counted<tag>> members;
        wr::weak_value_map<int, fragile> f;
        REQUIRE_THROWS_AS(f.get_or_emplace(1, true), wrtest::construction_failed);
        CHECK(f.empty());
        CHECK(members.alive() == 0);
        auto ok = f.get_or_emplace(1, false, 5);
        CHECK(ok->member.value == 5);
        CHECK(f.get(1) == ok);
    }
#endif
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: value_refs are weak refs to the live values that keep "
                          "nothing alive",
          "[weak_value_map][value_refs]") {
    wrtest::count_scope<item> items;
    item_map m;
    CHECK(m.value_refs().empty());
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    m.insert(1, a);
    m.insert(2, b);
    m.insert(3, b);
    {
        auto dead = wr::make_ref<item>(3);
        m.insert(4, dead);
    }
    std::vector<wr::weak_ref<item>> refs = m.value_refs();
    REQUIRE(refs.size() == 3); // one per live entry
    std::vector<wr::ref<item>> locked;
    for (const auto& w : refs) {
        locked.push_back(w.lock());
    }
    CHECK(wrtest::identities(locked) == wrtest::identities_of(a, b, b));
    locked.clear();
    CHECK(a.use_count() == 1);
    CHECK(b.use_count() == 1);
    CHECK(a.weak_count() == 2); // its entry and one weak_ref
    CHECK(b.weak_count() == 4);
    a.reset();
    b.reset();
    CHECK(items.alive() == 0);
    for (const auto& w : refs) {
        CHECK(w.expired());
    }
    CHECK(m.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: == compares the live entries by key and by the "
                          "identity of the value",
          "[weak_value_map][equality]") {
    auto a = wr::make_ref<item>(1);
    auto b = wr::make_ref<item>(2);
    auto twin = wr::make_ref<item>(1); // equal to a by content, another object
    item_map x;
    item_map y;
    CHECK(x == y); // both empty, neither allocated
    CHECK_FALSE(x != y);
    x.insert(1, a);
    x.insert(2, b);
    y.insert(2, b); // another order
    y.insert(1, a);
    CHECK(x == y);
    CHECK(y == x);
    CHECK_FALSE(x != y);
    CHECK(x == x);

    y.insert_or_assign(1, twin);
    CHECK(x != y); // same key, another referent
    y.insert_or_assign(1, a);
    CHECK(x == y);
    y.insert(3, a);
    CHECK(x != y); // another size
    CHECK(y != x);
    y.erase(3);
    x.erase(2);
    y.erase(2);
    y.insert(3, b);
    CHECK(x != y); // same size, another key

    SECTION("a dead entry does not count") {
        x.insert(4, twin);
        CHECK(x != y);
        twin.reset();
        y.erase(3);
        CHECK(x == y);
    }
    SECTION("a moved-from map equals an empty one") {
        item_map moved(std::move(x));
        CHECK(x == item_map()); // NOLINT(bugprone-use-after-move)
        CHECK(moved != x);
    }
    SECTION("keys are compared by KeyEqual") {
        wr::weak_value_map<std::string, item, ci_hash, ci_equal> p;
        wr::weak_value_map<std::string, item, ci_hash, ci_equal> q;
        p.insert("Key", a);
        q.insert("KEY", a);
        CHECK(p == q);
        wr::weak_value_map<std::string, item> r;
        wr::weak_value_map<std::string, item> s;
        r.insert("Key", a);
        s.insert("KEY", a);
        CHECK(r != s);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: at a value's death the listener runs before its "
                          "on_death callbacks and its destructor",
          "[weak_value_map][on_remove][death]") {
    wr::weak_value_map<int, wrtest::observed> m;
    std::vector<std::string> order;
    auto v = wr::make_ref<wrtest::observed>(1);
    v->on_destroy = [&] { order.emplace_back("destructor"); };
    m.insert(1, v);
    m.insert(2, v);
    m.on_remove([&](const int& k, cause) { order.push_back("listener " + std::to_string(k)); });
    auto f = wr::on_death(v, [&] { order.emplace_back("callback"); });
    v.reset();
    REQUIRE(order.size() == 4);
    CHECK(wrtest::sorted(std::vector<std::string>(order.begin(), order.begin() + 2)) ==
          std::vector<std::string>{"listener 1", "listener 2"});
    CHECK(order[2] == "callback");
    CHECK(order[3] == "destructor");
    m.on_remove(nullptr);
}
