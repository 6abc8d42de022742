// SPDX-License-Identifier: MIT
// Control for weak_value_map_on_remove_signature.cpp: a listener of (const K&, removal_cause).
#include <weakref/weakref.hpp>

int control_weak_value_map_on_remove_signature() {
    weakref::weak_value_map<int, int> m;
    m.on_remove([](const int&, weakref::removal_cause) {});
    return 0;
}
