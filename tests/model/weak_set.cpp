// SPDX-License-Identifier: MIT
// Model test of weak_set: seeded random scripts against a std::set and explicit liveness.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/flavour.hpp"
#include "support/removals.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

struct elem_tag {};
using obj = wrtest::counted<elem_tag>;
using set_type = wr::weak_set<obj>;
using model_type = std::set<std::size_t>; // slots of the elements

constexpr std::size_t slots = 16;
constexpr int steps = 2000;

/// A removal notice: the tag of the listener told, the element's slot, the cause.
using notice = std::tuple<int, std::size_t, wr::removal_cause>;

/// Two sets and their models, and the elements' owners. Each set may have a removal listener,
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
        sets[0].on_remove(nullptr);
        sets[1].on_remove(nullptr);
    }

    wrtest::dice roll;
    wrtest::referent_pool<obj> pool;
    set_type sets[2];
    model_type models[2];
    int tags[2] = {-1, -1};
    int next_tag = 0;
    std::vector<notice> told;     // by the listeners, this step
    std::vector<notice> expected; // by the model, this step

    void listen(std::size_t i, int tag) {
        tags[i] = tag;
        sets[i].on_remove([this, tag](const obj* e, wr::removal_cause c) {
            told.emplace_back(tag, static_cast<std::size_t>(e->value), c);
        });
    }
    /// What set i's listener is told about `slot`, if it has one.
    void expect(std::size_t i, std::size_t slot, wr::removal_cause c) {
        if (tags[i] >= 0) {
            expected.emplace_back(tags[i], slot, c);
        }
    }
    void expect_all(std::size_t i, wr::removal_cause c) {
        for (std::size_t slot : models[i]) {
            expect(i, slot, c);
        }
    }

    void purge() {
        for (std::size_t i = 0; i < 2; ++i) {
            auto& model = models[i];
            for (auto it = model.begin(); it != model.end();) {
                if (pool.alive(*it)) {
                    ++it;
                } else {
                    expect(i, *it, wr::removal_cause::died);
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
            for (const auto& [tag, slot, c] : told) {
                o << " told(" << tag << "," << slot << "," << wrtest::cause_name(c) << ")";
            }
            for (const auto& [tag, slot, c] : expected) {
                o << " want(" << tag << "," << slot << "," << wrtest::cause_name(c) << ")";
            }
            out = o.str();
        }
        told.clear();
        expected.clear();
        return out;
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

    static model_type unite(const model_type& a, const model_type& b) {
        model_type out;
        std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
        return out;
    }
    static model_type intersect(const model_type& a, const model_type& b) {
        model_type out;
        std::set_intersection(a.begin(), a.end(), b.begin(), b.end(),
                              std::inserter(out, out.end()));
        return out;
    }
    static model_type subtract(const model_type& a, const model_type& b) {
        model_type out;
        std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
        return out;
    }
    static model_type symmetric(const model_type& a, const model_type& b) {
        model_type out;
        std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(),
                                      std::inserter(out, out.end()));
        return out;
    }

    /// Set i becomes `next` by a member that removes with `erased` and adds silently.
    void expect_erased_beyond(std::size_t i, const model_type& next) {
        for (std::size_t slot : subtract(models[i], next)) {
            expect(i, slot, wr::removal_cause::erased);
        }
        models[i] = next;
    }

    /// The members of API 1.1: pop, erase_if, the set algebra, the relations, the listener.
    std::string api_step(std::size_t i, std::size_t j) {
        std::ostringstream out;
        set_type& s = sets[i];
        model_type& model = models[i];
        const std::size_t other = roll(8) == 0 ? i : j; // now and then the set itself
        const std::size_t op = roll(100);
        if (op < 12) {
            out << "pop from " << i;
            const wr::ref<obj> r = s.pop();
            if (!r) {
                out << (model.empty() ? "" : ": wrong result (empty)");
            } else {
                const auto popped = static_cast<std::size_t>(r->value);
                if (model.erase(popped) == 0 || pool.address(popped) != r.get()) {
                    out << ": wrong result (" << popped << ")";
                }
                expect(i, popped, wr::removal_cause::erased);
            }
        } else if (op < 24) {
            const auto mask = static_cast<unsigned>(roll(1U << slots));
            out << "erase_if(mask " << mask << ") from " << i;
            std::size_t offered = 0;
            const std::size_t erased = s.erase_if([&](const obj& e) {
                ++offered;
                return ((mask >> static_cast<unsigned>(e.value)) & 1U) != 0;
            });
            model_type next;
            for (std::size_t slot : model) {
                if (((mask >> slot) & 1U) == 0) {
                    next.insert(slot);
                }
            }
            if (erased != model.size() - next.size() || offered != model.size()) {
                out << ": wrong result";
            }
            expect_erased_beyond(i, next);
        } else if (op < 34) {
            out << i << " |= " << other;
            s |= sets[other];
            model = unite(model, models[other]);
        } else if (op < 44) {
            out << i << " &= " << other;
            s &= sets[other];
            expect_erased_beyond(i, intersect(model, models[other]));
        } else if (op < 54) {
            out << i << " -= " << other;
            s -= sets[other];
            expect_erased_beyond(i, subtract(model, models[other]));
        } else if (op < 62) {
            out << i << " ^= " << other;
            s ^= sets[other];
            expect_erased_beyond(i, symmetric(model, models[other]));
        } else if (op < 72) {
            const std::size_t a = roll(2);
            const std::size_t b = roll(2);
            const std::size_t kind = roll(4);
            const char* names[] = {"|", "&", "-", "^"};
            out << i << " = " << a << " " << names[kind] << " " << b;
            model_type next;
            switch (kind) {
            case 0:
                next = unite(models[a], models[b]);
                sets[i] = sets[a] | sets[b];
                break;
            case 1:
                next = intersect(models[a], models[b]);
                sets[i] = sets[a] & sets[b];
                break;
            case 2:
                next = subtract(models[a], models[b]);
                sets[i] = sets[a] - sets[b];
                break;
            default:
                next = symmetric(models[a], models[b]);
                sets[i] = sets[a] ^ sets[b];
                break;
            }
            expect_all(i, wr::removal_cause::cleared); // what it held; the result has none
            models[i] = next;
            tags[i] = -1;
        } else if (op < 84) {
            out << "relations of " << i << " and " << other;
            const model_type& a = model;
            const model_type& b = models[other];
            const bool subset = std::includes(b.begin(), b.end(), a.begin(), a.end());
            const bool superset = std::includes(a.begin(), a.end(), b.begin(), b.end());
            const bool disjoint = intersect(a, b).empty();
            if (s.is_subset_of(sets[other]) != subset ||
                s.is_superset_of(sets[other]) != superset ||
                s.is_disjoint(sets[other]) != disjoint || (s == sets[other]) != (a == b) ||
                (s != sets[other]) != (a != b)) {
                out << ": wrong result";
            }
        } else if (op < 92) {
            out << "listen to " << i;
            listen(i, next_tag++);
        } else {
            out << "stop listening to " << i;
            s.on_remove(nullptr);
            tags[i] = -1;
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
                if (expected) {
                    expect(i, slot, wr::removal_cause::erased);
                }
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
            expect_all(j, wr::removal_cause::cleared);
            if (roll(2) == 0) {
                sets[j] = sets[i];
            } else {
                set_type copy(sets[i]);
                sets[j] = std::move(copy);
            }
            models[j] = models[i];
            tags[j] = tags[i];
        } else if (op < 84) {
            out << "move " << i << " to " << j;
            expect_all(j, wr::removal_cause::cleared);
            if (roll(2) == 0) {
                sets[j] = std::move(sets[i]);
            } else {
                set_type moved(std::move(sets[i]));
                sets[j] = std::move(moved);
            }
            models[j] = std::move(models[i]);
            models[i].clear();
            tags[j] = tags[i];
            tags[i] = -1;
        } else if (op < 90) {
            out << "swap";
            if (roll(2) == 0) {
                sets[0].swap(sets[1]);
            } else {
                swap(sets[0], sets[1]);
            }
            std::swap(models[0], models[1]);
            std::swap(tags[0], tags[1]);
        } else if (op < 94) {
            out << "clear " << i;
            expect_all(i, wr::removal_cause::cleared);
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
          "[weak_set][model][on_remove][algebra][hazard-5][hazard-6]") {
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
            REQUIRE(w.sets[0].empty());
            REQUIRE(w.sets[1].empty());
        }
        REQUIRE(objects.alive() == 0);
    }
}
