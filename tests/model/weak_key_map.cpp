// SPDX-License-Identifier: MIT
// Model test of weak_key_map: seeded random scripts against a std::map and explicit liveness.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

struct key_tag {};
struct value_tag {};
using obj = wrtest::counted<key_tag>;
using val = wrtest::counted<value_tag>;
using map_type = wr::weak_key_map<obj, val>;
using model_type = std::map<std::size_t, int>; // slot of the key -> value

constexpr std::size_t slots = 12;
constexpr int steps = 2000;

/// Two maps and their models, and the keys' owners.
struct world {
    explicit world(std::uint32_t seed) : roll(seed), pool(slots) {
        for (std::size_t i = 0; i < slots; ++i) {
            pool.spawn(i);
        }
    }

    wrtest::dice roll;
    wrtest::referent_pool<obj> pool;
    map_type maps[2];
    model_type models[2];

    void purge() {
        for (auto& model : models) {
            for (auto it = model.begin(); it != model.end();) {
                it = pool.alive(it->first) ? std::next(it) : model.erase(it);
            }
        }
    }

    std::string compare(std::size_t i) const {
        std::ostringstream out;
        const map_type& m = maps[i];
        const model_type& model = models[i];
        if (m.size() != model.size()) {
            out << "map " << i << ": size " << m.size() << ", model " << model.size() << "; ";
        }
        if (m.empty() != model.empty()) {
            out << "map " << i << ": empty() disagrees; ";
        }
        for (std::size_t slot = 0; slot < slots; ++slot) {
            if (!pool.alive(slot)) {
                continue; // a dead key's address says nothing
            }
            const auto it = model.find(slot);
            const bool expected = it != model.end();
            const obj* key = pool.address(slot);
            if (m.contains(key) != expected) {
                out << "map " << i << ": contains(" << slot << ") is " << !expected << "; ";
            }
            const std::optional<val> got = m.get(key);
            if (got.has_value() != expected || (expected && got->value != it->second)) {
                out << "map " << i << ": get(" << slot << ") differs; ";
            }
        }
        std::vector<std::size_t> model_keys;
        std::vector<std::pair<std::size_t, int>> model_items;
        for (const auto& kv : model) {
            model_keys.push_back(kv.first);
            model_items.emplace_back(kv.first, kv.second);
        }
        std::vector<std::size_t> got_keys;
        for (const auto& k : m.keys()) {
            got_keys.push_back(pool.slot_of(k.get()));
        }
        if (wrtest::sorted(got_keys) != model_keys) {
            out << "map " << i << ": keys() differ; ";
        }
        std::vector<std::pair<std::size_t, int>> items;
        for (const auto& kv : m.items()) {
            items.emplace_back(pool.slot_of(kv.first.get()), kv.second.value);
        }
        if (wrtest::sorted(items) != model_items) {
            out << "map " << i << ": items() differ; ";
        }
        return out.str();
    }

    std::string step() {
        std::ostringstream out;
        const std::size_t i = roll(2);
        const std::size_t j = 1 - i;
        const std::size_t slot = roll(slots);
        const int v = static_cast<int>(roll(1000));
        map_type& m = maps[i];
        model_type& model = models[i];
        const std::size_t op = roll(100);
        if (op < 20) {
            out << "insert(" << slot << ", " << v << ") into " << i;
            const wr::ref<obj> key = pool.strong(slot);
            purge(); // a respawned slot is a new key
            const bool expected = model.count(slot) == 0;
            const val source(v);
            const bool got = roll(2) == 0 ? m.insert(key, val(v)) : m.insert(key, source);
            if (got != expected) {
                out << ": wrong result";
            }
            if (expected) {
                model[slot] = v;
            }
        } else if (op < 35) {
            out << "insert_or_assign(" << slot << ", " << v << ") into " << i;
            const wr::ref<obj> key = pool.strong(slot);
            purge();
            const bool expected = model.count(slot) == 0;
            if (m.insert_or_assign(key, val(v)) != expected) {
                out << ": wrong result";
            }
            model[slot] = v;
        } else if (op < 45) {
            out << "erase(" << slot << ") from " << i;
            if (pool.alive(slot)) {
                const bool expected = model.erase(slot) != 0;
                const bool got =
                    roll(2) == 0 ? m.erase(pool.strong(slot)) : m.erase(pool.address(slot));
                if (got != expected) {
                    out << ": wrong result";
                }
            }
        } else if (op < 62) {
            out << "drop the owner of " << slot;
            pool.drop(slot);
        } else if (op < 67) {
            out << "hold the keys of " << i;
            pool.hold(m.keys());
        } else if (op < 72) {
            out << "release the snapshot";
            pool.release();
        } else if (op < 78) {
            out << "copy " << i << " to " << j;
            if (roll(2) == 0) {
                maps[j] = maps[i];
            } else {
                map_type copy(maps[i]);
                maps[j] = std::move(copy);
            }
            models[j] = models[i];
        } else if (op < 84) {
            out << "move " << i << " to " << j;
            if (roll(2) == 0) {
                maps[j] = std::move(maps[i]);
            } else {
                map_type moved(std::move(maps[i]));
                maps[j] = std::move(moved);
            }
            models[j] = std::move(models[i]);
            models[i].clear();
        } else if (op < 90) {
            out << "swap";
            if (roll(2) == 0) {
                maps[0].swap(maps[1]);
            } else {
                swap(maps[0], maps[1]);
            }
            std::swap(models[0], models[1]);
        } else if (op < 94) {
            out << "clear " << i;
            m.clear();
            model.clear();
        } else {
            out << "spawn " << slot;
            pool.spawn(slot);
        }
        purge();
        return out.str();
    }
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "model: weak_key_map agrees with a std::map under random scripts",
          "[weak_key_map][model][hazard-4][hazard-5][hazard-6]") {
    wrtest::count_scope<obj> objects;
    wrtest::count_scope<val> values;
    for (std::uint32_t seed : {1U, 2U, 3U, 7U, 42U, 1234U, 99991U, 2718281U}) {
        INFO("seed " << seed);
        {
            world w(seed);
            for (int n = 0; n < steps; ++n) {
                const std::string did = w.step();
                INFO("step " << n << ": " << did);
                REQUIRE(did.find("wrong") == std::string::npos);
                REQUIRE(w.compare(0) + w.compare(1) == "");
                // every V of every entry, and no other: destroyed exactly when its entry went
                REQUIRE(values.alive() ==
                        static_cast<long>(w.models[0].size() + w.models[1].size()));
            }
            w.pool.clear();
            REQUIRE(w.maps[0].empty());
            REQUIRE(w.maps[1].empty());
            REQUIRE(values.alive() == 0);
        }
        REQUIRE(objects.alive() == 0);
    }
}
