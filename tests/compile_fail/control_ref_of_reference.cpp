// SPDX-License-Identifier: MIT
// Control for ref_of_reference.cpp: a ref to the object type compiles.
#include <weakref/weakref.hpp>

int control_ref_of_reference() {
    weakref::ref<int> r;
    return r ? 0 : 1;
}
