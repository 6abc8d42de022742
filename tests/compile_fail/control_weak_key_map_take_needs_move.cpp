// SPDX-License-Identifier: MIT
// Control for weak_key_map_take_needs_move.cpp: erase() moves no value.
#include <weakref/weakref.hpp>

#include <mutex>

int control_weak_key_map_take_needs_move() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    return m.erase(key) ? 0 : 1;
}
