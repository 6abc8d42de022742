// SPDX-License-Identifier: MIT
// Control for weak_key_map_update_wrong_function.cpp: a function of V&.
#include <weakref/weakref.hpp>

int control_weak_key_map_update_wrong_function() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, long> m;
    m.insert(key, 1);
    return m.update(key, [](long& a) { ++a; }) ? 0 : 1;
}
