// SPDX-License-Identifier: MIT
// Model test of weak_set: seeded random scripts against a std::set and explicit liveness.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

struct elem_tag {};
using obj = wrtest::counted<elem_tag>;
using set_type = wr::weak_set<obj>;
using model_type = std::set<std::size_t>; // slots of the elements

constexpr std::size_t slots = 16;
constexpr int steps = 2000;

/// Two sets and their models, and the elements' owners.
struct world {
    explicit world(std::uint32_t seed) : roll(seed), pool(slots) {
        for (std::size_t i = 0; i < slots; ++i) {
            pool.spawn(i);
        }
    }

    wrtest::dice roll;
    wrtest::referent_pool<obj> pool;
    set_type sets[2];
    model_type models[2];

    void purge() {
        for (auto& model : models) {
            for (auto it = model.begin(); it != model.end();) {
                it = pool.alive(*it) ? std::next(it) : model.erase(it);
            }
        }
    }

    std::string compare(std::size_t i) const {
        std::ostringstream out;
        const set_type& s = sets[i];
        const model_type& model = models[i];
        if (s.size() != model.size()) {
            out << "set " << i << ": size " << s.size() << ", model " << model.size() << "; ";
        }
        if (s.empty() != model.empty()) {
            out << "set " << i << ": empty() disagrees; ";
        }
        for (std::size_t slot = 0; slot < slots; ++slot) {
            if (pool.alive(slot) && s.contains(pool.address(slot)) != (model.count(slot) != 0)) {
                out << "set " << i << ": contains(" << slot << ") differs; ";
            }
        }
        std::vector<std::size_t> got;
        for (const auto& e : s.items()) {
            got.push_back(pool.slot_of(e.get()));
            if (e->value != static_cast<int>(got.back())) {
                out << "set " << i << ": an element with a wrong value; ";
            }
        }
        if (wrtest::sorted(got) != std::vector<std::size_t>(model.begin(), model.end())) {
            out << "set " << i << ": items() differ; ";
        }
        return out.str();
    }

    std::string step() {
        std::ostringstream out;
        const std::size_t i = roll(2);
        const std::size_t j = 1 - i;
        const std::size_t slot = roll(slots);
        set_type& s = sets[i];
        model_type& model = models[i];
        const std::size_t op = roll(100);
        if (op < 30) {
            out << "insert(" << slot << ") into " << i;
            const wr::ref<obj> e = pool.strong(slot);
            purge();
            const bool expected = model.insert(slot).second;
            if (s.insert(e) != expected) {
                out << ": wrong result";
            }
        } else if (op < 42) {
            out << "erase(" << slot << ") from " << i;
            if (pool.alive(slot)) {
                const bool expected = model.erase(slot) != 0;
                const bool got =
                    roll(2) == 0 ? s.erase(pool.strong(slot)) : s.erase(pool.address(slot));
                if (got != expected) {
                    out << ": wrong result";
                }
            }
        } else if (op < 60) {
            out << "drop the owner of " << slot;
            pool.drop(slot);
        } else if (op < 65) {
            out << "hold the elements of " << i;
            pool.hold(s.items());
        } else if (op < 70) {
            out << "release the snapshot";
            pool.release();
        } else if (op < 77) {
            out << "copy " << i << " to " << j;
            if (roll(2) == 0) {
                sets[j] = sets[i];
            } else {
                set_type copy(sets[i]);
                sets[j] = std::move(copy);
            }
            models[j] = models[i];
        } else if (op < 84) {
            out << "move " << i << " to " << j;
            if (roll(2) == 0) {
                sets[j] = std::move(sets[i]);
            } else {
                set_type moved(std::move(sets[i]));
                sets[j] = std::move(moved);
            }
            models[j] = std::move(models[i]);
            models[i].clear();
        } else if (op < 90) {
            out << "swap";
            if (roll(2) == 0) {
                sets[0].swap(sets[1]);
            } else {
                swap(sets[0], sets[1]);
            }
            std::swap(models[0], models[1]);
        } else if (op < 94) {
            out << "clear " << i;
            s.clear();
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

TEST_CASE(WEAKREF_FLAVOUR "model: weak_set agrees with a std::set under random scripts",
          "[weak_set][model][hazard-5][hazard-6]") {
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
            REQUIRE(w.sets[0].empty());
            REQUIRE(w.sets[1].empty());
        }
        REQUIRE(objects.alive() == 0);
    }
}
