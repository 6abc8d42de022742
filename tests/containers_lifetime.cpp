// SPDX-License-Identifier: MIT
// Lifetimes the containers share through their one table: a destructor that destroys the
// container in the middle of a member, nothing of the user's destroyed under a lock (hazard 20),
// moved-in values and moved-from containers.
#include "support/catch.hpp"
#include "support/flavour.hpp"
#include "support/keys.hpp"
#include "support/watchdog.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

struct owner_obj {
    int id = 0;
};

/// A weak_key_map value whose destructor destroys the map that holds it.
struct map_killer;
using killer_map = wr::weak_key_map<owner_obj, map_killer>;
struct map_killer {
    explicit map_killer(std::unique_ptr<killer_map>* m) : map(m) {}
    map_killer(map_killer&& other) noexcept : map(std::exchange(other.map, nullptr)) {}
    map_killer(const map_killer&) = delete;
    map_killer& operator=(const map_killer&) = delete;
    map_killer& operator=(map_killer&&) = delete;
    ~map_killer() {
        if (map != nullptr) {
            map->reset(); // the map, and the table under it, go now
        }
    }
    std::unique_ptr<killer_map>* map;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "containers: a value's destructor may destroy the map in the middle "
                          "of clear()",
          "[weak_key_map][hazard-4][hazard-5]") {
    std::vector<wr::ref<owner_obj>> keys;
    for (int i = 0; i < 200; ++i) {
        keys.push_back(wr::make_ref<owner_obj>(owner_obj{i}));
    }
    auto map = std::make_unique<killer_map>();
    for (const auto& k : keys) {
        REQUIRE(map->insert(k, map_killer(&map)));
    }
    killer_map* raw = map.get();
    raw->clear(); // the first value destroyed destroys *raw; clear() must not touch it after
    CHECK_FALSE(map);
    // The keys live on, untouched, and their deaths find nothing of the map.
    for (const auto& k : keys) {
        CHECK(k.weak_count() == 0);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "containers: a value's destructor may destroy the map in the middle "
                          "of erase_if()",
          "[weak_key_map][hazard-5]") {
    std::vector<wr::ref<owner_obj>> keys;
    for (int i = 0; i < 50; ++i) {
        keys.push_back(wr::make_ref<owner_obj>(owner_obj{i}));
    }
    auto map = std::make_unique<killer_map>();
    for (const auto& k : keys) {
        REQUIRE(map->try_emplace(k, &map));
    }
    killer_map* raw = map.get();
    const std::size_t erased =
        raw->erase_if([](const owner_obj&, const map_killer&) { return true; });
    CHECK(erased >= 1);
    CHECK_FALSE(map);
}

namespace {

/// As map_killer, but copyable: a copy is disarmed (weak_key_map's copy assignment copies V).
struct copyable_killer;
using copyable_killer_map = wr::weak_key_map<owner_obj, copyable_killer>;
struct copyable_killer {
    explicit copyable_killer(std::unique_ptr<copyable_killer_map>* m) : map(m) {}
    copyable_killer(const copyable_killer& /*other*/) noexcept {}
    copyable_killer& operator=(const copyable_killer&) = delete;
    ~copyable_killer() {
        if (map != nullptr) {
            map->reset();
        }
    }
    std::unique_ptr<copyable_killer_map>* map = nullptr;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "containers: an old value's destructor may destroy the map in the "
                          "middle of its assignment",
          "[weak_key_map][hazard-5]") {
    // The new entries are in place before the old values go; the assignment then touches
    // nothing of the map (under AddressSanitizer, a touch is a use after free).
    const bool by_copy = GENERATE(false, true);
    const auto key = wr::make_ref<owner_obj>(owner_obj{1});
    const auto other_key = wr::make_ref<owner_obj>(owner_obj{2});
    auto map = std::make_unique<copyable_killer_map>();
    REQUIRE(map->try_emplace(key, &map));
    copyable_killer_map source;
    REQUIRE(source.try_emplace(other_key, nullptr));
    copyable_killer_map* raw = map.get();
    if (by_copy) {
        *raw = source;
    } else {
        *raw = std::move(source);
    }
    CHECK_FALSE(map); // the old value destroyed it
    CHECK(key.weak_count() == 0);
    CHECK(other_key.weak_count() == (by_copy ? 1 : 0)); // the source's own entry, if copied
}

TEST_CASE(WEAKREF_FLAVOUR "containers: a death the old tier lets go at an assignment may destroy "
                          "the value map",
          "[weak_value_map][keep_recent][hazard-5]") {
    const bool by_copy = GENERATE(false, true);
    using map_type = wr::weak_value_map<int, owner_obj>;
    auto map = std::make_unique<map_type>();
    map->keep_recent(16 * 4);
    bool ran = false;
    std::vector<wr::finalizer> callbacks;
    for (int k = 0; k < 4; ++k) {
        auto v = wr::make_ref<owner_obj>(owner_obj{k});
        callbacks.push_back(wr::on_death(v, [&map, &ran] {
            if (!ran) {
                ran = true;
                map.reset(); // in the middle of the assignment's release of the old tier
            }
        }));
        map->insert(k, std::move(v)); // held by the tier alone
    }
    map_type source;
    const auto kept = wr::make_ref<owner_obj>(owner_obj{9});
    source.insert(9, kept);
    map_type* raw = map.get();
    if (by_copy) {
        *raw = source;
    } else {
        *raw = std::move(source);
    }
    CHECK(ran);
    CHECK_FALSE(map);
    CHECK(kept.weak_count() == (by_copy ? 1 : 0)); // the source's own entry, if copied
}

TEST_CASE(WEAKREF_FLAVOUR "containers: a death the old tier lets go at an assignment may destroy "
                          "the source",
          "[weak_value_map][keep_recent][hazard-5]") {
    const bool by_copy = GENERATE(false, true);
    using map_type = wr::weak_value_map<int, owner_obj>;
    map_type target;
    target.keep_recent(16 * 4);
    auto source = std::make_unique<map_type>();
    const auto kept = wr::make_ref<owner_obj>(owner_obj{9});
    source->insert(9, kept);
    bool ran = false;
    std::vector<wr::finalizer> callbacks;
    for (int k = 0; k < 4; ++k) {
        auto v = wr::make_ref<owner_obj>(owner_obj{k});
        callbacks.push_back(wr::on_death(v, [&source, &ran] {
            if (!ran) {
                ran = true;
                source.reset(); // in the middle of the assignment's release of the old tier
            }
        }));
        target.insert(k, std::move(v)); // held by the tier alone
    }
    map_type* raw = source.get();
    if (by_copy) {
        target = *raw;
    } else {
        target = std::move(*raw);
    }
    CHECK(ran);
    CHECK_FALSE(source);
    CHECK(target.size() == 1); // the source's entry, now the target's
    CHECK(target.get(9) == kept);
    CHECK(kept.weak_count() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "containers: a listener told `cleared` by an assignment may destroy "
                          "the set",
          "[weak_set][on_remove][hazard-5]") {
    const bool by_copy = GENERATE(false, true);
    using set_type = wr::weak_set<owner_obj>;
    std::vector<wr::ref<owner_obj>> old_elements;
    auto set = std::make_unique<set_type>();
    for (int i = 0; i < 3; ++i) {
        old_elements.push_back(wr::make_ref<owner_obj>(owner_obj{i}));
        set->insert(old_elements.back());
    }
    int told = 0;
    set->on_remove([&set, &told](const owner_obj* /*e*/, weakref::removal_cause c) {
        CHECK(c == weakref::removal_cause::cleared);
        if (++told == 1) {
            set.reset(); // the first old element told destroys the set
        }
    });
    set_type source;
    const auto element = wr::make_ref<owner_obj>(owner_obj{9});
    source.insert(element);
    set_type* raw = set.get();
    if (by_copy) {
        *raw = source;
    } else {
        *raw = std::move(source);
    }
    CHECK_FALSE(set);
    CHECK(told == 3); // every old element told, though the set went at the first
    CHECK(element.weak_count() == (by_copy ? 1 : 0));
    for (const auto& e : old_elements) {
        CHECK(e.weak_count() == 0);
    }
}

namespace {

/// A key whose destructor asks the map it belongs to for its size: fine anywhere but under one
/// of the map's locks (a moved-from key destroyed by a snapshot's growth would be).
struct nosy_key;
using nosy_map = wr::weak_value_map<nosy_key, int, std::hash<nosy_key>>;
nosy_map* nosy_target = nullptr;
long nosy_sizes = 0;

struct nosy_key {
    explicit nosy_key(int v) : value(v) {}
    nosy_key(const nosy_key& other) = default;
    nosy_key(nosy_key&& other) noexcept : value(other.value) {}
    nosy_key& operator=(const nosy_key&) = default;
    ~nosy_key(); // below: it needs the map's type complete
    friend bool operator==(const nosy_key& a, const nosy_key& b) { return a.value == b.value; }
    int value;
};

} // namespace

template <> struct std::hash<nosy_key> {
    std::size_t operator()(const nosy_key& k) const noexcept { return std::hash<int>()(k.value); }
};

nosy_key::~nosy_key() {
    if (nosy_target != nullptr) {
        nosy_sizes += static_cast<long>(nosy_target->size()); // takes every shard lock
    }
}

TEST_CASE(WEAKREF_FLAVOUR "containers: a snapshot destroys nothing of the user's under the map's "
                          "locks, however much it grows",
          "[weak_value_map][hazard-20]") {
    wrtest::watchdog dog("snapshots and a key whose destructor locks the map");
    nosy_map m;
    std::vector<wr::ref<int>> values;
    for (int i = 0; i < 2000; ++i) {
        values.push_back(wr::make_ref<int>(i));
        m.insert(nosy_key(i), values.back());
    }
    nosy_target = &m;
    {
        const auto items = m.items(); // a growing vector would destroy moved-from keys inside
        CHECK(items.size() == 2000);
        const auto keys = m.keys();
        CHECK(keys.size() == 2000);
    }
    nosy_target = nullptr;
    CHECK(nosy_sizes > 0); // the destructors ran, and asked, outside the locks
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: insert takes a value by rvalue without copying its "
                          "count; the moved-from ref is empty",
          "[weak_value_map]") {
    wr::weak_value_map<int, std::string> m;
    auto kept = wr::make_ref<std::string>("kept");
    auto moved = kept;
    REQUIRE(kept.use_count() == 2);
    CHECK(m.insert(1, std::move(moved)));
    CHECK_FALSE(moved);
    CHECK(kept.use_count() == 1); // the map holds no strong count of its own
    CHECK(m.get(1) == kept);
    // A value nobody else holds dies as soon as insert let go of it: a weak map keeps nothing.
    CHECK(m.insert(2, wr::make_ref<std::string>("gone")));
    CHECK_FALSE(m.contains(2));
    auto other = wr::make_ref<std::string>("other");
    auto moved_again = other;
    CHECK_FALSE(m.insert_or_assign(1, std::move(moved_again)));
    CHECK_FALSE(moved_again);
    CHECK(m.get(1) == other);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_value_map: a moved-from map with a stateful hash is empty and "
                          "usable",
          "[weak_value_map]") {
    using hash = std::function<std::size_t(int)>;
    using map = wr::weak_value_map<int, int, hash>;
    map a(hash([](int k) { return static_cast<std::size_t>(k) * 31U; }));
    auto v = wr::make_ref<int>(7);
    a.insert(1, v);
    map b(std::move(a));
    CHECK(b.contains(1));
    CHECK(a.empty()); // NOLINT(bugprone-use-after-move): the promise under test
    CHECK(a.insert(2, v));
    CHECK(a.get(2) == v);
    map c;
    c = std::move(a);
    CHECK(c.contains(2));
    CHECK(a.insert(3, v)); // NOLINT(bugprone-use-after-move)
    CHECK(a.size() == 1);
}

#if !(defined(WEAKREF_TEST_LOCAL) && WEAKREF_TEST_LOCAL)
namespace {

/// Counts the destruction of the key an entry holds (lookup keys are inert).
struct count_into {
    int* destroyed = nullptr;
    void operator()() const noexcept { ++*destroyed; }
};
using counted_key = wrtest::acting_key<count_into>;

/// A map, and after it (destroyed after it) a note of how many of its keys were destroyed.
struct map_owner {
    struct note {
        note(const int* d, int* s) noexcept : destroyed(d), seen(s) {}
        note(const note&) = delete;
        note& operator=(const note&) = delete;
        ~note() { *seen = *destroyed; }
        const int* destroyed;
        int* seen;
    };
    map_owner(const int* destroyed, int* seen) : after(destroyed, seen) {}
    note after;
    weakref::weak_value_map<counted_key, int, wrtest::acting_key_hash> map;
};

} // namespace

TEST_CASE("sync: containers: a map destroyed by a key's destructor that reclamation runs has "
          "freed what it removed when its destructor returns",
          "[containers][lifetime][reclamation]") {
    // The outer entry's key holds the last reference to the owner of the inner map; the two
    // entries wait in this thread's ring, outer first. Freeing the outer one destroys the
    // inner map, whose destructor must free its own entry (not leave it to the flush that is
    // running it, after the owner, and what the key may use, are gone).
    int destroyed = 0;
    int seen = -1;
    const auto v = weakref::make_ref<int>(1);
    weakref::weak_value_map<std::shared_ptr<map_owner>, int> outer;
    for (int round = 0; round < 3; ++round) {
        destroyed = 0;
        seen = -1;
        auto owner = std::make_shared<map_owner>(&destroyed, &seen);
        map_owner* inner = owner.get();
        outer.insert(owner, v);
        inner->map.insert(counted_key(round, count_into{&destroyed}), v);
        weakref::flush_retired();
        outer.erase(owner);
        owner.reset(); // the retired outer entry's key holds the owner now
        inner->map.erase(counted_key(round));
        weakref::flush_retired();
        CHECK(destroyed == 1);
        CHECK(seen == 1); // the inner entry's key was gone when the inner map's destructor ended
    }
}
#endif
