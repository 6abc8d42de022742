// SPDX-License-Identifier: MIT
// Control for on_death_with_arguments.cpp: a callback without arguments compiles.
#include <weakref/weakref.hpp>

int control_on_death_with_arguments() {
    auto r = weakref::make_ref<int>(1);
    int seen = 0;
    auto f = weakref::on_death(r, [&seen] { seen = 1; });
    return f.alive() ? seen : 1;
}
