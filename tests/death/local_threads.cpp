// SPDX-License-Identifier: MIT
// A weakref::local:: container used by a thread that does not own it: debug builds stop the
// program with a message naming the container (WEAKREF_CHECK_THREADS). Each case runs as its
// own process, by tests/support/expect_death.cmake, which checks that it died and what it
// printed; the control_ cases, the nearest correct code (the hand-over), must exit 0.
//
//     weakref_death_local_threads <case>
//
// Built twice: with the check on, and with NDEBUG (the check off by default), where the
// misuse cases, which run their threads one after the other, must run through.
#include <weakref/weakref.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace {

namespace wl = weakref::local;

// The check costs no byte: it changes no size, with it on or off (this file is built both
// ways). The owner's tag sits in padding of the container's heap state. The numbers are the
// sizes from before the check existed, on 64-bit targets.
static_assert(sizeof(wl::ref<int>) == sizeof(void*));
static_assert(sizeof(wl::weak_ref<int>) == sizeof(void*));
static_assert(sizeof(weakref::detail::control_block<weakref::detail::local_policy>) == 16);
static_assert(sizeof(wl::weak_set<int>) == sizeof(void*));
static_assert(sizeof(wl::weak_key_map<int, int>) == sizeof(void*));
static_assert(sizeof(wl::weak_signal<void(int)>) == sizeof(void*));
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFU
static_assert(sizeof(wl::weak_interner<std::string>) == 16);
static_assert(sizeof(wl::weak_value_map<int, int>) == 32);
static_assert(
    sizeof(weakref::detail::weak_table<weakref::detail::table_entry<weakref::detail::local_policy>,
                                       weakref::detail::local_policy>) == 320);
static_assert(sizeof(weakref::detail::signal_core<weakref::detail::local_policy>) == 64);
#endif

/// Runs `f` on a second thread and waits for it: the two threads never run at once, so an
/// unchecked build runs these cases without a data race.
template <class F> void on_other_thread(F&& f) {
    std::thread t(std::forward<F>(f));
    t.join();
}

struct subscriber {
    int calls = 0;
    void poke(int n) { calls += n; }
};

// --- Misuse: each case must stop the program (with the check on) ----------------------------

int set_used() {
    auto r = wl::make_ref<int>(1);
    wl::weak_set<int> s;
    s.insert(r); // this thread owns s
    bool seen = false;
    on_other_thread([&] { seen = s.contains(r); });
    std::printf("survived: contains %d\n", seen ? 1 : 0);
    return 0;
}

int value_map_used() {
    auto r = wl::make_ref<int>(1);
    wl::weak_value_map<int, int> m;
    m.insert(1, r);
    std::size_t n = 0;
    on_other_thread([&] { n = m.size(); });
    std::printf("survived: size %zu\n", n);
    return 0;
}

int key_map_used() {
    auto k = wl::make_ref<int>(1);
    wl::weak_key_map<int, std::string> m;
    m.insert(k, "one");
    on_other_thread([&] { m.insert(k, "two"); });
    std::printf("survived: size %zu\n", m.size());
    return 0;
}

int interner_used() {
    wl::weak_interner<std::string> in;
    auto a = in.intern("a");
    on_other_thread([&] { a = in.intern("b"); });
    std::printf("survived: %s\n", a->c_str());
    return 0;
}

int signal_used() {
    auto sub = wl::make_ref<subscriber>();
    wl::weak_signal<void(int)> sig;
    auto c = sig.connect(sub, &subscriber::poke);
    on_other_thread([&] { sig.emit(1); });
    std::printf("survived: calls %d\n", sub->calls);
    return 0;
}

/// The iterator reaches the table without the container: it is checked too.
int iterator_used() {
    auto r = wl::make_ref<int>(1);
    wl::weak_set<int> s;
    s.insert(r);
    auto it = s.begin();
    int seen = 0;
    on_other_thread([&] { seen = **it; });
    std::printf("survived: %d\n", seen);
    return 0;
}

int set_destroyed() {
    auto r = wl::make_ref<int>(1);
    auto s = std::make_unique<wl::weak_set<int>>();
    s->insert(r);
    on_other_thread([&] { s.reset(); });
    std::printf("survived: destroyed elsewhere\n");
    return 0;
}

int set_moved_from() {
    auto r = wl::make_ref<int>(1);
    wl::weak_set<int> s;
    s.insert(r);
    on_other_thread([&] {
        wl::weak_set<int> taken(std::move(s));
        std::printf("survived: moved %zu\n", taken.size());
        taken.hand_over(); // so that only the move itself can stop the program
    });
    return 0;
}

/// A referent dies on another thread: its death changes the set, which this thread owns.
int set_referent_dies() {
    auto r = wl::make_ref<int>(1);
    wl::weak_set<int> s;
    s.insert(r);
    on_other_thread([r = std::move(r)]() mutable { r.reset(); });
    std::printf("survived: size %zu\n", s.size());
    return 0;
}

int signal_subscriber_dies() {
    auto sub = wl::make_ref<subscriber>();
    wl::weak_signal<void(int)> sig;
    auto c = sig.connect(sub, &subscriber::poke);
    on_other_thread([sub = std::move(sub)]() mutable { sub.reset(); });
    std::printf("survived: size %zu\n", sig.size());
    return 0;
}

int connection_disconnected() {
    auto sub = wl::make_ref<subscriber>();
    wl::weak_signal<void(int)> sig;
    auto c = sig.connect(sub, &subscriber::poke);
    on_other_thread([&] { c.disconnect(); });
    std::printf("survived: size %zu\n", sig.size());
    return 0;
}

/// Only the owner may hand a container over.
int hand_over_by_other() {
    auto r = wl::make_ref<int>(1);
    wl::weak_set<int> s;
    s.insert(r);
    on_other_thread([&] { s.hand_over(); });
    std::printf("survived: handed over elsewhere\n");
    return 0;
}

/// After the hand-over the next user owns the container; the old owner may not use it.
int used_after_hand_over() {
    auto r = wl::make_ref<int>(1);
    wl::weak_set<int> s;
    s.insert(r);
    s.hand_over();
    on_other_thread([&] { s.insert(wl::make_ref<int>(2)); }); // now the other thread's
    std::printf("survived: size %zu\n", s.size());
    return 0;
}

// --- Controls: the hand-over, which must run through ------------------------------------------

int control_hand_over_and_back() {
    auto a = wl::make_ref<int>(1);
    auto b = wl::make_ref<int>(2);
    wl::weak_value_map<int, int> m;
    m.insert(1, a);
    m.hand_over();
    on_other_thread([&] {
        m.insert(2, b);
        m.erase(1);
        m.hand_over();
    });
    const bool ok = m.size() == 1 && m.get(2) == b && !m.contains(1);
    std::printf("size %zu\n", m.size());
    return ok ? 0 : 1;
}

int control_moved_to_thread() {
    auto r = wl::make_ref<int>(1);
    wl::weak_set<int> s;
    s.insert(r);
    s.hand_over();
    std::size_t seen = 0;
    // The thread's copy of the lambda, and the set in it, are destroyed on that thread.
    on_other_thread(
        [s = std::move(s), &seen, &r]() mutable { seen = s.size() + (s.contains(r) ? 1 : 0); });
    return seen == 2 ? 0 : 1;
}

int control_signal_hand_over() {
    auto sub = wl::make_ref<subscriber>();
    wl::weak_signal<void(int)> sig;
    auto c = sig.connect(sub, &subscriber::poke);
    sig.hand_over();
    on_other_thread([&] {
        sig.emit(2);
        c.disconnect();
        sig.hand_over();
    });
    sig.emit(5); // disconnected: not called
    return sub->calls == 2 && sig.size() == 0 ? 0 : 1;
}

struct death_case {
    const char* name;
    int (*run)();
};

const death_case cases[] = {
    {"set_used", &set_used},
    {"value_map_used", &value_map_used},
    {"key_map_used", &key_map_used},
    {"interner_used", &interner_used},
    {"signal_used", &signal_used},
    {"iterator_used", &iterator_used},
    {"set_destroyed", &set_destroyed},
    {"set_moved_from", &set_moved_from},
    {"set_referent_dies", &set_referent_dies},
    {"signal_subscriber_dies", &signal_subscriber_dies},
    {"connection_disconnected", &connection_disconnected},
    {"hand_over_by_other", &hand_over_by_other},
    {"used_after_hand_over", &used_after_hand_over},
    {"control_hand_over_and_back", &control_hand_over_and_back},
    {"control_moved_to_thread", &control_moved_to_thread},
    {"control_signal_hand_over", &control_signal_hand_over},
};

} // namespace

int main(int argc, char** argv) {
    if (argc == 2) {
        for (const death_case& c : cases) {
            if (std::strcmp(c.name, argv[1]) == 0) {
                return c.run();
            }
        }
    }
    std::fprintf(stderr, "usage: weakref_death_local_threads <case>; cases:");
    for (const death_case& c : cases) {
        std::fprintf(stderr, " %s", c.name);
    }
    std::fprintf(stderr, "\n");
    return 2;
}
