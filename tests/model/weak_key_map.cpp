// SPDX-License-Identifier: MIT
// Model test of weak_key_map: seeded random scripts against a std::map and explicit liveness.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"
#include "support/removals.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

struct key_tag {};
struct value_tag {};
using obj = wrtest::counted<key_tag>;
using val = wrtest::counted<value_tag>;
using map_type = wr::weak_key_map<obj, val>;
using model_type = std::map<std::size_t, int>; // slot of the key -> value

/// Values are equal by their value (weak_key_map's == uses V's ==).
bool operator==(const val& a, const val& b) noexcept { return a.value == b.value; }

constexpr std::size_t slots = 12;
constexpr int steps = 2000;

/// A removal notice: the tag of the listener told, the key's slot, the value handed over, the
/// cause.
using notice = std::tuple<int, std::size_t, int, wr::removal_cause>;

/// Two maps and their models, and the keys' owners. Each map may have a removal listener, known
/// by its tag (-1: none); the model predicts every notice, and the value it carries.
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
        maps[i].on_remove([this, tag](const obj* k, val&& v, wr::removal_cause c) {
            told.emplace_back(tag, static_cast<std::size_t>(k->value), v.value, c);
        });
    }
    void expect(std::size_t i, std::size_t slot, int value, wr::removal_cause c) {
        if (tags[i] >= 0) {
            expected.emplace_back(tags[i], slot, value, c);
        }
    }
    void expect_all(std::size_t i, wr::removal_cause c) {
        for (const auto& kv : models[i]) {
            expect(i, kv.first, kv.second, c);
        }
    }

    void purge() {
        for (std::size_t i = 0; i < 2; ++i) {
            auto& model = models[i];
            for (auto it = model.begin(); it != model.end();) {
                if (pool.alive(it->first)) {
                    ++it;
                } else {
                    expect(i, it->first, it->second, wr::removal_cause::died);
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
            for (const auto& [tag, slot, v, c] : told) {
                o << " told(" << tag << "," << slot << "," << v << "," << wrtest::cause_name(c)
                  << ")";
            }
            for (const auto& [tag, slot, v, c] : expected) {
                o << " want(" << tag << "," << slot << "," << v << "," << wrtest::cause_name(c)
                  << ")";
            }
            out = o.str();
        }
        told.clear();
        expected.clear();
        return out;
    }

    /// The members of API 1.1: try_emplace, update, visit, take, get_or_insert, values,
    /// erase_if, ==, the listener.
    std::string api_step(std::size_t i, std::size_t j) {
        std::ostringstream out;
        map_type& m = maps[i];
        model_type& model = models[i];
        const std::size_t slot = roll(slots);
        const int v = static_cast<int>(roll(1000));
        const bool raw = roll(2) == 0; // the const K* overload, where there is one
        const std::size_t op = roll(100);
        if (op < 12) {
            out << "try_emplace(" << slot << ", " << v << ") into " << i;
            const wr::ref<obj> key = pool.strong(slot);
            const bool expected = model.count(slot) == 0;
            if (m.try_emplace(key, v) != expected) {
                out << ": wrong result";
            }
            if (expected) {
                model[slot] = v;
            }
        } else if (op < 24) {
            out << "update(" << slot << ", +" << v << ") in " << i;
            if (pool.alive(slot)) {
                const auto it = model.find(slot);
                const auto add = [v](val& x) { x.value += v; };
                const bool got =
                    raw ? m.update(pool.address(slot), add) : m.update(pool.strong(slot), add);
                if (got != (it != model.end())) {
                    out << ": wrong result";
                }
                if (it != model.end()) {
                    it->second += v;
                }
            }
        } else if (op < 34) {
            out << "visit(" << slot << ") in " << i;
            if (pool.alive(slot)) {
                const auto it = model.find(slot);
                const auto read = [](const val& x) { return x.value; };
                const std::optional<int> got =
                    raw ? m.visit(pool.address(slot), read) : m.visit(pool.strong(slot), read);
                if (got != (it != model.end() ? std::optional<int>(it->second) : std::nullopt)) {
                    out << ": wrong result";
                }
            }
        } else if (op < 46) {
            out << "take(" << slot << ") from " << i;
            if (pool.alive(slot)) {
                const auto it = model.find(slot);
                const std::optional<val> got =
                    raw ? m.take(pool.address(slot)) : m.take(pool.strong(slot));
                if (got.has_value() != (it != model.end()) || (got && got->value != it->second)) {
                    out << ": wrong result";
                }
                if (it != model.end()) {
                    // The listener gets the moved-from value; a counted keeps its value.
                    expect(i, slot, it->second, wr::removal_cause::erased);
                    model.erase(it);
                }
            }
        } else if (op < 58) {
            out << "get_or_insert(" << slot << ", " << v << ") into " << i;
            const wr::ref<obj> key = pool.strong(slot);
            const auto it = model.find(slot);
            int made = 0;
            const val got = m.get_or_insert(key, [&] {
                ++made;
                return val(v);
            });
            const int want = it != model.end() ? it->second : v;
            if (got.value != want || made != (it != model.end() ? 0 : 1)) {
                out << ": wrong result";
            }
            model[slot] = want;
        } else if (op < 66) {
            out << "values of " << i;
            std::vector<int> got;
            for (const val& x : m.values()) {
                got.push_back(x.value);
            }
            std::vector<int> want;
            for (const auto& kv : model) {
                want.push_back(kv.second);
            }
            if (wrtest::sorted(got) != wrtest::sorted(want)) {
                out << ": wrong result";
            }
        } else if (op < 78) {
            const int modulus = static_cast<int>(roll(4)) + 2;
            out << "erase_if(value % " << modulus << " == 0) from " << i;
            std::size_t offered = 0;
            bool keys_match = true;
            const std::size_t erased = m.erase_if([&](const obj& k, const val& x) {
                ++offered;
                const auto it = model.find(static_cast<std::size_t>(k.value));
                keys_match = keys_match && it != model.end() && it->second == x.value &&
                             pool.address(it->first) == &k;
                return x.value % modulus == 0;
            });
            std::size_t want = 0;
            const std::size_t before = model.size();
            for (auto it = model.begin(); it != model.end();) {
                if (it->second % modulus == 0) {
                    expect(i, it->first, it->second, wr::removal_cause::erased);
                    it = model.erase(it);
                    ++want;
                } else {
                    ++it;
                }
            }
            if (erased != want || offered != before || !keys_match) {
                out << ": wrong result";
            }
        } else if (op < 86) {
            const std::size_t other = roll(8) == 0 ? i : j;
            out << i << " == " << other;
            if ((m == maps[other]) != (model == models[other]) ||
                (m != maps[other]) != (model != models[other])) {
                out << ": wrong result";
            }
        } else if (op < 93) {
            out << "listen to " << i;
            listen(i, next_tag++);
        } else {
            out << "stop listening to " << i;
            m.on_remove(nullptr);
            tags[i] = -1;
        }
        return out.str();
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
        if (roll(3) == 0) {
            out << api_step(i, j);
            purge();
            return out.str();
        }
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
            if (!expected) {
                expect(i, slot, model[slot], wr::removal_cause::replaced); // the old value
            }
            if (m.insert_or_assign(key, val(v)) != expected) {
                out << ": wrong result";
            }
            model[slot] = v;
        } else if (op < 45) {
            out << "erase(" << slot << ") from " << i;
            if (pool.alive(slot)) {
                const auto it = model.find(slot);
                if (it != model.end()) {
                    expect(i, slot, it->second, wr::removal_cause::erased);
                }
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
            expect_all(j, wr::removal_cause::cleared);
            if (roll(2) == 0) {
                maps[j] = maps[i];
            } else {
                map_type copy(maps[i]);
                maps[j] = std::move(copy);
            }
            models[j] = models[i];
            tags[j] = tags[i];
        } else if (op < 84) {
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
        } else if (op < 90) {
            out << "swap";
            if (roll(2) == 0) {
                maps[0].swap(maps[1]);
            } else {
                swap(maps[0], maps[1]);
            }
            std::swap(models[0], models[1]);
            std::swap(tags[0], tags[1]);
        } else if (op < 94) {
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

TEST_CASE(WEAKREF_FLAVOUR "model: weak_key_map agrees with a std::map under random scripts",
          "[weak_key_map][model][on_remove][hazard-4][hazard-5][hazard-6]") {
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
                REQUIRE(w.check_notices() == "");
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
