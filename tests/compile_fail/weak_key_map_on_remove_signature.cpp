// expect: weak_key_map::on_remove takes listener(const K* key_object, V&& value,
// weakref::removal_cause cause) SPDX-License-Identifier: MIT Misuse: a weak_key_map listener that
// takes the key as a ref (the key object is dying).
#include <weakref/weakref.hpp>

int main() {
    weakref::weak_key_map<int, int> m;
    m.on_remove([](const weakref::ref<int>&, int&&, weakref::removal_cause) {});
    return 0;
}
