// SPDX-License-Identifier: MIT
// Control for weak_key_map_on_remove_signature.cpp: a listener of (const K*, V&&, removal_cause).
#include <weakref/weakref.hpp>

int control_weak_key_map_on_remove_signature() {
    weakref::weak_key_map<int, int> m;
    m.on_remove([](const int*, int&&, weakref::removal_cause) {});
    return 0;
}
