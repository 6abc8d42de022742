// SPDX-License-Identifier: MIT
// Control for weak_signal_not_void.cpp: the same signal returning void compiles.
#include <weakref/weakref.hpp>

int control_weak_signal_not_void() {
    const weakref::weak_signal<void(int)> sig;
    return sig.empty() ? 0 : 1;
}
