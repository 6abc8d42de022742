// SPDX-License-Identifier: MIT
// Lifetimes across threads: what a waiter may free after scoped_finalizer returns, what lock()
// orders, a weak self handed out by a constructor, and the cost of one death with many hooks.
#include "support/catch.hpp"
#include "support/exceptions.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace {

void wait_for(const std::atomic<bool>& flag) {
    while (!flag.load(std::memory_order_acquire)) {
        std::this_thread::yield();
    }
}

/// A capture whose destructor, run after the callback on the dying thread, writes through a
/// pointer to memory the waiting thread frees once ~scoped_finalizer returned.
struct slow_capture {
    explicit slow_capture(int* target) : target_(target) {}
    slow_capture(const slow_capture&) = default;
    slow_capture& operator=(const slow_capture&) = delete;
    ~slow_capture() {
        if (target_ != nullptr) {
            // Long enough that a waiter told "done" too early has returned and freed *target_.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            *target_ = 7;
        }
    }
    void operator()() const {}
    int* target_;
};

} // namespace

TEST_CASE("threads: ~scoped_finalizer returns only after the callback's captures are destroyed",
          "[threads][scoped_finalizer][hazard-17]") {
    wrtest::watchdog dog("scoped_finalizer waits for the captures");
    for (int round = 0; round < 20; ++round) {
        auto r = weakref::make_ref<int>(round);
        auto owned = std::make_unique<int>(0); // what the capture writes to
        std::atomic<bool> started{false};
        weakref::finalizer f = weakref::on_death(r, [&started, cap = slow_capture(owned.get())] {
            cap();
            started.store(true, std::memory_order_release);
        });
        // Another handle to the same registration, dropped only at the end of the round: the
        // callable must not wait for the last handle to go.
        const weakref::finalizer other = f;
        auto s = std::make_unique<weakref::scoped_finalizer>(std::move(f));
        std::thread killer([&] { r.reset(); });
        wait_for(started);
        s.reset(); // waits for the callback and its captures
        // The capture has written its last; freeing what it pointed to is now safe (ASan and
        // TSan would see the late write otherwise).
        const int seen = *owned;
        owned.reset();
        killer.join();
        REQUIRE(seen == 7);
    }
}

TEST_CASE("threads: a successful lock() sees the writes made before another thread's release",
          "[threads][weak_ref][hazard-12]") {
    // Clean under TSan with std::weak_ptr (lock() acquires); so it must be here.
    struct payload {
        int value = 0; // not atomic: ordered only by the counts
    };
    wrtest::watchdog dog("lock() acquires");
    for (int round = 0; round < 200; ++round) {
        auto keep = weakref::make_ref<payload>(); // keeps the object alive throughout
        weakref::weak_ref<payload> w = keep;
        auto writer_ref = keep;
        std::atomic<bool> released{false};
        std::thread writer([&, mine = std::move(writer_ref)]() mutable {
            mine->value = round + 1;
            mine.reset();                                    // release: publishes the write
            released.store(true, std::memory_order_relaxed); // no ordering of its own
        });
        while (!released.load(std::memory_order_relaxed)) {
            std::this_thread::yield();
        }
        // The reader's only synchronisation with the writer is the strong count: lock() reads
        // the count the writer's decrement left.
        while (keep.use_count() != 1) {
            std::this_thread::yield();
        }
        auto got = w.lock();
        REQUIRE(got);
        CHECK(got->value == round + 1);
        writer.join();
    }
}

namespace {

/// Hands a weak self to another thread from its constructor.
struct published : weakref::enable_ref_from_this<published> {
    explicit published(std::atomic<weakref::weak_ref<published>*>& slot, bool fail) {
        slot.store(new weakref::weak_ref<published>(weak_from_this()), std::memory_order_release);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        value = 42;
        if (fail) {
            WRTEST_THROW(std::runtime_error("constructor failed"));
        }
    }
    int value = 0;
};

} // namespace

TEST_CASE("threads: a weak self handed out by a constructor comes alive when make_ref returns",
          "[threads][enable_ref_from_this]") {
    wrtest::watchdog dog("weak self from the constructor");
    for (int round = 0; round < 50; ++round) {
        // Every fifth constructor throws, where the build has exceptions.
        const bool fail = WEAKREF_TEST_HAS_EXCEPTIONS && round % 5 == 4;
        std::atomic<weakref::weak_ref<published>*> slot{nullptr};
        std::atomic<bool> made{false};
        std::atomic<int> seen{-1};
        std::thread reader([&] {
            weakref::weak_ref<published>* w = nullptr;
            while ((w = slot.load(std::memory_order_acquire)) == nullptr) {
                std::this_thread::yield();
            }
            // Expired until the constructor returned; then alive with every write of it
            // visible (or dead for good if it threw).
            for (;;) {
                if (auto r = w->lock()) {
                    seen.store(r->value);
                    break;
                }
                if (made.load(std::memory_order_acquire) && w->lock() == nullptr) {
                    seen.store(0);
                    break;
                }
                std::this_thread::yield();
            }
            delete w;
        });
        weakref::ref<published> r;
#if WEAKREF_TEST_HAS_EXCEPTIONS
        try {
            r = weakref::make_ref<published>(slot, fail);
        } catch (const std::runtime_error&) {
            CHECK(fail);
        }
#else
        r = weakref::make_ref<published>(slot, fail);
#endif
        made.store(true, std::memory_order_release);
        reader.join();
        if (fail) {
            CHECK_FALSE(r);
            CHECK(seen.load() == 0);
        } else {
            REQUIRE(r);
            CHECK(seen.load() == 42);
        }
    }
}

TEST_CASE("threads: one death with many container hooks and newer finalizers costs O(hooks)",
          "[threads][finalizer][hazard-21]") {
    // A death that rescanned its hook list for each container hook took 1.5 s at 20,000 of
    // each; at 200,000 that is minutes, past the watchdog's limit. A linear death takes
    // milliseconds. (The time per hook is measured in bench/handles.cpp: death_with_hooks.)
    constexpr int hooks = 200'000;
    wrtest::watchdog dog("a death with 400,000 hooks", std::chrono::seconds(60));
    std::vector<weakref::finalizer> finalizers;
    finalizers.reserve(hooks);
    auto r = weakref::make_ref<int>(1);
    std::vector<weakref::weak_value_map<int, int>> maps(1);
    for (int i = 0; i < hooks; ++i) {
        maps[0].insert(i, r); // container hooks first: the oldest
    }
    std::atomic<long> ran{0};
    for (int i = 0; i < hooks; ++i) {
        finalizers.push_back(weakref::on_death(r, [&ran] { ran.fetch_add(1); }));
    }
    REQUIRE(maps[0].size() == static_cast<std::size_t>(hooks));
    std::thread killer([&] { r.reset(); });
    killer.join();
    CHECK(ran.load() == hooks);
    CHECK(maps[0].empty());
}
