// SPDX-License-Identifier: MIT
// Control for weak_key_map_get_needs_copy.cpp: visit() works on a value that cannot be copied.
#include <weakref/weakref.hpp>

#include <mutex>

int control_weak_key_map_get_needs_copy() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    return m.visit(key, [](const std::mutex&) {}) ? 0 : 1;
}
