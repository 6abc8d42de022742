// SPDX-License-Identifier: MIT
// Control for mix_ref_flavours.cpp: the same code within one flavour compiles.
#include <weakref/weakref.hpp>

int control_mix_ref_flavours() {
    weakref::local::ref<int> local = weakref::local::make_ref<int>(1);
    weakref::local::ref<int> same = local;
    weakref::ref<int> shared = weakref::make_ref<int>(2);
    weakref::ref<int> copy = shared;
    return *same + *copy;
}
