// expect: weak_set::on_remove takes listener(const T* element, weakref::removal_cause cause)
// SPDX-License-Identifier: MIT
// Misuse: a weak_set listener that takes the element by reference.
#include <weakref/weakref.hpp>

int main() {
    weakref::weak_set<int> s;
    s.on_remove([](const int&, weakref::removal_cause) {});
    return 0;
}
