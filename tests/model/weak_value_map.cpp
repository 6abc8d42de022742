// SPDX-License-Identifier: MIT
// Model test of weak_value_map: seeded random scripts against a std::map and explicit liveness.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"
#include "support/removals.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
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

/// A removal notice: the tag of the listener told, the key, the cause.
using notice = std::tuple<int, int, wr::removal_cause>;

/// Two maps and their models, and the objects' owners. Each map may have a removal listener,
/// known by its tag (-1: none); the model predicts every notice.
struct world {
    explicit world(std::uint32_t seed) : roll(seed), pool(slots) {
        for (std::size_t i = 0; i < slots; ++i) {
            pool.spawn(i);
        }
        listen(0, next_tag++);
        listen(1, next_tag++);
    }
    world(const world&) = delete;
    world& operator=(const world&) = delete;
    ~world() {
        maps[0].on_remove(nullptr);
        maps[1].on_remove(nullptr);
    }

    wrtest::dice roll;
    wrtest::referent_pool<obj> pool;
    map_type maps[2];
    model_type models[2];
    int tags[2] = {-1, -1};
    int next_tag = 0;
    std::vector<notice> told;     // by the listeners, this step
    std::vector<notice> expected; // by the model, this step

    void listen(std::size_t i, int tag) {
        tags[i] = tag;
        maps[i].on_remove(
            [this, tag](const int& key, wr::removal_cause c) { told.emplace_back(tag, key, c); });
    }
    void expect(std::size_t i, int key, wr::removal_cause c) {
        if (tags[i] >= 0) {
            expected.emplace_back(tags[i], key, c);
        }
    }
    void expect_all(std::size_t i, wr::removal_cause c) {
        for (const auto& kv : models[i]) {
            expect(i, kv.first, c);
        }
    }

    /// The model's deaths: entries whose value died by the bookkeeping leave the model.
    void purge() {
        for (std::size_t i = 0; i < 2; ++i) {
            auto& model = models[i];
            for (auto it = model.begin(); it != model.end();) {
                if (pool.alive(it->second)) {
                    ++it;
                } else {
                    expect(i, it->first, wr::removal_cause::died);
                    it = model.erase(it);
                }
            }
        }
    }

    /// This step's notices against the model's; empty if they agree.
    std::string check_notices() {
        std::sort(told.begin(), told.end());
        std::sort(expected.begin(), expected.end());
        std::string out;
        if (told != expected) {
            std::ostringstream o;
            o << "notices: " << told.size() << " told, " << expected.size() << " expected:";
            for (const auto& [tag, key, c] : told) {
                o << " told(" << tag << "," << key << "," << wrtest::cause_name(c) << ")";
            }
            for (const auto& [tag, key, c] : expected) {
                o << " want(" << tag << "," << key << "," << wrtest::cause_name(c) << ")";
            }
            out = o.str();
        }
        told.clear();
        expected.clear();
        return out;
    }

    /// The members of API 1.1: take, erase_if, get_or_emplace, value_refs, ==, the listener.
    std::string api_step(std::size_t i, std::size_t j) {
        std::ostringstream out;
        map_type& m = maps[i];
        model_type& model = models[i];
        const int k = static_cast<int>(roll(keys));
        const std::size_t op = roll(100);
        if (op < 20) {
            out << "take(" << k << ") from " << i;
            const auto it = model.find(k);
            const obj* want = it != model.end() ? pool.address(it->second) : nullptr;
            const wr::ref<obj> got = m.take(k);
            if (got.get() != want) {
                out << ": wrong result";
            }
            if (it != model.end()) {
                expect(i, k, wr::removal_cause::erased);
                model.erase(it);
            }
        } else if (op < 38) {
            const auto mask = static_cast<unsigned>(roll(1U << keys));
            const std::size_t slot_cut = roll(slots + 1);
            out << "erase_if(key mask " << mask << ", slot < " << slot_cut << ") from " << i;
            std::size_t offered = 0;
            bool values_match = true;
            const std::size_t erased = m.erase_if([&](const int& key, const obj& v) {
                ++offered;
                const auto it = model.find(key);
                values_match = values_match && it != model.end() && pool.address(it->second) == &v;
                return ((mask >> static_cast<unsigned>(key)) & 1U) != 0 &&
                       static_cast<std::size_t>(v.value) < slot_cut;
            });
            std::size_t want = 0;
            for (auto it = model.begin(); it != model.end();) {
                if (((mask >> static_cast<unsigned>(it->first)) & 1U) != 0 &&
                    it->second < slot_cut) {
                    expect(i, it->first, wr::removal_cause::erased);
                    it = model.erase(it);
                    ++want;
                } else {
                    ++it;
                }
            }
            if (erased != want || offered != model.size() + want || !values_match) {
                out << ": wrong result";
            }
        } else if (op < 52) {
            out << "get_or_emplace(" << k << ") into " << i;
            const auto it = model.find(k);
            const long made_before = obj::counts().constructed.load();
            const wr::ref<obj> got = m.get_or_emplace(k, -1); // not a slot's object
            const long made = obj::counts().constructed.load() - made_before;
            if (it != model.end()) {
                if (got.get() != pool.address(it->second) || made != 0) {
                    out << ": wrong result (present)";
                }
            } else if (!got || got->value != -1 || made != 1 || m.get(k) != got) {
                out << ": wrong result (absent)";
            } else {
                expect(i, k, wr::removal_cause::died); // nobody else holds it: it dies now
            }
        } else if (op < 66) {
            out << "value_refs of " << i;
            std::vector<const void*> got;
            for (const auto& w : m.value_refs()) {
                got.push_back(w.lock().get());
            }
            std::vector<const void*> want;
            for (const auto& kv : model) {
                want.push_back(pool.address(kv.second));
            }
            if (wrtest::sorted(got) != wrtest::sorted(want)) {
                out << ": wrong result";
            }
        } else if (op < 80) {
            const std::size_t other = roll(8) == 0 ? i : j;
            out << i << " == " << other;
            if ((m == maps[other]) != (model == models[other]) ||
                (m != maps[other]) != (model != models[other])) {
                out << ": wrong result";
            }
        } else if (op < 90) {
            out << "listen to " << i;
            listen(i, next_tag++);
        } else {
            out << "stop listening to " << i;
            m.on_remove(nullptr);
            tags[i] = -1;
        }
        return out.str();
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
        if (roll(3) == 0) {
            out << api_step(i, j);
            purge();
            return out.str();
        }
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
            const wr::ref<obj> v = pool.strong(slot);
            if (!expected && model[k] != slot) {
                expect(i, k, wr::removal_cause::replaced); // another value: replaced
            }
            if (m.insert_or_assign(k, v) != expected) {
                out << ": wrong result";
            }
            model[k] = slot;
        } else if (op < 45) {
            out << "erase(" << k << ") from " << i;
            const bool expected = model.erase(k) != 0;
            if (expected) {
                expect(i, k, wr::removal_cause::erased);
            }
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
            expect_all(j, wr::removal_cause::cleared);
            if (roll(2) == 0) {
                maps[j] = maps[i];
            } else {
                map_type copy(maps[i]);
                maps[j] = std::move(copy);
            }
            models[j] = models[i];
            tags[j] = tags[i];
        } else if (op < 88) {
            out << "move " << i << " to " << j;
            expect_all(j, wr::removal_cause::cleared);
            if (roll(2) == 0) {
                maps[j] = std::move(maps[i]);
            } else {
                map_type moved(std::move(maps[i]));
                maps[j] = std::move(moved);
            }
            models[j] = std::move(models[i]);
            models[i].clear();
            tags[j] = tags[i];
            tags[i] = -1;
        } else if (op < 93) {
            out << "swap";
            if (roll(2) == 0) {
                maps[0].swap(maps[1]);
            } else {
                swap(maps[0], maps[1]);
            }
            std::swap(models[0], models[1]);
            std::swap(tags[0], tags[1]);
        } else if (op < 96) {
            out << "clear " << i;
            expect_all(i, wr::removal_cause::cleared);
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
          "[weak_value_map][model][on_remove][hazard-1][hazard-5][hazard-6]") {
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
                REQUIRE(w.check_notices() == "");
            }
            w.pool.clear();
            REQUIRE(w.maps[0].empty());
            REQUIRE(w.maps[1].empty());
        }
        REQUIRE(objects.alive() == 0);
    }
}
