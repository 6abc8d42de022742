// SPDX-License-Identifier: MIT
// The misuses of weak_anchor that a debug build stops: a pinned held by the thread that
// invalidates or destroys its anchor. Each case runs as its own process, by
// tests/support/expect_death.cmake, which checks that it died and what it printed; the control_
// cases, the nearest correct code, must exit 0.
//
//     weakref_death_weak_anchor <case>
//
// The checks under test are WEAKREF_ASSERTs, so this program has them on in every build type.
#undef NDEBUG
#include <weakref/weak_anchor.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

namespace {

struct sync_page {
    int words = 0;
    weakref::weak_anchor<sync_page> anchor{this};
};
struct local_page {
    int words = 0;
    weakref::local::weak_anchor<local_page> anchor{this};
};

// --- The scenarios, each run in a child --------------------------------------------------------

void sync_destroy_with_own_pin() {
    auto p = std::make_unique<sync_page>();
    weakref::observer<sync_page> o = p->anchor.observe();
    weakref::pinned<sync_page> pin = o.lock();
    p.reset(); // the destructor would wait for this thread's own pin forever
}

void sync_invalidate_with_own_pin() {
    sync_page p;
    weakref::observer<sync_page> o = p.anchor.observe();
    weakref::pinned<sync_page> pin = o.lock();
    p.anchor.invalidate();
}

/// Another thread holds a pin too: the own pin is still caught, not waited for.
void sync_invalidate_with_own_and_other_pin() {
    sync_page p;
    weakref::observer<sync_page> o = p.anchor.observe();
    std::atomic<bool> other_pinned{false};
    std::atomic<bool> release{false};
    std::thread other([&] {
        weakref::pinned<sync_page> pin = o.lock();
        other_pinned.store(true);
        while (!release.load()) {
            std::this_thread::yield();
        }
    });
    while (!other_pinned.load()) {
        std::this_thread::yield();
    }
    weakref::pinned<sync_page> pin = o.lock();
    p.anchor.invalidate();
    release.store(true); // not reached
    other.join();
}

void local_destroy_with_pin() {
    auto p = std::make_unique<local_page>();
    weakref::local::observer<local_page> o = p->anchor.observe();
    weakref::local::pinned<local_page> pin = o.lock();
    p.reset();
}

void local_invalidate_with_pin() {
    local_page p;
    weakref::local::observer<local_page> o = p.anchor.observe();
    weakref::local::pinned<local_page> pin = o.lock();
    p.anchor.invalidate();
}

/// Controls: the same code with the pin released first runs through.
void sync_pins_released_first() {
    auto p = std::make_unique<sync_page>();
    weakref::observer<sync_page> o = p->anchor.observe();
    {
        weakref::pinned<sync_page> pin = o.lock();
        pin->words = 1;
    }
    // A pin taken and released on another thread is no pin of this one.
    std::thread([&] { o.lock()->words = 2; }).join();
    weakref::pinned<sync_page> moved = o.lock();
    weakref::pinned<sync_page> taken = std::move(moved);
    taken.reset();
    p->anchor.invalidate();
    weakref::observer<sync_page> next = p->anchor.observe();
    weakref::pinned<sync_page> again = next.lock();
    again.reset();
    p.reset();
    if (!o.expired() || !next.expired()) {
        std::abort();
    }
}

void local_pins_released_first() {
    auto p = std::make_unique<local_page>();
    weakref::local::observer<local_page> o = p->anchor.observe();
    o.lock()->words = 1;
    p->anchor.invalidate();
    weakref::local::observer<local_page> next = p->anchor.observe();
    next.lock()->words = 2;
    p.reset();
    if (!o.expired() || !next.expired()) {
        std::abort();
    }
}

// --- Running one ------------------------------------------------------------------------------

struct named_case {
    const char* name;
    void (*run)();
};

constexpr named_case cases[] = {
    {"destroy_with_own_pin", &sync_destroy_with_own_pin},
    {"invalidate_with_own_pin", &sync_invalidate_with_own_pin},
    {"invalidate_with_own_and_other_pin", &sync_invalidate_with_own_and_other_pin},
    {"local_destroy_with_pin", &local_destroy_with_pin},
    {"local_invalidate_with_pin", &local_invalidate_with_pin},
    {"control_pins_released", &sync_pins_released_first},
    {"control_local_pins_released", &local_pins_released_first},
};

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <case>\n", argv[0]);
        return 2;
    }
    for (const named_case& c : cases) {
        if (std::strcmp(argv[1], c.name) == 0) {
            // A wait that never ends (the misuse not caught) is a failure: SIGALRM, no message.
            alarm(60);
            c.run();
            std::printf("%s: ran through\n", c.name);
            return 0;
        }
    }
    std::fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
