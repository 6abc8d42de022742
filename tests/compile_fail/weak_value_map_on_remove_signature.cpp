// expect: weak_value_map::on_remove takes listener(const K& key, weakref::removal_cause cause)
// SPDX-License-Identifier: MIT
// Misuse: a weak_value_map listener without the removal_cause.
#include <weakref/weakref.hpp>

int main() {
    weakref::weak_value_map<int, int> m;
    m.on_remove([](const int&) {});
    return 0;
}
