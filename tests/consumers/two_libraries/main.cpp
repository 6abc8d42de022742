// SPDX-License-Identifier: MIT
// The program of the two-library test: both libraries work on one object from two threads;
// then it dies. Under ThreadSanitizer a lock that each library kept for itself shows as a
// race; without it, as a corrupt hook list (a crash, or callbacks that run the wrong number of
// times).
#include "shared.hpp"

#include <cstdio>
#include <thread>
#include <vector>

int main() {
    constexpr int rounds = 20000;
    constexpr int armed = 100;
    int failures = 0;
    for (int trial = 0; trial < 3; ++trial) {
        auto target = weakref::make_ref<int>(trial);
        weakref::weak_set<int> set;
        long ran_a = 0;
        long ran_b = 0;
        std::vector<weakref::finalizer> keep_a;
        std::vector<weakref::finalizer> keep_b;
        dso_work a{target, &set, rounds, armed, &ran_a, &keep_a};
        dso_work b{target, &set, rounds, armed, &ran_b, &keep_b};
        std::thread ta([&] { library_a_work(a); });
        std::thread tb([&] { library_b_work(b); });
        ta.join();
        tb.join();
        a.target.reset();
        b.target.reset();
        const long observers = target.weak_count();
        target.reset(); // runs the 2 * armed callbacks left
        if (ran_a != armed || ran_b != armed || observers != 0 || !set.empty()) {
            std::printf("trial %d: callbacks %ld and %ld of %d each, %ld observers, set size %zu\n",
                        trial, ran_a, ran_b, armed, observers, set.size());
            ++failures;
        }
    }
    if (failures != 0) {
        return 1;
    }
    std::printf("two libraries with hidden visibility share objects safely\n");
    return 0;
}
