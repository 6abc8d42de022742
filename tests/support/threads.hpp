// SPDX-License-Identifier: MIT
// Helpers for the thread tests: a record of what workers found wrong, barriers, thread pools.
#pragma once

#include "exceptions.hpp"

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wrtest {

/// What the worker threads found wrong. Catch2's assertions belong to the main thread, so
/// workers record here and the main thread asserts `count() == 0` after joining them.
class problems {
public:
    void expect(bool ok, const char* what, long detail = 0) {
        if (ok) {
            return;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        if (first_.size() < 8) {
            first_.push_back(std::string(what) + " (" + std::to_string(detail) + ")");
        }
        ++count_;
    }
    [[nodiscard]] long count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_;
    }
    [[nodiscard]] std::string summary() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string out = std::to_string(count_) + " problem(s)";
        for (const std::string& s : first_) {
            out += "\n  " + s;
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> first_;
    long count_ = 0;
};

/// Spins until `flag` is set; yields, so that TSan and two cores are fine.
inline void wait_for(const std::atomic<bool>& flag) {
    while (!flag.load(std::memory_order_acquire)) {
        std::this_thread::yield();
    }
}

/// A reusable barrier: every participant waits in arrive_and_wait() until all have arrived.
class spin_barrier {
public:
    explicit spin_barrier(int participants) : participants_(participants) {}
    void arrive_and_wait() {
        const long generation = generation_.load();
        if (arrived_.fetch_add(1) + 1 == participants_) {
            arrived_.store(0);
            generation_.fetch_add(1);
            return;
        }
        while (generation_.load() == generation) {
            std::this_thread::yield();
        }
    }

private:
    const int participants_;
    std::atomic<int> arrived_{0};
    std::atomic<long> generation_{0};
};

/// Starts `n` threads at once on `fn(i)` and joins them. An exception escaping `fn` is recorded.
template <class F> void run_threads(int n, problems& bad, F fn) {
#if !WEAKREF_TEST_HAS_EXCEPTIONS
    static_cast<void>(bad); // it records what escapes a worker: without exceptions, nothing
#endif
    spin_barrier start(n);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
#if WEAKREF_TEST_HAS_EXCEPTIONS
            try {
                fn(i);
            } catch (...) {
                bad.expect(false, "a worker thread threw", i);
            }
#else
            fn(i);          // nothing can escape it
#endif
        });
    }
    for (auto& t : threads) {
        t.join();
    }
}

/// Runs `rounds` rounds on `threads` persistent workers in lock step: the main thread runs
/// `setup(round)`, then every worker runs `work(i, round)` at once, then the main thread runs
/// `check(round)` once they all finished.
template <class Setup, class Work, class Check>
void lockstep(int threads, int rounds, problems& bad, Setup setup, Work work, Check check) {
#if !WEAKREF_TEST_HAS_EXCEPTIONS
    static_cast<void>(bad); // it records what escapes a worker: without exceptions, nothing
#endif
    spin_barrier barrier(threads + 1);
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads));
    for (int i = 0; i < threads; ++i) {
        pool.emplace_back([&, i] {
            for (int r = 0; r < rounds; ++r) {
                barrier.arrive_and_wait();
#if WEAKREF_TEST_HAS_EXCEPTIONS
                try {
                    work(i, r);
                } catch (...) {
                    bad.expect(false, "a worker thread threw in round", r);
                }
#else
                work(i, r); // nothing can escape it
#endif
                barrier.arrive_and_wait();
            }
        });
    }
    for (int r = 0; r < rounds; ++r) {
        setup(r);
        barrier.arrive_and_wait();
        barrier.arrive_and_wait();
        check(r);
    }
    for (auto& t : pool) {
        t.join();
    }
}

} // namespace wrtest
