// SPDX-License-Identifier: MIT
// Behaviour of weak_value_map::keep_recent: the strong front tier of a weak cache.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct kr_tag {};
using item = wrtest::counted<kr_tag>;
using items = wrtest::count_scope<item>;

constexpr bool local_flavour = std::is_same_v<wr::ref<int>, weakref::local::ref<int>>;

/// Every key in one shard (weakref:: has 16, spread by hash): the tier's list for that shard
/// then holds the ceil(n / 16) most recent, so that keep_recent(lru(c)) is an exact LRU of c
/// values in both flavours.
struct one_hash {
    std::size_t operator()(int /*unused*/) const noexcept { return 0; }
};
using lru_map = wr::weak_value_map<int, item, one_hash>;
constexpr std::size_t lru(std::size_t c) { return local_flavour ? c : 16 * c; }

/// Inserts key k -> a fresh item(k) for each k, letting each go at once.
template <class Map> void insert_dropped(Map& m, std::initializer_list<int> keys) {
    for (int k : keys) {
        m.insert(k, wr::make_ref<item>(k));
    }
}

/// The keys whose values live, sorted.
template <class Map> std::vector<int> live_keys(const Map& m) { return wrtest::sorted(m.keys()); }

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: with n == 0, the default, a value dies with its last user",
          "[keep_recent]") {
    wr::weak_value_map<int, item> m;
    CHECK(m.recent_capacity() == 0);
    items made;
    m.insert(1, wr::make_ref<item>(1));
    CHECK(m.empty());
    CHECK(made.alive() == 0);
    m.keep_recent(0);
    CHECK(m.recent_capacity() == 0);
    wr::ref<item> v = m.get_or_emplace(2, 2);
    CHECK(v.use_count() == 1); // the map holds nothing strongly
    v.reset();
    CHECK(m.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: a recently used value outlives its last user",
          "[keep_recent]") {
    wr::weak_value_map<int, item> m;
    m.keep_recent(48); // weakref:: keeps 3 per shard: any 3 values, wherever they hash
    CHECK(m.recent_capacity() == 48);
    items made;
    wr::ref<item> a = wr::make_ref<item>(1);
    m.insert(1, a);
    CHECK(a.use_count() == 2); // its user and the tier
    CHECK(a.weak_count() == 1);
    a.reset();
    insert_dropped(m, {2, 3});
    CHECK(made.alive() == 3);
    CHECK(live_keys(m) == std::vector<int>{1, 2, 3});
    wr::ref<item> got = m.get(2);
    REQUIRE(got);
    CHECK(got->value == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: the least recently used value goes first; get, "
                          "get_or_insert and assignments are uses, contains and snapshots are not",
          "[keep_recent]") {
    lru_map m;
    m.keep_recent(lru(4));
    items made;
    insert_dropped(m, {0, 1, 2, 3, 4, 5});
    CHECK(live_keys(m) == std::vector<int>{2, 3, 4, 5}); // the order: 5 4 3 2
    CHECK(made.alive() == 4);

    CHECK(m.get(2));        // 2 5 4 3
    insert_dropped(m, {6}); // 6 2 5 4: 3 goes
    CHECK(live_keys(m) == std::vector<int>{2, 4, 5, 6});

    CHECK(m.contains(4)); // not a use
    CHECK(m.keys().size() == 4);
    CHECK(m.items().size() == 4);
    CHECK(m.values().size() == 4);
    CHECK(m.value_refs().size() == 4);
    insert_dropped(m, {7}); // 7 6 2 5: 4 goes, though just looked at
    CHECK(live_keys(m) == std::vector<int>{2, 5, 6, 7});

    CHECK(m.get_or_insert(5, [] { return wr::make_ref<item>(-1); })->value == 5); // 5 7 6 2
    CHECK(m.get_or_emplace(8, 8)->value == 8); // made: 8 5 7 6, 2 goes
    CHECK(live_keys(m) == std::vector<int>{5, 6, 7, 8});

    wr::ref<item> six = m.get(6); // 6 8 5 7
    six.reset();
    CHECK(m.insert_or_assign(6, m.get(6)) == false);               // the value already there: a use
    CHECK(m.insert_or_assign(7, wr::make_ref<item>(70)) == false); // 7 6 8 5; the old 7 goes
    CHECK(live_keys(m) == std::vector<int>{5, 6, 7, 8});
    CHECK(m.get(7)->value == 70);
    CHECK(made.alive() == 4);
    insert_dropped(m, {9, 10}); // 10 9 7 6
    CHECK(live_keys(m) == std::vector<int>{6, 7, 9, 10});
    CHECK_FALSE(m.insert(9, wr::make_ref<item>(90))); // refused: no use of anything
    insert_dropped(m, {11});                          // 11 10 9 7
    CHECK(live_keys(m) == std::vector<int>{7, 9, 10, 11});
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: weakref::local:: keeps exactly the n most recent, "
                          "weakref:: the ceil(n / 16) most recent of each shard",
          "[keep_recent]") {
    wr::weak_value_map<int, item> m; // keys spread over the shards by their hash
    items made;
    m.keep_recent(20);
    for (int k = 0; k < 200; ++k) {
        m.insert(k, wr::make_ref<item>(k));
    }
    if (local_flavour) {
        CHECK(made.alive() == 20);
        std::vector<int> expect;
        for (int k = 180; k < 200; ++k) {
            expect.push_back(k);
        }
        CHECK(live_keys(m) == expect);
    } else {
        // 2 per shard, at most 32 in all, and every shard saw many more than 2 of the 200
        // keys: each holds its last 2.
        CHECK(made.alive() == 32);
        CHECK(m.contains(199));
        CHECK(m.contains(198));
    }
    CHECK(m.size() == static_cast<std::size_t>(made.alive()));
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: erase, take and erase_if drop the value from the tier",
          "[keep_recent]") {
    wr::weak_value_map<int, item> m;
    m.keep_recent(64);
    items made;
    insert_dropped(m, {1, 2, 3, 4});
    CHECK(made.alive() == 4);
    CHECK(m.erase(1));
    CHECK(made.alive() == 3); // nobody else held it: it died at the erase
    CHECK_FALSE(m.erase(1));
    wr::ref<item> two = m.take(2);
    REQUIRE(two);
    CHECK(two.use_count() == 1); // the tier's ref went with the entry
    two.reset();
    CHECK(made.alive() == 2);
    CHECK(m.erase_if([](int k, const item& /*unused*/) { return k == 3; }) == 1);
    CHECK(made.alive() == 1);
    CHECK(live_keys(m) == std::vector<int>{4});
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: erase_if drops a value its predicate put into a tier "
                          "turned on meanwhile",
          "[keep_recent]") {
    // erase_if took its hold on the tier before keep_recent was first called: the predicate
    // (user code, no lock held) turns it on and reads the keys about to be erased.
    wr::weak_value_map<int, item> m;
    items made;
    wr::ref<item> one = wr::make_ref<item>(1);
    wr::ref<item> two = wr::make_ref<item>(2);
    m.insert(1, one);
    m.insert(2, two);
    bool first = true;
    CHECK(m.erase_if([&](int /*key*/, const item& /*value*/) {
        if (first) {
            first = false;
            m.keep_recent(64);
            CHECK(m.get(1) == one); // both into the tier
            CHECK(m.get(2) == two);
        }
        return true;
    }) == 2);
    one.reset();
    two.reset();
    CHECK(made.alive() == 0); // the tier let both go with their entries
    CHECK(m.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: an assignment drops the value it replaces from the tier",
          "[keep_recent]") {
    wr::weak_value_map<int, item> m;
    m.keep_recent(64);
    items made;
    wr::weak_ref<item> old;
    {
        wr::ref<item> a = wr::make_ref<item>(1);
        old = a;
        m.insert(1, std::move(a));
    }
    CHECK_FALSE(old.expired());
    CHECK(m.insert_or_assign(1, wr::make_ref<item>(10)) == false);
    CHECK(old.expired()); // replaced: let go by the tier, and dead
    CHECK(m.get(1)->value == 10);
    CHECK(made.alive() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: an assignment keeps its value only while the tier is on",
          "[keep_recent]") {
    // weakref::local:: assigns by a shorter path when keep_recent is off: the tier must be
    // consulted again as soon as it is on.
    lru_map m;
    items made;
    CHECK(m.insert_or_assign(1, wr::make_ref<item>(1))); // no tier: the temporary dies
    CHECK_FALSE(m.contains(1));
    auto held = wr::make_ref<item>(2);
    CHECK(m.insert_or_assign(1, held));
    CHECK_FALSE(m.insert_or_assign(1, wr::make_ref<item>(3))); // replaced; 3 dies at once
    CHECK_FALSE(m.contains(1));
    CHECK(m.insert_or_assign(1, held));
    m.keep_recent(lru(4));
    CHECK_FALSE(m.insert_or_assign(1, wr::make_ref<item>(4))); // replaced; 4 kept by the tier
    CHECK(m.get(1)->value == 4);
    m.keep_recent(0); // 4 let go: dies, and its entry with it
    CHECK_FALSE(m.contains(1));
    CHECK(m.insert_or_assign(1, held));
    CHECK_FALSE(m.insert_or_assign(1, wr::make_ref<item>(5))); // the tier is off again
    CHECK_FALSE(m.contains(1));
    CHECK(made.alive() == 1); // held
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: lowering n lets the least recent go at once; raising it "
                          "keeps what is held",
          "[keep_recent]") {
    lru_map m;
    m.keep_recent(lru(4));
    items made;
    insert_dropped(m, {1, 2, 3, 4});
    CHECK(m.get(1)); // 1 4 3 2
    m.keep_recent(lru(2));
    CHECK(m.recent_capacity() == lru(2));
    CHECK(live_keys(m) == std::vector<int>{1, 4});
    CHECK(made.alive() == 2);
    m.keep_recent(lru(8));
    CHECK(live_keys(m) == std::vector<int>{1, 4});
    insert_dropped(m, {5, 6, 7});
    CHECK(made.alive() == 5);
    m.keep_recent(0);
    CHECK(m.recent_capacity() == 0);
    CHECK(made.alive() == 0);
    CHECK(m.empty());
    insert_dropped(m, {8});
    CHECK(m.empty()); // pure weak semantics again
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: clear() empties the tier and keeps n", "[keep_recent]") {
    wr::weak_value_map<int, item> m;
    m.keep_recent(32);
    items made;
    wr::ref<item> held = wr::make_ref<item>(0);
    m.insert(0, held);
    insert_dropped(m, {1, 2});
    m.clear();
    CHECK(m.empty());
    CHECK(made.alive() == 1); // only the one its user holds
    CHECK(held.use_count() == 1);
    CHECK(m.recent_capacity() == 32);
    insert_dropped(m, {3});
    CHECK(m.contains(3));
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: a copy has the same n and an empty tier; a moved-from map "
                          "has n == 0",
          "[keep_recent]") {
    auto m = std::make_unique<wr::weak_value_map<int, item>>();
    m->keep_recent(48);
    items made;
    insert_dropped(*m, {1, 2, 3});
    wr::weak_value_map<int, item> copy(*m);
    CHECK(copy.recent_capacity() == 48);
    CHECK(copy.size() == 3); // the same live entries
    wr::weak_value_map<int, item> moved(std::move(*m));
    CHECK(m->recent_capacity() == 0); // NOLINT(bugprone-use-after-move)
    CHECK(m->empty());
    CHECK(moved.recent_capacity() == 48);
    CHECK(made.alive() == 3); // the tier moved with the entries
    m.reset();
    CHECK(made.alive() == 3);
    moved = wr::weak_value_map<int, item>();
    CHECK(made.alive() == 0); // the copy's tier held none of them
    CHECK(copy.empty());
    insert_dropped(copy, {4});
    CHECK(copy.contains(4));

    wr::weak_value_map<int, item> other;
    other.keep_recent(16);
    other.swap(copy);
    CHECK(other.recent_capacity() == 48);
    CHECK(copy.recent_capacity() == 16);
    CHECK(other.contains(4));
    copy = other; // copy assignment: other's n, an empty tier
    CHECK(copy.recent_capacity() == 48);
    other.clear();
    CHECK(made.alive() == 0);
    CHECK(copy.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: a copy assignment copies first, then lets the old tier "
                          "go: a value that dies then leaves the new entries too, told `died`",
          "[keep_recent][on_remove]") {
    std::vector<std::tuple<char, int, weakref::removal_cause>> told;
    items made;
    lru_map target;
    target.keep_recent(lru(1));
    target.on_remove([&](const int& k, weakref::removal_cause c) { told.emplace_back('t', k, c); });
    insert_dropped(target, {1}); // only target's tier holds item 1
    lru_map source(target);      // maps 1 as well, with an empty tier and the same listener
    source.on_remove([&](const int& k, weakref::removal_cause c) { told.emplace_back('s', k, c); });
    REQUIRE(made.alive() == 1);
    REQUIRE(source.contains(1));
    target = source;
    // target's old entry: cleared. Item 1 then dies with the tier that held it, and leaves
    // both maps: source's own entry, and the one target copied from it (its listener is
    // source's, copied).
    CHECK(made.alive() == 0);
    CHECK(target.empty());
    CHECK(source.empty());
    std::sort(told.begin(), told.end());
    using cause = weakref::removal_cause;
    CHECK(told == std::vector<std::tuple<char, int, cause>>{
                      {'s', 1, cause::died}, {'s', 1, cause::died}, {'t', 1, cause::cleared}});
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: a value the tier lets go dies outside the map's locks and "
                          "may use the map",
          "[keep_recent][death]") {
    wr::weak_value_map<int, wrtest::observed, one_hash> m;
    m.keep_recent(lru(1));
    std::vector<std::size_t> sizes;
    bool inserted_inside = false;
    {
        wr::ref<wrtest::observed> first = wr::make_ref<wrtest::observed>(1);
        first->on_destroy = [&] {
            sizes.push_back(m.size());
            CHECK_FALSE(m.contains(1)); // gone before its destructor
            CHECK(m.get(2));            // a lookup, a use, inside the death
            inserted_inside = m.insert(3, wr::make_ref<wrtest::observed>(3));
            m.keep_recent(lru(1)); // n set again, from inside
        };
        m.insert(1, std::move(first));
    }
    m.insert(2, wr::make_ref<wrtest::observed>(2)); // pushes 1 out: its death runs here
    REQUIRE(sizes.size() == 1);
    CHECK(sizes[0] == 1);
    CHECK(inserted_inside);
    // 3 was inserted while 2 was first: 3 pushed 2 out (with n = 1 one value stays).
    CHECK(live_keys(m) == std::vector<int>{3});
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: the listener hears `died` for a value the tier let go, "
                          "and nothing when the map is destroyed",
          "[keep_recent][on_remove]") {
    std::vector<std::pair<int, weakref::removal_cause>> told;
    items made;
    {
        lru_map m;
        m.on_remove([&](const int& k, weakref::removal_cause c) { told.emplace_back(k, c); });
        m.keep_recent(lru(2));
        insert_dropped(m, {1, 2, 3}); // 1 pushed out, and dead
        REQUIRE(told.size() == 1);
        CHECK(told[0] == std::make_pair(1, weakref::removal_cause::died));
        CHECK(m.erase(2));
        REQUIRE(told.size() == 2);
        CHECK(told[1] == std::make_pair(2, weakref::removal_cause::erased));
        told.clear();
    }
    CHECK(told.empty());      // destroying the map told nothing
    CHECK(made.alive() == 0); // and released the tier
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: erase_if whose listener destroys the map finishes safely",
          "[keep_recent][on_remove]") {
    items made;
    auto m = std::make_unique<wr::weak_value_map<int, item>>();
    m->keep_recent(64);
    insert_dropped(*m, {1, 2, 3});
    m->on_remove([&m](const int& /*unused*/, weakref::removal_cause c) {
        if (c == weakref::removal_cause::erased) {
            m.reset(); // the map goes while erase_if still runs
        }
    });
    CHECK(m->erase_if([](int /*unused*/, const item& /*unused*/) { return true; }) >= 1);
    CHECK(m == nullptr);
    CHECK(made.alive() == 0); // the tier was released with the map, after erase_if
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: clear() or a lower n whose released value's death "
                          "destroys the map finishes safely",
          "[keep_recent][lifetime]") {
    // 64 values, more than one batch of a list's release, and in weakref:: spread over every
    // shard's list: the death of the first one released destroys the map while the tier is
    // still letting the others go.
    items made;
    const bool by_clear = GENERATE(true, false);
    auto m = std::make_unique<wr::weak_value_map<int, item>>();
    m->keep_recent(16 * 64);
    std::vector<wr::finalizer> callbacks;
    bool destroyed = false;
    for (int k = 0; k < 64; ++k) {
        auto v = wr::make_ref<item>(k);
        callbacks.push_back(wr::on_death(v, [&m, &destroyed] {
            if (!destroyed) {
                destroyed = true;
                m.reset(); // the map goes while the tier still lets values go
            }
        }));
        m->insert(k, v);
    }
    CHECK(made.alive() == 64); // held by the tier alone
    if (by_clear) {
        m->clear();
    } else {
        m->keep_recent(0);
    }
    CHECK(destroyed);
    CHECK(m == nullptr);
    CHECK(made.alive() == 0); // every value went: by the tier's release or with the map
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: an assignment run by a death while keep_recent(0) lets "
                          "values go still drops the value it replaces",
          "[keep_recent][death]") {
    // keep_recent(0) sets n first, then lets the list go in batches, outside every lock. The
    // death of the least recent value (the first batch) assigns a new value to the most recent
    // key, whose old value waits in a later batch, and turns the tier on again, so that the
    // release stops there. The assignment saw n == 0 and no listener (the path with no
    // graveyard); it must still take the old value off the list, which no key maps any more.
    lru_map m;
    m.keep_recent(lru(64));
    const wr::ref<item> fresh = wr::make_ref<item>(1000);
    wr::weak_ref<item> replaced;
    std::vector<wr::finalizer> callbacks;
    bool assigned = false;
    for (int k = 0; k < 40; ++k) {
        auto v = wr::make_ref<item>(k);
        if (k == 0) {
            callbacks.push_back(wr::on_death(v, [&] {
                assigned = !m.insert_or_assign(39, fresh); // replaced, not added
                m.keep_recent(lru(64));
            }));
        }
        if (k == 39) {
            replaced = v;
        }
        m.insert(k, v); // a use: the tier alone holds it
    }
    m.keep_recent(0);
    CHECK(assigned);
    CHECK(m.get(39) == fresh);
    CHECK(replaced.expired()); // nobody maps it: the tier let it go at the assignment
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: a value mapped by two keys is held once", "[keep_recent]") {
    lru_map m;
    m.keep_recent(lru(2));
    items made;
    {
        wr::ref<item> v = wr::make_ref<item>(7);
        m.insert(1, v);
        m.insert(2, v);
        CHECK(v.use_count() == 2); // its user and one slot
    }
    insert_dropped(m, {3}); // 3 v
    CHECK(live_keys(m) == std::vector<int>{1, 2, 3});
    insert_dropped(m, {4}); // 4 3: v goes, and both its entries
    CHECK(live_keys(m) == std::vector<int>{3, 4});
    CHECK(made.alive() == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "keep_recent: a very large n takes memory only for what it holds",
          "[keep_recent]") {
    wr::weak_value_map<std::string, item, wrtest::string_hash, std::equal_to<>> m;
    m.keep_recent(std::numeric_limits<std::size_t>::max());
    CHECK(m.recent_capacity() == std::numeric_limits<std::size_t>::max());
    items made;
    for (int k = 0; k < 1000; ++k) {
        m.insert(std::to_string(k), wr::make_ref<item>(k));
    }
    CHECK(made.alive() == 1000);
    CHECK(m.size() == 1000);
    CHECK(m.get(std::string_view("999"))->value == 999); // heterogeneous get: a use too
    CHECK(m.take(std::string_view("998"))->value == 998);
    CHECK(made.alive() == 999);
    m.keep_recent(0);
    CHECK(made.alive() == 0);
    CHECK(m.empty());
}
