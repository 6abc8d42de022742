// SPDX-License-Identifier: MIT
// Control for weak_key_map_get_or_insert_needs_copy.cpp: try_emplace() and update() build and use
// such a value in place.
#include <weakref/weakref.hpp>

#include <mutex>

int control_weak_key_map_get_or_insert_needs_copy() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    return m.update(key, [](std::mutex& mu) { std::lock_guard<std::mutex> hold(mu); }) ? 0 : 1;
}
