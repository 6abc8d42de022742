// SPDX-License-Identifier: MIT
// Control for mix_weak_ref_flavours.cpp: a weak_ref of the ref's own flavour compiles.
#include <weakref/weakref.hpp>

int control_mix_weak_ref_flavours() {
    weakref::ref<int> shared = weakref::make_ref<int>(1);
    weakref::weak_ref<int> w = shared;
    weakref::local::ref<int> local = weakref::local::make_ref<int>(1);
    weakref::local::weak_ref<int> lw = local;
    return (w.expired() ? 1 : 0) + (lw.expired() ? 1 : 0);
}
