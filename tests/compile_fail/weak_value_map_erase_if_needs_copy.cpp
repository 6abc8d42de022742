// expect: weak_value_map::erase_if copies the keys it offers (K must be copy-constructible)
// SPDX-License-Identifier: MIT
// Misuse: erase_if() on a weak_value_map whose keys cannot be copied.
#include <weakref/weakref.hpp>

#include <memory>

int main() {
    weakref::weak_value_map<std::unique_ptr<int>, int> m;
    return static_cast<int>(
        m.erase_if([](const std::unique_ptr<int>&, const int&) { return true; }));
}
