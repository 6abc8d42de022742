// SPDX-License-Identifier: MIT
// Control for on_remove_not_copyable.cpp: a listener that shares its state instead.
#include <weakref/weakref.hpp>

#include <memory>

int control_on_remove_not_copyable() {
    weakref::weak_set<int> s;
    auto shared = std::make_shared<int>(0);
    s.on_remove([shared](const int*, weakref::removal_cause) { ++*shared; });
    return 0;
}
