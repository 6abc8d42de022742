// expect: on_remove takes a copyable callable (a copy of the container copies its listener)
// SPDX-License-Identifier: MIT
// Misuse: a listener that cannot be copied.
#include <weakref/weakref.hpp>

#include <utility>

int main() {
    weakref::weak_set<int> s;
    auto owned = std::make_unique<int>(0);
    s.on_remove([owned = std::move(owned)](const int*, weakref::removal_cause) { ++*owned; });
    return 0;
}
