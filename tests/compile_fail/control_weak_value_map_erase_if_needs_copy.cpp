// SPDX-License-Identifier: MIT
// Control for weak_value_map_erase_if_needs_copy.cpp: clear() copies no key.
#include <weakref/weakref.hpp>

#include <memory>

int control_weak_value_map_erase_if_needs_copy() {
    weakref::weak_value_map<std::unique_ptr<int>, int> m;
    m.clear();
    return static_cast<int>(m.size());
}
