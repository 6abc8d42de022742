// SPDX-License-Identifier: MIT
// Behaviour of death callbacks: on_death, finalizer and scoped_finalizer.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

struct fin_tag {};
using live = wrtest::counted<fin_tag>;

/// Records what it saw when it died, for callbacks to compare against.
struct witness {
    explicit witness(std::vector<std::string>* log) : log_(log) {}
    ~witness() { log_->push_back("destructor"); }
    witness(const witness&) = delete;
    witness& operator=(const witness&) = delete;
    std::vector<std::string>* log_;
    int value = 1;
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "on_death: callbacks run newest first, before the destructor",
          "[finalizer]") {
    std::vector<std::string> log;
    auto r = wr::make_ref<witness>(&log);
    auto f1 = wr::on_death(r, [&] { log.push_back("first"); });
    auto f2 = wr::on_death(r, [&] { log.push_back("second"); });
    auto f3 = wr::on_death(r, [&] { log.push_back("third"); });
    CHECK(log.empty());
    r.reset();
    CHECK(log == std::vector<std::string>{"third", "second", "first", "destructor"});
}

TEST_CASE(WEAKREF_FLAVOUR "on_death: the callback sees every weak_ref expired and the object "
                          "not yet destroyed",
          "[finalizer]") {
    wrtest::count_scope<live> scope;
    auto r = wr::make_ref<live>(3);
    wr::weak_ref<live> w1 = r;
    wr::weak_ref<live> w2 = r;
    auto p = wr::proxy<live>(r);
    bool ran = false;
    bool all_expired = false;
    bool locks_failed = false;
    long alive_inside = -1;
    auto f = wr::on_death(r, [&] {
        ran = true;
        all_expired = w1.expired() && w2.expired() && p.expired();
        locks_failed = !w1.lock() && !w2() && !p.lock();
        alive_inside = scope.alive();
    });
    auto copy = r;
    r.reset();
    CHECK_FALSE(ran); // another strong handle remains
    copy.reset();
    CHECK(ran);
    CHECK(all_expired);
    CHECK(locks_failed);
    CHECK(alive_inside == 1); // the destructor had not run yet
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "on_death: the callback runs exactly once", "[finalizer]") {
    int runs = 0;
    wr::finalizer f;
    {
        auto r = wr::make_ref<int>(1);
        f = wr::on_death(r, [&] { ++runs; });
        CHECK(f.alive());
    }
    CHECK(runs == 1);
    CHECK_FALSE(f.alive());
    CHECK_FALSE(f());
    CHECK_FALSE(f.detach());
    CHECK(runs == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: dropping every handle leaves the callback armed",
          "[finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    {
        auto dropped = wr::on_death(r, [&] { ++runs; });
    }
    (void)wr::on_death(r, [&] { ++runs; });
    CHECK(runs == 0);
    r.reset();
    CHECK(runs == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: detach() is true once and the callback never runs",
          "[finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    auto f = wr::on_death(r, [&] { ++runs; });
    auto g = wr::on_death(r, [&] { runs += 10; });
    CHECK(f.alive());
    CHECK(f.detach());
    CHECK_FALSE(f.alive());
    CHECK_FALSE(f.detach());
    CHECK_FALSE(f());
    CHECK(g.alive()); // detaching one leaves the others
    r.reset();
    CHECK(runs == 10);
    CHECK_FALSE(f.detach());
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: f() runs it now, once, and returns whether it ran",
          "[finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    auto f = wr::on_death(r, [&] { ++runs; });
    CHECK(f());
    CHECK(runs == 1);
    CHECK_FALSE(f.alive());
    CHECK_FALSE(f());
    CHECK_FALSE(f.detach());
    CHECK(r.use_count() == 1); // running it did nothing to the referent
    r.reset();
    CHECK(runs == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: copies name the same registration", "[finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    auto f = wr::on_death(r, [&] { ++runs; });
    wr::finalizer copy = f;
    wr::finalizer assigned;
    assigned = copy;
    wr::finalizer moved = std::move(copy);
    CHECK_FALSE(copy.alive()); // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(copy.detach());
    CHECK(assigned.alive());
    CHECK(moved.alive());
    SECTION("detach through one copy") {
        CHECK(moved.detach());
        CHECK_FALSE(f.alive());
        CHECK_FALSE(assigned.detach());
        CHECK_FALSE(f());
        r.reset();
        CHECK(runs == 0);
    }
    SECTION("run through one copy") {
        CHECK(assigned());
        CHECK_FALSE(f());
        CHECK_FALSE(moved.detach());
        r.reset();
        CHECK(runs == 1);
    }
    SECTION("death seen through every copy") {
        r.reset();
        CHECK(runs == 1);
        CHECK_FALSE(f.alive());
        CHECK_FALSE(assigned.alive());
        CHECK_FALSE(moved.alive());
    }
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: a default-constructed finalizer does nothing",
          "[finalizer]") {
    wr::finalizer f;
    CHECK_FALSE(f.alive());
    CHECK_FALSE(f.detach());
    CHECK_FALSE(f());
    wr::scoped_finalizer s;
    CHECK_FALSE(s.alive());
    CHECK_FALSE(s());
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: a callback that detaches a later one of the same object "
                          "prevents it",
          "[finalizer]") {
    std::vector<std::string> log;
    auto r = wr::make_ref<int>(1);
    wr::finalizer older = wr::on_death(r, [&] { log.push_back("older"); });
    bool detached = false;
    bool alive_before = false;
    auto newer = wr::on_death(r, [&] {
        log.push_back("newer");
        alive_before = older.alive();
        detached = older.detach();
    });
    r.reset();
    CHECK(log == std::vector<std::string>{"newer"});
    CHECK(alive_before);
    CHECK(detached);
    CHECK_FALSE(older.alive());
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: a callback that runs a later one of the same object runs "
                          "it once",
          "[finalizer]") {
    int older_runs = 0;
    auto r = wr::make_ref<int>(1);
    wr::finalizer older = wr::on_death(r, [&] { ++older_runs; });
    bool ran = false;
    auto newer = wr::on_death(r, [&] { ran = older(); });
    r.reset();
    CHECK(ran);
    CHECK(older_runs == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: a callback may create, drop and watch other objects",
          "[finalizer]") {
    std::vector<std::string> log;
    auto other = wr::make_ref<int>(2);
    wr::weak_ref<int> other_weak = other;
    auto r = wr::make_ref<int>(1);
    wr::finalizer registered;
    bool inner_ran_inside = false;
    auto f = wr::on_death(r, [&] {
        log.push_back("outer");
        // A fresh object, made and dropped inside, runs its own callbacks here.
        auto temp = wr::make_ref<int>(3);
        auto inner = wr::on_death(temp, [&] { log.push_back("temp"); });
        temp.reset();
        inner_ran_inside = !inner.alive();
        // A registration on another, live object.
        registered = wr::on_death(other, [&] { log.push_back("other"); });
        // Dropping the last strong ref to a third object from inside.
        other.reset();
    });
    r.reset();
    CHECK(inner_ran_inside);
    CHECK(log == std::vector<std::string>{"outer", "temp", "other"});
    CHECK(other_weak.expired());
    CHECK_FALSE(registered.alive());
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: a callback registered on a dying object's neighbour "
                          "during death runs at that neighbour's death",
          "[finalizer]") {
    int runs = 0;
    auto a = wr::make_ref<int>(1);
    auto b = wr::make_ref<int>(2);
    wr::finalizer on_b;
    auto f = wr::on_death(a, [&] { on_b = wr::on_death(b, [&] { ++runs; }); });
    a.reset();
    CHECK(runs == 0);
    CHECK(on_b.alive());
    b.reset();
    CHECK(runs == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: the callback object is destroyed once it is done with",
          "[finalizer]") {
    wrtest::count_scope<live> scope;
    SECTION("after it ran at death") {
        auto r = wr::make_ref<int>(1);
        {
            live captured(1);
            (void)wr::on_death(r, [captured] { (void)captured; });
        }
        CHECK(scope.alive() == 1); // held by the registration
        r.reset();
        CHECK(scope.alive() == 0);
    }
    SECTION("after detach") {
        auto r = wr::make_ref<int>(1);
        auto f = wr::on_death(r, [captured = live(1)] { (void)captured; });
        CHECK(f.detach());
        f = wr::finalizer();
        CHECK(scope.alive() == 0);
        CHECK(r.use_count() == 1);
    }
    SECTION("after f()") {
        auto r = wr::make_ref<int>(1);
        {
            auto f = wr::on_death(r, [captured = live(1)] { (void)captured; });
            CHECK(f());
        }
        CHECK(scope.alive() == 0);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "finalizer: on_death does not count as a weak observer or keep the "
                          "object alive",
          "[finalizer]") {
    wrtest::count_scope<live> scope;
    auto r = wr::make_ref<live>(1);
    wr::weak_ref<live> w = r;
    auto f = wr::on_death(r, [] {});
    auto g = wr::on_death(r, [] {});
    CHECK(r.weak_count() == 1);
    CHECK(r.use_count() == 1);
    r.reset();
    CHECK(scope.alive() == 0);
    CHECK(w.expired());
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "on_death: an empty ref throws std::invalid_argument",
          "[needs-exceptions][finalizer]") {
    wr::ref<int> empty;
    int runs = 0;
    REQUIRE_THROWS_AS(wr::on_death(empty, [&] { ++runs; }), std::invalid_argument);
    CHECK(runs == 0);
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "on_death: works through a handle to a base", "[finalizer]") {
    struct base {
        int b = 0;
    };
    struct derived : base {
        std::vector<std::string>* log = nullptr;
        ~derived() { log->push_back("destructor"); }
    };
    std::vector<std::string> log;
    auto d = wr::make_ref<derived>();
    d->log = &log;
    wr::ref<base> b = std::move(d);
    auto f = wr::on_death(b, [&] { log.push_back("callback"); });
    b.reset();
    CHECK(log == std::vector<std::string>{"callback", "destructor"});
}

TEST_CASE(WEAKREF_FLAVOUR "scoped_finalizer: detaches when destroyed", "[scoped_finalizer]") {
    static_assert(!std::is_copy_constructible_v<wr::scoped_finalizer>);
    static_assert(!std::is_copy_assignable_v<wr::scoped_finalizer>);
    static_assert(std::is_nothrow_move_constructible_v<wr::scoped_finalizer>);
    static_assert(std::is_move_assignable_v<wr::scoped_finalizer>);
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    wr::finalizer watcher;
    {
        wr::scoped_finalizer s{wr::on_death(r, [&] { ++runs; })};
        CHECK(s.alive());
        watcher = wr::on_death(r, [&] { runs += 10; });
    }
    r.reset();
    CHECK(runs == 10);
}

TEST_CASE(WEAKREF_FLAVOUR "scoped_finalizer: runs at death while it lives", "[scoped_finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    wr::scoped_finalizer s{wr::on_death(r, [&] { ++runs; })};
    r.reset();
    CHECK(runs == 1);
    CHECK_FALSE(s.alive());
    CHECK_FALSE(s.detach());
}

TEST_CASE(WEAKREF_FLAVOUR "scoped_finalizer: moves carry the registration", "[scoped_finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    SECTION("move construction: the moved-from one detaches nothing") {
        wr::scoped_finalizer a{wr::on_death(r, [&] { ++runs; })};
        auto b = std::make_unique<wr::scoped_finalizer>(std::move(a));
        { wr::scoped_finalizer gone = std::move(a); } // NOLINT(bugprone-use-after-move)
        CHECK(b->alive());
        r.reset();
        CHECK(runs == 1);
    }
    SECTION("move assignment detaches the old registration") {
        wr::scoped_finalizer a{wr::on_death(r, [&] { ++runs; })};
        wr::scoped_finalizer b{wr::on_death(r, [&] { runs += 10; })};
        a = std::move(b);
        CHECK(a.alive());
        r.reset();
        CHECK(runs == 10);
    }
    SECTION("moved into a scope that ends first") {
        {
            wr::scoped_finalizer a{wr::on_death(r, [&] { ++runs; })};
            wr::scoped_finalizer b = std::move(a);
        }
        r.reset();
        CHECK(runs == 0);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "scoped_finalizer: detach, f() and release", "[scoped_finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    SECTION("detach") {
        wr::scoped_finalizer s{wr::on_death(r, [&] { ++runs; })};
        CHECK(s.detach());
        CHECK_FALSE(s.detach());
        r.reset();
        CHECK(runs == 0);
    }
    SECTION("f()") {
        wr::scoped_finalizer s{wr::on_death(r, [&] { ++runs; })};
        CHECK(s());
        CHECK_FALSE(s());
        r.reset();
        CHECK(runs == 1);
    }
    SECTION("release() gives up the detaching") {
        wr::finalizer kept;
        {
            wr::scoped_finalizer s{wr::on_death(r, [&] { ++runs; })};
            kept = s.release();
            CHECK_FALSE(s.alive());
        }
        CHECK(kept.alive());
        r.reset();
        CHECK(runs == 1);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "scoped_finalizer: destroyed from inside its own callback",
          "[scoped_finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    auto holder = std::make_unique<wr::scoped_finalizer>();
    *holder = wr::scoped_finalizer{wr::on_death(r, [&] {
        ++runs;
        holder.reset(); // must not wait for itself
    })};
    r.reset();
    CHECK(runs == 1);
    CHECK_FALSE(holder);
}

TEST_CASE(WEAKREF_FLAVOUR "scoped_finalizer: destroyed by an earlier callback of the same "
                          "object, it never runs",
          "[scoped_finalizer]") {
    int runs = 0;
    auto r = wr::make_ref<int>(1);
    auto holder = std::make_unique<wr::scoped_finalizer>(wr::on_death(r, [&] { runs += 10; }));
    auto f = wr::on_death(r, [&] {
        ++runs;
        holder.reset();
    });
    r.reset();
    CHECK(runs == 1);
}
