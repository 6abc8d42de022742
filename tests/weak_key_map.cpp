// SPDX-License-Identifier: MIT
// Behaviour of weak_key_map (Python's WeakKeyDictionary): data dropped at its key's death.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

struct km_tag {};
using key_obj = wrtest::counted<km_tag>;
struct val_tag {};
using val = wrtest::counted<val_tag>;
using val_map = wr::weak_key_map<key_obj, val>;

/// A key object that holds nothing; its value holds the next key of a chain strongly.
struct node {
    explicit node(int v) : id(v) {}
    wrtest::counted<node> id;
};
struct holder {
    wr::ref<node> next;
    wrtest::counted<holder> count;
};

/// A value whose destructor runs a function, shared so that V copies freely.
struct words {
    int id = 0;
    std::function<void(int)> fn;
    ~words() {
        if (fn) {
            fn(id);
        }
    }
};
using shared_words = std::shared_ptr<words>;

std::vector<int> ids(const std::vector<wr::ref<key_obj>>& keys) {
    std::vector<int> out;
    for (const auto& k : keys) {
        out.push_back(k->value);
    }
    return wrtest::sorted(out);
}

} // namespace

// --- Python's scenarios -------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: each key's death drops its entry, keys by identity",
          "[weak_key_map][hazard-6]") {
    wrtest::count_scope<key_obj> keys;
    wr::weak_key_map<key_obj, int> m;
    std::vector<wr::ref<key_obj>> objects;
    for (int i = 0; i < 10; ++i) {
        objects.push_back(wr::make_ref<key_obj>(i));
        CHECK(m.insert(objects.back(), i));
    }
    auto twin = wr::make_ref<key_obj>(3); // equal value, another object: another key
    CHECK_FALSE(m.contains(twin));
    CHECK_FALSE(m.get(twin));
    CHECK(m.insert(twin, 33));
    CHECK(m.get(objects[3]) == 3);
    CHECK(m.get(twin) == 33);
    twin.reset();
    CHECK(m.size() == objects.size());
    for (const auto& kv : m.items()) {
        CHECK(kv.first->value == kv.second);
    }
    for (const auto& o : objects) {
        CHECK(m.get(o) == o->value);
        CHECK(m.get(o.get()) == o->value); // by raw pointer
    }
    while (!objects.empty()) {
        const key_obj* raw = objects.back().get();
        objects.pop_back();
        CHECK(m.size() == objects.size());
        CHECK(m.keys().size() == objects.size());
        CHECK_FALSE(m.contains(raw)); // an address only: compared, never dereferenced
    }
    CHECK(m.empty());
    CHECK(keys.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: erase removes one entry", "[weak_key_map]") {
    wr::weak_key_map<key_obj, std::string> m;
    auto o1 = wr::make_ref<key_obj>(1);
    auto o2 = wr::make_ref<key_obj>(2);
    m.insert(o1, "something");
    m.insert(o2, "something");
    CHECK(m.size() == 2);
    CHECK(m.erase(o1));
    CHECK(m.size() == 1);
    CHECK(ids(m.keys()) == std::vector<int>{2});
    CHECK_FALSE(m.erase(o1));
    CHECK_FALSE(m.get(o1));
    auto never = wr::make_ref<key_obj>(3);
    CHECK_FALSE(m.erase(never.get()));
    CHECK_FALSE(m.erase(static_cast<const key_obj*>(nullptr)));
    CHECK_FALSE(m.contains(static_cast<const key_obj*>(nullptr)));
    CHECK_FALSE(m.get(static_cast<const key_obj*>(nullptr)));
    CHECK(m.erase(o2.get()));
    CHECK(m.empty());
    CHECK(o1.weak_count() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: keys() snapshots let a loop erase while a key dies",
          "[weak_key_map][hazard-3]") {
    // CPython's cascading deletes: while the loop erases keys one by one, each step also
    // drops the last strong ref to a key it has not reached yet.
    wr::weak_key_map<key_obj, int> m;
    std::vector<wr::ref<key_obj>> objects;
    for (int i = 0; i < 4; ++i) {
        objects.push_back(wr::make_ref<key_obj>(i));
        m.insert(objects.back(), i);
    }
    std::vector<wr::weak_ref<key_obj>> order;
    for (const auto& k : m.keys()) {
        order.emplace_back(k);
    }
    // objects, in the snapshot's order: the loop erases from the front, drops from the back
    std::vector<wr::ref<key_obj>> held;
    for (const auto& w : order) {
        held.push_back(w.lock());
    }
    objects.clear();
    int erased = 0;
    for (const auto& w : order) {
        if (auto k = w.lock()) {
            held.erase(held.begin());
            CHECK(m.erase(k));
            ++erased;
            k.reset();
            held.pop_back();
        }
    }
    CHECK(erased == 2);
    CHECK(m.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: insert keeps a live entry, insert_or_assign replaces and "
                          "destroys the old value",
          "[weak_key_map]") {
    wrtest::count_scope<val> vals;
    val_map m;
    auto k = wr::make_ref<key_obj>(1);
    CHECK(m.insert(k, val(10)));
    CHECK(vals.alive() == 1);
    CHECK_FALSE(m.insert(k, val(20)));
    CHECK(vals.alive() == 1);
    CHECK(m.get(k)->value == 10);
    const val eleven(11);
    CHECK_FALSE(m.insert_or_assign(k, eleven)); // replaced
    CHECK(vals.alive() == 2);                   // eleven and the copy in the map
    CHECK(m.get(k)->value == 11);
    CHECK_FALSE(m.insert_or_assign(k, val(12)));
    CHECK(m.get(k)->value == 12);
    CHECK(m.size() == 1);
    CHECK(k.weak_count() == 1);
    auto k2 = wr::make_ref<key_obj>(2);
    CHECK(m.insert_or_assign(k2, val(20))); // added
    CHECK(vals.alive() == 3);
    m.clear();
    CHECK(vals.alive() == 1);
    CHECK(vals.made() == vals.destroyed() + 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: the replaced value's destructor sees the new value",
          "[weak_key_map][hazard-8]") {
    wr::weak_key_map<key_obj, shared_words> m;
    auto k = wr::make_ref<key_obj>(1);
    int seen = -1;
    int destroyed = -1;
    auto first = std::make_shared<words>();
    first->id = 1;
    first->fn = [&](int id) {
        destroyed = id;
        auto now = m.get(k);
        seen = now ? (*now)->id : -2;
    };
    m.insert(k, std::move(first));
    auto second = std::make_shared<words>();
    second->id = 2;
    CHECK_FALSE(m.insert_or_assign(k, std::move(second)));
    CHECK(destroyed == 1);
    CHECK(seen == 2);
}

TEMPLATE_TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: holds any key type weakly, by identity",
                   "[weak_key_map][typed]", int, std::set<int>, wrtest::final_type,
                   wrtest::plain_base, wrtest::over_aligned) {
    wrtest::count_scope<val> vals;
    wr::weak_key_map<TestType, val> m;
    auto a = wrtest::subject<TestType>::make(1);
    auto b = wrtest::subject<TestType>::make(1); // equal, not the same
    CHECK(m.insert(a, val(1)));
    CHECK(m.insert(b, val(2)));
    CHECK(a.use_count() == 1);
    CHECK(a.weak_count() == 1);
    CHECK(m.get(a)->value == 1);
    CHECK(m.get(b.get())->value == 2);
    CHECK(m.contains(a.get()));
    a.reset();
    CHECK(m.size() == 1);
    CHECK(vals.alive() == 1);
    CHECK(wrtest::identities(m.keys()) == wrtest::identities_of(b));
    b.reset();
    CHECK(m.empty());
    CHECK(vals.alive() == 0);
}

// --- Death ---------------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a dying key's entry and value are gone before its "
                          "callbacks and destructor run",
          "[weak_key_map][death]") {
    wrtest::count_scope<val> vals;
    wr::weak_key_map<wrtest::observed, val> m;
    auto keep = wr::make_ref<wrtest::observed>(0);
    auto dying = wr::make_ref<wrtest::observed>(1);
    const wrtest::observed* raw = dying.get();
    m.insert(keep, val(0));
    m.insert(dying, val(1));
    CHECK(vals.alive() == 2);
    struct sight {
        bool looked = false;
        std::size_t size = 0;
        bool contains = true;
        bool got = true;
        std::size_t keys = 0;
        std::size_t items = 0;
        long values_alive = 0;
    };
    auto look = [&] {
        sight s;
        s.looked = true;
        s.size = m.size();
        s.contains = m.contains(raw);
        s.got = m.get(raw).has_value();
        s.keys = m.keys().size();
        s.items = m.items().size();
        s.values_alive = vals.alive();
        return s;
    };
    sight in_callback;
    sight in_destructor;
    auto f = wr::on_death(dying, [&] { in_callback = look(); });
    dying->on_destroy = [&] { in_destructor = look(); };
    dying.reset();
    for (const sight* s : {&in_callback, &in_destructor}) {
        REQUIRE(s->looked);
        CHECK(s->size == 1);
        CHECK_FALSE(s->contains);
        CHECK_FALSE(s->got);
        CHECK(s->keys == 1);
        CHECK(s->items == 1);
        CHECK(s->values_alive == 1); // the dying key's value is destroyed already
    }
    CHECK(vals.alive() == 1);
    CHECK(vals.made() == vals.destroyed() + 1); // each V destroyed once
    CHECK(m.contains(keep));
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a key in two maps and a set leaves all at its death",
          "[weak_key_map]") {
    wrtest::count_scope<val> vals;
    val_map m1;
    wr::weak_key_map<key_obj, std::string> m2;
    wr::weak_set<key_obj> s;
    auto k = wr::make_ref<key_obj>(1);
    m1.insert(k, val(1));
    m2.insert(k, "one");
    s.insert(k);
    CHECK(k.weak_count() == 3);
    CHECK(k.use_count() == 1);
    k.reset();
    CHECK(m1.empty());
    CHECK(m2.empty());
    CHECK(s.empty());
    CHECK(vals.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a new object at a dead key's address is not that key",
          "[weak_key_map][hazard-1]") {
    wr::weak_key_map<key_obj, int> m;
    auto k = wr::make_ref<key_obj>(1);
    const void* address = k.get();
    m.insert(k, 1);
    k.reset();
    CHECK(m.empty());
    // The allocator may hand the address out again (ASan's quarantine usually does not).
    std::vector<wr::ref<key_obj>> fresh;
    for (int i = 0; i < 64; ++i) {
        fresh.push_back(wr::make_ref<key_obj>(2));
        if (fresh.back().get() == address) {
            break;
        }
    }
    for (const auto& f : fresh) {
        CHECK_FALSE(m.contains(f));
        CHECK_FALSE(m.get(f));
    }
    CHECK(m.insert(fresh.back(), 2));
    CHECK(m.get(fresh.back()) == 2);
    CHECK(m.size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: the key's memory is freed at its death while the map "
                          "lives (in weakref::, once no lookup can still read its entry)",
          "[weak_key_map][hazard-13]") {
    wrtest::alloc_stats stats;
    wr::weak_key_map<key_obj, int> m;
    {
        auto k = wr::allocate_ref<key_obj>(wrtest::counting_allocator<key_obj>(stats), 1);
        m.insert(k, 1);
        CHECK(stats.live_allocations() == 1);
    }
    // The entry's weak unit keeps the key's block (and so its memory, allocated with it) for a
    // grace period in weakref:: (a lookup on another thread may still be reading the entry);
    // flush_retired() waits for it. weakref::local:: frees it at the death itself.
    wr::flush_retired();
    CHECK(stats.live_allocations() == 0);
    CHECK(stats.bad_deallocations.load() == 0);
    CHECK(m.empty());
}

// --- Snapshots -----------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a loop over a snapshot may drop keys and erase entries",
          "[weak_key_map][hazard-3]") {
    wrtest::count_scope<val> vals;
    val_map m;
    std::vector<wr::ref<key_obj>> owners;
    for (int i = 0; i < 50; ++i) {
        owners.push_back(wr::make_ref<key_obj>(i));
        m.insert(owners.back(), val(i));
    }

    SECTION("items(): dropping every owner keeps the snapshot's keys, and their entries") {
        auto snapshot = m.items();
        REQUIRE(snapshot.size() == 50);
        owners.clear();
        for (auto& kv : snapshot) {
            CHECK(kv.first->value == kv.second.value);
            CHECK(m.contains(kv.first));
        }
        CHECK(m.size() == 50);
        snapshot.clear();
        CHECK(m.empty());
        CHECK(vals.alive() == 0);
    }
    SECTION("items(): dropping each key in turn shrinks the map by one") {
        auto snapshot = m.items();
        owners.clear();
        std::size_t left = snapshot.size();
        for (auto& kv : snapshot) {
            const key_obj* raw = kv.first.get();
            kv.first.reset();
            --left;
            CHECK_FALSE(m.contains(raw));
            CHECK(m.size() == left);
        }
        snapshot.clear();
        CHECK(vals.alive() == 0);
    }
    SECTION("keys(): erasing each entry, and dropping a key not yet visited") {
        std::size_t visited = 0;
        for (const auto& k : m.keys()) {
            ++visited;
            CHECK(m.erase(k));
            owners.pop_back(); // the snapshot still holds it: no change to the loop
        }
        CHECK(visited == 50);
        CHECK(m.empty());
        CHECK(vals.alive() == 0);
    }
}

// --- Values that use the map ------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a value's destructor may use the same map",
          "[weak_key_map][hazard-4]") {
    wr::weak_key_map<key_obj, wrtest::last_words> m;
    auto k1 = wr::make_ref<key_obj>(1);
    auto k2 = wr::make_ref<key_obj>(2);
    auto k3 = wr::make_ref<key_obj>(3);
    bool inserted = false;
    bool erased = false;
    bool saw_self = true;
    std::size_t size_inside = 99;
    int second_ran = 0;
    const key_obj* raw1 = k1.get();
    m.insert(k1, wrtest::last_words([&] {
                 inserted = m.insert(k3, wrtest::last_words(nullptr));
                 erased = m.erase(k2);
                 saw_self = m.contains(raw1);
                 size_inside = m.size();
             }));
    m.insert(k2, wrtest::last_words([&] { ++second_ran; }));

    SECTION("at the key's death") {
        k1.reset();
        CHECK_FALSE(saw_self);
        CHECK(size_inside == 1); // k3 only
    }
    SECTION("at erase") {
        CHECK(m.erase(k1));
        CHECK_FALSE(saw_self);
        CHECK(size_inside == 1);
    }
    SECTION("at insert_or_assign: the new value is in place") {
        CHECK_FALSE(m.insert_or_assign(k1, wrtest::last_words(nullptr)));
        CHECK(saw_self);
        CHECK(size_inside == 2); // k1's new value and k3
        CHECK(m.erase(k1));
    }
    SECTION("at clear") {
        m.clear(); // the value inserted by the destructor is cleared too
        CHECK(inserted);
        CHECK(second_ran == 1);
        CHECK(m.empty());
        return;
    }
    CHECK(inserted);
    CHECK(erased);
    CHECK(second_ran == 1);
    CHECK(m.contains(k3));
    CHECK(m.size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a value that drops the last ref to another key removes "
                          "that entry too",
          "[weak_key_map][hazard-4]") {
    wrtest::count_scope<wrtest::counted<node>> nodes;
    wrtest::count_scope<wrtest::counted<holder>> holders;
    wr::weak_key_map<node, holder> m;
    auto k1 = wr::make_ref<node>(1);
    m.insert(k1, holder{wr::make_ref<node>(2), {}});
    wr::ref<node> k2 = m.get(k1)->next;
    m.insert(k2, holder{});
    k2.reset(); // the first value holds the second key
    CHECK(m.size() == 2);
    k1.reset();
    CHECK(m.empty());
    CHECK(nodes.alive() == 0);
    CHECK(holders.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a chain of 5000 values each holding the next key empties "
                          "the map",
          "[weak_key_map][hazard-4][hazard-14]") {
    constexpr int n = 5000;
    wrtest::count_scope<wrtest::counted<node>> nodes;
    wrtest::count_scope<wrtest::counted<holder>> holders;
    auto m = std::make_unique<wr::weak_key_map<node, holder>>();
    wr::ref<node> head;
    {
        std::vector<wr::ref<node>> keys;
        for (int i = 0; i < n; ++i) {
            keys.push_back(wr::make_ref<node>(i));
        }
        for (int i = 0; i < n; ++i) {
            const auto at = static_cast<std::size_t>(i);
            m->insert(keys[at], holder{i + 1 < n ? keys[at + 1] : wr::ref<node>(), {}});
        }
        head = keys.front();
    }
    REQUIRE(m->size() == static_cast<std::size_t>(n));
    REQUIRE(nodes.alive() == n);

    SECTION("the head dies") {
        head.reset();
        CHECK(m->empty());
    }
    SECTION("the head's entry is erased") {
        CHECK(m->erase(head));
        CHECK(m->empty());
        CHECK(nodes.alive() == 1);
    }
    SECTION("the map is cleared") {
        m->clear();
        CHECK(m->empty());
        CHECK(nodes.alive() == 1);
    }
    SECTION("the map is destroyed") {
        m.reset();
        CHECK(nodes.alive() == 1);
        CHECK(head.weak_count() == 0);
    }
    head.reset();
    CHECK(nodes.alive() == 0);
    CHECK(holders.alive() == 0);
    if (m) {
        CHECK(m->empty());
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a value holding its own key keeps it alive until erased",
          "[weak_key_map][hazard-15]") {
    // Not an ephemeron table: documented, and this is what it means.
    wrtest::count_scope<wrtest::counted<node>> nodes;
    wr::weak_key_map<node, holder> m;
    auto k = wr::make_ref<node>(1);
    wr::weak_ref<node> w = k;
    m.insert(k, holder{k, {}});
    k.reset();
    CHECK_FALSE(w.expired()); // the cycle leaks
    CHECK(m.size() == 1);
    CHECK(nodes.alive() == 1);
    // Breaking the cycle by hand ends it.
    CHECK(m.erase(w.lock().get()));
    CHECK(w.expired());
    CHECK(m.empty());
    CHECK(nodes.alive() == 0);
}

// --- The map dies first -----------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: keys outlive a map destroyed, moved from, cleared or "
                          "swapped",
          "[weak_key_map][hazard-5]") {
    wrtest::count_scope<key_obj> keys;
    wrtest::count_scope<val> vals;
    auto a = wr::make_ref<key_obj>(1);
    auto b = wr::make_ref<key_obj>(2);
    auto c = wr::make_ref<key_obj>(3);

    SECTION("destroyed: every value goes, no key") {
        {
            val_map m;
            m.insert(a, val(1));
            m.insert(b, val(2));
        }
        CHECK(vals.alive() == 0);
        CHECK(a.weak_count() == 0);
        CHECK(a.use_count() == 1);
    }
    SECTION("moved from, then destroyed") {
        auto m = std::make_unique<val_map>();
        m->insert(a, val(1));
        m->insert(b, val(2));
        val_map moved(std::move(*m));
        CHECK(m->empty());
        m.reset();
        CHECK(vals.alive() == 2);
        a.reset();
        CHECK(moved.size() == 1);
        CHECK(vals.alive() == 1);
        CHECK(moved.get(b)->value == 2);
    }
    SECTION("move-assigned over") {
        val_map m1;
        val_map m2;
        m1.insert(a, val(1));
        m2.insert(c, val(3));
        m2 = std::move(m1);
        CHECK(c.weak_count() == 0);
        CHECK(vals.alive() == 1);
        CHECK(m2.get(a)->value == 1);
        c.reset();
        a.reset();
        CHECK(m2.empty());
    }
    SECTION("cleared") {
        val_map m;
        m.insert(a, val(1));
        m.clear();
        CHECK(vals.alive() == 0);
        CHECK(a.weak_count() == 0);
        a.reset();
        CHECK(m.empty());
    }
    SECTION("swapped, then destroyed") {
        auto m1 = std::make_unique<val_map>();
        val_map m2;
        m1->insert(a, val(1));
        m2.insert(c, val(3));
        swap(*m1, m2);
        CHECK(m2.get(a)->value == 1);
        CHECK(m1->get(c)->value == 3);
        m1.reset();
        c.reset();
        a.reset();
        CHECK(m2.empty());
        CHECK(vals.alive() == 0);
    }
    a.reset();
    b.reset();
    c.reset();
    CHECK(keys.alive() == 0);
    CHECK(vals.alive() == 0);
}

// --- Copy, move, swap, clear --------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a copy holds the live entries, values copied, and is "
                          "independent",
          "[weak_key_map]") {
    wrtest::count_scope<val> vals;
    val_map m;
    auto a = wr::make_ref<key_obj>(1);
    auto b = wr::make_ref<key_obj>(2);
    m.insert(a, val(1));
    m.insert(b, val(2));
    {
        auto dead = wr::make_ref<key_obj>(3);
        m.insert(dead, val(3));
    }
    val_map copy(m);
    CHECK(copy.size() == 2);
    CHECK(vals.alive() == 4);
    CHECK(copy.get(a)->value == 1);
    CHECK(a.weak_count() == 2);
    CHECK(a.use_count() == 1);
    copy.insert_or_assign(a, val(10));
    CHECK(m.get(a)->value == 1);
    copy.erase(b);
    CHECK(m.contains(b));
    a.reset();
    CHECK(m.size() == 1);
    CHECK(copy.empty());

    val_map assigned;
    assigned = m;
    CHECK(ids(assigned.keys()) == std::vector<int>{2});
    val_map& alias = assigned;
    assigned = alias;
    CHECK(assigned.size() == 1);
    CHECK(vals.alive() == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a moved-from map is empty and usable; swap exchanges",
          "[weak_key_map]") {
    val_map m;
    auto a = wr::make_ref<key_obj>(1);
    auto b = wr::make_ref<key_obj>(2);
    m.insert(a, val(1));
    val_map moved(std::move(m));
    CHECK(m.empty()); // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(m.contains(a));
    CHECK(m.insert(a, val(5)));
    CHECK(moved.get(a)->value == 1);
    CHECK(m.get(a)->value == 5);
    m.swap(moved);
    CHECK(m.get(a)->value == 1);
    CHECK(moved.get(a)->value == 5);
    moved.insert(b, val(2));
    swap(m, moved);
    CHECK(m.size() == 2);
    CHECK(moved.size() == 1);
    val_map target;
    target = std::move(m);
    CHECK(m.empty()); // NOLINT(bugprone-use-after-move)
    CHECK(target.size() == 2);
    b.reset();
    CHECK(target.size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: an empty ref as a key throws std::invalid_argument",
          "[weak_key_map]") {
    wrtest::count_scope<val> vals;
    val_map m;
    const wr::ref<key_obj> empty;
    const val v(1);
    REQUIRE_THROWS_AS(m.insert(empty, v), std::invalid_argument);
    REQUIRE_THROWS_AS(m.insert(empty, val(2)), std::invalid_argument);
    REQUIRE_THROWS_AS(m.insert_or_assign(empty, val(3)), std::invalid_argument);
    CHECK(m.empty());
    CHECK(vals.alive() == 1);
    CHECK_FALSE(m.contains(empty));
    CHECK_FALSE(m.get(empty));
    CHECK_FALSE(m.erase(empty));
}

// --- Exceptions from V's copies -----------------------------------------------------------------

namespace {
struct copy_tag {};
using fragile = wrtest::throwing_ctor<copy_tag>;
using fragile_counts = wrtest::counted<copy_tag>;
using fragile_map = wr::weak_key_map<key_obj, fragile>;

struct fail_copies_while_alive {
    fail_copies_while_alive() { fragile::fail_copies() = true; }
    fail_copies_while_alive(const fail_copies_while_alive&) = delete;
    fail_copies_while_alive& operator=(const fail_copies_while_alive&) = delete;
    ~fail_copies_while_alive() { fragile::fail_copies() = false; }
};
} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a throwing copy of V leaves the map unchanged and leaks "
                          "nothing",
          "[weak_key_map][exceptions]") {
    wrtest::count_scope<fragile_counts> vals;
    {
        fragile_map m;
        auto a = wr::make_ref<key_obj>(1);
        auto b = wr::make_ref<key_obj>(2);
        const fragile one(false, 1);
        const fragile two(false, 2);
        m.insert(a, one);
        auto unchanged = [&] {
            CHECK(m.size() == 1);
            CHECK(m.get(a)->member.value == 1);
            CHECK_FALSE(m.contains(b));
            CHECK(a.weak_count() == 1);
            CHECK(b.weak_count() == 0);
            CHECK(a.use_count() == 1);
            CHECK(vals.alive() == 3); // one, two and the map's copy
        };
        unchanged();
        {
            fail_copies_while_alive fail;
            REQUIRE_THROWS_AS(m.insert(b, two), wrtest::construction_failed);
            REQUIRE_THROWS_AS(m.insert_or_assign(a, two), wrtest::construction_failed);
            REQUIRE_THROWS_AS(m.get(a), wrtest::construction_failed);
            REQUIRE_THROWS_AS(m.items(), wrtest::construction_failed);
            REQUIRE_THROWS_AS(fragile_map(m), wrtest::construction_failed);
            CHECK(m.keys().size() == 1); // keys() copies no V
        }
        unchanged();
        CHECK_FALSE(m.insert(a, two)); // no copy needed to refuse
    }
    CHECK(vals.alive() == 0);
}
