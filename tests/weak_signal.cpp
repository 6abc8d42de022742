// SPDX-License-Identifier: MIT
// Behaviour of weak_signal, connection and scoped_connection: calls in connection order, leaving
// at the subscriber's death, disconnects, changes made by subscribers during an emit, exceptions,
// arguments, moves and destruction, in both flavours.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct listener_tag {};

/// A subscriber that records what it was told, in a log shared by the test.
struct listener : wrtest::counted<listener_tag> {
    listener(int id_, std::vector<int>* log_) : id(id_), log(log_) {}
    void on(int x) { log->push_back(id * 100 + x); }
    void on_const(int x) const { log->push_back(-(id * 100 + x)); }
    int on_returning(int x) {
        log->push_back(id * 100 + x);
        return x;
    }
    int id;
    std::vector<int>* log;
};

struct capture_tag {};
using capture = wrtest::counted<capture_tag>; // a capture whose destruction a case can see

struct final_subscriber final {
    int seen = 0;
};
struct base_subscriber {
    int seen = 0;
    void hear(int x) { seen += x; }
};
struct derived_subscriber : base_subscriber {
    int more = 0;
};

using signal_int = wr::weak_signal<void(int)>;

// Connections copy; scoped ones move only; the signal moves only.
static_assert(std::is_nothrow_default_constructible_v<wr::connection>);
static_assert(std::is_nothrow_copy_constructible_v<wr::connection>);
static_assert(std::is_nothrow_move_constructible_v<wr::connection>);
static_assert(!std::is_copy_constructible_v<wr::scoped_connection>);
static_assert(!std::is_copy_assignable_v<wr::scoped_connection>);
static_assert(std::is_nothrow_move_constructible_v<wr::scoped_connection>);
static_assert(std::is_nothrow_move_assignable_v<wr::scoped_connection>);
static_assert(!std::is_convertible_v<wr::connection, wr::scoped_connection>); // explicit
static_assert(std::is_constructible_v<wr::scoped_connection, wr::connection>);
static_assert(!std::is_copy_constructible_v<signal_int>);
static_assert(std::is_nothrow_move_constructible_v<signal_int>);
static_assert(std::is_nothrow_move_assignable_v<signal_int>);
static_assert(std::is_nothrow_default_constructible_v<signal_int>);
// The flavours do not mix.
static_assert(!std::is_same_v<weakref::connection, weakref::local::connection>);

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: emit calls methods and callables in connection order",
          "[weak_signal]") {
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    const wr::connection ca = sig.connect(a, &listener::on);
    const wr::connection cb = sig.connect(b, [](listener& l, int x) { l.on(x + 50); });
    const wr::connection cc = sig.connect(a, &listener::on_const);
    const wr::connection cd = sig.connect(b, &listener::on_returning); // the result is dropped
    CHECK(sig.size() == 4);
    CHECK_FALSE(sig.empty());

    sig.emit(7);
    CHECK(log == std::vector<int>{107, 257, -107, 207});
    log.clear();
    sig(3); // operator()
    CHECK(log == std::vector<int>{103, 253, -103, 203});
    CHECK(ca.alive());
    CHECK(cd.alive());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a default or moved-from signal is empty and usable",
          "[weak_signal]") {
    std::vector<int> log;
    signal_int sig;
    CHECK(sig.empty());
    sig.emit(1); // nothing to call
    sig.disconnect_all();
    auto a = wr::make_ref<listener>(1, &log);
    const wr::connection c = sig.connect(a, &listener::on);
    signal_int moved(std::move(sig));
    CHECK(sig.empty()); // NOLINT(bugprone-use-after-move): moved-from is specified
    CHECK(moved.size() == 1);
    moved.emit(2);
    sig.emit(3); // calls nothing: the connection moved
    CHECK(log == std::vector<int>{102});
    CHECK(c.alive());
    const wr::connection again = sig.connect(a, &listener::on);
    sig.emit(4);
    CHECK(log == std::vector<int>{102, 104});
    CHECK(c.disconnect()); // the handle still reaches its connection in the new signal
    CHECK(moved.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a subscriber's death removes its connections at once",
          "[weak_signal][hazard-6]") {
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    const wr::connection a1 = sig.connect(a, &listener::on);
    const wr::connection b1 = sig.connect(b, &listener::on);
    const wr::connection a2 = sig.connect(a, &listener::on_const);
    CHECK(a.weak_count() == 2); // one observer per connection while connected
    CHECK(sig.size() == 3);

    a.reset();
    CHECK(sig.size() == 1); // no sweep: gone at the death
    CHECK_FALSE(a1.alive());
    CHECK_FALSE(a2.alive());
    CHECK(b1.alive());
    wr::connection copy = a1;
    CHECK_FALSE(copy.disconnect()); // the death won
    sig.emit(5);
    CHECK(log == std::vector<int>{205});
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a connection leaves before the subscriber's callbacks "
                          "and destructor run, and its callable is destroyed by then",
          "[weak_signal]") {
    struct subscriber {
        signal_int* sig = nullptr;
        std::size_t* out = nullptr;
        long* captures_out = nullptr;
        ~subscriber() {
            *out = sig->size();
            *captures_out = capture::counts().alive();
        }
    };
    const wrtest::count_scope<capture> captures;
    signal_int sig;
    std::size_t size_in_destructor = 99;
    long captures_in_destructor = -1;
    std::size_t size_in_callback = 99;
    {
        auto s = wr::make_ref<subscriber>();
        s->sig = &sig;
        s->out = &size_in_destructor;
        s->captures_out = &captures_in_destructor;
        const long before = capture::counts().alive();
        sig.connect(s, [held = capture(1)](subscriber&, int) { static_cast<void>(held); });
        wr::finalizer f =
            wr::on_death(s, [&sig, &size_in_callback] { size_in_callback = sig.size(); });
        CHECK(sig.size() == 1);
        CHECK(capture::counts().alive() == before + 1);
        s.reset();
        CHECK(captures_in_destructor == before);
    }
    CHECK(size_in_callback == 0);
    CHECK(size_in_destructor == 0);
    CHECK(captures.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: disconnect() returns true once, for every copy, and "
                          "destroys the callable",
          "[weak_signal]") {
    const wrtest::count_scope<capture> captures;
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    wr::connection c =
        sig.connect(a, [held = capture(4)](listener& l, int x) { l.on(x + held.value); });
    wr::connection copy = c;
    CHECK(copy == c);
    CHECK(captures.alive() == 1);
    CHECK(a.weak_count() == 1);
    sig.emit(1);
    CHECK(copy.disconnect());
    CHECK(captures.alive() == 0); // at once: no call was in flight
    CHECK(a.weak_count() == 0);
    CHECK_FALSE(c.disconnect());
    CHECK_FALSE(copy.disconnect());
    CHECK_FALSE(c.alive());
    CHECK(sig.empty());
    sig.emit(2);
    CHECK(log == std::vector<int>{105});

    wr::connection none;
    CHECK_FALSE(none.alive());
    CHECK_FALSE(none.disconnect());
    CHECK(none != c);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: disconnect_all() ends every connection; the subscribers "
                          "live on",
          "[weak_signal]") {
    const wrtest::count_scope<capture> captures;
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    const wr::connection ca = sig.connect(a, [held = capture()](listener& l, int x) { l.on(x); });
    const wr::connection cb = sig.connect(b, &listener::on);
    sig.disconnect_all();
    CHECK(sig.empty());
    CHECK(captures.alive() == 0);
    CHECK_FALSE(ca.alive());
    CHECK_FALSE(cb.alive());
    CHECK(a.use_count() == 1);
    CHECK(b.weak_count() == 0);
    sig.emit(1);
    CHECK(log.empty());
    const wr::connection again = sig.connect(a, &listener::on); // still usable
    sig.emit(2);
    CHECK(log == std::vector<int>{102});
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: destroying the signal ends its connections; handles stay "
                          "valid",
          "[weak_signal][hazard-5]") {
    const wrtest::count_scope<capture> captures;
    const wrtest::count_scope<listener> listeners;
    std::vector<int> log;
    auto a = wr::make_ref<listener>(1, &log);
    wr::connection c;
    {
        signal_int sig;
        c = sig.connect(a, [held = capture()](listener& l, int x) { l.on(x); });
        CHECK(c.alive());
    }
    CHECK_FALSE(c.alive());
    CHECK_FALSE(c.disconnect());
    CHECK(captures.alive() == 0);
    CHECK(a.weak_count() == 0);
    a.reset(); // the subscriber's death touches nothing of the signal
    CHECK(listeners.alive() == 0);
    CHECK_FALSE(c.disconnect());

    // And the other way round: the subscriber first, then the signal, then the handle.
    auto b = wr::make_ref<listener>(2, &log);
    auto sig = std::make_unique<signal_int>();
    wr::connection cb = sig->connect(b, &listener::on);
    b.reset();
    sig.reset();
    CHECK_FALSE(cb.alive());
    cb = wr::connection();
    CHECK(log.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: move assignment ends the target's connections",
          "[weak_signal]") {
    std::vector<int> log;
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    signal_int x;
    signal_int y;
    const wr::connection ca = x.connect(a, &listener::on);
    const wr::connection cb = y.connect(b, &listener::on);
    x = std::move(y);
    CHECK_FALSE(ca.alive());
    CHECK(cb.alive());
    x.emit(1);
    CHECK(log == std::vector<int>{201});
    swap(x, y);
    CHECK(x.empty());
    CHECK(y.size() == 1);
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_signal: connect with an empty ref throws std::invalid_argument",
          "[needs-exceptions][weak_signal]") {
    signal_int sig;
    const wr::ref<listener> empty;
    CHECK_THROWS_AS(sig.connect(empty, &listener::on), std::invalid_argument);
    CHECK_THROWS_AS(sig.connect(empty, [](listener&, int) {}), std::invalid_argument);
    CHECK(sig.empty());
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: subscribers of any object type, a base, a const view",
          "[weak_signal]") {
    wr::weak_signal<void(int)> sig;
    auto i = wr::make_ref<int>(0);
    auto s = wr::make_ref<std::set<int>>();
    auto f = wr::make_ref<final_subscriber>();
    wr::ref<base_subscriber> d = wr::make_ref<derived_subscriber>();
    const wr::ref<const int> ci = i;
    int const_seen = 0;
    sig.connect(i, [](int& n, int x) { n += x; });
    sig.connect(s, [](std::set<int>& set, int x) { set.insert(x); });
    sig.connect(f, [](final_subscriber& o, int x) { o.seen += x; });
    sig.connect(d, &base_subscriber::hear);
    sig.connect(ci, [&const_seen](const int& n, int) { const_seen = n; });
    sig.emit(3);
    sig.emit(4);
    CHECK(*i == 7);
    CHECK(*s == std::set<int>{3, 4});
    CHECK(f->seen == 7);
    CHECK(d->seen == 7);
    CHECK(const_seen == 7); // after the first subscriber of the same emit: 3, then 3 + 4
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: arguments reach every subscriber intact", "[weak_signal]") {
    SECTION("a value argument is the same for each subscriber; a reference is the caller's") {
        wr::weak_signal<void(std::string, int&)> sig;
        auto a = wr::make_ref<int>(0);
        std::vector<std::string> seen;
        // A by-value parameter gets a copy; the next subscriber still sees the whole string.
        sig.connect(a, [&seen](int&, std::string text, int& total) {
            seen.push_back(std::move(text));
            ++total;
        });
        sig.connect(a, [&seen](int&, const std::string& text, int& total) {
            seen.push_back(text);
            ++total;
        });
        int total = 0;
        sig.emit(std::string(40, 'x'), total);
        CHECK(total == 2);
        CHECK(seen == std::vector<std::string>{std::string(40, 'x'), std::string(40, 'x')});
    }
    SECTION("move-only and rvalue-reference parameters") {
        wr::weak_signal<void(std::unique_ptr<int>, std::string &&)> sig;
        auto a = wr::make_ref<int>(0);
        sig.connect(a, [](int& n, const std::unique_ptr<int>& p, const std::string& s) {
            n += *p + static_cast<int>(s.size());
        });
        sig.connect(a, [](int& n, const std::unique_ptr<int>& p, const std::string& s) {
            n += *p + static_cast<int>(s.size());
        });
        sig.emit(std::make_unique<int>(10), std::string("abc"));
        CHECK(*a == 26);
    }
    SECTION("no arguments") {
        wr::weak_signal<void()> sig;
        auto a = wr::make_ref<int>(0);
        sig.connect(a, [](int& n) { ++n; });
        sig();
        sig.emit();
        CHECK(*a == 2);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: emit holds each subscriber strongly for its call",
          "[weak_signal]") {
    signal_int sig;
    auto a = wr::make_ref<int>(0);
    long during = 0;
    sig.connect(a, [&during, &a](int&, int) { during = a.use_count(); });
    sig.emit(1);
    CHECK(during == 2);
    CHECK(a.use_count() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: one connected during an emit is called by the next one",
          "[weak_signal]") {
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    std::optional<wr::connection> late;
    sig.connect(a, [&](listener& l, int x) {
        l.on(x);
        if (!late) {
            late = sig.connect(b, &listener::on);
        }
    });
    sig.emit(1);
    CHECK(log == std::vector<int>{101});
    CHECK(sig.size() == 2);
    sig.emit(2);
    CHECK(log == std::vector<int>{101, 102, 202});
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a subscriber that disconnects or kills a later one during "
                          "an emit keeps it from being called",
          "[weak_signal][hazard-3]") {
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    auto c = wr::make_ref<listener>(3, &log);
    wr::connection cb;
    sig.connect(a, [&](listener& l, int x) {
        l.on(x);
        if (x == 1) {
            cb.disconnect();
        } else {
            c.reset(); // the last ref to c: its death removes it, mid-emit
        }
    });
    cb = sig.connect(b, &listener::on);
    sig.connect(c, &listener::on);
    sig.emit(1);
    CHECK(log == std::vector<int>{101, 301});
    CHECK(sig.size() == 2);
    log.clear();
    const wrtest::count_scope<listener> listeners;
    sig.emit(2);
    CHECK(log == std::vector<int>{102});
    CHECK(listeners.destroyed() == 1);
    CHECK(sig.size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a subscriber that disconnects itself keeps its captures "
                          "until its call returns",
          "[weak_signal][hazard-9]") {
    const wrtest::count_scope<capture> captures;
    signal_int sig;
    auto a = wr::make_ref<int>(0);
    wr::connection self;
    long alive_after_disconnect = 0;
    int read_after_disconnect = 0;
    bool disconnected = false;
    self = sig.connect(a, [&, held = capture(42), text = std::string(64, 'q')](int&, int) {
        disconnected = self.disconnect();
        alive_after_disconnect = captures.alive();
        // The callable is still intact: these reads of its captures are valid (ASan sees them).
        read_after_disconnect = held.value + static_cast<int>(text.size());
    });
    sig.emit(1);
    CHECK(disconnected);
    CHECK(alive_after_disconnect == 1);
    CHECK(read_after_disconnect == 106);
    CHECK(captures.alive() == 0); // destroyed when the call returned
    CHECK(a.weak_count() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a scoped_connection destroyed inside its own call",
          "[weak_signal]") {
    const wrtest::count_scope<capture> captures;
    signal_int sig;
    auto a = wr::make_ref<int>(0);
    auto owner = std::make_unique<wr::scoped_connection>();
    int calls = 0;
    *owner = wr::scoped_connection(sig.connect(a, [&, held = capture(1)](int&, int) {
        ++calls;
        owner.reset(); // must not wait for this very call
        calls += held.value;
    }));
    sig.emit(1);
    sig.emit(2);
    CHECK(calls == 2);
    CHECK(sig.empty());
    CHECK(captures.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a subscriber that drops its own last ref dies after its "
                          "call",
          "[weak_signal]") {
    const wrtest::count_scope<listener> listeners;
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    long alive_in_call = 0;
    sig.connect(a, [&](listener& l, int x) {
        a.reset(); // emit's strong ref keeps it for the rest of the call
        l.on(x);
        alive_in_call = listeners.alive();
    });
    sig.emit(1);
    CHECK(alive_in_call == 1);
    CHECK(log == std::vector<int>{101});
    CHECK(listeners.alive() == 0);
    CHECK(sig.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: emit from inside a call is re-entrant", "[weak_signal]") {
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    sig.connect(a, [&sig](listener& l, int x) {
        l.on(x);
        if (x < 3) {
            sig.emit(x + 1);
        }
    });
    sig.connect(b, &listener::on);
    sig.emit(1);
    // a1 (a2 (a3 b3) b2) b1
    CHECK(log == std::vector<int>{101, 102, 103, 203, 202, 201});
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a throwing subscriber stops the emit; everything is "
                          "released and the signal works on",
          "[needs-exceptions][weak_signal]") {
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    auto thrower = wr::make_ref<int>(0);
    auto b = wr::make_ref<listener>(2, &log);
    sig.connect(a, &listener::on);
    wr::connection ct = sig.connect(thrower, [](int& n, int x) {
        ++n;
        if (x == 1) {
            throw std::runtime_error("subscriber failed");
        }
    });
    sig.connect(b, &listener::on);
    CHECK_THROWS_AS(sig.emit(1), std::runtime_error);
    CHECK(log == std::vector<int>{101});
    CHECK(thrower.use_count() == 1); // the emit's strong ref was released
    CHECK(ct.alive());
    sig.emit(2);
    CHECK(log == std::vector<int>{101, 102, 202});
    CHECK(*thrower == 2);
    CHECK(sig.size() == 3);
    ct.disconnect(); // its call count is back to zero: the callable goes at once
    CHECK(thrower.weak_count() == 0);
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: destroying the signal inside a subscriber's call ends the "
                          "emit quietly",
          "[weak_signal][hazard-4]") {
    const wrtest::count_scope<capture> captures;
    std::vector<int> log;
    auto sig = std::make_unique<signal_int>();
    auto a = wr::make_ref<listener>(1, &log);
    auto b = wr::make_ref<listener>(2, &log);
    const wr::connection ca = sig->connect(a, [&sig, held = capture()](listener& l, int x) {
        l.on(x);
        sig.reset();
        l.on(x + held.value + 1); // the callable lives until the call returns
    });
    const wr::connection cb = sig->connect(b, [held = capture()](listener& l, int x) { l.on(x); });
    sig->emit(1);
    CHECK(sig == nullptr);
    CHECK(log == std::vector<int>{101, 102});
    CHECK_FALSE(ca.alive());
    CHECK_FALSE(cb.alive());
    CHECK(captures.alive() == 0);
    CHECK(a.weak_count() == 0);
    CHECK(b.weak_count() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: scoped_connection ends its connection when destroyed, "
                          "assigned over or not at all after release()",
          "[weak_signal]") {
    std::vector<int> log;
    signal_int sig;
    auto a = wr::make_ref<listener>(1, &log);
    wr::connection watched;
    {
        wr::scoped_connection s{sig.connect(a, &listener::on)};
        watched = s.get();
        CHECK(s.alive());
        wr::scoped_connection moved(std::move(s));
        CHECK_FALSE(s.alive()); // NOLINT(bugprone-use-after-move)
        CHECK(moved.alive());
        sig.emit(1);
    }
    CHECK_FALSE(watched.alive());
    CHECK(sig.empty());

    wr::scoped_connection s{sig.connect(a, &listener::on)};
    const wr::connection first = s.get();
    s = wr::scoped_connection(sig.connect(a, &listener::on_const));
    CHECK_FALSE(first.alive());
    CHECK(sig.size() == 1);
    wr::connection kept = s.release();
    CHECK_FALSE(s.alive());
    s = wr::scoped_connection();
    CHECK(kept.alive()); // released: not ended by the scoped_connection
    CHECK(s.disconnect() == false);
    wr::scoped_connection again{kept};
    CHECK(again.disconnect());
    CHECK_FALSE(kept.alive());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a scoped_connection held in a weak_key_map on its own "
                          "subscriber ends with it",
          "[weak_signal][weak_key_map]") {
    // The map's entry is newer than the connection: at the subscriber's death the map destroys
    // the scoped_connection (pass 2) before the connection's own finish. It must not wait.
    const wrtest::count_scope<capture> captures;
    signal_int sig;
    wr::weak_key_map<int, wr::scoped_connection> owned;
    auto a = wr::make_ref<int>(0);
    auto b = wr::make_ref<int>(0);
    owned.try_emplace(a, sig.connect(a, [held = capture()](int& n, int x) { n += x; }));
    owned.try_emplace(b, sig.connect(b, [held = capture()](int& n, int x) { n += x; }));
    sig.emit(2);
    CHECK(*a == 2);
    CHECK(sig.size() == 2);
    a.reset();
    CHECK(sig.size() == 1);
    CHECK(owned.size() == 1);
    CHECK(captures.alive() == 1);
    owned.erase(b); // ends b's connection while b lives
    CHECK(sig.empty());
    CHECK(captures.alive() == 0);
    CHECK(*b == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: one subscriber connected twice, and to two signals",
          "[weak_signal]") {
    std::vector<int> log;
    signal_int x;
    signal_int y;
    auto a = wr::make_ref<listener>(1, &log);
    x.connect(a, &listener::on);
    x.connect(a, &listener::on_const);
    y.connect(a, &listener::on);
    CHECK(a.weak_count() == 3);
    x.emit(1);
    y.emit(2);
    CHECK(log == std::vector<int>{101, -101, 102});
    a.reset();
    CHECK(x.empty());
    CHECK(y.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: a callable's destructor may use the signal",
          "[weak_signal]") {
    // disconnect_all() destroys the callables after its lock: one that connects anew is fine.
    struct reconnect {
        signal_int* sig;
        wr::ref<int>* target;
        std::optional<wr::connection>* made;
        reconnect(signal_int* s, wr::ref<int>* t, std::optional<wr::connection>* m)
            : sig(s), target(t), made(m) {}
        reconnect(reconnect&& o) noexcept : sig(o.sig), target(o.target), made(o.made) {
            o.sig = nullptr;
        }
        reconnect(const reconnect&) = delete;
        reconnect& operator=(const reconnect&) = delete;
        reconnect& operator=(reconnect&&) = delete;
        ~reconnect() {
            if (sig != nullptr && !*made) {
                *made = sig->connect(*target, [](int& n, int x) { n += x; });
            }
        }
        void operator()(int&, int) const {}
    };
    signal_int sig;
    auto a = wr::make_ref<int>(0);
    std::optional<wr::connection> made;
    sig.connect(a, reconnect(&sig, &a, &made));
    sig.disconnect_all();
    REQUIRE(made);
    CHECK(made->alive());
    CHECK(sig.size() == 1);
    sig.emit(5);
    CHECK(*a == 5);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_signal: nothing leaks when subscribers, handles and the signal go "
                          "in any order",
          "[weak_signal]") {
    const wrtest::count_scope<capture> captures;
    const wrtest::count_scope<listener> listeners;
    std::vector<int> log;
    for (int order = 0; order < 6; ++order) {
        auto sig = std::make_unique<signal_int>();
        auto a = wr::make_ref<listener>(1, &log);
        auto handle = std::make_unique<wr::connection>(
            sig->connect(a, [held = capture()](listener& l, int x) { l.on(x); }));
        sig->emit(order);
        const auto drop_sig = [&] { sig.reset(); };
        const auto drop_sub = [&] { a.reset(); };
        const auto drop_handle = [&] { handle.reset(); };
        switch (order) {
        case 0:
            drop_sig();
            drop_sub();
            drop_handle();
            break;
        case 1:
            drop_sig();
            drop_handle();
            drop_sub();
            break;
        case 2:
            drop_sub();
            drop_sig();
            drop_handle();
            break;
        case 3:
            drop_sub();
            drop_handle();
            drop_sig();
            break;
        case 4:
            drop_handle();
            drop_sig();
            drop_sub();
            break;
        default:
            drop_handle();
            drop_sub();
            drop_sig();
            break;
        }
    }
    CHECK(captures.alive() == 0);
    CHECK(listeners.alive() == 0);
    CHECK(log.size() == 6);
}
