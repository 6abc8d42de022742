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
