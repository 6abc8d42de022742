// SPDX-License-Identifier: MIT
// Control for weak_key_map_items_needs_copy.cpp: keys() copies no value.
#include <weakref/weakref.hpp>

#include <mutex>

int control_weak_key_map_items_needs_copy() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    return static_cast<int>(m.keys().size());
}
