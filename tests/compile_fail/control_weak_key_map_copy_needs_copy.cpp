// SPDX-License-Identifier: MIT
// Control for weak_key_map_copy_needs_copy.cpp: moving it moves no value.
#include <weakref/weakref.hpp>

#include <mutex>
#include <utility>

int control_weak_key_map_copy_needs_copy() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    weakref::weak_key_map<int, std::mutex> moved(std::move(m));
    return static_cast<int>(moved.size());
}
