// SPDX-License-Identifier: MIT
// A weakref::local:: container passes from one thread to another with hand_over(): the
// thread that takes it uses it, its referents die there, and it comes back the same way. The
// threads run one after the other (a join is the hand-over's synchronisation). In debug
// builds any step on the wrong thread would stop the program (tests/death/local_threads.cpp).
#include "support/catch.hpp"

#include <weakref/weakref.hpp>

#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace {

namespace wl = weakref::local;

template <class F> void on_other_thread(F&& f) {
    std::thread t(std::forward<F>(f));
    t.join();
}

// hand_over() is a member of the local containers only.
template <class C, class = void> struct has_hand_over : std::false_type {};
template <class C>
struct has_hand_over<C, std::void_t<decltype(std::declval<C&>().hand_over())>> : std::true_type {};
static_assert(has_hand_over<wl::weak_value_map<int, int>>::value);
static_assert(has_hand_over<wl::weak_key_map<int, int>>::value);
static_assert(has_hand_over<wl::weak_set<int>>::value);
static_assert(has_hand_over<wl::weak_interner<std::string>>::value);
static_assert(has_hand_over<wl::weak_signal<void(int)>>::value);
static_assert(!has_hand_over<weakref::weak_value_map<int, int>>::value);
static_assert(!has_hand_over<weakref::weak_set<int>>::value);
static_assert(!has_hand_over<weakref::weak_signal<void(int)>>::value);

struct counter {
    int calls = 0;
    void add(int n) { calls += n; }
};

} // namespace

TEST_CASE("local hand-over: a map goes to another thread, is changed there, and comes back",
          "[local][hand_over]") {
    wl::weak_value_map<int, std::string> m;
    auto kept = wl::make_ref<std::string>("kept");
    auto doomed = wl::make_ref<std::string>("doomed");
    m.insert(1, kept);
    m.insert(2, doomed);
    m.hand_over();

    std::string seen;
    std::size_t size_there = 0;
    on_other_thread([&, mine = std::move(doomed)]() mutable {
        seen = *m.get(1);
        mine.reset(); // the value dies here, on the map's new owner: its entry goes
        auto fresh = wl::make_ref<std::string>("fresh");
        m.insert(3, fresh);
        size_there = m.size(); // 1 and 3, while fresh lives
        m.hand_over();
    }); // fresh died with the thread's lambda: entry 3 went there too

    CHECK(seen == "kept");
    CHECK(size_there == 2);
    CHECK(m.size() == 1);
    CHECK(m.get(1) == kept);
    CHECK_FALSE(m.contains(2));
    CHECK_FALSE(m.contains(3));
}

TEST_CASE("local hand-over: a set moved into a thread with its referents ends there",
          "[local][hand_over]") {
    wl::weak_set<int> s;
    auto a = wl::make_ref<int>(1);
    auto b = wl::make_ref<int>(2);
    weakref::local::weak_ref<int> watch_a = a;
    s.insert(a);
    s.insert(b);
    s.hand_over();

    std::size_t before = 0;
    std::size_t after = 0;
    bool has_b = false;
    on_other_thread([&, s = std::move(s), a = std::move(a)]() mutable {
        before = s.size();
        a.reset(); // dies here, leaving the set that this thread now owns
        after = s.size();
        has_b = s.contains(b);
    }); // the set is destroyed on the thread with the lambda

    CHECK(before == 2);
    CHECK(after == 1);
    CHECK(has_b);
    CHECK(watch_a.expired());
    CHECK(b.weak_count() == 0); // the set, gone, holds no entry on b
}

TEST_CASE("local hand-over: a signal and its connections change threads together",
          "[local][hand_over]") {
    wl::weak_signal<void(int)> sig;
    auto sub = wl::make_ref<counter>();
    auto c = sig.connect(sub, &counter::add);
    sig.emit(1);
    sig.hand_over();

    bool alive_there = false;
    int other_calls = 0;
    on_other_thread([&] {
        sig.emit(10);
        auto other = wl::make_ref<counter>();
        auto c2 = sig.connect(other, &counter::add);
        sig.emit(100);
        other_calls = other->calls;
        alive_there = c.alive();
        c.disconnect(); // the connection handle is used on the signal's owner thread
        sig.hand_over();
    }); // other died there: its connection went

    CHECK(alive_there);
    CHECK(other_calls == 100);
    CHECK(sub->calls == 111);
    CHECK(sig.size() == 0);
    sig.emit(1000);
    CHECK(sub->calls == 111);
}

TEST_CASE("local hand-over: a key map and an interner go and come back", "[local][hand_over]") {
    wl::weak_key_map<int, std::string> km;
    wl::weak_interner<std::string> in;
    auto k = wl::make_ref<int>(7);
    km.insert(k, "seven");
    auto hello = in.intern("hello");
    km.hand_over();
    in.hand_over();

    bool same = false;
    on_other_thread([&] {
        km.insert_or_assign(k, "sept");
        same = in.intern("hello") == hello;
        km.hand_over();
        in.hand_over();
    });

    CHECK(same);
    CHECK(km.size() == 1);
    CHECK(in.size() == 1);
    k.reset();
    CHECK(km.size() == 0);
}

TEST_CASE("local hand-over: a container nobody filled yet belongs to its first user",
          "[local][hand_over]") {
    wl::weak_set<int> s; // made here, but its state is made by the first insertion
    auto r = wl::make_ref<int>(1);
    on_other_thread([&] {
        s.insert(r);
        s.hand_over();
    });
    CHECK(s.contains(r));
}
