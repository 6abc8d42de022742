// SPDX-License-Identifier: MIT
// Library a of the two-library test: its own copy of every weakref function (hidden
// visibility), working on objects it shares with library b and the program.
#include "shared.hpp"

#include <cstdlib>

void library_a_work(dso_work& work) {
    for (int i = 0; i < work.rounds; ++i) {
        weakref::finalizer f = weakref::on_death(work.target, [] {});
        weakref::scoped_finalizer s{weakref::on_death(work.target, [] {})};
        work.set->insert(work.target);
        if (!f.detach()) {
            std::abort(); // the target lives: the detach must win
        }
        work.set->erase(work.target);
    }
    long* ran = work.ran;
    for (int i = 0; i < work.armed; ++i) {
        work.keep->push_back(weakref::on_death(work.target, [ran] { ++*ran; }));
    }
}
