// SPDX-License-Identifier: MIT
// What weak_anchor allocates, counted by replacing operator new/delete for this program: nothing
// until the first observe(), one block per generation however many observers, freed by the last
// of the anchor and its observers; lock() and pins never allocate. Both flavours.
//
// A program of its own (not part of weakref_tests_sync): replacing operator new is global.
#include "support/catch.hpp"
#include "support/exceptions.hpp"

#include <weakref/weak_anchor.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

// --- Counting every operator new and delete ----------------------------------------------------

namespace {

std::atomic<long> news{0};
std::atomic<long> deletes{0};
std::atomic<long> bytes_newed{0};

/// The memory, counted, or null.
void* counted_malloc(std::size_t n) noexcept {
    void* p = std::malloc(n != 0 ? n : 1);
    if (p != nullptr) {
        news.fetch_add(1, std::memory_order_relaxed);
        bytes_newed.fetch_add(static_cast<long>(n), std::memory_order_relaxed);
    }
    return p;
}

void counted_delete(void* p) noexcept {
    if (p != nullptr) {
        deletes.fetch_add(1, std::memory_order_relaxed);
        std::free(p);
    }
}

} // namespace

#include "support/replaced_new.hpp"

namespace {

/// Allocations since construction: made, freed, still held, bytes asked for.
class alloc_window {
public:
    alloc_window() noexcept
        : news_(news.load()), deletes_(deletes.load()), bytes_(bytes_newed.load()) {}
    [[nodiscard]] long made() const noexcept { return news.load() - news_; }
    [[nodiscard]] long freed() const noexcept { return deletes.load() - deletes_; }
    [[nodiscard]] long held() const noexcept { return made() - freed(); }
    [[nodiscard]] long bytes() const noexcept { return bytes_newed.load() - bytes_; }

private:
    long news_;
    long deletes_;
    long bytes_;
};

struct sync_flavour {
    template <class T> using anchor = weakref::weak_anchor<T>;
    template <class T> using observer = weakref::observer<T>;
};
struct local_flavour {
    template <class T> using anchor = weakref::local::weak_anchor<T>;
    template <class T> using observer = weakref::local::observer<T>;
};

template <class Flavour> struct widget {
    std::string title = "a title long enough to live on the heap, made before counting";
    typename Flavour::template anchor<widget> anchor{this};
};

} // namespace

namespace {
template <class Flavour> struct plain {
    int value = 0;
    typename Flavour::template anchor<plain> anchor{this};
};
} // namespace

TEMPLATE_TEST_CASE("weak_anchor allocations: an anchor never observed allocates nothing",
                   "[weak_anchor][allocations]", sync_flavour, local_flavour) {
    const alloc_window window;
    bool expired = false;
    {
        plain<TestType> local_object;
        auto owned = std::make_unique<plain<TestType>>(); // the object's own allocation
        owned->anchor.invalidate();
        typename TestType::template observer<plain<TestType>> none;
        expired = none.expired() && !none.lock();
        local_object.anchor.invalidate();
    }
    const long made = window.made();
    const long freed = window.freed();
    CHECK(expired);
    CHECK(made == 1);
    CHECK(freed == 1);
}

TEMPLATE_TEST_CASE("weak_anchor allocations: one block per generation, however many observers",
                   "[weak_anchor][allocations]", sync_flavour, local_flavour) {
    widget<TestType> w;
    std::vector<typename TestType::template observer<widget<TestType>>> observers;
    observers.reserve(300);
    const alloc_window window;
    for (int i = 0; i < 100; ++i) {
        observers.push_back(w.anchor.observe());
    }
    for (int i = 0; i < 100; ++i) {
        observers.push_back(observers[static_cast<std::size_t>(i)]); // copies
    }
    const long first_generation = window.made();
    const long first_bytes = window.bytes();
    w.anchor.invalidate();
    for (int i = 0; i < 100; ++i) {
        observers.push_back(w.anchor.observe());
    }
    const long second_generation = window.made() - first_generation;
    const long held_with_observers = window.held();
    observers.clear();
    const long held_after_observers = window.held(); // the anchor keeps the current block
    w.anchor.invalidate();
    const long held_after_invalidate = window.held();

    CHECK(first_generation == 1);
    CHECK(first_bytes == static_cast<long>(3 * sizeof(void*)));
    CHECK(second_generation == 1);
    CHECK(held_with_observers == 2); // the expired generation lives on in its observers
    CHECK(held_after_observers == 1);
    CHECK(held_after_invalidate == 0);
}

TEMPLATE_TEST_CASE("weak_anchor allocations: the last of the anchor and its observers frees the "
                   "block",
                   "[weak_anchor][allocations]", sync_flavour, local_flavour) {
    const alloc_window window;
    auto owner = std::make_unique<widget<TestType>>();
    const long widget_allocations = window.made();
    typename TestType::template observer<widget<TestType>> o = owner->anchor.observe();
    typename TestType::template observer<widget<TestType>> copy = o;
    owner.reset();
    const long held_after_anchor = window.held(); // the observers keep the block
    o.reset();
    const long held_after_one = window.held();
    copy.reset();
    const long held_after_all = window.held();

    CHECK(held_after_anchor == 1);
    CHECK(held_after_one == 1);
    CHECK(held_after_all == 0);
    CHECK(window.made() == widget_allocations + 1);
}

TEMPLATE_TEST_CASE("weak_anchor allocations: lock() and pins never allocate",
                   "[weak_anchor][allocations]", sync_flavour, local_flavour) {
    widget<TestType> w;
    auto o = w.anchor.observe();
    const alloc_window window;
    long locked = 0;
    for (int i = 0; i < 1000; ++i) {
        auto pin = o.lock();
        auto moved = std::move(pin);
        locked += moved ? 1 : 0;
    }
    const bool expired_after = [&] {
        w.anchor.invalidate(); // keeps the block: o still holds it
        return o.expired() && !o.lock();
    }();
    const long made = window.made();
    const long freed = window.freed();
    CHECK(locked == 1000);
    CHECK(expired_after);
    CHECK(made == 0);
    CHECK(freed == 0);
}

TEST_CASE("weak_anchor allocations: concurrent first observe() calls keep one block",
          "[weak_anchor][allocations][threads]") {
    constexpr int threads = 4;
    for (int round = 0; round < 50; ++round) {
        widget<sync_flavour> w;
        std::vector<weakref::observer<widget<sync_flavour>>> made(threads);
        std::vector<std::thread> running;
        running.reserve(threads);
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        const alloc_window window;
        for (int i = 0; i < threads; ++i) {
            running.emplace_back([&, i] {
                ++ready;
                while (!go.load()) {
                    std::this_thread::yield();
                }
                made[static_cast<std::size_t>(i)] = w.anchor.observe();
            });
        }
        while (ready.load() != threads) {
            std::this_thread::yield();
        }
        go.store(true);
        for (auto& t : running) {
            t.join();
        }
        // Every block that lost the race to publish was freed; one is held.
        const long held = window.held();
        made.clear();
        w.anchor.invalidate();
        const long held_at_end = window.held();
        REQUIRE(held == 1);
        REQUIRE(held_at_end == 0);
    }
}
