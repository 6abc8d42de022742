// SPDX-License-Identifier: MIT
// Control for weak_key_map_visit_wrong_function.cpp: a function of const V&.
#include <weakref/weakref.hpp>

int control_weak_key_map_visit_wrong_function() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, long> m;
    m.insert(key, 1);
    return m.visit(key, [](const long& a) { return a; }).value_or(0) == 1 ? 0 : 1;
}
