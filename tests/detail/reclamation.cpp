// SPDX-License-Identifier: MIT
// detail/reclamation.hpp, the retire ring alone: pushes (sealed, unsealed, with or without
// room), seals up to a point, and take_ripe's runs, checked step by step against a plain model
// (a deque of items in push order) over random sequences.
#include "support/catch.hpp"

#include <weakref/detail/reclamation.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace {
namespace d = weakref::detail;

// The item's `p` is its number in push order; settle and free record the numbers they saw.
// Even numbers settle in full (nothing left to free), odd ones leave a free; a number that is
// a multiple of 3 has no settle at all.
std::vector<std::uintptr_t> settled;
std::vector<std::uintptr_t> freed;

std::uintptr_t number(void* p) { return reinterpret_cast<std::uintptr_t>(p); }
void* item_p(std::uintptr_t n) { return reinterpret_cast<void*>(n); }
void record_free(void* p) noexcept { freed.push_back(number(p)); }
bool record_settle(void* p) noexcept {
    settled.push_back(number(p));
    return number(p) % 2 == 1;
}
bool (*settle_of(std::uintptr_t n))(void*) noexcept {
    return n % 3 == 0 ? nullptr : &record_settle;
}
bool leaves_free(std::uintptr_t n) { return n % 3 == 0 || n % 2 == 1; }

struct model_item {
    std::uintptr_t n;
    std::uint64_t epoch; // 0: unsealed
};

} // namespace

TEST_CASE("reclamation: the retire ring matches a model over random pushes, seals and takes",
          "[detail][reclamation]") {
    std::mt19937_64 rng(20261204);
    std::size_t takes_that_stopped_at_a_free = 0;
    std::size_t takes_that_stopped_at_most = 0;
    std::size_t pushes_refused_for_room = 0;
    for (int round = 0; round < 200; ++round) {
        d::retired_ring ring;
        std::deque<model_item> model;
        std::uintptr_t next = 1;
        std::uint64_t epoch = 1;
        for (int step = 0; step < 400; ++step) {
            const auto op = rng() % 10;
            if (op < 4) {
                // An unsealed push: with room only (as retire_batched's fast path), or growing.
                const std::uintptr_t n = next;
                bool pushed = false;
                if (rng() % 2 == 0) {
                    pushed = ring.try_push_unsealed(item_p(n), &record_free, settle_of(n));
                    if (!pushed) {
                        ++pushes_refused_for_room;
                    }
                } else {
                    pushed = ring.push_unsealed(
                        d::retired_item{item_p(n), &record_free, 0, settle_of(n)});
                    REQUIRE(pushed);
                }
                if (pushed) {
                    model.push_back({n, 0});
                    ++next;
                }
            } else if (op < 5) {
                // A sealed push: the unsealed ones are sealed first, as retire_sealed does.
                ring.seal(epoch);
                for (auto& m : model) {
                    m.epoch = m.epoch == 0 ? epoch : m.epoch;
                }
                REQUIRE(
                    ring.push(d::retired_item{item_p(next), &record_free, epoch, settle_of(next)}));
                model.push_back({next, epoch});
                ++next;
            } else if (op < 6) {
                // A seal of the items pushed before a point (a flush's), or of all of them.
                const std::uint64_t pushed_now = ring.pushed();
                const std::uint64_t upto =
                    rng() % 2 == 0 ? UINT64_MAX : pushed_now - rng() % (model.size() + 1);
                ring.seal(epoch, upto);
                // The model's numbers are push counts: item n is the n-th pushed.
                for (auto& m : model) {
                    if (m.epoch == 0 && m.n <= upto) {
                        m.epoch = epoch;
                    }
                }
            } else if (op < 7) {
                ++epoch;
            } else {
                // take_ripe at an epoch, at most `most` items.
                const std::uint64_t e = epoch + rng() % 3;
                const std::size_t most = 1 + rng() % 8;
                settled.clear();
                d::retired_item item{};
                const bool took = ring.take_ripe(e, most, item);
                // What the model takes: ripe sealed items from the front, up to `most`, up to
                // and including the first that leaves a free.
                std::vector<std::uintptr_t> expect_settled;
                std::uintptr_t expect_free = 0;
                std::size_t taken = 0;
                while (taken != most && !model.empty() && model.front().epoch != 0 &&
                       model.front().epoch + 2 <= e) {
                    const std::uintptr_t n = model.front().n;
                    model.pop_front();
                    ++taken;
                    if (n % 3 != 0) {
                        expect_settled.push_back(n);
                    }
                    if (leaves_free(n)) {
                        expect_free = n;
                        break;
                    }
                }
                takes_that_stopped_at_a_free += expect_free != 0 ? 1 : 0;
                takes_that_stopped_at_most += expect_free == 0 && taken == most ? 1 : 0;
                REQUIRE(took == (taken != 0));
                REQUIRE(settled == expect_settled);
                if (expect_free != 0) {
                    REQUIRE(item.free == &record_free);
                    REQUIRE(number(item.p) == expect_free);
                } else {
                    REQUIRE(item.free == nullptr);
                }
            }
            REQUIRE(ring.size() == model.size());
            std::size_t unsealed = 0;
            for (const auto& m : model) {
                unsealed += m.epoch == 0 ? 1 : 0;
            }
            REQUIRE(ring.unsealed() == unsealed);
            if (!model.empty()) {
                REQUIRE(number(ring.front().p) == model.front().n);
                REQUIRE(ring.front().epoch == model.front().epoch);
            }
        }
    }
    // The sequences reached each way a run ends, and the full ring's refusal.
    CHECK(takes_that_stopped_at_a_free > 100);
    CHECK(takes_that_stopped_at_most > 100);
    CHECK(pushes_refused_for_room > 10);
}
