// SPDX-License-Identifier: MIT
// weak_interner under threads: equal values interned at once get one object; intern, contains
// and snapshots racing the deaths of canonical objects.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/threads.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using weakref::ref;

using wrtest::problems;
using wrtest::run_threads;
using wrtest::spin_barrier;

/// An interned value that counts its instances; `collide` hashes send every value to one hash.
struct word_tag {};
struct word {
    explicit word(std::string s) : text(std::move(s)) {}
    explicit word(std::string_view s) : text(s) {}
    word(const word&) = default;
    word(word&& other) noexcept : text(std::move(other.text)), count(std::move(other.count)) {}
    word& operator=(const word&) = delete;
    ~word() = default;
    std::string text;
    wrtest::counted<word_tag> count;
};
using words = wrtest::count_scope<wrtest::counted<word_tag>>;
template <bool Collide> struct word_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return Collide ? 1 : std::hash<std::string_view>()(s);
    }
    std::size_t operator()(const word& w) const noexcept { return (*this)(w.text); }
};
struct word_equal {
    using is_transparent = void;
    bool operator()(const word& a, const word& b) const noexcept { return a.text == b.text; }
    bool operator()(const word& a, std::string_view b) const noexcept { return a.text == b; }
};
template <bool Collide>
using word_interner = weakref::weak_interner<word, word_hash<Collide>, word_equal>;

/// Interns `text` the way thread `how` does: from a const value, from a moved one, or from a
/// std::string_view.
template <class Interner> ref<word> intern_as(Interner& n, int how, const std::string& text) {
    switch (how % 3) {
    case 0: {
        const word w(text);
        return n.intern(w);
    }
    case 1:
        return n.intern(word(text));
    default:
        return n.intern(std::string_view(text));
    }
}

} // namespace

TEST_CASE("threads: equal values interned at once on several threads get one object",
          "[threads][weak_interner][hazard-11]") {
    wrtest::watchdog dog("equal values interned at once");
    constexpr int threads = 4;
    constexpr int rounds = 200;
    constexpr std::size_t values = 16;
    problems bad;
    word_interner<false> n;
    spin_barrier barrier(threads + 1);
    std::array<std::array<ref<word>, values>, threads> got{};
    std::vector<std::thread> pool;
    words counts;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::mt19937 rng(77U + static_cast<unsigned>(t));
            std::array<std::size_t, values> order{};
            for (std::size_t i = 0; i < values; ++i) {
                order[i] = i;
            }
            for (int r = 0; r < rounds; ++r) {
                barrier.arrive_and_wait();
                std::shuffle(order.begin(), order.end(), rng);
                for (std::size_t i : order) {
                    const std::string text = std::to_string(r) + "-" + std::to_string(i);
                    ref<word> w = intern_as(n, t + static_cast<int>(i), text);
                    bad.expect(w && w->text == text, "intern returned another value", r);
                    got[static_cast<std::size_t>(t)][i] = std::move(w);
                }
                barrier.arrive_and_wait();
            }
        });
    }
    for (int r = 0; r < rounds; ++r) {
        dog.phase("interning");
        barrier.arrive_and_wait();
        barrier.arrive_and_wait();
        dog.phase("checking");
        for (std::size_t i = 0; i < values; ++i) {
            for (int t = 1; t < threads; ++t) {
                bad.expect(got[static_cast<std::size_t>(t)][i] == got[0][i],
                           "two threads got different objects for one value", r);
            }
        }
        bad.expect(n.size() == values, "the interner holds one entry per value", r);
        // Losers of a race (moved or heterogeneous callers) were destroyed before returning.
        bad.expect(counts.alive() == static_cast<long>(values), "one live object per value", r);
        for (auto& row : got) {
            for (ref<word>& w : row) {
                w.reset();
            }
        }
        bad.expect(n.empty(), "every object died with its last holder", r);
    }
    for (auto& t : pool) {
        t.join();
    }
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(counts.alive() == 0);
}

namespace {
/// Threads intern and drop a few values at random, holding some a while, so that canonical
/// objects die while others look them up. While a thread holds an object, interning its value
/// anywhere must return that object.
template <bool Collide> void churn(problems& bad) {
    constexpr int threads = 4;
    constexpr int iterations = 4000;
    constexpr int distinct = 8;
    word_interner<Collide> n;
    words counts;
    run_threads(threads, bad, [&](int t) {
        std::mt19937 rng(4242U + static_cast<unsigned>(t));
        std::array<ref<word>, distinct> held{};
        for (int i = 0; i < iterations; ++i) {
            const auto v = static_cast<std::size_t>(rng() % distinct);
            const std::string text = "w" + std::to_string(v);
            ref<word> w = intern_as(n, static_cast<int>(rng() % 3), text);
            bad.expect(w && w->text == text, "intern returned another value", i);
            if (held[v]) {
                bad.expect(w == held[v], "a held object was not the canonical one", i);
            }
            bad.expect(n.contains(std::string_view(text)), "contains missed a held value", i);
            ref<word> again = n.intern(std::string_view(text));
            bad.expect(again == w, "a second intern while holding gave another object", i);
            switch (rng() % 4) {
            case 0:
                held[v] = std::move(w); // kept a while
                break;
            case 1:
                held[v].reset(); // maybe the last holder
                break;
            case 2:
                for (const ref<word>& s : n.values()) {
                    bad.expect(s && !s->text.empty(), "a snapshot held a dead object", i);
                }
                break;
            default:
                break; // w dies here if nobody else holds it
            }
        }
    });
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(n.empty());
    CHECK(counts.alive() == 0);
}
} // namespace

TEST_CASE("threads: intern and contains racing the deaths of canonical objects",
          "[threads][weak_interner][hazard-10]") {
    wrtest::watchdog dog("intern racing deaths");
    problems bad;
    churn<false>(bad);
}

TEST_CASE("threads: intern racing deaths where every value's hash collides",
          "[threads][weak_interner][hazard-10]") {
    wrtest::watchdog dog("intern racing deaths, colliding hashes");
    problems bad;
    churn<true>(bad);
}

TEST_CASE("threads: copies of an interner taken while its objects die hold live objects only",
          "[threads][weak_interner]") {
    wrtest::watchdog dog("interner copies racing deaths");
    problems bad;
    word_interner<false> n;
    words counts;
    std::atomic<bool> stop{false};
    std::thread dropper([&] {
        std::mt19937 rng(9U);
        for (int i = 0; i < 3000; ++i) {
            ref<word> w = n.intern(std::string_view("d" + std::to_string(rng() % 32)));
            if (rng() % 2 == 0) {
                std::this_thread::yield();
            }
        }
        stop.store(true);
    });
    while (!stop.load()) {
        word_interner<false> copy(n);
        for (const ref<word>& w : copy.values()) {
            bad.expect(w && w->text[0] == 'd', "a copy held a dead or foreign object");
            bad.expect(copy.intern(std::string_view(w->text)) == w, "a copy's object changed");
        }
    }
    dropper.join();
    INFO(bad.summary());
    CHECK(bad.count() == 0);
    CHECK(n.empty());
    CHECK(counts.alive() == 0);
}
