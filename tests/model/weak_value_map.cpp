// SPDX-License-Identifier: MIT
// Model test of weak_value_map: seeded random scripts against a std::map and explicit liveness.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

struct model_tag {};
using obj = wrtest::counted<model_tag>;
using map_type = wr::weak_value_map<int, obj>;
using model_type = std::map<int, std::size_t>; // key -> slot of the value

constexpr int keys = 12;
constexpr std::size_t slots = 10;
constexpr int steps = 2000;

/// Two maps and their models, and the objects' owners.
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

    /// The model's deaths: entries whose value died by the bookkeeping leave the model.
    void purge() {
        for (auto& model : models) {
            for (auto it = model.begin(); it != model.end();) {
                it = pool.alive(it->second) ? std::next(it) : model.erase(it);
            }
        }
    }

    /// Every observer of map i against model i; empty if they agree.
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
        for (int k = 0; k < keys; ++k) {
            const auto it = model.find(k);
            const bool expected = it != model.end();
            if (m.contains(k) != expected) {
                out << "map " << i << ": contains(" << k << ") is " << !expected << "; ";
            }
            const wr::ref<obj> got = m.get(k);
            const obj* want = expected ? pool.address(it->second) : nullptr;
            if (got.get() != want) {
                out << "map " << i << ": get(" << k << ") is another object; ";
            } else if (got && got->value != static_cast<int>(it->second)) {
                out << "map " << i << ": get(" << k << ") has a wrong value; ";
            }
        }
        std::vector<int> model_keys;
        std::vector<std::pair<int, const void*>> model_items;
        std::vector<const void*> model_values;
        for (const auto& kv : model) {
            model_keys.push_back(kv.first);
            model_items.emplace_back(kv.first, pool.address(kv.second));
            model_values.push_back(pool.address(kv.second));
        }
        if (wrtest::sorted(m.keys()) != model_keys) {
            out << "map " << i << ": keys() differ; ";
        }
        std::vector<std::pair<int, const void*>> items;
        for (const auto& kv : m.items()) {
            items.emplace_back(kv.first, kv.second.get());
        }
        if (wrtest::sorted(items) != model_items) {
            out << "map " << i << ": items() differ; ";
        }
        if (wrtest::identities(m.values()) != wrtest::sorted(model_values)) {
            out << "map " << i << ": values() differ; ";
        }
        return out.str();
    }

    /// One random step; returns what it did, and a mismatch of a return value, if any.
    std::string step() {
        std::ostringstream out;
        const std::size_t i = roll(2);
        const std::size_t j = 1 - i;
        const int k = static_cast<int>(roll(keys));
        const std::size_t slot = roll(slots);
        map_type& m = maps[i];
        model_type& model = models[i];
        const std::size_t op = roll(100);
        if (op < 20) {
            out << "insert(" << k << ", " << slot << ") into " << i;
            const bool expected = model.count(k) == 0;
            if (m.insert(k, pool.strong(slot)) != expected) {
                out << ": wrong result";
            }
            if (expected) {
                model[k] = slot;
            }
        } else if (op < 35) {
            out << "insert_or_assign(" << k << ", " << slot << ") into " << i;
            const bool expected = model.count(k) == 0;
            if (m.insert_or_assign(k, pool.strong(slot)) != expected) {
                out << ": wrong result";
            }
            model[k] = slot;
        } else if (op < 45) {
            out << "erase(" << k << ") from " << i;
            const bool expected = model.erase(k) != 0;
            if (m.erase(k) != expected) {
                out << ": wrong result";
            }
        } else if (op < 60) {
            out << "drop the owner of " << slot;
            pool.drop(slot);
        } else if (op < 68) {
            out << "get_or_insert(" << k << ", " << slot << ") into " << i;
            const auto it = model.find(k);
            const obj* want = it != model.end() ? pool.address(it->second) : nullptr;
            int made = 0;
            const wr::ref<obj> got = m.get_or_insert(k, [&] {
                ++made;
                return pool.strong(slot);
            });
            if (want == nullptr) {
                want = pool.address(slot);
                model[k] = slot;
            }
            if (got.get() != want || made != (it == model.end() ? 1 : 0)) {
                out << ": wrong result";
            }
        } else if (op < 73) {
            out << "hold the values of " << i;
            pool.hold(m.values());
        } else if (op < 78) {
            out << "release the snapshot";
            pool.release();
        } else if (op < 83) {
            out << "copy " << i << " to " << j;
            if (roll(2) == 0) {
                maps[j] = maps[i];
            } else {
                map_type copy(maps[i]);
                maps[j] = std::move(copy);
            }
            models[j] = models[i];
        } else if (op < 88) {
            out << "move " << i << " to " << j;
            if (roll(2) == 0) {
                maps[j] = std::move(maps[i]);
            } else {
                map_type moved(std::move(maps[i]));
                maps[j] = std::move(moved);
            }
            models[j] = std::move(models[i]);
            models[i].clear();
        } else if (op < 93) {
            out << "swap";
            if (roll(2) == 0) {
                maps[0].swap(maps[1]);
            } else {
                swap(maps[0], maps[1]);
            }
            std::swap(models[0], models[1]);
        } else if (op < 96) {
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

TEST_CASE(WEAKREF_FLAVOUR "model: weak_value_map agrees with a std::map under random scripts",
          "[weak_value_map][model][hazard-1][hazard-5][hazard-6]") {
    wrtest::count_scope<obj> objects;
    for (std::uint32_t seed : {1U, 2U, 3U, 7U, 42U, 1234U, 99991U, 2718281U}) {
        INFO("seed " << seed);
        {
            world w(seed);
            for (int n = 0; n < steps; ++n) {
                const std::string did = w.step();
                INFO("step " << n << ": " << did);
                REQUIRE(did.find("wrong") == std::string::npos);
                REQUIRE(w.compare(0) + w.compare(1) == "");
            }
            w.pool.clear();
            REQUIRE(w.maps[0].empty());
            REQUIRE(w.maps[1].empty());
        }
        REQUIRE(objects.alive() == 0);
    }
}
