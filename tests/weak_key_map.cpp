// SPDX-License-Identifier: MIT
// Behaviour of weak_key_map (Python's WeakKeyDictionary): data dropped at its key's death.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"
#include "support/removals.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct km_tag {};
using key_obj = wrtest::counted<km_tag>;

/// A value that can be copied but not assigned: get_or_insert needs no more.
struct unassignable {
    explicit unassignable(int v) : value(v) {}
    unassignable(const unassignable&) = default;
    unassignable& operator=(const unassignable&) = delete;
    ~unassignable() = default;
    int value;
};

/// A value with no move constructor (so every move is a copy) whose copies can be made to throw:
/// the `countdown`-th copy from now throws.
struct copy_only_tag {};
struct copy_only {
    explicit copy_only(int v) : value(v) {}
    copy_only(const copy_only& other) : value(other.value.value) {
        if (countdown > 0 && --countdown == 0) {
            WRTEST_THROW(wrtest::injected_failure());
        }
    }
    copy_only& operator=(const copy_only&) = default; // never throws
    ~copy_only() = default;
    wrtest::counted<copy_only_tag> value;
    static inline int countdown = 0;
};
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
#if WEAKREF_TEST_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(m.insert(empty, v), std::invalid_argument);
    REQUIRE_THROWS_AS(m.insert(empty, val(2)), std::invalid_argument);
    REQUIRE_THROWS_AS(m.insert_or_assign(empty, val(3)), std::invalid_argument);
#endif
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

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: a throwing copy of V leaves the map unchanged and leaks "
                          "nothing",
          "[needs-exceptions][weak_key_map][exceptions]") {
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
#endif

// --- Working inside the map: removal listener, try_emplace, get_or_insert, update, visit, take,
// values, erase_if, == ----------------------------------------------------------------------------

namespace {

using cause = wr::removal_cause;
using box = std::unique_ptr<int>; // move-only: the listener's value is intact or moved-from

/// What a weak_key_map listener was handed: the key object's address, its value field as read
/// inside the listener, the value (moved out of the map), and the cause.
struct handed {
    const key_obj* key;
    int key_value;
    box value;
    cause why;
};

template <class Map> void listen(Map& m, std::vector<handed>& log) {
    m.on_remove([&log](const key_obj* k, box&& v, cause c) {
        log.push_back(handed{k, k->value, std::move(v), c});
    });
}

/// A listener for weak_key_map<key_obj, int> that records (tag, key value) and counts its
/// copies.
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
    void operator()(const key_obj* k, int&& /*value*/, cause c) const {
        log->record({tag, k->value}, c);
    }
};

/// An aggregate value: try_emplace builds it from its members' arguments.
struct point {
    int x;
    std::string label;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: the listener is handed the value intact, with its cause",
          "[weak_key_map][on_remove]") {
    wr::weak_key_map<key_obj, box> m;
    std::vector<handed> log;
    listen(m, log);
    auto k1 = wr::make_ref<key_obj>(1);
    auto k2 = wr::make_ref<key_obj>(2);
    auto k3 = wr::make_ref<key_obj>(3);
    m.insert(k1, std::make_unique<int>(10));
    m.insert(k2, std::make_unique<int>(20));
    m.try_emplace(k3, std::make_unique<int>(30));
    CHECK_FALSE(m.insert(k1, std::make_unique<int>(11))); // refused: tells nothing
    CHECK_FALSE(m.try_emplace(k1, std::make_unique<int>(12)));
    REQUIRE(log.empty());

    SECTION("erase") {
        CHECK(m.erase(k2));
        CHECK_FALSE(m.erase(k2));
        REQUIRE(log.size() == 1);
        CHECK(log[0].key == k2.get());
        CHECK(log[0].why == cause::erased);
        REQUIRE(log[0].value);
        CHECK(*log[0].value == 20);
    }
    SECTION("erase by pointer") {
        CHECK(m.erase(k2.get()));
        REQUIRE(log.size() == 1);
        CHECK(log[0].why == cause::erased);
        CHECK(*log[0].value == 20);
    }
    SECTION("take: the caller gets the value, the listener the moved-from one") {
        std::optional<box> taken = m.take(k2);
        REQUIRE(taken);
        REQUIRE(*taken);
        CHECK(**taken == 20);
        REQUIRE(log.size() == 1);
        CHECK(log[0].why == cause::erased);
        CHECK(log[0].value == nullptr);
        CHECK_FALSE(m.take(k2));
        CHECK(log.size() == 1);
    }
    SECTION("insert_or_assign: the old value, replaced") {
        CHECK_FALSE(m.insert_or_assign(k1, std::make_unique<int>(100)));
        REQUIRE(log.size() == 1);
        CHECK(log[0].key == k1.get());
        CHECK(log[0].why == cause::replaced);
        CHECK(*log[0].value == 10);
        CHECK(m.visit(k1, [](const box& b) { return *b; }) == 100);
        k1.reset(); // then the key's death: the new value, died, once
        REQUIRE(log.size() == 2);
        CHECK(log[1].why == cause::died);
        CHECK(*log[1].value == 100);
    }
    SECTION("a key's death: died, the value intact, the key object still alive") {
        const key_obj* raw = k3.get();
        k3.reset();
        REQUIRE(log.size() == 1);
        CHECK(log[0].key == raw);
        CHECK(log[0].key_value == 3); // read inside the listener: not yet destroyed
        CHECK(log[0].why == cause::died);
        REQUIRE(log[0].value);
        CHECK(*log[0].value == 30);
    }
    SECTION("erase_if: erased, each entry it erased") {
        CHECK(m.erase_if([](const key_obj& k, const box& v) { return k.value == 1 || *v == 30; }) ==
              2);
        REQUIRE(log.size() == 2);
        for (const handed& h : log) {
            CHECK(h.why == cause::erased);
            CHECK(*h.value == h.key_value * 10);
        }
    }
    SECTION("clear: cleared, each entry") {
        m.clear();
        REQUIRE(log.size() == 3);
        for (const handed& h : log) {
            CHECK(h.why == cause::cleared);
            CHECK(*h.value == h.key_value * 10);
        }
    }
    SECTION("destruction: nothing, then or at the keys' deaths") {
        {
            wr::weak_key_map<key_obj, box> gone;
            listen(gone, log);
            gone.insert(k1, std::make_unique<int>(1));
        }
        m.on_remove(nullptr);
        k1.reset();
        CHECK(log.empty());
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: at the key's death the listener runs before the key's "
                          "destructor, after the entry left, and may use the map",
          "[weak_key_map][on_remove]") {
    wrtest::count_scope<key_obj> keys;
    wr::weak_key_map<key_obj, int> m;
    auto dying = wr::make_ref<key_obj>(1);
    auto other = wr::make_ref<key_obj>(2);
    auto late = wr::make_ref<key_obj>(3);
    m.insert(dying, 10);
    m.insert(other, 20);
    struct seen {
        int calls = 0;
        long keys_destroyed = -1;
        int key_value = 0;
        int value = 0;
        bool contains = true;
        std::size_t size = 99;
        bool inserted = false;
        std::optional<int> other_value;
    } at;
    m.on_remove([&](const key_obj* k, int&& v, cause c) {
        ++at.calls;
        CHECK(c == cause::died);
        at.keys_destroyed = keys.destroyed();
        at.key_value = k->value;
        at.value = v;
        at.contains = m.contains(k);
        at.size = m.size();
        at.other_value = m.get(other);
        at.inserted = m.insert(late, 30);
    });
    dying.reset();
    CHECK(at.calls == 1);
    CHECK(at.keys_destroyed == 0);
    CHECK(at.key_value == 1);
    CHECK(at.value == 10);
    CHECK_FALSE(at.contains);
    CHECK(at.size == 1);
    CHECK(at.other_value == 20);
    CHECK(at.inserted);
    CHECK(keys.destroyed() == 1);
    CHECK(m.get(late) == 30);
    m.on_remove(nullptr); // `at` goes before the map
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: copies copy the listener, moves move it, swap swaps it",
          "[weak_key_map][on_remove][hazard-5]") {
    wrtest::removal_log<std::pair<int, int>> log; // (tag of the listener, key value)
    int copies = 0;
    auto a = wr::make_ref<key_obj>(1);
    auto b = wr::make_ref<key_obj>(2);
    auto c = wr::make_ref<key_obj>(3);
    wr::weak_key_map<key_obj, int> original;
    original.on_remove(tagged_listener(&log, 1, &copies));
    original.insert(a, 1);
    original.insert(b, 2);
    const int copies_before = copies;

    SECTION("copy construction") {
        wr::weak_key_map<key_obj, int> copy(original);
        CHECK(copies == copies_before + 1);
        original.on_remove(nullptr);
        CHECK(copy.erase(a));
        CHECK(original.erase(b));
        CHECK(log.size() == 1);
        CHECK(log.count({1, 1}, cause::erased) == 1);
    }
    SECTION("copy assignment: the old entries cleared, then the listener copied") {
        wr::weak_key_map<key_obj, int> target;
        target.on_remove(tagged_listener(&log, 2, &copies));
        target.insert(c, 3);
        target = original;
        CHECK(log.size() == 1);
        CHECK(log.count({2, 3}, cause::cleared) == 1);
        CHECK(target.erase(a));
        CHECK(log.count({1, 1}, cause::erased) == 1);
    }
    SECTION("move construction and assignment") {
        wr::weak_key_map<key_obj, int> moved(std::move(original));
        CHECK(copies == copies_before);
        original.insert(c, 3); // the moved-from map has no listener
        CHECK(original.erase(c));
        CHECK(log.empty());
        wr::weak_key_map<key_obj, int> target;
        target.on_remove(tagged_listener(&log, 2, &copies));
        target.insert(c, 3);
        target = std::move(moved);
        CHECK(log.count({2, 3}, cause::cleared) == 1);
        b.reset();
        CHECK(log.count({1, 2}, cause::died) == 1);
        CHECK(log.size() == 2);
    }
    SECTION("swap") {
        wr::weak_key_map<key_obj, int> other;
        other.on_remove(tagged_listener(&log, 2, &copies));
        other.insert(c, 3);
        swap(original, other);
        CHECK(original.erase(c));
        CHECK(other.erase(a));
        CHECK(log.count({2, 3}, cause::erased) == 1);
        CHECK(log.count({1, 1}, cause::erased) == 1);
        CHECK(log.size() == 2);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: try_emplace builds the value in place, or leaves its "
                          "arguments alone",
          "[weak_key_map][try_emplace]") {
    wr::weak_key_map<key_obj, std::string> m;
    auto k = wr::make_ref<key_obj>(1);
    CHECK(m.try_emplace(k, 3, 'a'));
    CHECK(m.get(k) == "aaa");
    std::string text(40, 'x');
    CHECK_FALSE(m.try_emplace(k, std::move(text))); // NOLINT
    CHECK(text == std::string(40, 'x'));            // NOLINT(bugprone-use-after-move)
    CHECK(m.get(k) == "aaa");
    CHECK(k.weak_count() == 1);
    CHECK(k.use_count() == 1);
#if WEAKREF_TEST_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(m.try_emplace(wr::ref<key_obj>(), "x"), std::invalid_argument);
#endif
    CHECK(m.size() == 1);

    wr::weak_key_map<key_obj, point> points; // an aggregate, built with braces
    CHECK(points.try_emplace(k, 7, "seven"));
    CHECK(points.visit(k, [](const point& p) { return p.label + std::to_string(p.x); }) ==
          std::string("seven7"));

    wr::weak_key_map<key_obj, box> boxes;
    CHECK(boxes.try_emplace(k, std::make_unique<int>(1)));
    auto spare = std::make_unique<int>(2);
    CHECK_FALSE(boxes.try_emplace(k, std::move(spare))); // NOLINT
    REQUIRE(spare);                                      // NOLINT(bugprone-use-after-move)
    CHECK(*spare == 2);

    k.reset();
    CHECK(m.empty());
    CHECK(points.empty());
    CHECK(boxes.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: values that can be neither copied nor moved work with "
                          "every member that needs neither",
          "[weak_key_map][try_emplace][update][visit]") {
    auto k1 = wr::make_ref<key_obj>(1);
    auto k2 = wr::make_ref<key_obj>(2);

    SECTION("std::atomic<long>") {
        STATIC_REQUIRE_FALSE(std::is_move_constructible_v<std::atomic<long>>);
        wr::weak_key_map<key_obj, std::atomic<long>> m;
        std::vector<std::pair<int, long>> told;
        m.on_remove([&](const key_obj* k, std::atomic<long>&& v, cause c) {
            told.emplace_back(k->value, c == cause::died ? -v.load() : v.load());
        });
        CHECK(m.try_emplace(k1, 5L));
        CHECK(m.try_emplace(k2));
        CHECK_FALSE(m.try_emplace(k1, 9L));
        CHECK(m.update(k1, [](std::atomic<long>& v) { v += 2; }));
        CHECK(m.update(k2.get(), [](std::atomic<long>& v) { v.store(40); }));
        CHECK(m.visit(k1, [](const std::atomic<long>& v) { return v.load(); }) == 7L);
        CHECK(m.visit(k2.get(), [](const std::atomic<long>& v) { return v.load(); }) == 40L);
        CHECK(m.contains(k1));
        CHECK(m.size() == 2);
        CHECK(m.erase_if(
                  [](const key_obj&, const std::atomic<long>& v) { return v.load() > 10; }) == 1);
        CHECK(told == std::vector<std::pair<int, long>>{{2, 40}});
        CHECK(m.try_emplace(k2, 3L));
        CHECK(m.erase(k2));
        k1.reset();
        CHECK(told == std::vector<std::pair<int, long>>{{2, 40}, {2, 3}, {1, -7}});
        CHECK(m.empty());
        CHECK(m.try_emplace(k2, 1L));
        m.clear();
        CHECK(told.size() == 4);
        CHECK(m.empty());
    }
    SECTION("std::mutex") {
        STATIC_REQUIRE_FALSE(std::is_move_constructible_v<std::mutex>);
        wr::weak_key_map<key_obj, std::mutex> m;
        int told = 0;
        m.on_remove([&](const key_obj*, std::mutex&& mu, cause) {
            CHECK(mu.try_lock()); // intact, and unlocked
            mu.unlock();
            ++told;
        });
        CHECK(m.try_emplace(k1));
        CHECK(m.try_emplace(k2));
        CHECK(m.update(k1, [](std::mutex& mu) {
            CHECK(mu.try_lock());
            mu.unlock();
        }));
        CHECK(m.visit(k1.get(), [](const std::mutex&) {}));
        CHECK_FALSE(m.visit(wr::make_ref<key_obj>(3), [](const std::mutex&) {}));
        CHECK(m.erase_if([&](const key_obj& k, const std::mutex&) { return &k == k2.get(); }) == 1);
        CHECK(m.size() == 1);
        k1.reset();
        CHECK(m.empty());
        CHECK(told == 2);
        CHECK(m.try_emplace(k2));
        { wr::weak_key_map<key_obj, std::mutex> gone(std::move(m)); } // destroyed: no notice
        CHECK(told == 2);
        CHECK(k2.weak_count() == 0);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: get_or_insert runs make only for a key without an entry",
          "[weak_key_map][get_or_insert]") {
    wr::weak_key_map<key_obj, std::string> m;
    auto k = wr::make_ref<key_obj>(1);
    auto other = wr::make_ref<key_obj>(2);
    int made = 0;

    SECTION("a miss: make's result, converted to V, becomes the value") {
        CHECK(m.get_or_insert(k, [&] {
            ++made;
            return "one"; // a const char*: V is constructible from it
        }) == "one");
        CHECK(made == 1);
        CHECK(m.get(k) == "one");
        CHECK(m.get_or_insert(k, [&] {
            ++made;
            return "again";
        }) == "one");
        CHECK(made == 1);
        CHECK(k.use_count() == 1);
        CHECK(k.weak_count() == 1);
    }
    SECTION("the key has no entry while make runs, and make may use the map") {
        bool had_entry = true;
        std::size_t size_inside = 99;
        m.insert(other, "other");
        const std::string got = m.get_or_insert(k, [&] {
            had_entry = m.contains(k);
            size_inside = m.size();
            m.insert_or_assign(other, "changed");
            return std::string("made");
        });
        CHECK(got == "made");
        CHECK_FALSE(had_entry);
        CHECK(size_inside == 1);
        CHECK(m.get(other) == "changed");
    }
    SECTION("an insertion for the key while make runs wins") {
        const std::string got = m.get_or_insert(k, [&] {
            m.insert(k, "inserted");
            return std::string("made");
        });
        CHECK(got == "inserted");
        CHECK(m.get(k) == "inserted");
    }
    SECTION("a V that is copy-constructible but not assignable") {
        wr::weak_key_map<key_obj, unassignable> um;
        CHECK(um.get_or_insert(k, [] { return unassignable(3); }).value == 3);
        CHECK(um.get_or_insert(k, [] { return unassignable(4); }).value == 3);
    }
#if WEAKREF_TEST_HAS_EXCEPTIONS
    SECTION("a make that throws leaves the map unchanged") {
        m.insert(other, "other");
        REQUIRE_THROWS_AS(
            m.get_or_insert(k, []() -> std::string { throw wrtest::injected_failure(); }),
            wrtest::injected_failure);
        CHECK(m.size() == 1);
        CHECK_FALSE(m.contains(k));
        CHECK(k.weak_count() == 0);
        CHECK(m.get_or_insert(k, [] { return "later"; }) == "later"); // nothing left in flight
    }
    SECTION("a V copy that throws inside get_or_insert leaks nothing and frees nothing twice") {
        // The n-th copy of the value in the call throws: 1 into the entry, 2 and 3 the two
        // copies for the caller and for waiters, 4 the caller's return value (after the
        // creation is published). Before the fix, 2 and 3 leaked the entry, its V and the key's
        // control block; 4 withdrew a freed creation (heap-use-after-free under AddressSanitizer).
        for (int n = 1; n <= 4; ++n) {
            INFO("the copy that throws: " << n);
            wrtest::count_scope<wrtest::counted<copy_only_tag>> values;
            wr::weak_key_map<key_obj, copy_only> cm;
            {
                auto key = wr::make_ref<key_obj>(1);
                copy_only::countdown = n;
                REQUIRE_THROWS_AS(cm.get_or_insert(key, [] { return copy_only(5); }),
                                  wrtest::injected_failure);
                copy_only::countdown = 0;
                // Copies 1-3 come before the entry is linked: nothing was inserted. Copy 4 comes
                // after: the entry stays, as every waiter received it.
                CHECK(cm.size() == (n == 4 ? 1U : 0U));
                CHECK(key.weak_count() == (n == 4 ? 1 : 0));
                const copy_only again = cm.get_or_insert(key, [] { return copy_only(6); });
                CHECK(again.value.value == (n == 4 ? 5 : 6)); // nothing left in flight
                CHECK(cm.size() == 1);
            }
            CHECK(cm.size() == 0);
            wr::flush_retired();
            CHECK(values.alive() == 0);
        }
    }
    SECTION("get_or_insert for its own key from inside make throws std::logic_error") {
        bool threw = false;
        const std::string got = m.get_or_insert(k, [&] {
            try {
                (void)m.get_or_insert(k, [] { return "inner"; });
            } catch (const std::logic_error&) {
                threw = true;
            }
            (void)m.get_or_insert(other, [] { return "another key"; }); // fine
            return "outer";
        });
        CHECK(threw);
        CHECK(got == "outer");
        CHECK(m.get(other) == "another key");
    }
    SECTION("an empty key throws std::invalid_argument") {
        REQUIRE_THROWS_AS(m.get_or_insert(wr::ref<key_obj>(),
                                          [&] {
                                              ++made;
                                              return "x";
                                          }),
                          std::invalid_argument);
        CHECK(made == 0);
        CHECK(m.empty());
    }
    SECTION("a V whose construction from make's result throws leaves the map unchanged") {
        struct tag {};
        using fragile = wrtest::throwing_ctor<tag>;
        wr::weak_key_map<key_obj, fragile> f;
        REQUIRE_THROWS_AS(f.get_or_insert(k, [] { return true; }), wrtest::construction_failed);
        CHECK(f.empty());
        CHECK(k.weak_count() == 0);
        CHECK(f.get_or_insert(k, [] { return false; }).member.value == 0);
        CHECK(f.size() == 1);
    }
#endif
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: update changes the value in place; visit reads it",
          "[weak_key_map][update][visit]") {
    wr::weak_key_map<key_obj, std::vector<int>> m;
    auto k = wr::make_ref<key_obj>(1);
    auto absent = wr::make_ref<key_obj>(2);
    m.insert(k, std::vector<int>{1});
    int calls = 0;
    CHECK(m.update(k, [&](std::vector<int>& v) {
        ++calls;
        v.push_back(2);
    }));
    CHECK(m.update(k.get(), [&](std::vector<int>& v) {
        ++calls;
        v.push_back(3);
    }));
    CHECK_FALSE(m.update(absent, [&](std::vector<int>&) { ++calls; }));
    CHECK_FALSE(
        m.update(static_cast<const key_obj*>(nullptr), [&](std::vector<int>&) { ++calls; }));
    CHECK(calls == 2);
    CHECK(m.get(k) == std::vector<int>{1, 2, 3});

    const auto& cm = m;
    auto size = cm.visit(k, [](const std::vector<int>& v) { return v.size(); });
    STATIC_REQUIRE(std::is_same_v<decltype(size), std::optional<std::size_t>>);
    CHECK(size == std::size_t{3});
    // A reference result is returned decayed: a copy.
    auto first = cm.visit(k.get(), [](const std::vector<int>& v) -> const int& { return v[0]; });
    STATIC_REQUIRE(std::is_same_v<decltype(first), std::optional<int>>);
    CHECK(first == 1);
    bool ran = false;
    auto done = cm.visit(k, [&](const std::vector<int>&) { ran = true; });
    STATIC_REQUIRE(std::is_same_v<decltype(done), bool>);
    CHECK(done);
    CHECK(ran);
    CHECK_FALSE(cm.visit(absent, [](const std::vector<int>&) {}));
    CHECK_FALSE(cm.visit(absent.get(), [](const std::vector<int>& v) { return v.size(); }));

    auto dying = wr::make_ref<key_obj>(3);
    const key_obj* raw = dying.get();
    m.insert(dying, std::vector<int>{});
    wr::weak_ref<key_obj> keep_address = dying; // the block (and address) stays reserved
    dying.reset();
    CHECK_FALSE(m.update(raw, [&](std::vector<int>&) { ++calls; }));
    CHECK_FALSE(m.visit(raw, [](const std::vector<int>&) {}));
    CHECK(calls == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: take removes the entry and returns its value",
          "[weak_key_map][take]") {
    wrtest::count_scope<val> vals;
    val_map m;
    auto k = wr::make_ref<key_obj>(1);
    m.insert(k, val(5));
    std::optional<val> got = m.take(k);
    REQUIRE(got);
    CHECK(got->value == 5);
    CHECK(m.empty());
    CHECK(k.weak_count() == 0);
    CHECK(vals.alive() == 1); // the caller's
    CHECK_FALSE(m.take(k));
    m.insert(k, val(6));
    CHECK(m.take(k.get())->value == 6);
    CHECK_FALSE(m.take(static_cast<const key_obj*>(nullptr)));
    CHECK_FALSE(m.take(wr::ref<key_obj>()));
    got.reset();
    CHECK(vals.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: values() copies the live values at one instant",
          "[weak_key_map][values]") {
    wrtest::count_scope<val> vals;
    val_map m;
    CHECK(m.values().empty());
    auto a = wr::make_ref<key_obj>(1);
    auto b = wr::make_ref<key_obj>(2);
    m.insert(a, val(10));
    m.insert(b, val(20));
    {
        auto dead = wr::make_ref<key_obj>(3);
        m.insert(dead, val(30));
    }
    std::vector<val> values = m.values();
    std::vector<int> got;
    for (const val& v : values) {
        got.push_back(v.value);
    }
    CHECK(wrtest::sorted(got) == std::vector<int>{10, 20});
    CHECK(vals.alive() == 4); // copies, not the map's own
    a.reset();
    CHECK(values.size() == 2); // a snapshot
    CHECK(m.values().size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: erase_if offers each live entry once and erases what "
                          "pred accepts",
          "[weak_key_map][erase_if]") {
    wr::weak_key_map<key_obj, int> m;
    std::vector<wr::ref<key_obj>> keys;
    for (int i = 0; i < 40; ++i) {
        keys.push_back(wr::make_ref<key_obj>(i));
        m.insert(keys.back(), i * 10);
    }
    keys[7].reset();
    int told = 0;
    m.on_remove([&](const key_obj*, int&&, cause c) { told += c == cause::erased ? 1 : 100; });
    std::multiset<int> offered;
    bool match = true;
    const std::size_t erased = m.erase_if([&](const key_obj& k, const int& v) {
        offered.insert(k.value);
        match = match && v == k.value * 10;
        return k.value % 4 == 0;
    });
    std::multiset<int> live;
    for (int i = 0; i < 40; ++i) {
        if (i != 7) {
            live.insert(i);
        }
    }
    CHECK(offered == live);
    CHECK(match);
    CHECK(erased == 10);
    CHECK(told == 10);
    CHECK(m.size() == 29);
    for (int i = 0; i < 40; ++i) {
        if (i != 7) {
            CHECK(m.contains(keys[static_cast<std::size_t>(i)]) == (i % 4 != 0));
        }
    }
    CHECK(keys[0].use_count() == 1); // the offered keys were let go
    m.on_remove(nullptr);            // `told` goes before the map
    wr::weak_key_map<key_obj, int> never;
    CHECK(never.erase_if([](const key_obj&, const int&) { return true; }) == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: == compares identical key objects and equal values",
          "[weak_key_map][equality]") {
    auto a = wr::make_ref<key_obj>(1);
    auto b = wr::make_ref<key_obj>(2);
    auto twin = wr::make_ref<key_obj>(1); // equal content, another key
    wr::weak_key_map<key_obj, int> x;
    wr::weak_key_map<key_obj, int> y;
    CHECK(x == y);
    x.insert(a, 1);
    x.insert(b, 2);
    y.insert(b, 2);
    y.insert(a, 1);
    CHECK(x == y);
    CHECK_FALSE(x != y);
    y.insert_or_assign(a, 10);
    CHECK(x != y); // another value
    y.insert_or_assign(a, 1);
    CHECK(x == y);
    y.erase(a);
    y.insert(twin, 1);
    CHECK(x != y); // another key object
    y.erase(twin);
    CHECK(x != y); // another size
    {
        auto dead = wr::make_ref<key_obj>(3);
        y.insert(dead, 3);
        x.insert(dead, 3);
    }
    y.insert(a, 1);
    CHECK(x == y); // the dead entries do not count

    SECTION("a == a holds even where V's == is not reflexive") {
        wr::weak_key_map<key_obj, double> n;
        n.insert(a, std::numeric_limits<double>::quiet_NaN());
        CHECK(n == n);
        CHECK_FALSE(n != n);
        const wr::weak_key_map<key_obj, double> copy(n);
        CHECK(copy != n); // NaN != NaN: V's == decides between two maps
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_key_map: at a key's death the listener runs, then the value is "
                          "destroyed, then the key's on_death callbacks and its destructor run",
          "[weak_key_map][on_remove][death]") {
    wr::weak_key_map<wrtest::observed, wrtest::last_words> m;
    std::vector<std::string> order;
    auto k = wr::make_ref<wrtest::observed>(1);
    k->on_destroy = [&] { order.emplace_back("key destructor"); };
    m.try_emplace(k, [&] { order.emplace_back("value destructor"); });
    m.on_remove([&](const wrtest::observed*, wrtest::last_words&& v, cause) {
        order.emplace_back(v.fn ? "listener, value intact" : "listener, value empty");
    });
    auto f = wr::on_death(k, [&] { order.emplace_back("callback"); });
    k.reset();
    CHECK(order == std::vector<std::string>{"listener, value intact", "value destructor",
                                            "callback", "key destructor"});
    m.on_remove(nullptr);
}
