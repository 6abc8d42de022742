// SPDX-License-Identifier: MIT
// weakref::weak_signal under threads: two threads emitting while subscribers die and disconnect
// on two others, checked against a ledger (no call after a death began or after a scoped
// disconnect returned, no call lost to a live subscriber, one winner between a disconnect and a
// death); scoped_connection waiting for its own call only; connects racing emits; the signal
// destroyed while subscribers die.
#include "support/catch.hpp"
#include "support/watchdog.hpp"

#include <weakref/weakref.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

namespace {

/// Rounds small enough that each case stays within a few seconds under TSan.
constexpr int signal_rounds = 40;
constexpr int emits_per_thread = 30;

void wait_for(const std::atomic<bool>& flag) {
    while (!flag.load(std::memory_order_acquire)) {
        std::this_thread::yield();
    }
}

/// Starts `n` threads at once on `fn(i)`; returns them running.
template <class F> std::vector<std::thread> start_threads(int n, F fn) {
    auto ready = std::make_shared<std::atomic<int>>(0);
    auto go = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([=] {
            ++*ready;
            wait_for(*go);
            fn(i);
        });
    }
    while (ready->load() != n) {
        std::this_thread::yield();
    }
    go->store(true, std::memory_order_release);
    return threads;
}

void join_all(std::vector<std::thread>& threads) {
    for (auto& t : threads) {
        t.join();
    }
}

/// What one connection saw, kept outside every object the test lets die.
struct ledger_entry {
    std::atomic<bool> ended{false};  // set once no call may start any more (see the cases)
    std::atomic<long> calls[2] = {}; // by emitter
    std::atomic<long> late{0};       // calls that began after `ended`
    std::atomic<bool> callable_gone{false};
    int last_k[2] = {0, 0}; // plain: written by emitter e's calls, read after a scoped wait
    std::atomic<int> last_k_atomic[2] = {}; // the same, for comparison
};

/// Sets its entry's callable_gone when the connection's callable (which holds it) is destroyed.
struct callable_witness {
    explicit callable_witness(ledger_entry* e) noexcept : entry(e) {}
    callable_witness(callable_witness&& o) noexcept : entry(std::exchange(o.entry, nullptr)) {}
    callable_witness(const callable_witness&) = delete;
    callable_witness& operator=(const callable_witness&) = delete;
    callable_witness& operator=(callable_witness&&) = delete;
    ~callable_witness() {
        if (entry != nullptr) {
            entry->callable_gone.store(true, std::memory_order_release);
        }
    }
    ledger_entry* entry;
};

/// A subscriber: plain fields that its calls write (each emitter its own) and its destructor
/// reads, so that TSan sees a race if a call were not ordered before the destruction.
struct subscriber {
    int touched[2] = {0, 0};
    long* sum_out = nullptr;
    ~subscriber() {
        if (sum_out != nullptr) {
            *sum_out = touched[0] + touched[1];
        }
    }
};

using signal_type = weakref::weak_signal<void(int emitter, int k)>;

/// Connects `s` to `sig` with a callable that keeps the ledger of `e`.
weakref::connection connect_ledgered(signal_type& sig, const weakref::ref<subscriber>& s,
                                     ledger_entry& e) {
    return sig.connect(s, [witness = callable_witness(&e)](subscriber& sub, int emitter, int k) {
        ledger_entry& entry = *witness.entry;
        if (entry.ended.load(std::memory_order_acquire)) {
            entry.late.fetch_add(1, std::memory_order_relaxed);
        }
        entry.calls[emitter].fetch_add(1, std::memory_order_relaxed);
        entry.last_k[emitter] = k;
        entry.last_k_atomic[emitter].store(k, std::memory_order_relaxed);
        sub.touched[emitter] += 1;
    });
}

} // namespace

TEST_CASE("threads: two threads emit while subscribers die and disconnect on two others",
          "[threads][weak_signal]") {
    wrtest::watchdog dog("emit against deaths and disconnects", std::chrono::seconds(120));
    constexpr int stable_count = 8;
    constexpr int mortal_count = 24;
    long late_calls = 0;
    long lost_calls = 0;
    long winner_mismatches = 0;
    long callables_alive_after_wait = 0;
    long unordered_reads = 0;
    long size_mismatches = 0;
    long partial = 0;
    std::mt19937 random(20261202);
    for (int round = 0; round < signal_rounds; ++round) {
        signal_type sig;
        std::vector<ledger_entry> stable_ledger(stable_count);
        std::vector<ledger_entry> mortal_ledger(mortal_count);
        std::vector<long> sums(mortal_count, -1); // outlives the subscribers, which write it
        std::vector<weakref::ref<subscriber>> stable;
        std::vector<weakref::ref<subscriber>> mortal;
        std::vector<weakref::finalizer> deaths;
        std::vector<std::optional<weakref::scoped_connection>> owned(mortal_count);
        for (int i = 0; i < stable_count; ++i) {
            stable.push_back(weakref::make_ref<subscriber>());
            connect_ledgered(sig, stable.back(), stable_ledger[static_cast<std::size_t>(i)]);
        }
        for (int i = 0; i < mortal_count; ++i) {
            auto idx = static_cast<std::size_t>(i);
            mortal.push_back(weakref::make_ref<subscriber>());
            mortal.back()->sum_out = &sums[idx];
            ledger_entry* e = &mortal_ledger[idx];
            // Older than the connection: runs after the connection left, at the death.
            deaths.push_back(weakref::on_death(
                mortal.back(), [e] { e->ended.store(true, std::memory_order_release); }));
            owned[idx].emplace(connect_ledgered(sig, mortal.back(), *e));
        }
        // The killer drops some subscribers, the disconnecter ends some connections; they meet
        // on a third of them, in shuffled orders.
        std::vector<int> kill_order;
        std::vector<int> cut_order;
        for (int i = 0; i < mortal_count; ++i) {
            if (i % 3 != 1) {
                kill_order.push_back(i);
            }
            if (i % 3 != 0) {
                cut_order.push_back(i);
            }
        }
        std::shuffle(kill_order.begin(), kill_order.end(), random);
        std::shuffle(cut_order.begin(), cut_order.end(), random);
        std::vector<char> cut_won(mortal_count, 0);
        // The emitters go on until the killer and the disconnecter are done, so that every
        // mortal connection ends while emits run.
        std::atomic<int> enders_done{0};
        int emits[2] = {0, 0}; // by emitter, read after the join

        auto threads = start_threads(4, [&](int role) {
            if (role < 2) {
                int k = 0;
                while (k < emits_per_thread || enders_done.load(std::memory_order_acquire) < 2) {
                    sig.emit(role, ++k);
                }
                emits[role] = k;
            } else if (role == 2) {
                for (int i : kill_order) {
                    mortal[static_cast<std::size_t>(i)].reset();
                    std::this_thread::yield();
                }
                enders_done.fetch_add(1, std::memory_order_release);
            } else {
                for (int i : cut_order) {
                    auto idx = static_cast<std::size_t>(i);
                    ledger_entry& e = mortal_ledger[idx];
                    cut_won[idx] = owned[idx]->disconnect() ? 1 : 0;
                    owned[idx].reset(); // waits for this connection's calls on the emitters
                    if (cut_won[idx] != 0) {
                        // No call of it can begin now, and every call of it has returned.
                        e.ended.store(true, std::memory_order_release);
                        if (!e.callable_gone.load(std::memory_order_acquire)) {
                            ++callables_alive_after_wait;
                        }
                        // Plain reads of what the calls wrote: ordered by the wait (TSan), so
                        // they agree with the last atomic stores of the same calls.
                        for (int t = 0; t < 2; ++t) {
                            if (e.last_k[t] != e.last_k_atomic[t].load(std::memory_order_relaxed)) {
                                ++unordered_reads;
                            }
                        }
                    }
                    std::this_thread::yield();
                }
                enders_done.fetch_add(1, std::memory_order_release);
            }
        });
        join_all(threads);

        // The ledger.
        for (const ledger_entry& e : stable_ledger) {
            late_calls += e.late.load();
            for (int t = 0; t < 2; ++t) {
                lost_calls += emits[t] - e.calls[t].load();
            }
        }
        std::size_t live = stable_count;
        for (int i = 0; i < mortal_count; ++i) {
            const auto idx = static_cast<std::size_t>(i);
            const ledger_entry& e = mortal_ledger[idx];
            late_calls += e.late.load();
            const bool killed = i % 3 != 1;
            const bool cut = i % 3 != 0;
            // A cut that lost can only have lost to the death.
            if (cut && cut_won[idx] == 0 && !killed) {
                ++winner_mismatches;
            }
            if (!killed && !cut) {
                ++live;
                for (int t = 0; t < 2; ++t) {
                    lost_calls += emits[t] - e.calls[t].load();
                }
            }
            const long got = e.calls[0].load() + e.calls[1].load();
            if (got != 0 && got != emits[0] + emits[1]) {
                ++partial; // ended while the emitters ran: the race the case is for
            }
            if (killed && sums[idx] != got) {
                ++unordered_reads; // the destructor missed a call's write
            }
        }
        if (sig.size() != live) {
            ++size_mismatches;
        }
        owned.clear();
    }
    CHECK(late_calls == 0);
    CHECK(lost_calls == 0);
    CHECK(winner_mismatches == 0);
    CHECK(callables_alive_after_wait == 0);
    CHECK(unordered_reads == 0);
    CHECK(size_mismatches == 0);
    WARN("connections ended while the emitters ran: " << partial << " of "
                                                      << signal_rounds * mortal_count);
}

TEST_CASE("threads: a scoped_connection waits for its subscriber's call on another thread, and "
          "only for that one",
          "[threads][weak_signal]") {
    wrtest::watchdog dog("scoped_connection against a call in flight");
    long returned_early = 0;
    long callable_left = 0;
    for (int round = 0; round < signal_rounds; ++round) {
        weakref::weak_signal<void()> sig;
        auto a = weakref::make_ref<subscriber>();
        auto b = weakref::make_ref<subscriber>();
        ledger_entry entry;
        std::atomic<bool> in_a{false};
        std::atomic<bool> in_b{false};
        std::atomic<bool> a_cut_done{false};
        std::atomic<bool> cut_begun{false};
        bool a_finished = false; // plain: written at the end of a's call, read after the wait
        auto scoped_a = std::make_unique<weakref::scoped_connection>(
            sig.connect(a, [&, witness = callable_witness(&entry)](subscriber&) {
                in_a.store(true, std::memory_order_release);
                wait_for(cut_begun); // the main thread is about to end this connection
                for (int spin = 0; spin < 200; ++spin) {
                    std::this_thread::yield();
                }
                a_finished = witness.entry != nullptr;
            }));
        const weakref::scoped_connection scoped_b(sig.connect(b, [&](subscriber&) {
            in_b.store(true, std::memory_order_release);
            // b's call holds on until a's scoped_connection is gone: that destructor must not
            // wait for this call (the watchdog ends a deadlock).
            wait_for(a_cut_done);
        }));
        std::thread emitter([&] { sig.emit(); });
        wait_for(in_a);
        cut_begun.store(true, std::memory_order_release);
        scoped_a.reset(); // a's call is running: waits for it, not for b's
        if (!a_finished) {
            ++returned_early;
        }
        if (!entry.callable_gone.load(std::memory_order_acquire)) {
            ++callable_left;
        }
        wait_for(in_b);
        a_cut_done.store(true, std::memory_order_release);
        emitter.join();
    }
    CHECK(returned_early == 0);
    CHECK(callable_left == 0);
}

TEST_CASE("threads: a subscriber connected on another thread is called by every emit that "
          "starts after connect returned",
          "[threads][weak_signal]") {
    wrtest::watchdog dog("connect against emit");
    constexpr int joiners = 16;
    long lost = 0;
    for (int round = 0; round < signal_rounds; ++round) {
        signal_type sig;
        std::vector<ledger_entry> ledger(joiners);
        std::vector<weakref::ref<subscriber>> subs;
        for (int i = 0; i < joiners; ++i) {
            subs.push_back(weakref::make_ref<subscriber>());
        }
        std::atomic<int> started[2] = {};
        std::vector<int> started_at[2] = {std::vector<int>(joiners), std::vector<int>(joiners)};
        std::vector<weakref::connection> made(joiners);
        auto threads = start_threads(3, [&](int role) {
            if (role < 2) {
                for (int k = 1; k <= emits_per_thread; ++k) {
                    started[role].store(k, std::memory_order_seq_cst);
                    sig.emit(role, k);
                }
            } else {
                for (int i = 0; i < joiners; ++i) {
                    auto idx = static_cast<std::size_t>(i);
                    made[idx] = connect_ledgered(sig, subs[idx], ledger[idx]);
                    for (int t = 0; t < 2; ++t) {
                        started_at[t][idx] = started[t].load(std::memory_order_seq_cst);
                    }
                    std::this_thread::yield();
                }
            }
        });
        join_all(threads);
        for (int i = 0; i < joiners; ++i) {
            const auto idx = static_cast<std::size_t>(i);
            for (int t = 0; t < 2; ++t) {
                // Emits started_at + 1 ... emits_per_thread began after the connect returned.
                const long must = emits_per_thread - started_at[t][idx];
                if (ledger[idx].calls[t].load() < must) {
                    ++lost;
                }
            }
        }
        CHECK(sig.size() == joiners);
    }
    CHECK(lost == 0);
}

TEST_CASE("threads: the signal destroyed while its subscribers die and its handles disconnect",
          "[threads][weak_signal]") {
    wrtest::watchdog dog("signal destruction against deaths");
    constexpr int count = 24;
    long callables_left = 0;
    long subscribers_left = 0;
    long double_wins = 0;
    for (int round = 0; round < signal_rounds; ++round) {
        auto sig = std::make_unique<signal_type>();
        std::vector<ledger_entry> ledger(count);
        std::vector<long> sums(count, -1); // outlives the subscribers, which write it
        std::vector<weakref::ref<subscriber>> subs;
        std::vector<weakref::connection> handles;
        for (int i = 0; i < count; ++i) {
            auto idx = static_cast<std::size_t>(i);
            subs.push_back(weakref::make_ref<subscriber>());
            subs.back()->sum_out = &sums[idx];
            handles.push_back(connect_ledgered(*sig, subs.back(), ledger[idx]));
        }
        std::vector<char> won(count, 0);
        auto threads = start_threads(3, [&](int role) {
            if (role == 0) {
                sig.reset();
            } else if (role == 1) {
                for (auto& s : subs) {
                    s.reset();
                }
            } else {
                for (std::size_t i = 0; i < handles.size(); ++i) {
                    won[i] = handles[i].disconnect() ? 1 : 0;
                    // A second disconnect never wins again.
                    won[i] = static_cast<char>(won[i] + (handles[i].disconnect() ? 2 : 0));
                }
            }
        });
        join_all(threads);
        for (const ledger_entry& e : ledger) {
            callables_left += e.callable_gone.load() ? 0 : 1;
        }
        for (std::size_t i = 0; i < handles.size(); ++i) {
            CHECK_FALSE(handles[i].alive());
            double_wins += won[i] > 1 ? 1 : 0;
            subscribers_left += sums[i] == 0 ? 0 : 1; // the destructor ran (and saw no call)
        }
    }
    CHECK(callables_left == 0);
    CHECK(subscribers_left == 0);
    CHECK(double_wins == 0);
}

TEST_CASE("threads: a callable that owns its own scoped_connection is destroyed without waiting "
          "for itself",
          "[threads][weak_signal]") {
    // The callable holds the only owner of its connection's scoped_connection: when the
    // connection ends (not by a death), this thread destroys the callable, and with it that
    // scoped_connection, whose wait must not wait for the destruction it runs inside (the
    // watchdog ends a hang).
    wrtest::watchdog dog("a callable owning its scoped_connection", std::chrono::seconds(20));
    auto sub = weakref::make_ref<subscriber>();
    for (int how = 0; how < 3; ++how) {
        auto sig = std::make_unique<weakref::weak_signal<void()>>();
        auto own = std::make_shared<weakref::scoped_connection>();
        const std::weak_ptr<weakref::scoped_connection> watch(own);
        const weakref::connection plain = sig->connect(sub, [own](subscriber&) {});
        *own = weakref::scoped_connection(plain);
        own.reset(); // the callable is the only owner now
        sig->emit();
        if (how == 0) {
            CHECK(plain.disconnect());
        } else if (how == 1) {
            sig->disconnect_all();
        } else {
            sig.reset();
        }
        CHECK_FALSE(plain.alive());
        CHECK(watch.expired()); // the callable, and the scoped_connection it owned, are gone
    }
}

TEST_CASE("threads: disconnect_all and the signal's destruction retire a callable that owns "
          "another connection of the batch",
          "[threads][weak_signal]") {
    // B is connected first, A second; A's callable owns B's scoped_connection. Ending both at
    // once retires A first (the batch runs newest first): its callable's destruction destroys
    // B's scoped_connection, which must not wait for the loop it runs inside to retire B (the
    // watchdog ends a hang).
    wrtest::watchdog dog("a callable owning a scoped_connection of its batch",
                         std::chrono::seconds(20));
    auto sub = weakref::make_ref<subscriber>();
    for (int how = 0; how < 2; ++how) {
        auto sig = std::make_unique<weakref::weak_signal<void()>>();
        auto b_owner = std::make_shared<weakref::scoped_connection>(
            sig->connect(sub, [](subscriber& s) { ++s.touched[0]; }));
        const weakref::connection b = b_owner->get();
        const std::weak_ptr<weakref::scoped_connection> watch(b_owner);
        const weakref::connection a =
            sig->connect(sub, [b_owner](subscriber& s) { ++s.touched[1]; });
        b_owner.reset(); // A's callable is the only owner of B's scoped_connection
        sig->emit();
        if (how == 0) {
            sig->disconnect_all();
        } else {
            sig.reset();
        }
        CHECK_FALSE(a.alive());
        CHECK_FALSE(b.alive());
        CHECK(watch.expired());
    }
    CHECK(sub->touched[0] == 2);
    CHECK(sub->touched[1] == 2);
}
