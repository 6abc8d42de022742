// SPDX-License-Identifier: MIT
// Control for weak_set_on_remove_signature.cpp: a listener of (const T*, removal_cause).
#include <weakref/weakref.hpp>

int control_weak_set_on_remove_signature() {
    weakref::weak_set<int> s;
    s.on_remove([](const int*, weakref::removal_cause) {});
    return 0;
}
