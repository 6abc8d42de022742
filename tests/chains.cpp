// SPDX-License-Identifier: MIT
// Deep chains: dropping the head of a million-long chain neither overflows the stack nor
// returns before every object of it is destroyed and every callback has run (hazard 14).
#include "support/catch.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <vector>

namespace {

constexpr long chain_length = 1000000;

struct link_node {
    static inline long alive = 0;
    link_node() noexcept { ++alive; }
    link_node(const link_node&) = delete;
    link_node& operator=(const link_node&) = delete;
    ~link_node() { --alive; }
    wr::ref<link_node> next; // the only strong ref to the next node
};

struct chain_key {
    static inline long alive = 0;
    chain_key() noexcept { ++alive; }
    chain_key(const chain_key&) = delete;
    chain_key& operator=(const chain_key&) = delete;
    ~chain_key() { --alive; }
};

// A weak_key_map value holding the only strong ref to the next key of the same map.
struct chain_value {
    static inline long alive = 0;
    explicit chain_value(wr::ref<chain_key> k) noexcept : next_key(std::move(k)) { ++alive; }
    chain_value(chain_value&& other) noexcept : next_key(std::move(other.next_key)) { ++alive; }
    chain_value(const chain_value&) = delete;
    chain_value& operator=(const chain_value&) = delete;
    chain_value& operator=(chain_value&&) = delete;
    ~chain_value() { --alive; }
    wr::ref<chain_key> next_key;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "chains: dropping the head of a million-long chain destroys all of it",
          "[ref][hazard-14]") {
    REQUIRE(link_node::alive == 0);
    wr::ref<link_node> head = wr::make_ref<link_node>();
    wr::weak_ref<link_node> tail_watch;
    {
        wr::ref<link_node> cursor = head;
        for (long i = 1; i < chain_length; ++i) {
            cursor->next = wr::make_ref<link_node>();
            cursor = cursor->next;
        }
        tail_watch = cursor;
    }
    REQUIRE(link_node::alive == chain_length);
    head.reset();
    CHECK(link_node::alive == 0);
    CHECK(tail_watch.expired());
}

TEST_CASE(WEAKREF_FLAVOUR "chains: every callback of a million-long chain runs before the drop "
                          "returns",
          "[finalizer][hazard-14]") {
    long ran = 0;
    bool order_ok = true;
    std::vector<wr::finalizer> finalizers;
    finalizers.reserve(chain_length);
    wr::ref<link_node> head = wr::make_ref<link_node>();
    {
        wr::ref<link_node> cursor = head;
        for (long i = 0; i < chain_length; ++i) {
            const wr::weak_ref<link_node> self = cursor;
            finalizers.push_back(wr::on_death(cursor, [&ran, &order_ok, self] {
                ++ran;
                // Callbacks run once the object is dead to lock(), before its destructor.
                order_ok = order_ok && self.expired();
            }));
            if (i + 1 < chain_length) {
                cursor->next = wr::make_ref<link_node>();
                cursor = cursor->next;
            }
        }
    }
    head.reset();
    CHECK(ran == chain_length);
    CHECK(order_ok);
    CHECK(link_node::alive == 0);
    long still_armed = 0;
    for (const wr::finalizer& f : finalizers) {
        still_armed += f.alive() ? 1 : 0;
    }
    CHECK(still_armed == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "chains: a million-long chain through a weak_key_map empties it before "
                          "the drop returns",
          "[weak_key_map][hazard-14][hazard-4]") {
    wr::weak_key_map<chain_key, chain_value> map;
    wr::ref<chain_key> head = wr::make_ref<chain_key>();
    {
        wr::ref<chain_key> key = head;
        long inserted = 0;
        for (long i = 1; i < chain_length; ++i) {
            wr::ref<chain_key> next = wr::make_ref<chain_key>();
            wr::ref<chain_key> keep = next;
            inserted += map.insert(key, chain_value(std::move(next))) ? 1 : 0;
            key = std::move(keep);
        }
        REQUIRE(inserted == chain_length - 1);
        // The last key maps to a value holding nothing.
        REQUIRE(map.insert(key, chain_value(wr::ref<chain_key>())));
    }
    REQUIRE(map.size() == static_cast<std::size_t>(chain_length));
    REQUIRE(chain_key::alive == chain_length);
    head.reset();
    CHECK(map.size() == 0);
    CHECK(map.empty());
    CHECK(chain_key::alive == 0);
    CHECK(chain_value::alive == 0);
}

// --- Deaths past the stack's end: only destructors wait, never deaths (hazard 19) ---------------

#include "support/stack_thread.hpp"

namespace {

/// A node that holds the only strong ref to its child and a raw pointer to its parent, as a
/// tree with std::shared_ptr children and raw back pointers does.
struct family_node {
    static inline long alive = 0;
    static inline long bad_parent = 0; // destructors that found their parent already gone
    explicit family_node(family_node* p, long d) noexcept : parent(p), depth(d) { ++alive; }
    family_node(const family_node&) = delete;
    family_node& operator=(const family_node&) = delete;
    ~family_node() {
        if (parent != nullptr && parent->depth != depth - 1) {
            ++bad_parent;
        }
        child.reset(); // the child's destruction nests here, while this one is intact
        depth = -1;
        --alive;
    }
    family_node* parent;
    long depth;
    wr::ref<family_node> child;
};

wr::ref<family_node> make_family(long length) {
    auto head = wr::make_ref<family_node>(nullptr, 0);
    family_node* at = head.get();
    for (long i = 1; i < length; ++i) {
        at->child = wr::make_ref<family_node>(at, i);
        at = at->child.get();
    }
    return head;
}

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "chains: a child's destructor may use its parent through a raw "
                          "pointer, as with std::shared_ptr, however deep the stack allows",
          "[ref][hazard-19]") {
    // 2,000 links: far deeper than a fixed depth bound (128 once), well inside any stack.
    family_node::bad_parent = 0;
    auto head = make_family(2000);
    REQUIRE(family_node::alive == 2000);
    head.reset();
    CHECK(family_node::alive == 0);
    CHECK(family_node::bad_parent == 0);
}

namespace {

struct watched_node {
    wr::ref<watched_node> next;
    long index = 0;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "chains: past the stack's end, each link's callbacks and container "
                          "removals still happen at the moment of its death",
          "[ref][finalizer][weak_set][weak_value_map][hazard-19][hazard-6]") {
    // On a 256 KiB stack a 20,000-long chain cannot nest: most destructors are put off. Each
    // link's death must still be complete when its last ref goes: gone from the set and the
    // map (size exact, erase false), its callback run, whatever its destructor waits for.
    constexpr long length = 20000;
    long mismatches = 0;
    long deaths = 0;
    long erase_true = 0;
    long empty_from_iteration = 0;
    wrtest::run_on_stack(256 * 1024, [&] {
        wr::weak_set<watched_node> set;
        wr::weak_value_map<long, watched_node> map;
        std::vector<wr::finalizer> callbacks;
        callbacks.reserve(length);
        auto head = wr::make_ref<watched_node>();
        {
            wr::ref<watched_node> at = head;
            for (long i = 0; i < length; ++i) {
                at->index = i;
                set.insert(at);
                map.insert(i, at);
                const wr::weak_ref<watched_node> self = at;
                callbacks.push_back(wr::on_death(at, [&, self, i] {
                    ++deaths;
                    // Every link before this one is dead, this one too, the rest alive.
                    const auto live = static_cast<std::size_t>(length - deaths);
                    if (set.size() != live || map.size() != live || map.contains(i) ||
                        !self.expired()) {
                        ++mismatches;
                    }
                    if (map.erase(i)) {
                        ++erase_true;
                    }
#if WEAKREF_TEST_LOCAL
                    if (deaths % 1000 == 0) {
                        for (const auto& item : map) {
                            if (!item.second) {
                                ++empty_from_iteration;
                            }
                        }
                    }
#endif
                }));
                if (i + 1 < length) {
                    at->next = wr::make_ref<watched_node>();
                    at = at->next;
                }
            }
        }
        REQUIRE(set.size() == static_cast<std::size_t>(length));
        head.reset();
        CHECK(set.empty());
        CHECK(map.empty());
    });
    CHECK(deaths == length);
    CHECK(mismatches == 0);
    CHECK(erase_true == 0);
    CHECK(empty_from_iteration == 0);
}
